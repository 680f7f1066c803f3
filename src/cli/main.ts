/**
 * mdevsim command line. Errors are one clear sentence and a non-zero exit.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_DEVICES, defaultSocketDir, serveUntilSignalled } from './serve.ts';
import { DEVICE_TYPES } from '../mgmt/device-types.ts';

const USAGE = `usage: mdevsim <command> [options]

commands:
  serve     serve devices over vfio-user (default: ${DEFAULT_DEVICES.join(', ')})
            --device TYPE[=NAME]  (repeatable)   --dir DIR (socket directory)
            --quirks none|upstream   --vbe sample|strict   --json
            --resolution WxH (EDID preferred mode for mbochs)   --no-edid
  types     list the device types   [--json]
`;

function fail(message: string): never {
  process.stderr.write(`mdevsim: ${message}\n`);
  process.exit(2);
}

function parseResolution(text: string): { width: number; height: number } {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(text);
  if (!m) fail(`--resolution must look like 1280x800, not "${text}".`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  const out = (line: string): void => void process.stdout.write(line + '\n');
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({
        args: rest,
        options: {
          device: { type: 'string', multiple: true },
          dir: { type: 'string' },
          quirks: { type: 'string', default: 'none' },
          vbe: { type: 'string', default: 'sample' },
          json: { type: 'boolean', default: false },
          resolution: { type: 'string' },
          'no-edid': { type: 'boolean', default: false },
        },
        strict: true,
      });
      const resolution = values.resolution === undefined ? undefined : parseResolution(values.resolution);
      if (values.quirks !== 'none' && values.quirks !== 'upstream') fail(`--quirks must be none or upstream, not "${values.quirks}".`);
      if (values.vbe !== 'sample' && values.vbe !== 'strict') fail(`--vbe must be sample or strict, not "${values.vbe}".`);
      serveUntilSignalled({
        dir: values.dir ?? defaultSocketDir(),
        devices: values.device ?? DEFAULT_DEVICES,
        quirks: values.quirks,
        vbe: values.vbe,
        resolution,
        noEdid: values['no-edid'] ?? false,
        json: values.json ?? false,
        out,
      });
      return;
    }
    case 'types': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } }, strict: true });
      const rows = DEVICE_TYPES.map((t) => ({ name: t.name, description: t.description, display: t.display, edid: t.edid }));
      if (values.json) out(JSON.stringify(rows));
      else for (const r of rows) out(`${r.name.padEnd(14)} ${r.description} (display: ${r.display}${r.edid ? ', EDID' : ''})`);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      fail(`unknown command "${command}"; run "mdevsim help" for the list.`);
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  fail(err instanceof Error ? err.message.replace(/\.?$/, '.') : String(err));
}
