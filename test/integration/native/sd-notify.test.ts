/**
 * sd_notify against a real datagram receiver. The receiver is python3's
 * socket module rather than a receive path in our addon: serve never
 * receives datagrams, so the addon stays one send; and an independent
 * implementation checks our address encoding (an abstract name whose length
 * is off by one names another socket) and reads the credentials the kernel
 * attaches with SO_PASSCRED, which is what systemd checks for
 * NotifyAccess=main.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { native } from '../../../src/sys/addon.ts';
import {
  NOTIFY_MESSAGE_MAX, STATUS_MAX_BYTES, monotonicUsec, notifyReady, notifyReloading, notifyStatus, notifyStopping, sdNotify, statusLine,
} from '../../../src/sys/sd-notify.ts';
import { expectNoFdLeak } from '../../support/leak.ts';
import { systemTool } from '../../support/system-deps.ts';

const hasPython = systemTool('python3', ['-c', ''], 'sd_notify tests with a python3 datagram receiver');

const dir = mkdtempSync(join(tmpdir(), 'mdevsim-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const sockPath = (): string => join(dir, `n${seq++}.sock`);
const abstractName = (): string => `@mdevsim-test/${process.pid}/${randomBytes(6).toString('hex')}`;

/**
 * Binds argv[1] (a path, or '@' + an abstract name) as SOCK_DGRAM with
 * SO_PASSCRED, prints "bound", then one JSON line per datagram: its bytes,
 * the sender's pid/uid from SCM_CREDENTIALS and CLOCK_MONOTONIC (µs) read
 * after it arrived. With argv[2] == "hold" it reads nothing and waits for
 * stdin to close. The timeout is a backstop for a broken test, not a clock.
 */
const RECEIVER = String.raw`
import json, socket, struct, sys, time
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\0' + addr[1:] if addr.startswith('@') else addr)
print('bound', flush=True)
if sys.argv[2] == 'hold':
    sys.stdin.read()
    sys.exit(0)
s.settimeout(20)
while True:
    data, anc, flags, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    cred = None
    for level, kind, body in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            cred = struct.unpack('iII', body[:12])
    print(json.dumps({'hex': data.hex(), 'pid': cred and cred[0], 'uid': cred and cred[1], 'usec': now}), flush=True)
`;

interface Datagram {
  readonly text: string;
  readonly pid: number | null;
  readonly uid: number | null;
  /** The receiver's CLOCK_MONOTONIC, in µs, after the datagram arrived. */
  readonly usec: bigint;
}

interface Receiver {
  readonly address: string;
  next(): Promise<Datagram>;
  close(): void;
}

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill();
});

/** Start the python receiver on `address`; resolves once it is bound. */
async function receiver(address: string, mode: 'read' | 'hold' = 'read'): Promise<Receiver> {
  const child = spawn('python3', ['-c', RECEIVER, address, mode]);
  children.push(child);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const line = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done === true) throw new Error(`receiver exited: ${stderr}`);
    return r.value as string;
  };
  expect(await line()).toBe('bound');
  return {
    address,
    async next() {
      const j = JSON.parse(await line()) as { hex: string; pid: number | null; uid: number | null; usec: number };
      return { text: Buffer.from(j.hex, 'hex').toString('utf8'), pid: j.pid, uid: j.uid, usec: BigInt(j.usec) };
    },
    close: () => child.stdin.end(),
  };
}

const envFor = (address: string): NodeJS.ProcessEnv => ({ NOTIFY_SOCKET: address });

describe.skipIf(!hasPython)('sdNotify to a real AF_UNIX datagram socket', () => {
  it('notifyReady sends exactly READY=1 and STATUS=, with our pid as the credentials systemd checks', async () => {
    const r = await receiver(sockPath());
    expect(notifyReady('serving 2 device(s)', envFor(r.address))).toBe(true);
    const got = await r.next();
    expect(got.text).toBe('READY=1\nSTATUS=serving 2 device(s)');
    expect(got.pid).toBe(process.pid);
    expect(got.uid).toBe(process.getuid?.());
  });

  it('reaches an abstract name: a leading @ is a NUL and the address length is exact', async () => {
    const r = await receiver(abstractName());
    expect(notifyReady(undefined, envFor(r.address))).toBe(true);
    expect((await r.next()).text).toBe('READY=1');
    expect(notifyStopping(envFor(r.address))).toBe(true);
    expect((await r.next()).text).toBe('STOPPING=1');
  });

  it('notifyReloading stamps RELOADING=1 with CLOCK_MONOTONIC in µs, between our clock before sending and the receiver\'s after', async () => {
    const r = await receiver(sockPath());
    const before = monotonicUsec();
    expect(notifyReloading(envFor(r.address))).toBe(true);
    const got = await r.next();
    const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(got.text);
    expect(m, got.text).not.toBeNull();
    const stamped = BigInt(m![1]!);
    // python reads clock_gettime(CLOCK_MONOTONIC) itself: a different clock (REALTIME, BOOTTIME after a suspend) or unit falls outside.
    expect(stamped).toBeGreaterThanOrEqual(before);
    expect(stamped).toBeLessThanOrEqual(got.usec);
  });

  it('a status is one line: newlines, carriage returns and NULs cannot smuggle in another assignment', async () => {
    const r = await receiver(sockPath());
    expect(notifyStatus('vm1\nMAINPID=1\r\0READY=1', envFor(r.address))).toBe(true);
    expect((await r.next()).text).toBe('STATUS=vm1 MAINPID=1 READY=1');
  });

  it('sends any state string as given, UTF-8 encoded', async () => {
    const r = await receiver(abstractName());
    expect(sdNotify('STATUS=écran 1\nERRNO=0', envFor(r.address))).toBe(true);
    expect((await r.next()).text).toBe('STATUS=écran 1\nERRNO=0');
  });

  it('a burst larger than the receiver\'s queue waits for room instead of losing datagrams, and opens no fd it does not close', async () => {
    const r = await receiver(sockPath());
    await expectNoFdLeak(async () => {
      // More than net.unix.max_dgram_qlen (10 by default) before the receiver reads any.
      for (let i = 0; i < 40; i++) expect(notifyStatus(`step ${i}`, envFor(r.address))).toBe(true);
      for (let i = 0; i < 40; i++) expect((await r.next()).text).toBe(`STATUS=step ${i}`);
      const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        expect(sdNotify('READY=1', envFor(join(dir, 'missing.sock')))).toBe(false);
      } finally {
        quiet.mockRestore();
      }
    });
  });

  it(`a receiver that stopped reading makes it return false after NOTIFY_SEND_TIMEOUT_MS, not hang`, async () => {
    const r = await receiver(sockPath(), 'hold');
    // The kernel queues net.unix.max_dgram_qlen datagrams (10 by default; systemd raises it to 512), then makes senders wait.
    let sent = 0;
    let result = true;
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      while (result && sent < 100_000) {
        result = notifyStatus(`flood ${sent}`, envFor(r.address));
        if (result) sent++;
      }
    } finally {
      quiet.mockRestore();
    }
    expect(result).toBe(false);
    expect(sent).toBeGreaterThan(0);
    expect(native.sendDatagram(r.address, Buffer.from('STATUS=x'), 0)).toBe(-1);
    r.close();
  });
});

describe('sdNotify without a usable $NOTIFY_SOCKET', () => {
  it('does nothing and returns false when NOTIFY_SOCKET is unset or empty (not under systemd)', () => {
    const write = vi.spyOn(process.stderr, 'write');
    try {
      expect(sdNotify('READY=1', {})).toBe(false);
      expect(notifyReady('x', { NOTIFY_SOCKET: '' })).toBe(false);
      expect(notifyReloading({})).toBe(false);
      expect(notifyStatus('x', {})).toBe(false);
      expect(notifyStopping({})).toBe(false);
      expect(write).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
    }
  });

  it('returns false without throwing for a socket that does not exist, and warns once per address', () => {
    const missing = join(dir, 'nowhere', 'notify.sock');
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      expect(notifyReady('x', envFor(missing))).toBe(false);
      expect(notifyStatus('y', envFor(missing))).toBe(false);
      expect(notifyStopping(envFor(missing))).toBe(false);
    } finally {
      write.mockRestore();
    }
    const warnings = lines.filter((l) => l.includes(' warn: '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`cannot notify the service manager at ${missing}: ENOENT`);
  });

  it('returns false for what is not a datagram socket: a stream socket, a regular file, a directory', async () => {
    const stream = sockPath();
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(stream, resolve));
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(sdNotify('READY=1', envFor(stream))).toBe(false);
      expect(sdNotify('READY=1', envFor(file))).toBe(false);
      expect(sdNotify('READY=1', envFor(dir))).toBe(false);
    } finally {
      quiet.mockRestore();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses addresses systemd would not give a local process: relative, vsock:, a bare @, longer than 107 bytes', () => {
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      for (const address of ['notify.sock', 'vsock:2:1234', '@', `/${'x'.repeat(107)}`, `@${'x'.repeat(107)}`]) {
        expect(sdNotify('READY=1', envFor(address)), address).toBe(false);
      }
      // 107 bytes is still an address (nothing listens there).
      expect(() => native.sendDatagram(`@${'x'.repeat(106)}`, Buffer.from('READY=1'), 0)).toThrow(/ECONNREFUSED/);
      expect(() => native.sendDatagram(`@${'x'.repeat(107)}`, Buffer.from('READY=1'), 0)).toThrow(/ENAMETOOLONG/);
    } finally {
      quiet.mockRestore();
    }
  });

  it('refuses a message systemd would drop: empty, with a NUL, longer than NOTIFY_BUFFER_MAX', () => {
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const address = abstractName();
      expect(sdNotify('', envFor(address))).toBe(false);
      expect(sdNotify('READY=1\0', envFor(address))).toBe(false);
      expect(sdNotify(`STATUS=${'x'.repeat(NOTIFY_MESSAGE_MAX)}`, envFor(address))).toBe(false);
    } finally {
      quiet.mockRestore();
    }
  });
});

describe('statusLine', () => {
  it('cuts a long status to STATUS_MAX_BYTES of UTF-8 between characters', () => {
    const long = 'é'.repeat(STATUS_MAX_BYTES); // 2 bytes each
    const cut = statusLine(long);
    expect(Buffer.byteLength(cut)).toBe(STATUS_MAX_BYTES);
    expect(cut).toBe('é'.repeat(STATUS_MAX_BYTES / 2));
    expect(statusLine('a\r\n\nb')).toBe('a b');
    // A whole READY=1 + status message fits what systemd accepts.
    expect(Buffer.byteLength(`READY=1\nSTATUS=${statusLine('x'.repeat(10_000))}`)).toBeLessThanOrEqual(NOTIFY_MESSAGE_MAX);
  });
});

describe('native.sendDatagram argument contract', () => {
  it('names the function and parameter it rejects', () => {
    expect(() => native.sendDatagram(5 as unknown as string, new Uint8Array(1), 0)).toThrow(/sendDatagram: argument 'address' must be a string/);
    expect(() => native.sendDatagram('', new Uint8Array(1), 0)).toThrow(RangeError);
    expect(() => native.sendDatagram('/x', 'READY=1' as unknown as Uint8Array, 0)).toThrow(/sendDatagram: argument 'data' must be a Uint8Array/);
    expect(() => native.sendDatagram('/x', new Uint8Array(1), 60_001)).toThrow(/sendDatagram: argument 'timeoutMs' must be an integer in \[0, 60000\]/);
  });

  it('a syscall failure is an Error with code, errno, syscall and path', () => {
    const path = join(dir, 'absent.sock');
    let caught: unknown;
    try {
      native.sendDatagram(path, new Uint8Array([1]), 100);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'sendto', path });
  });
});
