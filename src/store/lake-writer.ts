import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { EnrichSession, Enricher } from '../enrich/enricher.ts';
import type { BatchColumn, ColumnBatch } from '../ingest/batch.ts';
import { enrichBatch } from '../enrich/batch-enrich.ts';
import { copyByDay, parquetOptions } from './place.ts';
import { invalidateRollups } from './rollups.ts';
import { StageWriterThread, dayText, writeJob, type StageSink, type Staged, type StageType, type Typed } from './stage-writer.ts';
import { STORED_COLUMNS } from './schema-sql.ts';
import { sqlIdent, sqlString } from './sql-text.ts';

interface StageCol {
  name: string;
  type: StageType;
  data: (b: ColumnBatch) => Typed;
  /** The batch column whose validity bitmap applies, when the column can be NULL. */
  validity?: (b: ColumnBatch) => BatchColumn;
  /** DICT columns: which of the batch's dictionaries their codes index. */
  dict?: number;
}

interface StageShape {
  /** Staging table columns, in order: fixed-width only, so each vector is one memcpy. */
  cols: StageCol[];
  /** The batch's dictionaries by index (address columns share one; `extra` has its own). */
  dicts: ((b: ColumnBatch) => readonly string[])[];
  /** Stored columns this format fills (the rest are absent from its files, NULL when read). */
  columns: string[];
  /** Stored column → its expression over the staging table `s`. */
  exprs: Map<string, string>;
}

/** Batches from this size on are written by the writer thread. */
const THREAD_MIN_ROWS = 32_768;

/**
 * Writes column batches as Parquet files in the store's Hive layout
 * (`flows/date=YYYY-MM-DD/<chunk>_<n>.parquet`, one per day a chunk's records fall on), in the
 * input's order (AWS writes objects in time order, so row-group statistics on `start` still let
 * time-range queries skip most of a file). Each chunk is written to a scratch folder and
 * renamed into place, so a reader never sees a half-written file and a redone chunk (after a
 * crash) replaces its own files instead of adding copies.
 */
export class LakeWriter {
  private shapes = new Map<string, StageShape>();
  /** Enrichment in this writer's connection (absent: records are stored as parsed). */
  private readonly enrich?: EnrichSession;
  private constructor(
    readonly root: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    readonly compression: string,
    private readonly memoryLimit: string,
    readonly enricher?: Enricher,
  ) {
    this.enrich = enricher?.session(conn);
  }

  /** @example const w = await LakeWriter.open('./flowlens.duckdb') */
  static async open(root: string, opts: { compression?: string; threads?: number; memoryLimit?: string; enricher?: Enricher; stage?: StageSink } = {}): Promise<LakeWriter> {
    await mkdir(join(root, 'flows'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(opts.threads ?? 2),
      preserve_insertion_order: 'false',
      memory_limit: opts.memoryLimit ?? '768MB',
    });
    const conn = await instance.connect();
    const w = new LakeWriter(root, instance, conn, opts.compression ?? 'zstd', opts.memoryLimit ?? '768MB', opts.enricher);
    w.stage = opts.stage;
    return w;
  }

  private shapeFor(batch: ColumnBatch): StageShape {
    const key = batch.fields.join(' ');
    let shape = this.shapes.get(key);
    if (shape) return shape;
    const cols: StageCol[] = [];
    const exprs = new Map<string, string>();
    const dicts: ((b: ColumnBatch) => readonly string[])[] = [];
    const dictIndex = new Map<unknown, number>();
    batch.columns.forEach((c, ci) => {
      const name = c.def.column;
      const col = (b: ColumnBatch) => b.columns[ci];
      switch (c.kind) {
        case 'int':
          cols.push({ name, type: 'INTEGER', data: (b) => col(b).i32, validity: col });
          break;
        case 'bigint':
          cols.push({ name, type: 'BIGINT', data: (b) => col(b).i64!, validity: col });
          break;
        case 'action':
        case 'status':
          // Stored as ENUMs: Parquet writes them as dictionary strings, read back as VARCHAR.
          cols.push({ name, type: c.kind === 'action' ? 'ACTION' : 'STATUS', data: (b) => col(b).u8!, validity: col });
          break;
        case 'string':
        case 'addr': {
          // Address columns share one dictionary, so they share one ENUM type too.
          let d = dictIndex.get(c.dict);
          if (d === undefined) {
            d = dicts.push((b) => b.columns[ci].dict!.values) - 1;
            dictIndex.set(c.dict, d);
          }
          cols.push({ name, type: 'DICT', data: (b) => col(b).i32, dict: d });
          break;
        }
      }
      exprs.set(name, `s.${sqlIdent(name)}`);
    });
    if (batch.unknownFields.length) {
      const d = dicts.push((b) => b.extraValues) - 1;
      cols.push({ name: 'extra', type: 'DICT', data: (b) => b.extra, dict: d });
      exprs.set('extra', 's.extra');
    }
    // The source id is written as a literal per chunk (writeChunk).
    exprs.set('source_id', 'NULL');
    // Only the columns this format has: all-NULL columns would double the Parquet write cost.
    const present = STORED_COLUMNS.filter((c) => exprs.has(c.column));
    shape = { cols, dicts, exprs, columns: present.map((c) => c.column) };
    this.shapes.set(key, shape);
    return shape;
  }

  /**
   * Writes one batch as the chunk `chunkId`; returns the files it placed. With an enricher the
   * enrichment columns are computed in JS over the batch's dictionary codes and staged beside
   * the record's own, so the COPY only writes.
   * @example await writer.writeChunk(batch, 'a1b2c3-0', 'a1b2c3')
   */
  async writeChunk(batch: ColumnBatch, chunkId: string, sourceId: string): Promise<string[]> {
    const shape = this.shapeFor(batch);
    const values: (readonly string[])[] = shape.dicts.map((d) => d(batch));
    const staged: Staged[] = shape.cols.map((c) => {
      if (c.type !== 'DICT') {
        const v = c.validity?.(batch);
        return { name: c.name, type: c.type, data: c.data(batch), valid: v?.hasNull ? v.valid : undefined };
      }
      return { name: c.name, type: 'DICT', data: c.data(batch), dict: c.dict };
    });
    // The source id as a one-value ENUM: Parquet then writes it as a ready dictionary, where a
    // VARCHAR constant is hashed row by row (measured: ~10% of a chunk's write).
    const select = shape.columns.map((c) => ({ column: c, expr: c === 'source_id' ? `${sqlString(sourceId)}::ENUM(${sqlString(sourceId)})` : shape.exprs.get(c)! }));
    // The record's UTC day, computed by the parser: each day's rows go to that day's folder.
    staged.push({ name: 'date', type: 'DATE', data: batch.day });
    select.push({ column: 'date', expr: 's."date"' });
    // Enrichment columns are fresh arrays: they move to the writer thread, not copied.
    const transfer: ArrayBuffer[] = [];
    if (this.enricher) {
      for (const x of enrichBatch(this.enricher, batch)) {
        // A column NULL throughout the chunk (say the AS names of a side with no public address)
        // is left out of its file; the store's views read it as NULL (union_by_name over the
        // schema anchor). Written, NULL columns cost Parquet time (a dozen: ~40% more in a
        // DuckDB COPY of 2.6 M rows).
        if (x.kind === 'dict' ? !x.values.length || noneSet(x.codes, batch.length) : noneValid(x.valid, batch.length)) continue;
        transfer.push((x.kind === 'dict' ? x.codes : x.data).buffer as ArrayBuffer);
        if (x.kind !== 'dict') transfer.push(x.valid.buffer as ArrayBuffer);
        if (x.kind === 'dict') staged.push({ name: x.column, type: 'DICT', data: x.codes, dict: values.push(x.values) - 1 });
        else staged.push({ name: x.column, type: x.kind === 'int' ? 'INTEGER' : 'DOUBLE', data: x.data, valid: x.valid });
        select.push({ column: x.column, expr: `s.${sqlIdent(x.column)}` });
      }
    }
    // A dictionary with no value means the column is NULL throughout.
    const empty = new Set(staged.filter((c) => c.type === 'DICT' && !values[c.dict!].length).map((c) => c.name));
    const list = select.map(({ column, expr }) => `${empty.has(column) ? 'NULL::VARCHAR' : expr} AS ${sqlIdent(column)}`);
    const job = {
      root: this.root,
      chunkId,
      staged,
      values,
      rows: batch.length,
      select: `SELECT ${list.join(', ')} FROM flowlens_stage($id) s`,
      compression: this.compression,
    };
    // Small batches (live ingest, short files) are written here: a thread costs a fraction of
    // a second to start, and there is little parsing to overlap with.
    if (batch.length < THREAD_MIN_ROWS) return writeJob(this.conn, job);
    // Another thread writes the rest. Ingest's batches live in shared memory (ChunkPipeline.take),
    // which that thread reads in place (a copy of a 262,144-row batch's columns cost ~40 ms, and
    // moving them there and back made V8 collect garbage twice as often); the enrichment
    // columns, fresh arrays, move there.
    const sink = this.stage ?? (await (this.thread ??= StageWriterThread.start(this.memoryLimit)));
    return sink.write(job, [...new Set(transfer)]);
  }

  /** The thread that writes parsed batches (started with the first one). */
  private thread: Promise<StageWriterThread> | undefined;
  /** Given at open: where parsed batches go instead (an ingest worker's: the main thread's writer). */
  private stage: StageSink | undefined;

  /**
   * Runs `COPY (select)` for a chunk, one Parquet file per UTC day (copyByDay): the select
   * must yield the record's day as "date". With `columns` (the select's stored columns) and an
   * enricher set, the rows are enriched on the way; `$source` binds to the source id.
   */
  async place(chunkId: string, select: string, sourceId: string, columns?: string[]): Promise<string[]> {
    const params = select.includes('$source') ? { source: sourceId } : undefined;
    if (columns && this.enrich) select = await this.enrich.select(`(${select})`, [...columns, 'date'], params);
    const files = await copyByDay(this.conn, this.root, chunkId, select, this.compression, params);
    if (columns && this.enrich) for (const f of files) await this.countCoverage(f);
    return files;
  }

  /** Adds a written file's records with an unattributed internal address to the run's coverage. */
  private async countCoverage(file: string): Promise<void> {
    if (!this.enricher) return;
    const path = join(this.root, file);
    const cols = new Set((await this.conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`)).getRows().map((r) => String(r[0])));
    if (!cols.has('direction')) return;
    const { EnrichSession } = await import('../enrich/enricher.ts');
    const [[n, bad]] = (await this.conn.runAndReadAll(EnrichSession.coverageSql(path, cols))).getRows();
    this.enricher.coverage.records += Number(n);
    this.enricher.coverage.unattributed += Number(bad);
  }

  /**
   * Rewrites a stored file (store-relative path) with fresh enrichment columns: written beside
   * it and renamed over it, so a crash leaves the old file or the new one, never half of one.
   * @example await writer.enrichFile('flows/date=2024-01-01/abc-0_0.parquet')
   */
  async enrichFile(file: string): Promise<void> {
    if (!this.enrich) return;
    const path = join(this.root, file);
    const src = `read_parquet(${sqlString(path)})`;
    const cols = (await this.conn.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`)).getRows().map((r) => String(r[0]));
    const select = await this.enrich.select(src, cols);
    const tmp = `${path}.enrich-${process.pid}.tmp`;
    await rm(tmp, { force: true });
    try {
      await this.conn.run(`COPY (${select}) TO ${sqlString(tmp)} (${parquetOptions(this.compression)})`);
      const day = /date=(\d{4}-\d{2}-\d{2})/.exec(file)?.[1];
      if (day) await invalidateRollups(this.root, day);
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
    await this.countCoverage(file);
  }

  /** The writer's connection, for inputs DuckDB reads itself (Parquet). */
  get connection(): DuckDBConnection {
    return this.conn;
  }

  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    try {
      if (thread) await (await thread).close();
    } finally {
      // Even when the writer thread failed to start or to stop: this instance is ours to free.
      this.conn.closeSync();
      this.instance.closeSync();
    }
  }
}

/** Whether every code of rows [0, n) is 0 (NULL). */
function noneSet(codes: Int32Array, n: number): boolean {
  for (let r = 0; r < n; r++) if (codes[r] !== 0) return false;
  return true;
}

/** Whether no bit of rows [0, n) is set in a validity bitmap. */
function noneValid(valid: Uint8Array, n: number): boolean {
  for (let b = 0; b < n >> 3; b++) if (valid[b] !== 0) return false;
  const rest = n & 7;
  return rest === 0 || (valid[n >> 3] & ((1 << rest) - 1)) === 0;
}

export { dayText };
