/**
 * Category logger, quiet by default. MDEVSIM_LOG=pci,vfio-user (or "*") turns
 * categories' debug and info lines on; warnings and errors always go out.
 *
 * One process-wide format, set once at startup (serve --log-format):
 * 'human' prints `mdevsim <category> <level>: <message>` lines, 'json' one
 * object a line, `{"time","level","category","msg"}` plus the fields of an
 * event. Events (a stable name and fields, e.g. every refused connection) are
 * at most EVENT_BURST lines per EVENT_WINDOW_MS each: a peer that hammers a
 * refusal cannot turn our stderr into its amplifier (docs/management.md "Logs").
 *
 * Our own formatter, not pino: a line is one JSON.stringify, and pino would
 * bring 13 packages (some 430 files, 1.2 MB) for it.
 */
export type LogCategory = 'pci' | 'vfio' | 'vfio-user' | 'device' | 'native' | 'mgmt' | 'display' | 'vnc' | 'fuzz' | 'cli';

export type LogFormat = 'human' | 'json';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What a field may hold: JSON, so that every line serialises. */
export type LogValue = string | number | boolean | null | readonly LogValue[] | { readonly [key: string]: LogValue };

export type LogFields = Readonly<Record<string, LogValue>>;

export interface LogFormatOptions {
  /** The time each line carries. @defaultValue `() => new Date()` */
  readonly clock?: () => Date;
  /** Where each line goes, without its newline. @defaultValue stderr */
  readonly sink?: (line: string) => void;
  /** The categories to open, as MDEVSIM_LOG spells them (tests). @defaultValue the environment's MDEVSIM_LOG */
  readonly categories?: string;
}

/** Lines of one event in one window; the rest are counted and reported with the next line that goes out. */
export const EVENT_BURST = 20;
export const EVENT_WINDOW_MS = 10_000;

/** Fields a line has before an event's own; an event field of the same name is left out rather than overwrite them. */
const CORE = new Set(['time', 'level', 'category', 'event', 'security', 'msg']);

const stderrSink = (line: string): void => void process.stderr.write(`${line}\n`);

interface State {
  format: LogFormat;
  clock: () => Date;
  sink: (line: string) => void;
  enabled: ReadonlySet<string>;
}

const state: State = { format: 'human', clock: () => new Date(), sink: stderrSink, enabled: categorySet(process.env['MDEVSIM_LOG']) };

interface Window {
  start: number;
  lines: number;
  suppressed: number;
}
const windows = new Map<string, Window>();

function categorySet(text: string | undefined): ReadonlySet<string> {
  return new Set((text ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

/**
 * Choose the format of every logger line, once at startup before anything
 * logs (a later call replaces it whole: tests). The options default as
 * documented on LogFormatOptions, whatever an earlier call set.
 */
export function setLogFormat(format: LogFormat, opts: LogFormatOptions = {}): void {
  state.format = format;
  state.clock = opts.clock ?? (() => new Date());
  state.sink = opts.sink ?? stderrSink;
  state.enabled = categorySet(opts.categories ?? process.env['MDEVSIM_LOG']);
  windows.clear();
}

/** The format setLogFormat chose ('human' until it is called). */
export function logFormat(): LogFormat {
  return state.format;
}

/** Now, as JSON lines carry it: ISO 8601 UTC with milliseconds, from the clock setLogFormat was given. */
export function logTime(): string {
  return state.clock().toISOString();
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /**
   * A named event: in json mode `event` and `fields` join the line, in human
   * mode only the message is printed. `event` is a stable name consumers
   * match on (docs/management.md "Logs"); it is rate-limited per name.
   * A `security: true` field marks a security event.
   */
  event(level: LogLevel, event: string, message: string, fields?: LogFields): void;
  /** A security event (a refused connection, a failed authentication, an untrusted path): a warn event with `"security": true`. */
  security(event: string, message: string, fields?: LogFields): void;
}

export function logger(category: LogCategory): Logger {
  const on = (level: LogLevel): boolean => level === 'warn' || level === 'error' || state.enabled.has('*') || state.enabled.has(category);
  const line = (level: LogLevel, message: string): void => {
    if (on(level)) emit(category, level, message);
  };
  const event = (level: LogLevel, name: string, message: string, fields?: LogFields): void => {
    if (!on(level)) return;
    const suppressed = admit(`${category}\0${name}`);
    if (suppressed === undefined) return;
    const extra = suppressed > 0 ? { ...fields, suppressed } : fields;
    const text = suppressed > 0 ? `${message} (${suppressed} more like this were not logged)` : message;
    emit(category, level, text, name, extra);
  };
  return {
    debug: (m) => line('debug', m),
    info: (m) => line('info', m),
    warn: (m) => line('warn', m),
    error: (m) => line('error', m),
    event,
    security: (name, m, fields) => event('warn', name, m, { ...fields, security: true }),
  };
}

/** undefined: over the burst, not logged; else how many were left out since the last line of this event. */
function admit(key: string): number | undefined {
  const now = state.clock().getTime();
  let w = windows.get(key);
  if (w === undefined || now - w.start >= EVENT_WINDOW_MS || now < w.start) {
    const suppressed = w?.suppressed ?? 0;
    w = { start: now, lines: 0, suppressed };
    windows.set(key, w);
  }
  if (w.lines >= EVENT_BURST) {
    w.suppressed++;
    return undefined;
  }
  w.lines++;
  const suppressed = w.suppressed;
  w.suppressed = 0;
  return suppressed;
}

function emit(category: LogCategory, level: LogLevel, message: string, event?: string, fields?: LogFields): void {
  if (state.format === 'human') {
    state.sink(`mdevsim ${category} ${level}: ${message}`);
    return;
  }
  const o: Record<string, LogValue> = { time: logTime(), level, category };
  if (event !== undefined) o['event'] = event;
  // Next to the event's name, where a reader looks first.
  if (fields?.['security'] === true) o['security'] = true;
  o['msg'] = message;
  if (fields) for (const [k, v] of Object.entries(fields)) if (!CORE.has(k)) o[k] = v;
  state.sink(JSON.stringify(o));
}
