import { parentPort, workerData, type Worker } from 'node:worker_threads';
import duckdb from '@duckdb/node-bindings';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ACTIONS, STATUSES } from '../ingest/batch.ts';
import { startWorker } from '../util/runtime.ts';
import { copyByDay } from './place.ts';

/**
 * Writes staged batches as Parquet files from a thread of its own.
 *
 * DuckDB pulls a batch through the table function `flowlens_stage(id)`, 2048 rows at a time,
 * each pull a call into JS. On the ingest thread those calls would wait for the parser to
 * yield (it parses the next batch meanwhile), so DuckDB would idle; here they are answered at
 * once, and parsing and writing overlap on the two cores.
 */

/** DuckDB's vector size: data chunks hold at most this many rows. */
const CHUNK_ROWS = 2048;

export type StageType = 'INTEGER' | 'BIGINT' | 'DOUBLE' | 'DATE' | 'ACTION' | 'STATUS' | 'DICT';
export type Typed = Int32Array | Uint32Array | BigInt64Array | Uint8Array | Uint16Array | Float64Array;

/** One column of a batch: fixed-width data (DICT: 1-based codes into its dictionary, 0 = NULL). */
export interface Staged {
  name: string;
  type: StageType;
  data: Typed;
  /** Validity bitmap (DuckDB's layout: bit set = valid), when the column has NULLs. */
  valid?: Uint8Array;
  /** DICT: the index of its dictionary. */
  dict?: number;
}

/** A chunk to write: its columns, their dictionaries and the SELECT over `s` that stores them. */
export interface StageJob {
  root: string;
  chunkId: string;
  /** The columns, one of them "date" (DATE: the record's UTC day, its file's folder). */
  staged: Staged[];
  values: (readonly string[])[];
  rows: number;
  /** `SELECT ... FROM flowlens_stage($id) s`, with `$id` standing for the batch id. */
  select: string;
  compression: string;
}

/** YYYY-MM-DD of a day number (days since 1970-01-01, UTC). */
export function dayText(day: number): string {
  return new Date(day * 86400000).toISOString().slice(0, 10);
}

/** A batch offered to DuckDB through `flowlens_stage(id)`. */
interface StagedBatch {
  names: string[];
  types: duckdb.LogicalType[];
  columns: { data: Typed; valid: Uint8Array | undefined }[];
  rows: number;
}

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
 * Our 1-based codes as an ENUM's 0-based indexes in its physical width, code 0 as NULL. One
 * loop per width: a loop over a union of array types would be megamorphic and slow. The
 * conversion loop does no call per NULL; the validity bitmap is built a byte at a time, and
 * only when some code is 0 (enrichment columns are often half NULL).
 */
function enumCodes(codes: Int32Array, n: number, bytes: 1 | 2 | 4): { data: Typed; valid: Uint8Array | undefined } {
  let nulls = 0;
  let data: Typed;
  if (bytes === 1) {
    const out = new Uint8Array(n);
    for (let r = 0; r < n; r++) {
      const c = codes[r];
      if (c > 0) out[r] = c - 1;
      else nulls++;
    }
    data = out;
  } else if (bytes === 2) {
    const out = new Uint16Array(n);
    for (let r = 0; r < n; r++) {
      const c = codes[r];
      if (c > 0) out[r] = c - 1;
      else nulls++;
    }
    data = out;
  } else {
    const out = new Uint32Array(n);
    for (let r = 0; r < n; r++) {
      const c = codes[r];
      if (c > 0) out[r] = c - 1;
      else nulls++;
    }
    data = out;
  }
  if (nulls === 0) return { data, valid: undefined };
  const valid = new Uint8Array(Math.ceil(n / 8) + 1);
  const full = n >> 3;
  for (let b = 0; b < full; b++) {
    const r = b << 3;
    valid[b] =
      (codes[r] > 0 ? 1 : 0) | (codes[r + 1] > 0 ? 2 : 0) | (codes[r + 2] > 0 ? 4 : 0) | (codes[r + 3] > 0 ? 8 : 0) |
      (codes[r + 4] > 0 ? 16 : 0) | (codes[r + 5] > 0 ? 32 : 0) | (codes[r + 6] > 0 ? 64 : 0) | (codes[r + 7] > 0 ? 128 : 0);
  }
  for (let r = full << 3; r < n; r++) if (codes[r] > 0) valid[r >> 3] |= 1 << (r & 7);
  return { data, valid };
}

/**
 * Offers a batch to DuckDB as `flowlens_stage(id)`. String columns are ENUMs over the batch's
 * own distinct values: their codes travel like the numbers, no string crosses one by one, and
 * Parquet writes an ENUM as a ready-made dictionary (much cheaper than VARCHAR). The
 * dictionary must be the batch's alone: each file's row groups carry the whole ENUM dictionary.
 */
function offer(staged: Staged[], values: (readonly string[])[], rows: number): number {
  // One type per dictionary: source and destination addresses share theirs (an ENUM of a
  // batch's tens of thousands of addresses costs ~15 ms to make).
  const byDict = new Map<number, duckdb.LogicalType>();
  const types = staged.map((c) => {
    if (c.type !== 'DICT') return stageType(c, values);
    let t = byDict.get(c.dict!);
    if (!t) byDict.set(c.dict!, (t = stageType(c, values)));
    return t;
  });
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

/** Where a slice of shared memory is copied for DuckDB, which takes only ArrayBuffers. */
const SCRATCH = new Uint8Array(CHUNK_ROWS * 8);

/**
 * A slice of `buffer` as DuckDB's copy functions take it: an ArrayBuffer as is, a
 * SharedArrayBuffer's bytes copied into SCRATCH first (used before the next call).
 */
function plain(buffer: ArrayBufferLike, offset: number, length: number): [ArrayBuffer, number, number] {
  if (buffer instanceof ArrayBuffer) return [buffer, offset, length];
  SCRATCH.set(new Uint8Array(buffer, offset, length));
  return [SCRATCH.buffer, 0, length];
}

/** The raw connection handle behind the friendly API (needed for table functions). */
function rawConnection(conn: DuckDBConnection): duckdb.Connection {
  return (conn as unknown as { connection: duckdb.Connection }).connection;
}

/** Registers `flowlens_stage(id)`: each call from DuckDB copies one 2048-row slice of every column. */
function registerStageFunction(conn: DuckDBConnection): void {
  const tf = duckdb.create_table_function();
  duckdb.table_function_set_name(tf, 'flowlens_stage');
  duckdb.table_function_add_parameter(tf, duckdb.create_logical_type(duckdb.Type.INTEGER));
  duckdb.table_function_set_bind(tf, (info) => {
    const id = duckdb.get_int32(duckdb.bind_get_parameter(info, 0));
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
    const rows = Math.max(0, Math.min(CHUNK_ROWS, batch.rows - off));
    for (let c = 0; c < batch.columns.length; c++) {
      const { data, valid } = batch.columns[c];
      const width = data.BYTES_PER_ELEMENT;
      const vector = duckdb.data_chunk_get_vector(out, c);
      duckdb.copy_data_to_vector(vector, 0, ...plain(data.buffer, data.byteOffset + off * width, rows * width));
      if (valid) {
        duckdb.vector_ensure_validity_writable(vector);
        duckdb.copy_data_to_vector_validity(vector, 0, ...plain(valid.buffer, valid.byteOffset + off / 8, Math.ceil(rows / 8)));
      }
    }
    duckdb.data_chunk_set_size(out, rows);
    state.pos += rows;
  });
  duckdb.register_table_function(rawConnection(conn), tf);
}

const registered = new WeakSet<DuckDBConnection>();

/**
 * The day (YYYY-MM-DD) all of a job's rows fall on, from its "date" column, or undefined when
 * they span several (AWS objects cover minutes, so nearly every chunk has one day).
 * @example onlyDay({ staged: [{ name: 'date', type: 'DATE', data: Int32Array.of(19675, 19675) }], rows: 2, ... }) // '2023-11-14'
 */
export function onlyDay(job: Pick<StageJob, 'staged' | 'rows'>): string | undefined {
  const date = job.staged.find((c) => c.name === 'date' && c.type === 'DATE');
  if (!date || job.rows === 0 || date.valid) return undefined;
  const days = date.data as Int32Array;
  const d = days[0];
  for (let r = 1; r < job.rows; r++) if (days[r] !== d) return undefined;
  // Years 1-9999 only: there our text and DuckDB's partition folder name agree.
  const text = dayText(d);
  return /^\d{4}-/.test(text) && !text.startsWith('0000') ? text : undefined;
}

/**
 * Writes one job on a connection (registering `flowlens_stage` on it the first time): one
 * Parquet file per day its records fall on (copyByDay).
 */
export async function writeJob(conn: DuckDBConnection, job: StageJob): Promise<string[]> {
  if (!registered.has(conn)) {
    registerStageFunction(conn);
    registered.add(conn);
  }
  const id = offer(job.staged, job.values, job.rows);
  try {
    return await copyByDay(conn, job.root, job.chunkId, job.select.replace('$id', String(id)), job.compression, undefined, onlyDay(job));
  } finally {
    STAGED.delete(id);
  }
}

/** Where a LakeWriter sends the batches it does not write itself. */
export interface StageSink {
  /** Writes a job; `transfer` buffers move instead of being copied (unused by the caller after). */
  write(job: StageJob, transfer?: ArrayBuffer[]): Promise<string[]>;
}

/**
 * Writes the jobs of several ingest threads in this thread: one DuckDB instance, a connection
 * per job in flight (each lane has at most one), so the lanes' COPYs run side by side. The
 * main thread of a threaded ingest only hands out files and counts, so it answers DuckDB's
 * pulls at once, as a writer thread of its own did; and a run then starts no writer thread
 * per lane (measured: ~0.5 s of CPU each to start, its TypeScript loader thread included).
 *
 * The instance has one thread: each COPY then runs on the (libuv pool) thread that waits for
 * it, so the lanes' COPYs, one per connection, run side by side. With a second DuckDB thread,
 * that thread often took a COPY's only task (its source, flowlens_stage, is single-threaded) while the waiting thread
 * polled for work in a loop of mutex calls: measured on 5 M records, 15% of the run's CPU.
 * @example const w = await SharedStageWriter.open('768MB'); await w.write(job); await w.close()
 */
export class SharedStageWriter implements StageSink {
  private free: DuckDBConnection[] = [];

  private constructor(private readonly instance: DuckDBInstance) {}

  static async open(memoryLimit: string): Promise<SharedStageWriter> {
    return new SharedStageWriter(await DuckDBInstance.create(':memory:', { threads: '1', preserve_insertion_order: 'false', memory_limit: memoryLimit }));
  }

  async write(job: StageJob): Promise<string[]> {
    const conn = this.free.pop() ?? (await this.instance.connect());
    try {
      return await writeJob(conn, job);
    } finally {
      this.free.push(conn);
    }
  }

  close(): void {
    for (const c of this.free) c.closeSync();
    this.free = [];
    this.instance.closeSync();
  }
}

/** The thread's side: one DuckDB instance, jobs answered in order. */
async function serve(opts: { memoryLimit: string }): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1', preserve_insertion_order: 'false', memory_limit: opts.memoryLimit });
  const conn = await instance.connect();
  let queue = Promise.resolve();
  parentPort!.on('message', (m: { seq: number; job?: StageJob; close?: boolean }) => {
    queue = queue.then(async () => {
      if (m.close) {
        conn.closeSync();
        instance.closeSync();
        parentPort!.postMessage({ seq: m.seq, files: [] });
        parentPort!.close();
        return;
      }
      try {
        parentPort!.postMessage({ seq: m.seq, files: await writeJob(conn, m.job!) });
      } catch (err) {
        parentPort!.postMessage({ seq: m.seq, error: (err as Error).message });
      }
    });
  });
  parentPort!.postMessage({ ready: true });
}

if (parentPort && (workerData as { stageWriter?: boolean } | undefined)?.stageWriter) await serve(workerData as { memoryLimit: string });

/**
 * The ingest side: a thread that writes jobs in the order given.
 * @example const w = await StageWriterThread.start('256MB'); await w.write(job); await w.close()
 */
export class StageWriterThread implements StageSink {
  private seq = 0;
  private waiting = new Map<number, { resolve: (files: string[]) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: { seq?: number; files?: string[]; error?: string }) => {
      if (m.seq === undefined) return;
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else w?.resolve(m.files ?? []);
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.waiting.size) fail(new Error(`the Parquet writer thread exited (${code})`));
    });
  }

  static async start(memoryLimit: string): Promise<StageWriterThread> {
    const worker = startWorker('store/stage-writer.ts', { stageWriter: true, memoryLimit });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: boolean }) => {
        if (!m.ready) return;
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      // A thread that ends before it is ready (no 'error' event) must not leave ingest waiting.
      worker.once('exit', (code) => reject(new Error(`the Parquet writer thread exited (${code}) before it was ready`)));
    });
    return new StageWriterThread(worker);
  }

  /**
   * Writes a job; resolves with the store-relative files it placed. Buffers in `transfer` move
   * to the thread instead of being copied (the caller must not use them afterwards).
   */
  write(job: StageJob, transfer: ArrayBuffer[] = []): Promise<string[]> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, job }, transfer);
    });
  }

  async close(): Promise<void> {
    if (this.failure) {
      await this.worker.terminate();
      return;
    }
    const seq = ++this.seq;
    await new Promise<void>((resolve) => {
      this.waiting.set(seq, { resolve: () => resolve(), reject: () => resolve() });
      this.worker.postMessage({ seq, close: true });
    });
    await this.worker.terminate();
  }
}
