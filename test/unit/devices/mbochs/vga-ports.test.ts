/**
 * VGA blanking in mbochs `vbe: 'strict'` (docs/devices/mbochs.md "VGA ports
 * and holes (strict)"): the port model (devices/mbochs/vga-ports.ts) against QEMU 7.2
 * hw/display/vga.c vga_ioport_read()/vga_ioport_write()/vga_update_display(),
 * the BAR2 window of hw/display/vga-pci.c, and the plane query, which shows
 * nothing while QEMU would draw a blank screen. `vbe: 'sample'` ignores it
 * all, as the kernel sample does. test/conformance/mbochs-strict-qemu.test.ts
 * checks the same against a running QEMU.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VGA_AR_PAS, VgaPorts, type VgaPortsSnapshot } from '../../../../devices/mbochs/vga-ports.ts';
import type { MbochsDevice } from '../../../../devices/mbochs/index.ts';
import { EMPTY_PLANE } from '../../../../src/vfio/index.ts';
import { bootBochsDrm } from '../../../support/guest/bochs-drm.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';
import { BAR2, XRGB8888, errno, make, primary, program, rd, vgaBlank, wr } from './device-harness.ts';

/** bochs_hw_blank() on the bare port model: [colour,] read 0x3DA, attribute index. */
function hwBlank(p: VgaPorts, blank: boolean, color = true): void {
  if (color) p.write(0x3c2, 0x01);
  p.read(0x3da);
  p.write(0x3c0, blank ? 0x00 : 0x20);
}

const PRIMARY = { argsz: 64, flags: 2, drmPlaneType: 1 } as const;

describe('VGA port model, strict (QEMU 7.2 hw/display/vga.c)', () => {
  it('after reset the screen is blank: QEMU 7.2 vga_common_reset() zeroes ar_index, and vga_update_display() blanks while (ar_index & 0x20) == 0', () => {
    const p = new VgaPorts();
    expect(p.blanked).toBe(true);
    hwBlank(p, false);
    expect(p.blanked).toBe(false);
    p.reset();
    expect(p.blanked).toBe(true);
    expect([p.read(0x3cc), p.read(0x3c0)]).toEqual([0, 0]); // msr 0 (monochrome), index 0
  });

  it("bochs_hw_blank(): colour misc output, a 0x3DA read that resets the flip-flop, then index 0x20 unblanks and 0x00 blanks, whatever the flip-flop was (QEMU 7.2 vga.c VGA_ATT_W, ar_flip_flop)", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ port: fc.constantFrom(0x3c0, 0x3c1, 0x3c2, 0x3da), value: fc.integer({ min: 0, max: 0xff }), read: fc.boolean() })), fc.boolean(), (before, blank) => {
        const p = new VgaPorts();
        for (const a of before) {
          if (a.read) p.read(a.port);
          else p.write(a.port, a.value);
        }
        hwBlank(p, blank);
        expect(p.blanked).toBe(blank);
      }),
      fcParams(300),
    );
  });

  it('a 0 written to 0x3C0 as attribute data (flip-flop 1) does not blank: only the index write carries PAS (QEMU 7.2 vga.c VGA_ATT_W stores data in ar[ar_index & 0x1F])', () => {
    const p = new VgaPorts();
    hwBlank(p, false); // flip-flop now 1: the next 0x3C0 write is data for register 0x20 & 0x1F = 0
    p.write(0x3c0, 0x00);
    expect(p.blanked).toBe(false);
    expect(p.read(0x3c1)).toBe(0); // palette register 0 took the 0
    p.write(0x3c0, 0x00); // flip-flop back to 0: this one is the index
    expect(p.blanked).toBe(true);
  });

  it('in monochrome mode (misc output bit 0 clear, the reset state) 0x3D0–0x3DF read 0xFF and a 0x3DA read keeps the flip-flop, so the driver before Linux 6.1 (no colour write) can fail to blank (QEMU 7.2 vga.c vga_ioport_invalid(); kernel commit e740ceb53e45 "drm/bochs: fix blanking")', () => {
    const p = new VgaPorts();
    p.write(0x3c0, 0x20); // index 0x20: shown; flip-flop 1
    expect(p.read(0x3da)).toBe(0xff); // absent in monochrome: the flip-flop stays 1
    expect(p.read(0x3d4)).toBe(0xff);
    p.write(0x3c0, 0x00); // pre-6.1 blank: lands as data
    expect(p.blanked).toBe(false);
    hwBlank(p, true); // with the colour write it works
    expect(p.blanked).toBe(true);
    expect(p.read(0x3d4)).toBe(0); // present now (an unmodelled register: 0)
  });

  it("reads: 0x3C0 gives the index while the flip-flop is 0, then 0; 0x3C1 the addressed register as QEMU masked it; 0x3CC the misc output without bit 4; 0x3DA toggles 0x09 per read, QEMU's default dumb retrace (QEMU 7.2 vga.c vga_ioport_read(), vga_dumb_retrace())", () => {
    const p = new VgaPorts();
    p.write(0x3c2, 0xff);
    expect(p.read(0x3cc)).toBe(0xef);
    expect([p.read(0x3da), p.read(0x3da), p.read(0x3da)]).toEqual([0x09, 0x00, 0x09]);
    p.write(0x3c0, 0x31); // index 0x31: PAS + register 0x11 (overscan)
    expect(p.read(0x3c0)).toBe(0); // flip-flop 1
    p.write(0x3c0, 0x7f);
    expect(p.read(0x3c0)).toBe(0x31);
    expect(p.read(0x3c1)).toBe(0x7f);
    for (const [reg, value, kept] of [[0x05, 0xff, 0x3f], [0x10, 0xff, 0xef], [0x12, 0xff, 0x3f], [0x13, 0xff, 0x0f], [0x14, 0xff, 0x0f]] as const) {
      p.read(0x3da);
      p.write(0x3c0, reg);
      p.write(0x3c0, value);
      expect(p.read(0x3c1), `register 0x${reg.toString(16)}`).toBe(kept);
    }
    p.read(0x3da);
    p.write(0x3c0, 0x15); // past the 21 registers: data writes are dropped and reads are 0
    p.write(0x3c0, 0xff);
    expect(p.read(0x3c1)).toBe(0);
    p.write(0x3da, 0xff);
    expect(p.read(0x3ca)).toBe(0x10); // feature control: bit 4 only
  });

  it('unmodelled ports (sequencer, DAC, graphics controller, CRTC) read 0 and ignore writes; nothing blanks through them (documented divergence)', () => {
    const p = new VgaPorts();
    hwBlank(p, false);
    for (const port of [0x3c4, 0x3c5, 0x3c6, 0x3c7, 0x3c8, 0x3c9, 0x3ce, 0x3cf, 0x3d4, 0x3d5]) {
      p.write(port, 0xff);
      expect(p.read(port), `port 0x${port.toString(16)}`).toBe(0);
    }
    expect(p.blanked).toBe(false);
  });

  it('snapshot and restore carry every register; a snapshot no guest could produce is EINVAL and changes nothing', () => {
    const p = new VgaPorts();
    hwBlank(p, false);
    p.write(0x3c0, 0x3f);
    const snap = p.snapshot();
    const q = new VgaPorts();
    q.restore(snap);
    expect(q.snapshot()).toEqual(snap);
    expect(q.blanked).toBe(false);
    const bad: VgaPortsSnapshot[] = [
      { ...snap, version: 2 as 1 },
      { ...snap, arIndex: 0x40 },
      { ...snap, arFlipFlop: 2 as 1 },
      { ...snap, msr: 0x10 },
      { ...snap, ar: snap.ar.slice(1) },
      { ...snap, ar: snap.ar.map((v, i) => (i === 0 ? 0x40 : v)) },
    ];
    for (const s of bad) {
      expect(() => q.restore(s)).toThrow(errno('EINVAL'));
      expect(q.snapshot()).toEqual(snap);
    }
  });
});

describe('the VGA window in BAR2 (QEMU 7.2 hw/display/vga-pci.c pci_vga_ioport_ops)', () => {
  it('strict: BAR2 0x400 + (port − 0x3C0) reaches the ports; a 16-bit write is the low port then the high one, so one write at 0x400 sets the index and then writes 0x3C1 (ignored); a 4-byte read is four byte reads from 0x3C0 up', () => {
    const dev = make('small', { vbe: 'strict' });
    wr(dev, BAR2, 0x402, 1, 0x01);
    expect(rd(dev, BAR2, 0x40c, 1)).toBe(0x01);
    expect(rd(dev, BAR2, 0x41a, 1)).toBe(0x09);
    wr(dev, BAR2, 0x400, 2, 0x3320); // index 0x20 (PAS), then 0x33 to 0x3C1: QEMU has no write there
    expect(rd(dev, BAR2, 0x400, 4)).toBe(0x0000_0000); // flip-flop 1: index port reads 0; ar[0] 0; st00 0; 0x3C3 0
    wr(dev, BAR2, 0x400, 1, 0x2a); // data for register 0
    expect(rd(dev, BAR2, 0x400, 4)).toBe(0x0000_2a20);
    vgaBlank(dev, true);
    expect(rd(dev, BAR2, 0x400, 1)).toBe(0); // flip-flop 1 after the index write
    rd(dev, BAR2, 0x41a, 1);
    expect(rd(dev, BAR2, 0x400, 1)).toBe(0x00);
  });

  it('sample: the window reads 0 and every access is ignored, as mbochs.c handle_mmio_read()/handle_mmio_write() leave 0x400–0x41F unhandled', () => {
    const dev = make('small');
    vgaBlank(dev, false);
    wr(dev, BAR2, 0x402, 1, 0x01);
    for (const off of [0x400, 0x401, 0x40c, 0x41a]) expect(rd(dev, BAR2, off, 1)).toBe(0);
  });
});

describe('the plane query while blanked', () => {
  function shown(dev: MbochsDevice) {
    const p = dev.queryGfxPlane(PRIMARY);
    return p !== 'probe-ok' && p.drmFormat !== 0 && p.size !== 0;
  }

  it("strict: no plane (drm_format = size = 0, the empty plane) while blanked, as QEMU 7.2 draws nothing then (vga.c vga_update_display() → vga_draw_blank()); bochs-drm's pipe disable blanks, its next mode set unblanks and the mode gets its dmabuf id back", () => {
    const dev = make('medium', { vbe: 'strict' });
    const drm = bootBochsDrm(dev);
    drm.probe();
    program(dev, { w: 640, h: 480 }); // dispi alone: still blank after reset
    expect(dev.queryGfxPlane(PRIMARY)).toEqual(EMPTY_PLANE);
    expect(dev.peekGfxPlane()).toBeNull();
    drm.setMode({ hdisplay: 800, vdisplay: 600 });
    const plane = primary(dev);
    expect(plane).toMatchObject({ drmFormat: XRGB8888, width: 800, height: 600, size: 800 * 600 * 4 });
    drm.disable();
    expect(dev.queryGfxPlane(PRIMARY)).toEqual(EMPTY_PLANE);
    expect(dev.activeDmabufId).toBe(0);
    expect(dev.displayMode()).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/blanked/) });
    drm.setMode({ hdisplay: 800, vdisplay: 600 });
    expect(primary(dev).regionIndexOrDmabufId).toBe(plane.regionIndexOrDmabufId);
  });

  it('strict: VFIO reset blanks again (QEMU 7.2 vga_common_reset()); a pre-6.1 bochs-drm (no colour write) still blanks from the reset state', () => {
    const dev = make('small', { vbe: 'strict' });
    program(dev, { w: 640, h: 480 });
    vgaBlank(dev, false);
    expect(shown(dev)).toBe(true);
    dev.reset();
    program(dev, { w: 640, h: 480 });
    expect(shown(dev)).toBe(false);
    const drm = bootBochsDrm(dev);
    drm.blank(false, { color: false }); // flip-flop 0 after reset: the write is the index
    expect(shown(dev)).toBe(true);
  });

  it('sample: the kernel sample ignores blanking (mbochs.c handle_mmio_write()), so the plane stays shown through every blank and reset', () => {
    const dev = make('small');
    const drm = bootBochsDrm(dev);
    drm.probe();
    drm.setMode({ hdisplay: 640, vdisplay: 480 });
    expect(shown(dev)).toBe(true);
    drm.disable();
    expect(shown(dev)).toBe(true);
    dev.reset();
    program(dev, { w: 640, h: 480 });
    expect(shown(dev)).toBe(true);
  });

  it(`strict: blanked ⇔ the attribute index, read back at 0x3C0 after a 0x3DA read in colour mode, lacks PAS, after any byte sequence to the window (seed ${FC_SEED})`, () => {
    const dev = make('small', { vbe: 'strict' });
    fc.assert(
      fc.property(fc.array(fc.record({ off: fc.integer({ min: 0x400, max: 0x41f }), value: fc.integer({ min: 0, max: 0xff }), read: fc.boolean() }), { maxLength: 40 }), (ops) => {
        dev.reset();
        program(dev, { w: 640, h: 480 });
        for (const o of ops) {
          if (o.read) rd(dev, BAR2, o.off, 1);
          else wr(dev, BAR2, o.off, 1, o.value);
        }
        wr(dev, BAR2, 0x402, 1, 0x01);
        rd(dev, BAR2, 0x41a, 1);
        const index = rd(dev, BAR2, 0x400, 1);
        expect(shown(dev)).toBe((index & VGA_AR_PAS) !== 0);
      }),
      fcParams(200),
    );
  });

  it('strict: a snapshot keeps the blank state; a version 1 MMIO snapshot (before the VGA ports) restores shown, as bochs-drm leaves the ports', () => {
    const dev = make('small', { vbe: 'strict' });
    program(dev, { w: 640, h: 480 });
    const blankSnap = dev.snapshot();
    vgaBlank(dev, false);
    const shownSnap = dev.snapshot();
    dev.restore(blankSnap);
    expect(shown(dev)).toBe(false);
    dev.restore(shownSnap);
    expect(shown(dev)).toBe(true);
    dev.restore({ ...blankSnap, mmio: { kind: 'mbochs-mmio', version: 1, byteOrder: 'le' } });
    expect(shown(dev)).toBe(true);
    expect(() => dev.restore({ ...blankSnap, mmio: { ...blankSnap.mmio, vga: null } })).toThrow(/no VGA port state/);
    const sample = make('small');
    expect(sample.snapshot().mmio.vga).toBeNull();
    expect(() => sample.restore({ ...sample.snapshot(), mmio: shownSnap.mmio })).toThrow(/VGA port state in a sample-mode snapshot/);
  });
});
