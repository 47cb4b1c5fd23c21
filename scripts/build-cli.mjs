// Builds the command line as plain JavaScript in dist/ (run by `npm ci` through `prepare`):
// bin/flowlens.js runs it when it is newer than every source file, else the TypeScript
// sources through tsx. One ESM entry per thread kind (the CLI and each worker's module),
// shared code split into chunks, packages left to node_modules.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// --outdir NAME: another folder directly under the project (tests build one of their own);
// it must sit beside src/, which the build reads its data files from.
const at = process.argv.indexOf('--outdir');
const name = at > 0 ? process.argv[at + 1] : 'dist';
if (!/^[\w.-]+$/.test(name)) throw new Error(`--outdir: a folder name under the project, not ${name}`);
const outdir = `${root}${name}`;
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    main: 'src/cli/main.ts',
    'file-runner': 'src/ingest/file-runner.ts',
    'render-worker': 'src/fabric/render-worker.ts',
    'stage-writer': 'src/store/stage-writer.ts',
  },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  define: { __FLOWLENS_BUNDLE__: 'true' },
  sourcemap: true,
  logLevel: 'warning',
});
