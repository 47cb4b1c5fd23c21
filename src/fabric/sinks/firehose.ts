import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../util/errors.ts';
import type { FlowLogSpec } from '../model.ts';
import { stableHex } from '../prng.ts';
import { ByteBuf } from '../render.ts';
import { BATCH_SECONDS, batchOf, utcParts, type Sink, type SinkOptions, type WindowRows } from './types.ts';

/** Records per request: Firehose's PutRecordBatch limit, a fair size for an HTTP endpoint. */
const RECORDS_PER_REQUEST = 500;

/** The body Firehose POSTs to an HTTP endpoint. */
export interface FirehoseRequest {
  requestId: string;
  timestamp: number;
  records: { data: string }[];
}

/**
 * Firehose delivery: plain text lines (no header), one Firehose record per flow log record,
 * POSTed as the HTTP endpoint request body `{requestId, timestamp, records: [{data}]}` to
 * `firehoseUrl`, or written as one JSON body per file when no URL is given.
 */
export class FirehoseSink implements Sink {
  private lines = new Map<string, { batch: number; fl: FlowLogSpec; data: string[] }>();
  private written: string[] = [];
  private seq = 0;
  private scratch = new ByteBuf(4096);

  constructor(private readonly o: SinkOptions) {}

  async write(w: WindowRows): Promise<void> {
    const batch = batchOf(w.windowEnd);
    let b = this.lines.get(w.flowLog.id);
    if (b && b.batch !== batch) {
      await this.flush(b);
      b = undefined;
    }
    if (!b) this.lines.set(w.flowLog.id, (b = { batch, fl: w.flowLog, data: [] }));
    for (let i = 0; i < w.count; i++) {
      b.data.push(Buffer.from(w.renderer.line(w.table, w.rows[i], this.scratch) + '\n', 'latin1').toString('base64'));
      if (b.data.length === RECORDS_PER_REQUEST) {
        await this.send(b.fl, b.batch, b.data);
        b.data = [];
      }
    }
  }

  private async flush(b: { batch: number; fl: FlowLogSpec; data: string[] }): Promise<void> {
    this.lines.delete(b.fl.id);
    if (b.data.length > 0) await this.send(b.fl, b.batch, b.data);
  }

  private async send(fl: FlowLogSpec, batch: number, data: string[]): Promise<void> {
    const n = this.seq++;
    const h = stableHex(`${this.o.seed}|firehose|${fl.id}|${n}`, 32);
    const requestId = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
    const body: FirehoseRequest = { requestId, timestamp: (batch + BATCH_SECONDS) * 1000, records: data.map((d) => ({ data: d })) };
    const text = JSON.stringify(body);
    if (this.o.firehoseUrl) {
      await postWithRetry(this.o.firehoseUrl, requestId, text);
      this.written.push(`${this.o.firehoseUrl}#${requestId}`);
      return;
    }
    const t = utcParts(batch);
    const dir = join(this.o.out, 'firehose', fl.id, t.y, t.m, t.d);
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${fl.id}_${t.y}${t.m}${t.d}T${t.h}${t.min}Z_${String(n).padStart(6, '0')}.json`);
    await writeFile(path, text + '\n');
    this.written.push(path);
  }

  async close(): Promise<string[]> {
    for (const b of [...this.lines.values()]) await this.flush(b);
    return this.written;
  }
}

/** POSTs like Firehose does, retrying failures (Firehose retries for a configurable duration). */
async function postWithRetry(url: string, requestId: string, body: string, attempts = 3): Promise<void> {
  let last = '';
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amz-firehose-request-id': requestId, 'x-amz-firehose-protocol-version': '1.0' },
        body,
      });
      const text = await res.text();
      if (res.status === 200) {
        let ack: { requestId?: unknown } = {};
        try {
          ack = JSON.parse(text);
        } catch {
          // an unparsable answer counts as a failure below
        }
        if (ack.requestId === requestId) return;
        last = `HTTP 200 without the request id in the answer: ${text.slice(0, 200)}`;
      } else last = `HTTP ${res.status}: ${text.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100 * 2 ** i));
  }
  throw new UserError(`Firehose endpoint ${url} refused request ${requestId} after ${attempts} attempts (${last})`);
}
