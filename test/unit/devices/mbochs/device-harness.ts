/**
 * Shared helpers of the MbochsDevice tests (device*.test.ts). Expected values
 * in the tests come from the kernel sample (docs/devices/mbochs.md); these
 * helpers only drive the device.
 */
import { expect } from 'vitest';
import { MbochsDevice, createMbochsBudget, type MbochsDeviceOptions } from '../../../../devices/mbochs/index.ts';
import type { GfxPlaneInfo, GfxPlaneQuery, VfioDevice } from '../../../../src/vfio/device.ts';
import { VfioError } from '../../../../src/util/errors.ts';

export const MiB = 1 << 20;
export const PAGE = 4096;

/** Region indexes (docs/devices/mbochs.md "Regions"). */
export const BAR0 = 0;
export const BAR2 = 2;
export const CONFIG = 7;
export const EDID = 9;

/** dispi register indexes (mbochs.c VBE_DISPI_INDEX_*). */
export const VBE = {
  ID: 0, XRES: 1, YRES: 2, BPP: 3, ENABLE: 4, BANK: 5,
  VIRT_WIDTH: 6, VIRT_HEIGHT: 7, X_OFFSET: 8, Y_OFFSET: 9, VIDEO_MEMORY_64K: 10,
} as const;
export const DISPI = 0x500;

export const XRGB8888 = 0x34325258;
export const BGRX8888 = 0x34325842;

export type Profile = 'none' | 'upstream';
export const PROFILES: readonly Profile[] = ['none', 'upstream'];
export const TYPES = ['small', 'medium', 'large'] as const;

/** A device with its own budget, so tests never touch the shared one (except the budget test). */
export function make(type: string = 'small', opts: MbochsDeviceOptions = {}): MbochsDevice {
  return new MbochsDevice(type, { budget: createMbochsBudget(), ...opts });
}

export const errno = (code: string) => expect.objectContaining({ code });

export function le(value: number, size: 1 | 2 | 4): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
  return b;
}

export function rd(dev: VfioDevice, index: number, offset: number, size: 1 | 2 | 4): number {
  const b = new Uint8Array(size);
  dev.regionRead(index, offset, b);
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (b[i] ?? 0);
  return v;
}

export function wr(dev: VfioDevice, index: number, offset: number, size: 1 | 2 | 4, value: number): void {
  dev.regionWrite(index, offset, le(value, size));
}

export function readRegion(dev: VfioDevice, index: number, offset: number, count: number): Uint8Array {
  const b = new Uint8Array(count);
  dev.regionRead(index, offset, b);
  return b;
}

/** A 16-bit dispi write through BAR2, as bochs-drm does. */
export function dispiWrite(dev: VfioDevice, index: number, value: number): void {
  wr(dev, BAR2, DISPI + 2 * index, 2, value & 0xffff);
}

export function dispiRead(dev: VfioDevice, index: number): number {
  return rd(dev, BAR2, DISPI + 2 * index, 2);
}

export function dispiAll(dev: VfioDevice): number[] {
  return Array.from({ length: 11 }, (_, i) => dispiRead(dev, i));
}

/** Program a framebuffer directly (register values as given; ENABLE last). */
export function program(
  dev: VfioDevice,
  m: { w: number; h: number; bpp?: number; virt?: number; x?: number; y?: number; enable?: number },
): void {
  dispiWrite(dev, VBE.ENABLE, 0);
  dispiWrite(dev, VBE.BPP, m.bpp ?? 32);
  dispiWrite(dev, VBE.XRES, m.w);
  dispiWrite(dev, VBE.YRES, m.h);
  dispiWrite(dev, VBE.VIRT_WIDTH, m.virt ?? m.w);
  dispiWrite(dev, VBE.X_OFFSET, m.x ?? 0);
  dispiWrite(dev, VBE.Y_OFFSET, m.y ?? 0);
  dispiWrite(dev, VBE.ENABLE, m.enable ?? 0x41);
}

/**
 * bochs_hw_blank() through the VGA window (test/support/guest/bochs-drm.ts has
 * the driver's version): misc output colour, read 0x3DA, attribute index 0x00
 * (blank) or 0x20 (unblank). Only `vbe: 'strict'` listens.
 */
export function vgaBlank(dev: VfioDevice, blank: boolean): void {
  wr(dev, BAR2, 0x402, 1, 0x01);
  rd(dev, BAR2, 0x41a, 1);
  wr(dev, BAR2, 0x400, 1, blank ? 0x00 : 0x20);
}

export const PRIMARY_QUERY: GfxPlaneQuery = { argsz: 64, flags: 2, drmPlaneType: 1 };

/**
 * A PRIMARY plane query as QEMU's refresh loop makes it: under the upstream
 * profile the first query of a new mode fails with ENOMEM and QEMU simply
 * queries again on the next refresh, so retry once on ENOMEM there.
 */
export function primary(dev: MbochsDevice): GfxPlaneInfo {
  let r;
  try {
    r = dev.queryGfxPlane(PRIMARY_QUERY);
  } catch (err) {
    if (dev.quirks !== 'upstream' || !(err instanceof VfioError) || err.code !== 'ENOMEM') throw err;
    r = dev.queryGfxPlane(PRIMARY_QUERY);
  }
  if (r === 'probe-ok') throw new Error('a DMABUF query answered like a probe');
  return r;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** True iff every byte equals v (memcmp speed, for multi-MiB VRAM checks). */
export function allBytes(a: Uint8Array, v: number): boolean {
  return bytesEqual(a, Buffer.alloc(a.length, v));
}
