/**
 * mdevsim command line, mdevctl-style: `serve` runs the devices; the other
 * commands talk to a running serve through its control socket (and
 * `screenshot` to the device socket itself). `--json` prints one JSON
 * document for scripts. Errors are one clear sentence on stderr and a
 * non-zero exit: 2 for a command line that cannot work, 1 for a refusal.
 * The commands are the rows of src/cli/commands/index.ts.
 */
import { errorCode, failureExitCode, logFailure, runCli, sentence, wantsJsonLog } from './run.ts';

const argv = process.argv.slice(2);
try {
  const code = await runCli(argv, {
    out: (line) => void process.stdout.write(line + '\n'),
    err: (text) => void process.stderr.write(text),
  });
  if (code >= 0) process.exit(code);
} catch (err) {
  const message = sentence(err instanceof Error ? err.message : String(err));
  const exit = failureExitCode(err, argv);
  const error = { code: errorCode(err), message, exit };
  // With --json, scripts parse stderr too: the error is one JSON line there; with JSON logs, a log line.
  if (wantsJsonLog(argv)) logFailure(err, error);
  else if (argv.includes('--json')) process.stderr.write(JSON.stringify({ error }) + '\n');
  else process.stderr.write(`mdevsim: ${message}\n`);
  process.exit(exit);
}
