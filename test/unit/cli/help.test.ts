/**
 * The command table gives every command its `--help` and the top-level
 * usage: in-process through runCli for every spelling, and as child
 * processes for the exit code and stdout a user sees.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { COMMANDS } from '../../../src/cli/commands/index.ts';
import { commandUsage, UsageError } from '../../../src/cli/command.ts';
import { failureExitCode, runCli, usage } from '../../../src/cli/run.ts';

const root = resolve(import.meta.dirname, '../../..');

async function captured(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { out: (line) => { stdout += line + '\n'; }, err: (text) => { stderr += text; } });
  return { code, stdout, stderr };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('top-level usage', () => {
  it('lists every command of the table with its arguments and summary', async () => {
    const text = usage();
    for (const c of COMMANDS) {
      expect(text).toMatch(new RegExp(`^  ${[c.name, ...c.positionals].join(' ').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
    for (const spelling of [[], ['help'], ['--help'], ['-h']]) expect(await captured(spelling)).toEqual({ code: 0, stdout: text, stderr: '' });
  });

  it('an unknown command is a usage error (exit 2)', async () => {
    for (const argv of [['nope'], ['help', 'nope']]) {
      const err = await runCli(argv, { out: () => {}, err: () => {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toBe('unknown command "nope"; run "mdevsim help" for the list.');
      expect(failureExitCode(err, argv)).toBe(2);
    }
  });
});

describe('mdevsim <command> --help', () => {
  for (const c of COMMANDS) {
    it(`${c.name}: usage, summary and every option; -h and "help ${c.name}" print the same`, async () => {
      const text = commandUsage(c);
      expect(text.startsWith(`usage: mdevsim ${[c.name, ...c.positionals].join(' ')} [options]\n\n${c.summary}\n`)).toBe(true);
      for (const [name, o] of Object.entries(c.options)) {
        expect(text).toMatch(new RegExp(`^  ${o.short ? `-${o.short}, ` : ''}--${name}\\b.* ${o.help.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
      }
      expect(text).toMatch(/^ {2}-h, --help +print this help and exit$/m);
      // --help wins over missing positionals and over the other options.
      for (const argv of [[c.name, '--help'], [c.name, '-h'], ['help', c.name], [c.name, '--json', '--help']]) {
        if (argv.includes('--json') && !('json' in c.options)) continue;
        expect(await captured(argv)).toEqual({ code: 0, stdout: text, stderr: '' });
      }
    });
  }

  it('as child processes: exit 0 and the usage on stdout, for every command', async () => {
    const runs = await Promise.all(COMMANDS.map((c) => cli([c.name, '--help'])));
    for (const [i, c] of COMMANDS.entries()) expect(runs[i]).toEqual({ code: 0, stdout: commandUsage(c), stderr: '' });
  });

  it('an unknown option fails with exit 2 and our own sentence naming the option and the help command', async () => {
    const r = await cli(['list', '--bogus']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe('mdevsim: list has no option --bogus; run "mdevsim list --help" for its options.\n');
  });

  it('with --json, an error is one JSON line on stderr with its code, sentence and exit code', async () => {
    const r = await cli(['list', '--json', '--bogus']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: 'EUSAGE', message: 'list has no option --bogus; run "mdevsim list --help" for its options.', exit: 2 } });
  });

  it('a resolution of 0x0 is refused on the command line like any other malformed one (exit 2)', async () => {
    const r = await cli(['set-resolution', 'mbochs-small-0', '0x0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/with a width and height of at least 1, not "0x0"/);
  });
});
