import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import duckdb from '@duckdb/node-bindings';
import { DuckDBInstance, VARCHAR, type DuckDBConnection } from '@duckdb/node-api';
import type { EnrichSession, Enricher } from '../enrich/enricher.ts';
import { ACTIONS, STATUSES, type BatchColumn, type ColumnBatch } from '../ingest/batch.ts';
import { enrichBatch } from '../enrich/batch-enrich.ts';
import { STORED_COLUMNS } from './schema-sql.ts';
import { sqlIdent, sqlString } from './sql-text.ts';

/** DuckDB's vector size: data chunks hold at most this many rows. */
const CHUNK_ROWS = 2048;

type StageType = 'INTEGER' | 'BIGINT' | 'DOUBLE' | 'ACTION' | 'STATUS' | 'DICT';
type Typed = Int32Array | Uint32Array | BigInt64Array | Uint8Array | Uint16Array | Float64Array;

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
  /** The batch's dictionaries (address columns share one), by index; -1 stands for `extra`. */
  dicts: ((b: ColumnBatch) => readonly string[])[];
  /** Stored columns this format fills (the rest are absent from its files, NULL when read). */
  columns: string[];
  /** Stored column → its expression over the staging table `s`. */
  exprs: Map<string, string>;
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
    exprs.set('source_id', '$source');
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
    const select = shape.columns.map((c) => ({ column: c, expr: c === 'source_id' ? sqlString(sourceId) : shape.exprs.get(c)! }));
    if (this.enricher) {
      for (const x of enrichBatch(this.enricher, batch)) {
        if (x.kind === 'dict') staged.push({ name: x.column, type: 'DICT', data: x.codes, dict: values.push(x.values) - 1 });
        else staged.push({ name: x.column, type: x.kind === 'int' ? 'INTEGER' : 'DOUBLE', data: x.data, valid: x.valid });
        select.push({ column: x.column, expr: `s.${sqlIdent(x.column)}` });
      }
    }
    // A dictionary with no value means the column is NULL throughout.
    const empty = new Set(staged.filter((c) => c.type === 'DICT' && !values[c.dict!].length).map((c) => c.name));
    const list = select.map(({ column, expr }) => `${empty.has(column) ? 'NULL::VARCHAR' : expr} AS ${sqlIdent(column)}`);
    const id = this.stageBatch(staged, values, batch.length);
    try {
      return await this.place(chunkId, firstDay(batch), (target) => this.copy(`SELECT ${list.join(', ')} FROM flowlens_stage(${id}) s`, target, sourceId));
    } finally {
      STAGED.delete(id);
    }
  }

  private tableFunction = false;

  /**
   * Offers a batch to DuckDB as the table function `flowlens_stage(id)`: DuckDB pulls 2048-row
   * vectors that are copied straight from the batch's typed arrays, so the rows go from the
   * parser to the Parquet writer without a staging table (an appender would copy them twice).
   * String columns are ENUMs over the batch's own distinct values: their codes travel like the
   * numbers, no string crosses one by one, and Parquet writes an ENUM as a ready-made
   * dictionary (much cheaper than VARCHAR). The dictionary must be the batch's alone: each
   * file's row groups carry the whole ENUM dictionary.
   */
  private stageBatch(staged: Staged[], values: (readonly string[])[], rows: number): number {
    if (!this.tableFunction) {
      registerStageFunction(this.conn);
      this.tableFunction = true;
    }
    const types = staged.map((c) => stageType(c, values));
    const columns = staged.map((c, i) => {
      if (c.type !== 'DICT') return { data: c.data, valid: c.valid };
      if (!values[c.dict!].length) return { data: new Uint8Array(rows), valid: new Uint8Array(Math.ceil(rows / 8) + 1) };
      const width = duckdb.enum_internal_type(types[i]);
      return enumCodes(c.data as Int32Array, rows, width === duckdb.Type.UTINYINT ? 1 : width === duckdb.Type.USMALLINT ? 2 : 4);
    });
    const id = ++stageIds;
    STAGED.set(id, { names: staged.map((c) => c.name), types, columns, rows });
    return id;
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
    // Selects over a staged table carry the source id already; binding an unused $source fails.
    const params = select.includes('$source') ? { source: sourceId } : undefined;
    if (columns && this.enrich) {
      select = await this.enrich.select(`(${select})`, columns, params);
      this.enrichedCopy = true;
    }
    // With one day the "date" column comes from the folder name, not the file.
    const prepared = await this.conn.prepare(`COPY (${select}) ${target}`);
    if (params) prepared.bind(params, { source: VARCHAR });
    await prepared.run();
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

/** One column of a batch to stage: fixed-width data (DICT: 1-based codes, 0 = NULL). */
interface Staged {
  name: string;
  type: StageType;
  data: Typed;
  /** Validity bitmap (DuckDB's layout), when the column has NULLs. */
  valid?: Uint8Array;
  /** DICT: the index of its dictionary. */
  dict?: number;
}

/** A batch offered to DuckDB through `flowlens_stage(id)`. */
interface StagedBatch {
  names: string[];
  types: duckdb.LogicalType[];
  columns: { data: Typed; valid: Uint8Array | undefined }[];
  rows: number;
}

/** Batches being written, by id (an entry lives for one COPY). */
const STAGED = new Map<number, StagedBatch>();
let stageIds = 0;

function stageType(c: Staged, values: (readonly string[])[]): duckdb.LogicalType {
  switch (c.type) {
    case 'DICT':
      return values[c.dict!].length ? duckdb.create_enum_type(values[c.dict!]) : duckdb.create_logical_type(duckdb.Type.UTINYINT);
    case 'ACTION':
      return duckdb.create_enum_type([...ACTIONS]);
    case 'STATUS':
      return duckdb.create_enum_type([...STATUSES]);
    default:
      return duckdb.create_logical_type(duckdb.Type[c.type]);
  }
}

/**
 * Registers `flowlens_stage(id)` on a connection. DuckDB calls back into JS for each vector
 * (on the JS thread, which is idle while the COPY runs); a call copies one 2048-row slice of
 * every column.
 */
function registerStageFunction(conn: DuckDBConnection): void {
  const tf = duckdb.create_table_function();
  duckdb.table_function_set_name(tf, 'flowlens_stage');
  duckdb.table_function_add_parameter(tf, duckdb.create_logical_type(duckdb.Type.INTEGER));
  duckdb.table_function_set_bind(tf, (info) => {
    const id = Number(duckdb.get_int32(duckdb.bind_get_parameter(info, 0)));
    const batch = STAGED.get(id);
    if (!batch) {
      duckdb.bind_set_error(info, `flowlens_stage: no batch ${id}`);
      return;
    }
    batch.names.forEach((name, i) => duckdb.bind_add_result_column(info, name, batch.types[i]));
    duckdb.bind_set_cardinality(info, batch.rows, true);
    duckdb.bind_set_bind_data(info, { batch, pos: 0 });
  });
  duckdb.table_function_set_init(tf, (info) => duckdb.init_set_max_threads(info, 1));
  duckdb.table_function_set_function(tf, (info, out) => {
    const state = duckdb.function_get_bind_data(info) as { batch: StagedBatch; pos: number };
    const { batch } = state;
    const off = state.pos;
    const rows = Math.min(CHUNK_ROWS, batch.rows - off);
    for (let c = 0; c < batch.columns.length; c++) {
      const { data, valid } = batch.columns[c];
      const width = data.BYTES_PER_ELEMENT;
      const vector = duckdb.data_chunk_get_vector(out, c);
      duckdb.copy_data_to_vector(vector, 0, data.buffer as ArrayBuffer, data.byteOffset + off * width, rows * width);
      if (valid) {
        duckdb.vector_ensure_validity_writable(vector);
        duckdb.copy_data_to_vector_validity(vector, 0, valid.buffer as ArrayBuffer, valid.byteOffset + off / 8, Math.ceil(rows / 8));
      }
    }
    duckdb.data_chunk_set_size(out, Math.max(rows, 0));
    state.pos += Math.max(rows, 0);
  });
  duckdb.register_table_function(rawConnection(conn), tf);
}

/**
 * Our 1-based codes as an ENUM's 0-based indexes in its physical width, code 0 as NULL. One
 * loop per width: a loop over a union of array types would be megamorphic and slow.
 */
function enumCodes(codes: Int32Array, n: number, bytes: 1 | 2 | 4): { data: Typed; valid: Uint8Array | undefined } {
  let valid: Uint8Array | undefined;
  const nulls = (r: number) => {
    valid ??= new Uint8Array(Math.ceil(n / 8) + 1).fill(0xff);
    valid[r >> 3] &= ~(1 << (r & 7));
  };
  if (bytes === 1) {
    const out = new Uint8Array(n);
    for (let r = 0; r < n; r++) {
      const c = codes[r];
      if (c > 0) out[r] = c - 1;
      else nulls(r);
    }
    return { data: out, valid };
  }
  if (bytes === 2) {
    const out = new Uint16Array(n);
    for (let r = 0; r < n; r++) {
      const c = codes[r];
      if (c > 0) out[r] = c - 1;
      else nulls(r);
    }
    return { data: out, valid };
  }
  const out = new Uint32Array(n);
  for (let r = 0; r < n; r++) {
    const c = codes[r];
    if (c > 0) out[r] = c - 1;
    else nulls(r);
  }
  return { data: out, valid };
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
