import { DEFAULT_FIELDS } from '../schema/columns.ts';
import { inferLogFields, parseHeaderLine } from '../schema/format.ts';
import type { LakeWriter } from '../store/lake-writer.ts';
import { ColumnBatch } from './batch.ts';
import type { CommitInfo } from './index.ts';
import { writeLedger, writeQuarantine, type LedgerEntry, type QuarantineEntry } from './ledger.ts';
import { LineParser } from './line-parser.ts';

/** Counts one source (or a whole run) adds up. */
export interface Counts {
  records: number;
  ok: number;
  nodata: number;
  skipdata: number;
  quarantined: number;
}

export function zeroCounts(): Counts {
  return { records: 0, ok: 0, nodata: 0, skipdata: 0, quarantined: 0 };
}

export function addCounts(a: Counts, b: Counts): void {
  a.records += b.records;
  a.ok += b.ok;
  a.nodata += b.nodata;
  a.skipdata += b.skipdata;
  a.quarantined += b.quarantined;
}

/** Shared by every source of one run: the writer and the one chunk write allowed in flight. */
export class ChunkPipeline {
  private inflight: Promise<void> = Promise.resolve();
  private failure: unknown;
  /**
   * Batches whose write finished, by format, for the next chunk of any source of this lane: a
   * lane makes two or three batches in a run instead of a few per file (each is tens of MB
   * that the kernel must fault in anew).
   */
  private readonly spare = new Map<string, ColumnBatch[]>();

  /** An empty batch for these fields: a spare one, else a new one. */
  take(fields: readonly string[]): ColumnBatch {
    const b = this.spare.get(fields.join(' '))?.pop();
    // In shared memory: the writer, in another thread, reads it where it is (5 M records: 31
    // mark-compact GCs instead of 54, from transferring batches there and back).
    if (!b) return new ColumnBatch(fields, this.batchRows, true);
    b.reset();
    return b;
  }

  /** Gives back a batch nobody uses any more. */
  give(batch: ColumnBatch): void {
    if (batch.capacity !== this.batchRows) return;
    const key = batch.fields.join(' ');
    const list = this.spare.get(key) ?? [];
    // Two per format serve a lane: one parsing, one being written.
    if (list.length < 2) list.push(batch);
    this.spare.set(key, list);
  }

  constructor(
    readonly root: string,
    readonly writer: LakeWriter,
    readonly batchRows: number,
    readonly onCommit?: (c: CommitInfo) => void | Promise<void>,
  ) {}

  /**
   * Queues a chunk write; resolves once the *previous* one is done, so parsing the next batch
   * overlaps writing this one and memory holds at most two batches.
   */
  async submit(job: () => Promise<void>): Promise<void> {
    await this.inflight;
    if (this.failure) throw this.failure;
    this.inflight = job().catch((err) => {
      this.failure = err;
    });
  }

  async drain(): Promise<void> {
    await this.inflight;
    if (this.failure) throw this.failure;
  }
}

const MAX_PENDING_QUARANTINE = 10_000;

/**
 * Turns the lines of one source into committed chunks. A chunk is a batch of records plus the
 * refused lines among them; it commits as Parquet files, a quarantine file and then the ledger
 * entry, in that order, so the ledger never claims what is not on disk.
 * @example const s = new SourceIngestor(pipeline, entry, DEFAULT_FIELDS); if (s.line(buf, 0, n, 1)) await s.flush();
 */
export class SourceIngestor {
  private parser: LineParser;
  private pending: QuarantineEntry[] = [];
  private lastLine = 0;
  readonly counts = zeroCounts();

  constructor(
    private readonly pipeline: ChunkPipeline,
    private readonly entry: LedgerEntry,
    fields: readonly string[],
    /** Records already committed by an earlier, interrupted run are skipped up to this line. */
    private readonly resumeAfter = 0,
  ) {
    this.parser = new LineParser(fields, pipeline.batchRows, true, pipeline.take(fields));
    this.mayInfer = fields.join(' ') === DEFAULT_FIELDS.join(' ');
  }

  /** Data lines looked at so far for a format (a garbage start is passed over, a few times). */
  private inferTries = 0;

  /**
   * Settles the format at the first data line that names one: a line with an all-fields
   * format's version and field count switches to it; a line with the current format's field
   * count keeps it. A header line settles it too (parse applies it). Anything else (a cut-off
   * first line, a comment) is passed over, up to 100 lines. Decided by the lines' text alone,
   * so a resumed run, which skips its committed lines unparsed, decides the same.
   */
  private inferFormat(buf: Uint8Array, s: number, e: number): void {
    const c = buf[s];
    if ((c - 97) >>> 0 < 26) {
      this.mayInfer = false;
      return;
    }
    const text = (Buffer.prototype.latin1Slice.call(buf, s, Math.min(e, s + 4096)) as string).trim();
    if (!text) return;
    const fields = inferLogFields(text);
    if (fields) {
      this.mayInfer = false;
      // No record came before this line (they would have settled it): switch without a flush.
      if (this.parser.batch.length === 0) {
        const old = this.parser.batch;
        this.parser.useBatch(this.pipeline.take(fields));
        this.pipeline.give(old);
      }
    } else if (text.split(/\s+/).length === this.parser.fields.length || ++this.inferTries >= 100) this.mayInfer = false;
  }

  get name(): string {
    return this.entry.source;
  }

  /**
   * Whether the source's first data line may still choose its format: lines in the default
   * format (no header yet, no other format given) with another version's field count, as
   * CloudWatch Logs and Firehose deliver them (no header line), are read in the "all fields up
   * to version N" format their version and field count name (inferLogFormat).
   */
  private mayInfer: boolean;

  /** Handles one line; returns true when the caller must `await flush()` before the next. */
  line(buf: Uint8Array, s: number, e: number, lineNo: number): boolean {
    this.lastLine = lineNo;
    if (this.mayInfer) this.inferFormat(buf, s, e);
    if (lineNo <= this.resumeAfter) {
      // Already committed: only a header can matter (it sets the format of later lines).
      const c = buf[s];
      if (c >= 0x61 && c <= 0x7a) {
        const header = parseHeaderLine(Buffer.prototype.latin1Slice.call(buf, s, e) as string);
        if (header && header.join(' ') !== this.parser.fields.join(' ')) this.parser.useBatch(this.pipeline.take(header));
      }
      return false;
    }
    const out = this.parser.parse(buf, s, e, lineNo);
    if (out === 'record') return this.parser.batch.full;
    if (out === 'blank') return false;
    if ('header' in out) {
      if (out.header.join(' ') === this.parser.fields.join(' ')) return false;
      this.nextFormat = out.header;
      return true;
    }
    this.quarantine({ line: lineNo, column: out.column, reason: out.reason, text: Buffer.prototype.latin1Slice.call(buf, s, Math.min(e, s + 2000)) as string });
    return this.pending.length >= MAX_PENDING_QUARANTINE;
  }

  private nextFormat: string[] | undefined;

  /** Records a refused line or a source-level failure (e.g. a truncated gzip). */
  quarantine(q: Omit<QuarantineEntry, 'source'>): void {
    // A line an interrupted run committed (its chunk's quarantine file holds the entry), as
    // readers report overlong lines and malformed JSON events without passing through line().
    if (q.line > 0 && q.line <= this.resumeAfter) return;
    if (q.line > this.lastLine) this.lastLine = q.line;
    this.pending.push({ source: this.entry.source, ...q });
  }

  /** Commits what is pending as one chunk (and applies a header that asked for a new format). */
  async flush(): Promise<void> {
    const batch = this.parser.batch;
    if (batch.length > 0 || this.pending.length > 0) {
      const chunkNo = this.entry.chunks;
      const chunkId = `${this.entry.fingerprint}-${chunkNo}`;
      const quarantined = this.pending;
      this.pending = [];
      const status = batch.statusCounts();
      const counts: Counts = { records: batch.length, ...status, quarantined: quarantined.length };
      addCounts(this.counts, counts);
      this.entry.chunks++;
      const line = this.lastLine;
      const entry = this.entry;
      const pipeline = this.pipeline;
      // Swap in a second batch so the next lines parse while this one is written. The write
      // before this one is waited for first (submit would wait for it anyway): it gives its
      // batch back, so a lane cycles two batches, not three (each ~22 MB the kernel faults in).
      await pipeline.drain();
      this.parser.useBatch(pipeline.take(batch.fields));
      await pipeline.submit(async () => {
        const files = batch.length > 0 ? await pipeline.writer.writeChunk(batch, chunkId, entry.fingerprint) : [];
        await writeQuarantine(pipeline.root, chunkId, quarantined);
        entry.lines = line;
        entry.records += counts.records;
        entry.ok += counts.ok;
        entry.nodata += counts.nodata;
        entry.skipdata += counts.skipdata;
        entry.quarantined += counts.quarantined;
        await writeLedger(pipeline.root, { ...entry });
        await pipeline.onCommit?.({ source: entry.source, file: files[0], records: counts.records, quarantined: counts.quarantined, ...startRange(batch) });
        pipeline.give(batch);
      });
    }
    if (this.nextFormat) {
      await this.pipeline.drain();
      const old = this.parser.batch;
      this.parser.useBatch(this.pipeline.take(this.nextFormat));
      this.pipeline.give(old);
      this.nextFormat = undefined;
    }
  }

  /** Commits the tail and marks the source done. */
  async finish(): Promise<void> {
    await this.flush();
    await this.pipeline.drain();
    // The empty batch the parser holds serves the lane's next source.
    this.pipeline.give(this.parser.batch);
    this.entry.done = true;
    this.entry.finishedAt = new Date().toISOString();
    await writeLedger(this.pipeline.root, this.entry);
  }
}

/** Earliest and latest `start` in a batch (unix seconds), when the format has it. */
function startRange(batch: ColumnBatch): { minStart?: number; maxStart?: number } {
  const col = batch.columns.find((c) => c.def.field === 'start');
  if (!col) return {};
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < batch.length; i++) {
    if (!(col.valid[i >> 3] & (1 << (i & 7)))) continue;
    const v = col.i64w![2 * i] + col.i64w![2 * i + 1] * 4294967296;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? {} : { minStart: min, maxStart: max };
}
