/**
 * Reading a device's current display from inside the server process, the
 * way QEMU's hw/vfio/display.c reads a kernel mdev's: probe which plane
 * kind the device speaks (DMABUF, then REGION), query the PRIMARY plane,
 * and reach its bytes — a DMABUF plane through GET_GFX_DMABUF (the export
 * is released as soon as the caller is done with the bytes: the device
 * counts handles), a REGION plane through the region's mmap backing (or
 * read() when the region cannot be mapped).
 *
 * Only the VfioDevice contract is used, so any device model works. Every
 * device state — no mode set, link down, an unsupported format, a
 * destroyed device — comes back as a "no plane" {@link DisplayState}, never
 * as an exception. mbochs 'upstream' fails the first query of a new mode
 * with ENOMEM; the query is retried once, as a client would.
 *
 * Side effects on the device are those of any display client: a DMABUF
 * query makes the mode's dmabuf record the device's active one (and the
 * most recently used), and, with 'upstream' mbochs, a query from here uses
 * up the ENOMEM of a new mode that the vfio-user client would otherwise see.
 */
import type { DmabufExport, GfxPlaneInfo, GfxPlaneResult, VfioDevice } from '../vfio/device.ts';
import { VfioDeviceGfxPlaneInfo, VfioRegionGfxEdid } from '../vfio/structs.ts';
import {
  DRM_PLANE_TYPE_PRIMARY,
  VFIO_DEVICE_GFX_LINK_STATE_DOWN,
  VFIO_GFX_PLANE_TYPE_DMABUF,
  VFIO_GFX_PLANE_TYPE_PROBE,
  VFIO_GFX_PLANE_TYPE_REGION,
} from '../vfio/uapi.ts';
import { VfioError } from '../util/errors.ts';
import { readUint } from '../util/bytes.ts';
import { findEdidRegion } from './edid-link.ts';
import { fourccName, pixelFormat } from './formats.ts';
import { planeLayout } from './image.ts';
import { displayStateFromDmabuf, displayStateFromPlane, noPlane, type DisplayState } from './no-plane.ts';

/** Which way a device delivers its plane. */
export type PlaneKind = 'dmabuf' | 'region';

/** What a display is showing right now, for status text (the live view's `mode` event). */
export interface PlaneMode {
  readonly kind: PlaneKind;
  /** The dmabuf id (DMABUF planes) or the region index (REGION planes). */
  readonly id: number;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  /** DRM fourcc. */
  readonly drmFormat: number;
  /** {@link fourccName} of drmFormat, e.g. 'XRGB8888'. */
  readonly format: string;
}

/** One reading of a display: its state, and the plane it shows (null when there is none). */
export interface DisplayReading {
  readonly state: DisplayState;
  readonly mode: PlaneMode | null;
}

/** The argsz every query uses: the whole struct vfio_device_gfx_plane_info. */
const QUERY_ARGSZ = VfioDeviceGfxPlaneInfo.size;
/** link_state's offset in struct vfio_region_gfx_edid (20). */
const EDID_LINK_STATE_OFFSET = VfioRegionGfxEdid.offsets.link_state;

/**
 * The plane kind the device answers PROBE for (DMABUF first, as QEMU
 * tries), or null when it answers neither (no display).
 * @throws VfioError other than EINVAL from the device (a destroyed device's ENODEV).
 */
export function probePlaneKind(device: VfioDevice): PlaneKind | null {
  for (const [kind, flag] of [['dmabuf', VFIO_GFX_PLANE_TYPE_DMABUF], ['region', VFIO_GFX_PLANE_TYPE_REGION]] as const) {
    try {
      device.queryGfxPlane({ argsz: QUERY_ARGSZ, flags: VFIO_GFX_PLANE_TYPE_PROBE | flag, drmPlaneType: DRM_PLANE_TYPE_PRIMARY });
      return kind;
    } catch (err) {
      if (err instanceof VfioError && (err.code === 'EINVAL' || err.code === 'ENOTTY')) continue;
      throw err;
    }
  }
  return null;
}

/**
 * Read the display and hand its state to `use` while the plane's bytes are
 * valid: for a DMABUF plane the export is held during `use` and released
 * right after, even when `use` throws. `use` must not keep
 * `state.plane.bytes` (copy or convert it). Device states never throw;
 * what `use` throws propagates.
 *
 * @param name - the device's name, used in messages.
 */
export function readDisplay<T>(device: VfioDevice, name: string, use: (reading: DisplayReading) => T): T {
  let exported: DmabufExport | undefined;
  let reading: DisplayReading;
  try {
    reading = acquire(device, name, (e) => { exported = e; });
  } catch (err) {
    exported?.release();
    if (!(err instanceof VfioError)) throw err;
    reading = { state: noPlane('unavailable', `${name}: ${err.message}`), mode: null };
  }
  try {
    return use(reading);
  } finally {
    exported?.release();
  }
}

/**
 * The device's current display as a self-contained {@link DisplayState}:
 * a plane's bytes are copied (only the rows the plane covers), so the
 * state stays valid whatever the device does next, and no export handle
 * is held when this returns. Never throws for any device state.
 */
export function currentDisplay(device: VfioDevice, name: string): DisplayState {
  return readDisplay(device, name, ({ state }) => {
    if (state.kind === 'none') return state;
    const { start, end } = planeLayout(state.plane); // checked already by the classification
    return { kind: 'plane', plane: { ...state.plane, bytes: state.plane.bytes.slice(start, end), offset: 0 } };
  });
}

/** Query, classify, export. `hold` receives a dmabuf export as soon as it exists (for release on any path). */
function acquire(device: VfioDevice, name: string, hold: (e: DmabufExport) => void): DisplayReading {
  const none = (state: DisplayState): DisplayReading => ({ state, mode: null });
  if (linkState(device) === VFIO_DEVICE_GFX_LINK_STATE_DOWN) return none(noPlane('link-down'));
  const kind = probePlaneKind(device);
  if (kind === null) return none(noPlane('unavailable', `${name} reports no display plane (neither DMABUF nor REGION)`));
  const info = queryPrimary(device, kind);
  if (info.drmFormat === 0 || info.width === 0 || info.height === 0) return none(noPlane('no-mode'));
  const id = info.regionIndexOrDmabufId;

  if (kind === 'dmabuf') {
    const exp = device.getGfxDmabuf(id);
    hold(exp);
    const state = displayStateFromDmabuf(exp);
    return { state, mode: state.kind === 'plane' ? modeOf('dmabuf', id, exp) : null };
  }

  const state = displayStateFromPlane(info, regionBytes(device, id, info), 0);
  return { state, mode: state.kind === 'plane' ? modeOf('region', id, info) : null };
}

/** QUERY_GFX_PLANE for the primary plane; one retry on ENOMEM (mbochs 'upstream' fails a new mode's first query). */
function queryPrimary(device: VfioDevice, kind: PlaneKind): GfxPlaneInfo {
  const flags = kind === 'dmabuf' ? VFIO_GFX_PLANE_TYPE_DMABUF : VFIO_GFX_PLANE_TYPE_REGION;
  const query = (): GfxPlaneResult => device.queryGfxPlane({ argsz: QUERY_ARGSZ, flags, drmPlaneType: DRM_PLANE_TYPE_PRIMARY });
  let result: GfxPlaneResult;
  try {
    result = query();
  } catch (err) {
    if (!(err instanceof VfioError) || err.code !== 'ENOMEM') throw err;
    result = query();
  }
  if (result === 'probe-ok') throw new VfioError('EINVAL', 'QUERY_GFX_PLANE: a non-probe query was answered as a probe');
  return result;
}

/**
 * The bytes of region `index` from its start: the mmap backing when the
 * region has one, else the plane's rows read through regionRead() (a
 * region that cannot be mapped), else null.
 */
function regionBytes(device: VfioDevice, index: number, info: GfxPlaneInfo): Uint8Array | null {
  const region = device.regionInfo(index);
  if (region.mmap !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = region.mmap.memory.bytes;
    } catch {
      return null; // closed memory may refuse access rather than hand out a detached view
    }
    const from = Math.min(region.mmap.memoryOffset, bytes.length);
    return bytes.subarray(from, from + region.size);
  }
  // No mapping: read the rows the plane needs, if the region holds them.
  const bpp = pixelFormat(info.drmFormat)?.bytesPerPixel ?? 4;
  const need = info.stride * (info.height - 1) + info.width * bpp;
  if (!Number.isSafeInteger(need) || need <= 0 || need > region.size || need > 256 * 1024 * 1024) return null;
  const out = new Uint8Array(need);
  const chunk = 1024 * 1024;
  for (let at = 0; at < need; at += chunk) device.regionRead(index, at, out.subarray(at, Math.min(need, at + chunk)));
  return out;
}

/**
 * The EDID region's link_state when the device has one (mbochs), else
 * undefined. A device that refuses the read counts as having none.
 */
function linkState(device: VfioDevice): number | undefined {
  const index = findEdidRegion(device);
  if (index === undefined) return undefined;
  const b = new Uint8Array(4);
  try {
    device.regionRead(index, EDID_LINK_STATE_OFFSET, b);
  } catch (err) {
    if (err instanceof VfioError) return undefined;
    throw err;
  }
  return readUint(b, 0, 4);
}

function modeOf(
  kind: PlaneKind,
  id: number,
  g: { readonly width: number; readonly height: number; readonly stride: number; readonly drmFormat: number },
): PlaneMode {
  return { kind, id, width: g.width, height: g.height, stride: g.stride, drmFormat: g.drmFormat, format: fourccName(g.drmFormat) };
}
