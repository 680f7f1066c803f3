/**
 * The shape of a CLI command: one row of the command table
 * (src/cli/commands/index.ts). A row's options feed both node:util
 * parseArgs and the help text, so `--help` cannot drift from what the
 * command accepts.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that cannot work: exit 2. */
export class UsageError extends Error {}

type ParseArgsOption = NonNullable<ParseArgsConfig['options']>[string];

export interface OptionSpec extends ParseArgsOption {
  /** One line for the help text. */
  readonly help: string;
  /** The value's placeholder in the help text (string options), e.g. "WxH". */
  readonly value?: string;
  /**
   * A string option given bare (last, or followed by another option) takes
   * this value: `serve --vnc` is `--vnc unix`, `--vnc 127.0.0.1:0` TCP.
   */
  readonly ifBare?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type Parsed<O extends OptionSpecs> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

export interface Io {
  /** One line of the command's output (stdout). */
  out(line: string): void;
  /** A diagnostic that is not the command's failure (stderr); the text carries its own newline. */
  err(text: string): void;
}

export interface Command<O extends OptionSpecs = OptionSpecs> {
  readonly name: string;
  /** Placeholders of the positional arguments, e.g. ["DEVICE", "FILE"]; their count is enforced ("[TYPE]": optional, last). */
  readonly positionals: readonly string[];
  /** One line in the top-level usage. */
  readonly summary: string;
  /** Lines after the options in `--help`. */
  readonly notes?: readonly string[];
  readonly options: O;
  /** The exit code of any failure: serve has always exited 2 for any startup failure. */
  readonly failureExit?: number;
  /** The exit code, or -1 when the command keeps the process running. */
  run(values: Parsed<O>['values'], positionals: string[], io: Io): Promise<number>;
}

/** Type-checks a row against its own options and erases them, so rows of different options share one table. */
export function defineCommand<const O extends OptionSpecs>(command: Command<O>): Command {
  return command as unknown as Command;
}

const HELP = { help: { type: 'boolean', short: 'h', help: 'print this help and exit' } } as const satisfies OptionSpecs;

export type Outcome =
  | { readonly help: true }
  | { readonly help: false; readonly values: Record<string, string | boolean | (string | boolean)[] | undefined>; readonly positionals: string[] };

/** Parse a command's arguments; `--help` wins over a wrong count of positionals. */
export function parseCommand(command: Command, args: string[]): Outcome {
  let parsed;
  try {
    parsed = parseArgs({ args: bareValues(command.options, args), options: { ...command.options, ...HELP }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(parseArgsSentence(command.name, err));
  }
  const { help, ...values } = parsed.values;
  if (help === true) return { help: true };
  const want = command.positionals;
  // "[TYPE]" is optional; optional ones come last.
  const required = want.filter((p) => !p.startsWith('[')).length;
  if (parsed.positionals.length < required || parsed.positionals.length > want.length) {
    const takes = want.length === 0 ? 'takes no arguments' : `takes ${want.join(' ')}`;
    const got = parsed.positionals.length === 0 ? 'nothing' : `"${parsed.positionals.join(' ')}"`;
    throw new UsageError(`${command.name} ${takes}, not ${got} (see "mdevsim help")`);
  }
  return { help: false, values, positionals: parsed.positionals };
}

/** node:util's parse errors in our own words (its text quotes unevenly and suggests `--` tricks). */
/** `--name` without a value → `--name=<ifBare>` for options that have one; nothing after `--` changes. */
function bareValues(options: OptionSpecs, args: string[]): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--') break;
    const spec = a.startsWith('--') ? options[a.slice(2)] : undefined;
    if (spec?.ifBare === undefined) continue;
    const next = out[i + 1];
    if (next === undefined || next.startsWith('-')) out[i] = `${a}=${spec.ifBare}`;
  }
  return out;
}

function parseArgsSentence(name: string, err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const option = /'(-{1,2}[^' ]+)'/.exec(message)?.[1] ?? /(-{1,2}[A-Za-z][\w-]*)/.exec(message)?.[1] ?? 'an option';
  const help = `run "mdevsim ${name} --help" for its options`;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `${name} has no option ${option}; ${help}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return `${option} of ${name} ${/argument missing/.test(message) ? 'needs a value' : 'takes no value'}; ${help}`;
  return `${name}: cannot read the options (${message.split('\n')[0]!.replace(/['"]/g, '')}); ${help}`;
}

function synopsis(command: Command): string {
  return [command.name, ...command.positionals].join(' ');
}

function optionLabel(name: string, o: OptionSpec): string {
  const flag = `${o.short !== undefined ? `-${o.short}, ` : ''}--${name}`;
  return o.type === 'string' ? `${flag} ${o.value ?? 'VALUE'}` : flag;
}

function optionHelp(o: OptionSpec): string {
  const shown = o.default === undefined || typeof o.default === 'boolean' ? '' : ` (default: ${String(o.default)})`;
  return `${o.help}${o.multiple ? ' (repeatable)' : ''}${shown}`;
}

function columns(rows: readonly (readonly [string, string])[], indent: string): string[] {
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}${right}`.trimEnd());
}

/** `mdevsim <command> --help`. */
export function commandUsage(command: Command): string {
  const options = { ...command.options, ...HELP } as OptionSpecs;
  const lines = [
    `usage: mdevsim ${synopsis(command)} [options]`,
    '',
    command.summary,
    '',
    'options:',
    ...columns(Object.entries(options).map(([name, o]) => [optionLabel(name, o), optionHelp(o)] as const), '  '),
  ];
  if (command.notes !== undefined) lines.push('', ...command.notes);
  return lines.join('\n') + '\n';
}

/** `mdevsim help`: every command of the table with its summary. */
export function topUsage(commands: readonly Command[], notes: readonly string[]): string {
  return [
    'usage: mdevsim <command> [options]',
    '',
    'commands:',
    ...columns(commands.map((c) => [synopsis(c), c.summary] as const), '  '),
    '',
    '"mdevsim <command> --help" (or "mdevsim help <command>") lists its options.',
    '',
    ...notes,
  ].join('\n') + '\n';
}
