/**
 * Screenshots: the device's current primary plane as a PNG, taken either
 *
 * - in the server process, from the device model ({@link screenshotDevice}):
 *   plane query through the VfioDevice methods, the pixels read from the
 *   device's Memory (a dmabuf export for mbochs, the region's backing for
 *   mdpy); this is what the control socket's `screenshot` call does, or
 * - from another process through the vfio-user client library
 *   ({@link screenshotClient}): plane query over the display extension, then
 *   a dmabuf import (mbochs) or a region mmap (mdpy).
 *
 * Both classify the plane the same way (src/display/no-plane.ts): a device
 * with no mode set, a link that is down, or an unusable plane gives
 * `state: 'none'` with the reason and an empty `png`, never an error.
 */
import type { GfxPlaneInfo, VfioDevice } from '../vfio/device.ts';
import {
  DRM_PLANE_TYPE_PRIMARY,
  VFIO_DEVICE_GFX_LINK_STATE_DOWN,
  VFIO_GFX_PLANE_TYPE_DMABUF,
  VFIO_GFX_PLANE_TYPE_PROBE,
  VFIO_GFX_PLANE_TYPE_REGION,
  VFIO_REGION_SUBTYPE_GFX_EDID,
  VFIO_REGION_TYPE_GFX,
} from '../vfio/uapi.ts';
import { VfioRegionGfxEdid } from '../vfio/structs.ts';
import { VfioError } from '../util/errors.ts';
import { closeFd } from '../sys/fds.ts';
import { findEdidRegion, readEdidRegisters } from '../display/edid-link.ts';
import { fourccName } from '../display/formats.ts';
import { PlaneError, planeToPng } from '../display/image.ts';
import { displayStateFromDmabuf, displayStateFromPlane, noPlane, type DisplayState, type NoPlaneReason } from '../display/no-plane.ts';
import type { VfioUserClient } from '../vfio-user/client.ts';
import { planeKind } from './inspect.ts';

export interface ScreenshotResult {
  readonly state: 'plane' | 'none';
  /** Why there is no picture (state 'none'). */
  readonly reason?: NoPlaneReason;
  /** One line for the user (state 'none'). */
  readonly message?: string;
  /** Plane size; 0 when there is no plane. */
  readonly width: number;
  readonly height: number;
  /** DRM format name of the plane ('XRGB8888'); '' when there is no plane. */
  readonly format: string;
  /** 8-bit RGBA PNG of the plane; empty when there is no plane. */
  readonly png: Uint8Array;
}

function render(state: DisplayState): ScreenshotResult {
  if (state.kind === 'none') return none(state);
  const p = state.plane;
  try {
    const png = planeToPng(p);
    return { state: 'plane', width: p.width, height: p.height, format: fourccName(p.drmFormat), png: new Uint8Array(png.buffer, png.byteOffset, png.length) };
  } catch (err) {
    if (err instanceof PlaneError) return none(noPlane(err.code === 'EBOUNDS' ? 'unavailable' : 'invalid-plane', err.message));
    throw err;
  }
}

function none(state: { reason: NoPlaneReason; message: string }): ScreenshotResult {
  return { state: 'none', reason: state.reason, message: state.message, width: 0, height: 0, format: '', png: new Uint8Array(0) };
}

/** An empty plane or a link that is down, decided before any pixel memory is touched; undefined = go on. */
function early(plane: GfxPlaneInfo, linkState: number | undefined): ScreenshotResult | undefined {
  if (linkState === VFIO_DEVICE_GFX_LINK_STATE_DOWN) return none(noPlane('link-down'));
  if (plane.drmFormat === 0 || plane.width === 0 || plane.height === 0 || plane.size === 0) return none(noPlane('no-mode'));
  return undefined;
}

const KIND_FLAG = { dmabuf: VFIO_GFX_PLANE_TYPE_DMABUF, region: VFIO_GFX_PLANE_TYPE_REGION } as const;

/**
 * A PRIMARY plane query. The 'upstream' mbochs profile fails the first query
 * of a new mode with ENOMEM (the sample's bug); QEMU's display code simply
 * asks again on its next refresh, so do we, once.
 */
function queryTwice<T>(query: () => T): T {
  try {
    return query();
  } catch (err) {
    if (err instanceof VfioError && err.code === 'ENOMEM') return query();
    throw err;
  }
}

async function queryTwiceAsync<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (err) {
    if (err instanceof VfioError && err.code === 'ENOMEM') return query();
    throw err;
  }
}

/** Screenshot from the device model in this process (no connection). */
export function screenshotDevice(device: VfioDevice): ScreenshotResult {
  const kind = planeKind(device);
  if (kind === 'none') return none(noPlane('unavailable', 'the device has no display'));
  const edid = findEdidRegion(device);
  const linkState = edid === undefined ? undefined : readEdidRegisters(device, edid).linkState;
  const result = queryTwice(() => device.queryGfxPlane({ argsz: 64, flags: KIND_FLAG[kind], drmPlaneType: DRM_PLANE_TYPE_PRIMARY }));
  if (result === 'probe-ok') return none(noPlane('unavailable'));
  const stop = early(result, linkState);
  if (stop) return stop;
  if (kind === 'dmabuf') {
    const exp = device.getGfxDmabuf(result.regionIndexOrDmabufId);
    try {
      return render(displayStateFromDmabuf(exp));
    } finally {
      exp.release();
    }
  }
  const index = result.regionIndexOrDmabufId;
  const info = device.regionInfo(index);
  let bytes: Uint8Array;
  if (info.mmap) {
    bytes = info.mmap.memory.bytes.subarray(info.mmap.memoryOffset);
  } else {
    bytes = new Uint8Array(Math.min(info.size, result.size));
    device.regionRead(index, 0, bytes);
  }
  return render(displayStateFromPlane(result, bytes, 0));
}

/** link_state of the device's GFX EDID region over a client connection, or undefined when it has none. */
async function clientLinkState(client: VfioUserClient): Promise<number | undefined> {
  const { numRegions } = await client.deviceInfo();
  for (let index = 0; index < numRegions; index++) {
    let caps;
    try {
      const { info, fd } = await client.regionInfo(index);
      if (fd !== undefined) closeFd(fd);
      caps = info.caps;
    } catch (err) {
      if (err instanceof VfioError) continue;
      throw err;
    }
    if (caps.some((c) => c.kind === 'type' && c.type === VFIO_REGION_TYPE_GFX && c.subtype === VFIO_REGION_SUBTYPE_GFX_EDID)) {
      const b = await client.regionRead(index, VfioRegionGfxEdid.offsets.link_state, 4);
      return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    }
  }
  return undefined;
}

/**
 * Screenshot over a vfio-user connection that negotiated the display
 * extension: plane query, then dmabuf import (DMABUF planes) or region mmap
 * (REGION planes). Everything it maps or imports is released before it returns.
 */
export async function screenshotClient(client: VfioUserClient): Promise<ScreenshotResult> {
  if (!client.display) return none(noPlane('unavailable', 'the server did not agree to the display extension'));
  let kind: 'dmabuf' | 'region' | undefined;
  for (const k of ['dmabuf', 'region'] as const) {
    try {
      await client.queryGfxPlane(VFIO_GFX_PLANE_TYPE_PROBE | KIND_FLAG[k], DRM_PLANE_TYPE_PRIMARY);
      kind = k;
      break;
    } catch (err) {
      if (!(err instanceof VfioError)) throw err;
    }
  }
  if (kind === undefined) return none(noPlane('unavailable', 'the device has no display'));
  const linkState = await clientLinkState(client);
  const plane = await queryTwiceAsync(() => client.queryGfxPlane(KIND_FLAG[kind], DRM_PLANE_TYPE_PRIMARY));
  const stop = early(plane, linkState);
  if (stop) return stop;
  if (kind === 'dmabuf') {
    const buf = await client.importDmabuf(plane.regionIndexOrDmabufId);
    try {
      // The import maps exactly the plane's bytes: the first pixel is at 0.
      return render(displayStateFromPlane({ ...plane, width: buf.width, height: buf.height, stride: buf.stride, drmFormat: buf.drmFormat, drmFormatMod: buf.drmFormatMod }, buf.bytes, 0));
    } finally {
      await buf.release();
    }
  }
  const index = plane.regionIndexOrDmabufId;
  let mapping;
  try {
    mapping = await client.mapRegion(index);
  } catch (err) {
    if (!(err instanceof VfioError) || err.code !== 'ENOTSUP') throw err;
  }
  if (mapping && mapping.regionOffset === 0) {
    try {
      return render(displayStateFromPlane(plane, mapping.bytes, 0));
    } finally {
      mapping.unmap();
    }
  }
  mapping?.unmap();
  // Not mappable (or mappable elsewhere): read the plane through REGION_READ in transfer-sized pieces.
  const bytes = new Uint8Array(plane.size);
  const step = client.server.maxDataXfer;
  for (let at = 0; at < bytes.length; at += step) {
    bytes.set(await client.regionRead(index, at, Math.min(step, bytes.length - at)), at);
  }
  return render(displayStateFromPlane(plane, bytes, 0));
}
