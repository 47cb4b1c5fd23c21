import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Where the code runs from: the TypeScript sources through tsx (a fresh clone, tests), or the
 * bundle `npm ci` builds into `dist/` (scripts/build-cli.mjs), which starts without a
 * TypeScript loader in the main thread or in any worker (measured: ~0.5 s of CPU a thread).
 */
declare const __FLOWLENS_BUNDLE__: boolean | undefined;

/** True in the bundled build, where this module is one of the flat `dist/*.mjs` files. */
export const BUNDLED = typeof __FLOWLENS_BUNDLE__ !== 'undefined' && __FLOWLENS_BUNDLE__;

/** The `src/` folder: data files (topologies, rules, the built dashboard) are read from it in both modes. */
export const SRC_DIR = fileURLToPath(new URL(BUNDLED ? '../src/' : '../', import.meta.url));

/**
 * A file under `src/`, whichever mode runs.
 * @example srcPath('fabric/topologies/default.yaml')
 */
export function srcPath(rel: string): string {
  return join(SRC_DIR, rel);
}

/**
 * Starts a worker thread running the module `entry` (a path under `src/`): the bundle's own
 * entry file, or the TypeScript source behind tsx's loader (src/util/ts-worker.mjs).
 * @example startWorker('ingest/file-runner.ts', { fileRunner: true, setup })
 */
export function startWorker(entry: string, workerData: Record<string, unknown>, opts: Omit<WorkerOptions, 'workerData'> = {}): Worker {
  if (BUNDLED) return new Worker(new URL(`./${basename(entry, '.ts')}.mjs`, import.meta.url), { ...opts, workerData });
  return new Worker(new URL('./ts-worker.mjs', import.meta.url), { ...opts, workerData: { ...workerData, module: new URL(`../${entry}`, import.meta.url).href } });
}
