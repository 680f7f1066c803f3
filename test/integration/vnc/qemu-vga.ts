/**
 * A reference RFB server with a screen we choose: QEMU's own VNC server
 * over an ISA VGA that no guest ever touches. The CPU never starts (-S);
 * the qtest protocol (QEMU docs/devel/qtest.rst) writes the Bochs VBE
 * registers and the linear framebuffer directly, and QMP `screendump` gives
 * QEMU's own view of that screen as the reference image.
 *
 * isa-vga maps its framebuffer at the fixed VBE_DISPI_LFB_PHYSICAL_ADDRESS
 * (0xE0000000, QEMU 7.2 hw/display/vga-isa.c and include/hw/display/bochs-vbe.h),
 * so no PCI BAR has to be programmed. One VNC display listens on a Unix
 * socket, another on 127.0.0.1 (QEMU picks a free port in 5900..5999).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { RgbaImage } from '../../../src/display/pixels.ts';
import { parsePnm } from '../../support/vnc/pnm.ts';
import { spawnGroup } from '../../support/vnc/processes.ts';

const LFB = 0xe0000000;
/** Bochs VBE DISPI (include/hw/display/bochs-vbe.h): index port, data port, register indices, enable bits. */
const VBE_INDEX_PORT = 0x1ce;
const VBE_DATA_PORT = 0x1cf;
const VBE = { xres: 1, yres: 2, bpp: 3, enable: 4, virtWidth: 6, virtHeight: 7, xOffset: 8, yOffset: 9 } as const;
const VBE_ENABLED = 0x01;
const VBE_LFB_ENABLED = 0x40;
/** The attribute controller's "palette address source" bit: without it QEMU's VGA draws a blank screen (hw/display/vga.c). */
const VGA_AR_PAS = 0x20;
const START_TIMEOUT_MS = 15_000;

export interface QemuVga {
  /** The VNC display on a Unix socket. */
  readonly unix: { readonly socketPath: string };
  /** The VNC display on TCP. */
  readonly tcp: { readonly host: string; readonly port: number };
  /** Switch to a width×height, 32 bpp linear mode (a DesktopSize for VNC clients). */
  setMode(width: number, height: number): Promise<void>;
  /** Write the whole framebuffer: `rgb(x, y)` gives each pixel. */
  paint(rgb: (x: number, y: number) => readonly [number, number, number]): Promise<void>;
  /** QEMU's view of the screen (QMP screendump, PPM). */
  screendump(): Promise<RgbaImage>;
  close(): Promise<void>;
}

export interface QemuVgaOptions {
  /** Require this VNC password on the TCP display (security type VncAuth). */
  readonly tcpPassword?: string;
}

/** A listening socket QEMU connects to (qtest and QMP both have QEMU as the client here, so nothing is polled for). */
async function listenOnce(path: string): Promise<{ server: Server; connection: Promise<Socket> }> {
  const server = createServer();
  const connection = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, connection };
}

/** Replies to line commands in order: qtest answers every command with one "OK …" or "FAIL …" line. */
function lineChannel(socket: Socket): (line: string) => Promise<string> {
  const pending: { resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  const lines = createInterface({ input: socket });
  lines.on('line', (line) => pending.shift()?.resolve(line));
  socket.on('close', () => { for (const p of pending.splice(0)) p.reject(new Error('QEMU closed the connection')); });
  return (line) => new Promise((resolve, reject) => {
    pending.push({ resolve, reject });
    socket.write(`${line}\n`);
  });
}

export async function startQemuVga(opts: QemuVgaOptions = {}): Promise<QemuVga> {
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-qemu-vga-'));
  const qtestPath = join(dir, 'qtest.sock');
  const qmpPath = join(dir, 'qmp.sock');
  const vncPath = join(dir, 'vnc.sock');
  const qtestListener = await listenOnce(qtestPath);
  const qmpListener = await listenOnce(qmpPath);
  const servers: Server[] = [qtestListener.server, qmpListener.server];
  const qemu = spawnGroup('QEMU', 'qemu-system-x86_64', [
    '-nodefaults', '-machine', 'pc', '-accel', 'tcg', '-S', '-display', 'none',
    '-device', 'isa-vga',
    '-qtest', `unix:${qtestPath}`, '-qtest-log', '/dev/null',
    '-chardev', `socket,id=qmp,path=${qmpPath}`, '-mon', 'chardev=qmp,mode=control',
    '-vnc', `unix:${vncPath}`,
    '-vnc', `127.0.0.1:0,to=99,id=tcp${opts.tcpPassword !== undefined ? ',password=on' : ''}`,
  ]);
  const close = async (): Promise<void> => {
    await qemu.stop();
    for (const s of servers) s.close();
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
    if (opts.tcpPassword !== undefined) await qmp.execute('set_password', { protocol: 'vnc', password: opts.tcpPassword, display: 'tcp' });
    const servers_ = (await qmp.execute('query-vnc-servers')) as { id: string; server: { family: string; host: string; service: string }[] }[];
    const tcp = servers_.find((s) => s.id === 'tcp')?.server.find((s) => s.family === 'ipv4');
    if (!tcp) throw new Error(`query-vnc-servers shows no TCP display: ${JSON.stringify(servers_)}`);

    const command = async (line: string): Promise<void> => {
      const reply = await qt(line);
      if (!reply.startsWith('OK')) throw new Error(`qtest "${line.slice(0, 60)}" answered ${reply}`);
    };
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
        const buf = Buffer.alloc(width * height * 4);
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            const [r, g, b] = rgb(x, y);
            const o = (y * width + x) * 4;
            buf[o] = b; buf[o + 1] = g; buf[o + 2] = r;
          }
        }
        await command(`b64write 0x${LFB.toString(16)} 0x${buf.length.toString(16)} ${buf.toString('base64')}`);
      },
      screendump: async () => {
        const file = join(dir, 'screendump.ppm');
        await qmp.execute('screendump', { filename: file });
        return parsePnm(readFileSync(file));
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** QMP over one connection: greeting, then one reply per command in order; events are ignored. */
function qmpClient(socket: Socket): { ready: Promise<void>; execute(cmd: string, args?: object): Promise<unknown> } {
  const pending: { resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string }[] = [];
  let greeted: () => void;
  const ready = new Promise<void>((resolve) => { greeted = resolve; });
  const lines = createInterface({ input: socket });
  lines.on('line', (line) => {
    const msg = JSON.parse(line) as { QMP?: unknown; event?: string; return?: unknown; error?: { desc: string } };
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
