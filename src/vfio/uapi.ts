/**
 * VFIO uapi constants, with their kernel names (include/uapi/linux/vfio.h).
 * Grouped under the struct or ioctl they belong to.
 */

/* ioctl numbers: _IO(';', 100 + n) */
export const VFIO_TYPE = 0x3b;
export const VFIO_BASE = 100;
export const VFIO_DEVICE_GET_INFO = 0x3b6b;
export const VFIO_DEVICE_GET_REGION_INFO = 0x3b6c;
export const VFIO_DEVICE_GET_IRQ_INFO = 0x3b6d;
export const VFIO_DEVICE_SET_IRQS = 0x3b6e;
export const VFIO_DEVICE_RESET = 0x3b6f;
export const VFIO_DEVICE_QUERY_GFX_PLANE = 0x3b72;
export const VFIO_DEVICE_GET_GFX_DMABUF = 0x3b73;

/* struct vfio_device_info: flags */
export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
export const VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2;
export const VFIO_DEVICE_FLAGS_AMBA = 1 << 3;
export const VFIO_DEVICE_FLAGS_CCW = 1 << 4;
export const VFIO_DEVICE_FLAGS_AP = 1 << 5;
export const VFIO_DEVICE_FLAGS_FSL_MC = 1 << 6;
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7;
export const VFIO_DEVICE_FLAGS_CDX = 1 << 8;

/* struct vfio_region_info: flags */
export const VFIO_REGION_INFO_FLAG_READ = 1 << 0;
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;

/* region info capability ids (struct vfio_info_cap_header.id) */
export const VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1;
export const VFIO_REGION_INFO_CAP_TYPE = 2;
export const VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3;

/* struct vfio_region_info_cap_type: type / subtype */
export const VFIO_REGION_TYPE_PCI_VENDOR_TYPE = 1 << 31;
export const VFIO_REGION_TYPE_PCI_VENDOR_MASK = 0xffff;
export const VFIO_REGION_TYPE_GFX = 1;
export const VFIO_REGION_TYPE_CCW = 2;
export const VFIO_REGION_SUBTYPE_GFX_EDID = 1;

/* struct vfio_region_gfx_edid: link_state */
export const VFIO_DEVICE_GFX_LINK_STATE_UP = 1;
export const VFIO_DEVICE_GFX_LINK_STATE_DOWN = 2;

/* fixed PCI region indexes (enum VFIO_PCI_*_REGION_INDEX) */
export const VFIO_PCI_BAR0_REGION_INDEX = 0;
export const VFIO_PCI_BAR1_REGION_INDEX = 1;
export const VFIO_PCI_BAR2_REGION_INDEX = 2;
export const VFIO_PCI_BAR3_REGION_INDEX = 3;
export const VFIO_PCI_BAR4_REGION_INDEX = 4;
export const VFIO_PCI_BAR5_REGION_INDEX = 5;
export const VFIO_PCI_ROM_REGION_INDEX = 6;
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
export const VFIO_PCI_VGA_REGION_INDEX = 8;
export const VFIO_PCI_NUM_REGIONS = 9;

/* fixed PCI irq indexes (enum VFIO_PCI_*_IRQ_INDEX) */
export const VFIO_PCI_INTX_IRQ_INDEX = 0;
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
export const VFIO_PCI_ERR_IRQ_INDEX = 3;
export const VFIO_PCI_REQ_IRQ_INDEX = 4;
export const VFIO_PCI_NUM_IRQS = 5;

/* struct vfio_irq_info: flags */
export const VFIO_IRQ_INFO_EVENTFD = 1 << 0;
export const VFIO_IRQ_INFO_MASKABLE = 1 << 1;
export const VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
export const VFIO_IRQ_INFO_NORESIZE = 1 << 3;

/* struct vfio_irq_set: flags */
export const VFIO_IRQ_SET_DATA_NONE = 1 << 0;
export const VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
export const VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
export const VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
export const VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
export const VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;
export const VFIO_IRQ_SET_DATA_TYPE_MASK = 0x7;
export const VFIO_IRQ_SET_ACTION_TYPE_MASK = 0x38;

/* struct vfio_device_gfx_plane_info: flags */
export const VFIO_GFX_PLANE_TYPE_PROBE = 1 << 0;
export const VFIO_GFX_PLANE_TYPE_DMABUF = 1 << 1;
export const VFIO_GFX_PLANE_TYPE_REGION = 1 << 2;

/* drm_plane_type values (include/drm/drm_plane.h enum drm_plane_type) */
export const DRM_PLANE_TYPE_OVERLAY = 0;
export const DRM_PLANE_TYPE_PRIMARY = 1;
export const DRM_PLANE_TYPE_CURSOR = 2;

/* DRM fourcc codes (include/uapi/drm/drm_fourcc.h) */
export const DRM_FORMAT_XRGB8888 = 0x34325258; // 'XR24'
export const DRM_FORMAT_BGRX8888 = 0x34325842; // 'BX24'

/** Minimum argsz the samples accept for QUERY_GFX_PLANE (offsetofend region_index). */
export const VFIO_GFX_PLANE_INFO_MINSZ = 60;
