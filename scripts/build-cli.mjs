// Builds the command line as plain JavaScript in dist/ (run by `npm ci` through `prepare`):
// bin/flowlens.js runs it when it is newer than every source file, else the TypeScript
// sources through tsx. One ESM entry per thread kind (the CLI and each worker's module),
// shared code split into chunks, packages left to node_modules.
import { build } from 'esbuild';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

// DuckDB's packages are CommonJS. Imported from ESM, Node runs its CommonJS lexer over every
// module they re-export (~180 for @duckdb/node-api) to find their names, in every thread: ~0.2 s
// of a thread's start, and TurboFan compiling the lexer in each (~0.25 s). Required, they load
// as plain CommonJS; the names are read here, at build time.
const requireHere = createRequire(import.meta.url);
const requireCjs = {
  name: 'require-cjs',
  setup(b) {
    const loaded = new Map();
    b.onResolve({ filter: /^@duckdb\/node-(api|bindings)$/ }, (args) => {
      // Where DuckDB's native binary cannot load (another platform's node_modules, optional
      // packages left out), the build still succeeds and imports the package as before.
      if (!loaded.has(args.path)) {
        try {
          loaded.set(args.path, requireHere(args.path));
        } catch {
          loaded.set(args.path, undefined);
        }
      }
      return loaded.get(args.path) ? { path: args.path, namespace: 'require-cjs' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'require-cjs' }, (args) => {
      // Enumerable names only: @duckdb/node-bindings has none (it is used as a default import).
      const names = Object.keys(loaded.get(args.path)).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
      const lines = [
        `import { createRequire } from 'node:module';`,
        `const m = createRequire(import.meta.url)(${JSON.stringify(args.path)});`,
        'export default m;',
        ...names.map((n) => `export const ${n} = m.${n};`),
      ];
      return { contents: lines.join('\n') + '\n', loader: 'js', resolveDir: root };
    });
  },
};

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
  plugins: [requireCjs],
  logLevel: 'warning',
});
// What bin/flowlens.js checks before it runs this build: each input as it was when built.
const inputs = {};
for (const file of Object.keys(result.metafile.inputs)) {
  // The CommonJS shims above are made here, not read from a file.
  if (file.startsWith('require-cjs:')) continue;
  const st = before.get(file) ?? (() => {
    const s = statSync(join(root, file));
    return [s.mtimeMs, s.size];
  })();
  inputs[file] = st;
}
writeFileSync(join(outdir, 'inputs.json'), JSON.stringify(inputs) + '\n');
