/**
 * Session commands and cases (the `session` target): one plain-data record
 * per command, drawn from the families beside this file.
 */
import fc from 'fast-check';
import { CMD, arbArgsz, arbLen, arbMsgHead, type MsgHead, type U64 } from './header.ts';
import { arbDmaMap, arbDmaUnmap } from './dma.ts';
import { MODE_WRITES, REFRESH_MESSAGES, displayCmds, type ModeSpec } from './display.ts';
import { arbAccessIndex, arbCount, arbOffsetSpec, arbRegionIndex, type OffsetSpec } from './region.ts';
import { VERSION_VARIANTS, type VersionVariant } from './version.ts';

/** One session command, as plain data. `len` fields: −1 = the natural payload length, else the exact (garbage) length. */
export type SessionCmd =
  | { readonly c: 'version'; readonly h: MsgHead; readonly variant: VersionVariant }
  | {
    readonly c: 'dmaMap'; readonly h: MsgHead; readonly argsz: number; readonly flags: number;
    readonly offset: U64; readonly addr: U64; readonly size: U64; readonly len: number;
  }
  | {
    readonly c: 'dmaUnmap'; readonly h: MsgHead; readonly mode: 'exact' | 'raw' | 'all';
    /** Which window 'exact' names (index mod the window count; raw values when there is none). */
    readonly pick: number; readonly flags: number; readonly addr: U64; readonly size: U64; readonly len: number;
  }
  | { readonly c: 'getInfo'; readonly h: MsgHead; readonly argsz: number; readonly len: number }
  | { readonly c: 'regionInfo'; readonly h: MsgHead; readonly argsz: number; readonly index: number; readonly len: number }
  | { readonly c: 'irqInfo'; readonly h: MsgHead; readonly argsz: number; readonly index: number; readonly len: number }
  | {
    readonly c: 'setIrqs'; readonly h: MsgHead; readonly flags: number; readonly index: number;
    readonly start: number; readonly count: number; readonly data: Uint8Array; readonly argszDelta: number;
  }
  | { readonly c: 'read'; readonly h: MsgHead; readonly index: number; readonly off: OffsetSpec; readonly count: number; readonly len: number }
  | {
    readonly c: 'write'; readonly h: MsgHead; readonly index: number; readonly off: OffsetSpec; readonly count: number;
    /** Data bytes actually sent (−1 = count). */
    readonly dataLen: number; readonly seed: number;
  }
  | { readonly c: 'reset'; readonly h: MsgHead; readonly len: number }
  | { readonly c: 'unknown'; readonly h: MsgHead; readonly command: number; readonly len: number }
  /** mbochs: program a display mode with 2-byte dispi writes on BAR2 (several REGION_WRITEs). */
  | ({ readonly c: 'mode'; readonly h: MsgHead } & ModeSpec)
  /**
   * mbochs: optionally a guest mode set (as 'mode'), then QEMU's dmabuf refresh (hw/vfio/display.c vfio_display_dmabuf_update()): QUERY_GFX_PLANE PRIMARY twice (the second
   * succeeds where 'upstream' answers the first query of a new mode with ENOMEM), then
   * GET_GFX_DMABUF of the id the last successful query returned (0 when none).
   */
  | { readonly c: 'refresh'; readonly h: MsgHead; readonly mode: ModeSpec | null }
  | { readonly c: 'query'; readonly h: MsgHead; readonly argsz: number; readonly flags: number; readonly planeType: number; readonly len: number }
  | { readonly c: 'getDmabuf'; readonly h: MsgHead; readonly pick: number; readonly raw: number; readonly argsz: number; readonly len: number }
  | { readonly c: 'release'; readonly h: MsgHead; readonly pick: number; readonly raw: number; readonly len: number };

/** Session command arbitraries; `display` adds the mbochs display-extension commands. */
export function arbSessionCmd(display: boolean): fc.Arbitrary<SessionCmd> {
  const base: fc.WeightedArbitrary<SessionCmd>[] = [
    { arbitrary: fc.record({ c: fc.constant('version' as const), h: arbMsgHead(), variant: fc.constantFrom(...VERSION_VARIANTS) }), weight: 2 },
    { arbitrary: arbDmaMap, weight: 5 },
    { arbitrary: arbDmaUnmap, weight: 4 },
    { arbitrary: fc.record({ c: fc.constant('getInfo' as const), h: arbMsgHead(), argsz: arbArgsz(16), len: arbLen(16) }), weight: 2 },
    {
      arbitrary: fc.record({ c: fc.constant('regionInfo' as const), h: arbMsgHead(), argsz: arbArgsz(32), index: arbRegionIndex, len: arbLen(32) }),
      weight: 5,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('irqInfo' as const), h: arbMsgHead(), argsz: arbArgsz(16),
        index: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant(0xffff_ffff)), len: arbLen(16),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('setIrqs' as const), h: arbMsgHead(3),
        flags: fc.oneof(fc.constantFrom(0x21, 0x22, 0x24, 0x09, 0x11, 0x24 | 0x08), fc.integer({ min: 0, max: 0xff })),
        index: fc.integer({ min: 0, max: 6 }), start: fc.integer({ min: 0, max: 2 }), count: fc.integer({ min: 0, max: 3 }),
        data: fc.uint8Array({ maxLength: 3 }), argszDelta: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.integer({ min: -4, max: 4 }), weight: 1 }),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({ c: fc.constant('read' as const), h: arbMsgHead(), index: arbAccessIndex, off: arbOffsetSpec, count: arbCount, len: arbLen(16) }),
      weight: 8,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('write' as const), h: arbMsgHead(), index: arbAccessIndex, off: arbOffsetSpec,
        count: arbCount.map((n) => (n > 8193 ? 8193 : n)),
        dataLen: fc.oneof({ arbitrary: fc.constant(-1), weight: 10 }, { arbitrary: fc.integer({ min: 0, max: 12 }), weight: 1 }),
        seed: fc.nat(),
      }),
      weight: 8,
    },
    { arbitrary: fc.record({ c: fc.constant('reset' as const), h: arbMsgHead(), len: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 1 }) }), weight: 1 },
    {
      arbitrary: fc.record({
        c: fc.constant('unknown' as const), h: arbMsgHead(),
        command: fc.constantFrom(0, 6, 11, 12, 14, 15, 16, 17, 18, 19, 100, 0x4d00, 0x4d04, 0xffff, CMD.QUERY_GFX_PLANE, CMD.GET_GFX_DMABUF, CMD.RELEASE_GFX_DMABUF),
        len: fc.integer({ min: 0, max: 40 }),
      }),
      weight: 2,
    },
  ];
  return display ? fc.oneof(...base, ...displayCmds) : fc.oneof(...base);
}

/** A session case: device, profile, memory kind, limits and a command sequence that usually starts with VERSION. */
export interface SessionCase {
  readonly device: 'mdpy' | 'mbochs';
  readonly quirks: 'none' | 'upstream';
  /** 'fd': device memory carries a fake fd number (mmap paths, dmabuf export); 'heap': no fd. */
  readonly memory: 'fd' | 'heap';
  readonly maxDmaMaps: number;
  readonly maxDataXfer: number;
  readonly maxExports: number;
  readonly cmds: readonly SessionCmd[];
}

export const arbSessionCase: fc.Arbitrary<SessionCase> = fc
  .constantFrom<'mdpy' | 'mbochs'>('mdpy', 'mbochs')
  .chain((device) =>
    fc.record({
      quirks: fc.constantFrom<'none' | 'upstream'>('none', 'upstream'),
      memory: fc.constantFrom<'fd' | 'heap'>('fd', 'fd', 'heap'),
      maxDmaMaps: fc.integer({ min: 1, max: 6 }),
      maxDataXfer: fc.constantFrom(4096, 8192, 1 << 20),
      maxExports: fc.integer({ min: 1, max: 4 }),
      first: fc.oneof(
        { arbitrary: fc.constantFrom<VersionVariant>('qemu', 'empty-caps', 'no-json'), weight: device === 'mbochs' ? 2 : 8 },
        { arbitrary: fc.constantFrom<VersionVariant>('display', 'display-qemu'), weight: device === 'mbochs' ? 6 : 1 },
        { arbitrary: fc.constant<VersionVariant | 'none'>('none'), weight: 1 },
      ),
      firstId: fc.integer({ min: 0, max: 0xffff }),
      rest: fc.array(arbSessionCmd(device === 'mbochs'), { maxLength: 40, size: 'medium' }),
    }).map((c): SessionCase => ({
      device,
      quirks: c.quirks,
      memory: c.memory,
      maxDmaMaps: c.maxDmaMaps,
      maxDataXfer: c.maxDataXfer,
      maxExports: c.maxExports,
      cmds: c.first === 'none'
        ? c.rest
        : [{ c: 'version', h: { id: c.firstId, noReply: false, type: 0, fds: 0 }, variant: c.first }, ...c.rest],
    })),
  );

/** Protocol messages a session case sends (a 'mode' command sends several). */
export function countSessionMessages(c: SessionCase): number {
  let n = 0;
  for (const cmd of c.cmds) n += cmd.c === 'mode' ? MODE_WRITES : cmd.c === 'refresh' ? REFRESH_MESSAGES + (cmd.mode === null ? 0 : MODE_WRITES) : 1;
  return n;
}
