#!/usr/bin/env node
// The `mdevsim` command. An installed package runs the compiled CLI
// (dist/src/cli/main.js, built by `npm pack`'s prepack). A checkout, which has
// the TypeScript sources and tsx (a devDependency), runs the sources, so no
// build step stands between an edit and `npx mdevsim`.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let tsx;
if (existsSync(sources)) {
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    // sources without tsx (e.g. a git install): use the build
  }
}
if (tsx !== undefined) {
  tsx.register();
  await import(sources.href);
} else {
  await import('../dist/src/cli/main.js');
}
