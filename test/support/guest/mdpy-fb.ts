/**
 * A model of the guest fbdev driver samples/vfio-mdev/mdpy-fb.c (mdpy_fb_probe()):
 * binds on the exact id tuple, reads the vendor-capability config
 * dwords at fixed offsets, validates them and maps all of BAR0.
 */
import { sizeBar, type GuestBus } from './bus.ts';

export const MDPY_PCI_VENDOR_ID = 0x1b36;
export const MDPY_PCI_DEVICE_ID = 0x000f;
export const MDPY_PCI_SUBVENDOR_ID = 0x1af4;
export const MDPY_PCI_SUBDEVICE_ID = 0x1100;
export const MDPY_FORMAT_OFFSET = 0x44;
export const MDPY_WIDTH_OFFSET = 0x48;
export const MDPY_HEIGHT_OFFSET = 0x4c;
const DRM_FORMAT_XRGB8888 = 0x34325258;

export interface MdpyFb {
  width: number;
  height: number;
  lineLength: number;
  /** smem_len: the whole BAR0 (the driver ioremaps the full resource). */
  smemLen: number;
  screen: Uint8Array | undefined;
}

export class ProbeError extends Error {
  constructor(readonly errno: 'ENODEV' | 'EINVAL', message: string) {
    super(`${errno}: ${message}`);
  }
}

export function mdpyFbProbe(bus: GuestBus): MdpyFb {
  const vendor = bus.configRead(0x00, 2);
  const device = bus.configRead(0x02, 2);
  const subVendor = bus.configRead(0x2c, 2);
  const subDevice = bus.configRead(0x2e, 2);
  if (vendor !== MDPY_PCI_VENDOR_ID || device !== MDPY_PCI_DEVICE_ID ||
      subVendor !== MDPY_PCI_SUBVENDOR_ID || subDevice !== MDPY_PCI_SUBDEVICE_ID) {
    throw new ProbeError('ENODEV', 'not an mdpy device');
  }
  const format = bus.configRead(MDPY_FORMAT_OFFSET, 4);
  const width = bus.configRead(MDPY_WIDTH_OFFSET, 4);
  const height = bus.configRead(MDPY_HEIGHT_OFFSET, 4);
  if (format !== DRM_FORMAT_XRGB8888) throw new ProbeError('EINVAL', `format 0x${format.toString(16)} not supported`);
  if (width < 100 || width > 10000) throw new ProbeError('EINVAL', `width (${width}) out of range`);
  if (height < 100 || height > 10000) throw new ProbeError('EINVAL', `height (${height}) out of range`);
  const { size } = sizeBar(bus, 0);
  return { width, height, lineLength: width * 4, smemLen: size, screen: bus.barMap(0) };
}
