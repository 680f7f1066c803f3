/**
 * A real RFB server to test the web view against until mdevsim's own is
 * wired in: QEMU 7.2 with an ISA VGA card, its VNC server on a Unix socket,
 * QMP for QEMU's own picture of the screen (`screendump`), and qtest for
 * the test to drive the card. The machine never starts (`-S`): no firmware
 * runs to reprogram the card behind the test's back (Debian's QEMU has no
 * qtest accelerator, so without -S SeaBIOS would run under TCG).
 *
 * The test draws through qtest: it sets a Bochs VBE mode (QEMU
 * hw/display/vga.c, the VBE_DISPI_* registers at I/O ports 0x1ce/0x1cf)
 * and writes XRGB8888 pixels into the linear framebuffer, which the ISA
 * card maps at VBE_DISPI_LFB_PHYSICAL_ADDRESS 0xE0000000
 * (hw/display/vga-isa.c). QMP runs on QEMU's stdio: its greeting says
 * QEMU has made its sockets, so the test waits on that, never on time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';

export const QEMU = 'qemu-system-x86_64';

const VBE_INDEX = 0x1ce;
const VBE_DATA = 0x1cf;
const VBE = { xres: 1, yres: 2, bpp: 3, enable: 4 } as const;
const VBE_ENABLED = 0x01;
const VBE_LFB_ENABLED = 0x40;
const LFB = 0xe0000000;
/** Bytes per qtest b64write line. */
const CHUNK = 64 * 1024;

/** An RGBA image, row-major, 4 bytes a pixel. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array;
}

export interface QemuVnc {
  readonly dir: string;
  /** QEMU's VNC server (plain RFB 3.8, security type None). */
  readonly vncPath: string;
  /** Set a width×height×32 VBE mode and fill the screen with `pixel(x, y)` (XRGB8888). */
  draw(width: number, height: number, pixel: (x: number, y: number) => number): Promise<void>;
  /** QEMU's own image of the screen (QMP screendump). */
  screendump(): Promise<RgbaImage>;
  /** attachToVnc(vncPath, stream): the web view's attach() until mdevsim's RFB server exists. */
  attach(stream: Duplex): boolean;
  stop(): Promise<void>;
}

/** One line-oriented connection: the lines QEMU sends, in order, to whoever asks next. */
class Lines {
  #buffer = '';
  #closed = false;
  readonly #waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  readonly #queued: string[] = [];
  constructor(input: Readable) {
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        const w = this.#waiting.shift();
        if (w !== undefined) w.resolve(line);
        else this.#queued.push(line);
      }
    });
    input.on('close', () => {
      this.#closed = true;
      for (const w of this.#waiting.splice(0)) w.reject(new Error('QEMU closed the connection'));
    });
  }

  next(): Promise<string> {
    const q = this.#queued.shift();
    if (q !== undefined) return Promise.resolve(q);
    if (this.#closed) return Promise.reject(new Error('QEMU closed the connection'));
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
}

export async function startQemuVnc(): Promise<QemuVnc> {
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-qemu-vnc-'));
  const vncPath = join(dir, 'vnc.sock');
  const qtestPath = join(dir, 'qtest.sock');
  const child: ChildProcess = spawn(QEMU, [
    '-nodefaults', '-machine', 'pc', '-S', '-display', 'none',
    '-qtest', `unix:${qtestPath},server=on,wait=off`, '-qtest-log', '/dev/null',
    '-qmp', 'stdio',
    '-device', 'isa-vga',
    '-vnc', `unix:${vncPath}`,
  ], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${QEMU} exited ${code}: ${stderr}`))));
  exited.catch(() => {});
  const qmp = new Lines(child.stdout!);
  const command = async (execute: string, args?: Record<string, unknown>): Promise<unknown> => {
    child.stdin!.write(`${JSON.stringify(args === undefined ? { execute } : { execute, arguments: args })}\n`);
    for (;;) {
      const reply = JSON.parse(await Promise.race([qmp.next(), exited])) as { return?: unknown; error?: { desc: string }; event?: string };
      if (reply.event !== undefined) continue;
      if (reply.error !== undefined) throw new Error(`QMP ${execute}: ${reply.error.desc}`);
      return reply.return;
    }
  };
  const qt = async (line: string): Promise<void> => {
    qtestSocket.write(`${line}\n`);
    const reply = await qtest.next();
    if (!reply.startsWith('OK')) throw new Error(`qtest ${line.slice(0, 40)}: ${reply}`);
  };
  await Promise.race([qmp.next(), exited]); // the greeting: QEMU has made its sockets and runs its main loop
  await command('qmp_capabilities');
  const vnc = (await command('query-vnc')) as { enabled: boolean; service?: string };
  if (!vnc.enabled || vnc.service !== vncPath) throw new Error(`QEMU's VNC server is not on ${vncPath}: ${JSON.stringify(vnc)}`);
  const qtestSocket = connect(qtestPath);
  await new Promise<void>((ok, fail) => qtestSocket.once('connect', ok).once('error', fail));
  const qtest = new Lines(qtestSocket);

  const vbe = async (index: number, value: number): Promise<void> => {
    await qt(`outw 0x${VBE_INDEX.toString(16)} 0x${index.toString(16)}`);
    await qt(`outw 0x${VBE_DATA.toString(16)} 0x${value.toString(16)}`);
  };

  return {
    dir,
    vncPath,
    async draw(width, height, pixel) {
      await vbe(VBE.enable, 0);
      await vbe(VBE.xres, width);
      await vbe(VBE.yres, height);
      await vbe(VBE.bpp, 32);
      await vbe(VBE.enable, VBE_ENABLED | VBE_LFB_ENABLED);
      // Unblank: the attribute controller's palette-address-source bit (QEMU shows a blank screen without it).
      await qt('inb 0x3da'); // resets the attribute controller's index/data flip-flop
      await qt('outb 0x3c0 0x20');
      const fb = Buffer.alloc(width * height * 4);
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) fb.writeUInt32LE(pixel(x, y) >>> 0, (y * width + x) * 4);
      for (let at = 0; at < fb.length; at += CHUNK) {
        const part = fb.subarray(at, at + CHUNK);
        await qt(`b64write 0x${(LFB + at).toString(16)} 0x${part.length.toString(16)} ${part.toString('base64')}`);
      }
    },
    async screendump() {
      const file = join(dir, 'screen.ppm');
      await command('screendump', { filename: file });
      return parsePpm(readFileSync(file));
    },
    attach: (stream) => attachToVnc(vncPath, stream),
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM');
        await gone;
      }
      qtestSocket.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The connect still under way per VNC socket (see attachToVnc). */
const connecting = new Map<string, Promise<void>>();

/**
 * Pipe an RFB stream to a fresh connection to the VNC server at `path`;
 * either end closing closes the other, and `closed` runs once that
 * connection's socket is closed. Always true (attach()'s "accepted").
 *
 * Connections to one server are made one after the other, the next once
 * the server has accepted the last (its greeting arrived): QEMU listens
 * with a backlog of 1 (qio_net_listener_open_sync(…, 1, …) in ui/vnc.c),
 * so connects to its Unix socket while one waits to be accepted fail with
 * EAGAIN. Until its connection is made the stream is not read (it buffers
 * up to its highWaterMark, as it would for a slow server).
 */
export function attachToVnc(path: string, stream: Duplex, closed?: () => void): boolean {
  const vnc = new Socket();
  vnc.once('close', () => {
    stream.destroy();
    closed?.();
  });
  vnc.on('error', () => stream.destroy());
  stream.on('error', () => vnc.destroy());
  stream.on('close', () => vnc.destroy());
  const previous = connecting.get(path) ?? Promise.resolve();
  const made = previous.then(() => new Promise<void>((done) => {
    if (vnc.destroyed) return done();
    vnc.once('connect', () => stream.pipe(vnc).pipe(stream));
    vnc.once('data', () => done()); // beside the pipe's own listener: the greeting, so QEMU has accepted
    vnc.once('close', () => done());
    vnc.connect(path);
  }));
  connecting.set(path, made);
  void made.then(() => { if (connecting.get(path) === made) connecting.delete(path); });
  return true;
}

/** A binary PPM (P6, maxval 255) as RGBA. */
export function parsePpm(file: Buffer): RgbaImage {
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(file.subarray(0, 64).toString('latin1'));
  if (header === null) throw new Error('not a P6 PPM with maxval 255');
  const width = Number(header[1]);
  const height = Number(header[2]);
  const rgb = file.subarray(header[0].length);
  if (rgb.length !== width * height * 3) throw new Error(`PPM ${width}×${height} has ${rgb.length} bytes of pixels`);
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0, o = 0; i < rgb.length; i += 3, o += 4) {
    rgba[o] = rgb[i]!;
    rgba[o + 1] = rgb[i + 1]!;
    rgba[o + 2] = rgb[i + 2]!;
    rgba[o + 3] = 255;
  }
  return { width, height, rgba };
}
