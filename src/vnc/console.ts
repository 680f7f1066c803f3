/**
 * A device's console: what a user needs to see and use its guest — the
 * screen, the VNC server (a `<device>.vnc` socket, a TCP display, or only
 * the web view's streams), and the QMP endpoint on `<device>.qmp` that the
 * guest's QEMU connects to, through which viewers' keys and pointer reach
 * the guest. Without a QMP peer the console is view-only.
 */
import type { VfioDevice } from '../vfio/device.ts';
import type { FdLedger } from '../sys/fd-ledger.ts';
import type { SocketAccess } from '../sys/socket-access.ts';
import { readDisplay } from '../display/plane-source.ts';
import { ViewerInput, type QmpInputEvent } from './input.ts';
import { QmpEndpoint } from './qmp-endpoint.ts';
import type { RfbAuth, RfbInput } from './rfb-connection.ts';
import { VncServer, type VncTarget } from './rfb-server.ts';
import { Screen } from './screen.ts';

/** The first TCP port of VNC displays: display N listens on 5900 + N (QEMU's -vnc convention). */
export const VNC_BASE_PORT = 5900;

export interface ConsoleOptions {
  readonly name: string;
  /** ServerInit's desktop name, e.g. "mbochs-0 (mbochs-medium)". */
  readonly desktopName: string;
  readonly device: VfioDevice;
  /** Where VNC listens; null: the web view only. */
  readonly vnc: VncTarget | null;
  readonly auth: RfbAuth;
  /** The QMP socket path; null: no input (view only). */
  readonly qmpPath: string | null;
  /** Who may connect to the VNC and QMP sockets (the device socket's access). @defaultValue owner only */
  readonly access?: SocketAccess;
  readonly maxViewers?: number;
  readonly pollMs?: number;
  readonly fdLedger?: FdLedger;
  /** QEMU connected to the QMP endpoint (true) or went away (false). */
  readonly onInput?: (connected: boolean) => void;
}

/** What list/describe show of a console. */
export interface ConsoleInfo {
  /** The VNC socket path or host:port; null when only the web view serves it. */
  readonly vnc: string | null;
  /** The VNC display number for TCP (port 5900 + display), else null. */
  readonly display: number | null;
  readonly auth: 'none' | 'vnc';
  readonly viewers: number;
  /** The QMP socket QEMU connects to, or null. */
  readonly qmp: string | null;
  /** A QMP peer is connected and ready: keyboard and pointer reach the guest. */
  readonly input: boolean;
}

export class DeviceConsole {
  readonly name: string;
  readonly screen: Screen;
  readonly vnc: VncServer;
  readonly qmp: QmpEndpoint | null;
  readonly #display: number | null;
  readonly #auth: 'none' | 'vnc';

  private constructor(name: string, screen: Screen, vnc: VncServer, qmp: QmpEndpoint | null, target: VncTarget | null, auth: RfbAuth) {
    this.name = name;
    this.screen = screen;
    this.vnc = vnc;
    this.qmp = qmp;
    this.#display = target?.kind === 'tcp' ? target.port - VNC_BASE_PORT : null;
    this.#auth = auth.kind;
  }

  /** @throws ConfigError (rejects) when a socket or port cannot be had. */
  static async start(opts: ConsoleOptions): Promise<DeviceConsole> {
    const { name, device } = opts;
    const screen = new Screen({ name, read: (use) => readDisplay(device, name, ({ state }) => use(state)), ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}) });
    let qmp: QmpEndpoint | null = null;
    try {
      if (opts.qmpPath !== null) {
        qmp = await QmpEndpoint.listen(opts.qmpPath, { label: `${name} QMP`, ...(opts.access ? { access: opts.access } : {}), ...(opts.fdLedger ? { fdLedger: opts.fdLedger } : {}) });
      }
      const endpoint = qmp;
      // The title a viewer shows says whether its keys reach the guest.
      const desktopName = (): string => (endpoint === null || endpoint.ready ? opts.desktopName : `${opts.desktopName} (view only: no QMP peer)`);
      const vnc = await VncServer.start({
        name, screen, desktopName, target: opts.vnc, auth: opts.auth, ...(opts.access ? { access: opts.access } : {}),
        input: () => (endpoint === null ? null : qmpInput(endpoint)),
        ...(opts.maxViewers !== undefined ? { maxViewers: opts.maxViewers } : {}),
        ...(opts.fdLedger ? { fdLedger: opts.fdLedger } : {}),
      });
      qmp?.on('ready', () => { vnc.desktopNameChanged(); opts.onInput?.(true); });
      qmp?.on('lost', () => { vnc.desktopNameChanged(); opts.onInput?.(false); });
      return new DeviceConsole(name, screen, vnc, qmp, opts.vnc, opts.auth);
    } catch (err) {
      screen.close();
      await qmp?.close();
      throw err;
    }
  }

  info(): ConsoleInfo {
    return {
      vnc: this.vnc.address, display: this.#display, auth: this.#auth,
      viewers: this.vnc.stats().viewers, qmp: this.qmp?.path ?? null, input: this.qmp?.ready ?? false,
    };
  }

  async close(): Promise<void> {
    await this.vnc.close();
    this.screen.close();
    await this.qmp?.close();
  }
}

/** One viewer's input through the QMP endpoint; events are dropped (and counted there) while no QEMU is connected. */
function qmpInput(qmp: QmpEndpoint): RfbInput {
  const state = new ViewerInput();
  const send = (events: readonly (QmpInputEvent | null)[]): void => {
    const ok = events.filter((e): e is QmpInputEvent => e !== null);
    if (ok.length > 0) qmp.sendInput(ok);
  };
  return {
    get active() { return qmp.ready; },
    key: (down, keysym, keycode) => send([keycode === null ? state.keyboard.keysym(down, keysym) : state.keyboard.extended(down, keysym, keycode)]),
    pointer: (x, y, buttons, width, height) => send(state.pointer.event(x, y, buttons, width, height)),
    release: () => send(state.releaseAll()),
  };
}
