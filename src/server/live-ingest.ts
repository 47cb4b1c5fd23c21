import { Readable } from 'node:stream';
import { ingestStream, type CommitInfo, type IngestSummary } from '../ingest/index.ts';
import { FIELDS } from '../schema/columns.ts';
import { parseFormatString, parseHeaderLine, toFormatString } from '../schema/format.ts';
import { HttpError } from './errors.ts';
import type { Metrics } from './metrics.ts';

/** Fields AWS has not given a version number; never part of an "all fields" format. */
const UNVERSIONED = new Set(['resource-id', 'encryption-status']);

/**
 * The format of header-less lines (Firehose delivers no header): the one given, else the
 * "all fields up to version N" format when the first line's version and field count say so
 * (what the VPC console offers), else the default format.
 * @example inferLogFormat('5 123456789010 eni-1 ...29 fields') // '${version} ${account-id} ... ${traffic-path}'
 */
export function inferLogFormat(firstLine: string): string | undefined {
  const tokens = firstLine.trim().split(/\s+/);
  const v = Number(tokens[0]);
  if (!Number.isInteger(v) || v < 2 || v > 8) return undefined;
  const fields = FIELDS.filter((f) => f.version <= v && !UNVERSIONED.has(f.field)).map((f) => f.field);
  return fields.length === tokens.length && v > 2 ? toFormatString(fields) : undefined;
}

/** Position of the `end` field in lines of this format, for the processing-latency histogram. */
function endIndex(fields: readonly string[] | undefined): number {
  return fields ? fields.indexOf('end') : 11;
}

/** What a live ingest request came back with (the summary plus what the route needs). */
export interface LiveResult extends IngestSummary {
  lines: number;
}

/**
 * Live ingest behind the HTTP routes: requests are committed one at a time through
 * `ingestStream` (each request is one content-addressed stream, so a retried request is stored
 * once), and a request is acknowledged only after its chunks are durable. Bytes accepted and not
 * yet committed are bounded; beyond the bound callers get 429 with Retry-After.
 */
export class LiveIngest {
  private chain: Promise<unknown> = Promise.resolve();
  private inFlightBytes = 0;
  private pending = 0;
  /** When the last request committed and how long commits take, for Retry-After and health. */
  private lastCommitMs = 0;
  private commitSeconds = 0.2;
  readonly stats = { requests: 0, rejected429: 0, lastCommitAt: undefined as string | undefined, lastError: undefined as string | undefined };

  constructor(
    private readonly db: string,
    private readonly metrics: Metrics,
    private readonly maxInFlightBytes: number,
    private readonly onCommit: (c: CommitInfo) => Promise<void>,
  ) {}

  /** Seconds a refused sender should wait: the queue ahead of it at the observed commit speed. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.pending + 1) * this.commitSeconds));
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

  /** Bytes waiting to commit (health and metrics). */
  get inFlight(): { bytes: number; requests: number } {
    return { bytes: this.inFlightBytes, requests: this.pending };
  }

  /**
   * Stores `text` (flow log lines, with or without a header) durably; resolves with the counts
   * once the data is committed.
   * @example await live.ingest('2 123456789010 eni-1 ... ACCEPT OK\n', 'lines', undefined)
   */
  async ingest(text: string, route: string, logFormat: string | undefined): Promise<LiveResult> {
    const bytes = Buffer.byteLength(text);
    this.admit(bytes, route);
    this.inFlightBytes += bytes;
    this.pending++;
    this.metrics.inFlight.set(this.inFlightBytes);
    const firstLine = text.slice(0, Math.min(text.length, 4096)).split('\n', 1)[0] ?? '';
    const header = parseHeaderLine(firstLine);
    const format = logFormat ?? (header ? undefined : inferLogFormat(firstLine));
    const lines = countLines(text);
    this.metrics.received.inc({ route }, lines - (header ? 1 : 0));
    this.metrics.totals.received += lines - (header ? 1 : 0);
    const run = this.chain.then(async () => {
      const t0 = performance.now();
      try {
        const summary = await ingestStream(Readable.from([Buffer.from(text)]), `http-${route}`, { db: this.db, logFormat: format, onCommit: this.onCommit });
        this.observeLatency(text, header ?? (format ? parseFormatString(format) : undefined), summary);
        return summary;
      } finally {
        this.commitSeconds = 0.8 * this.commitSeconds + 0.2 * ((performance.now() - t0) / 1000);
        this.lastCommitMs = Date.now();
      }
    });
    this.chain = run.catch(() => undefined);
    try {
      const summary = await run;
      this.stats.requests++;
      this.stats.lastCommitAt = new Date(this.lastCommitMs).toISOString();
      const stored = summary.records - summary.quarantined;
      this.metrics.stored.inc({ route }, summary.duplicates ? 0 : stored);
      this.metrics.quarantined.inc({ route }, summary.quarantined);
      this.metrics.duplicated.inc({ route }, summary.duplicates);
      this.metrics.totals.stored += summary.duplicates ? 0 : stored;
      this.metrics.totals.quarantined += summary.quarantined;
      this.metrics.totals.duplicated += summary.duplicates;
      this.metrics.requests.inc({ route, outcome: summary.duplicates ? 'duplicate' : 'stored' });
      return { ...summary, lines };
    } catch (err) {
      this.stats.lastError = (err as Error).message;
      this.metrics.requests.inc({ route, outcome: 'failed' });
      throw err;
    } finally {
      this.inFlightBytes -= bytes;
      this.pending--;
      this.metrics.inFlight.set(this.inFlightBytes);
    }
  }

  /** Waits for everything accepted so far to commit (shutdown). */
  async drain(): Promise<void> {
    await this.chain;
  }

  /**
   * Record end → stored, per record (up to 2,000 sampled evenly per request): the time the
   * sender's data waited for AWS's window, delivery and this commit, as the SLI defines it.
   */
  private observeLatency(text: string, fields: readonly string[] | undefined, summary: IngestSummary): void {
    if (summary.duplicates) return;
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
