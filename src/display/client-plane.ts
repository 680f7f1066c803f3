/**
 * The display port implemented by a vfio-user client in another process:
 * the reading of plane-port.ts made over a connection that negotiated the
 * display extension, the plane's bytes reached as a VMM reaches them — a
 * dmabuf import (DMABUF planes) or a region mmap (REGION planes), else
 * REGION_READ in transfer-sized pieces.
 *
 * The client is described here by the calls this needs, not imported: the
 * display layer sits below the protocol layer, and any client offering
 * these calls (src/vfio-user/client.ts does) fits.
 */
import type { DeviceInfo, GfxPlaneInfo } from '../vfio/device.ts';
import { DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_PROBE } from '../vfio/uapi.ts';
import { VfioError } from '../util/errors.ts';
import { readUint } from '../util/bytes.ts';
import { closeFd } from '../sys/fds.ts';
import { displayStateFromPlane } from './no-plane.ts';
import { modeOf, readPlaneAsync, type DisplayReading, type HeldReading, type PlaneKind, type PlanePort } from './plane-port.ts';

/** The client calls a display reader makes (the async vfio-user client's). */
export interface DisplayClient {
  /** Whether the server agreed to the display extension. */
  readonly display: boolean;
  readonly server: { readonly maxDataXfer: number };
  deviceInfo(): Promise<DeviceInfo>;
  /** The region's info; `fd` (when sent) is the caller's to close. */
  regionInfo(index: number): Promise<{ info: { readonly caps: readonly { readonly kind: string; readonly type?: number; readonly subtype?: number }[] }; fd: number | undefined }>;
  regionRead(region: number, offset: number, count: number): Promise<Uint8Array>;
  /** Maps the region's mmap-able part; ENOTSUP when it has none. */
  mapRegion(index: number): Promise<{ readonly bytes: Uint8Array; readonly regionOffset: number; unmap(): void }>;
  queryGfxPlane(flags: number, drmPlaneType: number): Promise<GfxPlaneInfo>;
  /** Maps exactly the dmabuf's bytes; release() unmaps and returns the server's handle. */
  importDmabuf(dmabufId: number): Promise<{
    readonly bytes: Uint8Array;
    readonly width: number;
    readonly height: number;
    readonly stride: number;
    readonly drmFormat: number;
    readonly drmFormatMod: bigint;
    release(): Promise<void>;
  }>;
}

/** A vfio-user client as a display port; `name` is used in messages. */
export function clientPlanePort(client: DisplayClient, name: string): PlanePort<true> {
  return {
    name,
    numRegions: async () => (await client.deviceInfo()).numRegions,
    regionCaps: async (index) => {
      const { info, fd } = await client.regionInfo(index);
      if (fd !== undefined) closeFd(fd);
      return info.caps;
    },
    readU32: async (index, offset) => readUint(await client.regionRead(index, offset, 4), 0, 4),
    queryPlane: async (flags) => {
      const plane = await client.queryGfxPlane(flags, DRM_PLANE_TYPE_PRIMARY);
      return (flags & VFIO_GFX_PLANE_TYPE_PROBE) !== 0 ? 'probe-ok' : plane;
    },
    openPlane: (kind, info) => openPlane(client, kind, info),
  };
}

/**
 * Read the display over a client connection and hand the reading to `use`
 * while the plane's bytes are valid (see readPlane); everything imported or
 * mapped is let go before this resolves.
 */
export function readClientDisplay<T>(client: DisplayClient, name: string, use: (reading: DisplayReading) => T | Promise<T>): Promise<T> {
  return readPlaneAsync(clientPlanePort(client, name), use);
}

async function openPlane(client: DisplayClient, kind: PlaneKind, plane: GfxPlaneInfo): Promise<HeldReading<true>> {
  const id = plane.regionIndexOrDmabufId;
  if (kind === 'dmabuf') {
    const buf = await client.importDmabuf(id);
    // The import maps exactly the plane's bytes: the first pixel is at 0.
    const geometry = { ...plane, width: buf.width, height: buf.height, stride: buf.stride, drmFormat: buf.drmFormat, drmFormatMod: buf.drmFormatMod };
    const state = displayStateFromPlane(geometry, buf.bytes, 0);
    return { reading: { state, mode: modeOf(state, 'dmabuf', id, buf) }, release: () => buf.release() };
  }
  const region = (bytes: Uint8Array, release: () => void): HeldReading<true> => {
    const state = displayStateFromPlane(plane, bytes, 0);
    return { reading: { state, mode: modeOf(state, 'region', id, plane) }, release: async () => release() };
  };
  let mapping: Awaited<ReturnType<DisplayClient['mapRegion']>> | undefined;
  try {
    mapping = await client.mapRegion(id);
  } catch (err) {
    if (!(err instanceof VfioError) || err.code !== 'ENOTSUP') throw err;
  }
  if (mapping !== undefined && mapping.regionOffset === 0) return region(mapping.bytes, () => mapping.unmap());
  mapping?.unmap();
  // Not mappable (or mappable elsewhere): read the plane through REGION_READ in transfer-sized pieces.
  const bytes = new Uint8Array(plane.size);
  const stepBytes = client.server.maxDataXfer;
  for (let at = 0; at < bytes.length; at += stepBytes) {
    bytes.set(await client.regionRead(id, at, Math.min(stepBytes, bytes.length - at)), at);
  }
  return region(bytes, () => {});
}
