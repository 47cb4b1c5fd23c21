import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { FlowLogSpec } from '../model.ts';
import { ByteBuf } from '../render.ts';
import { STATUS_OK } from '../flow-table.ts';
import { BATCH_SECONDS, batchOf, utcParts, type Sink, type SinkOptions, type WindowRows } from './types.ts';

/** AWS's typical lag from a window's end to its events' ingestion in CloudWatch Logs. */
const INGESTION_LAG_MS = 5 * 60 * 1000;

/** The log group of a flow log (its destination's, or one named after it). */
export function logGroupOf(fl: FlowLogSpec): string {
  return fl.destination.logGroup ?? `/flowlens/vpc-flow-logs/${fl.id}`;
}

/** AWS names a flow log's stream after the interface and the traffic type: `eni-0a1b...-all`. */
export function logStreamOf(eniId: string, fl: FlowLogSpec): string {
  return `${eniId}-${fl.trafficType.toLowerCase()}`;
}

const safe = (s: string) => s.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_');

/** A record's CloudWatch timestamp: its start, in milliseconds. */
function eventTime(w: WindowRows, r: number): number {
  return (w.table.status[r] === STATUS_OK ? w.table.first(r) : w.windowStart) * 1000;
}

/**
 * CloudWatch Logs delivery as `aws logs get-log-events` prints it: one file per log stream (one
 * stream per interface), `{"events":[{"timestamp","message","ingestionTime"}],...}`.
 */
export class CloudWatchSink implements Sink {
  private streams = new Map<string, { file: WriteStream; path: string; n: number }>();
  private scratch = new ByteBuf(4096);

  constructor(private readonly o: SinkOptions) {}

  async write(w: WindowRows): Promise<void> {
    const ingestion = w.windowEnd * 1000 + INGESTION_LAG_MS;
    for (let i = 0; i < w.count; i++) {
      const r = w.rows[i];
      const eni = this.o.topo.enis[w.table.eni[r]];
      const key = `${logGroupOf(w.flowLog)}\u0000${logStreamOf(eni.id, w.flowLog)}`;
      let s = this.streams.get(key);
      if (!s) {
        const dir = join(this.o.out, 'cloudwatch', safe(logGroupOf(w.flowLog)));
        await mkdir(dir, { recursive: true });
        const path = join(dir, `${logStreamOf(eni.id, w.flowLog)}.json`);
        s = { file: createWriteStream(path), path, n: 0 };
        this.streams.set(key, s);
        s.file.write('{"events":[\n');
      }
      const ev = `${s.n++ ? ',\n' : ''}{"timestamp":${eventTime(w, r)},"message":${JSON.stringify(w.renderer.line(w.table, r, this.scratch))},"ingestionTime":${ingestion}}`;
      if (!s.file.write(ev)) await once(s.file, 'drain');
    }
  }

  async close(): Promise<string[]> {
    const files: string[] = [];
    for (const s of this.streams.values()) {
      s.file.end(`\n],"nextForwardToken":"f/${String(s.n).padStart(56, '0')}","nextBackwardToken":"b/${'0'.repeat(56)}"}\n`);
      await finished(s.file);
      files.push(s.path);
    }
    return files.sort();
  }
}

/**
 * CloudWatch Logs subscription / export shape: per delivery batch, one
 * `{"messageType":"DATA_MESSAGE","owner","logGroup","logStream","subscriptionFilters","logEvents":[{"id","timestamp","message"}]}`
 * object per log stream, one object per line.
 */
export class CloudWatchSubscriptionSink implements Sink {
  private batches = new Map<string, { batch: number; fl: FlowLogSpec; streams: Map<string, string[]> }>();
  private files: string[] = [];
  private seq = 0;
  private scratch = new ByteBuf(4096);

  constructor(private readonly o: SinkOptions) {}

  async write(w: WindowRows): Promise<void> {
    const batch = batchOf(w.windowEnd);
    let b = this.batches.get(w.flowLog.id);
    if (b && b.batch !== batch) {
      await this.flush(b);
      b = undefined;
    }
    if (!b) {
      b = { batch, fl: w.flowLog, streams: new Map() };
      this.batches.set(w.flowLog.id, b);
    }
    for (let i = 0; i < w.count; i++) {
      const r = w.rows[i];
      const stream = logStreamOf(this.o.topo.enis[w.table.eni[r]].id, w.flowLog);
      let evs = b.streams.get(stream);
      if (!evs) b.streams.set(stream, (evs = []));
      const ts = eventTime(w, r);
      // CloudWatch event ids are 56-digit strings; ours are time plus a sequence number.
      const id = `${String(ts).padStart(20, '0')}${String(this.seq++).padStart(36, '0')}`;
      evs.push(`{"id":"${id}","timestamp":${ts},"message":${JSON.stringify(w.renderer.line(w.table, r, this.scratch))}}`);
    }
  }

  private async flush(b: { batch: number; fl: FlowLogSpec; streams: Map<string, string[]> }): Promise<void> {
    this.batches.delete(b.fl.id);
    const group = logGroupOf(b.fl);
    const t = utcParts(b.batch);
    const dir = join(this.o.out, 'cloudwatch-subscription', safe(group), t.y, t.m, t.d);
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${b.fl.id}_${t.y}${t.m}${t.d}T${t.h}${t.min}Z.json`);
    let text = '';
    for (const [stream, evs] of [...b.streams].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
      text += `{"messageType":"DATA_MESSAGE","owner":"${this.o.topo.account}","logGroup":${JSON.stringify(group)},"logStream":"${stream}","subscriptionFilters":["flowlens"],"logEvents":[${evs.join(',')}]}\n`;
    }
    await writeFile(path, text);
    this.files.push(path);
  }

  async close(): Promise<string[]> {
    for (const b of [...this.batches.values()]) await this.flush(b);
    return this.files.sort();
  }
}

export { BATCH_SECONDS };
