import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openStore } from '../store/index.ts';
import { ingestStream } from './index.ts';

const HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n';
const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => `2 123456789012 eni-0abc00000000000001 198.51.100.${(from + i) % 250} 10.0.0.5 ${40000 + from + i} 443 6 4 400 1700000000 1700000060 ACCEPT OK\n`).join('');
const flowFiles = (db: string) => readdirSync(join(db, 'flows')).flatMap((d) => readdirSync(join(db, 'flows', d)).map((f) => join(db, 'flows', d, f)));

describe('ingestStream with a content id known beforehand (live ingest)', () => {
  it('commits files under their final names: nothing a query listed mid-stream is renamed later', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'flowlens-stream-names-')), 'store');
    const seen: string[] = [];
    // The second half is handed over only once the first chunk is in the store.
    async function* body() {
      yield Buffer.from(HEADER + lines(0, 300));
      for (let i = 0; i < 200 && flowFiles(db).filter((f) => !f.endsWith('_schema.parquet')).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      seen.push(...flowFiles(db).filter((f) => !f.endsWith('_schema.parquet')));
      yield Buffer.from(lines(300, 300));
    }
    const s = await ingestStream(Readable.from(body()), 'http-lines', { db, contentId: 'c0ffee', batchRows: 100, rollups: false });
    expect(s.records).toBe(600);
    expect(seen.length).toBeGreaterThan(0);
    for (const f of seen) expect(existsSync(f), f).toBe(true);
    const store = await openStore(db);
    try {
      expect((await store.query('SELECT count(*) FROM flows')).rows[0][0]).toBe(600n);
    } finally {
      await store.close();
    }
    // The same content again is a duplicate, stored once.
    const again = await ingestStream(Readable.from([Buffer.from(HEADER + lines(0, 600))]), 'http-lines', { db, contentId: 'c0ffee', rollups: false });
    expect(again).toMatchObject({ records: 0, duplicates: 600 });
  }, 60_000);
});
