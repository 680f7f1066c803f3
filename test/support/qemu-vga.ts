/**
 * A reference RFB server with a screen we choose: QEMU's own VNC server
 * over an ISA VGA that no guest ever touches. The qtest protocol (QEMU
 * docs/devel/qtest.rst) writes the Bochs VBE registers and the linear
 * framebuffer directly, and QMP `screendump` gives QEMU's own view of that
 * screen as the reference image.
 *
 * The machine never starts (-S): Debian's QEMU has no qtest accelerator
 * (`qemu-system-x86_64 -accel help` lists tcg and kvm only), so the qtest
 * protocol runs beside TCG, and without -S SeaBIOS would run and reprogram
 * the card behind the test's back.
 *
 * isa-vga maps its framebuffer at the fixed VBE_DISPI_LFB_PHYSICAL_ADDRESS
 * (0xE0000000, QEMU 7.2 hw/display/vga-isa.c and include/hw/display/bochs-vbe.h),
 * so no PCI BAR has to be programmed. One VNC display listens on a Unix
 * socket, security type None; another on 127.0.0.1 (QEMU picks a free port
 * in 5900..5999), with VNC authentication when a password is given. Both
 * show the same screen.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';
import type { RgbaImage } from '../../src/display/pixels.ts';
import { QEMU } from './qemu.ts';
import { parsePnm } from './vnc/pnm.ts';
import { spawnGroup } from './vnc/processes.ts';

export { QEMU } from './qemu.ts';

const LFB = 0xe0000000;
/** Bochs VBE DISPI (include/hw/display/bochs-vbe.h): index port, data port, register indices, enable bits. */
const VBE_INDEX_PORT = 0x1ce;
const VBE_DATA_PORT = 0x1cf;
const VBE = { xres: 1, yres: 2, bpp: 3, enable: 4, virtWidth: 6, virtHeight: 7, xOffset: 8, yOffset: 9 } as const;
const VBE_ENABLED = 0x01;
const VBE_LFB_ENABLED = 0x40;
/** The attribute controller's "palette address source" bit: without it QEMU's VGA draws a blank screen (hw/display/vga.c). */
const VGA_AR_PAS = 0x20;
/**
 * Framebuffer bytes per qtest b64write line. QEMU reads the qtest socket
 * 1024 bytes at a time and after each read searches the whole unparsed
 * buffer for a newline (qtest_can_read, qtest_read and qtest_process_inbuf
 * in QEMU 7.2 softmmu/qtest.c), so one line costs time quadratic in its
 * length.
 */
const B64WRITE_CHUNK = 64 * 1024;
const START_TIMEOUT_MS = 15_000;

export interface QemuVga {
  /** The VNC display on a Unix socket (security type None). */
  readonly unix: { readonly socketPath: string };
  /** The VNC display on TCP (VNC authentication when started with `tcpPassword`, else None). */
  readonly tcp: { readonly host: string; readonly port: number };
  /** Switch to a width×height, 32 bpp linear mode (a DesktopSize for VNC clients). */
  setMode(width: number, height: number): Promise<void>;
  /** Write the whole framebuffer of the current mode: `rgb(x, y)` gives each pixel. */
  paint(rgb: (x: number, y: number) => readonly [number, number, number]): Promise<void>;
  /** QEMU's view of the screen (QMP screendump, PPM). */
  screendump(): Promise<RgbaImage>;
  /** attachToVnc on the Unix display: a web view's attach() with QEMU behind it. */
  attach(stream: Duplex): boolean;
  close(): Promise<void>;
}

export interface QemuVgaOptions {
  /** Require this VNC password on the TCP display (security type VncAuth). */
  readonly tcpPassword?: string;
}

/** A listening socket QEMU connects to (qtest and QMP both have QEMU as the client here, so nothing is polled for). */
export async function listenOnce(path: string): Promise<{ server: Server; connection: Promise<Socket> }> {
  const server = createServer();
  const connection = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, connection };
}

/** Replies to line commands in order: qtest answers every command with one "OK …" or "FAIL …" line. */
export function lineChannel(socket: Socket): (line: string) => Promise<string> {
  const pending: { resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  const lines = createInterface({ input: socket });
  lines.on('line', (line) => pending.shift()?.resolve(line));
  socket.on('close', () => { for (const p of pending.splice(0)) p.reject(new Error('QEMU closed the connection')); });
  return (line) => new Promise((resolve, reject) => {
    pending.push({ resolve, reject });
    socket.write(`${line}\n`);
  });
}

/** A QEMU that never starts its CPUs (-S), driven over qtest and QMP, with screendump as its picture. */
export interface QtestQemu {
  readonly dir: string;
  readonly qmp: ReturnType<typeof qmpClient>;
  /** A qtest command whose reply must be OK; the reply. */
  command(line: string): Promise<string>;
  /** Write `bytes` at guest physical `address`, in b64write lines of B64WRITE_CHUNK. */
  write(address: number, bytes: Uint8Array): Promise<void>;
  /** What QEMU displays (QMP screendump, PPM). */
  screendump(): Promise<RgbaImage>;
  close(): Promise<void>;
}

/**
 * Start `qemu-system-x86_64 -nodefaults -machine pc -S` with `args(dir)` added,
 * its qtest and QMP connected to sockets in a fresh directory, and QMP
 * capabilities negotiated. Everything is removed on close(), or when the
 * start fails.
 */
export async function startQtestQemu(prefix: string, args: (dir: string) => readonly string[]): Promise<QtestQemu> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const qtestListener = await listenOnce(join(dir, 'qtest.sock'));
  const qmpListener = await listenOnce(join(dir, 'qmp.sock'));
  const qemu = spawnGroup('QEMU', QEMU, [
    '-nodefaults', '-machine', 'pc', '-accel', 'tcg', '-S', '-display', 'none',
    '-qtest', `unix:${join(dir, 'qtest.sock')}`, '-qtest-log', '/dev/null',
    '-chardev', `socket,id=qmp,path=${join(dir, 'qmp.sock')}`, '-mon', 'chardev=qmp,mode=control',
    ...args(dir),
  ]);
  const close = async (): Promise<void> => {
    await qemu.stop();
    qtestListener.server.close();
    qmpListener.server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const timer = setTimeout(() => void qemu.stop(), START_TIMEOUT_MS);
    const died = qemu.exited.then((): never => { throw new Error(`QEMU exited before it was ready: ${qemu.log()}`); });
    const [qtestSocket, qmpSocket] = await Promise.race([Promise.all([qtestListener.connection, qmpListener.connection]), died]);
    clearTimeout(timer);
    const qt = lineChannel(qtestSocket);
    const qmp = qmpClient(qmpSocket);
    await Promise.race([qmp.ready, died]);
    await qmp.execute('qmp_capabilities');
    const command = async (line: string): Promise<string> => {
      const reply = await qt(line);
      if (!reply.startsWith('OK')) throw new Error(`qtest "${line.slice(0, 60)}" answered ${reply}`);
      return reply;
    };
    return {
      dir, qmp, command, close,
      write: async (address, bytes) => {
        for (let at = 0; at < bytes.length; at += B64WRITE_CHUNK) {
          const part = Buffer.from(bytes.subarray(at, at + B64WRITE_CHUNK));
          await command(`b64write 0x${(address + at).toString(16)} 0x${part.length.toString(16)} ${part.toString('base64')}`);
        }
      },
      screendump: async () => {
        const file = join(dir, 'screendump.ppm');
        await qmp.execute('screendump', { filename: file });
        return parsePnm(readFileSync(file));
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Start QEMU with an ISA VGA and its two VNC displays; resolves once both VNC displays listen. */
export async function startQemuVga(opts: QemuVgaOptions = {}): Promise<QemuVga> {
  const q = await startQtestQemu('mdevsim-qemu-vga-', (dir) => [
    '-device', 'isa-vga',
    '-vnc', `unix:${join(dir, 'vnc.sock')}`,
    '-vnc', `127.0.0.1:0,to=99,id=tcp${opts.tcpPassword !== undefined ? ',password=on' : ''}`,
  ]);
  const vncPath = join(q.dir, 'vnc.sock');
  const { qmp, command } = q;
  try {
    if (opts.tcpPassword !== undefined) await qmp.execute('set_password', { protocol: 'vnc', password: opts.tcpPassword, display: 'tcp' });
    const displays = (await qmp.execute('query-vnc-servers')) as { id: string; server: { family: string; host: string; service: string }[] }[];
    const unix = displays.find((s) => s.id === 'default')?.server.find((s) => s.family === 'unix');
    if (unix?.service !== vncPath) throw new Error(`query-vnc-servers shows no display on ${vncPath}: ${JSON.stringify(displays)}`);
    const tcp = displays.find((s) => s.id === 'tcp')?.server.find((s) => s.family === 'ipv4');
    if (!tcp) throw new Error(`query-vnc-servers shows no TCP display: ${JSON.stringify(displays)}`);

    const vbe = async (index: number, value: number): Promise<void> => {
      await command(`outw 0x${VBE_INDEX_PORT.toString(16)} 0x${index.toString(16)}`);
      await command(`outw 0x${VBE_DATA_PORT.toString(16)} 0x${value.toString(16)}`);
    };
    let mode = { width: 0, height: 0 };
    return {
      unix: { socketPath: vncPath },
      tcp: { host: tcp.host, port: Number(tcp.service) },
      setMode: async (width, height) => {
        await vbe(VBE.enable, 0);
        await vbe(VBE.xres, width);
        await vbe(VBE.yres, height);
        await vbe(VBE.bpp, 32);
        await vbe(VBE.virtWidth, width);
        await vbe(VBE.virtHeight, height);
        await vbe(VBE.xOffset, 0);
        await vbe(VBE.yOffset, 0);
        await vbe(VBE.enable, VBE_ENABLED | VBE_LFB_ENABLED);
        // Reading 0x3da resets the attribute controller's flip-flop, so 0x3c0 takes an index.
        await command('inb 0x3da');
        await command(`outb 0x3c0 0x${VGA_AR_PAS.toString(16)}`);
        mode = { width, height };
      },
      paint: async (rgb) => {
        const { width, height } = mode;
        if (width === 0) throw new Error('QemuVga.paint() needs setMode() first');
        // 32 bpp VBE is x8r8g8b8 in little-endian memory: B, G, R, X.
        const fb = Buffer.alloc(width * height * 4);
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            const [r, g, b] = rgb(x, y);
            const o = (y * width + x) * 4;
            fb[o] = b; fb[o + 1] = g; fb[o + 2] = r;
          }
        }
        await q.write(LFB, fb);
      },
      screendump: q.screendump,
      attach: (stream) => attachToVnc(vncPath, stream),
      close: q.close,
    };
  } catch (err) {
    await q.close();
    throw err;
  }
}

/** QMP over one connection: greeting, then one reply per command in order; events are ignored. */
export function qmpClient(socket: Socket): { ready: Promise<void>; execute(cmd: string, args?: object): Promise<unknown> } {
  const pending: { resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string }[] = [];
  let greeted: () => void;
  const ready = new Promise<void>((resolve) => { greeted = resolve; });
  const lines = createInterface({ input: socket });
  lines.on('line', (line) => {
    let msg: { QMP?: unknown; event?: string; return?: unknown; error?: { desc: string } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      pending.shift()?.reject(new Error(`QMP sent a line that is not JSON: ${line.slice(0, 80)}`));
      return;
    }
    if (msg.QMP !== undefined) { greeted(); return; }
    if (msg.event !== undefined) return;
    const p = pending.shift();
    if (!p) return;
    if (msg.error) p.reject(new Error(`QMP ${p.cmd}: ${msg.error.desc}`));
    else p.resolve(msg.return);
  });
  socket.on('close', () => { for (const p of pending.splice(0)) p.reject(new Error('QMP connection closed')); });
  return {
    ready,
    execute: (cmd, args) => new Promise((resolve, reject) => {
      pending.push({ resolve, reject, cmd });
      socket.write(`${JSON.stringify({ execute: cmd, ...(args ? { arguments: args } : {}) })}\n`);
    }),
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
 * with a backlog of 1 (vnc_display_listen in QEMU 7.2 ui/vnc.c calls
 * qio_net_listener_open_sync(…, 1, …)), so connects to its Unix socket
 * while one waits to be accepted fail with EAGAIN. Until its connection is
 * made the stream is not read (it buffers up to its highWaterMark, as it
 * would for a slow server).
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
