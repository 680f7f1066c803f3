/**
 * What a display shows: a plane, or "no plane" and why.
 *
 * A guest that has not set a mode (mbochs with dispi disabled or a mode the
 * sample rejects, an mdpy guest before its driver runs), a link the client
 * set down through the EDID region, a format or plane we cannot draw: these
 * are ordinary states of a display, not errors. Callers (a screenshot
 * command, a live view) get a {@link DisplayState} and show the "no plane"
 * message instead of failing.
 */
import type { DmabufExport, GfxPlaneInfo } from '../vfio/device.ts';
import { VFIO_DEVICE_GFX_LINK_STATE_DOWN } from '../vfio/uapi.ts';
import { fourccName, pixelFormat } from './formats.ts';
import { PlaneError, planeLayout, planeToRgba, type PlaneSource, type RgbaImage } from './pixels.ts';

export type NoPlaneReason =
  /** The plane query reported the empty plane (format 0 or a 0 dimension): no mode set. */
  | 'no-mode'
  /** The EDID region's link_state is DOWN. */
  | 'link-down'
  /** A pixel format or a non-linear modifier we cannot convert. */
  | 'unsupported-format'
  /** The plane's geometry is unusable or does not fit in the memory given. */
  | 'invalid-plane'
  /** The display memory is gone (device closed, dmabuf released). */
  | 'unavailable';

/** A display has a plane to show, or none, with the reason and a one-line message for the user. */
export type DisplayState =
  | { readonly kind: 'plane'; readonly plane: PlaneSource }
  | { readonly kind: 'none'; readonly reason: NoPlaneReason; readonly message: string };

/** What to draw: an image, or the "no plane" message. */
export type DisplayFrame =
  | { readonly kind: 'image'; readonly image: RgbaImage }
  | { readonly kind: 'none'; readonly reason: NoPlaneReason; readonly message: string };

const MESSAGES: Readonly<Record<NoPlaneReason, string>> = Object.freeze({
  'no-mode': 'no plane: the guest has not set a display mode',
  'link-down': 'no plane: the display link is down',
  'unsupported-format': 'no plane: the pixel format is not supported',
  'invalid-plane': 'no plane: the plane does not fit in display memory',
  unavailable: 'no plane: display memory is not available',
});

/** The "no plane" state; `detail` is appended to the standard message. */
export function noPlane(reason: NoPlaneReason, detail?: string): DisplayState & { kind: 'none' } {
  const message = detail === undefined || detail === '' ? MESSAGES[reason] : `${MESSAGES[reason]} (${detail})`;
  return { kind: 'none', reason, message };
}

export interface ClassifyOptions {
  /**
   * The EDID region's link_state when the device has one (mbochs): only
   * VFIO_DEVICE_GFX_LINK_STATE_DOWN (2) means down; 0 (never written) and
   * UP (1) do not.
   */
  readonly linkState?: number;
}

/**
 * Classify a QUERY_GFX_PLANE result against the memory that holds it.
 * `bytes` is the memory the plane's first pixel is `offset` bytes into:
 * the mdpy display region (offset 0), or a dmabuf's memory at the dmabuf's
 * offset ({@link displayStateFromDmabuf}). `bytes` null → 'unavailable'.
 * Never throws for any plane values.
 */
export function displayStateFromPlane(
  info: GfxPlaneInfo,
  bytes: Uint8Array | null,
  offset = 0,
  opts: ClassifyOptions = {},
): DisplayState {
  if (opts.linkState === VFIO_DEVICE_GFX_LINK_STATE_DOWN) return noPlane('link-down');
  if (info.drmFormat === 0 || info.width === 0 || info.height === 0) return noPlane('no-mode');
  return classify(
    { drmFormat: info.drmFormat, drmFormatMod: info.drmFormatMod, width: info.width, height: info.height, stride: info.stride },
    bytes,
    offset,
  );
}

/** Classify an exported dmabuf (mbochs): its memory at its offset, with its geometry. Never throws. */
export function displayStateFromDmabuf(dmabuf: DmabufExport, opts: ClassifyOptions = {}): DisplayState {
  if (opts.linkState === VFIO_DEVICE_GFX_LINK_STATE_DOWN) return noPlane('link-down');
  if (dmabuf.drmFormat === 0 || dmabuf.width === 0 || dmabuf.height === 0) return noPlane('no-mode');
  let bytes: Uint8Array | null;
  try {
    bytes = dmabuf.memory.bytes;
  } catch {
    bytes = null; // a closed memory may refuse access rather than hand out a detached view
  }
  return classify(dmabuf, bytes, dmabuf.offset);
}

interface Geometry {
  readonly drmFormat: number;
  readonly drmFormatMod: bigint;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
}

function classify(g: Geometry, bytes: Uint8Array | null, offset: number): DisplayState {
  // DRM_FORMAT_MOD_LINEAR is 0; anything else is a tiled or compressed layout.
  if (g.drmFormatMod !== 0n) return noPlane('unsupported-format', `modifier 0x${g.drmFormatMod.toString(16)}`);
  if (pixelFormat(g.drmFormat) === undefined) return noPlane('unsupported-format', fourccName(g.drmFormat));
  if (bytes === null || bytes.length === 0) return noPlane('unavailable');
  const plane: PlaneSource = { bytes, offset, width: g.width, height: g.height, stride: g.stride, drmFormat: g.drmFormat };
  try {
    planeLayout(plane);
  } catch (error) {
    if (error instanceof PlaneError) return noPlane('invalid-plane', error.message);
    throw error;
  }
  return { kind: 'plane', plane };
}

/**
 * Draw a display state: the plane as RGBA, or the state's "no plane". A
 * plane that stopped fitting since it was classified (the memory was
 * released) becomes 'unavailable' rather than an error. `out` as for
 * planeToRgba.
 */
export function renderDisplay(state: DisplayState, out?: Uint8Array): DisplayFrame {
  if (state.kind === 'none') return state;
  try {
    return { kind: 'image', image: planeToRgba(state.plane, out) };
  } catch (error) {
    if (error instanceof PlaneError) return noPlane(error.code === 'EBOUNDS' ? 'unavailable' : 'invalid-plane', error.message);
    throw error;
  }
}
