/**
 * The display port implemented by a device model in this process: the
 * reading of plane-port.ts made through the VfioDevice methods, the plane's
 * bytes reached the way a VMM reaches them — a DMABUF plane through
 * GET_GFX_DMABUF (the export is released as soon as the caller is done with
 * the bytes: the device counts handles), a REGION plane through the
 * region's mmap backing (or read() when the region cannot be mapped).
 *
 * Only the VfioDevice contract is used, so any device model works. Side
 * effects on the device are those of any display client: a DMABUF query
 * makes the mode's dmabuf record the device's active one (and the most
 * recently used), and, with 'upstream' mbochs, a query from here uses up
 * the ENOMEM of a new mode that the vfio-user client would otherwise see.
 */
import type { GfxPlaneInfo, VfioDevice } from '../vfio/device.ts';
import { VfioDeviceGfxPlaneInfo } from '../vfio/structs.ts';
import { DRM_PLANE_TYPE_PRIMARY } from '../vfio/uapi.ts';
import { deviceEdidPort } from './edid-link.ts';
import { pixelFormat } from './formats.ts';
import { planeLayout } from './pixels.ts';
import { displayStateFromDmabuf, displayStateFromPlane, type DisplayState } from './no-plane.ts';
import { modeOf, probeKindSteps, readPlane, type DisplayReading, type HeldReading, type PlaneKind, type PlanePort } from './plane-port.ts';
import { runSync } from './steps.ts';

export type { DisplayReading, PlaneKind, PlaneMode } from './plane-port.ts';

/** The argsz every query uses: the whole struct vfio_device_gfx_plane_info. */
const QUERY_ARGSZ = VfioDeviceGfxPlaneInfo.size;

/** A device model in this process as a display port; `name` is used in messages. */
export function devicePlanePort(device: VfioDevice, name: string): PlanePort<false> {
  return {
    ...deviceEdidPort(device),
    name,
    queryPlane: (flags) => device.queryGfxPlane({ argsz: QUERY_ARGSZ, flags, drmPlaneType: DRM_PLANE_TYPE_PRIMARY }),
    openPlane: (kind, info) => openPlane(device, kind, info),
  };
}

/**
 * The plane kind the device answers PROBE for (DMABUF first, as QEMU
 * tries), or null when it answers neither (no display).
 * @throws VfioError other than EINVAL/ENOTTY from the device (a destroyed device's ENODEV).
 */
export function probePlaneKind(device: VfioDevice): PlaneKind | null {
  return runSync(probeKindSteps(devicePlanePort(device, '')));
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
  return readPlane(devicePlanePort(device, name), use);
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

function openPlane(device: VfioDevice, kind: PlaneKind, info: GfxPlaneInfo): HeldReading<false> {
  const id = info.regionIndexOrDmabufId;
  if (kind === 'dmabuf') {
    const exp = device.getGfxDmabuf(id);
    try {
      const state = displayStateFromDmabuf(exp);
      return { reading: { state, mode: modeOf(state, 'dmabuf', id, exp) }, release: () => exp.release() };
    } catch (err) {
      exp.release();
      throw err;
    }
  }
  const state = displayStateFromPlane(info, regionBytes(device, id, info), 0);
  return { reading: { state, mode: modeOf(state, 'region', id, info) }, release: () => {} };
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
