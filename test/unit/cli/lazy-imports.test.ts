/**
 * `mdevsim list` and friends must start without loading the device models:
 * what main reaches through static imports (type-only imports aside) is the
 * command table and the control client; serve, screenshot, replay and the
 * offline type list import the rest on use (src/cli/paths.ts says why).
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

/** Files a module loads when it is loaded: static imports and re-exports, not `import type` nor `import()`. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
    if (m[1]!.startsWith('.')) found.push(resolve(dirname(file), m[1]!));
  }
  return found;
}

function reachable(entry: string): string[] {
  const seen = new Set<string>([entry]);
  for (const file of seen) for (const next of staticImports(file)) seen.add(next);
  return [...seen].map((f) => relative(root, f)).sort();
}

describe('mdevsim main loads lazily', () => {
  const loaded = reachable(resolve(root, 'src/cli/main.ts'));

  it('reaches every command module (the table is static)', () => {
    expect(loaded).toContain('src/cli/commands/index.ts');
    expect(loaded).toContain('src/cli/commands/serve.ts');
    expect(loaded).toContain('src/mgmt/control-client.ts');
  });

  it('does not reach device models, servers, the vfio-user client, the live view or the trace reader', () => {
    const heavy = loaded.filter((f) => /^(devices\/|src\/display\/|src\/trace\/|src\/pci\/)/.test(f)
      || ['src/cli/serve.ts', 'src/vfio-user/client.ts', 'src/vfio-user/server.ts', 'src/mgmt/manager.ts', 'src/mgmt/screenshot.ts', 'src/mgmt/control.ts'].includes(f));
    expect(heavy).toEqual([]);
  });
});
