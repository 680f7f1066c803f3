/**
 * The published package as a consumer gets it: `npm pack` a copy of this
 * checkout, install the tarball into fresh projects offline (the tarball plus
 * the npm cache that the checkout's own `npm ci` filled), and use it from
 * plain `node`, from a strict TypeScript project and through `npx mdevsim`,
 * with no compiler anywhere: one project installs with `--ignore-scripts`,
 * the other runs the install script with a PATH that holds only node, npm and
 * npx (so a node-gyp fallback compile would fail the install).
 *
 * The tarball must stay within the budget the README's "Installing" section
 * states; raise it there, on purpose, when a feature needs more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const repoPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};
const repoLock = (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, Record<string, unknown>>;
}).packages;
const tsc = join(root, 'node_modules/typescript/bin/tsc');

let work: string;
let tarball: string;
/** A PATH with node, npm, npx and sh (npm runs scripts and bins through it) only: no cc, gcc, g++, c++, make or python. */
let bareBin: string;

/** The environment of a consumer's commands: no npm_* settings or loader hooks inherited from the test runner. */
function consumerEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'NODE_OPTIONS' || k === 'INIT_CWD' || k.startsWith('MDEVSIM_')) continue;
    env[k] = v;
  }
  env['PATH'] = path;
  return env;
}

async function run(cmd: string, args: string[], cwd: string, path = bareBin): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(cmd, args, { cwd, env: consumerEnv(path), timeout: 60_000, maxBuffer: 16 << 20 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** One copy of the checkout (tracked and untracked files, not ignored ones): packing rebuilds dist/ and native/build, which must not happen under the other test files. */
async function copyCheckout(dest: string): Promise<void> {
  const { stdout } = await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, maxBuffer: 16 << 20 });
  for (const file of stdout.split('\0')) {
    if (file === '' || !existsSync(join(root, file)) || statSync(join(root, file)).isDirectory()) continue;
    mkdirSync(dirname(join(dest, file)), { recursive: true });
    cpSync(join(root, file), join(dest, file));
  }
  symlinkSync(realpathSync(join(root, 'node_modules')), join(dest, 'node_modules'));
}

/** A lock entry of this checkout's lockfile, as a consumer's lock carries it. */
function lockEntry(name: string): Record<string, unknown> {
  const entry = repoLock[`node_modules/${name}`];
  if (entry === undefined) throw new Error(`${name} is not in package-lock.json`);
  const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
  return rest;
}

/**
 * A fresh project depending on the tarball. Its lockfile pins the tarball
 * (by integrity) and mdevsim's dependencies at this checkout's locked
 * versions, so `npm ci --offline` needs nothing but the npm cache.
 */
function makeProject(name: string, devDeps: string[], allowScripts: boolean): string {
  const dir = join(work, name);
  mkdirSync(dir);
  const file = `file:../${tarball.split('/').pop()!}`;
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const packed = JSON.parse(readFileSync(join(work, 'packed-package.json'), 'utf8')) as Record<string, unknown>;
  const devDependencies = Object.fromEntries(devDeps.map((d) => [d, String(lockEntry(d)['version'])]));
  const packages: Record<string, unknown> = {
    '': { name, dependencies: { mdevsim: file }, devDependencies },
    'node_modules/mdevsim': {
      version: packed['version'], resolved: file, integrity, hasInstallScript: true, license: packed['license'],
      dependencies: packed['dependencies'], bin: packed['bin'], engines: packed['engines'],
    },
  };
  const withDeps = (names: string[], dev: boolean): void => {
    for (const d of names) {
      if (packages[`node_modules/${d}`] !== undefined) continue;
      const entry = lockEntry(d);
      packages[`node_modules/${d}`] = dev ? { ...entry, dev: true } : entry;
      withDeps(Object.keys((entry['dependencies'] ?? {}) as Record<string, string>), dev);
    }
  };
  withDeps(Object.keys(packed['dependencies'] as Record<string, string>), false);
  withDeps(devDeps, true);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({
    name, private: true, type: 'module', dependencies: { mdevsim: file }, devDependencies,
    // npm 11 runs a dependency's install script only when the project allows it.
    ...(allowScripts ? { allowScripts: { mdevsim: true } } : {}),
  }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name, lockfileVersion: 3, requires: true, packages }, null, 2));
  return dir;
}

const CLIENT_JS = `
import { VfioUserClient, VfioError } from 'mdevsim';
const client = await VfioUserClient.connect(process.argv[2]);
const info = await client.deviceInfo();
let refused = '';
try { await client.regionInfo(1000); } catch (err) { refused = err instanceof VfioError ? err.code : String(err); }
client.close();
console.log(JSON.stringify({ numRegions: info.numRegions, numIrqs: info.numIrqs, refused }));
`;

const CONSUMER_TS = `
import { DeviceServer, Manager, SyncVfioUserClient, VfioError, VfioUserClient, DEVICE_TYPES } from 'mdevsim';
import type { DeviceInfo, DeviceServerOptions, DeviceType, GfxPlaneInfo, VfioDevice } from 'mdevsim';

export async function probe(path: string): Promise<DeviceInfo> {
  const client: VfioUserClient = await VfioUserClient.connect(path, { display: true });
  try {
    return await client.deviceInfo();
  } catch (err) {
    if (err instanceof VfioError) throw new Error(err.code);
    throw err;
  } finally {
    client.close();
  }
}

/** A consumer's own device: the contract is exported. */
export function wrap(inner: VfioDevice): VfioDevice {
  return { ...inner, info: (): DeviceInfo => inner.info() };
}

export function serve(opts: DeviceServerOptions): DeviceServer { return DeviceServer.listen(opts); }
export const types: readonly DeviceType[] = DEVICE_TYPES;
export type Plane = GfxPlaneInfo;
export type Clients = [typeof SyncVfioUserClient, typeof Manager];
`;

interface Served {
  readonly child: ChildProcess;
  readonly socket: string;
  /** The web view's URL, when serve ran with --view. */
  readonly view: string | undefined;
  /** SIGTERM; resolves with how it ended (npx passes the signal on, so it may die of it rather than exit 0). */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npx mdevsim serve --json` in a project, until its first device's socket is announced and it is ready. */
async function serve(project: string, device: string, args: string[] = []): Promise<Served> {
  const dir = mkdtempSync(join(work, 'sock-'));
  let view: string | undefined;
  const child = spawn(join(bareBin, 'npx'), ['--no-install', 'mdevsim', 'serve', '--json', '--dir', dir, '--config-dir', join(dir, 'config'), '--device', device, ...args], {
    cwd: project, env: consumerEnv(bareBin), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const socket = await new Promise<string>((ready, fail) => {
    let sock: string | undefined;
    const timer = setTimeout(() => fail(new Error(`serve did not become ready: ${stderr}`)), 20_000);
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`serve exited ${code}: ${stderr}`)); });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e['event'] === 'device' && sock === undefined) sock = String(e['socket']);
      if (e['event'] === 'view') view = String(e['url']);
      if (e['event'] === 'ready') { clearTimeout(timer); ready(sock!); }
    });
  });
  return {
    child, socket, view,
    stop: () => new Promise((done) => {
      child.removeAllListeners('exit');
      if (child.exitCode !== null || child.signalCode !== null) { done({ code: child.exitCode, signal: child.signalCode }); return; }
      child.once('exit', (code, signal) => done({ code, signal }));
      child.kill('SIGTERM');
    }),
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mdevsim-package-'));
  bareBin = join(work, 'bin');
  mkdirSync(bareBin);
  const nodeDir = dirname(realpathSync(process.execPath));
  symlinkSync(realpathSync(process.execPath), join(bareBin, 'node'));
  symlinkSync(realpathSync('/bin/sh'), join(bareBin, 'sh'));
  for (const tool of ['npm', 'npx']) {
    const found = [join(nodeDir, tool), ...(process.env['PATH'] ?? '').split(':').map((d) => join(d, tool))].find((p) => existsSync(p));
    if (found === undefined) throw new Error(`no ${tool} on PATH`);
    symlinkSync(realpathSync(found), join(bareBin, tool));
  }
  const checkout = join(work, 'checkout');
  await copyCheckout(checkout);
  await run('npm', ['pack', '--pack-destination', work], checkout, process.env['PATH']);
  tarball = join(work, `mdevsim-${repoPkg.version}.tgz`);
  const { stdout } = await exec('tar', ['-xOzf', tarball, 'package/package.json']);
  writeFileSync(join(work, 'packed-package.json'), stdout);
}, 120_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the build, the prebuilt addon and the fallback sources, within the README budget, and no tests, fuzz corpora or CI files', async () => {
    const { stdout } = await exec('tar', ['-tzf', tarball], { maxBuffer: 16 << 20 });
    const files = stdout.split('\n').filter((f) => f !== '' && !f.endsWith('/')).map((f) => f.replace(/^package\//, ''));
    for (const needed of [
      'package.json', 'README.md', 'bin/mdevsim.mjs', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js',
      'dist/devices/catalog.js', 'native/binding.gyp', 'native/src/addon.cc', 'native/prebuilds/linux-x64/node.napi.glibc.node',
      // The units docs/service.md installs from the package.
      'contrib/mdevsim.service', 'contrib/mdevsim-user.service', 'docs/service.md',
    ]) expect(files).toContain(needed);
    const stray = files.filter((f) => /^(test|fuzz|\.ci|src|devices|scripts|node_modules)\/|^native\/build\/|^tsconfig|\.ts$/.test(f) && !f.endsWith('.d.ts'));
    expect(stray).toEqual([]);
    const budget = /budget: at most (\d+) files and (\d+) kB/.exec(readFileSync(join(root, 'README.md'), 'utf8'));
    expect(budget, 'README states the tarball budget').not.toBeNull();
    expect(files.length).toBeLessThanOrEqual(Number(budget![1]));
    expect(statSync(tarball).size).toBeLessThanOrEqual(Number(budget![2]) * 1000);
    const packed = JSON.parse(readFileSync(join(work, 'packed-package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(packed.dependencies).sort()).toEqual(['@msgpack/msgpack', '@novnc/novnc', 'node-addon-api', 'node-gyp-build', 'pngjs', 'ws']);
  });
});

describe.each([
  { name: 'ignore-scripts', flags: ['--ignore-scripts'] },
  { name: 'install-script', flags: ['--foreground-scripts'] },
])('a project installed with $name and no compiler on PATH', ({ name, flags }) => {
  let project: string;
  beforeAll(async () => {
    for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make']) expect(existsSync(join(bareBin, tool))).toBe(false);
    project = makeProject(`consumer-${name}`, ['@types/node'], name === 'install-script');
    const { stdout, stderr } = await run(join(bareBin, 'npm'), ['ci', '--offline', '--no-audit', '--no-fund', ...flags], project);
    // The install script ran (and found the prebuild: a compile would have failed without make and g++).
    if (name === 'install-script') expect(stdout + stderr).toContain('> cd native && node-gyp-build');
    // The prebuild served: no fallback build directory appeared.
    expect(existsSync(join(project, 'node_modules/mdevsim/native/build'))).toBe(false);
    expect(existsSync(join(project, 'node_modules/mdevsim/native/prebuilds/linux-x64/node.napi.glibc.node'))).toBe(true);
  }, 60_000);

  it('npx mdevsim --version prints the package version', async () => {
    const { stdout } = await run(join(bareBin, 'npx'), ['--no-install', 'mdevsim', '--version'], project);
    expect(stdout.trim()).toBe(repoPkg.version);
  });

  it('plain node imports VfioUserClient from "mdevsim" and talks to a device served by npx mdevsim serve', async () => {
    writeFileSync(join(project, 'client.mjs'), CLIENT_JS);
    const served = await serve(project, 'mbochs-small');
    try {
      const { stdout } = await run(join(bareBin, 'node'), ['client.mjs', served.socket], project);
      const result = JSON.parse(stdout) as { numRegions: number; numIrqs: number; refused: string };
      expect(result.numRegions).toBeGreaterThan(0);
      expect(result.refused).toBe('EINVAL');
    } finally {
      const end = await served.stop();
      expect(end.code === 0 || end.signal === 'SIGTERM', `serve ended ${JSON.stringify(end)}`).toBe(true);
    }
  });

  it("npx mdevsim serve --view 0 serves the page and noVNC's modules from the installed packages, and its WebSocket speaks RFB", async () => {
    const served = await serve(project, 'mbochs-small', ['--view', '0']);
    try {
      const url = new URL(served.view!);
      const page = await fetch(url);
      expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect((await fetch(new URL('/app.js', url.origin))).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      // noVNC comes from the consumer's own node_modules, where npm put mdevsim's dependency.
      const rfb = await fetch(new URL('/novnc/core/rfb.js', url.origin));
      expect(rfb.status).toBe(200);
      expect(Buffer.from(await rfb.arrayBuffer()).equals(readFileSync(join(project, 'node_modules/@novnc/novnc/core/rfb.js')))).toBe(true);
      const { WebSocket } = await import('ws');
      const ws = new WebSocket(`ws://${url.host}/ws/mbochs-small-0?token=${url.searchParams.get('token')}`, { origin: url.origin });
      const greeting = await new Promise<string>((resolve, reject) => {
        ws.once('message', (m: Buffer) => resolve(m.toString()));
        ws.once('error', reject);
      });
      ws.close();
      expect(greeting).toBe('RFB 003.008\n');
    } finally {
      const end = await served.stop();
      expect(end.code === 0 || end.signal === 'SIGTERM', `serve ended ${JSON.stringify(end)}`).toBe(true);
    }
  });

  it('a strict nodenext TypeScript project (tsc --init) type-checks against the shipped declarations', async () => {
    await run(join(bareBin, 'node'), [tsc, '--init'], project);
    expect(readFileSync(join(project, 'tsconfig.json'), 'utf8')).toMatch(/"module": "nodenext"[\s\S]*"strict": true/);
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    await run(join(bareBin, 'node'), [tsc, '--noEmit', '-p', '.'], project);
    // Also with the declarations themselves checked (skipLibCheck off), given @types/node.
    await run(join(bareBin, 'node'), [tsc, '--noEmit', '-p', '.', '--skipLibCheck', 'false', '--types', 'node'], project);
  });
});
