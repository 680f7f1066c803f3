/**
 * Dispatch over the command table: `mdevsim <command> [options]`, each
 * command's `--help`, and the top-level usage generated from the table.
 */
import { commandUsage, parseCommand, topUsage, UsageError, type Io } from './command.ts';
import { COMMANDS, findCommand } from './commands/index.ts';
import { controlSocketPath, defaultSocketDir } from './paths.ts';
import { ConfigError, TrustError } from '../util/errors.ts';
import { logFormat, logger, setLogFormat } from '../util/log.ts';
import { packageVersion } from '../util/package-root.ts';

export function usage(): string {
  return topUsage(COMMANDS, [
    'DEVICE is a device name or UUID. Every command but serve takes --json, and',
    '--control PATH or --dir DIR to find the control socket (default:',
    `${controlSocketPath(defaultSocketDir())}). -o and --record never write through`,
    'a symbolic link or over an existing file; --force replaces one of your own.',
    'The socket directory must be yours and writable by you alone.',
  ]);
}

function unknown(name: string): UsageError {
  return new UsageError(`unknown command "${name}"; run "mdevsim help" for the list.`);
}

/** Runs one command line: the exit code, or -1 when the command keeps running (serve). */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    io.out(packageVersion());
    return 0;
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const about = name === 'help' ? rest[0] : undefined;
    if (about === undefined) {
      io.out(usage().trimEnd());
      return 0;
    }
    const command = findCommand(about);
    if (command === undefined) throw unknown(about);
    io.out(commandUsage(command).trimEnd());
    return 0;
  }
  const command = findCommand(name);
  if (command === undefined) throw unknown(name);
  const parsed = parseCommand(command, rest);
  if (parsed.help) {
    io.out(commandUsage(command).trimEnd());
    return 0;
  }
  return command.run(parsed.values, parsed.positionals, io);
}

/** 2 for a command line that cannot work, else the command's own failure code (1 unless it says). */
export function failureExitCode(err: unknown, argv: readonly string[]): number {
  if (err instanceof UsageError || err instanceof ConfigError) return 2;
  return (argv[0] !== undefined ? findCommand(argv[0])?.failureExit : undefined) ?? 1;
}

export function sentence(message: string): string {
  const m = message.trim();
  return /[.!?]$/.test(m) ? m : `${m}.`;
}

/** The errno-style code of an error for --json output ('EUSAGE' for a command line that cannot work). */
export function errorCode(err: unknown): string {
  if (err instanceof UsageError) return 'EUSAGE';
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof ConfigError ? 'EINVAL' : 'EIO';
}

/** What --json prints for a failure, and JSON logs carry as their `error` field. */
export interface FailureReport {
  readonly code: string;
  readonly message: string;
  readonly exit: number;
}

/** serve --log-format json, also when the command line failed before serve could set the format. */
export function wantsJsonLog(argv: readonly string[]): boolean {
  if (logFormat() === 'json') return true;
  return argv.some((a, i) => a === '--log-format=json' || (a === '--log-format' && argv[i + 1] === 'json'));
}

/** The failure as one JSON log line (stderr): an untrusted path is a security event. */
export function logFailure(err: unknown, error: FailureReport): void {
  if (logFormat() !== 'json') setLogFormat('json');
  const trust = err instanceof TrustError;
  logger('cli').event('error', trust ? 'untrusted-path' : 'command-failed', error.message, { ...(trust ? { security: true } : {}), error: { ...error } });
}
