import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestPaths } from '../ingest/index.ts';
import { openStore } from './index.ts';

const HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
const rec = (day: number, i: number) => `2 123456789012 eni-0abc00000000000001 10.0.0.${i} 10.0.1.5 ${40000 + i} 443 6 4 400 ${day + i} ${day + i + 60} ACCEPT OK`;

describe('store.fileView', () => {
  it('is shaped like flows and reads only the files it names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-file-view-'));
    // Two days, so two record files.
    writeFileSync(join(dir, 'a.log'), [HEADER, rec(1700006400, 1), rec(1700006400, 2), rec(1700092800, 3)].join('\n') + '\n');
    const db = join(dir, 'store');
    await ingestPaths([join(dir, 'a.log')], { db });
    const day = readdirSync(join(db, 'flows')).find((d) => d === 'date=2023-11-15')!;
    const files = readdirSync(join(db, 'flows', day)).map((f) => `flows/${day}/${f}`);
    const store = await openStore(db);
    try {
      await store.fileView('recent', files);
      const shape = async (t: string) => (await store.query(`DESCRIBE ${t}`)).rows.map((r) => `${r[0]} ${r[1]}`);
      expect(await shape('recent')).toEqual(await shape('flows'));
      expect((await store.query('SELECT srcaddr, srcaddr_v4 FROM recent ORDER BY srcaddr')).rows).toEqual([
        ['10.0.0.1', 167772161],
        ['10.0.0.2', 167772162],
      ]);
      // Redefined with nothing: the schema anchor alone, no rows.
      await store.fileView('recent', []);
      expect((await store.query('SELECT count(*) FROM recent')).rows[0][0]).toBe(0n);
      // Nothing but the store's own record files, and plain names.
      await expect(store.fileView('recent', ['/etc/passwd'])).rejects.toThrow(/not a stored record file/);
      await expect(store.fileView('recent', ['flows/date=2023-11-15/../../x.parquet'])).rejects.toThrow(/not a stored record file/);
      await expect(store.fileView('x; DROP', files)).rejects.toThrow(/plain lower-case name/);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('store.scratch and kept plans', () => {
  it.each([false, true])('a statement run again sees rows appended after its first run (reusePlans %s)', async (reusePlans) => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-scratch-'));
    writeFileSync(join(dir, 'a.log'), [HEADER, rec(1700006400, 1)].join('\n') + '\n');
    const db = join(dir, 'store');
    await ingestPaths([join(dir, 'a.log')], { db });
    const store = await openStore(db, { reusePlans });
    try {
      expect(await store.scratch('grain_t', "SELECT 'a' AS k, 1 AS w", [], 'replace')).toBeUndefined();
      // Nothing matches yet: DuckDB's statistics would turn this plan into an empty result
      // (duckdb#23704), and a kept plan would then miss the rows added below.
      const q = "SELECT count(*), max(w) FROM grain_t WHERE k = 'z'";
      expect((await store.query(q)).rows).toEqual([[0n, null]]);
      expect(await store.scratch('grain_t', "SELECT 'z' AS k, 7 AS w", [], 'append')).toBe(1);
      expect((await store.query(q)).rows).toEqual([[1n, 7]]);
      expect(await store.scratch('grain_t', "SELECT 'q' AS k, 9 AS w WHERE false", [], 'append')).toBe(0);
      // The store's files, through a kept plan, stay as read-only as before.
      await expect(store.query('DELETE FROM grain_t')).rejects.toThrow();
    } finally {
      await store.close();
    }
  }, 60_000);
});
