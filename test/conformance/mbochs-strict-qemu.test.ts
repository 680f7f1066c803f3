/**
 * mbochs `vbe: 'strict'` against the device it follows: QEMU's PCI stdvga
 * (`-device VGA`, 16 MiB like mbochs-medium, extended registers on), driven
 * over qtest (test/support/qemu-stdvga.ts). The same BAR2 accesses go to
 * both, and every read outside the EDID window (mbochs has its own, the
 * kernel sample's) must answer the same; the screen QEMU shows must carry
 * the picture exactly when mbochs's plane query reports a plane.
 *
 * The random accesses stay on what mbochs models (docs/devices/mbochs.md
 * "VGA ports and holes (strict)"): the attribute controller, misc output, feature
 * control and input status 1, ports QEMU answers with a constant, the holes,
 * reads of dispi and qext. Debian's QEMU is 7.2; the titles name the version
 * that ran.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MbochsDevice, createMbochsBudget } from '../../devices/mbochs/index.ts';
import { QEMU } from '../support/qemu.ts';
import { startQemuStdVga, type QemuStdVga } from '../support/qemu-stdvga.ts';
import { systemTool } from '../support/system-deps.ts';
import { FC_SEED } from '../unit/devices/fc-seed.ts';

const haveQemu = systemTool(QEMU, ['--version'], 'the mbochs strict conformance tests (QEMU stdvga as reference)');

type Size = 1 | 2 | 4;
type Op = { readonly read: true; readonly offset: number; readonly size: Size } | { readonly read: false; readonly offset: number; readonly size: Size; readonly value: number };

const BAR2 = 2;
const le = (v: number, size: Size): Uint8Array => Uint8Array.from({ length: size }, (_, k) => Math.floor(v / 2 ** (8 * k)) & 0xff);
const leValue = (b: Uint8Array): number => b.reduceRight((v, byte) => v * 256 + byte, 0);

function mbochsRead(dev: MbochsDevice, offset: number, size: Size): number {
  const b = new Uint8Array(size);
  dev.regionRead(BAR2, offset, b);
  return leValue(b);
}

/** Reads whose value both models define, at naturally aligned offsets (docs/devices/mbochs.md "VGA ports and holes (strict)"). */
const READS: readonly (readonly [number, Size])[] = [
  [0x400, 1], [0x400, 2], [0x400, 4], [0x401, 1], [0x402, 1], [0x402, 2], [0x40a, 1], [0x40a, 2], [0x40c, 1], [0x40c, 2],
  [0x418, 4], [0x41a, 1], [0x41a, 2], [0x41b, 1], [0x41c, 1], [0x41c, 4],
  [0x500, 2], [0x500, 4], [0x512, 4], [0x514, 2], [0x514, 4], [0x515, 1], [0x516, 2], [0x518, 4],
  [0x600, 4], [0x604, 4], [0x600, 1], [0x604, 2], [0x608, 4], [0x420, 4], [0x4fe, 2], [0x5ff, 1], [0xffc, 4],
];
/** Writes to ports both models treat alike: the attribute controller, misc output, feature control, ports QEMU ignores, holes. */
const WRITES: readonly (readonly [number, Size])[] = [
  [0x400, 1], [0x400, 2], [0x400, 4], [0x401, 1], [0x402, 1], [0x402, 2], [0x40a, 1], [0x41a, 1], [0x41a, 2], [0x41c, 4],
  [0x420, 4], [0x516, 2], [0x608, 4], [0x700, 1],
];

const arbValue = (size: Size): fc.Arbitrary<number> =>
  fc.oneof(fc.constantFrom(0x00, 0x01, 0x20, 0x11, 0x31, 0x3f, 0xff), fc.integer({ min: 0, max: 2 ** (8 * size) - 1 }));
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constantFrom(...READS).map(([offset, size]): Op => ({ read: true, offset, size })), weight: 3 },
  { arbitrary: fc.constantFrom(...WRITES).chain(([offset, size]) => arbValue(size).map((value): Op => ({ read: false, offset, size, value }))), weight: 2 },
);

describe.skipIf(!haveQemu)('mbochs vbe strict against QEMU stdvga (qtest)', () => {
  let qemu: QemuStdVga;
  let dev: MbochsDevice;
  const fresh = async (): Promise<void> => {
    await qemu?.close();
    dev?.destroy();
    qemu = await startQemuStdVga({ vgamemMb: 16, qext: true });
    dev = new MbochsDevice('mbochs-medium', { vbe: 'strict', qext: true, budget: createMbochsBudget(256) });
  };
  const both = async (op: Op): Promise<{ qemu: number; mbochs: number } | undefined> => {
    if (!op.read) {
      await qemu.mmioWrite(op.offset, op.size, op.value);
      dev.regionWrite(BAR2, op.offset, le(op.value, op.size));
      return undefined;
    }
    return { qemu: await qemu.mmioRead(op.offset, op.size), mbochs: mbochsRead(dev, op.offset, op.size) };
  };

  beforeAll(fresh);
  afterAll(async () => {
    await qemu?.close();
    dev?.destroy();
  });

  it('the reads the issue names, from the reset state: 4 bytes at 0x514 are VIDEO_MEMORY_64K and 0 (QEMU does not split the access at the end of the dispi window; index 11 reads 0), 2 bytes at 0x516 are 0xFFFF (the vga.mmio container), holes all ones, 0x3DA 0xFF while monochrome', async () => {
    await fresh();
    const cases: readonly [number, Size, number][] = [
      [0x514, 4, 0x0000_0100], [0x516, 2, 0xffff], [0x515, 1, 0x00], [0x512, 4, 0x0100_0000], [0x520, 4, 0xffff_ffff],
      [0x700, 1, 0xff], [0x608, 4, 0xffff_ffff], [0x600, 4, 8], [0x604, 4, 0x1e1e1e1e], [0x600, 2, 0],
      [0x41a, 1, 0xff], [0x400, 1, 0x00], [0x40c, 1, 0x00],
    ];
    for (const [offset, size, want] of cases) {
      const r = (await both({ read: true, offset, size }))!;
      expect({ offset, size, ...r }).toEqual({ offset, size, qemu: want, mbochs: want });
    }
  });

  it(`every read outside the EDID window answers as QEMU does, through 1500 random accesses to the modelled VGA ports, holes, dispi and qext (seed ${FC_SEED})`, async () => {
    await fresh();
    const ops = fc.sample(fc.array(arbOp, { minLength: 1500, maxLength: 1500 }), { seed: FC_SEED, numRuns: 1 })[0]!;
    const history: string[] = [];
    for (const op of ops) {
      const r = await both(op);
      history.push(op.read ? `read 0x${op.offset.toString(16)}/${op.size}` : `write 0x${op.offset.toString(16)}/${op.size} = 0x${op.value.toString(16)}`);
      if (r !== undefined && r.qemu !== r.mbochs) {
        expect.fail(`QEMU ${qemu.version} read 0x${r.qemu.toString(16)}, mbochs 0x${r.mbochs.toString(16)}, after:\n  ${history.slice(-12).join('\n  ')}`);
      }
    }
  });

  it('QEMU shows the picture exactly when the plane query reports a plane, through bochs_hw_blank() with and without the colour write and stray attribute writes', async () => {
    await fresh();
    const w = 128, h = 128; // VIRT_HEIGHT = 16 MiB / 512 fits the u16 QEMU truncates it into
    const dispi = async (index: number, value: number): Promise<void> => { await both({ read: false, offset: 0x500 + 2 * index, size: 2, value }); };
    for (const [index, value] of [[4, 0], [3, 32], [1, w], [2, h], [5, 0], [6, w], [8, 0], [9, 0], [4, 0x41]] as const) await dispi(index, value);
    // An XRGB8888 pattern no blank screen has: B, G, R, X per pixel.
    const picture = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 0 : ((i >> 2) * 7 + (i % 4) * 85 + 1) & 0xff));
    await qemu.vramWrite(0, picture);
    dev.regionWrite(0, 0, picture);
    const qemuShows = async (): Promise<boolean> => {
      const img = await qemu.screendump();
      if (img.width !== w || img.height !== h) return false;
      for (let p = 0; p < w * h; p++) {
        if (img.data[4 * p] !== picture[4 * p + 2] || img.data[4 * p + 1] !== picture[4 * p + 1] || img.data[4 * p + 2] !== picture[4 * p]) return false;
      }
      return true;
    };
    const mbochsShows = (): boolean => {
      const plane = dev.queryGfxPlane({ argsz: 64, flags: 2, drmPlaneType: 1 });
      if (plane === 'probe-ok' || plane.size === 0) return false;
      const e = dev.getGfxDmabuf(plane.regionIndexOrDmabufId);
      try {
        return Buffer.from(e.memory.bytes.subarray(e.offset, e.offset + e.size)).equals(picture);
      } finally {
        e.release();
      }
    };
    const blank = async (on: boolean, color: boolean): Promise<void> => {
      if (color) await both({ read: false, offset: 0x402, size: 1, value: 0x01 });
      await both({ read: true, offset: 0x41a, size: 1 });
      await both({ read: false, offset: 0x400, size: 1, value: on ? 0x00 : 0x20 });
    };
    const attr = async (value: number): Promise<void> => { await both({ read: false, offset: 0x400, size: 1, value }); };
    const steps: readonly [string, () => Promise<void>, boolean][] = [
      ['after reset (attribute index 0)', async () => {}, false],
      ['pre-6.1 unblank from reset (monochrome: the flip-flop was 0 anyway)', () => blank(false, false), true],
      ['pre-6.1 blank: 0x3DA ignored while monochrome, the 0 lands as data', () => blank(true, false), true],
      ['blank with the colour write', () => blank(true, true), false],
      ['unblank', () => blank(false, true), true],
      ['a data write of 0 (flip-flop 1) does not blank', () => attr(0x00), true],
      ['the next write is an index without PAS', () => attr(0x11), false],
      ['a data write of 0x20 does not unblank', () => attr(0x20), false],
      ['an index with PAS and a register number unblanks', () => attr(0x31), true],
      ['blank again', () => blank(true, true), false],
    ];
    for (const [what, step, shown] of steps) {
      await step();
      expect({ what, qemu: await qemuShows(), mbochs: mbochsShows() }).toEqual({ what, qemu: shown, mbochs: shown });
    }
  });
});
