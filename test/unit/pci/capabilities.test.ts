/**
 * Capability list: vendor-specific and PM builders, the generic API,
 * placement (automatic / explicit), overlap and space checks, header-byte
 * protection, STATUS.CAP_LIST, and the walker. Expected bytes follow PCI 3.0
 * §6.7 / Appendix H and PCI PM 1.2 §3.2.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/util/errors.ts';
import {
  ConfigSpace,
  powerManagementCapability,
  vendorCapability,
  walkCapabilities,
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_PM,
  PCI_PM_CAP_D1,
  type CapabilityOptions,
  type ConfigSpaceOptions,
} from '../../../src/pci/index.ts';

const header = { vendorId: 0x1b36, deviceId: 0x000f, classCode: 0x0380 };
const space = (capabilities: CapabilityOptions[], rest: Partial<ConfigSpaceOptions> = {}): ConfigSpace =>
  new ConfigSpace({ header, capabilities, ...rest });

describe('vendor-specific capability (id 0x09)', () => {
  it('mdpy layout: 0x34 -> 0x40, bytes 09 00 10 00 then the device fields; CAP_LIST set', () => {
    const bytes = new Uint8Array(16);
    bytes.set([0x58, 0x52, 0x32, 0x34, 0x80, 0x02, 0, 0, 0xe0, 0x01, 0, 0], 4);
    const cs = space([vendorCapability({ offset: 0x40, size: 16, bytes })], { size: 255 });
    expect(cs.read(0x34, 1)).toBe(0x40);
    expect(cs.read(0x06, 2)).toBe(0x0010);
    expect(cs.readBytes(0x40, new Uint8Array(16))).toEqual(
      Uint8Array.of(0x09, 0x00, 0x10, 0x00, 0x58, 0x52, 0x32, 0x34, 0x80, 0x02, 0x00, 0x00, 0xe0, 0x01, 0x00, 0x00),
    );
    expect(cs.read(0x44, 4)).toBe(0x34325258); // XRGB8888 fourcc
    expect(cs.capabilities).toEqual([{ id: 0x09, offset: 0x40, size: 16, name: 'vendor' }]);
    expect([...cs.used.slice(0x40, 0x50)].every((b) => b === 0xff)).toBe(true);
    expect(cs.used[0x50]).toBe(0);
  });

  it('is read-only by default, including id, next and length; a device may open body bits', () => {
    const cs = space([vendorCapability({ offset: 0x40, size: 8, wmask: [0, 0, 0, 0, 0xff, 0x0f] })]);
    cs.writeBytes(0x40, new Uint8Array(8).fill(0xff));
    expect(cs.readBytes(0x40, new Uint8Array(8))).toEqual(Uint8Array.of(0x09, 0x00, 0x08, 0x00, 0xff, 0x0f, 0x00, 0x00));
  });

  it('refuses a length outside 3–255, a writable length byte, or a wrong length in the bytes', () => {
    expect(() => vendorCapability({ size: 2 })).toThrow(ConfigError);
    expect(() => vendorCapability({ size: 256 })).toThrow(ConfigError);
    expect(() => vendorCapability({ size: 8, wmask: [0, 0, 0xff] })).toThrow(ConfigError);
    expect(() => vendorCapability({ size: 8, bytes: [0, 0, 7] })).toThrow(ConfigError);
  });
});

describe('power management capability (id 0x01, 8 bytes)', () => {
  it('defaults: PMC 0x0003 (PM 1.2), PMCSR 0; only PowerState writable; PME bits read 0 without PME support', () => {
    const cs = space([powerManagementCapability({ offset: 0x40 })]);
    expect(cs.readBytes(0x40, new Uint8Array(8))).toEqual(Uint8Array.of(0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00));
    cs.write(0x44, 2, 0xffff); // D3hot + every other bit
    expect(cs.read(0x44, 2)).toBe(0x0003);
    cs.write(0x44, 2, 0x0000);
    expect(cs.read(0x44, 2)).toBe(0x0000);
    cs.write(0x42, 2, 0x0000); // PMC is read-only
    expect(cs.read(0x42, 2)).toBe(0x0003);
  });

  it('a write selecting an unsupported D1/D2 keeps the previous state (PCI PM 1.2 §3.2.4)', () => {
    const cs = space([powerManagementCapability({ offset: 0x40 })]);
    cs.write(0x44, 2, 0x0003);
    cs.write(0x44, 2, 0x0001); // D1 not advertised
    expect(cs.read(0x44, 2)).toBe(0x0003);
    cs.write(0x44, 1, 0x0002); // D2 not advertised
    expect(cs.read(0x44, 2)).toBe(0x0003);
    cs.write(0x44, 2, 0x0000);
    expect(cs.read(0x44, 2)).toBe(0x0000);
    const d1 = space([powerManagementCapability({ offset: 0x40, pmc: 0x0003 | PCI_PM_CAP_D1 })]);
    d1.write(0x44, 2, 0x0001);
    expect(d1.read(0x44, 2)).toBe(0x0001);
    d1.write(0x44, 2, 0x0002);
    expect(d1.read(0x44, 2)).toBe(0x0001);
  });

  it('with PME support: PME_En is writable and PME_Status is RW1C; NoSoftReset is read-only', () => {
    const cs = space([powerManagementCapability({ offset: 0x48, pmc: 0xc803, noSoftReset: true })]);
    expect(cs.read(0x4c, 2)).toBe(0x0008);
    cs.write(0x4c, 2, 0x0100);
    expect(cs.read(0x4c, 2)).toBe(0x0108);
    cs.deviceSetUint(0x4c, 2, 0x8108); // the device signals PME
    cs.write(0x4c, 2, 0x0100); // writing 0 to PME_Status keeps it
    expect(cs.read(0x4c, 2)).toBe(0x8108);
    cs.write(0x4c, 2, 0x8100); // writing 1 clears it
    expect(cs.read(0x4c, 2)).toBe(0x0108);
    cs.write(0x4c, 2, 0x8000); // and never sets it
    expect(cs.read(0x4c, 2)).toBe(0x0008);
  });
});

describe('generic capabilities and placement', () => {
  const msi: CapabilityOptions = {
    id: PCI_CAP_ID_MSI, size: 10, name: 'msi',
    bytes: [0, 0, 0x00, 0x00], wmask: [0, 0, 0x71, 0x00, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff],
  };

  it('automatic placement: from 0x40, each after the previous, dword aligned; linked in declaration order', () => {
    const cs = space([
      vendorCapability({ size: 16 }),
      powerManagementCapability(),
      { id: 0x0a, size: 5 },
      msi,
    ]);
    expect(cs.capabilities.map((c) => [c.id, c.offset])).toEqual([[0x09, 0x40], [0x01, 0x50], [0x0a, 0x58], [0x05, 0x60]]);
    expect(cs.read(0x34, 1)).toBe(0x40);
    expect([cs.read(0x41, 1), cs.read(0x51, 1), cs.read(0x59, 1), cs.read(0x61, 1)]).toEqual([0x50, 0x58, 0x60, 0x00]);
  });

  it('explicit offsets are claimed first; automatic ones go after the last claimed byte; the chain follows declaration order', () => {
    const cs = space([
      powerManagementCapability({ offset: 0x80 }),
      vendorCapability({ size: 4 }),
      { id: 0x0a, size: 4, offset: 0x40 },
    ]);
    expect(cs.capabilities.map((c) => [c.id, c.offset])).toEqual([[0x01, 0x80], [0x09, 0x88], [0x0a, 0x40]]);
    expect(cs.read(0x34, 1)).toBe(0x80);
    expect(cs.read(0x81, 1)).toBe(0x88);
    expect(cs.read(0x89, 1)).toBe(0x40);
    expect(cs.read(0x41, 1)).toBe(0x00);
  });

  it('generic masks: opened bits are writable, W1C bits clear, the rest is read-only', () => {
    const cs = space([
      { ...msi, offset: 0x40 },
      { id: 0x0b, size: 4, offset: 0x50, bytes: [0, 0, 0xf0, 0x0f], w1cmask: [0, 0, 0xf0, 0x00] },
    ]);
    cs.write(0x42, 2, 0xffff);
    expect(cs.read(0x42, 2)).toBe(0x0071);
    cs.write(0x44, 4, 0xfee0_0003);
    expect(cs.read(0x44, 4)).toBe(0xfee0_0000);
    cs.write(0x52, 2, 0x3f3f); // clears bits 4–5 of 0x52 (W1C), 0x53 is read-only
    expect(cs.read(0x52, 2)).toBe(0x0fc0);
    expect(cs.findCapability(PCI_CAP_ID_MSI)?.offset).toBe(0x40);
    expect(cs.findCapability(PCI_CAP_ID_PM)).toBeUndefined();
  });

  it('id, next and the capability pointer never change under writes', () => {
    const cs = space([vendorCapability({ size: 8 }), powerManagementCapability()]);
    cs.writeBytes(0x34, Uint8Array.of(0x99));
    cs.writeBytes(0x40, new Uint8Array(0x20));
    cs.writeBytes(0x40, new Uint8Array(0x20).fill(0xff));
    expect(cs.read(0x34, 1)).toBe(0x40);
    expect(cs.read(0x40, 2)).toBe(0x4809);
    expect(cs.read(0x48, 2)).toBe(0x0001);
    expect(cs.walkCapabilities()).toEqual({
      ok: true, capList: true, caps: [{ id: 0x09, offset: 0x40, next: 0x48 }, { id: 0x01, offset: 0x48, next: 0 }],
    });
  });

  it('CAP_LIST is clear and the pointer 0 without capabilities', () => {
    const cs = space([]);
    expect(cs.read(0x06, 2)).toBe(0);
    expect(cs.read(0x34, 1)).toBe(0);
    expect(cs.walkCapabilities()).toEqual({ ok: true, capList: false, caps: [] });
  });

  it('device register blocks are claimed and masked like capabilities but not linked', () => {
    const cs = new ConfigSpace({
      header, capabilities: [vendorCapability({ size: 4 })],
      deviceRegisters: [{ name: 'private', offset: 0x40, size: 4, bytes: [1, 2, 3, 4], wmask: [0xff, 0, 0, 0] }],
    });
    expect(cs.capabilities[0]?.offset).toBe(0x44);
    expect(cs.deviceRegisters).toEqual([{ name: 'private', offset: 0x40, size: 4 }]);
    cs.write(0x40, 4, 0);
    expect(cs.read(0x40, 4)).toBe(0x04030200);
    expect(cs.describeOffset(0x41)).toBe('private+0x1');
    expect(cs.describeOffset(0x46)).toBe('cap vendor+0x2');
  });

  it.each<[string, CapabilityOptions[], 256 | 255]>([
    ['overlapping explicit capabilities', [{ id: 9, size: 8, offset: 0x40 }, { id: 1, size: 8, offset: 0x44 }], 256],
    ['a misaligned offset', [{ id: 9, size: 4, offset: 0x42 }], 256],
    ['an offset inside the header', [{ id: 9, size: 4, offset: 0x3c }], 256],
    ['a capability past the end of a 255-byte space', [{ id: 9, size: 4, offset: 0xfc }], 255],
    ['automatic placement running out of space', [{ id: 9, size: 0xb0 }, { id: 1, size: 0x10 }], 255],
    ['id 0', [{ id: 0, size: 4 }], 256],
    ['id 0xff', [{ id: 0xff, size: 4 }], 256],
    ['size 1', [{ id: 9, size: 1 }], 256],
    ['a writable next byte', [{ id: 9, size: 4, wmask: [0, 0xff] }], 256],
    ['a W1C id byte', [{ id: 9, size: 4, w1cmask: [0x01] }], 256],
    ['overlapping wmask and w1cmask', [{ id: 9, size: 4, wmask: [0, 0, 1], w1cmask: [0, 0, 1] }], 256],
    ['a preset next pointer', [{ id: 9, size: 4, bytes: [9, 0x50] }], 256],
    ['a non-byte initial value', [{ id: 9, size: 4, bytes: [0, 0, 256] }], 256],
    ['more bytes than the size', [{ id: 9, size: 4, bytes: [0, 0, 0, 0, 0] }], 256],
  ])('refuses %s (ConfigError)', (_name, caps, size) => {
    expect(() => space(caps, { size })).toThrow(ConfigError);
  });

  it('a capability may end exactly at the last byte', () => {
    expect(space([{ id: 9, size: 4, offset: 0xfc }]).capabilities[0]?.offset).toBe(0xfc);
    expect(space([{ id: 9, size: 3, offset: 0xfc }], { size: 255 }).capabilities[0]?.offset).toBe(0xfc);
  });
});

describe('walkCapabilities', () => {
  /** A bare image with CAP_LIST set and the given pointer/entries. */
  function img(size: number, ptr: number, entries: [number, number, number][]): Uint8Array {
    const b = new Uint8Array(size);
    b[0x06] = 0x10;
    b[0x34] = ptr;
    for (const [off, id, next] of entries) { b[off] = id; b[off + 1] = next; }
    return b;
  }

  it('returns the chain in link order', () => {
    expect(walkCapabilities(img(256, 0x60, [[0x60, 5, 0x40], [0x40, 9, 0]]))).toEqual({
      ok: true, capList: true, caps: [{ id: 5, offset: 0x60, next: 0x40 }, { id: 9, offset: 0x40, next: 0 }],
    });
  });

  it('detects a cycle', () => {
    const w = walkCapabilities(img(256, 0x40, [[0x40, 9, 0x50], [0x50, 1, 0x40]]));
    expect(w).toMatchObject({ ok: false, error: 'cycle', at: 0x40 });
    expect(w.caps).toHaveLength(2);
  });

  it('detects a self-loop', () => {
    expect(walkCapabilities(img(256, 0x40, [[0x40, 9, 0x40]]))).toMatchObject({ ok: false, error: 'cycle', at: 0x40 });
  });

  it('detects pointers into the header and beyond the space (255 bytes: 0xFC is the last usable dword)', () => {
    expect(walkCapabilities(img(256, 0x20, []))).toMatchObject({ ok: false, error: 'out-of-range', at: 0x20 });
    expect(walkCapabilities(img(256, 0x40, [[0x40, 9, 0x3c]]))).toMatchObject({ ok: false, error: 'out-of-range', at: 0x3c });
    expect(walkCapabilities(img(255, 0xfc, [[0xfc, 9, 0]]))).toMatchObject({ ok: true });
    expect(walkCapabilities(img(128, 0x80, []))).toMatchObject({ ok: false, error: 'out-of-range', at: 0x80 });
  });

  it('detects a misaligned pointer', () => {
    expect(walkCapabilities(img(256, 0x42, [[0x42, 9, 0]]))).toMatchObject({ ok: false, error: 'misaligned', at: 0x42 });
  });

  it('ignores the pointer when CAP_LIST is clear (as Linux pci_find_capability)', () => {
    const b = img(256, 0x40, [[0x40, 9, 0x40]]);
    b[0x06] = 0;
    expect(walkCapabilities(b)).toEqual({ ok: true, capList: false, caps: [] });
  });
});
