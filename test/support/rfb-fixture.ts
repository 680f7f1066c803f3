/**
 * An RFB server in-process for integration tests: an mbochs device that the
 * bochs-drm guest model drives, the device's Screen, and a VncServer on a
 * Unix socket in a private temporary directory, with viewers from
 * rfb-client.ts (the RFC 6143 test viewer). The guest shows three colour
 * blocks at W×H until a test draws something else.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceBudget } from '../../devices/common/budget.ts';
import { MbochsDevice } from '../../devices/mbochs/device.ts';
import { currentDisplay, readDisplay } from '../../src/display/plane-source.ts';
import { planeToRgba } from '../../src/display/pixels.ts';
import { memfdMemoryFactory } from '../../src/sys/memfd.ts';
import { ensurePrivateDir } from '../../src/sys/trusted-path.ts';
import type { RfbAuth } from '../../src/vnc/rfb-connection.ts';
import { VncServer } from '../../src/vnc/rfb-server.ts';
import { ENCODING } from '../../src/vnc/rfb-wire.ts';
import { Screen } from '../../src/vnc/screen.ts';
import { BochsDrm, bootBochsDrm } from './guest/bochs-drm.ts';
import { RfbTestClient } from './rfb-client.ts';

export const FIXTURE_WIDTH = 640;
export const FIXTURE_HEIGHT = 480;
const NAME = 'mbochs-0';

export interface RfbFixtureOptions {
  readonly auth?: RfbAuth;
  readonly desktopName?: () => string;
  readonly handshakeTimeoutMs?: number;
}

export interface RfbFixture {
  readonly dev: MbochsDevice;
  readonly drm: BochsDrm;
  readonly screen: Screen;
  readonly server: VncServer;
  /** The server's Unix socket. */
  readonly path: string;
  /** The guest's plane now, as RGBA. */
  planeRgba(): Uint8Array;
  /** A connected viewer that has not started the handshake; closed by close(). */
  connect(): Promise<RfbTestClient>;
  /**
   * A viewer past the handshake (3.8, None) that listed `encodings`; when
   * they include ExtendedDesktopSize, the update the server announces it
   * with has been read.
   */
  viewer(encodings: number[]): Promise<RfbTestClient>;
  close(): Promise<void>;
}

export async function startRfbFixture(opts: RfbFixtureOptions = {}): Promise<RfbFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-rfb-'));
  ensurePrivateDir(join(dir, 's'));
  const path = join(dir, 's', `${NAME}.vnc`);
  const dev = new MbochsDevice('mbochs-medium', { name: NAME, budget: new InstanceBudget({ total: 64 }), memory: memfdMemoryFactory });
  const drm = bootBochsDrm(dev);
  drm.probe();
  drm.setMode({ hdisplay: FIXTURE_WIDTH, vdisplay: FIXTURE_HEIGHT });
  drm.fill(0x00ff0000, { x: 0, y: 0, w: FIXTURE_WIDTH / 2, h: FIXTURE_HEIGHT / 2 });
  drm.fill(0x0000ff00, { x: FIXTURE_WIDTH / 2, y: 0, w: FIXTURE_WIDTH / 2, h: FIXTURE_HEIGHT / 2 });
  drm.fill(0x000000ff, { x: 0, y: FIXTURE_HEIGHT / 2, w: FIXTURE_WIDTH, h: FIXTURE_HEIGHT / 2 });
  const screen = new Screen({ name: NAME, read: (use) => readDisplay(dev, NAME, ({ state }) => use(state)), pollMs: 10 });
  const server = await VncServer.start({
    name: NAME, screen, desktopName: opts.desktopName ?? (() => `${NAME} (mdevsim)`), target: { kind: 'unix', path },
    auth: opts.auth ?? { kind: 'none' }, input: () => null,
    ...(opts.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
  });
  const clients: RfbTestClient[] = [];
  const connect = async (): Promise<RfbTestClient> => {
    const c = await RfbTestClient.unix(path);
    clients.push(c);
    return c;
  };
  return {
    dev, drm, screen, server, path, connect,
    planeRgba() {
      const d = currentDisplay(dev, NAME);
      if (d.kind !== 'plane') throw new Error('no plane');
      return planeToRgba(d.plane).data;
    },
    async viewer(encodings) {
      const c = await connect();
      await c.handshake();
      c.setEncodings(encodings);
      if (encodings.includes(ENCODING.ExtendedDesktopSize)) await c.update();
      return c;
    },
    async close() {
      for (const c of clients.splice(0)) c.close();
      await server.close();
      screen.close();
      dev.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
