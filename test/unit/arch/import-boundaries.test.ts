/**
 * Layering rule (docs/architecture in README): util ← sys ← pci ← vfio ← devices,
 * and vfio ← vfio-user ← mgmt/cli. A device model knows nothing of sockets; the
 * codec knows nothing of devices. This test scans import statements.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

function tsFiles(dir: string): string[] {
  const abs = join(root, dir);
  let out: string[] = [];
  try { statSync(abs); } catch { return out; }
  for (const name of readdirSync(abs)) {
    const p = join(abs, name);
    if (statSync(p).isDirectory()) out = out.concat(tsFiles(relative(root, p)));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = m[1] ?? m[2];
    if (spec && spec.startsWith('.')) found.push(relative(root, resolve(dirname(file), spec)));
  }
  return found;
}

/** For each layer, path prefixes it must never import. */
const forbidden: Record<string, string[]> = {
  'src/util': ['src/sys', 'src/pci', 'src/vfio', 'src/vfio-user', 'src/mgmt', 'src/cli', 'src/display', 'devices'],
  'src/sys': ['src/pci', 'src/vfio', 'src/vfio-user', 'src/mgmt', 'src/cli', 'src/display', 'devices'],
  'src/pci': ['src/vfio', 'src/vfio-user', 'src/mgmt', 'src/cli', 'devices', 'src/sys/socket'],
  'src/vfio/': ['src/vfio-user', 'src/mgmt', 'src/cli', 'devices', 'src/sys/socket'],
  'devices': ['src/vfio-user', 'src/mgmt', 'src/cli', 'src/sys'],
  'src/vfio-user': ['devices', 'src/mgmt', 'src/cli'],
  'src/display': ['devices', 'src/vfio-user', 'src/mgmt', 'src/cli'],
  // Replay builds devices through the catalogue only; management records traces, so trace may not import it back.
  'src/trace': ['devices/mdpy', 'devices/mbochs', 'devices/common', 'src/mgmt', 'src/cli'],
};

describe('layer import boundaries', () => {
  for (const [layer, banned] of Object.entries(forbidden)) {
    it(`${layer} imports none of: ${banned.join(', ')}`, () => {
      const dir = layer.replace(/\/$/, '');
      const violations: string[] = [];
      for (const file of tsFiles(dir)) {
        for (const target of imports(file)) {
          if (banned.some((b) => target === b || target.startsWith(b.endsWith('/') ? b : `${b}/`) || target.startsWith(`${b}.`))) {
            violations.push(`${relative(root, file)} -> ${target}`);
          }
        }
      }
      expect(violations).toEqual([]);
    });
  }

  it('the scanner sees relative imports (guards against a scanner that finds nothing)', () => {
    const deps = imports(join(root, 'src/vfio/device.ts'));
    expect(deps).toContain('src/vfio/memory.ts');
  });
});
