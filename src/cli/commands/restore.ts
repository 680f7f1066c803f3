import { readFileSync } from 'node:fs';
import { defineCommand } from '../command.ts';
import { COMMON, withControl } from '../args.ts';

export const restore = defineCommand({
  name: 'restore',
  positionals: ['DEVICE', 'FILE'],
  summary: 'load a device state written by snapshot',
  options: COMMON,
  async run(values, [device, path], io) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path!);
    } catch (err) {
      throw new Error(`Cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}).`);
    }
    const info = await withControl(values, (c) => c.restore(device!, bytes));
    io.out(values.json ? JSON.stringify(info) : `${info.name} restored from ${path}`);
    return 0;
  },
});
