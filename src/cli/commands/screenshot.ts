import { defineCommand, UsageError } from '../command.ts';
import { COMMON, controlPathOf, deviceSocket, openControl, writingTo, type CommonValues } from '../args.ts';
import type { ControlClient } from '../../mgmt/control-client.ts';
import type { ScreenshotResult } from '../../mgmt/screenshot.ts';
import type { VfioUserClient } from '../../vfio-user/client.ts';
import { ConfigError, VfioError } from '../../util/errors.ts';
import { isSysError } from '../../sys/sys-error.ts';
import { checkTrustedSocket } from '../../sys/trusted-path.ts';

interface ShotOutcome {
  readonly result: ScreenshotResult;
  readonly via: 'device-socket' | 'control-socket';
  readonly name: string;
  readonly socket: string;
  /** Why the device socket was not used (fallback to the control socket). */
  readonly fallback?: string;
}

async function takeScreenshot(target: string, via: string, v: CommonValues): Promise<ShotOutcome> {
  const { name, socket } = await deviceSocket(target, v);
  let fallback: string | undefined;
  if (via !== 'control') {
    // The vfio-user client and the PNG encoder load only for this path.
    const { VfioUserClient: Client } = await import('../../vfio-user/client.ts');
    const { screenshotClient } = await import('../../mgmt/screenshot.ts');
    let client: VfioUserClient | undefined;
    try {
      // A planted device socket would be handed the screenshot's trust; refuse, never fall back.
      checkTrustedSocket(socket, { what: 'Device socket' });
      client = await Client.connect(socket, { display: true });
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      // One client per device: a second connection is closed at once (ECONNRESET).
      const code = isSysError(err) || err instanceof VfioError ? err.code : 'error';
      fallback = code === 'ECONNRESET'
        ? `the device socket ${socket} refused the connection (another client holds the device)`
        : `the device socket ${socket} could not be used (${code})`;
      if (via === 'device') throw new Error(`Cannot take a screenshot of ${name}: ${fallback}.`);
    }
    if (client) {
      try {
        return { result: await screenshotClient(client), via: 'device-socket', name, socket };
      } finally {
        client.close();
      }
    }
  }
  const controlPath = controlPathOf(v);
  let c: ControlClient;
  try {
    c = await openControl(controlPath);
  } catch (err) {
    if (fallback === undefined) throw err;
    throw new Error(`Cannot take a screenshot of ${name}: ${fallback}, and no mdevsim server answers on ${controlPath}.`);
  }
  try {
    const r = await c.screenshot(name);
    const { name: shotName, ...result } = r;
    return { result, via: 'control-socket', name: shotName, socket: controlPath, ...(fallback !== undefined ? { fallback } : {}) };
  } finally {
    c.close();
  }
}

export const screenshot = defineCommand({
  name: 'screenshot',
  positionals: ['DEVICE'],
  summary: 'write what the device shows as a PNG',
  notes: [
    'DEVICE may also be the path of a device socket. With --via auto the',
    'device socket is tried first, then the control socket. Exits 1 when the',
    'device shows no picture (nothing is written).',
  ],
  options: {
    ...COMMON,
    output: { type: 'string', short: 'o', value: 'FILE.png', help: 'the PNG to write (required)' },
    via: { type: 'string', default: 'auto', value: 'auto|device|control', help: 'read the screen through the device socket or the control socket' },
    force: { type: 'boolean', default: false, help: 'replace an existing file of your own' },
  },
  async run(values, [device], io) {
    if (values.output === undefined) throw new UsageError('screenshot needs -o FILE.png.');
    const output = values.output;
    if (!['auto', 'device', 'control'].includes(values.via ?? 'auto')) throw new UsageError(`--via must be auto, device or control, not "${values.via}".`);
    const shot = await writingTo(output, values.force ?? false, async (file) => {
      const taken = await takeScreenshot(device!, values.via ?? 'auto', values);
      if (taken.result.state === 'plane') file.write(taken.result.png);
      return { commit: taken.result.state === 'plane', value: taken };
    });
    const { png, ...result } = shot.result;
    if (values.json) {
      io.out(JSON.stringify({ device: shot.name, via: shot.via, socket: shot.socket, ...(shot.fallback ? { fallback: shot.fallback } : {}), ...result, ...(result.state === 'plane' ? { file: output, bytes: png.length } : {}) }));
    } else if (result.state === 'plane') {
      io.out(`${shot.name}: ${result.width}x${result.height} ${result.format} written to ${output} (via the ${shot.via.replace('-', ' ')}${shot.fallback ? `, because ${shot.fallback}` : ''})`);
    }
    if (result.state !== 'plane') {
      io.err(`mdevsim: ${shot.name} shows no picture (${result.message ?? result.reason}), so nothing was written.\n`);
      return 1;
    }
    return 0;
  },
});
