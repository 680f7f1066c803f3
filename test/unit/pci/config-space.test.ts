/**
 * ConfigSpace: header semantics, access sizes and bounds, the single write
 * path, hooks, reset and snapshots. Expected bytes are written out from the
 * PCI 3.0 spec and the samples' *_create_config_space(), not computed by the code under test.
 */
import { describe, expect, it } from 'vitest';
import { encode, decode } from '@msgpack/msgpack';
import { AccessError, ConfigError } from '../../../src/util/errors.ts';
import {
  ConfigSpace,
  vendorCapability,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_STATUS_66MHZ,
  PCI_STATUS_CAP_LIST,
  PCI_STATUS_DETECTED_PARITY,
  PCI_STATUS_REC_MASTER_ABORT,
  PCI_STATUS_SIG_TARGET_ABORT,
  type ConfigSpaceOptions,
  type ConfigWriteEvent,
} from '../../../src/pci/index.ts';

const MiB = 1024 * 1024;

/** mdpy vendor capability contents: XRGB8888 640×480 at +4/+8/+12 (mdpy.c mdpy_create_config_space()). */
function mdpyCapBytes(): Uint8Array {
  const b = new Uint8Array(16);
  b.set([0x58, 0x52, 0x32, 0x34, 0x80, 0x02, 0, 0, 0xe0, 0x01, 0, 0], 4);
  return b;
}

function mdpyOptions(over: Partial<ConfigSpaceOptions> = {}): ConfigSpaceOptions {
  return {
    size: 255,
    header: {
      vendorId: 0x1b36, deviceId: 0x000f, revision: 1, classCode: 0x0380,
      subsystemVendorId: 0x1af4, subsystemId: 0x1100, command: PCI_COMMAND_IO | PCI_COMMAND_MEMORY,
    },
    bars: [{ index: 0, kind: 'mem32', size: 2 * MiB, prefetchable: true }],
    capabilities: [vendorCapability({ offset: 0x40, size: 16, bytes: mdpyCapBytes() })],
    ...over,
  };
}
const mdpy = (over: Partial<ConfigSpaceOptions> = {}): ConfigSpace => new ConfigSpace(mdpyOptions(over));

/** mdpy.c mdpy_create_config_space(), byte by byte. */
function mdpyExpectedImage(size = 255): Uint8Array {
  const e = new Uint8Array(size);
  e.set([0x36, 0x1b, 0x0f, 0x00, 0x03, 0x00, 0x10, 0x00, 0x01, 0x00, 0x80, 0x03], 0x00);
  e[0x10] = 0x08;
  e.set([0xf4, 0x1a, 0x00, 0x11], 0x2c);
  e[0x34] = 0x40;
  e.set([0x09, 0x00, 0x10, 0x00, 0x58, 0x52, 0x32, 0x34, 0x80, 0x02, 0x00, 0x00, 0xe0, 0x01, 0x00, 0x00], 0x40);
  return e;
}

const plain = (over: Partial<ConfigSpaceOptions['header']> = {}, rest: Partial<ConfigSpaceOptions> = {}): ConfigSpace =>
  new ConfigSpace({ header: { vendorId: 0x1234, deviceId: 0x5678, classCode: 0x0300, ...over }, ...rest });

function expectAccessError(fn: () => unknown): AccessError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AccessError);
    const err = e as AccessError;
    expect(err.errno).toBe(14);
    expect(err.code).toBe('EFAULT');
    return err;
  }
  throw new Error('expected an AccessError');
}

const image = (cs: ConfigSpace): Uint8Array => cs.image.slice();

describe('ConfigSpace power-on image', () => {
  it('mdpy-shaped space (1b36:000f, class 0x0380, rev 1, BAR0 2 MiB prefetchable, vendor cap at 0x40) is byte-exact', () => {
    const cs = mdpy();
    expect(cs.size).toBe(255);
    expect(image(cs)).toEqual(mdpyExpectedImage());
    expect(image(cs)).toEqual(cs.powerOnImage.slice());
  });

  it('mbochs-shaped space (1234:1111, BAR0 16 MiB prefetchable, BAR2 4 KiB, no capabilities) is byte-exact', () => {
    const cs = new ConfigSpace({
      size: 255,
      header: {
        vendorId: 0x1234, deviceId: 0x1111, revision: 1, classCode: 0x0380,
        subsystemVendorId: 0x1af4, subsystemId: 0x1100, command: 0x0003,
      },
      bars: [{ index: 0, kind: 'mem32', size: 16 * MiB, prefetchable: true }, { index: 2, kind: 'mem32', size: 4096 }],
    });
    const e = new Uint8Array(255);
    e.set([0x34, 0x12, 0x11, 0x11, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x80, 0x03], 0);
    e[0x10] = 0x08; // BAR0 mem32 prefetchable; BAR2 (0x18) is mem32 non-prefetchable = 0
    e.set([0xf4, 0x1a, 0x00, 0x11], 0x2c);
    expect(image(cs)).toEqual(e);
    expect(cs.read(0x06, 2) & PCI_STATUS_CAP_LIST).toBe(0);
    expect(cs.read(0x34, 1)).toBe(0);
  });

  it('defaults: size 256, revision/prog-if/subsystem 0, header type 0 (0x80 with multiFunction), pin 0', () => {
    const cs = plain();
    expect(cs.size).toBe(256);
    expect(cs.read(0x08, 4)).toBe(0x03000000); // class 0x0300, prog-if 0, revision 0
    expect(cs.read(0x0e, 1)).toBe(0x00);
    expect(cs.read(0x2c, 4)).toBe(0);
    expect(cs.read(0x3c, 2)).toBe(0);
    expect(plain({ multiFunction: true }).read(0x0e, 1)).toBe(0x80);
    expect(plain({ progIf: 0x01, interruptPin: 2, interruptLine: 11 }).read(0x3c, 2)).toBe(0x020b);
  });
});

describe('ConfigSpace header register semantics', () => {
  it('identity registers (vendor, device, revision, class, header type, subsystem ids) ignore writes of any width', () => {
    const cs = mdpy();
    const before = image(cs);
    for (const off of [0x00, 0x02, 0x08, 0x09, 0x0a, 0x0e, 0x2c, 0x2e]) cs.write(off, 2, 0xffff);
    cs.write(0x00, 4, 0); cs.write(0x08, 4, 0xffffffff); cs.write(0x2c, 4, 0x12345678); cs.write(0x0e, 1, 0x80);
    cs.write(0x02, 4, 0xffffffff); // device id (RO) + COMMAND (QEMU mask)
    expect(cs.read(0x00, 4)).toBe(0x000f1b36);
    expect(cs.read(0x08, 4)).toBe(0x03800001);
    expect(cs.read(0x2c, 4)).toBe(0x11001af4);
    expect(cs.read(0x0e, 1)).toBe(0);
    // Only COMMAND changed: 0x0003 -> 0x0507 (IO|MEM|MASTER|SERR|INTX_DISABLE).
    expect(cs.read(0x04, 2)).toBe(0x0507);
    const after = image(cs);
    const changed = [...after.keys()].filter((i) => after[i] !== before[i]);
    expect(changed).toEqual([0x04, 0x05]);
  });

  it('COMMAND: only QEMU’s default bits are writable (IO, MEMORY, MASTER, SERR, INTX_DISABLE)', () => {
    const cs = plain();
    cs.write(0x04, 2, 0xffff);
    expect(cs.read(0x04, 2)).toBe(0x0507);
    cs.write(0x04, 2, 0x0000);
    expect(cs.read(0x04, 2)).toBe(0x0000);
    cs.write(0x04, 1, 0x46); // MASTER (0x04) sticks, PARITY (0x40) and MEMORY (0x02): 0x02 sticks too
    expect(cs.read(0x04, 2)).toBe(0x0006);
    cs.write(0x05, 1, 0xff); // high byte: SERR (0x01) and INTX_DISABLE (0x04)
    expect(cs.read(0x04, 2)).toBe(0x0506);
  });

  it('COMMAND with a device mask: 0 makes it constant (kernel samples), a custom mask opens exactly those bits', () => {
    const frozen = plain({ command: 0x0003, commandWmask: 0 });
    frozen.write(0x04, 2, 0x0000);
    frozen.write(0x04, 2, 0xffff);
    expect(frozen.read(0x04, 2)).toBe(0x0003);
    const custom = plain({ commandWmask: 0x0002 });
    custom.write(0x04, 2, 0xffff);
    expect(custom.read(0x04, 2)).toBe(0x0002);
  });

  it('STATUS: error bits are RW1C, the rest read-only; writing 0 changes nothing', () => {
    const status0 = PCI_STATUS_66MHZ | 0xf900; // 66MHz plus all six error bits
    const cs = plain({ status: status0 });
    expect(cs.read(0x06, 2)).toBe(0xf920);
    cs.write(0x06, 2, 0x0000);
    expect(cs.read(0x06, 2)).toBe(0xf920);
    cs.write(0x06, 2, PCI_STATUS_SIG_TARGET_ABORT); // clear only bit 11
    expect(cs.read(0x06, 2)).toBe(0xf120);
    cs.write(0x07, 1, (PCI_STATUS_DETECTED_PARITY | PCI_STATUS_REC_MASTER_ABORT) >> 8); // byte write to the high half
    expect(cs.read(0x06, 2)).toBe(0x5120);
    cs.write(0x06, 2, 0xffff); // clears every error bit, 66MHz (read-only) stays
    expect(cs.read(0x06, 2)).toBe(0x0020);
    cs.write(0x06, 2, 0xffff); // RW1C never sets
    expect(cs.read(0x06, 2)).toBe(0x0020);
  });

  it('STATUS: statusW1cmask 0 makes the error bits read-only (kernel samples drop the write)', () => {
    const cs = plain({ status: 0x8000, statusW1cmask: 0 });
    cs.write(0x06, 2, 0xffff);
    expect(cs.read(0x06, 2)).toBe(0x8000);
  });

  it('a dword write at 0x04 updates COMMAND under its mask and clears STATUS W1C bits in one access', () => {
    const cs = plain({ status: 0x2000 | 0x0020 });
    cs.write(0x04, 4, 0xffffffff);
    expect(cs.read(0x04, 4)).toBe(0x00200507);
  });

  it('cache line size is RW, latency timer/BIST/min_gnt/max_lat read 0, interrupt line RW, pin RO', () => {
    const cs = plain({ interruptPin: 1 });
    cs.write(0x0c, 4, 0xffffffff);
    expect(cs.read(0x0c, 4)).toBe(0x000000ff);
    cs.write(0x3c, 4, 0xffffffff);
    expect(cs.read(0x3c, 4)).toBe(0x000001ff);
    cs.write(0x3c, 1, 0x0b);
    expect(cs.read(0x3c, 2)).toBe(0x010b);
  });

  it('interrupt line and cache line size can be made read-only (kernel samples)', () => {
    const cs = plain({ interruptLineWritable: false, cacheLineSizeWritable: false, interruptLine: 5 });
    cs.write(0x0c, 1, 0x10);
    cs.write(0x3c, 1, 0x0b);
    expect(cs.read(0x0c, 1)).toBe(0);
    expect(cs.read(0x3c, 1)).toBe(5);
  });

  it('reserved bytes 0x35–0x3b, CardBus CIS and the capability pointer ignore writes', () => {
    const cs = mdpy();
    cs.writeBytes(0x28, new Uint8Array(20).fill(0xff)); // 0x28..0x3b
    expect(cs.read(0x28, 4)).toBe(0);
    expect(cs.read(0x34, 4)).toBe(0x40);
    expect(cs.read(0x38, 4)).toBe(0);
    expect(cs.read(0x2c, 4)).toBe(0x11001af4);
    expect(cs.read(0x30, 4)).toBe(0);
  });

  it('bytes above the header that nothing claims read 0 and ignore writes, unless unclaimedWritable (QEMU)', () => {
    const cs = plain();
    cs.write(0x80, 4, 0xdeadbeef);
    expect(cs.read(0x80, 4)).toBe(0);
    const q = plain({}, { unclaimedWritable: true });
    q.write(0x80, 4, 0xdeadbeef);
    expect(q.read(0x80, 4)).toBe(0xdeadbeef);
  });
});

describe('ConfigSpace access sizes, alignment and bounds', () => {
  it('1/2/4-byte reads at unaligned and straddling offsets return the little-endian bytes', () => {
    const cs = mdpy();
    expect(cs.read(0x01, 2)).toBe(0x0f1b);
    expect(cs.read(0x03, 4)).toBe(0x10000300); // device hi, command lo/hi, status lo
    expect(cs.read(0x0b, 2)).toBe(0x0003);
    expect(cs.read(0x3f, 2)).toBe(0x0900); // max_lat then the vendor cap id
    expect(cs.read(0x42, 4)).toBe(0x52580010);
    expect(cs.read(0xfe, 1)).toBe(0);
  });

  it('a straddling write applies each byte under its own register’s mask', () => {
    const cs = mdpy();
    cs.write(0x0b, 2, 0xabcd); // 0x0b class (RO) + 0x0c cache line (RW)
    expect(cs.read(0x0b, 2)).toBe(0xab03);
    cs.write(0x3a, 4, 0x11223344); // 0x3a,0x3b reserved, 0x3c line (RW), 0x3d pin (RO)
    expect(cs.read(0x3a, 4)).toBe(0x00220000);
    cs.write(0x0f, 2, 0xffff); // BIST (RO) + low byte of BAR0 (type bits RO, bits 4–7 below 2 MiB RO)
    expect(cs.read(0x10, 4)).toBe(0x00000008);
    cs.write(0x12, 4, 0xffffffff); // upper half of BAR0 + BAR1 low half (absent)
    expect(cs.read(0x10, 4)).toBe(0xffe00008);
    expect(cs.read(0x14, 4)).toBe(0);
  });

  it('writeBytes/readBytes move any length, including the whole space at once', () => {
    const cs = mdpy({ size: 256 });
    const all = new Uint8Array(256);
    expect(cs.readBytes(0, all)).toBe(all);
    expect(all).toEqual(mdpyExpectedImage(256));
    cs.writeBytes(0, new Uint8Array(256).fill(0xff));
    const e = mdpyExpectedImage(256);
    e.set([0x07, 0x05], 0x04); // COMMAND = 0x0507
    e[0x0c] = 0xff; // cache line
    e.set([0x08, 0x00, 0xe0, 0xff], 0x10); // BAR0 sized: 0xFFE00008
    e[0x3c] = 0xff; // interrupt line
    expect(cs.readBytes(0, new Uint8Array(256))).toEqual(e);
    expect(cs.readBytes(0x40, new Uint8Array(0))).toEqual(new Uint8Array(0));
    expect(cs.readBytes(0x0e, new Uint8Array(3))).toEqual(Uint8Array.of(0x00, 0x00, 0x08));
  });

  it('size 255: the last byte is 0xFE, so a 4-byte access at 0xFC and any access at 0xFF are out of range', () => {
    const cs = mdpy();
    expect(cs.read(0xfc, 2)).toBe(0);
    expect(cs.read(0xfe, 1)).toBe(0);
    expect(cs.readBytes(0, new Uint8Array(255)).length).toBe(255);
    expectAccessError(() => cs.read(0xfc, 4));
    expectAccessError(() => cs.read(0xfe, 2));
    expectAccessError(() => cs.read(0xff, 1));
    expectAccessError(() => cs.readBytes(0, new Uint8Array(256)));
    expectAccessError(() => cs.write(0xfc, 4, 0));
    const cs256 = mdpy({ size: 256 });
    expect(cs256.read(0xfc, 4)).toBe(0);
    expectAccessError(() => cs256.read(0xfd, 4));
  });

  it('out-of-range, negative, non-integer offsets and sizes other than 1/2/4 throw AccessError and change nothing', () => {
    const cs = mdpy();
    const before = image(cs);
    const bad: (() => unknown)[] = [
      () => cs.read(-1, 1), () => cs.read(0.5, 1), () => cs.read(Number.NaN, 1), () => cs.read(Infinity, 4),
      () => cs.read(2 ** 53, 1), () => cs.read(0, 3 as 1), () => cs.read(0, 0 as 1), () => cs.read(0, 8 as 4),
      () => cs.read('16' as unknown as number, 4),
      () => cs.write(-4, 4, 0), () => cs.write(0x10, 3 as 4, 0xffffffff), () => cs.write(16.5, 4, 0),
      () => cs.write(0xfd, 4, 0xffffffff), () => cs.writeBytes(0xf0, new Uint8Array(16).fill(0xff)),
      () => cs.writeBytes(-1, new Uint8Array(1)), () => cs.writeBytes(0x10, [0xff] as unknown as Uint8Array),
      () => cs.readBytes(0x100, new Uint8Array(1)), () => cs.readBytes(0, null as unknown as Uint8Array),
    ];
    for (const fn of bad) expectAccessError(fn);
    expect(image(cs)).toEqual(before);
  });

  it('a refused readBytes leaves the destination untouched', () => {
    const cs = mdpy();
    const dst = new Uint8Array(8).fill(0xa5);
    expectAccessError(() => cs.readBytes(0xfa, dst));
    expect(dst).toEqual(new Uint8Array(8).fill(0xa5));
  });

  it('write values must fit the width; negative values are taken modulo 2^(8·size)', () => {
    const cs = mdpy();
    cs.write(0x10, 4, -1); // same as 0xFFFFFFFF
    expect(cs.read(0x10, 4)).toBe(0xffe00008);
    cs.write(0x3c, 1, -1);
    expect(cs.read(0x3c, 1)).toBe(0xff);
    for (const [size, value] of [[1, 0x100], [2, 0x10000], [4, 2 ** 32], [4, -(2 ** 31) - 1], [4, 1.5], [1, Number.NaN]] as const) {
      expectAccessError(() => cs.write(0x3c, size, value));
    }
    expect(cs.read(0x3c, 1)).toBe(0xff);
  });
});

describe('ConfigSpace reset and snapshots', () => {
  it('reset() restores the power-on image exactly after any writes', () => {
    const cs = mdpy();
    cs.write(0x10, 4, 0xffffffff);
    cs.write(0x04, 2, 0x0507);
    cs.write(0x3c, 1, 0x0b);
    cs.deviceSetUint(0x06, 2, 0x8010);
    cs.reset();
    expect(image(cs)).toEqual(mdpyExpectedImage());
  });

  it('snapshot() copies the image; restore() brings it back exactly; snapshots survive msgpack', () => {
    const cs = mdpy();
    cs.write(0x10, 4, 0xe0000000);
    cs.write(0x3c, 1, 0x0b);
    const snap = cs.snapshot();
    expect(snap.size).toBe(255);
    cs.write(0x10, 4, 0x12345678); // a later write must not leak into the snapshot
    expect(snap.bytes[0x13]).toBe(0xe0);
    cs.reset();
    const wire = decode(encode(snap)) as typeof snap;
    cs.restore(wire);
    expect(cs.read(0x10, 4)).toBe(0xe0000008);
    expect(cs.read(0x3c, 1)).toBe(0x0b);
  });

  it('restore() refuses a snapshot of another device shape or size with ConfigError and keeps the image', () => {
    const cs = mdpy();
    const other = mdpy({ header: { vendorId: 0x1234, deviceId: 0x1111, classCode: 0x0380 } }).snapshot();
    const before = image(cs);
    expect(() => cs.restore(other)).toThrow(ConfigError);
    expect(() => cs.restore(other)).toThrow(/VENDOR_ID/);
    expect(() => cs.restore({ size: 256, bytes: new Uint8Array(256) })).toThrow(ConfigError);
    expect(() => cs.restore({ size: 255, bytes: [] as unknown as Uint8Array })).toThrow(ConfigError);
    const badBar = cs.snapshot();
    badBar.bytes[0x10] = 0x00; // BAR type bits are checked
    expect(() => cs.restore(badBar)).toThrow(/BASE_ADDRESS_0/);
    expect(image(cs)).toEqual(before);
  });

  it('restore() accepts differences in bits a guest or the device may change', () => {
    const cs = mdpy();
    const snap = cs.snapshot();
    snap.bytes[0x3c] = 0x0b; // RW
    snap.bytes[0x06] = 0x18; // STATUS.INTERRUPT: not checked (cmask covers only CAP_LIST)
    cs.restore(snap);
    expect(cs.read(0x3c, 1)).toBe(0x0b);
    expect(cs.read(0x06, 2)).toBe(0x18);
  });
});

describe('ConfigSpace device side and write hooks', () => {
  it('deviceSetUint/deviceSetBytes bypass the masks (device-owned status bits) and run no hooks', () => {
    const events: ConfigWriteEvent[] = [];
    const cs = mdpy({ hooks: [{ name: 'all', offset: 0, size: 255, onWrite: (e) => { events.push(e); } }] });
    cs.deviceSetUint(0x06, 2, 0x0018); // STATUS.INTERRUPT
    cs.deviceSetBytes(0x44, Uint8Array.of(1, 2, 3, 4));
    expect(cs.read(0x06, 2)).toBe(0x0018);
    expect(cs.read(0x44, 4)).toBe(0x04030201);
    expect(events).toEqual([]);
    expectAccessError(() => cs.deviceSetUint(0xfe, 2, 0));
    expectAccessError(() => cs.deviceSetBytes(0xfc, new Uint8Array(4)));
  });

  it('a hook runs once per overlapping write, after the masked store, with offset/size/data/old/new', () => {
    const events: ConfigWriteEvent[] = [];
    const cs = plain({ command: 0x0003 }, { hooks: [{ name: 'command', offset: 0x04, size: 2, onWrite: (e) => { events.push(e); } }] });
    cs.write(0x00, 4, 0xffffffff); // 0x00..0x03: no overlap
    cs.write(0x06, 2, 0xffff); // STATUS: no overlap
    cs.read(0x04, 2);
    expect(events).toHaveLength(0);
    cs.write(0x02, 4, 0x04ff_ffff); // bytes 0x02..0x05 overlap COMMAND
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect([e.offset, e.size]).toEqual([0x02, 4]);
    expect(e.data).toEqual(Uint8Array.of(0xff, 0xff, 0xff, 0x04));
    expect(e.old).toEqual(Uint8Array.of(0x78, 0x56, 0x03, 0x00));
    expect(e.new).toEqual(Uint8Array.of(0x78, 0x56, 0x07, 0x04));
    expect(e.target).toEqual({ name: 'command', offset: 0x04, size: 2 });
    expect(e.oldValue(0x04, 2)).toBe(0x0003);
    expect(e.oldValue(0x06, 2)).toBe(0x0000); // outside the access: current image
  });

  it('a hook may adjust the stored value; hooks run in order and see earlier adjustments', () => {
    const seen: number[] = [];
    const cs = plain({}, {
      hooks: [
        { name: 'force-master', offset: 0x04, size: 2, onWrite: (_e, s) => { s.deviceSetUint(0x04, 2, s.read(0x04, 2) | 0x0004); } },
        { name: 'observer', offset: 0x04, size: 1, onWrite: (e) => { seen.push(e.new[0] ?? -1); } },
      ],
    });
    cs.write(0x04, 2, 0x0001);
    expect(cs.read(0x04, 2)).toBe(0x0005);
    expect(seen).toEqual([0x05]);
  });

  it('a guest write from inside a hook is a programming error (not an AccessError)', () => {
    const cs = plain({}, { hooks: [{ name: 'bad', offset: 0x3c, size: 1, onWrite: (_e, s) => { s.write(0x3c, 1, 0); } }] });
    expect(() => cs.write(0x3c, 1, 1)).toThrow(/inside a write hook/);
    cs.write(0x0c, 1, 0x10); // the space stays usable
    expect(cs.read(0x0c, 1)).toBe(0x10);
  });

  it('refused writes and empty writes run no hook', () => {
    let calls = 0;
    const cs = mdpy({ hooks: [{ name: 'all', offset: 0, size: 255, onWrite: () => { calls++; } }] });
    expectAccessError(() => cs.write(0xfc, 4, 0));
    cs.writeBytes(0x10, new Uint8Array(0));
    expect(calls).toBe(0);
  });
});

describe('ConfigSpace construction errors (ConfigError, one actionable sentence)', () => {
  const header = { vendorId: 0x1234, deviceId: 0x1111, classCode: 0x0380 };
  it.each([
    ['size 512', { size: 512 as 256, header }],
    ['vendor 0xffff', { header: { ...header, vendorId: 0xffff } }],
    ['device id > 16 bits', { header: { ...header, deviceId: 0x10000 } }],
    ['class code > 16 bits', { header: { ...header, classCode: 0x030000 } }],
    ['interrupt pin 5', { header: { ...header, interruptPin: 5 } }],
    ['reserved COMMAND bit in the mask', { header: { ...header, commandWmask: 0x0800 } }],
    ['statusW1cmask outside the error bits', { header: { ...header, statusW1cmask: 0x0010 } }],
    ['CAP_LIST without capabilities', { header: { ...header, status: PCI_STATUS_CAP_LIST } }],
    ['missing header', {} as ConfigSpaceOptions],
    ['hook outside the space', { header, size: 255 as const, hooks: [{ name: 'h', offset: 0xfc, size: 4, onWrite: () => {} }] }],
  ])('%s', (_name, opts) => {
    expect(() => new ConfigSpace(opts as ConfigSpaceOptions)).toThrow(ConfigError);
  });
});
