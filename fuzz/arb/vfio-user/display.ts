/** The mbochs display family: dispi mode programming, QEMU's dmabuf refresh, and the display-extension commands. */
import fc from 'fast-check';
import { arbMsgHead } from './header.ts';
import type { SessionCmd } from './session.ts';

/** dispi values a 'mode' command programs (bochs-drm order: disable, BPP 32, XRES, YRES, VIRT_WIDTH, X, Y, ENABLE). */
export interface ModeSpec {
  readonly xres: number;
  readonly yres: number;
  readonly virt: number;
  readonly x: number;
  readonly y: number;
  readonly enable: number;
}

/** Mostly valid, page-aligned modes for mbochs-small (4 MiB), some invalid or unaligned. */
export const arbModeSpec: fc.Arbitrary<ModeSpec> = fc.oneof(
  {
    arbitrary: fc.record({
      xres: fc.constantFrom(640, 800, 1024, 64),
      yres: fc.constantFrom(480, 600, 768, 64),
      virt: fc.constant(0),
      x: fc.constantFrom(0, 1024),
      y: fc.constant(0),
      enable: fc.constantFrom(0x41, 0xc1),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      xres: fc.constantFrom(640, 800, 1024, 64, 63, 0),
      yres: fc.constantFrom(480, 600, 768, 64, 63),
      virt: fc.constantFrom(0, 1024, 2048),
      x: fc.constantFrom(0, 8, 1024),
      y: fc.constantFrom(0, 1, 16),
      enable: fc.constantFrom(0x41, 0x01, 0x00, 0xc1),
    }),
    weight: 2,
  },
);

/** The display-extension commands (mbochs sessions only). */
export const displayCmds: readonly fc.WeightedArbitrary<SessionCmd>[] = [
  {
    arbitrary: fc.tuple(arbMsgHead(0), arbModeSpec).map(([h, mode]): SessionCmd => ({ c: 'mode', h: { ...h, fds: 0, type: 0 }, ...mode })),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      c: fc.constant('refresh' as const),
      h: arbMsgHead(0).map((h) => ({ ...h, noReply: false, fds: 0, type: 0 })),
      mode: fc.oneof(arbModeSpec, fc.constant(null)),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      c: fc.constant('query' as const), h: arbMsgHead(),
      argsz: fc.oneof({ arbitrary: fc.constant(64), weight: 6 }, { arbitrary: fc.constantFrom(0, 59, 60, 0xffff_ffff), weight: 1 }),
      flags: fc.oneof({ arbitrary: fc.constant(2), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 2 }),
      planeType: fc.oneof({ arbitrary: fc.constant(1), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 1 }),
      len: fc.oneof({ arbitrary: fc.constant(-1), weight: 10 }, { arbitrary: fc.constantFrom(0, 11, 12, 60), weight: 1 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      c: fc.constant('getDmabuf' as const), h: arbMsgHead(), pick: fc.nat(),
      raw: fc.oneof({ arbitrary: fc.constant(-1), weight: 6 }, { arbitrary: fc.constantFrom(0, 1, 2, 99, 0xffff_ffff), weight: 1 }),
      argsz: fc.oneof({ arbitrary: fc.constant(56), weight: 8 }, { arbitrary: fc.constantFrom(0, 8, 55, 0xffff_ffff), weight: 1 }),
      len: fc.oneof({ arbitrary: fc.constant(-1), weight: 10 }, { arbitrary: fc.constantFrom(0, 4, 7), weight: 1 }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      c: fc.constant('release' as const), h: arbMsgHead(), pick: fc.nat(),
      raw: fc.oneof({ arbitrary: fc.constant(-1), weight: 6 }, { arbitrary: fc.constantFrom(0, 77, 0xffff_ffff), weight: 1 }),
      len: fc.oneof({ arbitrary: fc.constant(-1), weight: 10 }, { arbitrary: fc.constantFrom(0, 4), weight: 1 }),
    }),
    weight: 2,
  },
];

/** Messages a 'refresh' command sends: two QUERY_GFX_PLANE and one GET_GFX_DMABUF. */
export const REFRESH_MESSAGES = 3;

/** REGION_WRITEs a 'mode' command sends: ENABLE 0, BPP, XRES, YRES, VIRT_WIDTH, X, Y, ENABLE. */
export const MODE_WRITES = 8;
