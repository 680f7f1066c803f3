/**
 * Where serve puts its sockets, and the default devices: what every CLI
 * command needs, without loading the device models.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export const DEFAULT_DEVICES = ['mbochs-medium', 'mdpy-xga'];

/** File name of the control socket in the socket directory (a device may not be named "control"). */
export const CONTROL_SOCKET_NAME = 'control.sock';

export function defaultSocketDir(): string {
  const runtime = process.env['XDG_RUNTIME_DIR'];
  return runtime ? join(runtime, 'mdevsim') : join('/tmp', `mdevsim-${process.getuid?.() ?? 'user'}`);
}

/** Where definitions live: $XDG_CONFIG_HOME/mdevsim, else ~/.config/mdevsim (the system unit passes /etc/mdevsim). */
export function defaultConfigDir(): string {
  const config = process.env['XDG_CONFIG_HOME'];
  if (config) return join(config, 'mdevsim');
  return join(process.env['HOME'] ?? homedir(), '.config', 'mdevsim');
}

/** The control socket path of a socket directory. */
export function controlSocketPath(dir: string): string {
  return join(dir, CONTROL_SOCKET_NAME);
}

/** How long SIGINT/SIGTERM waits for clients to take their queued replies before dropping them. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 2000;
