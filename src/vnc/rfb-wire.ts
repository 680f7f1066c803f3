/**
 * The RFB protocol's numbers and fixed layouts (RFC 6143, "The Remote
 * Framebuffer Protocol", and the community extensions in rfbproto's
 * rfbproto.rst for the pseudo-encodings and QEMU's message 255). Everything
 * on the wire is big-endian.
 */

/** What the server announces; clients answer with the version they speak (§7.1.1). */
export const SERVER_VERSION = 'RFB 003.008\n';
export const VERSION_LENGTH = 12;

/** The protocol versions we speak; any other 3.x minor is treated as 3.3, as §7.1.1 asks. */
export type RfbVersion = 3 | 7 | 8;

/** Security types (§7.1.2, §7.2). */
export const SECURITY_NONE = 1;
export const SECURITY_VNC_AUTH = 2;
/** SecurityResult values (§7.1.3). */
export const SECURITY_RESULT_OK = 0;
export const SECURITY_RESULT_FAILED = 1;
export const VNC_AUTH_CHALLENGE_LENGTH = 16;

/** Client-to-server message types (§7.5, plus the extensions we accept). */
export const C2S = Object.freeze({
  SetPixelFormat: 0,
  SetEncodings: 2,
  FramebufferUpdateRequest: 3,
  KeyEvent: 4,
  PointerEvent: 5,
  ClientCutText: 6,
  /** ExtendedDesktopSize's request (rfbproto "SetDesktopSize"). */
  SetDesktopSize: 251,
  /** QEMU's client message; sub-type 0 is the Extended Key Event (rfbproto "QEMU Client Message"). */
  Qemu: 255,
});

/** QEMU client message sub-types. */
export const QEMU_EXTENDED_KEY_EVENT = 0;

/** Server-to-client message types (§7.6). */
export const S2C = Object.freeze({
  FramebufferUpdate: 0,
  SetColourMapEntries: 1,
  Bell: 2,
  ServerCutText: 3,
});

/** Encodings (§7.7) and pseudo-encodings (§7.8 and rfbproto), as the s32 the client lists. */
export const ENCODING = Object.freeze({
  Raw: 0,
  CopyRect: 1,
  ZRLE: 16,
  DesktopSize: -223,
  LastRect: -224,
  QemuExtendedKeyEvent: -258,
  DesktopName: -307,
  ExtendedDesktopSize: -308,
});

/**
 * Length of each client message we accept, as a fixed header and the
 * variable part that header announces. `variable` returns null when the
 * length field is past what we accept (the caller drops the client). The
 * one table the reader consults, so an unknown type is a protocol error.
 */
export interface ClientMessageShape {
  readonly name: string;
  /** Bytes, type byte included, before the variable part. */
  readonly header: number;
  /** Bytes that follow the header, read from it; absent for fixed-size messages. */
  readonly variable?: (header: DataView) => number | null;
  /** The variable part is skipped as it arrives, never buffered (ClientCutText). */
  readonly skipVariable?: boolean;
}

/** Most encodings a SetEncodings may list (real viewers send 10–30). */
export const MAX_ENCODINGS = 1024;
/** QEMU message 255 sub-type 0: type, sub-type, u16 down, u32 keysym, u32 keycode. */
export const QEMU_EXTENDED_KEY_EVENT_LENGTH = 12;

export const CLIENT_MESSAGES: ReadonlyMap<number, ClientMessageShape> = new Map<number, ClientMessageShape>([
  // type, 3 padding, PIXEL_FORMAT (16)
  [C2S.SetPixelFormat, { name: 'SetPixelFormat', header: 20 }],
  // type, padding, u16 count, then count × s32
  [C2S.SetEncodings, { name: 'SetEncodings', header: 4, variable: (h) => { const n = h.getUint16(2); return n > MAX_ENCODINGS ? null : 4 * n; } }],
  // type, u8 incremental, u16 x, y, width, height
  [C2S.FramebufferUpdateRequest, { name: 'FramebufferUpdateRequest', header: 10 }],
  // type, u8 down, 2 padding, u32 keysym
  [C2S.KeyEvent, { name: 'KeyEvent', header: 8 }],
  // type, u8 button mask, u16 x, u16 y
  [C2S.PointerEvent, { name: 'PointerEvent', header: 6 }],
  // type, 3 padding, s32 length (negative: the extended-clipboard form, |length| bytes), then the text
  [C2S.ClientCutText, { name: 'ClientCutText', header: 8, variable: (h) => Math.abs(h.getInt32(4)), skipVariable: true }],
  // type, padding, u16 width, u16 height, u8 screens, padding, then screens × 16
  [C2S.SetDesktopSize, { name: 'SetDesktopSize', header: 8, variable: (h) => 16 * h.getUint8(6) }],
  // type, sub-type, then per sub-type: only the Extended Key Event is accepted
  [C2S.Qemu, { name: 'QEMU', header: 2, variable: (h) => (h.getUint8(1) === QEMU_EXTENDED_KEY_EVENT ? QEMU_EXTENDED_KEY_EVENT_LENGTH - 2 : null) }],
]);

/** ExtendedDesktopSize: x says why the size changed, y the result of a client's request (rfbproto). */
export const DESKTOP_SIZE_REASON_SERVER = 0;
export const DESKTOP_SIZE_REASON_CLIENT = 1;
export const DESKTOP_SIZE_STATUS_OK = 0;
export const DESKTOP_SIZE_STATUS_PROHIBITED = 1;

/** A rectangle header in a FramebufferUpdate: u16 x, y, width, height, s32 encoding. */
export const RECT_HEADER_LENGTH = 12;
/** FramebufferUpdate header: type, padding, u16 number of rectangles. */
export const UPDATE_HEADER_LENGTH = 4;
/** The rectangle count that says "until a LastRect" (rfbproto LastRect). */
export const UPDATE_COUNT_UNTIL_LAST_RECT = 0xffff;

/** Write a rectangle header at `at`. */
export function writeRectHeader(out: DataView, at: number, x: number, y: number, width: number, height: number, encoding: number): void {
  out.setUint16(at, x);
  out.setUint16(at + 2, y);
  out.setUint16(at + 4, width);
  out.setUint16(at + 6, height);
  out.setInt32(at + 8, encoding);
}
