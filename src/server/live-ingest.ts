import { createHash } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { enrichStamp, loadEnricher } from '../enrich/index.ts';
import { DEFAULT_BATCH_ROWS, ingestStream, type CommitInfo, type IngestSummary } from '../ingest/index.ts';
import { ensureStore } from '../store/layout.ts';
import { LakeWriter } from '../store/lake-writer.ts';
import { inferLogFormat, parseFormatString, parseHeaderLine } from '../schema/format.ts';
import { HttpError } from './errors.ts';
import type { Metrics } from './metrics.ts';

/** Position of the `end` field in lines of this format, for the processing-latency histogram. */
function endIndex(fields: readonly string[] | undefined): number {
  return fields ? fields.indexOf('end') : 11;
}

/** What a live ingest request came back with: the counts of the commit it was part of. */
export type LiveResult = Pick<IngestSummary, 'records' | 'ok' | 'nodata' | 'skipdata' | 'quarantined' | 'duplicates'> & { lines: number };

interface Job {
  text: string;
  bytes: number;
  lines: number;
  fields: readonly string[] | undefined;
  format: string | undefined;
  route: string;
  hash: string;
  /** Date.now() when the request reached us (detection latency counts from here). */
  receivedAt: number;
  resolve: (r: LiveResult) => void;
  reject: (err: unknown) => void;
}

/** Requests remembered for retry detection (Firehose retries a request it got no 200 for). */
const SEEN_LIMIT = 200_000;
/** Most bytes one group commit gathers. */
const GROUP_BYTES = 32 * 1024 * 1024;
export const SEEN_FILE = 'live-requests.log';

/**
 * Live ingest behind the HTTP routes. A request is acknowledged only after its records are
 * durable (committed through `ingestStream`: Parquet renamed into the store, then the ledger).
 * Firehose requests waiting together are committed as one group (a commit costs ~0.2 s whatever
 * its size, so one commit per 500-record request would cap ingest near 2,500 records/s); each
 * request's content hash is remembered in the store folder, so a retried request is stored
 * once. Bytes accepted and not yet committed are bounded; beyond that callers get 429.
 */
export class LiveIngest {
  private queue: Job[] = [];
  private pumping = false;
  private seen: Set<string> | undefined;
  private inFlightBytes = 0;
  private pending = 0;
  /** Seconds a commit takes (smoothed), for Retry-After. */
  private commitSeconds = 0.2;
  /**
   * One writer for every commit, with the enrichment it was opened with (`stamp`): a writer
   * per request cost a DuckDB instance and the enrichment files' loading each time.
   */
  private writer: { stamp: string; w: LakeWriter } | undefined;
  /** Set by close(): no writer is opened after it. */
  private closed = false;
  readonly stats = { requests: 0, commits: 0, rejected429: 0, lastCommitAt: undefined as string | undefined, lastError: undefined as string | undefined };

  constructor(
    private readonly db: string,
    private readonly metrics: Metrics,
    private readonly maxInFlightBytes: number,
    private readonly onCommit: (c: CommitInfo, receivedAt: number) => Promise<void>,
  ) {}

  /** Seconds a refused sender should wait: the commits ahead of it at the observed speed. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((Math.min(this.pending, 8) + 1) * this.commitSeconds));
  }

  /**
   * Refuses a request (429) when its bytes would push the in-flight total over the bound.
   * Called from the request's headers first (Content-Length), so a refused body is never read.
   */
  admit(bytes: number, route: string): void {
    if (this.inFlightBytes > 0 && this.inFlightBytes + bytes > this.maxInFlightBytes) {
      this.stats.rejected429++;
      this.metrics.requests.inc({ route, outcome: 'throttled' });
      throw new HttpError(429, `ingest is busy (${this.inFlightBytes} bytes waiting to commit); retry after ${this.retryAfter()} s`, { retryAfter: this.retryAfter() });
    }
  }

  /** Bytes and requests waiting to commit (health and metrics). */
  get inFlight(): { bytes: number; requests: number } {
    return { bytes: this.inFlightBytes, requests: this.pending };
  }

  /**
   * Stores `text` (flow log lines, with or without a header) durably; resolves once the data is
   * committed, with the counts of the commit it was part of.
   * @example await live.ingest('2 123456789010 eni-1 ... ACCEPT OK\n', 'lines', undefined)
   */
  async ingest(text: string, route: string, logFormat: string | undefined): Promise<LiveResult> {
    const receivedAt = Date.now();
    const bytes = Buffer.byteLength(text);
    this.admit(bytes, route);
    const firstLine = text.slice(0, Math.min(text.length, 4096)).split('\n', 1)[0] ?? '';
    const header = parseHeaderLine(firstLine);
    const format = logFormat ?? (header ? undefined : inferLogFormat(firstLine));
    const fields = header ?? (format ? parseFormatString(format) : undefined);
    const lines = countLines(text) - (header ? 1 : 0);
    this.metrics.received.inc({ route }, lines);
    this.metrics.totals.received += lines;
    const hash = createHash('sha256').update(`${format ?? ''}\n`).update(text).digest('hex').slice(0, 32);
    this.inFlightBytes += bytes;
    this.pending++;
    this.metrics.inFlight.set(this.inFlightBytes);
    try {
      return await new Promise<LiveResult>((resolve, reject) => {
        this.queue.push({ text: text.endsWith('\n') ? text : text + '\n', bytes, lines, fields, format, route, hash, receivedAt, resolve, reject });
        void this.pump();
      });
    } finally {
      this.inFlightBytes -= bytes;
      this.pending--;
      this.metrics.inFlight.set(this.inFlightBytes);
    }
  }

  /** Waits for everything accepted so far to commit (shutdown). */
  async drain(): Promise<void> {
    while (this.pumping || this.queue.length) await new Promise((r) => setTimeout(r, 20));
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length) {
        const first = this.queue.shift()!;
        const group = [first];
        let size = first.bytes;
        // Only Firehose requests share a commit: a text POST answers with its own exact counts.
        while (first.route === 'firehose' && this.queue.length && this.queue[0].route === 'firehose' && this.queue[0].format === first.format && size + this.queue[0].bytes <= GROUP_BYTES) {
          size += this.queue[0].bytes;
          group.push(this.queue.shift()!);
        }
        await this.commitGroup(group);
      }
    } finally {
      this.pumping = false;
    }
  }

  private async commitGroup(group: Job[]): Promise<void> {
    const t0 = performance.now();
    try {
      const seen = await this.loadSeen();
      const fresh: Job[] = [];
      for (const j of group) {
        if (seen.has(j.hash) || fresh.some((f) => f.hash === j.hash)) {
          this.metrics.duplicated.inc({ route: j.route }, j.lines);
          this.metrics.totals.duplicated += j.lines;
          this.metrics.requests.inc({ route: j.route, outcome: 'duplicate' });
          j.resolve({ records: 0, ok: 0, nodata: 0, skipdata: 0, quarantined: 0, duplicates: j.lines, lines: j.lines });
        } else fresh.push(j);
      }
      if (!fresh.length) return;
      const route = fresh[0].route;
      const text = fresh.length === 1 ? fresh[0].text : fresh.map((j) => j.text).join('');
      const lines = fresh.reduce((n, j) => n + j.lines, 0);
      const summary = await ingestStream(Readable.from([Buffer.from(text)]), `http-${route}`, {
        db: this.db,
        writer: await this.openWriter(),
        // Batches sized to the request: a default-sized one is tens of MB to allocate and clear
        // for a few thousand lines.
        batchRows: Math.min(DEFAULT_BATCH_ROWS, 1 << Math.ceil(Math.log2(Math.max(1024, lines + 1)))),
        logFormat: fresh[0].format,
        onCommit: (c) => this.onCommit(c, Math.min(...fresh.map((j) => j.receivedAt))),
        contentId: fresh.length === 1 ? fresh[0].hash : createHash('sha256').update(fresh.map((j) => j.hash).join('\n')).digest('hex').slice(0, 32),
        rollups: false,
      });
      await this.remember(fresh.map((j) => j.hash));
      this.stats.commits++;
      this.stats.requests += fresh.length;
      this.stats.lastCommitAt = new Date().toISOString();
      // `records` counts stored records (OK, NODATA, SKIPDATA); quarantined lines are apart.
      const stored = summary.duplicates ? 0 : summary.records;
      this.metrics.stored.inc({ route }, stored);
      this.metrics.quarantined.inc({ route }, summary.quarantined);
      this.metrics.duplicated.inc({ route }, summary.duplicates);
      this.metrics.totals.stored += stored;
      this.metrics.totals.quarantined += summary.quarantined;
      this.metrics.totals.duplicated += summary.duplicates;
      for (const j of fresh) {
        if (!summary.duplicates) this.observeLatency(j.text, j.fields);
        this.metrics.requests.inc({ route, outcome: summary.duplicates ? 'duplicate' : 'stored' });
        j.resolve({ records: summary.records, ok: summary.ok, nodata: summary.nodata, skipdata: summary.skipdata, quarantined: summary.quarantined, duplicates: summary.duplicates, lines: j.lines });
      }
    } catch (err) {
      this.stats.lastError = (err as Error).message;
      // A writer that failed mid-commit is not trusted with the next one.
      await this.closeWriter().catch(() => undefined);
      for (const j of group) {
        this.metrics.requests.inc({ route: j.route, outcome: 'failed' });
        j.reject(err);
      }
    } finally {
      this.commitSeconds = 0.8 * this.commitSeconds + 0.2 * ((performance.now() - t0) / 1000);
    }
  }

  /** The kept writer, opened again when the store's enrichment files changed since. */
  private async openWriter(): Promise<LakeWriter> {
    if (this.closed) throw new HttpError(503, 'the server is shutting down; retry against the next one', { retryAfter: 1 });
    await ensureStore(this.db);
    const stamp = await enrichStamp(this.db);
    if (this.writer?.stamp === stamp) return this.writer.w;
    await this.closeWriter();
    // One DuckDB thread: it only writes parsed batches (flowlens_stage, one task per COPY),
    // and a second thread made each small request's write slower (60 chunks of 5,000 records:
    // 0.37 vs 0.27 s).
    const w = await LakeWriter.open(this.db, { enricher: await loadEnricher(this.db), threads: 1 });
    this.writer = { stamp, w };
    return w;
  }

  private async closeWriter(): Promise<void> {
    const w = this.writer;
    this.writer = undefined;
    await w?.w.close();
  }

  /** Waits for what was accepted, then releases the writer (server shutdown). */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    await this.closeWriter();
  }

  private async loadSeen(): Promise<Set<string>> {
    if (this.seen) return this.seen;
    const text = await readFile(join(this.db, SEEN_FILE), 'utf8').catch(() => '');
    this.seen = new Set(text.split('\n').filter(Boolean).slice(-SEEN_LIMIT));
    return this.seen;
  }

  /** Appended after the commit: a crash in between means a retry is stored again (at least once). */
  private async remember(hashes: string[]): Promise<void> {
    const seen = await this.loadSeen();
    for (const h of hashes) seen.add(h);
    if (seen.size > SEEN_LIMIT) {
      const drop = seen.size - SEEN_LIMIT;
      let i = 0;
      for (const h of seen) {
        if (i++ >= drop) break;
        seen.delete(h);
      }
    }
    await appendFile(join(this.db, SEEN_FILE), hashes.join('\n') + '\n');
  }

  /**
   * Record end → stored, per record (up to 2,000 sampled evenly per request): the time the
   * sender's data waited for AWS's window, delivery and this commit, as the SLI defines it.
   */
  private observeLatency(text: string, fields: readonly string[] | undefined): void {
    const at = endIndex(fields);
    if (at < 0) return;
    const now = Date.now() / 1000;
    const lines = text.split('\n');
    const step = Math.max(1, Math.floor(lines.length / 2000));
    for (let i = 0; i < lines.length; i += step) {
      const end = Number(lines[i].split(' ', at + 1)[at]);
      // Plausible record ends only: headers, NODATA placeholders and garbage are skipped.
      if (Number.isFinite(end) && end > 1e9 && end <= now + 300) this.metrics.processing.observe(Math.max(0, now - end));
    }
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  if (text.length && !text.endsWith('\n')) n++;
  return n;
}
