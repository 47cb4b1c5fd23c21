import { parentPort, workerData } from 'node:worker_threads';
import { EmulateOptions, type EmulateOptionsIn } from './config.ts';
import { emulateShard, type Shard } from './emulate.ts';
import type { ShardReply } from './shards.ts';
import { loadTopology } from './topology.ts';

/** A worker thread running one shard of an emulation (see shards.ts). */
const { input, shard } = workerData as { input: EmulateOptionsIn; shard: Shard };
let reply: ShardReply;
try {
  const o = EmulateOptions.parse(input);
  const topo = await loadTopology(o.topology as string | object | undefined);
  reply = { ok: await emulateShard(o, topo, shard) };
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  reply = { error: { name: e.name, message: e.message, stack: e.stack } };
}
parentPort!.postMessage(reply);
