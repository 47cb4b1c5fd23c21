#!/usr/bin/env node
// Runs the build in dist/ (made by `npm ci`, scripts/build-cli.mjs) when it is newer than every
// source file, else the TypeScript sources directly through tsx: a fresh clone or an edited tree
// needs no build step, and a build never runs stale code. The build starts faster (no
// TypeScript loader in the main thread or in the ingest and emulator worker threads).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time of the .ts/.mjs files under dir (test data and built assets left out). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (e.name !== 'dist' && e.name !== 'testdata' && e.name !== 'node_modules') t = Math.max(t, newest(join(dir, e.name)));
    } else if (e.name.endsWith('.ts') || e.name.endsWith('.mjs')) t = Math.max(t, statSync(join(dir, e.name)).mtimeMs);
  }
  return t;
}

function buildIsFresh() {
  try {
    return statSync(join(root, 'dist', 'main.mjs')).mtimeMs >= newest(join(root, 'src'));
  } catch {
    return false;
  }
}

let main;
if (process.env.FLOWLENS_FROM_SOURCE !== '1' && buildIsFresh()) {
  ({ main } = await import('../dist/main.mjs'));
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    // An install without devDependencies has no tsx: it can only run a build.
    process.stderr.write('flowlens: dist/ is missing or older than src/, and tsx is not installed to run the sources: run `npm run build:cli`\n');
    process.exit(2);
  }
  tsx.register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv);
