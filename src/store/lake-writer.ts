import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import duckdb from '@duckdb/node-bindings';
import { DuckDBInstance, VARCHAR, type DuckDBConnection } from '@duckdb/node-api';
import type { EnrichSession, Enricher } from '../enrich/enricher.ts';
import { ACTIONS, STATUSES, type BatchColumn, type ColumnBatch } from '../ingest/batch.ts';
import { STORED_COLUMNS } from './schema-sql.ts';
import { sqlIdent, sqlString } from './sql-text.ts';

/** DuckDB's vector size: data chunks hold at most this many rows. */
const CHUNK_ROWS = 2048;

type StageType = 'INTEGER' | 'BIGINT' | 'ACTION' | 'STATUS';
type Typed = Int32Array | Uint32Array | BigInt64Array | Uint8Array;

/** Staging types and their DuckDB logical types (ENUMs store a one-byte index, as our arrays do). */
const STAGE_SQL: Record<StageType, string> = {
  INTEGER: 'INTEGER',
  BIGINT: 'BIGINT',
  ACTION: `ENUM(${ACTIONS.map((a) => sqlString(a)).join(', ')})`,
  STATUS: `ENUM(${STATUSES.map((a) => sqlString(a)).join(', ')})`,
};

function logicalType(t: StageType): duckdb.LogicalType {
  switch (t) {
    case 'ACTION':
      return duckdb.create_enum_type([...ACTIONS]);
    case 'STATUS':
      return duckdb.create_enum_type([...STATUSES]);
    default:
      return duckdb.create_logical_type(duckdb.Type[t]);
  }
}

interface StageCol {
  name: string;
  type: StageType;
  data: (b: ColumnBatch) => Typed;
  /** The batch column whose validity bitmap applies, when the column can be NULL. */
  validity?: (b: ColumnBatch) => BatchColumn;
}

interface StageShape {
  table: string;
  /** Staging table columns, in order: fixed-width only, so each vector is one memcpy. */
  cols: StageCol[];
  copySelect: string;
  /** Stored columns this format fills (the rest are absent from its files, NULL when read). */
  columns: string[];
}

/**
 * Writes column batches as Parquet files in the store's Hive layout
 * (`flows/date=YYYY-MM-DD/<chunk>_<n>.parquet`), sorted by `start` so row-group statistics let
 * time-range queries skip what they do not need. Each chunk is written to a scratch folder
 * and renamed into place, so a reader never sees a half-written file and a redone chunk
 * (after a crash) replaces its own files instead of adding copies.
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
    readonly enricher?: Enricher,
  ) {
    this.enrich = enricher?.session(conn);
  }

  /** @example const w = await LakeWriter.open('./flowlens.duckdb') */
  static async open(root: string, opts: { compression?: string; threads?: number; memoryLimit?: string; enricher?: Enricher } = {}): Promise<LakeWriter> {
    await mkdir(join(root, 'flows'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(opts.threads ?? 2),
      preserve_insertion_order: 'false',
      memory_limit: opts.memoryLimit ?? '768MB',
    });
    const conn = await instance.connect();
    return new LakeWriter(root, instance, conn, opts.compression ?? 'zstd', opts.enricher);
  }

  private shapeFor(batch: ColumnBatch): StageShape {
    const key = batch.fields.join(' ');
    let shape = this.shapes.get(key);
    if (shape) return shape;
    const table = `stage_${this.shapes.size}`;
    const cols: StageCol[] = [];
    const exprs = new Map<string, string>();
    const joins: string[] = [];
    const dictJoin = (ci: number, codeCol: string, alias = `d${ci}`) => {
      joins.push(`LEFT JOIN (SELECT code, value FROM dict WHERE col = ${ci}) ${alias} ON ${alias}.code = s.${sqlIdent(codeCol)}`);
      return `${alias}.value`;
    };
    batch.columns.forEach((c, ci) => {
      const name = c.def.column;
      const col = (b: ColumnBatch) => b.columns[ci];
      switch (c.kind) {
        case 'int':
          cols.push({ name, type: 'INTEGER', data: (b) => col(b).i32, validity: col });
          exprs.set(name, `s.${sqlIdent(name)}`);
          break;
        case 'bigint':
          cols.push({ name, type: 'BIGINT', data: (b) => col(b).i64!, validity: col });
          exprs.set(name, `s.${sqlIdent(name)}`);
          break;
        case 'action':
        case 'status':
          cols.push({ name, type: c.kind === 'action' ? 'ACTION' : 'STATUS', data: (b) => col(b).u8!, validity: col });
          exprs.set(name, `s.${sqlIdent(name)}::VARCHAR`);
          break;
        case 'string':
          cols.push({ name, type: 'INTEGER', data: (b) => col(b).i32 });
          exprs.set(name, dictJoin(ci, name));
          break;
        case 'addr':
          cols.push({ name: `${name}__code`, type: 'INTEGER', data: (b) => col(b).i32 });
          exprs.set(name, dictJoin(ci, `${name}__code`));
          break;
      }
    });
    if (batch.unknownFields.length) {
      cols.push({ name: 'extra', type: 'INTEGER', data: (b) => b.extra });
      exprs.set('extra', dictJoin(-1, 'extra', 'dx'));
    }
    exprs.set('source_id', '$source');
    // Only the columns this format has: all-NULL columns would double the Parquet write cost.
    const present = STORED_COLUMNS.filter((c) => exprs.has(c.column));
    const select = present.map((c) => `${exprs.get(c.column)} AS ${sqlIdent(c.column)}`);
    const copySelect = `SELECT ${select.join(', ')} FROM ${table} s ${joins.join(' ')}`;
    shape = { table, cols, copySelect, columns: present.map((c) => c.column) };
    this.shapes.set(key, shape);
    return shape;
  }

  private created = new Set<string>();

  /**
   * Writes one batch as the chunk `chunkId`; returns the files it placed.
   * @example await writer.writeChunk(batch, 'a1b2c3-0', 'a1b2c3')
   */
  async writeChunk(batch: ColumnBatch, chunkId: string, sourceId: string): Promise<string[]> {
    const shape = this.shapeFor(batch);
    const conn = this.conn;
    if (!this.created.has(shape.table)) {
      const ddl = shape.cols.map((c) => `${sqlIdent(c.name)} ${STAGE_SQL[c.type]}`).join(', ');
      await conn.run(`CREATE TABLE ${shape.table} (${ddl})`);
      await conn.run('CREATE TABLE IF NOT EXISTS dict (col INTEGER, code INTEGER, value VARCHAR)');
      this.created.add(shape.table);
    }
    await conn.run(`DELETE FROM ${shape.table}`);
    await conn.run('DELETE FROM dict');
    await this.appendBatch(conn, shape, batch);
    return this.place(chunkId, firstDay(batch), (target) => this.copy(shape.copySelect, target, sourceId, [...shape.columns]));
  }

  /**
   * Runs a COPY into a scratch file and renames it to `flows/date=<day>/<chunk>_0.parquet`.
   * A chunk is filed under the UTC day of its earliest window, as AWS files an object under the
   * day it was delivered: a query filters exactly on `start` and uses `date` only to skip files.
   */
  async place(chunkId: string, day: number, copy: (target: string) => Promise<void>, compression = this.compression): Promise<string[]> {
    const scratch = join(this.root, 'tmp', `${chunkId}.parquet`);
    await rm(scratch, { force: true });
    await copy(`TO ${sqlString(scratch)} (FORMAT parquet, COMPRESSION ${compression})`);
    const part = `date=${dayText(day)}`;
    await mkdir(join(this.root, 'flows', part), { recursive: true });
    const file = join('flows', part, `${chunkId}_0.parquet`);
    await rename(scratch, join(this.root, file));
    if (this.enrichedCopy) await this.countCoverage(file);
    this.enrichedCopy = false;
    return [file];
  }

  /** Set by an enriched copy, so place() counts coverage on the file it placed. */
  private enrichedCopy = false;

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
      await this.conn.run(`COPY (${select}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION ${this.compression})`);
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
    await this.countCoverage(file);
  }

  /** Moves a placed file to the chunk's final name under another day. */
  async move(placed: string, chunkId: string, day: number): Promise<string> {
    const part = `date=${dayText(day)}`;
    await mkdir(join(this.root, 'flows', part), { recursive: true });
    const file = join('flows', part, `${chunkId}_0.parquet`);
    await rename(join(this.root, placed), join(this.root, file));
    return file;
  }

  /**
   * Runs `COPY (select) target` with $source bound. With the select's `columns` given and an
   * enricher set, the rows are enriched on the way (one pass); without, they are stored as is.
   */
  async copy(select: string, target: string, sourceId: string, columns?: string[]): Promise<void> {
    if (columns && this.enrich) {
      select = await this.enrich.select(`(${select})`, columns, { source: sourceId });
      this.enrichedCopy = true;
    }
    // With one day the "date" column comes from the folder name, not the file.
    const prepared = await this.conn.prepare(`COPY (${select}) ${target}`);
    prepared.bind({ source: sourceId }, { source: VARCHAR });
    await prepared.run();
  }

  private async appendBatch(conn: DuckDBConnection, shape: StageShape, batch: ColumnBatch): Promise<void> {
    // The raw bindings: one copy per vector and one call per chunk. The friendly vector API
    // builds wrapper objects per vector, which costs more than the data itself here.
    const appender = duckdb.appender_create(rawConnection(conn), null, shape.table);
    const chunk = duckdb.create_data_chunk(shape.cols.map((c) => logicalType(c.type)));
    const sources = shape.cols.map((c) => c.data(batch));
    const validity = shape.cols.map((c) => c.validity?.(batch));
    for (let off = 0; off < batch.length; off += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, batch.length - off);
      duckdb.data_chunk_reset(chunk);
      for (let c = 0; c < sources.length; c++) {
        const src = sources[c];
        const width = src.BYTES_PER_ELEMENT;
        const vector = duckdb.data_chunk_get_vector(chunk, c);
        duckdb.copy_data_to_vector(vector, 0, src.buffer as ArrayBuffer, src.byteOffset + off * width, n * width);
        const v = validity[c];
        if (v?.hasNull) {
          duckdb.vector_ensure_validity_writable(vector);
          duckdb.copy_data_to_vector_validity(vector, 0, v.valid.buffer as ArrayBuffer, v.valid.byteOffset + off / 8, Math.ceil(n / 8));
        }
      }
      duckdb.data_chunk_set_size(chunk, n);
      duckdb.append_data_chunk(appender, chunk);
    }
    duckdb.appender_flush_sync(appender);
    duckdb.appender_close_sync(appender);
    // Distinct strings only: a few hundred rows per batch in real data.
    const dict = await conn.createAppender('dict');
    const add = (col: number, values: readonly string[], first: number) => {
      for (let i = first; i < values.length; i++) {
        dict.appendInteger(col);
        dict.appendInteger(i + 1);
        dict.appendVarchar(values[i]);
        dict.endRow();
      }
    };
    batch.columns.forEach((c, ci) => {
      if (c.dict) add(ci, c.dict.values, 0);
    });
    if (batch.extra.length) add(-1, batch.extraValues, 0);
    dict.flushSync();
    dict.closeSync();
  }

  /** The writer's connection, for inputs DuckDB reads itself (Parquet). */
  get connection(): DuckDBConnection {
    return this.conn;
  }

  async close(): Promise<void> {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/** The raw connection handle behind the friendly API (needed for the raw appender). */
function rawConnection(conn: DuckDBConnection): duckdb.Connection {
  return (conn as unknown as { connection: duckdb.Connection }).connection;
}

/** The earliest partition day among the batch's rows. */
function firstDay(batch: ColumnBatch): number {
  let min = Infinity;
  const day = batch.day;
  for (let i = 0; i < batch.length; i++) if (day[i] < min) min = day[i];
  return min === Infinity ? Math.floor(Date.now() / 86400000) : min;
}

/** YYYY-MM-DD of a day number (days since 1970-01-01, UTC). */
export function dayText(day: number): string {
  return new Date(day * 86400000).toISOString().slice(0, 10);
}
