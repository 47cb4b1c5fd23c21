import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EmulateOptionsIn } from './config.ts';
import { emulate } from './emulate.ts';
import { TINY } from './test-helpers.ts';

/** Every file a run wrote (and its labels) by path, as sha256. */
async function digests(o: EmulateOptionsIn): Promise<{ files: Record<string, string>; records: number; windows: number; connections: number }> {
  const out = mkdtempSync(join(tmpdir(), 'flowlens-threads-'));
  const r = await emulate({ ...o, out, labels: join(out, 'labels.jsonl') });
  const files: Record<string, string> = {};
  for (const p of [...r.paths, join(out, 'labels.jsonl')]) files[relative(out, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  return { files, records: r.records, windows: r.windows, connections: r.connections };
}

describe('render threads', () => {
  it('write the same objects, bytes and labels as one thread', async () => {
    const base: EmulateOptionsIn = { topology: TINY, scenarios: ['all'], duration: 2400, seed: 9, scale: 0.1, gzipLevel: 1 };
    const one = await digests({ ...base, workers: 1 });
    expect(Object.keys(one.files).length).toBeGreaterThan(8);
    expect(await digests({ ...base, workers: 2 })).toEqual(one);
    // Two render threads take turns by 10 minutes of delivery batches.
    expect(await digests({ ...base, workers: 3 })).toEqual(one);
  });

  it('hold to the size cap and the 60 s interval alike, and to Hive keys', async () => {
    const base: EmulateOptionsIn = { topology: TINY, scenarios: ['web-app', 'port-scan-vertical'], duration: 1800, interval: 60, seed: 4, scale: 0.2, gzipLevel: 6, maxObjectBytes: 4096, delivery: 's3-hive' };
    expect(await digests({ ...base, workers: 2 })).toEqual(await digests({ ...base, workers: 1 }));
  });

  it('report an error of a thread as the run error', async () => {
    // The output "folder" is a file: the render thread cannot make the objects' folders.
    const file = join(mkdtempSync(join(tmpdir(), 'flowlens-threads-')), 'not-a-dir');
    writeFileSync(file, '');
    await expect(emulate({ topology: TINY, duration: 120, workers: 2, out: join(file, 'out') })).rejects.toThrow(/ENOTDIR/);
  });
});
