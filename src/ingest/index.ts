import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Enricher } from '../enrich/enricher.ts';
import { DEFAULT_FIELDS } from '../schema/columns.ts';
import { parseFormatString, FormatError } from '../schema/format.ts';
import { LakeWriter } from '../store/lake-writer.ts';
import { ensureStore } from '../store/layout.ts';
import { buildRollups, warnRollupDay } from '../store/rollups.ts';
import { SharedStageWriter } from '../store/stage-writer.ts';
import { UserError } from '../util/errors.ts';
import { readLedger, writeLedger } from './ledger.ts';
import { discover, fingerprint, sniffBytes, type SourceFile } from './sources.ts';
import { FileWorker, InlineRunner, RUN_MEMORY_MB, newEntry, readSource, type FileJob, type FileResult } from './file-runner.ts';
import { ChunkPipeline, SourceIngestor, addCounts, zeroCounts, type Counts } from './source-ingestor.ts';

/** The summary `flowlens ingest --format json` prints (a stable contract). */
export interface IngestSummary extends Counts {
  files: number;
  duplicates: number;
  seconds: number;
  /** Files skipped because the store already holds them. */
  skipped_files: number;
  /** Files picked up where an interrupted run left them. */
  resumed_files: number;
  quarantine_dir: string;
  /** Seconds spent rebuilding the rollups of the days the run touched, after `seconds`. */
  rollup_seconds: number;
  /**
   * Share of the run's records (with addresses) that have an internal address no inventory
   * entry names; null when enrichment is off.
   */
  unattributed_ratio: number | null;
}

export interface IngestProgress {
  file: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  records: number;
}

export interface IngestOptions {
  /** The store folder. */
  db: string;
  /** AWS format string for files without a header line (default: the v2 format). */
  logFormat?: string;
  /** Records per committed chunk. */
  batchRows?: number;
  onProgress?: (p: IngestProgress) => void;
  /** Files ingested at the same time (default 2: one per core). */
  concurrency?: number;
  /**
   * Parse in worker threads, one file each (default: when there are several files and at least
   * 16 MB in all; a worker costs a fraction of a second to start).
   */
  threads?: boolean;
  /**
   * Called after each chunk is durable (its Parquet file renamed into the store), in commit
   * order: streaming detection and live metrics follow ingest through this.
   */
  onCommit?: (c: CommitInfo) => void | Promise<void>;
  /**
   * An inventory file or folder (YAML, CSV, fabric topology, describe-* outputs) to use from
   * now on: it replaces the one kept in `<db>/enrich/inventory.json`.
   */
  inventory?: string;
  /** false: store records without enrichment columns, whatever the store's settings. */
  enrich?: boolean;
  /** false: leave the rollups of the days this run touched stale (queries read the records). */
  rollups?: boolean;
  /**
   * ingestStream: the content's id when the caller knows it before reading (live ingest hashes
   * each request). The stream's files then carry their final names from the start and are
   * never renamed under a concurrent query; a retried request rewrites the same names.
   */
  contentId?: string;
  /**
   * ingestStream: a writer the caller keeps open across calls (live ingest commits a request at
   * a time; opening a writer and loading enrichment for each cost more than small requests'
   * parsing). Its enricher is used and it is left open.
   */
  writer?: LakeWriter;
}

/** A committed chunk: the store-relative Parquet file and what it holds. */
export interface CommitInfo {
  source: string;
  file: string | undefined;
  records: number;
  quarantined: number;
  /** Earliest and latest window start in the chunk (unix seconds), when known. */
  minStart?: number;
  maxStart?: number;
}

/** The run's enricher: installs a new inventory first when one is given. */
async function runEnricher(opts: IngestOptions): Promise<Enricher | undefined> {
  if (opts.enrich === false) return undefined;
  const { loadEnricher, readInventory, saveInventory } = await import('../enrich/index.ts');
  if (opts.inventory) await saveInventory(opts.db, await readInventory(opts.inventory));
  return loadEnricher(opts.db);
}

function unattributedRatio(e: Enricher | undefined, before = { records: 0, unattributed: 0 }): number | null {
  if (!e) return null;
  const records = e.coverage.records - before.records;
  return records ? Math.round(((e.coverage.unattributed - before.unattributed) / records) * 1e6) / 1e6 : 0;
}

export const DEFAULT_BATCH_ROWS = 1 << 18;
export const DEFAULT_CONCURRENCY = 2;

function initialFields(logFormat: string | undefined): readonly string[] {
  if (!logFormat) return DEFAULT_FIELDS;
  try {
    return parseFormatString(logFormat);
  } catch (err) {
    if (err instanceof FormatError) throw new UserError(`--log-format: ${err.message}`, { cause: err });
    throw err;
  }
}


/**
 * Ingests files and folders (recursively) into the store. Each file is fingerprinted: a file
 * the store holds already adds nothing (its records count as duplicates), and a file an
 * interrupted run left half-done resumes after its last committed chunk.
 * @example const s = await ingestPaths(['AWSLogs/'], { db: './flowlens.duckdb' })
 */
export async function ingestPaths(paths: readonly string[], opts: IngestOptions): Promise<IngestSummary> {
  const t0 = performance.now();
  const fields = initialFields(opts.logFormat);
  await ensureStore(opts.db);
  const enricher = await runEnricher(opts);
  const files = await discover(paths, opts.db);
  const bytesTotal = files.reduce((a, f) => a + f.size, 0);
  const total = zeroCounts();
  const summary = { files: 0, duplicates: 0, skipped_files: 0, resumed_files: 0 };
  let bytesDone = 0;
  let lastProgress = 0;
  const progress = (file: string, force = false) => {
    const now = performance.now();
    if (!opts.onProgress || (!force && now - lastProgress < 200)) return;
    lastProgress = now;
    opts.onProgress({ file, filesDone: summary.files, filesTotal: files.length, bytesDone, bytesTotal, records: total.records });
  };
  // Each file is claimed here, in one thread, before it is handed to a worker: a copy of a file
  // in flight waits for it and then counts as a duplicate, exactly as if it came after.
  const claimed = new Map<string, Promise<number>>();
  const claim = async (f: SourceFile): Promise<FileJob | undefined> => {
    const fp = await fingerprint(f.path, f.size);
    // Claim before any other await, so two workers never both take the same content.
    const inFlight = claimed.get(fp);
    if (inFlight) {
      // Await first: `x += await y` would read x before the wait and lose a concurrent update.
      const copies = await inFlight;
      summary.duplicates += copies;
      summary.skipped_files++;
      bytesDone += f.size;
      progress(f.path);
      return undefined;
    }
    let settle!: (n: number) => void;
    claimed.set(fp, new Promise<number>((r) => (settle = r)));
    const known = await readLedger(opts.db, fp);
    if (known?.done) {
      summary.duplicates += known.records;
      summary.skipped_files++;
      bytesDone += f.size;
      progress(f.path);
      settle(known.records);
      return undefined;
    }
    if (known) summary.resumed_files++;
    return { path: f.path, size: f.size, fingerprint: fp, known, settle };
  };
  // Commits reach onCommit in order, one at a time, whichever thread made them.
  let commits = Promise.resolve();
  const onCommit = opts.onCommit ? (c: CommitInfo) => void (commits = commits.then(() => opts.onCommit!(c))) : undefined;
  const done = (job: FileJob, r: FileResult) => {
    addCounts(total, r.added);
    job.settle(r.records);
    progress(job.path, true);
  };

  const lanes = Math.max(1, Math.min(opts.concurrency ?? DEFAULT_CONCURRENCY, files.length));
  const threaded = opts.threads ?? (lanes > 1 && bytesTotal >= THREADED_BYTES);
  // Threads parse; this thread writes their batches (it has nothing else to do meanwhile).
  const stage = threaded ? SharedStageWriter.open(`${RUN_MEMORY_MB}MB`) : undefined;
  let next = 0;
  const lane = async () => {
    const run = stage
      ? await FileWorker.start({ db: opts.db, fields, batchRows: opts.batchRows ?? DEFAULT_BATCH_ROWS, enrich: enricher !== undefined, lanes }, await stage, (n) => {
          bytesDone += n;
          progress('');
        }, onCommit)
      : await InlineRunner.open(opts.db, fields, opts.batchRows ?? DEFAULT_BATCH_ROWS, enricher, lanes, (n) => {
          bytesDone += n;
          progress('');
        }, onCommit);
    try {
      while (next < files.length) {
        const f = files[next++];
        summary.files++;
        const job = await claim(f);
        if (!job) continue;
        try {
          done(job, await run.ingest(job));
        } catch (err) {
          job.settle(0);
          throw err;
        }
      }
    } finally {
      const coverage = await run.close();
      if (enricher && threaded) {
        enricher.coverage.records += coverage.records;
        enricher.coverage.unattributed += coverage.unattributed;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: lanes }, lane));
  if (stage) (await stage).close();
  await commits;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const seconds = round((performance.now() - t0) / 1000);
  // Days whose records changed get their rollups rebuilt (timed apart from the ingest itself).
  const t1 = performance.now();
  if (opts.rollups !== false && total.records + total.quarantined > 0) await buildRollups(opts.db, undefined, { onError: warnRollupDay });
  return { ...summary, ...total, seconds, rollup_seconds: round((performance.now() - t1) / 1000), quarantine_dir: `${opts.db}/quarantine`, unattributed_ratio: unattributedRatio(enricher) };
}

/**
 * Inputs from this size on are parsed in worker threads, one file per thread: parsing is the
 * bulk of the work, and one thread cannot use the second core. Smaller runs stay in this
 * thread (a worker costs a fraction of a second to start).
 */
const THREADED_BYTES = 16 << 20;


/**
 * Ingests a stream (stdin, an HTTP body). Chunks are named by a hash of their content, so
 * sending the same bytes twice stores them once.
 * @example await ingestStream(process.stdin, 'stdin', { db })
 */
export async function ingestStream(input: Readable, name: string, opts: IngestOptions): Promise<IngestSummary> {
  const t0 = performance.now();
  const fields = initialFields(opts.logFormat);
  await ensureStore(opts.db);
  // Sniff from the first bytes without losing them.
  const first: Buffer[] = [];
  let firstLen = 0;
  const iterator = input[Symbol.asyncIterator]();
  while (firstLen < 4) {
    const r = await iterator.next();
    if (r.done) break;
    first.push(r.value as Buffer);
    firstLen += (r.value as Buffer).length;
  }
  const head = Buffer.concat(first);
  const kind = sniffBytes(head, name);
  const { Readable: R } = await import('node:stream');
  const replay = R.from(
    (async function* () {
      if (head.length) yield head;
      for (;;) {
        const r = await iterator.next();
        if (r.done) return;
        yield r.value as Buffer;
      }
    })(),
  );
  const enricher = opts.writer ? opts.writer.enricher : await runEnricher(opts);
  // One DuckDB thread: a stream's batches are all staged (one task per COPY), see live-ingest.ts.
  const writer = opts.writer ?? (await LakeWriter.open(opts.db, { enricher, threads: 1 }));
  // A kept writer's enricher counts every call's records: this call's ratio is the difference.
  const covered = enricher ? { ...enricher.coverage } : undefined;
  const total = zeroCounts();
  let duplicates = 0;
  try {
    if (kind === 'parquet') throw new UserError(`${name}: Parquet cannot be read from a stream; pass the file path`);
    // Content-addressed. Unless the caller knows the content's id beforehand, the hash of the
    // stream is known only at the end, so the stream is committed under a run id and re-keyed
    // to its content hash when complete. (Decided before the hash listener below, which starts
    // the stream flowing: awaiting after it would lose data.)
    const known = opts.contentId ? `s${opts.contentId.replace(/[^0-9A-Za-z]/g, '').slice(0, 23)}` : undefined;
    const direct = known !== undefined && !(await readLedger(opts.db, known))?.done;
    const hash = createHash('sha256');
    const hashed = replay.on('data', (d: Buffer) => hash.update(d));
    const runId = direct ? known : `stream-${process.pid}-${Date.now().toString(36)}`;
    // Commits are reported once the stream's files carry their final names (below).
    const commits: CommitInfo[] = [];
    const pipeline = new ChunkPipeline(opts.db, writer, opts.batchRows ?? DEFAULT_BATCH_ROWS, (c) => {
      commits.push(c);
    });
    const entry = newEntry(runId, name, 0);
    const ingestor = new SourceIngestor(pipeline, entry, fields);
    await readSource(hashed, kind, ingestor, () => {});
    await ingestor.finish();
    const fp = known ?? `s${hash.digest('hex').slice(0, 23)}`;
    const prior = direct ? undefined : await readLedger(opts.db, fp);
    const { retireRun } = await import('../store/layout.ts');
    if (direct) {
      // Written under the final names already; finish() marked the ledger entry done.
      addCounts(total, ingestor.counts);
      for (const c of commits) await opts.onCommit?.(c);
    } else if (prior?.done) {
      // Same bytes were stored before: drop this run's files and count them as duplicates.
      await retireRun(opts.db, runId, undefined);
      duplicates = ingestor.counts.records;
    } else {
      await retireRun(opts.db, runId, fp);
      addCounts(total, ingestor.counts);
      await writeLedger(opts.db, { ...entry, fingerprint: fp, bytes: 0 });
      for (const c of commits) await opts.onCommit?.({ ...c, file: c.file?.replace(runId, fp) });
    }
  } finally {
    if (!opts.writer) await writer.close();
  }
  const seconds = round((performance.now() - t0) / 1000);
  const t1 = performance.now();
  if (opts.rollups !== false && total.records + total.quarantined > 0) await buildRollups(opts.db, undefined, { onError: warnRollupDay });
  return {
    files: 1,
    duplicates,
    skipped_files: duplicates ? 1 : 0,
    resumed_files: 0,
    ...total,
    rollup_seconds: round((performance.now() - t1) / 1000),
    seconds,
    quarantine_dir: `${opts.db}/quarantine`,
    unattributed_ratio: unattributedRatio(enricher, covered),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
