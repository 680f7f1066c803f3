/**
 * The category logger in both formats, with an injected clock and sink:
 * exact lines, level gating by MDEVSIM_LOG, event fields, the per-event
 * rate limit, and serve's stdout events (src/cli/event-out.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EVENT_BURST, EVENT_WINDOW_MS, logFormat, logger, logTime, setLogFormat, type LogFormat } from '../../../src/util/log.ts';
import { printEvent } from '../../../src/cli/event-out.ts';
import { logFailure, wantsJsonLog } from '../../../src/cli/run.ts';
import { ConfigError, TrustError } from '../../../src/util/errors.ts';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 6);
const TIME = '2025-01-02T03:04:05.006Z';

/** The format set with a clock at T0 + `at.ms` and a sink that collects the lines. */
function capture(format: LogFormat, categories = ''): { lines: string[]; at: { ms: number } } {
  const lines: string[] = [];
  const at = { ms: 0 };
  setLogFormat(format, { clock: () => new Date(T0 + at.ms), sink: (l) => lines.push(l), categories });
  return { lines, at };
}

afterEach(() => setLogFormat('human'));

describe('human format', () => {
  it('prints the lines it always printed; an event prints its message only', () => {
    const { lines } = capture('human', 'vnc');
    const log = logger('vnc');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    log.security('vnc-auth-failed', 'peer: VNC authentication failed', { peer: 'peer' });
    log.event('info', 'x', 'an event', { n: 1 });
    expect(lines).toEqual([
      'mdevsim vnc debug: d',
      'mdevsim vnc info: i',
      'mdevsim vnc warn: w',
      'mdevsim vnc error: e',
      'mdevsim vnc warn: peer: VNC authentication failed',
      'mdevsim vnc info: an event',
    ]);
  });
});

describe('json format', () => {
  it('one object a line: time (ISO 8601 UTC, ms), level, category, msg', () => {
    const { lines } = capture('json', 'mgmt');
    const log = logger('mgmt');
    log.info('hello');
    log.error('two\nlines');
    expect(lines).toEqual([
      `{"time":"${TIME}","level":"info","category":"mgmt","msg":"hello"}`,
      `{"time":"${TIME}","level":"error","category":"mgmt","msg":"two\\nlines"}`,
    ]);
  });

  it('an event adds its name, then security, then its fields; fields cannot overwrite the core keys', () => {
    const { lines } = capture('json');
    const log = logger('vnc');
    log.security('vnc-auth-failed', 'm vnc 127.0.0.1:5: VNC authentication failed', { peer: 'm vnc 127.0.0.1:5', time: 'forged', msg: 'forged' });
    log.event('warn', 'client-refused', 'refusing', { name: 'a', nested: { list: [1, null, true] } });
    expect(lines).toEqual([
      `{"time":"${TIME}","level":"warn","category":"vnc","event":"vnc-auth-failed","security":true,"msg":"m vnc 127.0.0.1:5: VNC authentication failed","peer":"m vnc 127.0.0.1:5"}`,
      `{"time":"${TIME}","level":"warn","category":"vnc","event":"client-refused","msg":"refusing","name":"a","nested":{"list":[1,null,true]}}`,
    ]);
  });

  it('logTime and the lines follow the injected clock', () => {
    const { lines, at } = capture('json');
    at.ms = 1994;
    expect(logTime()).toBe('2025-01-02T03:04:07.000Z');
    logger('pci').warn('w');
    expect(JSON.parse(lines[0]!)).toEqual({ time: '2025-01-02T03:04:07.000Z', level: 'warn', category: 'pci', msg: 'w' });
  });

  // Invariant: whatever the message and field text, a json line is one line that parses back to them.
  it('any message and field value is one line that parses back to itself', () => {
    const { lines } = capture('json');
    const log = logger('vnc');
    let run = 0; // a name per run: the rate limit is not what this tests
    fc.assert(fc.property(fc.string(), fc.string(), (message, value) => {
      lines.length = 0;
      log.event('error', `e${run++}`, message, { value });
      log.error(message);
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(l).not.toMatch(/[\n\r]/);
      expect(JSON.parse(lines[0]!)).toMatchObject({ msg: message, value });
      expect(JSON.parse(lines[1]!)).toMatchObject({ msg: message });
    }));
  });
});

describe('MDEVSIM_LOG gating', () => {
  for (const format of ['human', 'json'] as const) {
    it(`${format}: debug and info only for the categories named (or *); warn and error always`, () => {
      const { lines } = capture(format, 'vnc, pci');
      for (const c of ['vnc', 'pci', 'mgmt'] as const) {
        const log = logger(c);
        log.debug(`${c} d`);
        log.info(`${c} i`);
        log.event('info', 'e', `${c} event`);
        log.warn(`${c} w`);
        log.error(`${c} e`);
      }
      const said = lines.map((l) => (format === 'json' ? (JSON.parse(l) as { msg: string }).msg : l.replace(/^.*?: /, '')));
      expect(said).toEqual([
        'vnc d', 'vnc i', 'vnc event', 'vnc w', 'vnc e',
        'pci d', 'pci i', 'pci event', 'pci w', 'pci e',
        'mgmt w', 'mgmt e',
      ]);
      lines.length = 0;
      setLogFormat(format, { sink: (l) => lines.push(l), categories: '*' });
      logger('fuzz').debug('any');
      expect(lines).toHaveLength(1);
    });
  }

  it('a logger made before setLogFormat follows it (loggers are module constants)', () => {
    const early = logger('display');
    const { lines } = capture('json', 'display');
    early.info('late');
    expect(JSON.parse(lines[0]!)).toMatchObject({ category: 'display', msg: 'late' });
    expect(logFormat()).toBe('json');
  });
});

describe('event rate limit', () => {
  it(`at most ${EVENT_BURST} lines of one event per ${EVENT_WINDOW_MS} ms; the next line after says how many were left out`, () => {
    const { lines, at } = capture('json');
    const log = logger('vnc');
    for (let i = 0; i < EVENT_BURST + 5; i++) log.security('web-view-bad-token', `try ${i}`);
    log.security('web-view-bad-origin', 'another event has its own budget');
    expect(lines).toHaveLength(EVENT_BURST + 1);
    at.ms = EVENT_WINDOW_MS;
    log.security('web-view-bad-token', 'later');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ event: 'web-view-bad-token', security: true, msg: 'later (5 more like this were not logged)', suppressed: 5 });
    log.security('web-view-bad-token', 'again');
    expect(JSON.parse(lines.at(-1)!)).not.toHaveProperty('suppressed');
  });

  it('plain lines are not limited', () => {
    const { lines } = capture('human');
    for (let i = 0; i < EVENT_BURST * 2; i++) logger('vnc').warn('w');
    expect(lines).toHaveLength(EVENT_BURST * 2);
  });
});

describe('serve events on stdout (printEvent)', () => {
  const fields = { event: 'disconnected', name: 'a', device: 'a', reason: 'peer end', requests: 3, missing: undefined };
  function print(json: boolean, format: LogFormat | undefined): string[] {
    const out: string[] = [];
    capture('human');
    printEvent({ json, logFormat: format, out: (l) => out.push(l) }, fields, 'a: client disconnected (peer end; 3 requests)');
    return out;
  }

  it('human: the text; --json: the object as before; --log-format json: time and level first', () => {
    expect(print(false, undefined)).toEqual(['a: client disconnected (peer end; 3 requests)']);
    expect(print(true, 'human')).toEqual(['{"event":"disconnected","name":"a","device":"a","reason":"peer end","requests":3}']);
    const timed = `{"time":"${TIME}","level":"info","event":"disconnected","name":"a","device":"a","reason":"peer end","requests":3}`;
    expect(print(false, 'json')).toEqual([timed]);
    expect(print(true, 'json')).toEqual([timed]);
  });

  it('a warning event says level warn with --log-format json, and has no level with --json', () => {
    const out: string[] = [];
    capture('human');
    const w = { event: 'reload-failed', message: 'm' };
    printEvent({ json: true, logFormat: 'json', out: (l) => out.push(l) }, w, 'm', 'warn');
    printEvent({ json: true, out: (l) => out.push(l) }, w, 'm', 'warn');
    expect(out).toEqual([`{"time":"${TIME}","level":"warn","event":"reload-failed","message":"m"}`, '{"event":"reload-failed","message":"m"}']);
  });
});

describe('the final error with JSON logs', () => {
  it('serve --log-format json is seen in argv even before serve set the format', () => {
    expect(wantsJsonLog(['serve', '--log-format', 'json'])).toBe(true);
    expect(wantsJsonLog(['serve', '--log-format=json'])).toBe(true);
    expect(wantsJsonLog(['serve', '--json'])).toBe(false);
    expect(wantsJsonLog(['serve', '--log-format', 'human'])).toBe(false);
  });

  it('is one log line carrying the --json error object; an untrusted path is a security event', () => {
    const { lines } = capture('json');
    const error = { code: 'ECONFIG', message: 'Socket directory /tmp/x is writable by group or others (mode 0777); run chmod 700 /tmp/x or choose another with --dir.', exit: 2 };
    logFailure(new TrustError(error.message), error);
    logFailure(new ConfigError('No.'), { code: 'ECONFIG', message: 'No.', exit: 2 });
    expect(lines).toEqual([
      JSON.stringify({ time: TIME, level: 'error', category: 'cli', event: 'untrusted-path', security: true, msg: error.message, error }),
      JSON.stringify({ time: TIME, level: 'error', category: 'cli', event: 'command-failed', msg: 'No.', error: { code: 'ECONFIG', message: 'No.', exit: 2 } }),
    ]);
  });
});
