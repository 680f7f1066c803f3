/**
 * X keysyms (what an RFB KeyEvent carries, RFC 6143 §7.5.4) to QEMU key
 * names (QKeyCode), for a US keyboard: a keysym names the key that makes it
 * on a US layout, whatever modifiers that takes. '!' is the '1' key and 'A'
 * the 'a' key: the viewer sends Shift itself, before the key.
 *
 * Keysym values: X11 keysymdef.h (xorgproto 2022.1). QKeyCode names: QEMU
 * 7.2 qapi/ui.json, as that QEMU's query-qmp-schema lists them; every name
 * here is accepted by QEMU 7.2 and by later versions (8.0 only added
 * f13–f24, 8.1 nothing to QKeyCode). The choices follow QEMU's own VNC
 * server (ui/vnc.c key_event through ui/keymaps.c with
 * pc-bios/keymaps/en-us), except where noted:
 *
 * - ISO_Level3_Shift and Mode_switch (AltGr) → alt_r: QKeyCode has no
 *   'altgr' (QEMU 7.2 rejects it); en-us maps both to 0xb8, the right Alt.
 * - Meta_L / Meta_R → alt / alt_r as in en-us (XKB makes Meta with
 *   Shift+Alt); the Windows / Command key arrives as Super_L / Super_R
 *   (noVNC sends those) → meta_l / meta_r.
 * - Menu → compose: the PC context-menu key is Linux KEY_COMPOSE; QKeyCode
 *   'menu' is KEY_MENU, a different key (en-us maps Menu to 0xdd, compose).
 * - Print and Sys_Req → print (QEMU turns 'sysrq' into 'print' anyway,
 *   ui/input.c qemu_input_event_send).
 * - '<' and '>' → comma and dot, the US keys; en-us also lists the 102nd
 *   key 'less' for them, which a US keyboard does not have.
 * - Keypad keysyms of both NumLock states (KP_7 and KP_Home) → the same
 *   keypad key; unlike QEMU's VNC server nothing toggles the guest's
 *   NumLock to match (the QEMU Extended Key Event avoids the question).
 */

/** [keysym, QKeyCode] for everything that is not a letter; letters are computed. */
const KEYSYM_QCODE = [
  // Digits and the shifted symbols on them.
  [0x0030, '0'], [0x0029, '0'], // 0 )
  [0x0031, '1'], [0x0021, '1'], // 1 !
  [0x0032, '2'], [0x0040, '2'], // 2 @
  [0x0033, '3'], [0x0023, '3'], // 3 #
  [0x0034, '4'], [0x0024, '4'], // 4 $
  [0x0035, '5'], [0x0025, '5'], // 5 %
  [0x0036, '6'], [0x005e, '6'], // 6 ^
  [0x0037, '7'], [0x0026, '7'], // 7 &
  [0x0038, '8'], [0x002a, '8'], // 8 *
  [0x0039, '9'], [0x0028, '9'], // 9 (
  // Punctuation keys, unshifted and shifted.
  [0x002d, 'minus'], [0x005f, 'minus'], // - _
  [0x003d, 'equal'], [0x002b, 'equal'], // = +
  [0x005b, 'bracket_left'], [0x007b, 'bracket_left'], // [ {
  [0x005d, 'bracket_right'], [0x007d, 'bracket_right'], // ] }
  [0x003b, 'semicolon'], [0x003a, 'semicolon'], // ; :
  [0x0027, 'apostrophe'], [0x0022, 'apostrophe'], // ' "
  [0x0060, 'grave_accent'], [0x007e, 'grave_accent'], // ` ~
  [0x005c, 'backslash'], [0x007c, 'backslash'], // \ |
  [0x002c, 'comma'], [0x003c, 'comma'], // , <
  [0x002e, 'dot'], [0x003e, 'dot'], // . >
  [0x002f, 'slash'], [0x003f, 'slash'], // / ?
  [0x0020, 'spc'], // space
  // TTY function keys.
  [0xff08, 'backspace'], // BackSpace
  [0xff09, 'tab'], // Tab
  [0xfe20, 'tab'], // ISO_Left_Tab (Shift+Tab under XKB)
  [0xff0d, 'ret'], // Return
  [0xff13, 'pause'], // Pause
  [0xff14, 'scroll_lock'], // Scroll_Lock
  [0xff15, 'print'], // Sys_Req
  [0xff1b, 'esc'], // Escape
  [0xffff, 'delete'], // Delete
  // Cursor control.
  [0xff50, 'home'], // Home
  [0xff51, 'left'], // Left
  [0xff52, 'up'], // Up
  [0xff53, 'right'], // Right
  [0xff54, 'down'], // Down
  [0xff55, 'pgup'], // Prior, Page_Up
  [0xff56, 'pgdn'], // Next, Page_Down
  [0xff57, 'end'], // End
  // Misc functions.
  [0xff61, 'print'], // Print
  [0xff63, 'insert'], // Insert
  [0xff67, 'compose'], // Menu
  [0xff7f, 'num_lock'], // Num_Lock
  // Keypad, NumLock on and off.
  [0xff8d, 'kp_enter'], // KP_Enter
  [0xffaa, 'kp_multiply'], // KP_Multiply
  [0xffab, 'kp_add'], // KP_Add
  [0xffac, 'kp_decimal'], // KP_Separator (en-us: 0x53)
  [0xffad, 'kp_subtract'], // KP_Subtract
  [0xffae, 'kp_decimal'], // KP_Decimal
  [0xffaf, 'kp_divide'], // KP_Divide
  [0xffbd, 'kp_equals'], // KP_Equal
  [0xffb0, 'kp_0'], [0xff9e, 'kp_0'], // KP_0 KP_Insert
  [0xffb1, 'kp_1'], [0xff9c, 'kp_1'], // KP_1 KP_End
  [0xffb2, 'kp_2'], [0xff99, 'kp_2'], // KP_2 KP_Down
  [0xffb3, 'kp_3'], [0xff9b, 'kp_3'], // KP_3 KP_Next
  [0xffb4, 'kp_4'], [0xff96, 'kp_4'], // KP_4 KP_Left
  [0xffb5, 'kp_5'], [0xff9d, 'kp_5'], // KP_5 KP_Begin
  [0xffb6, 'kp_6'], [0xff98, 'kp_6'], // KP_6 KP_Right
  [0xffb7, 'kp_7'], [0xff95, 'kp_7'], // KP_7 KP_Home
  [0xffb8, 'kp_8'], [0xff97, 'kp_8'], // KP_8 KP_Up
  [0xffb9, 'kp_9'], [0xff9a, 'kp_9'], // KP_9 KP_Prior
  [0xff9f, 'kp_decimal'], // KP_Delete
  // Function keys (QEMU 7.2 has no f13–f24).
  [0xffbe, 'f1'], [0xffbf, 'f2'], [0xffc0, 'f3'], [0xffc1, 'f4'],
  [0xffc2, 'f5'], [0xffc3, 'f6'], [0xffc4, 'f7'], [0xffc5, 'f8'],
  [0xffc6, 'f9'], [0xffc7, 'f10'], [0xffc8, 'f11'], [0xffc9, 'f12'],
  // Modifiers.
  [0xffe1, 'shift'], // Shift_L
  [0xffe2, 'shift_r'], // Shift_R
  [0xffe3, 'ctrl'], // Control_L
  [0xffe4, 'ctrl_r'], // Control_R
  [0xffe5, 'caps_lock'], // Caps_Lock
  [0xffe7, 'alt'], // Meta_L
  [0xffe8, 'alt_r'], // Meta_R
  [0xffe9, 'alt'], // Alt_L
  [0xffea, 'alt_r'], // Alt_R
  [0xffeb, 'meta_l'], // Super_L
  [0xffec, 'meta_r'], // Super_R
  [0xfe03, 'alt_r'], // ISO_Level3_Shift (AltGr)
  [0xff7e, 'alt_r'], // Mode_switch
] as const satisfies readonly (readonly [number, string])[];

/** Letter keys, a–z; keysyms 0x61 + i (lower case) and 0x41 + i (upper case) both name LETTERS[i]. */
const LETTERS = [
  'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm',
  'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',
] as const;

/** A QEMU key name (QKeyCode) this module produces. */
export type QKeyCode = (typeof KEYSYM_QCODE)[number][1] | (typeof LETTERS)[number];

const BY_KEYSYM: ReadonlyMap<number, QKeyCode> = (() => {
  const map = new Map<number, QKeyCode>();
  for (const [keysym, qcode] of KEYSYM_QCODE) {
    if (map.has(keysym)) throw new Error(`assertion failed: keysym 0x${keysym.toString(16)} is in the table twice`);
    map.set(keysym, qcode);
  }
  LETTERS.forEach((name, i) => {
    map.set(0x61 + i, name);
    map.set(0x41 + i, name);
  });
  return map;
})();

/** The QKeyCode of a US-layout keysym; null for a keysym no US key makes (é, dead keys, XF86 media keys). */
export function keysymToQcode(keysym: number): QKeyCode | null {
  return BY_KEYSYM.get(keysym) ?? null;
}

/** Every [keysym, qcode] pair this module knows, letters included (tests, docs). */
export function keysymTable(): readonly (readonly [number, QKeyCode])[] {
  return [...BY_KEYSYM];
}
