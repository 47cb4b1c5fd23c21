// Builds the command line as plain JavaScript in dist/ (run by `npm ci` through `prepare`):
// bin/flowlens.js runs it when it is newer than every source file, else the TypeScript
// sources through tsx. One ESM entry per thread kind (the CLI and each worker's module),
// shared code split into chunks, packages left to node_modules.
import { build } from 'esbuild';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// --outdir NAME: another folder directly under the project (tests build one of their own);
// it must sit beside src/, which the build reads its data files from.
const at = process.argv.indexOf('--outdir');
const name = at > 0 ? process.argv[at + 1] : 'dist';
if (!/^[\w.-]+$/.test(name)) throw new Error(`--outdir: a folder name under the project, not ${name}`);
const outdir = `${root}${name}`;
rmSync(outdir, { recursive: true, force: true });

// Every source file's modification time and size, taken before esbuild reads them: a file
// saved while the build runs then no longer matches what inputs.json says was built.
const before = new Map();
(function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(ts|mjs|js|json)$/.test(e.name)) {
      const st = statSync(p);
      before.set(relative(root, p), [st.mtimeMs, st.size]);
    }
  }
})(join(root, 'src'));

const result = await build({
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
  metafile: true,
  logLevel: 'warning',
});
// What bin/flowlens.js checks before it runs this build: each input as it was when built.
const inputs = {};
for (const file of Object.keys(result.metafile.inputs)) {
  const st = before.get(file) ?? (() => {
    const s = statSync(join(root, file));
    return [s.mtimeMs, s.size];
  })();
  inputs[file] = st;
}
writeFileSync(join(outdir, 'inputs.json'), JSON.stringify(inputs) + '\n');
