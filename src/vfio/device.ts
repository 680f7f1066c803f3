/**
 * The VFIO device API as a transport-free model. Device models (devices/*)
 * implement VfioDevice; transports (vfio-user, tests, fuzzers) call it. The
 * model speaks in decoded values; byte encodings live in structs.ts.
 *
 * Error contract: every method either returns a value or throws VfioError
 * carrying the errno the kernel ioctl/read/write would return. Nothing else
 * escapes for any input.
 */
import type { Memory } from './memory.ts';

/** struct vfio_device_info (the fields a device decides). */
export interface DeviceInfo {
  /** VFIO_DEVICE_FLAGS_* */
  readonly flags: number;
  readonly numRegions: number;
  readonly numIrqs: number;
}

/** struct vfio_region_sparse_mmap_area: offsets relative to the region start. */
export interface SparseMmapArea {
  readonly offset: number;
  readonly size: number;
}

/** One entry of a region-info capability chain, decoded. */
export type RegionCap =
  | { readonly kind: 'sparse-mmap'; readonly areas: readonly SparseMmapArea[] }
  | { readonly kind: 'type'; readonly type: number; readonly subtype: number }
  | { readonly kind: 'msix-mappable' };

/**
 * What backs the mmap-able part of a region: region offset r maps
 * memory.bytes[memoryOffset + r]. A transport passes memory.fd to clients.
 */
export interface RegionMmap {
  readonly memory: Memory;
  readonly memoryOffset: number;
}

/** struct vfio_region_info, decoded. */
export interface RegionInfo {
  readonly index: number;
  /** VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP. CAPS is set by the encoder when caps is non-empty. */
  readonly flags: number;
  /** Region size in bytes (0 = region not implemented). */
  readonly size: number;
  /**
   * The kernel sample's file offset of the region on the device fd (e.g.
   * mbochs BAR0 at 0x3000). Kept for fidelity; a vfio-user transport reports
   * mmap offsets into the fd it passes instead.
   */
  readonly offset: number;
  readonly caps: readonly RegionCap[];
  /** Present iff flags has MMAP. */
  readonly mmap?: RegionMmap;
}

/** struct vfio_irq_info, decoded. */
export interface IrqInfo {
  readonly index: number;
  /** VFIO_IRQ_INFO_* */
  readonly flags: number;
  readonly count: number;
}

/** struct vfio_irq_set, decoded (eventfds travel out of band, as fd numbers owned by the caller). */
export interface IrqSet {
  readonly flags: number;
  readonly index: number;
  readonly start: number;
  readonly count: number;
  /** DATA_BOOL payload, one byte per sub-index. */
  readonly bools?: Uint8Array;
  /** DATA_EVENTFD: one fd per sub-index, -1 = de-assign. The device dup()s what it keeps. */
  readonly eventfds?: readonly number[];
}

/** Input of VFIO_DEVICE_QUERY_GFX_PLANE. */
export interface GfxPlaneQuery {
  /** argsz as given by the caller (kernel samples require ≥ 60). */
  readonly argsz: number;
  /** VFIO_GFX_PLANE_TYPE_PROBE/DMABUF/REGION */
  readonly flags: number;
  /** DRM_PLANE_TYPE_* */
  readonly drmPlaneType: number;
}

/** struct vfio_device_gfx_plane_info output fields. An empty plane has drmFormat = size = 0. */
export interface GfxPlaneInfo {
  readonly drmFormat: number;
  readonly drmFormatMod: bigint;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly size: number;
  readonly xPos: number;
  readonly yPos: number;
  readonly xHot: number;
  readonly yHot: number;
  /** region_index (REGION planes) or dmabuf_id (DMABUF planes); 0 for an empty dmabuf plane. */
  readonly regionIndexOrDmabufId: number;
}

/** What {@link VfioDevice.peekGfxPlane} reports: a plane's geometry, without ids. */
export type PeekedGfxPlane = Pick<GfxPlaneInfo, 'drmFormat' | 'width' | 'height' | 'stride' | 'size'>;

/** Result of a PROBE query: the flags were supported (a failing probe throws EINVAL). */
export type GfxPlaneResult = GfxPlaneInfo | 'probe-ok';

/**
 * An exported dmabuf: a handle on [offset, offset+size) of the device's video
 * memory. The transport turns it into an fd for the client. The handle keeps
 * its pages referenced until release(); release() is idempotent.
 */
export interface DmabufExport {
  readonly dmabufId: number;
  readonly memory: Memory;
  readonly offset: number;
  readonly size: number;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly drmFormat: number;
  readonly drmFormatMod: bigint;
  release(): void;
}

export interface VfioDevice {
  /** VFIO_DEVICE_GET_INFO */
  info(): DeviceInfo;
  /**
   * VFIO_DEVICE_GET_REGION_INFO; EINVAL for an unknown index. `argsz` is the
   * request's, when the call answers one (a transport passes it; a device
   * may refuse some values, as mbochs 'upstream' refuses argsz above its
   * 48-byte struct); inspectors and display code omit it.
   */
  regionInfo(index: number, argsz?: number): RegionInfo;
  /**
   * read() on the region: fills dst (dst.length bytes) from region offset
   * `offset` (a non-negative safe integer). EFAULT/EINVAL for out-of-range
   * accesses; on error dst content is unspecified but never stale data from
   * another request is returned by a transport.
   */
  regionRead(index: number, offset: number, dst: Uint8Array): void;
  /** write() on the region. */
  regionWrite(index: number, offset: number, data: Uint8Array): void;
  /** VFIO_DEVICE_GET_IRQ_INFO */
  irqInfo(index: number): IrqInfo;
  /** VFIO_DEVICE_SET_IRQS */
  setIrqs(set: IrqSet): void;
  /** VFIO_DEVICE_RESET */
  reset(): void;
  /** VFIO_DEVICE_QUERY_GFX_PLANE */
  queryGfxPlane(query: GfxPlaneQuery): GfxPlaneResult;
  /** VFIO_DEVICE_GET_GFX_DMABUF */
  getGfxDmabuf(dmabufId: number): DmabufExport;
  /**
   * The PRIMARY plane a query would report now, or null when no mode is
   * set, without what a query does besides answering. Not a kernel call:
   * it lets an inspector look without disturbing what the VMM sees, so only
   * devices whose query has side effects need it (mbochs: a DMABUF query
   * creates a dmabuf record and makes it the active one); for the others
   * the query itself is the look.
   */
  peekGfxPlane?(): PeekedGfxPlane | null;
  /** The last user closed the device fd (close_device). Device state that survives close is kept. */
  closeDevice(): void;
  /** The device is removed (mdev remove): release everything. Idempotent. */
  destroy(): void;
}
