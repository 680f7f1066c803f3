/**
 * VFIO_DEVICE_QUERY_GFX_PLANE / VFIO_DEVICE_GET_GFX_DMABUF: the PROBE
 * classification both samples share and the byte encodings of their
 * arguments (mdpy.c mdpy_query_gfx_plane(), mbochs.c mbochs_query_gfx_plane(), invariant 21;
 * struct vfio_device_gfx_plane_info in include/uapi/linux/vfio.h).
 */
import type { GfxPlaneInfo, GfxPlaneQuery, GfxPlaneResult } from './device.ts';
import {
  VFIO_GFX_PLANE_INFO_MINSZ,
  VFIO_GFX_PLANE_TYPE_DMABUF,
  VFIO_GFX_PLANE_TYPE_PROBE,
  VFIO_GFX_PLANE_TYPE_REGION,
} from './uapi.ts';
import { VfioDeviceGfxPlaneInfo, VfioGfxDmabufArg } from './structs.ts';
import { VfioError, assert } from '../util/errors.ts';

/** The plane type a device supports: mdpy REGION, mbochs DMABUF. */
export type GfxPlaneKind = typeof VFIO_GFX_PLANE_TYPE_DMABUF | typeof VFIO_GFX_PLANE_TYPE_REGION;

/**
 * The empty (disabled) plane: every output field 0. Both samples report it
 * with x_hot = y_hot = 0 (not QEMU's 0xFFFFFFFF "no hotspot").
 */
export const EMPTY_PLANE: GfxPlaneInfo = Object.freeze({
  drmFormat: 0,
  drmFormatMod: 0n,
  width: 0,
  height: 0,
  stride: 0,
  size: 0,
  xPos: 0,
  yPos: 0,
  xHot: 0,
  yHot: 0,
  regionIndexOrDmabufId: 0,
});

/**
 * Classify a plane query as the samples do (mdpy_query_gfx_plane,
 * mbochs_query_gfx_plane, after the ioctl's minsz check):
 * argsz < 60 → EINVAL; PROBE|supported exactly → 'probe' (answer 0);
 * any other value with PROBE set → EINVAL; exactly `supported` → 'query';
 * anything else → EINVAL. drm_plane_type plays no part here.
 * @throws VfioError EINVAL
 */
export function classifyPlaneQuery(query: GfxPlaneQuery, supported: GfxPlaneKind): 'probe' | 'query' {
  assert(supported === VFIO_GFX_PLANE_TYPE_DMABUF || supported === VFIO_GFX_PLANE_TYPE_REGION, `unknown plane kind ${supported}`);
  const { argsz, flags } = query;
  if (!(argsz >= VFIO_GFX_PLANE_INFO_MINSZ)) {
    throw new VfioError('EINVAL', `QUERY_GFX_PLANE: argsz ${argsz} is below ${VFIO_GFX_PLANE_INFO_MINSZ}`);
  }
  if ((flags & VFIO_GFX_PLANE_TYPE_PROBE) !== 0) {
    if (flags === (VFIO_GFX_PLANE_TYPE_PROBE | supported)) return 'probe';
    throw new VfioError('EINVAL', `QUERY_GFX_PLANE: probe flags 0x${flags.toString(16)} unsupported (only 0x${(VFIO_GFX_PLANE_TYPE_PROBE | supported).toString(16)})`);
  }
  if (flags === supported) return 'query';
  throw new VfioError('EINVAL', `QUERY_GFX_PLANE: flags 0x${flags.toString(16)} (only 0x${supported.toString(16)})`);
}

/**
 * Decode a QUERY_GFX_PLANE request: the input fields argsz, flags,
 * drm_plane_type (the first 12 bytes; the rest is output space). The argsz
 * rule itself is classifyPlaneQuery's.
 * @throws VfioError EINVAL when fewer than 12 bytes are given.
 */
export function decodeGfxPlaneQuery(bytes: Uint8Array): GfxPlaneQuery {
  const need = VfioDeviceGfxPlaneInfo.offsets.drm_format;
  if (bytes.length < need) throw new VfioError('EINVAL', `QUERY_GFX_PLANE: ${bytes.length} bytes, need ${need}`);
  const padded = bytes.length >= VfioDeviceGfxPlaneInfo.size ? bytes : copyPadded(bytes, VfioDeviceGfxPlaneInfo.size);
  const raw = VfioDeviceGfxPlaneInfo.decode(padded, 0);
  return { argsz: raw.argsz, flags: raw.flags, drmPlaneType: raw.drm_plane_type };
}

function copyPadded(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(bytes.subarray(0, size));
  return out;
}

export interface EncodeGfxPlaneOptions {
  /**
   * argsz written in the reply.
   * @defaultValue query.argsz (the ioctl never writes argsz, so a kernel caller sees its own)
   */
  readonly argsz?: number;
}

/**
 * Encode the 64-byte vfio_device_gfx_plane_info reply: the query's input
 * fields echoed, the plane's outputs, reserved 0. (The samples copy back 60
 * bytes; a transport sending 64 sends reserved = 0.)
 */
export function encodeGfxPlaneInfo(query: GfxPlaneQuery, plane: GfxPlaneInfo, opts: EncodeGfxPlaneOptions = {}): Uint8Array {
  return VfioDeviceGfxPlaneInfo.toBytes({
    argsz: opts.argsz ?? query.argsz,
    flags: query.flags,
    drm_plane_type: query.drmPlaneType,
    drm_format: plane.drmFormat,
    drm_format_mod: plane.drmFormatMod,
    width: plane.width,
    height: plane.height,
    stride: plane.stride,
    size: plane.size,
    x_pos: plane.xPos,
    y_pos: plane.yPos,
    x_hot: plane.xHot,
    y_hot: plane.yHot,
    region_index: plane.regionIndexOrDmabufId,
    reserved: 0,
  });
}

/**
 * Encode a queryGfxPlane() result. 'probe-ok' echoes the input fields with
 * zero outputs: the samples return the caller's struct unchanged on a probe,
 * and callers (QEMU's vfio_display_probe) send it zeroed.
 */
export function encodeGfxPlaneResult(query: GfxPlaneQuery, result: GfxPlaneResult, opts: EncodeGfxPlaneOptions = {}): Uint8Array {
  return encodeGfxPlaneInfo(query, result === 'probe-ok' ? EMPTY_PLANE : result, opts);
}

/** A decoded QUERY_GFX_PLANE reply (for clients). */
export interface DecodedGfxPlaneInfo {
  readonly argsz: number;
  readonly flags: number;
  readonly drmPlaneType: number;
  readonly plane: GfxPlaneInfo;
}

/**
 * Decode a QUERY_GFX_PLANE reply; at least 60 bytes (minsz), reserved ignored.
 * @throws VfioError EINVAL when shorter than 60 bytes.
 */
export function decodeGfxPlaneInfo(bytes: Uint8Array): DecodedGfxPlaneInfo {
  if (bytes.length < VFIO_GFX_PLANE_INFO_MINSZ) {
    throw new VfioError('EINVAL', `QUERY_GFX_PLANE reply: ${bytes.length} bytes, need ${VFIO_GFX_PLANE_INFO_MINSZ}`);
  }
  const raw = VfioDeviceGfxPlaneInfo.decode(bytes.length >= VfioDeviceGfxPlaneInfo.size ? bytes : copyPadded(bytes, VfioDeviceGfxPlaneInfo.size), 0);
  return {
    argsz: raw.argsz,
    flags: raw.flags,
    drmPlaneType: raw.drm_plane_type,
    plane: {
      drmFormat: raw.drm_format,
      drmFormatMod: raw.drm_format_mod,
      width: raw.width,
      height: raw.height,
      stride: raw.stride,
      size: raw.size,
      xPos: raw.x_pos,
      yPos: raw.y_pos,
      xHot: raw.x_hot,
      yHot: raw.y_hot,
      regionIndexOrDmabufId: raw.region_index,
    },
  };
}

/** Encode the GET_GFX_DMABUF argument: the u32 dmabuf_id (4 bytes). */
export function encodeGfxDmabufArg(dmabufId: number): Uint8Array {
  return VfioGfxDmabufArg.toBytes({ dmabuf_id: dmabufId });
}

/**
 * Decode the GET_GFX_DMABUF argument.
 * @throws VfioError EINVAL when fewer than 4 bytes are given.
 */
export function decodeGfxDmabufArg(bytes: Uint8Array): number {
  if (bytes.length < VfioGfxDmabufArg.size) {
    throw new VfioError('EINVAL', `GET_GFX_DMABUF: ${bytes.length} bytes, need ${VfioGfxDmabufArg.size}`);
  }
  return VfioGfxDmabufArg.decode(bytes, 0).dmabuf_id;
}
