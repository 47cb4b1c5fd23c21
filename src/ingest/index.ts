import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Enricher } from '../enrich/enricher.ts';
import { DEFAULT_FIELDS } from '../schema/columns.ts';
import { parseFormatString, FormatError } from '../schema/format.ts';
import { LakeWriter } from '../store/lake-writer.ts';
import { ensureStore } from '../store/layout.ts';
import { UserError } from '../util/errors.ts';
import { readLedger, writeLedger, writeQuarantine, type LedgerEntry } from './ledger.ts';
import { ingestParquet } from './parquet-input.ts';
import { readCloudWatchJson, readTextLines } from './readers.ts';
import { discover, fingerprint, sniff, sniffBytes, type SourceFile, type SourceKind } from './sources.ts';
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

function unattributedRatio(e: Enricher | undefined): number | null {
  if (!e) return null;
  return e.coverage.records ? Math.round((e.coverage.unattributed / e.coverage.records) * 1e6) / 1e6 : 0;
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

function newEntry(fp: string, source: string, bytes: number): LedgerEntry {
  return { fingerprint: fp, source, bytes, chunks: 0, lines: 0, done: false, records: 0, ok: 0, nodata: 0, skipdata: 0, quarantined: 0, startedAt: new Date().toISOString() };
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
  // Files in flight in this run, by fingerprint: a copy of a file being ingested waits for it
  // and then counts as a duplicate, exactly as if it came after.
  const claimed = new Map<string, Promise<number>>();

  const ingestOne = async (f: SourceFile, writer: LakeWriter, pipeline: ChunkPipeline): Promise<number> => {
    const fp = await fingerprint(f.path, f.size);
    // Claim before any other await, so two workers never both take the same content.
    const inFlight = claimed.get(fp);
    let settle!: (n: number) => void;
    if (!inFlight) claimed.set(fp, new Promise<number>((r) => (settle = r)));
    const known = inFlight ? undefined : await readLedger(opts.db, fp);
    if (inFlight || known?.done) {
      // Await first: `x += await y` would read x before the wait and lose a concurrent update.
      const copies = inFlight ? await inFlight : known!.records;
      summary.duplicates += copies;
      summary.skipped_files++;
      bytesDone += f.size;
      progress(f.path);
      settle?.(known?.records ?? 0);
      return 0;
    }
    const entry = known ?? newEntry(fp, f.path, f.size);
    try {
      if (known) summary.resumed_files++;
      const kind = await sniff(f.path);
      if (kind === 'parquet') {
        const chunkId = `${fp}-0`;
        const { counts, quarantine } = await ingestParquet(writer, f.path, fp, chunkId).catch((err: unknown) => {
          throw new UserError(`${f.path}: cannot read as Parquet: ${(err as Error).message}`, { cause: err });
        });
        await writeQuarantine(opts.db, chunkId, quarantine.map((q) => ({ source: f.path, ...q })));
        Object.assign(entry, { chunks: 1, done: true, finishedAt: new Date().toISOString() });
        for (const k of ['records', 'ok', 'nodata', 'skipdata', 'quarantined'] as const) entry[k] = counts[k];
        await writeLedger(opts.db, entry);
        addCounts(total, counts);
        await opts.onCommit?.({ source: f.path, file: undefined, records: counts.records, quarantined: counts.quarantined });
        bytesDone += f.size;
      } else {
        // Resumed files are re-read from the start: lines up to the ledger mark are skipped.
        const ingestor = new SourceIngestor(pipeline, entry, fields, known?.lines ?? 0);
        const resumed = { records: entry.records, ok: entry.ok, nodata: entry.nodata, skipdata: entry.skipdata, quarantined: entry.quarantined };
        await readSource(createReadStream(f.path, { highWaterMark: 1 << 20 }), kind, ingestor, (n) => {
          bytesDone += n;
          progress(f.path);
        });
        await ingestor.finish();
        addCounts(total, resumed);
        addCounts(total, ingestor.counts);
      }
      progress(f.path, true);
    } finally {
      settle(entry.records);
    }
    return entry.records;
  };

  // DuckDB scans one gzip stream on one thread, so two files at a time keep both cores busy.
  const workers = Math.max(1, Math.min(opts.concurrency ?? DEFAULT_CONCURRENCY, files.length));
  let next = 0;
  const worker = async () => {
    // One DuckDB thread per file in flight: gzip is read on one thread anyway, and two files on
    // one thread each beat one file on two (measured: 0.8 against 1.1 s per million records).
    const writer = await LakeWriter.open(opts.db, { threads: workers > 1 ? 1 : 2, memoryLimit: `${Math.floor(768 / workers)}MB`, enricher });
    const pipeline = new ChunkPipeline(opts.db, writer, opts.batchRows ?? DEFAULT_BATCH_ROWS, opts.onCommit);
    try {
      while (next < files.length) {
        const f = files[next++];
        summary.files++;
        await ingestOne(f, writer, pipeline);
      }
      await pipeline.drain();
    } finally {
      await writer.close();
    }
  };
  const results = await Promise.allSettled(Array.from({ length: workers }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return { ...summary, ...total, seconds: round((performance.now() - t0) / 1000), quarantine_dir: `${opts.db}/quarantine`, unattributed_ratio: unattributedRatio(enricher) };
}

async function readSource(input: Readable, kind: SourceKind, ingestor: SourceIngestor, onBytes: (n: number) => void): Promise<void> {
  if (kind === 'json' || kind === 'json-gzip') await readCloudWatchJson(input, kind === 'json-gzip', ingestor, onBytes);
  else await readTextLines(input, kind === 'gzip', ingestor, onBytes);
}

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
  const enricher = await runEnricher(opts);
  const writer = await LakeWriter.open(opts.db, { enricher });
  const total = zeroCounts();
  let duplicates = 0;
  try {
    if (kind === 'parquet') throw new UserError(`${name}: Parquet cannot be read from a stream; pass the file path`);
    // Content-addressed: the hash of the stream is known only at the end, so the stream is
    // committed under a run id and re-keyed to its content hash when complete.
    const hash = createHash('sha256');
    const hashed = replay.on('data', (d: Buffer) => hash.update(d));
    const runId = `stream-${process.pid}-${Date.now().toString(36)}`;
    // Commits are reported once the stream's files carry their final names (below).
    const commits: CommitInfo[] = [];
    const pipeline = new ChunkPipeline(opts.db, writer, opts.batchRows ?? DEFAULT_BATCH_ROWS, (c) => {
      commits.push(c);
    });
    const entry = newEntry(runId, name, 0);
    const ingestor = new SourceIngestor(pipeline, entry, fields);
    await readSource(hashed, kind, ingestor, () => {});
    await ingestor.finish();
    const fp = `s${hash.digest('hex').slice(0, 23)}`;
    const prior = await readLedger(opts.db, fp);
    const { retireRun } = await import('../store/layout.ts');
    if (prior?.done) {
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
    await writer.close();
  }
  return {
    files: 1,
    duplicates,
    skipped_files: duplicates ? 1 : 0,
    resumed_files: 0,
    ...total,
    seconds: round((performance.now() - t0) / 1000),
    quarantine_dir: `${opts.db}/quarantine`,
    unattributed_ratio: unattributedRatio(enricher),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
