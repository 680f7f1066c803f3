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
 * Both are the one display reading (src/display/plane-port.ts) through the
 * two implementations of its port: a device with no mode set, a link that
 * is down, an unusable plane or a removed device gives `state: 'none'` with
 * the reason and an empty `png`, never an error.
 */
import type { VfioDevice } from '../vfio/device.ts';
import { fourccName } from '../display/formats.ts';
import { PlaneError } from '../display/pixels.ts';
import { planeToPng } from '../display/png.ts';
import { noPlane, type DisplayState, type NoPlaneReason } from '../display/no-plane.ts';
import { readDisplay } from '../display/plane-source.ts';
import { readClientDisplay, type DisplayClient } from '../display/client-plane.ts';

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

/** Screenshot from the device model in this process (no connection); `name` is used in messages. */
export function screenshotDevice(device: VfioDevice, name = 'the device'): ScreenshotResult {
  return readDisplay(device, name, ({ state }) => render(state));
}

/**
 * Screenshot over a vfio-user connection that negotiated the display
 * extension: plane query, then dmabuf import (DMABUF planes) or region mmap
 * (REGION planes). Everything it maps or imports is released before it returns.
 */
export async function screenshotClient(client: DisplayClient, name = 'the device'): Promise<ScreenshotResult> {
  if (!client.display) return none(noPlane('unavailable', 'the server did not agree to the display extension'));
  return readClientDisplay(client, name, ({ state }) => render(state));
}
