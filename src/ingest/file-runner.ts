import { parentPort, workerData, type Worker } from 'node:worker_threads';
import type { Coverage, Enricher } from '../enrich/enricher.ts';
import { LakeWriter } from '../store/lake-writer.ts';
import type { StageJob, StageSink } from '../store/stage-writer.ts';
import { UserError } from '../util/errors.ts';
import { startWorker } from '../util/runtime.ts';
import type { CommitInfo } from './index.ts';
import { writeLedger, writeQuarantine, type LedgerEntry } from './ledger.ts';
import { ParquetInputError, ingestParquet } from './parquet-input.ts';
import { fileChunks, readCloudWatchJson, readTextLines } from './readers.ts';
import { sniff, type SourceKind } from './sources.ts';
import { ChunkPipeline, SourceIngestor, addCounts, zeroCounts, type Counts } from './source-ingestor.ts';

/**
 * Ingesting one claimed file, in this thread or in a worker thread. The run (ingestPaths)
 * claims files, skips what the store holds and sums up; a runner parses, enriches and commits.
 */

/** A claimed file: not stored yet, perhaps half done by an interrupted run (`known`). */
export interface FileJob {
  path: string;
  size: number;
  fingerprint: string;
  known?: LedgerEntry;
  /** Tells copies of this file waiting on it how many records it holds (main thread only). */
  settle: (records: number) => void;
}

export interface FileResult {
  /** Counts this run added, plus what an interrupted run had committed of a resumed file. */
  added: Counts;
  /** Records the file holds in the store now. */
  records: number;
}

/** Something that ingests claimed files one after another. */
export interface FileRunner {
  ingest(job: Omit<FileJob, 'settle'>): Promise<FileResult>;
  /** Finishes; returns the coverage counts of what it enriched (zero when done in-process). */
  close(): Promise<Coverage>;
}

/** A fresh ledger entry for a source. */
export function newEntry(fp: string, source: string, bytes: number): LedgerEntry {
  return { fingerprint: fp, source, bytes, chunks: 0, lines: 0, done: false, records: 0, ok: 0, nodata: 0, skipdata: 0, quarantined: 0, startedAt: new Date().toISOString() };
}

/** Feeds a text, gzip or CloudWatch JSON byte stream to an ingestor. */
export async function readSource(input: AsyncIterable<Uint8Array>, kind: SourceKind, ingestor: SourceIngestor, onBytes: (n: number) => void): Promise<void> {
  if (kind === 'json' || kind === 'json-gzip') await readCloudWatchJson(input, kind === 'json-gzip', ingestor, onBytes);
  else await readTextLines(input, kind === 'gzip', ingestor, onBytes);
}

/**
 * Ingests one file with a writer: Parquet through DuckDB, everything else through the parser.
 * A resumed file is re-read from the start; lines up to its ledger mark are skipped.
 */
async function ingestFile(
  job: Pick<FileJob, 'path' | 'size' | 'fingerprint' | 'known'>,
  db: string,
  fields: readonly string[],
  writer: LakeWriter,
  pipeline: ChunkPipeline,
  onBytes: (n: number) => void,
  onCommit?: (c: CommitInfo) => void,
): Promise<FileResult> {
  const { path, fingerprint: fp, known } = job;
  const entry = known ?? newEntry(fp, path, job.size);
  const added = zeroCounts();
  const kind = await sniff(path);
  if (kind === 'binary') {
    // Not gzip, Parquet, JSON or text (random bytes, an image, a truncated gzip header...):
    // one quarantine entry for the file instead of one per garbage "line".
    const chunkId = `${fp}-0`;
    await writeQuarantine(db, chunkId, [{ source: path, line: 0, reason: 'not a flow log file: binary content that is not gzip, Parquet or JSON' }]);
    Object.assign(entry, { chunks: 1, done: true, quarantined: 1, finishedAt: new Date().toISOString() });
    await writeLedger(db, entry);
    addCounts(added, { ...zeroCounts(), quarantined: 1 });
    onBytes(job.size);
    return { added, records: 0 };
  }
  if (kind === 'parquet') {
    const chunkId = `${fp}-0`;
    // A file DuckDB cannot read (damaged, truncated, not flow logs) is quarantined as a whole,
    // like a damaged gzip, and the run goes on. Nothing of it was placed: a chunk's files are
    // renamed into the store only after its COPY succeeded.
    const { counts, quarantine } = await ingestParquet(writer, path, fp, chunkId).catch((err: unknown) => {
      // Only the input's own faults; the store's (disk full, a folder in the way) stop the run
      // as before, and the file stays unclaimed for the next one.
      if (!(err instanceof ParquetInputError)) throw err;
      return { counts: { ...zeroCounts(), quarantined: 1 }, quarantine: [{ line: 0, reason: `not a readable flow log Parquet file: ${err.message}` }] };
    });
    await writeQuarantine(db, chunkId, quarantine.map((q) => ({ source: path, ...q })));
    Object.assign(entry, { chunks: 1, done: true, finishedAt: new Date().toISOString() });
    for (const k of ['records', 'ok', 'nodata', 'skipdata', 'quarantined'] as const) entry[k] = counts[k];
    await writeLedger(db, entry);
    addCounts(added, counts);
    onCommit?.({ source: path, file: undefined, records: counts.records, quarantined: counts.quarantined });
    onBytes(job.size);
    return { added, records: entry.records };
  }
  const ingestor = new SourceIngestor(pipeline, entry, fields, known?.lines ?? 0);
  addCounts(added, { records: entry.records, ok: entry.ok, nodata: entry.nodata, skipdata: entry.skipdata, quarantined: entry.quarantined });
  await readSource(fileChunks(path), kind, ingestor, onBytes);
  await ingestor.finish();
  addCounts(added, ingestor.counts);
  return { added, records: entry.records };
}

/** DuckDB memory for a run, shared by its lanes. */
export const RUN_MEMORY_MB = 768;

/** Runs files in this thread (small runs, one lane, or inside a worker). */
export class InlineRunner implements FileRunner {
  private constructor(
    private readonly db: string,
    private readonly fields: readonly string[],
    private readonly writer: LakeWriter,
    private readonly pipeline: ChunkPipeline,
    private readonly onBytes: (n: number) => void,
    private readonly onCommit?: (c: CommitInfo) => void,
  ) {}

  static async open(
    db: string,
    fields: readonly string[],
    batchRows: number,
    enricher: Enricher | undefined,
    lanes: number,
    onBytes: (n: number) => void,
    onCommit?: (c: CommitInfo) => void,
    stage?: StageSink,
  ): Promise<InlineRunner> {
    const writer = await LakeWriter.open(db, { threads: lanes > 1 ? 1 : 2, memoryLimit: `${Math.floor(RUN_MEMORY_MB / lanes)}MB`, enricher, stage });
    const pipeline = new ChunkPipeline(db, writer, batchRows, onCommit);
    return new InlineRunner(db, fields, writer, pipeline, onBytes, onCommit);
  }

  ingest(job: Omit<FileJob, 'settle'>): Promise<FileResult> {
    return ingestFile(job, this.db, this.fields, this.writer, this.pipeline, this.onBytes, this.onCommit);
  }

  async close(): Promise<Coverage> {
    try {
      await this.pipeline.drain();
    } finally {
      await this.writer.close();
    }
    return { records: 0, unattributed: 0 };
  }
}

interface WorkerSetup {
  db: string;
  fields: readonly string[];
  batchRows: number;
  enrich: boolean;
  lanes: number;
}

type ToWorker = { seq: number; job?: Omit<FileJob, 'settle'>; close?: boolean } | { staged: number; files?: string[]; error?: string };
type FromWorker =
  | { ready: true }
  | { bytes: number }
  | { commit: CommitInfo }
  | { stage: number; job: StageJob }
  | { seq: number; result?: FileResult; coverage?: Coverage; error?: { message: string; user: boolean } };

/** Runs files in a worker thread of its own, so parsing uses another core. */
export class FileWorker implements FileRunner {
  private seq = 0;
  private waiting = new Map<number, { resolve: (v: FromWorker & { seq: number }) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {}

  /** `stage`: the run's writer in this thread, which writes the worker's parsed batches. */
  static async start(setup: WorkerSetup, stage: StageSink, onBytes: (n: number) => void, onCommit?: (c: CommitInfo) => void): Promise<FileWorker> {
    const worker = startWorker('ingest/file-runner.ts', { fileRunner: true, setup });
    const fw = new FileWorker(worker);
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if ('ready' in m) resolve();
        else if ('bytes' in m) onBytes(m.bytes);
        else if ('commit' in m) onCommit?.(m.commit);
        else if ('stage' in m) {
          const id = m.stage;
          stage.write(m.job).then(
            (files) => worker.postMessage({ staged: id, files } satisfies ToWorker),
            (err: unknown) => worker.postMessage({ staged: id, error: (err as Error).message } satisfies ToWorker),
          );
        } else {
          const w = fw.waiting.get(m.seq);
          fw.waiting.delete(m.seq);
          if (!w) return;
          if (m.error) w.reject(m.error.user ? new UserError(m.error.message) : new Error(m.error.message));
          else w.resolve(m);
        }
      });
      const fail = (err: Error) => {
        fw.failure = err;
        for (const w of fw.waiting.values()) w.reject(err);
        fw.waiting.clear();
        reject(err);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (fw.waiting.size) fail(new Error(`an ingest worker thread exited (${code})`));
      });
    });
    return fw;
  }

  private call(msg: Omit<ToWorker, 'seq'>): Promise<FromWorker & { seq: number }> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, ...msg });
    });
  }

  async ingest(job: FileJob): Promise<FileResult> {
    const { path, size, fingerprint, known } = job;
    const r = await this.call({ job: { path, size, fingerprint, known } });
    return (r as { result: FileResult }).result;
  }

  async close(): Promise<Coverage> {
    try {
      if (this.failure) return { records: 0, unattributed: 0 };
      const r = await this.call({ close: true });
      return (r as { coverage?: Coverage }).coverage ?? { records: 0, unattributed: 0 };
    } finally {
      await this.worker.terminate();
    }
  }
}

/** The worker's side: an enricher and a writer of its own, files answered in order. */
async function serve(setup: WorkerSetup): Promise<void> {
  const port = parentPort!;
  let enricher: Enricher | undefined;
  if (setup.enrich) {
    const { loadEnricher } = await import('../enrich/index.ts');
    enricher = await loadEnricher(setup.db);
  }
  const post = (m: FromWorker) => port.postMessage(m);
  // Progress goes out a few times a second, not per chunk of input.
  let bytes = 0;
  let last = 0;
  const onBytes = (n: number) => {
    bytes += n;
    const now = performance.now();
    if (now - last < 100) return;
    last = now;
    post({ bytes });
    bytes = 0;
  };
  // Parsed batches are written by the main thread (SharedStageWriter), answered by id.
  const staging = new Map<number, { resolve: (files: string[]) => void; reject: (e: Error) => void }>();
  let stageIds = 0;
  const stage: StageSink = {
    write: (job, transfer = []) =>
      new Promise((resolve, reject) => {
        const id = ++stageIds;
        staging.set(id, { resolve, reject });
        port.postMessage({ stage: id, job } satisfies FromWorker, transfer);
      }),
  };
  const runner = await InlineRunner.open(setup.db, setup.fields, setup.batchRows, enricher, setup.lanes, onBytes, (c) => post({ commit: c }), stage);
  let queue = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    if ('staged' in m) {
      const w = staging.get(m.staged);
      staging.delete(m.staged);
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else w?.resolve(m.files ?? []);
      return;
    }
    queue = queue.then(async () => {
      try {
        if (m.close) {
          await runner.close();
          if (bytes) post({ bytes });
          post({ seq: m.seq, coverage: enricher?.coverage ?? { records: 0, unattributed: 0 } });
          return;
        }
        const result = await runner.ingest(m.job!);
        if (bytes) post({ bytes });
        bytes = 0;
        post({ seq: m.seq, result });
      } catch (err) {
        post({ seq: m.seq, error: { message: (err as Error).message, user: err instanceof UserError } });
      }
    });
  });
  post({ ready: true });
}

if (parentPort && (workerData as { fileRunner?: boolean } | undefined)?.fileRunner) await serve((workerData as { setup: WorkerSetup }).setup);
