/**
 * Fuzz campaign CLI.
 *
 *   npm run fuzz -- <target> [--runs N] [--time S] [--seed S] [--chunk N] [--no-save] [--quiet]
 *     stops after N executions or S seconds, whichever comes first (default: 1000 runs)
 *   npm run fuzz -- <target> --seed S --path P      replay one saved failure exactly
 *   npm run fuzz -- --list
 *
 * Exit status: 0 no failure (or the replayed case passes), 1 failure, 2 usage.
 * The programmatic API is in fuzz/campaign.ts (re-exported here).
 */
import { pathToFileURL } from 'node:url';
import { replayCase, runCampaign, saveCorpusCase, CORPUS_DIR } from './campaign.ts';
import { TARGETS } from './targets/index.ts';

export { runCampaign, replayCase, chunkSeed } from './campaign.ts';
export type { CampaignOptions, CampaignResult, CampaignFailure, ReplayResult } from './campaign.ts';

const USAGE = `usage: npm run fuzz -- <target> [--runs N] [--time S] [--seed S] [--chunk N] [--no-save] [--quiet]
       npm run fuzz -- <target> --seed S --path P    (replay one case; --save also stores it in the corpus)
       npm run fuzz -- --list
targets: ${Object.keys(TARGETS).join(', ')}`;

interface Args {
  target?: string;
  runs?: number;
  time?: number;
  seed?: number;
  path?: string;
  chunk?: number;
  save: boolean;
  saveReplay: boolean;
  quiet: boolean;
  list: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { save: true, saveReplay: false, quiet: false, list: false };
  const num = (flag: string, v: string | undefined, integer = true): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n) || (integer && !Number.isSafeInteger(n))) {
      throw new UsageError(`${flag} needs a number, got ${String(v)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    switch (a) {
      case '--runs': args.runs = num(a, argv[++i]); if (args.runs < 1) throw new UsageError('--runs must be ≥ 1'); break;
      case '--time': args.time = num(a, argv[++i], false); if (args.time <= 0) throw new UsageError('--time must be > 0'); break;
      case '--seed': args.seed = num(a, argv[++i]); break;
      case '--path': args.path = argv[++i]; if (args.path === undefined || !/^\d+(:\d+)*$/.test(args.path)) throw new UsageError('--path needs a fast-check path like 12:3:0'); break;
      case '--chunk': args.chunk = num(a, argv[++i]); if (args.chunk < 1) throw new UsageError('--chunk must be ≥ 1'); break;
      case '--no-save': args.save = false; break;
      case '--save': args.saveReplay = true; break;
      case '--quiet': args.quiet = true; break;
      case '--list': args.list = true; break;
      case '--help': case '-h': throw new UsageError('');
      default:
        if (a.startsWith('-') || args.target !== undefined) throw new UsageError(`unexpected argument ${a}`);
        args.target = a;
    }
  }
  if (args.path !== undefined && args.seed === undefined) throw new UsageError('--path needs --seed');
  return args;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.message) process.stderr.write(`${e.message}\n`);
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    throw e;
  }
  if (args.list) {
    for (const t of Object.values(TARGETS)) process.stdout.write(`${t.name.padEnd(12)} ${t.description}\n`);
    return 0;
  }
  if (args.target === undefined || !(args.target in TARGETS)) {
    process.stderr.write(`${args.target === undefined ? 'no target given' : `unknown target '${args.target}'`}\n${USAGE}\n`);
    return 2;
  }

  if (args.path !== undefined && args.seed !== undefined) {
    const r = replayCase({ target: args.target, seed: args.seed, path: args.path });
    process.stdout.write(`${r.target} replay seed ${r.seed} path ${r.path}\n${r.description}\n`);
    if (r.error === undefined) {
      process.stdout.write('result: passes (no invariant violated)\n');
      return 0;
    }
    process.stdout.write(`result: FAILS\n  ${r.error}\n`);
    if (args.saveReplay) {
      const file = saveCorpusCase(CORPUS_DIR, { format: 1, target: r.target, seed: r.seed, path: r.path, note: r.error, input: r.input });
      process.stdout.write(`saved: ${file}\n`);
    }
    return 1;
  }

  const seed = args.seed ?? ((Math.random() * 2 ** 32) | 0);
  const limit = [args.runs !== undefined || args.time === undefined ? `${args.runs ?? 1000} runs` : '', args.time !== undefined ? `${args.time} s` : '']
    .filter(Boolean).join(' or ');
  process.stderr.write(`${args.target}: campaign seed ${seed}, ${limit}\n`);
  const r = await runCampaign({
    target: args.target,
    seed,
    save: args.save,
    progress: !args.quiet,
    ...(args.runs !== undefined ? { runs: args.runs } : {}),
    ...(args.time !== undefined ? { timeSeconds: args.time } : {}),
    ...(args.chunk !== undefined ? { chunk: args.chunk } : {}),
  });
  const secs = r.elapsedMs / 1000;
  const unitPart = r.unitName !== undefined ? `, ${r.units.toLocaleString('en-US')} ${r.unitName} (${Math.round(r.unitsPerSecond).toLocaleString('en-US')} ${r.unitName}/s)` : '';
  process.stdout.write(
    `${r.target}: seed ${r.seed}: ${r.executions.toLocaleString('en-US')} executions in ${secs.toFixed(1)} s ` +
      `(${Math.round(r.execsPerSecond).toLocaleString('en-US')} exec/s)${unitPart}: ${r.failure === undefined ? 'no failure' : 'FAILURE'}\n`,
  );
  if (r.coverage.length > 0) process.stdout.write(`  coverage (${r.coverage.length} labels): ${r.coverage.join(' ')}\n`);
  return r.failure === undefined ? 0 : 1;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => {
      process.stderr.write(`fuzz: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
