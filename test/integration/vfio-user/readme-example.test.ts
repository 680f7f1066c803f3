/**
 * The README's client example is examples/set-mode.ts, word for word but for
 * its import line; this runs it against a serve child, as a user would.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';

const root = resolve(import.meta.dirname, '../../..');
const example = join(root, 'examples/set-mode.ts');

let serve: ServeProcess;
beforeAll(async () => { serve = await startServe(); });
afterAll(async () => { await serve.stop(); });

describe('README client example', () => {
  it('the README shows examples/set-mode.ts from its import on, with the package name as the import', () => {
    const source = readFileSync(example, 'utf8');
    const code = source.slice(source.indexOf('import {')).replace("from '../src/index.ts';", "from 'mdevsim';");
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('```ts\n' + code + '```');
  });

  it('runs: sets 640x480, and the dmabuf shows the white first row it drew', async () => {
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, ['--import', 'tsx', example, serve.sockets.get('mbochs-medium-0')!], { cwd: root }, (err, stdout, stderr) => {
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
    expect(out.stderr).toBe('');
    expect(out).toMatchObject({ code: 0, stdout: 'plane 640x480 stride 2560, first pixel 255\n' });
  });
});
