/**
 * The layering picture in docs/architecture.md, enforced: every relative
 * import from one part to another must be an arrow the table allows, the
 * allowed arrows form no cycle, every source file belongs to a part, and the
 * README shows the same table.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

interface Part { readonly name: string; readonly folder: string; readonly mayImport: readonly string[] }

/** The rows between the parts markers of a markdown file. */
function partsBlock(file: string): string {
  const text = readFileSync(join(root, file), 'utf8');
  const m = /<!-- parts:begin -->\n([\s\S]*?)<!-- parts:end -->/.exec(text);
  if (m === null) throw new Error(`${file} has no <!-- parts:begin --> … <!-- parts:end --> block`);
  return m[1]!;
}

function parseParts(block: string): Part[] {
  return block.split('\n').slice(2).filter((l) => l.startsWith('|')).map((line) => {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const [name, folder, , may] = cells as [string, string, string, string];
    return { name, folder: folder.replace(/`/g, ''), mayImport: may === '' ? [] : may.split(',').map((s) => s.trim()) };
  });
}

const parts = parseParts(partsBlock('docs/architecture.md'));

function tsFiles(dir: string): string[] {
  const abs = join(root, dir);
  if (abs.endsWith('.ts')) return [abs];
  let out: string[] = [];
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

/** The part a repository path belongs to (the longest folder that contains it). */
function partOf(path: string): Part | undefined {
  let best: Part | undefined;
  for (const p of parts) {
    if ((path === p.folder || path.startsWith(`${p.folder}/`)) && (best === undefined || p.folder.length > best.folder.length)) best = p;
  }
  return best;
}

describe('architecture: docs/architecture.md is the picture the imports follow', () => {
  it('the table names its parts and only known parts as arrow targets', () => {
    expect(parts.map((p) => p.name)).toEqual(expect.arrayContaining(['util', 'sys', 'pci', 'vfio', 'devices', 'vfio-user', 'cli']));
    const names = new Set(parts.map((p) => p.name));
    for (const p of parts) for (const t of p.mayImport) expect(names.has(t), `${p.name} may import unknown part ${t}`).toBe(true);
  });

  it('the allowed arrows form no cycle', () => {
    const byName = new Map(parts.map((p) => [p.name, p]));
    const state = new Map<string, 'visiting' | 'done'>();
    const cycle: string[] = [];
    const visit = (name: string, path: string[]): void => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') {
        cycle.push([...path, name].join(' → '));
        return;
      }
      state.set(name, 'visiting');
      for (const t of byName.get(name)!.mayImport) visit(t, [...path, name]);
      state.set(name, 'done');
    };
    for (const p of parts) visit(p.name, []);
    expect(cycle).toEqual([]);
  });

  it('every source file belongs to a part', () => {
    const orphans = ['src', 'devices', 'fuzz'].flatMap((d) => tsFiles(d)).map((f) => relative(root, f)).filter((f) => partOf(f) === undefined);
    expect(orphans).toEqual([]);
  });

  for (const part of parts) {
    it(`${part.name} (${part.folder}) imports only: ${part.mayImport.join(', ') || 'nothing outside itself'}`, () => {
      const violations: string[] = [];
      for (const file of tsFiles(part.folder)) {
        for (const target of imports(file)) {
          if (target.startsWith('node_modules') || target.startsWith('native/')) continue;
          const to = partOf(target);
          if (to === undefined || to.name === part.name) continue;
          if (!part.mayImport.includes(to.name)) violations.push(`${relative(root, file)} -> ${target} (${part.name} → ${to.name})`);
        }
      }
      expect(violations).toEqual([]);
    });
  }

  it('only src/sys reaches the native addon', () => {
    const violations: string[] = [];
    for (const file of ['src', 'devices', 'fuzz'].flatMap((d) => tsFiles(d))) {
      if (relative(root, file).startsWith('src/sys/')) continue;
      for (const target of imports(file)) if (target.startsWith('native/')) violations.push(`${relative(root, file)} -> ${target}`);
    }
    expect(violations).toEqual([]);
  });

  it('the README shows the same table', () => {
    expect(partsBlock('README.md')).toBe(partsBlock('docs/architecture.md'));
  });

  it('the scanner sees relative imports (guards against a scanner that finds nothing)', () => {
    expect(imports(join(root, 'src/vfio-user/server.ts'))).toContain('src/vfio-user/session.ts');
  });
});
