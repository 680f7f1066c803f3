/**
 * The VNC harness's wire reader (test/support/vnc/rfb-wire.ts) on sessions
 * built byte by byte from RFC 6143 and the community spec: every message
 * and rectangle kind it claims to follow, in any chunking. Against real
 * servers and viewers it runs in test/integration/vnc/clients-harness.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENCODINGS, RfbWireReader, encodingName } from '../../support/vnc/rfb-wire.ts';

type Step = readonly ['client' | 'server', Uint8Array];

const bytes = (...parts: (number[] | Uint8Array | string)[]): Uint8Array => {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'string') out.push(...new TextEncoder().encode(p));
    else out.push(...p);
  }
  return Uint8Array.from(out);
};
const u16 = (v: number): number[] => [(v >> 8) & 255, v & 255];
const u32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const zeros = (n: number): number[] => new Array<number>(n).fill(0);
/** 32 bpp, depth 24, little-endian, true colour, 8-bit channels: what TigerVNC asks for. */
const PF = [32, 24, 0, 1, ...u16(255), ...u16(255), ...u16(255), 16, 8, 0, 0, 0, 0];
const rect = (x: number, y: number, w: number, h: number, enc: number): number[] => [...u16(x), ...u16(y), ...u16(w), ...u16(h), ...u32(enc >>> 0)];

/** A 3.8 session with security None, then one of every message and rectangle the reader follows. */
function fullSession(): Step[] {
  return [
    ['server', bytes('RFB 003.008\n')],
    ['client', bytes('RFB 003.008\n')],
    ['server', bytes([2, 1, 2])], // two types: None, VncAuth
    ['client', bytes([1])],
    ['server', bytes(u32(0))], // SecurityResult OK
    ['client', bytes([1])], // ClientInit, shared
    ['server', bytes(u16(64), u16(32), PF, u32(4), 'test')],
    ['client', bytes([0, 0, 0, 0], PF)], // SetPixelFormat
    ['client', bytes([2, 0], u16(4), u32(16), u32(7), u32(-223 >>> 0), u32(-224 >>> 0))], // SetEncodings
    ['client', bytes([3, 0], u16(0), u16(0), u16(64), u16(32))], // FramebufferUpdateRequest
    ['client', bytes([4, 1, 0, 0], u32(0x61))], // KeyEvent
    ['client', bytes([5, 1], u16(3), u16(4))], // PointerEvent
    ['client', bytes([6, 0, 0, 0], u32(2), 'hi')], // ClientCutText
    ['client', bytes([255, 0], u16(1), u32(0x61), u32(0x1e))], // QEMU extended key event
    ['client', bytes([248, 0, 0, 0], u32(1), [3, 9, 9, 9])], // Fence with 3 bytes
    ['client', bytes([150, 1], u16(0), u16(0), u16(64), u16(32))], // EnableContinuousUpdates
    ['client', bytes([251, 0], u16(64), u16(32), [1, 0], zeros(16))], // SetDesktopSize, one screen
    ['server', bytes(
      [0, 0], u16(0xffff), // FramebufferUpdate ended by LastRect
      rect(0, 0, 2, 2, ENCODINGS.Raw), zeros(2 * 2 * 4),
      rect(2, 0, 2, 2, ENCODINGS.CopyRect), u16(0), u16(0),
      rect(0, 2, 8, 8, ENCODINGS.RRE), u32(2), zeros(4), zeros(2 * (4 + 8)),
      rect(8, 2, 8, 8, ENCODINGS.CoRRE), u32(1), zeros(4), zeros(4 + 4),
      // Hextile 20x18: tiles 16x16, 4x16, 16x2, 4x2.
      rect(0, 10, 20, 18, ENCODINGS.Hextile),
      [1], zeros(16 * 16 * 4), // raw tile
      [2 | 4 | 8 | 16], zeros(4), zeros(4), [2], zeros(2 * (4 + 2)), // bg, fg, 2 coloured subrects
      [2 | 8], zeros(4), [1], zeros(2), // bg, 1 plain subrect
      [0], // same background, nothing else
      rect(20, 10, 4, 4, ENCODINGS.Zlib), u32(5), zeros(5),
      rect(24, 10, 4, 4, ENCODINGS.ZRLE), u32(7), zeros(7),
      rect(28, 10, 4, 4, ENCODINGS.Tight), [0x80], zeros(3), // fill, TPIXEL of 3 bytes
      rect(32, 10, 4, 4, ENCODINGS.Tight), [0x90], [0x80 | 72, 1], zeros(200), // JPEG, 2-byte compact length 200
      rect(36, 10, 10, 2, ENCODINGS.Tight), [0x40, 1, 1], zeros(2 * 3), zeros(2 * 2), // palette of 2: 2 rows of 2 bytes, under 12: raw
      rect(46, 10, 4, 4, ENCODINGS.Tight), [0x00], [30], zeros(30), // copy filter, 48 bytes: compact length 30 + zlib
      rect(50, 10, 4, 4, ENCODINGS.Tight), [0x40, 2], [20], zeros(20), // gradient
      rect(0, 0, 2, 2, ENCODINGS.Cursor), zeros(2 * 2 * 4), zeros(1 * 2),
      rect(0, 0, 2, 2, ENCODINGS.XCursor), zeros(6), zeros(2 * 1 * 2),
      rect(0, 0, 1, 1, ENCODINGS.CursorWithAlpha), u32(0), zeros(4),
      rect(0, 0, 0, 0, ENCODINGS.LEDState), [7],
      rect(0, 0, 0, 0, ENCODINGS.DesktopName), u32(3), 'new',
      rect(0, 0, 80, 40, ENCODINGS.DesktopSize),
      rect(0, 0, 0, 0, ENCODINGS.QEMUExtendedKeyEvent),
      rect(1, 0, 96, 48, ENCODINGS.ExtendedDesktopSize), [1, 0, 0, 0], zeros(16), // reason 1, status 0: applied
      rect(1, 3, 128, 64, ENCODINGS.ExtendedDesktopSize), [1, 0, 0, 0], zeros(16), // status 3: refused, size unchanged
      rect(0, 0, 0, 0, ENCODINGS.LastRect),
    )],
    ['server', bytes([2])], // Bell
    ['server', bytes([1, 0], u16(0), u16(1), zeros(6))], // SetColourMapEntries
    ['server', bytes([3, 0, 0, 0], u32(-4 >>> 0), zeros(4))], // ServerCutText, extended clipboard
    ['server', bytes([248, 0, 0, 0], u32(0), [0])], // Fence
    ['server', bytes([150])], // EndOfContinuousUpdates
    ['server', bytes([0, 0], u16(1), rect(0, 0, 96, 48, ENCODINGS.ZRLE), u32(3), zeros(3))],
  ];
}

function read(steps: readonly Step[]): RfbWireReader {
  const reader = new RfbWireReader();
  for (const [side, chunk] of steps) reader[side](chunk);
  return reader;
}

describe('RfbWireReader', () => {
  it('follows a 3.8 session through every message and rectangle kind it knows', () => {
    const s = read(fullSession()).state;
    expect(s.stopped).toBeUndefined();
    expect(s).toMatchObject({ version: '3.8', securityType: 1, securityResult: 0, desktopName: 'new', width: 96, height: 48, updateRequests: 1, updateCount: 2 });
    expect(s.clientEncodings.map(encodingName)).toEqual(['ZRLE', 'Tight', 'DesktopSize', 'LastRect']);
    expect(s.pixelFormat).toMatchObject({ bitsPerPixel: 32, depth: 24, trueColour: true, redShift: 16 });
    expect(s.updates[0]!.rects.map((r) => encodingName(r.encoding))).toEqual([
      'Raw', 'CopyRect', 'RRE', 'CoRRE', 'Hextile', 'Zlib', 'ZRLE', 'Tight', 'Tight', 'Tight', 'Tight', 'Tight',
      'Cursor', 'XCursor', 'CursorWithAlpha', 'LEDState', 'DesktopName', 'DesktopSize', 'QEMUExtendedKeyEvent',
      'ExtendedDesktopSize', 'ExtendedDesktopSize', 'LastRect',
    ]);
    expect(s.updates[0]).toMatchObject({ width: 96, height: 48 });
    expect(s.updates[1]!.rects).toEqual([{ x: 0, y: 0, width: 96, height: 48, encoding: ENCODINGS.ZRLE }]);
    expect(s.lastEncoding).toBe(ENCODINGS.ZRLE);
    expect(s.rectCounts.get(ENCODINGS.Tight)).toBe(5);
  });

  it('reads the same whatever the chunking: every message cut anywhere into pieces fed in order', () => {
    const whole = read(fullSession()).state;
    fc.assert(fc.property(fc.array(fc.nat(), { minLength: 64, maxLength: 64 }), (cuts) => {
      const split: Step[] = [];
      fullSession().forEach(([side, chunk], i) => {
        // Up to three cuts per message, from the generated numbers.
        const at = [cuts[i % 64]!, cuts[(i + 21) % 64]!, cuts[(i + 42) % 64]!].map((c) => c % (chunk.length + 1)).sort((a, b) => a - b);
        let from = 0;
        for (const to of [...at, chunk.length]) {
          split.push([side, chunk.subarray(from, to)]);
          from = to;
        }
      });
      expect(read(split).state).toEqual(whole);
    }), { numRuns: 200 });
  });

  it('follows a 3.3 session where the server picks VncAuth', () => {
    const s = read([
      ['server', bytes('RFB 003.003\n')],
      ['client', bytes('RFB 003.003\n')],
      ['server', bytes(u32(2), zeros(16))], // VncAuth, challenge
      ['client', bytes(zeros(16))], // response
      ['server', bytes(u32(0))],
      ['client', bytes([0])],
      ['server', bytes(u16(8), u16(8), PF, u32(0))],
      ['server', bytes([0, 0], u16(1), rect(0, 0, 8, 8, ENCODINGS.Raw), zeros(8 * 8 * 4))],
    ]).state;
    expect(s).toMatchObject({ version: '3.3', securityType: 2, securityResult: 0, width: 8, updateCount: 1, lastEncoding: ENCODINGS.Raw });
    expect(s.stopped).toBeUndefined();
  });

  it('stops with a reason at what it cannot follow, and reads nothing after it', () => {
    const changes: string[] = [];
    const reader = new RfbWireReader(() => changes.push(reader.state.stopped ?? 'change'));
    const steps: Step[] = [
      ['server', bytes('RFB 003.008\n')],
      ['client', bytes('RFB 003.008\n')],
      ['server', bytes([1, 1])],
      ['client', bytes([1])],
      ['server', bytes(u32(0))],
      ['client', bytes([1])],
      ['server', bytes(u16(8), u16(8), PF, u32(0))],
      ['server', bytes([0, 0], u16(2), rect(0, 0, 8, 8, 15), zeros(10), rect(0, 0, 8, 8, ENCODINGS.Raw))], // TRLE: not followed
      ['server', bytes([0, 0], u16(1), rect(0, 0, 8, 8, ENCODINGS.Raw), zeros(8 * 8 * 4))],
    ];
    for (const [side, chunk] of steps) reader[side](chunk);
    expect(reader.state.stopped).toBe('server: rectangle encoding 15 at (0,0) is unknown');
    expect(reader.state.updateCount).toBe(0);
    expect(changes.at(-1)).toBe(reader.state.stopped);
  });

  it('refuses a pixel format change after the first update request (updates in flight would use either format)', () => {
    const s = read([
      ['server', bytes('RFB 003.008\n')],
      ['client', bytes('RFB 003.008\n', [1], [1])],
      ['server', bytes([1, 1], u32(0), u16(8), u16(8), PF, u32(0))],
      ['client', bytes([3, 0], u16(0), u16(0), u16(8), u16(8))],
      ['client', bytes([0, 0, 0, 0], PF)],
    ]).state;
    expect(s.stopped).toBe('client: the client changed its pixel format mid-session');
  });
});
