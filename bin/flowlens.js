#!/usr/bin/env node
// Runs the build in dist/ (made by `npm ci`, scripts/build-cli.mjs) when every source file it
// was built from is unchanged, else the TypeScript sources directly through tsx: a fresh clone
// or an edited tree needs no build step, and a build never runs stale code. The build starts
// faster (no TypeScript loader in the main thread or in the ingest and emulator worker threads).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * True when every file the build was made from (dist/inputs.json: project-relative path ->
 * [mtime, size] as the build read it) is unchanged: any edit, copy with other times, or
 * deletion sends the run to the sources instead.
 */
function buildIsFresh() {
  try {
    const inputs = JSON.parse(readFileSync(join(root, 'dist', 'inputs.json'), 'utf8'));
    for (const [file, [mtime, size]] of Object.entries(inputs)) {
      const st = statSync(join(root, file));
      if (st.mtimeMs !== mtime || st.size !== size) return false;
    }
    return Object.keys(inputs).length > 0;
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
    process.stderr.write('flowlens: dist/ is missing or out of date with src/, and tsx is not installed to run the sources: run `npm run build:cli`\n');
    process.exit(2);
  }
  tsx.register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv);
