/**
 * Who may connect to a socket mdevsim listens on. By default only the
 * serving user (mode 0600 in a 0700 directory); with a group, the VMM's user
 * (libvirt runs QEMU as libvirt-qemu, in group kvm) connects as a member of
 * it: the socket gets that group and mode 0660, and every directory on the
 * way must let the group through (search permission). The directory rules
 * themselves stay strict: ours, and no group or other write.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../util/errors.ts';

export interface SocketAccess {
  /** The socket file's mode: 0600 (owner only) or, with a group, 0660 (or 0620). */
  readonly mode: number;
  /** The socket file's group; undefined keeps the serving user's. */
  readonly gid?: number | undefined;
}

export const OWNER_ONLY: SocketAccess = Object.freeze({ mode: 0o600 });

/** The listen() options for an access. */
export function socketAccessOptions(access: SocketAccess | undefined): { mode: number; gid?: number } {
  const a = access ?? OWNER_ONLY;
  return a.gid === undefined ? { mode: a.mode } : { mode: a.mode, gid: a.gid };
}

/**
 * A socket mode as given on the command line or in a definition ("0660").
 * Only read and write bits for owner and group: a socket no one else may
 * reach, and no execute or special bits.
 * @throws ConfigError for anything else.
 */
export function parseSocketMode(text: string, where = '--socket-mode'): number {
  if (!/^0?[0-7]{3}$/.test(text)) throw new ConfigError(`${where} must be an octal mode such as 0600 or 0660, not ${JSON.stringify(text)}.`);
  const mode = parseInt(text, 8);
  if ((mode & 0o600) !== 0o600) throw new ConfigError(`${where} ${text} must give the owner read and write (0600 at least).`);
  if ((mode & ~0o660) !== 0) throw new ConfigError(`${where} ${text} may grant read and write to the owner and the group only (at most 0660).`);
  return mode;
}

/**
 * A group name or number as a gid: numbers as they are, names through
 * `getent group` (which sees NSS groups, LDAP included) or /etc/group.
 * @throws ConfigError for an unknown group.
 */
export function resolveGroup(group: string, where = '--socket-group'): number {
  if (/^\d+$/.test(group)) {
    const gid = Number(group);
    if (gid > 0xfffffffe) throw new ConfigError(`${where} ${group} is not a valid group id.`);
    return gid;
  }
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/.test(group)) throw new ConfigError(`${where} ${JSON.stringify(group)} is not a group name.`);
  let line: string | undefined;
  try {
    line = execFileSync('getent', ['group', group], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).split('\n')[0];
  } catch {
    try {
      line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`));
    } catch { /* no /etc/group: unknown below */ }
  }
  const gid = line?.split(':')[2];
  if (gid === undefined || !/^\d+$/.test(gid)) throw new ConfigError(`${where} ${group}: no such group.`);
  return Number(gid);
}

/**
 * Whether members of group `gid` can reach `dir`: every directory from the
 * root to it must grant them search permission (x), as its group or as
 * others. $XDG_RUNTIME_DIR (/run/user/UID, mode 0700) fails here.
 * @throws ConfigError naming the first directory in the way and the fix.
 */
export function checkGroupCanReach(dir: string, gid: number, group: string): void {
  const path = resolve(dir);
  const chain: string[] = [];
  for (let d = path; ; d = dirname(d)) {
    chain.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of chain) {
    let st;
    try {
      st = statSync(d);
    } catch {
      continue; // created later with the right mode
    }
    const through = (st.mode & 0o001) !== 0 || ((st.mode & 0o010) !== 0 && st.gid === gid);
    if (!through) {
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      throw new ConfigError(
        `Group ${group} cannot reach sockets in ${path}: ${d} (mode ${mode}, group ${st.gid}) does not let it through; ` +
        `serve from a directory such as /run/mdevsim (the system unit's RuntimeDirectory=mdevsim, mode 0750, group ${group}), or pass another --dir.`,
      );
    }
  }
}
