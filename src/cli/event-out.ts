/**
 * How serve prints its own events on stdout (device, ready, connected, ...):
 * the human text; with --json today's JSON object a line; with --log-format
 * json that object with `time` and `level` first, so that stdout and the
 * stderr log lines (src/util/log.ts) share one timestamped shape.
 */
import { logTime, type LogFormat } from '../util/log.ts';

/** The part of ServeOptions that decides the shape of a line. */
export interface EventOutput {
  readonly json: boolean;
  /** 'json' implies json and adds `time` and `level`. @defaultValue 'human' */
  readonly logFormat?: LogFormat | undefined;
  readonly out: (line: string) => void;
}

/** A serve event: its stable name and its fields (undefined ones are left out, as JSON.stringify does). */
export interface ServeEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}

/** Print one event: `human` is its text for people (several lines when it holds newlines). */
export function printEvent(opts: EventOutput, fields: ServeEvent, human: string, level: 'info' | 'warn' = 'info'): void {
  if (opts.logFormat === 'json') opts.out(JSON.stringify({ time: logTime(), level, ...fields }));
  else if (opts.json) opts.out(JSON.stringify(fields));
  else opts.out(human);
}
