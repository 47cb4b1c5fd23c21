import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { SourceIngestor } from './source-ingestor.ts';

/**
 * Bytes decompressed per zlib call: large chunks cut per-chunk overhead (16 KiB: 3x slower),
 * but 1 MiB buffers fault in more fresh pages (measured, alternating runs per million records:
 * 256 KiB 0.33-0.34 s, 11 K page faults; 1 MiB 0.37-0.38 s, 17-19 K).
 */
const GUNZIP_CHUNK = 1 << 18;

/**
 * Feeds the lines of a text stream (gzip or plain) to an ingestor. A truncated or corrupt gzip
 * keeps every line that decompressed and quarantines the rest as one entry saying why; the
 * cut-off last line is quarantined too, since its last field may be cut short.
 * @example await readTextLines(createReadStream(p), true, ingestor, (n) => bar.update(n))
 */
export async function readTextLines(input: Readable, gzip: boolean, sink: SourceIngestor, onBytes?: (n: number) => void): Promise<void> {
  let lineNo = 0;
  let carry: Buffer | null = null;
  if (onBytes) input.on('data', (d: Buffer) => onBytes(d.length));
  const stream = gzip ? input.pipe(createGunzip({ chunkSize: GUNZIP_CHUNK })) : input;
  if (gzip) input.on('error', (err) => stream.destroy(err));
  try {
    for await (const data of stream as AsyncIterable<Buffer>) {
      const buf: Buffer = data;
      let pos = 0;
      if (carry) {
        // Only the line cut at the chunk's start is joined: copying every chunk behind the
        // carry (as one concat) cost ~0.3 s of a thread per million records.
        const nl = data.indexOf(10);
        if (nl < 0) {
          carry = Buffer.concat([carry, data]);
          continue;
        }
        const joined = Buffer.concat([carry, data.subarray(0, nl + 1)]);
        carry = null;
        if (sink.line(joined, 0, joined.length - 1, ++lineNo)) await sink.flush();
        pos = nl + 1;
      }
      for (;;) {
        const nl = buf.indexOf(10, pos);
        if (nl < 0) break;
        if (sink.line(buf, pos, nl, ++lineNo)) await sink.flush();
        pos = nl + 1;
      }
      // Copy the partial line: the chunk buffer may be reused by the stream.
      carry = pos < buf.length ? Buffer.from(buf.subarray(pos)) : null;
    }
  } catch (err) {
    const why = (err as Error).message;
    if (carry) sink.quarantine({ line: ++lineNo, reason: `cut short by a damaged gzip stream (${why})`, text: carry.subarray(0, 2000).toString('latin1') });
    else sink.quarantine({ line: lineNo + 1, reason: `damaged gzip stream: ${why}; the lines before it were kept` });
    return;
  }
  if (carry && sink.line(carry, 0, carry.length, ++lineNo)) await sink.flush();
}

/** Largest single JSON value held in memory (a CloudWatch subscription payload is ~1 MB). */
const MAX_JSON_VALUE = 256 << 20;

/**
 * Feeds the flow log lines inside CloudWatch Logs JSON to an ingestor: subscription payloads
 * (`logEvents[].message`), `get-log-events` / `filter-log-events` output (`events[].message`),
 * single events, arrays of them, and any concatenation or NDJSON of those. Line numbers are
 * event ordinals; a refused event's entry says which JSON line it came from.
 */
export async function readCloudWatchJson(input: Readable, gzip: boolean, sink: SourceIngestor, onBytes?: (n: number) => void): Promise<void> {
  if (onBytes) input.on('data', (d: Buffer) => onBytes(d.length));
  const stream = gzip ? input.pipe(createGunzip({ chunkSize: GUNZIP_CHUNK })) : input;
  if (gzip) input.on('error', (err) => stream.destroy(err));
  let event = 0;
  let physLine = 1;
  let valueLine = 1;
  let depth = 0;
  let inString = false;
  let escape = false;
  let parts: Buffer[] = [];
  let partsLen = 0;
  let valueStart = -1;
  const emit = async (text: string) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      sink.quarantine({ line: ++event, reason: `JSON line ${valueLine}: not valid JSON (${(err as Error).message})`, text: text.slice(0, 2000) });
      return;
    }
    for (const message of cloudWatchMessages(value)) {
      ++event;
      if (message === undefined) {
        sink.quarantine({ line: event, reason: `JSON line ${valueLine}: expected a log event with a "message" string` });
        continue;
      }
      const b = Buffer.from(message, 'latin1');
      if (sink.line(b, 0, b.length, event)) await sink.flush();
    }
  };
  try {
    for await (const data of stream as AsyncIterable<Buffer>) {
      let i = 0;
      valueStart = depth > 0 ? 0 : -1;
      for (; i < data.length; i++) {
        const c = data[i];
        if (c === 0x0a) physLine++;
        if (inString) {
          if (escape) escape = false;
          else if (c === 0x5c) escape = true;
          else if (c === 0x22) inString = false;
          continue;
        }
        if (c === 0x22) inString = true;
        else if (c === 0x7b || c === 0x5b) {
          if (depth++ === 0) {
            valueStart = i;
            valueLine = physLine;
          }
        } else if (c === 0x7d || c === 0x5d) {
          if (--depth === 0) {
            parts.push(data.subarray(valueStart, i + 1));
            const text = Buffer.concat(parts).toString('utf8');
            parts = [];
            partsLen = 0;
            valueStart = -1;
            await emit(text);
          } else if (depth < 0) {
            depth = 0;
            sink.quarantine({ line: ++event, reason: `JSON line ${physLine}: unexpected "${String.fromCharCode(c)}"` });
          }
        }
      }
      if (depth > 0 && valueStart >= 0) {
        const piece = Buffer.from(data.subarray(valueStart));
        parts.push(piece);
        partsLen += piece.length;
        if (partsLen > MAX_JSON_VALUE) throw new Error(`a JSON value starting at line ${valueLine} is larger than ${MAX_JSON_VALUE >> 20} MiB`);
      }
    }
    if (depth > 0) sink.quarantine({ line: ++event, reason: `JSON line ${valueLine}: the value never ends (truncated file?)` });
  } catch (err) {
    sink.quarantine({ line: ++event, reason: `damaged input: ${(err as Error).message}; the events before it were kept` });
  }
}

/** The `message` of every log event in a CloudWatch JSON value (undefined for a malformed one). */
export function* cloudWatchMessages(value: unknown): Generator<string | undefined> {
  if (Array.isArray(value)) {
    for (const v of value) yield* cloudWatchMessages(v);
    return;
  }
  if (!value || typeof value !== 'object') {
    yield undefined;
    return;
  }
  const o = value as Record<string, unknown>;
  if (o.messageType === 'CONTROL_MESSAGE') return;
  const events = o.logEvents ?? o.events;
  if (Array.isArray(events)) {
    for (const e of events) yield e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : undefined;
    return;
  }
  yield typeof o.message === 'string' ? o.message : undefined;
}
