/**
 * The display port: what reading a device's screen needs from the device,
 * and the reading itself, written once for every kind of device access.
 *
 * The reading is the one QEMU's hw/vfio/display.c makes of a kernel mdev:
 * the EDID link state (a link that is down shows nothing), which plane kind
 * the device speaks (PROBE for DMABUF, then REGION), the PRIMARY plane
 * query, and the plane's bytes. Every device state — no mode set, link
 * down, an unsupported format, a removed device — comes back as a "no
 * plane" {@link DisplayState}, never as an exception. mbochs 'upstream'
 * fails the first query of a new mode with ENOMEM; the query is retried
 * once, as QEMU does on its next refresh.
 *
 * Two implementations exist: a device model in this process
 * (plane-source.ts, used by the live view, the control socket's screenshots
 * and inspect) and a vfio-user client (client-plane.ts, used by screenshots
 * taken through the device socket). Only getting at the plane's bytes
 * differs between them ({@link PlanePort.openPlane}).
 */
import type { GfxPlaneInfo, GfxPlaneResult } from '../vfio/device.ts';
import {
  VFIO_DEVICE_GFX_LINK_STATE_DOWN,
  VFIO_GFX_PLANE_TYPE_DMABUF,
  VFIO_GFX_PLANE_TYPE_PROBE,
  VFIO_GFX_PLANE_TYPE_REGION,
} from '../vfio/uapi.ts';
import { VfioError } from '../util/errors.ts';
import { linkStateSteps, type EdidPort } from './edid-link.ts';
import { fourccName } from './formats.ts';
import { noPlane, type DisplayState } from './no-plane.ts';
import { runAsync, runSync, step, type Out, type Steps } from './steps.ts';

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

/** A reading whose plane bytes stay valid until release() (an export, import or mapping is held). */
export interface HeldReading<Async extends boolean = boolean> {
  readonly reading: DisplayReading;
  release(): Out<void, Async>;
}

/** What a display reader needs from a device; `Async` says whether it answers at once or later. */
export interface PlanePort<Async extends boolean = boolean> extends EdidPort<Async> {
  /** Names the device in "no plane" messages. */
  readonly name: string;
  /** QUERY_GFX_PLANE for the PRIMARY plane with `flags` (a PROBE answers 'probe-ok'). */
  queryPlane(flags: number): Out<GfxPlaneResult, Async>;
  /**
   * Reach the bytes of a non-empty plane the query reported and classify
   * them. What this exports or maps is let go by the result's release(),
   * or before it throws.
   */
  openPlane(kind: PlaneKind, info: GfxPlaneInfo): Out<HeldReading<Async>, Async>;
}

const KIND_FLAG = { dmabuf: VFIO_GFX_PLANE_TYPE_DMABUF, region: VFIO_GFX_PLANE_TYPE_REGION } as const;

/**
 * The plane kind the device answers PROBE for (DMABUF first, as QEMU
 * tries), or null when it refuses both (EINVAL or ENOTTY: no display).
 * @throws VfioError other than those (a removed device's ENODEV).
 */
export function* probeKindSteps(port: PlanePort): Steps<PlaneKind | null> {
  for (const kind of ['dmabuf', 'region'] as const) {
    try {
      yield* step(port.queryPlane(VFIO_GFX_PLANE_TYPE_PROBE | KIND_FLAG[kind]));
      return kind;
    } catch (err) {
      if (err instanceof VfioError && (err.code === 'EINVAL' || err.code === 'ENOTTY')) continue;
      throw err;
    }
  }
  return null;
}

/** Read the display; device errors become "unavailable" naming the device. */
export function* readSteps(port: PlanePort): Steps<HeldReading> {
  try {
    return yield* acquireSteps(port);
  } catch (err) {
    if (!(err instanceof VfioError)) throw err;
    return held(noPlane('unavailable', `${port.name}: ${err.message}`));
  }
}

/**
 * Read a display through an immediate port and hand the reading to `use`
 * while the plane's bytes are valid; what was exported or mapped is let go
 * right after, even when `use` throws. `use` must not keep the bytes.
 */
export function readPlane<T>(port: PlanePort<false>, use: (reading: DisplayReading) => T): T {
  const h = runSync(readSteps(port));
  try {
    return use(h.reading);
  } finally {
    h.release();
  }
}

/** {@link readPlane} through a port that answers later (a connection). */
export async function readPlaneAsync<T>(port: PlanePort<true>, use: (reading: DisplayReading) => T | Promise<T>): Promise<T> {
  const h = await runAsync(readSteps(port));
  try {
    return await use(h.reading);
  } finally {
    await h.release();
  }
}

/** A reading that holds nothing. */
export function held(state: DisplayState, mode: PlaneMode | null = null): HeldReading<false> {
  return { reading: { state, mode }, release: () => {} };
}

/** The status line of a plane the state shows, or null when it shows none. */
export function modeOf(
  state: DisplayState,
  kind: PlaneKind,
  id: number,
  g: { readonly width: number; readonly height: number; readonly stride: number; readonly drmFormat: number },
): PlaneMode | null {
  if (state.kind !== 'plane') return null;
  return { kind, id, width: g.width, height: g.height, stride: g.stride, drmFormat: g.drmFormat, format: fourccName(g.drmFormat) };
}

function* acquireSteps(port: PlanePort): Steps<HeldReading> {
  if ((yield* linkStateSteps(port)) === VFIO_DEVICE_GFX_LINK_STATE_DOWN) return held(noPlane('link-down'));
  const kind = yield* probeKindSteps(port);
  if (kind === null) return held(noPlane('unavailable', `${port.name} reports no display plane (neither DMABUF nor REGION)`));
  const info = yield* queryPrimarySteps(port, kind);
  if (info.drmFormat === 0 || info.width === 0 || info.height === 0) return held(noPlane('no-mode'));
  return yield* step(port.openPlane(kind, info));
}

/** The PRIMARY plane of `kind`; one retry on ENOMEM (mbochs 'upstream' fails a new mode's first query). */
function* queryPrimarySteps(port: PlanePort, kind: PlaneKind): Steps<GfxPlaneInfo> {
  let result: GfxPlaneResult;
  try {
    result = yield* step(port.queryPlane(KIND_FLAG[kind]));
  } catch (err) {
    if (!(err instanceof VfioError) || err.code !== 'ENOMEM') throw err;
    result = yield* step(port.queryPlane(KIND_FLAG[kind]));
  }
  if (result === 'probe-ok') throw new VfioError('EINVAL', 'QUERY_GFX_PLANE: a non-probe query was answered as a probe');
  return result;
}
