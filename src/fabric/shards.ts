import { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.ts';
import type { EmulateOptionsIn, EmulateOptionsT } from './config.ts';
import { emulateShard, type EmulateResult } from './emulate.ts';
import type { Topology } from './model.ts';

/** What a shard sends back: its part of the result, or its error. */
export type ShardReply = { ok: Omit<EmulateResult, 'seconds' | 'out' | 'delivery' | 'start' | 'end'> } | { error: { name: string; message: string; stack?: string } };

/**
 * Runs an emulation as `count` shards on worker threads and merges what they wrote. Every
 * shard runs the same scenarios with the same seed, so each sees the whole traffic; shard i
 * records and writes only the delivery batches of every count-th 10 minutes. An object comes
 * from one shard with the bytes a single thread writes, so `--seed` keeps giving the same bytes.
 * Shard 0 runs in this thread (its modules are loaded already; a worker takes ~1 CPU second
 * to load them).
 * @example await emulateInShards(input, options, topo, 2)
 */
export async function emulateInShards(input: EmulateOptionsIn, o: EmulateOptionsT, topo: Topology, count: number): Promise<Omit<EmulateResult, 'seconds' | 'out' | 'delivery' | 'start' | 'end'>> {
  const boot = new URL('./shard-worker-boot.mjs', import.meta.url);
  const here: Promise<ShardReply> = emulateShard(o, topo, { index: 0, count }).then(
    (ok) => ({ ok }),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      return { error: { name: e.name, message: e.message, stack: e.stack } };
    },
  );
  // Every shard settles before the run answers: none is left writing after an error.
  const settled = await Promise.allSettled([
    here,
    ...Array.from({ length: count - 1 }, (_, i) => {
      const index = i + 1;
      const w = new Worker(boot, { workerData: { input, shard: { index, count } } });
      return new Promise<ShardReply>((resolve, reject) => {
        w.once('message', (m: ShardReply) => resolve(m));
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`emulator shard ${index} exited with code ${code} before it answered`)));
      }).finally(() => void w.terminate());
    }),
  ]);
  const parts = settled.map((s) => {
    if (s.status === 'rejected') throw s.reason;
    const r = s.value;
    if ('ok' in r) return r.ok;
    const err = r.error.name === 'UserError' ? new UserError(r.error.message) : new Error(r.error.message);
    if (r.error.stack) err.stack = r.error.stack;
    throw err;
  });
  const first = parts[0];
  const paths = parts.flatMap((p) => p.paths).sort();
  return {
    records: parts.reduce((n, p) => n + p.records, 0),
    windows: parts.reduce((n, p) => n + p.windows, 0),
    files: paths.length,
    paths,
    // Every shard opened the same connections and wrote the same labels.
    connections: first.connections,
    labels: first.labels,
    interval: first.interval,
  };
}
