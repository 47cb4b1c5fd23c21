import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EmulateOptionsIn } from './config.ts';
import { emulate } from './emulate.ts';
import { TINY } from './test-helpers.ts';

/** Every file a run wrote (and its labels) by path, as sha256. */
async function digests(o: EmulateOptionsIn): Promise<{ files: Record<string, string>; records: number; windows: number; connections: number }> {
  const out = mkdtempSync(join(tmpdir(), 'flowlens-shards-'));
  const r = await emulate({ ...o, out, labels: join(out, 'labels.jsonl') });
  const files: Record<string, string> = {};
  for (const p of [...r.paths, join(out, 'labels.jsonl')]) files[relative(out, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  return { files, records: r.records, windows: r.windows, connections: r.connections };
}

describe('parallel shards', () => {
  it('write the same objects, bytes and labels as one thread', async () => {
    const base: EmulateOptionsIn = { topology: TINY, scenarios: ['all'], duration: 2400, seed: 9, scale: 0.1, gzipLevel: 1 };
    const one = await digests({ ...base, workers: 1 });
    const three = await digests({ ...base, workers: 3 });
    expect(Object.keys(one.files).length).toBeGreaterThan(8);
    expect(three).toEqual(one);
  });

  it('hold to the size cap and the 60 s interval alike', async () => {
    const base: EmulateOptionsIn = { topology: TINY, scenarios: ['web-app', 'port-scan-vertical'], duration: 1800, interval: 60, seed: 4, scale: 0.2, gzipLevel: 6, maxObjectBytes: 4096 };
    expect(await digests({ ...base, workers: 2 })).toEqual(await digests({ ...base, workers: 1 }));
  });

  it('report an error of a shard as the run error', async () => {
    await expect(emulate({ topology: TINY, scenarios: ['no-such-scenario'], duration: 1800, workers: 2, out: mkdtempSync(join(tmpdir(), 'flowlens-shards-')) })).rejects.toThrow(/unknown scenario "no-such-scenario"/);
  });
});
