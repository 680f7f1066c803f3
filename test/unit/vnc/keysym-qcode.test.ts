import { describe, expect, it } from 'vitest';
import { keysymTable, keysymToQcode } from '../../../src/vnc/keysym-qcode.ts';

/**
 * QKeyCode as QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18) lists it in
 * query-qmp-schema; qapi/ui.json in later QEMUs only appends f13–f24 (8.0).
 * The integration test qmp-qemu.test.ts also sends every name to a real
 * QEMU 7.2 and requires it to accept them.
 */
const QEMU_7_2_QKEYCODES = new Set([
  'unmapped', 'shift', 'shift_r', 'alt', 'alt_r', 'ctrl', 'ctrl_r', 'menu', 'esc', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
  'minus', 'equal', 'backspace', 'tab', 'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', 'bracket_left', 'bracket_right', 'ret',
  'a', 's', 'd', 'f', 'g', 'h', 'j', 'k', 'l', 'semicolon', 'apostrophe', 'grave_accent', 'backslash', 'z', 'x', 'c', 'v', 'b',
  'n', 'm', 'comma', 'dot', 'slash', 'asterisk', 'spc', 'caps_lock', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10',
  'num_lock', 'scroll_lock', 'kp_divide', 'kp_multiply', 'kp_subtract', 'kp_add', 'kp_enter', 'kp_decimal', 'sysrq', 'kp_0',
  'kp_1', 'kp_2', 'kp_3', 'kp_4', 'kp_5', 'kp_6', 'kp_7', 'kp_8', 'kp_9', 'less', 'f11', 'f12', 'print', 'home', 'pgup', 'pgdn',
  'end', 'left', 'up', 'down', 'right', 'insert', 'delete', 'stop', 'again', 'props', 'undo', 'front', 'copy', 'open', 'paste',
  'find', 'cut', 'lf', 'help', 'meta_l', 'meta_r', 'compose', 'pause', 'ro', 'hiragana', 'henkan', 'yen', 'muhenkan',
  'katakanahiragana', 'kp_comma', 'kp_equals', 'power', 'sleep', 'wake', 'audionext', 'audioprev', 'audiostop', 'audioplay',
  'audiomute', 'volumeup', 'volumedown', 'mediaselect', 'mail', 'calculator', 'computer', 'ac_home', 'ac_back', 'ac_forward',
  'ac_refresh', 'ac_bookmarks', 'lang1', 'lang2',
]);

describe('keysymToQcode (US layout, X11 keysymdef.h → QEMU QKeyCode)', () => {
  it('maps both cases of a letter to the same key', () => {
    for (let i = 0; i < 26; i++) {
      const name = String.fromCharCode(0x61 + i);
      expect(keysymToQcode(0x61 + i)).toBe(name);
      expect(keysymToQcode(0x41 + i)).toBe(name);
    }
  });

  it('maps digits and the US shifted symbols on them to the digit key', () => {
    const shifted = ')!@#$%^&*(';
    for (let d = 0; d <= 9; d++) {
      expect(keysymToQcode(0x30 + d)).toBe(String(d));
      expect(keysymToQcode(shifted.charCodeAt(d))).toBe(String(d));
    }
  });

  it('maps each punctuation pair of a US keyboard to its one key', () => {
    const pairs: [string, string, string][] = [
      ['-', '_', 'minus'], ['=', '+', 'equal'], ['[', '{', 'bracket_left'], [']', '}', 'bracket_right'],
      [';', ':', 'semicolon'], ["'", '"', 'apostrophe'], ['`', '~', 'grave_accent'], ['\\', '|', 'backslash'],
      [',', '<', 'comma'], ['.', '>', 'dot'], ['/', '?', 'slash'],
    ];
    for (const [plain, shifted, qcode] of pairs) {
      expect(keysymToQcode(plain.charCodeAt(0))).toBe(qcode);
      expect(keysymToQcode(shifted.charCodeAt(0))).toBe(qcode);
    }
    expect(keysymToQcode(0x20)).toBe('spc');
  });

  it('maps function, editing, cursor, lock and modifier keysyms (keysymdef.h values)', () => {
    const cases: [number, string][] = [
      [0xff0d, 'ret'], [0xff08, 'backspace'], [0xff09, 'tab'], [0xff1b, 'esc'], [0xffff, 'delete'], [0xff63, 'insert'],
      [0xff50, 'home'], [0xff57, 'end'], [0xff55, 'pgup'], [0xff56, 'pgdn'],
      [0xff51, 'left'], [0xff52, 'up'], [0xff53, 'right'], [0xff54, 'down'],
      [0xffbe, 'f1'], [0xffc7, 'f10'], [0xffc8, 'f11'], [0xffc9, 'f12'],
      [0xffe1, 'shift'], [0xffe2, 'shift_r'], [0xffe3, 'ctrl'], [0xffe4, 'ctrl_r'], [0xffe9, 'alt'], [0xffea, 'alt_r'],
      [0xffeb, 'meta_l'], [0xffec, 'meta_r'], [0xffe5, 'caps_lock'], [0xff7f, 'num_lock'], [0xff14, 'scroll_lock'],
      [0xff61, 'print'], [0xff13, 'pause'],
      [0xffb0, 'kp_0'], [0xffb9, 'kp_9'], [0xff8d, 'kp_enter'], [0xffab, 'kp_add'], [0xffad, 'kp_subtract'],
      [0xffaa, 'kp_multiply'], [0xffaf, 'kp_divide'], [0xffae, 'kp_decimal'], [0xffbd, 'kp_equals'],
    ];
    for (const [keysym, qcode] of cases) expect(keysymToQcode(keysym), `keysym 0x${keysym.toString(16)}`).toBe(qcode);
  });

  it('agrees with QEMU 7.2 pc-bios/keymaps/en-us where QEMU names a key (qnum in the comment)', () => {
    // en-us lines: "ISO_Level3_Shift 0xb8" (alt_r), "Meta_L 0x38 shift" (alt), "Menu 0xdd" (compose),
    // "Sys_Req 0x54" (sysrq, which QEMU turns into print), "ISO_Left_Tab 0x0f shift" (tab),
    // "KP_Home 0x47" (kp_7), "KP_Separator 0x53 numlock" (kp_decimal), "Super_L 0xdb" (meta_l).
    const cases: [number, string][] = [
      [0xfe03, 'alt_r'], [0xff7e, 'alt_r'], [0xffe7, 'alt'], [0xffe8, 'alt_r'], [0xff67, 'compose'], [0xff15, 'print'],
      [0xfe20, 'tab'], [0xff95, 'kp_7'], [0xff9c, 'kp_1'], [0xff9f, 'kp_decimal'], [0xffac, 'kp_decimal'], [0xffeb, 'meta_l'],
    ];
    for (const [keysym, qcode] of cases) expect(keysymToQcode(keysym), `keysym 0x${keysym.toString(16)}`).toBe(qcode);
  });

  it('returns null for keysyms no US key makes', () => {
    for (const keysym of [0x00e9 /* eacute */, 0xfe51 /* dead_acute */, 0x1008ff13 /* XF86AudioRaiseVolume */, 0, -1, 0xffca /* F13 */]) {
      expect(keysymToQcode(keysym)).toBeNull();
    }
  });

  it('names only keys QEMU 7.2 has (altgr is not one)', () => {
    const table = keysymTable();
    expect(table.length).toBeGreaterThan(150);
    for (const [keysym, qcode] of table) expect(QEMU_7_2_QKEYCODES.has(qcode), `keysym 0x${keysym.toString(16)} → ${qcode}`).toBe(true);
    expect(QEMU_7_2_QKEYCODES.has('altgr')).toBe(false);
  });
});
