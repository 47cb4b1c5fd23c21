import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { UserError } from '../util/errors.ts';
import { emptyFlowsDdl } from './schema-sql.ts';
import { sqlString } from './sql-text.ts';

/**
 * The store is a folder:
 *   flows/date=YYYY-MM-DD/<chunk>_<n>.parquet   records, Hive-partitioned by UTC day
 *   flows/date=1970-01-01/_schema.parquet        zero rows, every column: keeps the full schema
 *                                                 visible when no file holds a given column
 *   quarantine/<chunk>.jsonl                     refused lines with source, line, column, reason
 *   ledger/<fingerprint>.json                    per-source progress, for idempotence and resume
 *   rollups/<level>/date=YYYY-MM-DD/             per-day aggregates (src/store/rollups.ts)
 *   tmp/                                         scratch for chunks being written
 * Parquet in a Hive layout is what Athena and Trino read too, and DuckDB writes it faster
 * than its own table storage (measured: DESIGN.md).
 */
export const STORE_MARKER = 'flowlens-store.json';
export const SCHEMA_FILE = join('flows', 'date=1970-01-01', '_schema.parquet');
const STORE_VERSION = 1;

/** Creates the store folder if needed and checks an existing one is a flowlens store. */
export async function ensureStore(root: string): Promise<void> {
  if (existsSync(root)) {
    const st = await stat(root);
    if (!st.isDirectory()) throw new UserError(`${root}: exists and is not a flowlens store folder (pass another --db)`);
    const entries = await readdir(root);
    if (entries.length && !entries.includes(STORE_MARKER)) {
      throw new UserError(`${root}: folder is not empty and is not a flowlens store (no ${STORE_MARKER}); pass another --db`);
    }
  }
  await mkdir(join(root, 'flows'), { recursive: true });
  await mkdir(join(root, 'tmp'), { recursive: true });
  const marker = join(root, STORE_MARKER);
  if (!existsSync(marker)) await writeFile(marker, JSON.stringify({ kind: 'flowlens-store', version: STORE_VERSION, created: new Date().toISOString() }) + '\n');
  await writeSchemaAnchor(root);
}

/** (Re)writes the zero-row file that carries every stored column. */
export async function writeSchemaAnchor(root: string, force = false): Promise<void> {
  const path = join(root, SCHEMA_FILE);
  if (!force && existsSync(path)) {
    // Rewrite when the column list grew since the anchor was made.
    const meta = JSON.parse(await readFile(join(root, STORE_MARKER), 'utf8').catch(() => '{}')) as { columns?: number; rollupColumns?: number };
    const { STORED_COLUMNS } = await import('./schema-sql.ts');
    const { ROLLUP_COMPUTED, ROLLUP_DIMS, ROLLUP_LEVELS } = await import('./rollups.ts');
    const rollupAnchors = ROLLUP_LEVELS.every((l) => existsSync(join(root, 'rollups', l.name, 'date=1970-01-01', 'rollup.parquet')));
    if (meta.columns === STORED_COLUMNS.length && meta.rollupColumns === ROLLUP_DIMS.length + ROLLUP_COMPUTED.length && rollupAnchors) return;
  }
  await mkdir(join(root, 'flows', 'date=1970-01-01'), { recursive: true });
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    await conn.run(emptyFlowsDdl('anchor'));
    const tmp = `${path}.tmp`;
    await conn.run(`COPY (SELECT * EXCLUDE ("date") FROM anchor) TO ${sqlString(tmp)} (FORMAT parquet)`);
    await rename(tmp, path);
    // The rollups' anchors: zero rows with every rollup column, so their views always bind.
    const { ROLLUP_COMPUTED, ROLLUP_DIMS, ROLLUP_LEVELS, ROLLUP_MEASURES } = await import('./rollups.ts');
    const cols = ['"start"', ...ROLLUP_DIMS.map((d) => `"${d}"`), ...ROLLUP_COMPUTED.map((c) => `NULL::VARCHAR AS "${c.name}"`), ...ROLLUP_MEASURES.map((m) => `${m.name === '__cost_usd_sum' ? 'NULL::DOUBLE' : 'NULL::BIGINT'} AS ${m.name}`)];
    for (const level of ROLLUP_LEVELS) {
      const dir = join(root, 'rollups', level.name, 'date=1970-01-01');
      await mkdir(dir, { recursive: true });
      await conn.run(`COPY (SELECT ${cols.join(', ')} FROM anchor) TO ${sqlString(join(dir, 'rollup.parquet.tmp'))} (FORMAT parquet)`);
      await rename(join(dir, 'rollup.parquet.tmp'), join(dir, 'rollup.parquet'));
    }
    const { STORED_COLUMNS } = await import('./schema-sql.ts');
    const markerPath = join(root, STORE_MARKER);
    const meta = JSON.parse(await readFile(markerPath, 'utf8').catch(() => '{}')) as Record<string, unknown>;
    await writeFile(markerPath, JSON.stringify({ ...meta, kind: 'flowlens-store', version: STORE_VERSION, columns: STORED_COLUMNS.length, rollupColumns: ROLLUP_DIMS.length + ROLLUP_COMPUTED.length }) + '\n');
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/**
 * Renames the files a stream run committed under its run id to its content id, or deletes
 * them (`to` undefined) when the same content was stored before.
 */
export async function retireRun(root: string, runId: string, to: string | undefined): Promise<void> {
  const flows = join(root, 'flows');
  const { invalidateRollups } = await import('./rollups.ts');
  for (const part of await readdir(flows)) {
    const dir = join(flows, part);
    for (const f of await readdir(dir)) {
      if (!f.startsWith(`${runId}-`)) continue;
      await invalidateRollups(root, part.slice(5));
      if (to) await rename(join(dir, f), join(dir, to + f.slice(runId.length)));
      else await rm(join(dir, f), { force: true });
    }
  }
  const q = join(root, 'quarantine');
  if (existsSync(q)) {
    for (const f of await readdir(q)) {
      if (!f.startsWith(`${runId}-`)) continue;
      if (to) await rename(join(q, f), join(q, to + f.slice(runId.length)));
      else await rm(join(q, f), { force: true });
    }
  }
  await rm(join(root, 'ledger', `${runId}.json`), { force: true });
}
