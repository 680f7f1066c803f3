/**
 * BARs and the expansion-ROM BAR: sizing protocol, address programming,
 * 64-bit pairs, I/O, absent BARs, descriptor validation, and the kernel
 * samples' quirky BAR write rule as an opt-in hook. Expected values follow
 * PCI 3.0 §6.2.5 and the samples' handle_pci_cfg_write() in mdpy.c and mbochs.c.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/util/errors.ts';
import { ConfigSpace, sampleBarWriteHook, type BarOptions, type ConfigSpaceOptions } from '../../../src/pci/index.ts';

const MiB = 1024 * 1024;
const header = { vendorId: 0x1234, deviceId: 0x1111, revision: 1, classCode: 0x0380 };
const space = (bars: BarOptions[], rest: Partial<ConfigSpaceOptions> = {}): ConfigSpace =>
  new ConfigSpace({ size: 255, header, bars, ...rest });

/** Write all ones to a BAR dword and read it back: the sizing probe every BIOS/OS/QEMU does. */
function probe(cs: ConfigSpace, offset: number): number {
  cs.write(offset, 4, 0xffffffff);
  return cs.read(offset, 4);
}

describe('memory BARs (32-bit)', () => {
  it.each([
    ['mdpy vga, 2 MiB', 2 * MiB, 0xffe00008],
    ['mdpy xga, 4 MiB', 4 * MiB, 0xffc00008],
    ['mdpy hd, 8 MiB', 8 * MiB, 0xff800008],
    ['mbochs medium, 16 MiB', 16 * MiB, 0xff000008],
    ['mbochs large, 64 MiB', 64 * MiB, 0xfc000008],
  ])('%s prefetchable: reads 0x08, sizing reads back %#x', (_n, size, expected) => {
    const cs = space([{ index: 0, kind: 'mem32', size, prefetchable: true }]);
    expect(cs.read(0x10, 4)).toBe(0x00000008);
    expect(probe(cs, 0x10)).toBe(expected);
  });

  it('mbochs BAR2 4 KiB non-prefetchable: reads 0, sizing reads 0xFFFFF000; BAR1/3/4/5 absent read 0 and ignore writes', () => {
    const cs = space([{ index: 0, kind: 'mem32', size: 16 * MiB, prefetchable: true }, { index: 2, kind: 'mem32', size: 4096 }]);
    expect(cs.read(0x18, 4)).toBe(0);
    expect(probe(cs, 0x18)).toBe(0xfffff000);
    for (const off of [0x14, 0x1c, 0x20, 0x24]) expect(probe(cs, off)).toBe(0);
  });

  it('a later address write keeps only the address bits above the size, plus the type bits', () => {
    const cs = space([{ index: 0, kind: 'mem32', size: 16 * MiB, prefetchable: true }, { index: 2, kind: 'mem32', size: 4096 }]);
    probe(cs, 0x10);
    cs.write(0x10, 4, 0xe0123457);
    expect(cs.read(0x10, 4)).toBe(0xe0000008);
    expect(cs.barAddress(0)).toBe(0xe0000000n);
    cs.write(0x18, 4, 0xfebf1fff);
    expect(cs.read(0x18, 4)).toBe(0xfebf1000);
    expect(cs.barAddress(2)).toBe(0xfebf1000n);
    expect(cs.barAddress(1)).toBeUndefined();
  });

  it('sub-dword writes program the BAR byte by byte (strict mode merges them)', () => {
    const cs = space([{ index: 0, kind: 'mem32', size: 2 * MiB, prefetchable: true }]);
    cs.write(0x12, 2, 0xfe40); // bits 16–31; bits 16–20 are below 2 MiB
    expect(cs.read(0x10, 4)).toBe(0xfe400008);
    cs.write(0x10, 1, 0xff); // low byte: type bits and bits below the size
    expect(cs.read(0x10, 4)).toBe(0xfe400008);
  });

  it('the smallest memory BAR (16 bytes) keeps its 4 type bits read-only', () => {
    const cs = space([{ index: 1, kind: 'mem32', size: 16, prefetchable: true }]);
    expect(probe(cs, 0x14)).toBe(0xfffffff8);
    cs.write(0x14, 4, 0);
    expect(cs.read(0x14, 4)).toBe(0x00000008);
  });
});

describe('memory BARs (64-bit pairs)', () => {
  it('a 64 KiB mem64 BAR: low dword reads 0x04 (0x0C prefetchable), sizes to 0xFFFF000C; the upper BAR is all address bits', () => {
    const cs = space([{ index: 2, kind: 'mem64', size: 64 * 1024, prefetchable: true }]);
    expect(cs.read(0x18, 4)).toBe(0x0000000c);
    expect(cs.read(0x1c, 4)).toBe(0);
    expect(probe(cs, 0x18)).toBe(0xffff000c);
    expect(probe(cs, 0x1c)).toBe(0xffffffff);
    cs.write(0x18, 4, 0x00000000);
    cs.write(0x1c, 4, 0x00000080);
    expect(cs.barAddress(2)).toBe(0x80_0000_0000n);
    expect(cs.bar(2)).toMatchObject({ kind: 'mem64', width: 8, offset: 0x18, typeBits: 0x0c });
    expect(cs.bar(3)).toBeUndefined();
  });

  it('an 8 GiB mem64 BAR: every low-dword address bit is below the size; the upper dword’s bit 0 is read-only', () => {
    const cs = new ConfigSpace({ header, bars: [{ index: 0, kind: 'mem64', size: 8 * 1024 * MiB }] });
    expect(cs.read(0x10, 4)).toBe(0x00000004);
    expect(probe(cs, 0x10)).toBe(0x00000004);
    expect(probe(cs, 0x14)).toBe(0xfffffffe);
    cs.write(0x14, 4, 0x00000005);
    expect(cs.barAddress(0)).toBe(0x4_0000_0000n);
  });
});

describe('I/O BARs', () => {
  it('a 32-byte I/O BAR reads 0x1, sizes to 0xFFFFFFE1, and keeps bits 5 and up of an address', () => {
    const cs = space([{ index: 4, kind: 'io', size: 32 }]);
    expect(cs.read(0x20, 4)).toBe(0x00000001);
    expect(probe(cs, 0x20)).toBe(0xffffffe1);
    cs.write(0x20, 4, 0x0000c0ff);
    expect(cs.read(0x20, 4)).toBe(0x0000c0e1);
    expect(cs.barAddress(4)).toBe(0xc0e0n);
  });

  it('the smallest (4 bytes) and largest (256 bytes) I/O BARs', () => {
    const cs = space([{ index: 0, kind: 'io', size: 4 }, { index: 1, kind: 'io', size: 256 }]);
    expect(probe(cs, 0x10)).toBe(0xfffffffd);
    expect(probe(cs, 0x14)).toBe(0xffffff01);
  });
});

describe('expansion-ROM BAR (0x30)', () => {
  it('without a ROM it reads 0 and the sizing writes 0xFFFFF800 / 0xFFFFFFFF read back 0 (QEMU realize probes this)', () => {
    const cs = space([]);
    expect(cs.read(0x30, 4)).toBe(0);
    expect(probe(cs, 0x30)).toBe(0);
    cs.write(0x30, 4, 0xfffff800);
    expect(cs.read(0x30, 4)).toBe(0);
    expect(cs.romAddress()).toBeUndefined();
  });

  it('with a 64 KiB ROM: size mask plus a writable enable bit', () => {
    const cs = space([], { rom: { size: 64 * 1024 } });
    expect(cs.read(0x30, 4)).toBe(0);
    cs.write(0x30, 4, 0xfffff800);
    expect(cs.read(0x30, 4)).toBe(0xffff0000);
    expect(probe(cs, 0x30)).toBe(0xffff0001);
    cs.write(0x30, 4, 0xfeb4_5601);
    expect(cs.read(0x30, 4)).toBe(0xfeb40001);
    expect(cs.romAddress()).toEqual({ address: 0xfeb40000, enabled: true });
    cs.write(0x30, 1, 0x00);
    expect(cs.romAddress()).toEqual({ address: 0xfeb40000, enabled: false });
  });

  it('the smallest ROM (2 KiB) sizes to 0xFFFFF801', () => {
    const cs = space([], { rom: { size: 2048 } });
    expect(probe(cs, 0x30)).toBe(0xfffff801);
  });
});

describe('BAR descriptor validation (ConfigError at construction)', () => {
  it.each<[string, BarOptions[]]>([
    ['a non-power-of-two size (QEMU aborts on it)', [{ index: 0, kind: 'mem32', size: 3 * MiB }]],
    ['a memory BAR under 16 bytes', [{ index: 0, kind: 'mem32', size: 8 }]],
    ['an I/O BAR under 4 bytes', [{ index: 0, kind: 'io', size: 2 }]],
    ['an I/O BAR over 256 bytes', [{ index: 0, kind: 'io', size: 512 }]],
    ['a 4 GiB mem32 BAR (cannot be sized)', [{ index: 0, kind: 'mem32', size: 4 * 1024 * MiB }]],
    ['a mem64 BAR at index 5', [{ index: 5, kind: 'mem64', size: 4096 }]],
    ['index 6', [{ index: 6, kind: 'mem32', size: 4096 }]],
    ['two BARs in one slot', [{ index: 1, kind: 'mem32', size: 4096 }, { index: 1, kind: 'io', size: 16 }]],
    ['a BAR in the upper slot of a mem64 BAR', [{ index: 0, kind: 'mem64', size: 4096 }, { index: 1, kind: 'mem32', size: 4096 }]],
    ['a prefetchable I/O BAR', [{ index: 0, kind: 'io', size: 16, prefetchable: true }]],
    ['an unknown kind', [{ index: 0, kind: 'mem16' as 'mem32', size: 4096 }]],
    ['size 0', [{ index: 0, kind: 'mem32', size: 0 }]],
  ])('refuses %s', (_name, bars) => {
    expect(() => space(bars)).toThrow(ConfigError);
  });

  it.each([[1024], [3 * 1024], [32 * MiB]])('refuses a %d-byte ROM', (size) => {
    expect(() => space([], { rom: { size } })).toThrow(ConfigError);
  });

  it('names the problem in one sentence', () => {
    expect(() => space([{ index: 0, kind: 'mem32', size: 3 * MiB }])).toThrow('bars[0]: size 0x300000 is not a power of two (QEMU refuses such BARs)');
  });
});

describe('kernel-sample BAR write rule (opt-in hook, mdpy.c/mbochs.c handle_pci_cfg_write)', () => {
  const sample = (): ConfigSpace => {
    const bars: BarOptions[] = [{ index: 0, kind: 'mem32', size: 2 * MiB, prefetchable: true }];
    const probeCs = space(bars);
    return space(bars, { hooks: [sampleBarWriteHook(probeCs.bar(0)!)] });
  };

  it('0xFFFFFFFF stores the size mask with the flag nibble (0xFFE00008)', () => {
    expect(probe(sample(), 0x10)).toBe(0xffe00008);
  });

  it('any other dword keeps every bit above the nibble, even below the BAR size (invariant 5)', () => {
    const cs = sample();
    cs.write(0x10, 4, 0x12345677);
    expect(cs.read(0x10, 4)).toBe(0x12345678);
    cs.write(0x10, 4, 0);
    expect(cs.read(0x10, 4)).toBe(0x00000008);
  });

  it('sub-dword writes at the BAR and writes to its other bytes are ignored', () => {
    const cs = sample();
    cs.write(0x10, 4, 0xe0000000);
    cs.write(0x10, 2, 0xffff);
    cs.write(0x12, 2, 0x1234);
    cs.write(0x13, 1, 0xff);
    cs.write(0x11, 4, 0xffffffff); // straddles into BAR1: BAR0 bytes ignored, BAR1 absent
    expect(cs.read(0x10, 4)).toBe(0xe0000008);
  });

  it('a long write is split like the kernel’s read/write loop: a 4-byte chunk at 0x10 applies the rule', () => {
    const cs = sample();
    cs.writeBytes(0x00, new Uint8Array(255).fill(0xff));
    expect(cs.read(0x10, 4)).toBe(0xffe00008);
    const cs2 = sample();
    cs2.writeBytes(0x0e, Uint8Array.of(0, 0, 0x50, 0x34, 0x12, 0xab)); // chunks 0x0e(2) 0x10(4)
    expect(cs2.read(0x10, 4)).toBe(0xab123458);
    const cs3 = sample();
    cs3.writeBytes(0x0f, Uint8Array.of(0, 0x50, 0x34, 0x12, 0xab)); // chunks 0x0f(1) 0x10(4)
    expect(cs3.read(0x10, 4)).toBe(0xab123458);
    const cs4 = sample();
    cs4.writeBytes(0x0d, Uint8Array.of(0, 0, 0, 0x50, 0x34)); // chunks 0x0d(1) 0x0e(2) 0x10(2): ignored
    expect(cs4.read(0x10, 4)).toBe(0x00000008);
  });

  it('is only for mem32 BARs', () => {
    const cs = space([{ index: 0, kind: 'io', size: 16 }]);
    expect(() => sampleBarWriteHook(cs.bar(0)!)).toThrow(ConfigError);
  });
});
