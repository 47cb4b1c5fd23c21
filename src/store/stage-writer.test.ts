import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { onlyDay, writeJob, type StageJob } from './stage-writer.ts';

const day = (iso: string) => Math.round(Date.parse(`${iso}T00:00:00Z`) / 86400000);

function job(root: string, chunkId: string, days: number[]): StageJob {
  const n = days.length;
  return {
    root,
    chunkId,
    rows: n,
    staged: [
      { name: 'bytes', type: 'BIGINT', data: BigInt64Array.from(days.map((_, i) => BigInt(i * 10))) },
      { name: 'action', type: 'DICT', data: Int32Array.from(days.map((_, i) => (i % 3 === 2 ? 0 : (i % 2) + 1))), dict: 0 },
      { name: 'date', type: 'DATE', data: Int32Array.from(days) },
    ],
    values: [['ACCEPT', 'REJECT']],
    select: 'SELECT s.bytes AS bytes, s.action AS action, s."date" AS "date" FROM flowlens_stage($id) s',
    compression: 'zstd',
  };
}

/** Runs `fn` with a scratch store folder and a one-thread DuckDB connection, closed after. */
async function withStore(fn: (root: string, conn: DuckDBConnection) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'flowlens-stage-'));
  mkdirSync(join(root, 'tmp'));
  const inst = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await inst.connect();
  try {
    await fn(root, conn);
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

describe('stage writer', () => {
  it('knows when every row of a job falls on one day', () => {
    const d = day('2023-11-14');
    expect(onlyDay(job('', 'x', [d, d, d]))).toBe('2023-11-14');
    expect(onlyDay(job('', 'x', [d, d + 1]))).toBeUndefined();
    expect(onlyDay(job('', 'x', []))).toBeUndefined();
    // Outside years 1-9999 DuckDB names the folder differently: leave those to PARTITION_BY.
    expect(onlyDay(job('', 'x', [day('0000-06-01')]))).toBeUndefined();
  });

  it('writes a one-day job and a two-day job into the same layout, rows intact', () =>
    withStore(async (root, conn) => {
      const d = day('2023-11-14');
      const one = await writeJob(conn, job(root, 'a-0', Array.from({ length: 5003 }, () => d)));
      const two = await writeJob(conn, job(root, 'b-0', Array.from({ length: 5003 }, (_, i) => (i < 3000 ? d : d + 1))));
      expect(one).toEqual(['flows/date=2023-11-14/a-0_0.parquet']);
      expect(two.sort()).toEqual(['flows/date=2023-11-14/b-0_0.parquet', 'flows/date=2023-11-15/b-0_0.parquet']);
      const read = async (f: string) => (await conn.runAndReadAll(`SELECT bytes, action::VARCHAR FROM read_parquet('${join(root, f)}', hive_partitioning = false) ORDER BY bytes`)).getRows();
      const a = await read(one[0]);
      expect(a.length).toBe(5003);
      expect(a.slice(0, 3)).toEqual([[0n, 'ACCEPT'], [10n, 'REJECT'], [20n, null]]);
      // Code 0 is NULL wherever it falls, the last partial byte of the bitmap too.
      expect(a.every(([b, v]) => (Number(b) / 10) % 3 === 2 ? v === null : v === ((Number(b) / 10) % 2 ? 'REJECT' : 'ACCEPT'))).toBe(true);
      // The one-day file has the same columns as a partitioned one (no "date" inside).
      const cols = async (f: string) => (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${join(root, f)}', hive_partitioning = false)`)).getRows().map((r) => r[0]);
      expect(await cols(one[0])).toEqual(await cols(two[0]));
      expect((await read(two[0])).length + (await read(two[1])).length).toBe(5003);
    }));

  it('reads columns in shared memory (a batch another thread parsed into) as its own', () =>
    withStore(async (root, conn) => {
      const n = 5003;
      const d = day('2023-11-14');
      const bytes = new BigInt64Array(new SharedArrayBuffer(8 * n));
      const days = new Int32Array(new SharedArrayBuffer(4 * n)).fill(d);
      // Every fifth row NULL, across vector boundaries and into the last partial byte.
      const valid = new Uint8Array(new SharedArrayBuffer(Math.ceil(n / 8) + 1));
      for (let i = 0; i < n; i++) {
        bytes[i] = BigInt(i * 7);
        if (i % 5) valid[i >> 3] |= 1 << (i & 7);
      }
      const files = await writeJob(conn, {
        root,
        chunkId: 's-0',
        rows: n,
        staged: [
          { name: 'bytes', type: 'BIGINT', data: bytes, valid },
          { name: 'date', type: 'DATE', data: days },
        ],
        values: [],
        select: 'SELECT s.bytes AS bytes, s."date" AS "date" FROM flowlens_stage($id) s',
        compression: 'zstd',
      });
      const rows = (await conn.runAndReadAll(`SELECT bytes FROM read_parquet('${join(root, files[0])}', hive_partitioning = false)`)).getRows();
      expect(rows.map((r) => r[0])).toEqual(Array.from({ length: n }, (_, i) => (i % 5 ? BigInt(i * 7) : null)));
    }));

  it('reuses its ENUM arrays from chunk to chunk without carrying a value or a NULL over', () =>
    withStore(async (root, conn) => {
      const d = day('2023-11-14');
      // Same row count (same pooled arrays): first every row valid, then NULLs where the first
      // had values, then valid again where the second had NULLs; each read back exactly.
      const n = 4099;
      const patterns = [(i: number) => (i % 2) + 1, (i: number) => (i % 4 === 1 ? 0 : 2), (i: number) => (i % 4 === 1 ? 1 : 0)];
      for (const [k, code] of patterns.entries()) {
        const j = job(root, `p-${k}`, Array.from({ length: n }, () => d));
        j.staged[1] = { name: 'action', type: 'DICT', data: Int32Array.from({ length: n }, (_, i) => code(i)), dict: 0 };
        const [file] = await writeJob(conn, j);
        const got = (await conn.runAndReadAll(`SELECT action::VARCHAR FROM read_parquet('${join(root, file)}', hive_partitioning = false) ORDER BY bytes`)).getRows().map((r) => r[0]);
        expect(got).toEqual(Array.from({ length: n }, (_, i) => [null, 'ACCEPT', 'REJECT'][code(i)]));
      }
    }));
});
