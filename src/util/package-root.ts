/**
 * The directory of mdevsim's own package.json, found by walking up from this
 * module. The same code runs from the sources (src/util/ in a checkout, under
 * tsx) and from the build (dist/src/util/ in an installed package), so no
 * fixed `../..` would be right for both; the nearest package.json named
 * "mdevsim" is the package root in either layout.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'mdevsim';

interface PackageJson {
  readonly name?: unknown;
  readonly version?: unknown;
}

let cached: { readonly root: string; readonly pkg: PackageJson } | undefined;

function find(): { readonly root: string; readonly pkg: PackageJson } {
  if (cached !== undefined) return cached;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; ) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
      if (pkg.name === PACKAGE_NAME) return (cached = { root: dir, pkg });
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`mdevsim: no package.json named "${PACKAGE_NAME}" above ${start}; the package is incomplete`);
    }
    dir = parent;
  }
}

/** Absolute path of the package root (where package.json, native/ and dist/ are). */
export function packageRoot(): string {
  return find().root;
}

/** The package's version, from its package.json ("0.0.0" if it has none). */
export function packageVersion(): string {
  const { version } = find().pkg;
  return typeof version === 'string' ? version : '0.0.0';
}
