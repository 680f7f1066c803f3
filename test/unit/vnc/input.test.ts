import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  INPUT_EVENT_ABS_MAX,
  INPUT_EVENT_ABS_MIN,
  KeyboardState,
  PointerTranslator,
  ViewerInput,
  extendedKeyEvent,
  keyEvent,
  scaleAxis,
  type QmpInputEvent,
} from '../../../src/vnc/input.ts';

/** What the guest sees held down after `events`: key ids and buttons. */
function heldAfter(events: readonly QmpInputEvent[], held = new Set<string>()): Set<string> {
  for (const e of events) {
    if (e.type === 'abs') continue;
    const id = e.type === 'key' ? `${e.data.key.type}:${e.data.key.data}` : `btn:${e.data.button}`;
    if (e.data.down) held.add(id);
    else held.delete(id);
  }
  return held;
}

describe('keyEvent / extendedKeyEvent', () => {
  it('a KeyEvent becomes a qcode key event', () => {
    expect(keyEvent(true, 0x41)).toEqual({ type: 'key', data: { down: true, key: { type: 'qcode', data: 'a' } } });
    expect(keyEvent(false, 0xff0d)).toEqual({ type: 'key', data: { down: false, key: { type: 'qcode', data: 'ret' } } });
    expect(keyEvent(true, 0x00e9)).toBeNull();
  });

  it('an extended key event sends its XT keycode as a key number (QEMU qnum)', () => {
    // rfbproto.rst examples: 0x1e is A, 0xe0 0x4d (Right) is 0xcd.
    expect(extendedKeyEvent(true, 0x61, 0x1e)).toEqual({ type: 'key', data: { down: true, key: { type: 'number', data: 0x1e } } });
    expect(extendedKeyEvent(false, 0xff53, 0xcd)).toEqual({ type: 'key', data: { down: false, key: { type: 'number', data: 0xcd } } });
  });

  it('keycode 0, or one beyond a byte, falls back to the keysym', () => {
    expect(extendedKeyEvent(true, 0x61, 0)).toEqual(keyEvent(true, 0x61));
    expect(extendedKeyEvent(true, 0xff53, 0x1cd)).toEqual(keyEvent(true, 0xff53));
    expect(extendedKeyEvent(true, 0, 0)).toBeNull();
  });
});

describe('scaleAxis (QEMU qemu_input_scale_axis)', () => {
  it('is QEMU\'s formula: (v - minIn) * rangeOut / rangeIn + minOut, truncated; an empty input range gives the middle', () => {
    expect(scaleAxis(0, 0, 639)).toBe(0);
    expect(scaleAxis(639, 0, 639)).toBe(0x7fff);
    expect(scaleAxis(320, 0, 639)).toBe(Math.trunc((320 * 0x7fff) / 639));
    expect(scaleAxis(5, 0, 0)).toBe(0x3fff);
  });

  it('is monotone in x and hits INPUT_EVENT_ABS_MIN and INPUT_EVENT_ABS_MAX at the edges, for every width ≥ 2', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 0xffff }), fc.integer({ min: 0, max: 0xfffe }), (width, a) => {
      const x = a % (width - 1);
      expect(scaleAxis(0, 0, width - 1)).toBe(INPUT_EVENT_ABS_MIN);
      expect(scaleAxis(width - 1, 0, width - 1)).toBe(INPUT_EVENT_ABS_MAX);
      const v = scaleAxis(x, 0, width - 1);
      const next = scaleAxis(x + 1, 0, width - 1);
      expect(next).toBeGreaterThanOrEqual(v);
      expect(v).toBeGreaterThanOrEqual(INPUT_EVENT_ABS_MIN);
      expect(next).toBeLessThanOrEqual(INPUT_EVENT_ABS_MAX);
    }), { seed: 7, numRuns: 500 });
  });

  it('maps every pixel of a width ≤ 0x8000 to its own value (no two pixels collapse)', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 0x8000 }), fc.integer({ min: 0, max: 0x7ffe }), (width, a) => {
      const x = a % (width - 1);
      expect(scaleAxis(x + 1, 0, width - 1)).toBeGreaterThan(scaleAxis(x, 0, width - 1));
    }), { seed: 8, numRuns: 500 });
  });
});

describe('PointerTranslator', () => {
  it('sends both axes first, then only the axis that changed, then nothing for the same position', () => {
    const p = new PointerTranslator();
    expect(p.event(0, 479, 0, 640, 480)).toEqual([
      { type: 'abs', data: { axis: 'x', value: 0 } },
      { type: 'abs', data: { axis: 'y', value: 0x7fff } },
    ]);
    expect(p.event(639, 479, 0, 640, 480)).toEqual([{ type: 'abs', data: { axis: 'x', value: 0x7fff } }]);
    expect(p.event(639, 479, 0, 640, 480)).toEqual([]);
  });

  it('clamps positions outside the framebuffer to its edges', () => {
    const p = new PointerTranslator();
    expect(p.event(5000, 5000, 0, 640, 480)).toEqual([
      { type: 'abs', data: { axis: 'x', value: 0x7fff } },
      { type: 'abs', data: { axis: 'y', value: 0x7fff } },
    ]);
  });

  it('moves nothing while the framebuffer is empty, but still reports buttons', () => {
    const p = new PointerTranslator();
    expect(p.event(10, 10, 1, 0, 0)).toEqual([{ type: 'btn', data: { down: true, button: 'left' } }]);
  });

  it('turns button-mask bits into QEMU buttons (rfbproto PointerEvent; ui/vnc.c bmap for bits 0–4)', () => {
    const names = ['left', 'middle', 'right', 'wheel-up', 'wheel-down', 'wheel-left', 'wheel-right', 'side', 'extra'];
    names.forEach((button, bit) => {
      const p = new PointerTranslator();
      p.event(0, 0, 0, 2, 2);
      expect(p.event(0, 0, 1 << bit, 2, 2)).toEqual([{ type: 'btn', data: { down: true, button } }]);
      expect(p.event(0, 0, 0, 2, 2)).toEqual([{ type: 'btn', data: { down: false, button } }]);
    });
  });

  it('a click at a new position is the move, then the press', () => {
    const p = new PointerTranslator();
    p.event(0, 0, 0, 100, 100);
    expect(p.event(99, 0, 1, 100, 100)).toEqual([
      { type: 'abs', data: { axis: 'x', value: 0x7fff } },
      { type: 'btn', data: { down: true, button: 'left' } },
    ]);
  });

  it('after any sequence of pointer events, the emitted buttons match the last mask, and after releaseAll nothing is held down', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: -10, max: 700 }), fc.integer({ min: -10, max: 500 }), fc.integer({ min: 0, max: 0x7fff })), { minLength: 1, maxLength: 40 }),
      (moves) => {
        const p = new PointerTranslator();
        const held = new Set<string>();
        for (const [x, y, mask] of moves) {
          const out = p.event(x, y, mask, 640, 480);
          heldAfter(out, held);
          for (const e of out) {
            if (e.type === 'abs') expect(e.data.value >= INPUT_EVENT_ABS_MIN && e.data.value <= INPUT_EVENT_ABS_MAX).toBe(true);
          }
        }
        expect(held.size).toBe(countBits(moves.at(-1)![2] & 0x1ff));
        heldAfter(p.releaseAll(), held);
        expect(held.size).toBe(0);
        expect(p.buttons).toBe(0);
      },
    ), { seed: 11, numRuns: 300 });
  });
});

function countBits(n: number): number {
  let c = 0;
  for (let v = n; v !== 0; v &= v - 1) c++;
  return c;
}

describe('KeyboardState', () => {
  it('remembers what went down, in order, and releases exactly that', () => {
    const k = new KeyboardState();
    k.keysym(true, 0xffe1); // Shift_L
    k.keysym(true, 0x41); // A
    k.extended(true, 0xff53, 0xcd); // Right
    k.keysym(true, 0x41); // auto-repeat: still one key
    expect(k.held).toBe(3);
    k.keysym(false, 0x61); // a: the same key as A
    expect(k.releaseAll()).toEqual([
      { type: 'key', data: { down: false, key: { type: 'qcode', data: 'shift' } } },
      { type: 'key', data: { down: false, key: { type: 'number', data: 0xcd } } },
    ]);
    expect(k.held).toBe(0);
    expect(k.releaseAll()).toEqual([]);
  });

  it('passes an unknown keysym as null and records nothing', () => {
    const k = new KeyboardState();
    expect(k.keysym(true, 0x00e9)).toBeNull();
    expect(k.held).toBe(0);
  });

  it('after any sequence of key events, releaseAll leaves nothing held down in the guest', () => {
    const keyArb = fc.oneof(
      fc.record({ ext: fc.constant(false), keysym: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xff00, max: 0xffff })), keycode: fc.constant(0) }),
      fc.record({ ext: fc.constant(true), keysym: fc.integer({ min: 0, max: 0xffff }), keycode: fc.integer({ min: 0, max: 0x1ff }) }),
    );
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), keyArb), { maxLength: 60 }), (keys) => {
      const k = new KeyboardState();
      const held = new Set<string>();
      for (const [down, { ext, keysym, keycode }] of keys) {
        const e = ext ? k.extended(down, keysym, keycode) : k.keysym(down, keysym);
        if (e !== null) heldAfter([e], held);
      }
      expect(k.held).toBe(held.size);
      heldAfter(k.releaseAll(), held);
      expect(held.size).toBe(0);
      expect(k.held).toBe(0);
    }), { seed: 13, numRuns: 300 });
  });
});

describe('ViewerInput', () => {
  it('releaseAll lets go of keys and buttons of one viewer', () => {
    const v = new ViewerInput();
    v.keyboard.keysym(true, 0xffe3);
    v.pointer.event(1, 1, 0b101, 10, 10);
    expect(v.releaseAll()).toEqual([
      { type: 'key', data: { down: false, key: { type: 'qcode', data: 'ctrl' } } },
      { type: 'btn', data: { down: false, button: 'left' } },
      { type: 'btn', data: { down: false, button: 'right' } },
    ]);
    expect(v.releaseAll()).toEqual([]);
  });
});
