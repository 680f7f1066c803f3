/**
 * RFB input as QMP `input-send-event` events: KeyEvent (RFC 6143 §7.5.4),
 * PointerEvent (§7.5.5) and QEMU's Extended Key Event, translated to QEMU's
 * InputEvent (qapi/ui.json, QEMU 7.2 and later), with the per-viewer state
 * that lets a viewer that goes away release whatever it still holds down.
 *
 * Event shapes (qapi/ui.json InputEvent, checked against QEMU 7.2's
 * query-qmp-schema):
 *   {type:'key', data:{down, key:{type:'qcode', data:QKeyCode} | {type:'number', data:int}}}
 *   {type:'btn', data:{down, button:InputButton}}
 *   {type:'abs', data:{axis:'x'|'y', value:int}}
 *
 * Key numbers are QEMU's "qnum": the XT scancode, with a 0xE0-prefixed key
 * given as 0x80|code. That is exactly the keycode of the QEMU Extended Key
 * Event (rfbproto.rst "QEMU Extended Key Event Message": 0xE0 0x4D, Right,
 * is 0xCD), and QEMU's qmp_input_send_event turns a number into a QKeyCode
 * with qemu_input_key_number_to_qcode, a lookup in keycodemapdb's qnum
 * table (ui/input.c, ui/input-keymap.c) — so the keycode goes through as is.
 */
import { keysymToQcode, type QKeyCode } from './keysym-qcode.ts';

export { keysymToQcode, type QKeyCode } from './keysym-qcode.ts';

/** qapi/ui.json KeyValue. */
export type KeyValue =
  | { readonly type: 'qcode'; readonly data: QKeyCode }
  | { readonly type: 'number'; readonly data: number };

/** qapi/ui.json InputButton as of QEMU 7.2 ('touch' came in 8.1 and is not used). */
export type InputButton = 'left' | 'middle' | 'right' | 'wheel-up' | 'wheel-down' | 'side' | 'extra' | 'wheel-left' | 'wheel-right';

export type InputAxis = 'x' | 'y';

/** One element of input-send-event's `events` (qapi/ui.json InputEvent; 'rel' and 'mtt' are not used). */
export type QmpInputEvent =
  | { readonly type: 'key'; readonly data: { readonly down: boolean; readonly key: KeyValue } }
  | { readonly type: 'btn'; readonly data: { readonly down: boolean; readonly button: InputButton } }
  | { readonly type: 'abs'; readonly data: { readonly axis: InputAxis; readonly value: number } };

/** The absolute axis range (QEMU include/ui/input.h INPUT_EVENT_ABS_MIN / INPUT_EVENT_ABS_MAX). */
export const INPUT_EVENT_ABS_MIN = 0x0000;
export const INPUT_EVENT_ABS_MAX = 0x7fff;

/** Largest key number a QEMU Extended Key Event can carry: one byte, 0x80|code for 0xE0 keys. */
const MAX_QNUM = 0xff;

/**
 * QEMU's qemu_input_scale_axis (ui/input.c): `value` in [minIn, maxIn]
 * mapped linearly onto [minOut, maxOut], truncating as its int64 division
 * does; an empty input range maps to the middle of the output.
 */
export function scaleAxis(value: number, minIn: number, maxIn: number, minOut = INPUT_EVENT_ABS_MIN, maxOut = INPUT_EVENT_ABS_MAX): number {
  const rangeIn = maxIn - minIn;
  const rangeOut = maxOut - minOut;
  if (rangeIn < 1) return minOut + Math.trunc(rangeOut / 2);
  return Math.trunc(((value - minIn) * rangeOut) / rangeIn) + minOut;
}

function keyInput(down: boolean, key: KeyValue): QmpInputEvent {
  return { type: 'key', data: { down, key } };
}

/** An RFB KeyEvent as a QMP key event (US layout, see keysym-qcode.ts); null for a keysym no US key makes. */
export function keyEvent(down: boolean, keysym: number): QmpInputEvent | null {
  const qcode = keysymToQcode(keysym);
  return qcode === null ? null : keyInput(down, { type: 'qcode', data: qcode });
}

/**
 * A QEMU Extended Key Event (client message 255, submessage 0: down-flag
 * U16, keysym U32, keycode U32; rfbproto.rst, QEMU ui/vnc.c
 * protocol_client_msg → ext_key_event) as a QMP key event. The keycode goes
 * as a key number; a keycode that is 0 (the viewer does not know it) or
 * beyond one byte (no XT encoding gives one) falls back to the keysym.
 */
export function extendedKeyEvent(down: boolean, keysym: number, keycode: number): QmpInputEvent | null {
  if (Number.isInteger(keycode) && keycode >= 1 && keycode <= MAX_QNUM) return keyInput(down, { type: 'number', data: keycode });
  return keyEvent(down, keysym);
}

/** One key's identity for KeyboardState: 'A' and 'a' are one qcode; a number is its own key. */
function keyId(key: KeyValue): string {
  return key.type === 'qcode' ? key.data : `#${key.data}`;
}

/**
 * The keys one viewer holds down, so that releaseAll() can let go of them
 * when the viewer disconnects. At most one entry per distinct key (QKeyCodes
 * and key numbers 1–255), so it stays small whatever a viewer sends.
 */
export class KeyboardState {
  readonly #held = new Map<string, KeyValue>();

  /** Keys held down now. */
  get held(): number {
    return this.#held.size;
  }

  /** A KeyEvent: the event to send (null: no such key, nothing recorded). */
  keysym(down: boolean, keysym: number): QmpInputEvent | null {
    return this.#record(keyEvent(down, keysym));
  }

  /** A QEMU Extended Key Event: the event to send (null: unknown key, nothing recorded). */
  extended(down: boolean, keysym: number, keycode: number): QmpInputEvent | null {
    return this.#record(extendedKeyEvent(down, keysym, keycode));
  }

  /** Key-up events for every key held down, in the order they went down; nothing is held afterwards. */
  releaseAll(): QmpInputEvent[] {
    const ups = [...this.#held.values()].map((key) => keyInput(false, key));
    this.#held.clear();
    return ups;
  }

  #record(event: QmpInputEvent | null): QmpInputEvent | null {
    if (event === null || event.type !== 'key') return event;
    const { down, key } = event.data;
    // A repeated down (auto-repeat) goes through and keeps its place; an up
    // for a key not held goes through too: it is harmless, and it heals a
    // guest that missed an earlier release.
    if (down) {
      const id = keyId(key);
      if (!this.#held.has(id)) this.#held.set(id, key);
    } else {
      this.#held.delete(keyId(key));
    }
    return event;
  }
}

/**
 * RFB button-mask bits (rfbproto.rst PointerEvent: bits 0–7 are buttons
 * 1–8) as QEMU buttons. QEMU's own VNC server maps bits 0–4 the same way
 * (ui/vnc.c pointer_event bmap). Bits 5/6 are the horizontal wheel (button
 * 6 left, 7 right), bit 7 the back button; with the ExtendedMouseButtons
 * pseudo-encoding, bit 8 (first bit of extended-buttons-mask) is forward.
 * QEMU maps 'side' to BTN_SIDE (back) and 'extra' to BTN_EXTRA (forward).
 */
const BUTTON_BITS = [
  [1 << 0, 'left'],
  [1 << 1, 'middle'],
  [1 << 2, 'right'],
  [1 << 3, 'wheel-up'],
  [1 << 4, 'wheel-down'],
  [1 << 5, 'wheel-left'],
  [1 << 6, 'wheel-right'],
  [1 << 7, 'side'],
  [1 << 8, 'extra'],
] as const satisfies readonly (readonly [number, InputButton])[];

const KNOWN_BUTTONS = BUTTON_BITS.reduce((mask, [bit]) => mask | bit, 0);

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * One viewer's pointer: RFB PointerEvents as absolute moves and button
 * changes. Positions are clamped into the framebuffer and scaled with
 * qemu_input_scale_axis onto [INPUT_EVENT_ABS_MIN, INPUT_EVENT_ABS_MAX]
 * over [0, width-1], so the first and last pixel reach both ends of the
 * range (QEMU's own VNC server scales over [0, width], whose last pixel
 * stops short of 0x7FFF). An axis is sent only when its value changed;
 * buttons only when they changed, after the move.
 */
export class PointerTranslator {
  #buttons = 0;
  #x = -1;
  #y = -1;

  /** The buttons held down now (button-mask bits). */
  get buttons(): number {
    return this.#buttons;
  }

  /**
   * The events for a PointerEvent at (x, y) with `buttonMask` (bits as in
   * BUTTON_BITS; combine an extended PointerEvent's masks as
   * `(buttonMask & 0x7f) | (extendedButtonsMask << 7)`) on a framebuffer of
   * width × height. Nothing moves while the framebuffer is empty.
   */
  event(x: number, y: number, buttonMask: number, width: number, height: number): QmpInputEvent[] {
    const out: QmpInputEvent[] = [];
    if (width >= 1 && height >= 1) {
      const sx = scaleAxis(clamp(Math.trunc(x), 0, width - 1), 0, width - 1);
      const sy = scaleAxis(clamp(Math.trunc(y), 0, height - 1), 0, height - 1);
      if (sx !== this.#x) out.push({ type: 'abs', data: { axis: 'x', value: sx } });
      if (sy !== this.#y) out.push({ type: 'abs', data: { axis: 'y', value: sy } });
      this.#x = sx;
      this.#y = sy;
    }
    const mask = buttonMask & KNOWN_BUTTONS;
    const changed = mask ^ this.#buttons;
    if (changed !== 0) {
      for (const [bit, button] of BUTTON_BITS) {
        if ((changed & bit) !== 0) out.push({ type: 'btn', data: { down: (mask & bit) !== 0, button } });
      }
      this.#buttons = mask;
    }
    return out;
  }

  /** Button-up events for every button held down; none is held afterwards. The position is kept. */
  releaseAll(): QmpInputEvent[] {
    const ups: QmpInputEvent[] = [];
    for (const [bit, button] of BUTTON_BITS) {
      if ((this.#buttons & bit) !== 0) ups.push({ type: 'btn', data: { down: false, button } });
    }
    this.#buttons = 0;
    return ups;
  }
}

/** All input state of one viewer connection: its keyboard and its pointer. */
export class ViewerInput {
  readonly keyboard = new KeyboardState();
  readonly pointer = new PointerTranslator();

  /** Releases for every key and button this viewer holds down (send them when it disconnects). */
  releaseAll(): QmpInputEvent[] {
    return [...this.keyboard.releaseAll(), ...this.pointer.releaseAll()];
  }
}
