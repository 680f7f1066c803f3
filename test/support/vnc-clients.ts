/**
 * Real native VNC clients for tests that check an RFB server pixel by pixel:
 *
 * - {@link vncsnapshot}: Debian's vncsnapshot (TightVNC 1.2.8 based), one
 *   framebuffer as a JPEG, decoded with djpeg (libjpeg-turbo-progs). TCP
 *   only: it takes `host::port` and has no Unix socket form.
 * - {@link startTigerViewer}: TigerVNC's vncviewer (Debian bookworm: 1.12.0)
 *   in a private Xvfb, screenshots of its window with xwd. It reaches Unix
 *   sockets (any server name containing '/', since TigerVNC 1.10) and TCP.
 *
 * TigerVNC 1.12 does not log which encoding the server uses, so by default
 * the viewer connects through a pass-through tap (test/support/vnc/rfb-tap.ts)
 * whose reader records the encodings on the wire; see docs/vnc.md "Viewers".
 *
 * Debian packages: vncsnapshot, libjpeg-turbo-progs, tigervnc-viewer, xvfb,
 * x11-apps (xwd), x11-utils (xwininfo) — scripts/test-deps.sh installs them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { RgbaImage } from '../../src/display/pixels.ts';
import { vncPasswdFile } from '../../src/vnc/vnc-auth.ts';
import { compareImages, describeDifference, type CompareOptions } from './vnc/compare.ts';
import { parsePnm } from './vnc/pnm.ts';
import { runTool, spawnGroup, type GroupChild } from './vnc/processes.ts';
import { describeWire, startRfbTap, type RfbTap, type VncTarget } from './vnc/rfb-tap.ts';
import { encodingName, type WireState } from './vnc/rfb-wire.ts';
import { parseXwd } from './vnc/xwd.ts';
import { startXvfb, type Xvfb } from './vnc/xvfb.ts';

export type { RgbaImage } from '../../src/display/pixels.ts';
export { compareImages, describeDifference, type CompareOptions, type ImageDifference } from './vnc/compare.ts';
export { encodingName, ENCODINGS, type WireState, type WireUpdate } from './vnc/rfb-wire.ts';
export type { VncTarget } from './vnc/rfb-tap.ts';

/** A VNC server on TCP: what TCP-only clients such as vncsnapshot need. */
export interface VncTcpTarget {
  readonly host: string;
  readonly port: number;
}

/** How a client authenticates: a password (written to a private vncpasswd file for the client) or such a file. */
export interface VncCredentials {
  /** For VNC authentication; the harness writes it with vncPasswdFile (src/vnc/vnc-auth.ts). */
  readonly password?: string;
  /** A vncpasswd-format file (what `vncpasswd` writes: the password DES-encrypted with VNC's fixed key); ignored when `password` is given. */
  readonly passwdFile?: string;
}

/** The vncpasswd file for `creds` (written into `dir`, mode 0600), or undefined for no authentication. */
function passwdFileFor(creds: VncCredentials, dir: string): string | undefined {
  if (creds.password === undefined) return creds.passwdFile;
  const file = join(dir, 'passwd');
  writeFileSync(file, vncPasswdFile(creds.password), { mode: 0o600 });
  return file;
}

export interface VncsnapshotOptions extends VncCredentials {
  /** @defaultValue 10 000 */
  readonly timeoutMs?: number;
  /** vncsnapshot's -encodings list, e.g. "hextile"; by default it asks for raw first on the same machine. */
  readonly encodings?: string;
}

/**
 * One framebuffer from vncsnapshot, as RGBA. The JPEG is written at quality
 * 100 but is still lossy (4:2:0 chroma): compare with compareImages and a
 * tolerance, not for equality.
 */
export async function vncsnapshot(target: VncTcpTarget, opts: VncsnapshotOptions = {}): Promise<RgbaImage> {
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw new RangeError(`vncsnapshot: port ${target.port} is not 1..65535`);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-vncsnapshot-'));
  try {
    const out = join(dir, 'snapshot.jpg');
    // -quiet: no banner. -allowblank: an all-black screen is an answer, not
    // a reason to wait for another. -nocursor: the framebuffer only.
    // -nojpeg: no lossy Tight JPEG on the wire (the file is JPEG anyway).
    // -quality 100: the least lossy file. "host::port" is a port, "host:N" would be 5900+N.
    const args = ['-quiet', '-allowblank', '-nocursor', '-nojpeg', '-quality', '100'];
    const passwdFile = passwdFileFor(opts, dir);
    if (passwdFile !== undefined) args.push('-passwd', passwdFile);
    if (opts.encodings !== undefined) args.push('-encodings', opts.encodings);
    args.push(`${target.host}::${target.port}`, out);
    // Own process group and stdin closed: with no terminal it cannot stop to ask for a password.
    await runTool('vncsnapshot', args, { timeoutMs, maxStdoutBytes: 64 * 1024 });
    const ppm = await runTool('djpeg', ['-pnm', out], { timeoutMs, maxStdoutBytes: 256 * 1024 * 1024 });
    return parsePnm(ppm);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * TigerVNC's viewer binary in Debian's tigervnc-viewer; `vncviewer` is only
 * an alternatives link that another viewer package may own.
 */
export const TIGERVNC_VIEWER = 'xtigervncviewer';

/** The encodings TigerVNC's -PreferredEncoding accepts (common/rfb/encodings.cxx, 1.12). */
export type TigerEncoding = 'Raw' | 'CopyRect' | 'RRE' | 'CoRRE' | 'Hextile' | 'ZRLE' | 'Tight';

/** Without a password or passwd file the viewer accepts only security type None. */
export interface TigerViewerOptions extends VncCredentials {
  /** @defaultValue 'ZRLE' */
  readonly preferredEncoding?: TigerEncoding;
  /**
   * Let TigerVNC pick format and encoding from the measured bandwidth
   * (it may then change the pixel format mid-session, which stops the
   * wire reader). @defaultValue false
   */
  readonly autoSelect?: boolean;
  /** Allow lossy JPEG inside Tight (TigerVNC's QualityLevel 8). @defaultValue false: lossless, so screenshots can be compared exactly */
  readonly jpeg?: boolean;
  /** The Xvfb screen, "WxH"; the framebuffer must fit in it for the window to show it 1:1. @defaultValue '2560x1600' */
  readonly xvfbSize?: string;
  /** Connect through the wire tap (needed for encoding() and wire()). @defaultValue true */
  readonly tap?: boolean;
  /** Send no keyboard or pointer events. @defaultValue false */
  readonly viewOnly?: boolean;
  /** More vncviewer parameters, e.g. ['-CompressLevel', '9']. */
  readonly extraArgs?: readonly string[];
  /** For the connection and the window to appear. @defaultValue 15 000 */
  readonly startTimeoutMs?: number;
}

export interface WaitOptions extends CompareOptions {
  /** @defaultValue 5000 */
  readonly timeoutMs?: number;
}

/** A running TigerVNC viewer in its own Xvfb. */
export interface TigerViewer {
  /** The X display it runs on, ":N". */
  readonly display: string;
  /** What vncviewer was given to connect to: a socket path or "host::port". */
  readonly server: string;
  /** The X window id of the viewer's window, "0x…". */
  readonly window: string;
  /** The window's content: the framebuffer 1:1 while it fits on the screen (see docs/vnc.md "Viewers"). */
  screenshot(): Promise<RgbaImage>;
  windowSize(): Promise<{ width: number; height: number }>;
  /** The size of the viewer's own framebuffer: the last "Resizing framebuffer … to WxH" in its log, else the size at connection. */
  framebufferSize(): { width: number; height: number } | undefined;
  /** The encoding of the last pixel rectangle the server sent ('ZRLE', 'Tight', …; CopyRect aside); undefined before the first. Needs the tap. */
  encoding(): string | undefined;
  /** Everything the wire reader learnt. Needs the tap. */
  wire(): WireState;
  /** vncviewer's stderr (parameters, connection, security, pixel format, resizes). */
  log(): string;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves once the server has announced w×h (with the tap), the viewer has resized its framebuffer, and its window is w×h. */
  waitForSize(width: number, height: number, timeoutMs?: number): Promise<void>;
  /**
   * Resolves with the first screenshot equal to `expected` (within
   * `tolerance`) or accepted by the predicate. Drawing leaves no trace a
   * test could wait on, so this takes screenshots until one matches.
   */
  waitForImage(expected: RgbaImage | ((image: RgbaImage) => boolean), opts?: WaitOptions): Promise<RgbaImage>;
  /** Stops the viewer, the tap and Xvfb (each its whole process group) and removes the temporary directory. */
  close(): Promise<void>;
}

/** How often window state and pixels are looked at while waiting for them (no X event says "drawn"). */
const POLL_MS = 20;
const DEFAULT_WAIT_MS = 5000;
/** CConn::initDone logs this right after creating the DesktopWindow (vncviewer/CConn.cxx, 1.12). */
const DESKTOP_CREATED = /CConn:\s+Using pixel format /;
/** Viewport::resize logs this when the server's new size reaches the viewer (vncviewer/Viewport.cxx, 1.12). */
const FRAMEBUFFER_RESIZED = /Resizing framebuffer from \d+x\d+ to (\d+)x(\d+)/g;

/**
 * Start vncviewer on `target` in a new Xvfb. With the tap (the default) the
 * viewer connects to the tap's Unix socket and the tap to `target`; without
 * it the viewer connects to `target` itself (a socket path or host::port).
 */
export async function startTigerViewer(target: VncTarget, opts: TigerViewerOptions = {}): Promise<TigerViewer> {
  const [screenW, screenH] = parseSize(opts.xvfbSize ?? '2560x1600');
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-tigervnc-'));
  let xvfb: Xvfb | undefined;
  let tap: RfbTap | undefined;
  let viewer: GroupChild | undefined;
  const close = async (): Promise<void> => {
    await viewer?.stop();
    await tap?.close();
    await xvfb?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    xvfb = await startXvfb(screenW, screenH);
    if (opts.tap ?? true) tap = await startRfbTap(join(dir, 'tap.sock'), target);
    // TigerVNC treats a server name containing '/' as a Unix socket path (vncviewer/CConn.cxx).
    const passwdFile = passwdFileFor(opts, dir);
    const server = tap ? tap.path : 'socketPath' in target ? resolvePath(target.socketPath) : `${target.host}::${target.port}`;
    const args = [
      // Info from everyone, debug (100) from the connection and the viewport
      // (its "Resizing framebuffer" lines) only: DesktopWindow at debug draws
      // a throughput graph over the framebuffer (DesktopWindow.cxx, "Throughput graph for debugging").
      '-Log', '*:stderr:30,CConnection:stderr:100,Viewport:stderr:100',
      // Format and encoding fixed: 24-bit colour, the requested encoding, no JPEG.
      `-AutoSelect=${opts.autoSelect ? 1 : 0}`, '-FullColor=1', '-PreferredEncoding', opts.preferredEncoding ?? 'ZRLE',
      `-NoJPEG=${opts.jpeg ? 0 : 1}`,
      // The window shows the framebuffer 1:1: no remote resizing to the
      // window, not full screen or maximised, top left (Xvfb has no window
      // manager, so nothing decorates or moves it).
      '-RemoteResize=0', '-FullScreen=0', '-Maximize=0', '-geometry', '+0+0',
      // Non-interactive: no dialogs on errors, no reconnect prompt, no
      // clipboard traffic; Shared so that other clients of the server stay connected.
      '-ReconnectOnError=0', '-AlertOnFatalError=0', '-Shared=1',
      '-AcceptClipboard=0', '-SendClipboard=0', '-SendPrimary=0', '-SetPrimary=0',
      // No menu key: TigerVNC would otherwise draw its "Press F8 to open the
      // context menu" overlay over the framebuffer for the first seconds
      // (DesktopWindow::menuOverlay, vncviewer/DesktopWindow.cxx).
      '-MenuKey=',
      // Only what the tap can follow and no password dialog: VncAuth with a file, else None.
      '-SecurityTypes', passwdFile !== undefined ? 'VncAuth' : 'None',
      ...(passwdFile !== undefined ? ['-PasswordFile', passwdFile] : []),
      `-ViewOnly=${opts.viewOnly ? 1 : 0}`,
      ...(opts.extraArgs ?? []),
      server,
    ];
    // HOME: TigerVNC reads and writes ~/.vnc (default.tigervnc, history); a private one keeps the user's settings out.
    viewer = spawnGroup('vncviewer', TIGERVNC_VIEWER, args, { env: { ...process.env, DISPLAY: xvfb.display, HOME: dir } });
    const proc = viewer;
    const display = xvfb.display;
    await proc.waitForLog(DESKTOP_CREATED, startTimeoutMs);
    const window = await findViewerWindow(display, proc, startTimeoutMs);
    const initial = tap?.wire.width !== undefined ? { width: tap.wire.width, height: tap.wire.height! } : await windowGeometry(display, window);
    const xwdLimit = screenW * screenH * 4 + 1024 * 1024;

    const framebufferSize = (text = proc.log()): { width: number; height: number } => {
      let size = initial;
      for (const m of text.matchAll(FRAMEBUFFER_RESIZED)) size = { width: Number(m[1]), height: Number(m[2]) };
      return size;
    };
    const screenshot = async (): Promise<RgbaImage> =>
      parseXwd(await runTool('xwd', ['-silent', '-nobdrs', '-id', window, '-display', display], { timeoutMs: 10_000, maxStdoutBytes: xwdLimit })).image;
    const needTap = (what: string): RfbTap => {
      if (!tap) throw new Error(`TigerViewer.${what}() needs the wire tap; start the viewer without tap: false`);
      return tap;
    };

    return {
      display,
      server,
      window,
      screenshot,
      windowSize: () => windowGeometry(display, window),
      framebufferSize: () => framebufferSize(),
      encoding: () => {
        const last = needTap('encoding').wire.lastEncoding;
        return last === undefined ? undefined : encodingName(last);
      },
      wire: () => needTap('wire').wire,
      log: () => proc.log(),
      waitForLog: (re, timeoutMs = DEFAULT_WAIT_MS) => proc.waitForLog(re, timeoutMs),
      waitForSize: async (width, height, timeoutMs = DEFAULT_WAIT_MS) => {
        const deadline = Date.now() + timeoutMs;
        await tap?.waitFor((w) => w.width === width && w.height === height, `a ${width}x${height} framebuffer`, timeoutMs);
        await proc.waitForOutput((text) => {
          const s = framebufferSize(text);
          return s.width === width && s.height === height ? true : undefined;
        }, `a framebuffer resized to ${width}x${height}`, Math.max(1, deadline - Date.now()));
        // The X server applies the viewer's resize request when the viewer next flushes.
        for (;;) {
          const s = await windowGeometry(display, window);
          if (s.width === width && s.height === height) return;
          if (Date.now() > deadline) throw new Error(`the viewer's window is ${s.width}x${s.height}, not ${width}x${height}, after ${timeoutMs} ms`);
          await delay(POLL_MS);
        }
      },
      waitForImage: async (expected, waitOpts = {}) => {
        const timeoutMs = waitOpts.timeoutMs ?? DEFAULT_WAIT_MS;
        const deadline = Date.now() + timeoutMs;
        const matches = typeof expected === 'function'
          ? expected
          : (img: RgbaImage) => img.width === expected.width && img.height === expected.height && compareImages(img, expected, waitOpts).differingPixels === 0;
        for (;;) {
          const shot = await screenshot();
          if (matches(shot)) return shot;
          if (Date.now() > deadline) {
            const diff = typeof expected === 'function' ? 'the predicate rejected every screenshot' : describeDifference(shot, expected, waitOpts);
            const wire = tap ? `; wire: ${describeWire(tap.wire)}` : '';
            throw new Error(`the viewer did not show the expected image within ${timeoutMs} ms: ${diff}${wire}`);
          }
          await delay(POLL_MS);
        }
      },
      close,
    };
  } catch (err) {
    const log = viewer?.log();
    await close();
    if (log !== undefined && err instanceof Error && !err.message.includes(log)) err.message += `\nvncviewer printed:\n${log}`;
    throw err;
  }
}

function parseSize(text: string): [number, number] {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(text);
  if (!m) throw new RangeError(`xvfbSize ${JSON.stringify(text)} is not "WIDTHxHEIGHT"`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * The viewer's top-level window, titled "<desktop name> - TigerVNC"
 * (vncviewer/DesktopWindow.cxx). It exists once DESKTOP_CREATED is logged,
 * but the X server sees it only when the viewer flushes, so this looks a
 * few times.
 */
async function findViewerWindow(display: string, viewer: GroupChild, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tree = (await runTool('xwininfo', ['-root', '-children', '-display', display], { timeoutMs: 10_000, maxStdoutBytes: 1024 * 1024 })).toString();
    const id = /^\s+(0x[0-9a-f]+) ".*- TigerVNC": /m.exec(tree)?.[1];
    if (id !== undefined) {
      const info = (await runTool('xwininfo', ['-id', id, '-display', display], { timeoutMs: 10_000, maxStdoutBytes: 64 * 1024 })).toString();
      if (/Map State: IsViewable/.test(info)) return id;
    }
    if (viewer.child.exitCode !== null) throw new Error('vncviewer exited before its window appeared');
    if (Date.now() > deadline) throw new Error(`no TigerVNC window appeared on ${display} within ${timeoutMs} ms:\n${tree}`);
    await delay(POLL_MS);
  }
}

async function windowGeometry(display: string, window: string): Promise<{ width: number; height: number }> {
  const info = (await runTool('xwininfo', ['-id', window, '-display', display], { timeoutMs: 10_000, maxStdoutBytes: 64 * 1024 })).toString();
  const width = /^\s*Width: (\d+)$/m.exec(info)?.[1];
  const height = /^\s*Height: (\d+)$/m.exec(info)?.[1];
  if (width === undefined || height === undefined) throw new Error(`xwininfo printed no size for window ${window}:\n${info}`);
  return { width: Number(width), height: Number(height) };
}
