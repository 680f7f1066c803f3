import { describe, expect, it } from 'vitest';
import {
  PCI_BAR_REGS,
  PCI_COMMAND_QEMU_WMASK,
  PCI_HEADER,
  PCI_HEADER_REGS,
  PCI_STATUS_RW1C_MASK,
  validateHeaderTable,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_SERR,
  PCI_STATUS_DETECTED_PARITY,
  PCI_STATUS_SIG_SYSTEM_ERROR,
  PCI_STATUS_REC_MASTER_ABORT,
  PCI_STATUS_REC_TARGET_ABORT,
  PCI_STATUS_SIG_TARGET_ABORT,
  PCI_STATUS_PARITY,
  PCI_STATUS_CAP_LIST,
  PCI_ROM_ADDRESS_MASK,
  PCI_BASE_ADDRESS_MEM_MASK,
  PCI_BASE_ADDRESS_IO_MASK,
} from '../../../src/pci/index.ts';

describe('PCI header register table', () => {
  it('tiles the 64-byte type-0 header exactly, with masks that fit their access kind', () => {
    expect(validateHeaderTable(PCI_HEADER_REGS)).toEqual([]);
  });

  it('the validator reports gaps, overlaps and writable read-only registers (guards against a validator that finds nothing)', () => {
    const bad = PCI_HEADER_REGS.filter((r) => r.name !== 'BIST').map((r) =>
      r.name === 'VENDOR_ID' ? { ...r, wmask: 0xffff } : r,
    );
    const problems = validateHeaderTable(bad);
    expect(problems.some((p) => p.includes('VENDOR_ID') && p.includes('writable'))).toBe(true);
    expect(problems.some((p) => p.includes('BASE_ADDRESS_0') && p.includes('starts at 0x10, expected 0xf'))).toBe(true);
  });

  it('places each register where PCI 3.0 §6.1 Figure 6-1 puts it', () => {
    const layout = Object.fromEntries(PCI_HEADER_REGS.map((r) => [r.name, [r.offset, r.size, r.access]]));
    expect(layout).toMatchObject({
      VENDOR_ID: [0x00, 2, 'ro'], DEVICE_ID: [0x02, 2, 'ro'], COMMAND: [0x04, 2, 'rw'], STATUS: [0x06, 2, 'rw1c'],
      REVISION_ID: [0x08, 1, 'ro'], CLASS_PROG: [0x09, 1, 'ro'], CLASS_DEVICE: [0x0a, 2, 'ro'],
      CACHE_LINE_SIZE: [0x0c, 1, 'rw'], LATENCY_TIMER: [0x0d, 1, 'ro'], HEADER_TYPE: [0x0e, 1, 'ro'], BIST: [0x0f, 1, 'ro'],
      BASE_ADDRESS_0: [0x10, 4, 'rw'], BASE_ADDRESS_5: [0x24, 4, 'rw'], CARDBUS_CIS: [0x28, 4, 'ro'],
      SUBSYSTEM_VENDOR_ID: [0x2c, 2, 'ro'], SUBSYSTEM_ID: [0x2e, 2, 'ro'], ROM_ADDRESS: [0x30, 4, 'rw'],
      CAPABILITY_LIST: [0x34, 1, 'ro'], INTERRUPT_LINE: [0x3c, 1, 'rw'], INTERRUPT_PIN: [0x3d, 1, 'ro'],
      MIN_GNT: [0x3e, 1, 'ro'], MAX_LAT: [0x3f, 1, 'ro'],
    });
    expect(PCI_BAR_REGS.map((r) => r.offset)).toEqual([0x10, 0x14, 0x18, 0x1c, 0x20, 0x24]);
  });

  it('default masks are QEMU’s: COMMAND IO|MEM|MASTER|SERR|INTX_DISABLE, STATUS error bits RW1C, cache line and interrupt line RW', () => {
    expect(PCI_COMMAND_QEMU_WMASK).toBe(0x0507);
    expect(PCI_HEADER.COMMAND.wmask).toBe(0x0507);
    expect(PCI_STATUS_RW1C_MASK).toBe(0xf900);
    expect(PCI_HEADER.STATUS.w1cmask).toBe(0xf900);
    expect(PCI_HEADER.STATUS.wmask).toBe(0);
    expect(PCI_HEADER.CACHE_LINE_SIZE.wmask).toBe(0xff);
    expect(PCI_HEADER.INTERRUPT_LINE.wmask).toBe(0xff);
    expect(PCI_HEADER.INTERRUPT_PIN.wmask).toBe(0);
    expect(PCI_BAR_REGS.every((r) => r.wmask === 0)).toBe(true); // opened by BAR descriptors only
  });

  it('bit constants carry Linux pci_regs.h values', () => {
    expect([PCI_COMMAND_SERR, PCI_COMMAND_INTX_DISABLE]).toEqual([0x100, 0x400]);
    expect([
      PCI_STATUS_CAP_LIST, PCI_STATUS_PARITY, PCI_STATUS_SIG_TARGET_ABORT, PCI_STATUS_REC_TARGET_ABORT,
      PCI_STATUS_REC_MASTER_ABORT, PCI_STATUS_SIG_SYSTEM_ERROR, PCI_STATUS_DETECTED_PARITY,
    ]).toEqual([0x10, 0x100, 0x800, 0x1000, 0x2000, 0x4000, 0x8000]);
    expect([PCI_BASE_ADDRESS_MEM_MASK, PCI_BASE_ADDRESS_IO_MASK, PCI_ROM_ADDRESS_MASK]).toEqual([0xfffffff0, 0xfffffffc, 0xfffff800]);
  });

  it('cmask covers the identity registers, STATUS.CAP_LIST and the capability pointer (QEMU pci_init_cmask)', () => {
    const checked = PCI_HEADER_REGS.filter((r) => r.cmask !== 0).map((r) => [r.name, r.cmask]);
    expect(checked).toEqual([
      ['VENDOR_ID', 0xffff], ['DEVICE_ID', 0xffff], ['STATUS', 0x10], ['REVISION_ID', 0xff], ['CLASS_PROG', 0xff],
      ['CLASS_DEVICE', 0xffff], ['HEADER_TYPE', 0xff], ['CAPABILITY_LIST', 0xff],
    ]);
  });
});
