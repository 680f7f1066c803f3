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

/**
 * write() on /dev/fbN: fb_io_write (drivers/video/fbdev/core/fb_io_fops.c)
 * bounds the file position by screen_size, which mdpy-fb set to smem_len,
 * the whole BAR, and copies into the ioremapped BAR. What the VMM mapped
 * lands in the mapping; the rest of the BAR is trapped and becomes region
 * writes (4-byte accesses here, as memcpy_toio issues). Returns the bytes
 * written (0 at or past the end, as fb_io_write).
 */
export function fbWrite(bus: GuestBus, fb: MdpyFb, pos: number, data: Uint8Array): number {
  const n = Math.max(0, Math.min(data.length, fb.smemLen - pos));
  forEachBarAccess(fb, pos, n, (at, i, len, mapped) => {
    if (mapped) mapped.set(data.subarray(i, i + len), at);
    else bus.barWrite(0, at, len as 1 | 2 | 4, readLe(data, i, len));
  });
  return n;
}

/** read() on /dev/fbN (fb_io_read): the same bound and split as {@link fbWrite}. */
export function fbRead(bus: GuestBus, fb: MdpyFb, pos: number, count: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, Math.min(count, fb.smemLen - pos)));
  forEachBarAccess(fb, pos, out.length, (at, i, len, mapped) => {
    if (mapped) out.set(mapped.subarray(at, at + len), i);
    else writeLe(out, i, len, bus.barRead(0, at, len as 1 | 2 | 4));
  });
  return out;
}

function forEachBarAccess(fb: MdpyFb, pos: number, n: number, fn: (at: number, i: number, len: number, mapped: Uint8Array | undefined) => void): void {
  const mappedEnd = fb.screen?.length ?? 0;
  let i = 0;
  while (i < n) {
    const at = pos + i;
    if (at < mappedEnd) {
      const len = Math.min(n - i, mappedEnd - at);
      fn(at, i, len, fb.screen);
      i += len;
    } else {
      const len = n - i >= 4 && at % 4 === 0 ? 4 : n - i >= 2 && at % 2 === 0 ? 2 : 1;
      fn(at, i, len, undefined);
      i += len;
    }
  }
}

function readLe(b: Uint8Array, at: number, len: number): number {
  let v = 0;
  for (let k = len - 1; k >= 0; k--) v = v * 256 + (b[at + k] ?? 0);
  return v;
}

function writeLe(b: Uint8Array, at: number, len: number, v: number): void {
  for (let k = 0; k < len; k++) b[at + k] = Math.floor(v / 256 ** k) & 0xff;
}
