/**
 * A real VNC client against our VNC Authentication: vncsnapshot (Debian
 * package vncsnapshot, TightVNC/RealVNC 3.3.7 code with the original d3des)
 * connects to a minimal RFB server in this file, which speaks only the
 * handshake (RFC 6143 §7.1.1–7.1.3: version, security type 2, challenge,
 * response, SecurityResult) and checks the response with
 * checkVncAuthResponse. The client reads its password from a file written by
 * vncPasswdFile, so that format is checked too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { desEncryptBlock } from '../../../src/vnc/des.ts';
import { checkVncAuthResponse, newVncChallenge, vncAuthResponse, vncPasswdFile } from '../../../src/vnc/vnc-auth.ts';
import { systemTool } from '../../support/system-deps.ts';

const haveVncsnapshot = systemTool('vncsnapshot', ['-help'], 'the vncsnapshot VNC-auth test');

const dir = mkdtempSync(join(tmpdir(), 'mdevsim-vncauth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the server saw of one client's authentication. */
interface Handshake {
  readonly version: string;
  readonly challenge: Uint8Array;
  readonly response: Uint8Array;
  readonly accepted: boolean;
}

/** Read exactly n bytes at a time from a socket, in order; rejects once the peer has closed with fewer. */
function byteReader(socket: Socket): (n: number) => Promise<Buffer> {
  let buffered = Buffer.alloc(0);
  let closed = false;
  let waiting: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  const settle = (): void => {
    if (waiting === undefined) return;
    const w = waiting;
    if (buffered.length >= w.n) {
      waiting = undefined;
      const out = buffered.subarray(0, w.n);
      buffered = buffered.subarray(w.n);
      w.resolve(out);
    } else if (closed) {
      waiting = undefined;
      w.reject(new Error(`the client closed the connection with ${buffered.length} of ${w.n} bytes sent`));
    }
  };
  socket.on('data', (chunk: Buffer) => { buffered = Buffer.concat([buffered, chunk]); settle(); });
  socket.on('close', () => { closed = true; settle(); });
  socket.on('error', () => { /* 'close' follows and settles the read */ });
  return (n) => new Promise((resolve, reject) => { waiting = { n, resolve, reject }; settle(); });
}

const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };

/** The server side of the handshake for one connection, up to SecurityResult; then it closes. */
async function authenticate(socket: Socket, password: string): Promise<Handshake> {
  const read = byteReader(socket);
  socket.write('RFB 003.008\n');
  const version = (await read(12)).toString('latin1');
  if (version === 'RFB 003.003\n') {
    socket.write(u32(2)); // 3.3: the server names the one security type
  } else {
    socket.write(Uint8Array.of(1, 2)); // 3.7+: a list of one, VNC Authentication
    const chosen = (await read(1))[0];
    if (chosen !== 2) throw new Error(`the client chose security type ${chosen}, not 2`);
  }
  const challenge = newVncChallenge();
  socket.write(challenge);
  const response = new Uint8Array(await read(16));
  const accepted = checkVncAuthResponse(password, challenge, response);
  if (accepted) socket.end(u32(0));
  else if (version === 'RFB 003.008\n') socket.end(Buffer.concat([u32(1), u32(19), Buffer.from('wrong VNC password.')]));
  else socket.end(u32(1));
  return { version, challenge, response, accepted };
}

let server: Server | undefined;
let client: ChildProcess | undefined;
afterEach(() => {
  if (client !== undefined && client.exitCode === null && client.signalCode === null) client.kill();
  client = undefined;
  server?.close();
  server = undefined;
});

/** Run vncsnapshot with a vncpasswd file for `clientPassword` against a server expecting `serverPassword`. */
async function run(serverPassword: string, clientPassword: string): Promise<{ handshake: Handshake; stderr: string }> {
  let handshake!: Promise<Handshake>;
  const connected = new Promise<void>((resolve) => {
    server = createServer((socket) => {
      server?.close(); // one client is all this test serves
      handshake = authenticate(socket, serverPassword);
      resolve();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server!.address() as AddressInfo).port;
  const passwdFile = join(dir, `passwd-${port}`);
  writeFileSync(passwdFile, vncPasswdFile(clientPassword), { mode: 0o600 });
  // host::port is a TCP port (host:N would be display N, port 5900+N).
  const child = spawn('vncsnapshot', ['-passwd', passwdFile, `127.0.0.1::${port}`, join(dir, `shot-${port}.jpg`)], { stdio: ['ignore', 'ignore', 'pipe'] });
  client = child;
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) => child.on('error', reject));
  const exitedEarly = exited.then(() => { throw new Error(`vncsnapshot exited without connecting: ${stderr.trim()}`); });
  await Promise.race([connected, spawnFailed, exitedEarly]);
  const result = await handshake;
  await exited;
  return { handshake: result, stderr };
}

describe.skipIf(!haveVncsnapshot)('VNC Authentication with vncsnapshot as the client', () => {
  it('accepts the response vncsnapshot computes from a vncPasswdFile of the right password', async () => {
    const { handshake } = await run('s3cret', 's3cret');
    expect(handshake.accepted).toBe(true);
    expect(Buffer.from(handshake.response).equals(vncAuthResponse('s3cret', handshake.challenge))).toBe(true);
  });

  it('needs the bit-reversed key: DES under the plain password bytes is not what the client sent', async () => {
    const { handshake } = await run('s3cret', 's3cret');
    const plainKey = Uint8Array.from(Buffer.from('s3cret\0\0', 'latin1'));
    const unreversed = Buffer.concat([desEncryptBlock(plainKey, handshake.challenge.subarray(0, 8)), desEncryptBlock(plainKey, handshake.challenge.subarray(8))]);
    expect(unreversed.equals(handshake.response)).toBe(false);
  });

  it('refuses the response for a wrong password, and vncsnapshot reports the failure it was sent', async () => {
    const { handshake, stderr } = await run('s3cret', 'guessed');
    expect(handshake.accepted).toBe(false);
    expect(stderr).toMatch(/authentication failed/i);
  });
});
