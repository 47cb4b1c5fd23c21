import { open } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { constants, createGunzip } from 'node:zlib';
import type { SourceIngestor } from './source-ingestor.ts';

/**
 * Bytes decompressed per zlib call: large chunks cut per-chunk overhead (16 KiB: 3x slower),
 * but 1 MiB buffers fault in more fresh pages (measured, alternating runs per million records:
 * 256 KiB 0.33-0.34 s, 11 K page faults; 1 MiB 0.37-0.38 s, 17-19 K).
 */
const GUNZIP_CHUNK = 1 << 18;

/** Longest line held whole (AWS writes lines of under 2 KB); a longer one is quarantined. */
const MAX_LINE = 1 << 20;

/** Bytes read from a file per call. */
const READ_CHUNK = 1 << 20;

/**
 * The chunks of a file, read into one buffer reused from chunk to chunk: each chunk is valid
 * only until the next is asked for. A read stream allocates a fresh buffer per read, whose
 * pages the kernel then faults in anew (in this VM ~9 us per 4 KiB page).
 * @example for await (const chunk of fileChunks('a.log.gz')) hash.update(chunk)
 */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(READ_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** Node's zlib binding, as its own synchronous path drives it (lib/zlib.js processChunkSync). */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number, code: string) => void;
}

/**
 * Decompresses a gzip byte stream (one or more members) into one output buffer reused from
 * chunk to chunk: each yielded view is valid only until the next is asked for. Node's gunzip
 * stream hands out a fresh 256 KiB buffer per chunk instead (garbage a moment later, and fresh
 * pages to fault in), and runs zlib on the thread pool, a hop per chunk: measured on a 27 MB
 * object (1 M records), 0.19-0.23 s of CPU and 3 K page faults here against 0.36-0.50 s and
 * 19 K. The zlib work is the same (the binding's own synchronous write, as zlib.gunzipSync
 * uses it); where that binding is not there (another Node), the stream does it.
 * Errors: a damaged or truncated stream throws zlib's message ("unexpected end of file", ...)
 * after yielding everything that decompressed before it. `stream: true` takes the stream path
 * (tests compare the two).
 */
export async function* gunzipChunks(input: AsyncIterable<Uint8Array>, opts: { stream?: boolean } = {}): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  const handle = (gunzip as unknown as { _handle?: ZlibHandle })._handle;
  const state = (gunzip as unknown as { _writeState?: unknown })._writeState;
  if (opts.stream || typeof handle?.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array)) {
    gunzip.destroy();
    // The stream holds on to what it is given: copies, as the input may reuse its buffer.
    // (pipeline: an input error ends the gunzip with that error, as pipe would not.)
    const stream = createGunzip({ chunkSize: GUNZIP_CHUNK });
    pipeline(Readable.from(copies(input)), stream, () => {});
    for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
    return;
  }
  let failure: Error | undefined;
  // Called by the binding during writeSync when zlib reports an error (the stream's own
  // handler would destroy the stream and report it a tick later).
  handle.onerror = (message, errno, code) => {
    failure = Object.assign(new Error(message), { errno, code });
  };
  const out = Buffer.allocUnsafeSlow(GUNZIP_CHUNK);
  // Inflates one input chunk; yields each filled view of `out` before it is written again.
  function* inflate(chunk: Uint8Array, flush: number): Generator<Buffer> {
    let inOff = 0;
    let inLen = chunk.length;
    for (;;) {
      handle!.writeSync(flush, chunk, inOff, inLen, out, 0, GUNZIP_CHUNK);
      if (failure) throw failure;
      const availOut = (state as Uint32Array)[0];
      const availIn = (state as Uint32Array)[1];
      if (availOut < GUNZIP_CHUNK) yield out.subarray(0, GUNZIP_CHUNK - availOut);
      inOff += inLen - availIn;
      inLen = availIn;
      if (availOut === 0) continue;
      // Output space left over: zlib took all the input it could use. Input left means a member
      // ended and the binding stopped at a NUL after it (it starts the next member itself only
      // when one follows at once): NUL padding between or after members is skipped, and what
      // follows is read as the next member, whatever the input's chunking (a non-gzip rest is
      // reported as damage, never dropped in silence).
      while (inLen > 0 && chunk[inOff] === 0) {
        inOff++;
        inLen--;
      }
      if (inLen === 0) return;
      handle!.reset();
    }
  }
  try {
    for await (const chunk of input) yield* inflate(chunk, constants.Z_NO_FLUSH);
    // The end: zlib says "unexpected end of file" if the last member is incomplete.
    yield* inflate(new Uint8Array(0), constants.Z_FINISH);
  } finally {
    gunzip.destroy();
  }
}

async function* copies(input: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const chunk of input) yield Buffer.from(chunk);
}

/** Passes chunks through, telling `onBytes` each one's size (progress). */
async function* counted(input: AsyncIterable<Uint8Array>, onBytes: ((n: number) => void) | undefined): AsyncGenerator<Uint8Array> {
  for await (const chunk of input) {
    onBytes?.(chunk.length);
    yield chunk;
  }
}

/** A plain byte stream as Buffers (views, not copies). */
async function* asBuffers(input: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const chunk of input) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
}

/**
 * Feeds the lines of a byte stream (gzip or plain text) to an ingestor. The stream's chunks
 * may reuse one buffer (fileChunks): nothing here keeps a view of a chunk past the next one.
 * A truncated or corrupt gzip keeps every line that decompressed and quarantines the rest as
 * one entry saying why; the cut-off last line is quarantined too, since its last field may be
 * cut short.
 * @example await readTextLines(fileChunks(p), true, ingestor, (n) => bar.update(n))
 */
export async function readTextLines(input: AsyncIterable<Uint8Array>, gzip: boolean, sink: SourceIngestor, onBytes?: (n: number) => void): Promise<void> {
  let lineNo = 0;
  let carry: Buffer | null = null;
  // Inside a line quarantined as too long: its bytes are skipped up to its end.
  let overlong = false;
  const tooLong = (head: Buffer) =>
    sink.quarantine({ line: ++lineNo, reason: `line longer than ${MAX_LINE >> 20} MiB (not flow log text); skipped to its end`, text: head.subarray(0, 2000).toString('latin1') });
  const bytes = counted(input, onBytes);
  const stream = gzip ? gunzipChunks(bytes) : asBuffers(bytes);
  try {
    for await (const data of stream) {
      const buf: Buffer = data;
      // A UTF-8 byte order mark before the first line (editors add one) is not part of it.
      let pos: number = lineNo === 0 && !carry && !overlong && buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
      if (overlong) {
        const nl = data.indexOf(10);
        if (nl < 0) continue;
        overlong = false;
        pos = nl + 1;
      } else if (carry) {
        // Only the line cut at the chunk's start is joined: copying every chunk behind the
        // carry (as one concat) cost ~0.3 s of a thread per million records.
        const nl = data.indexOf(10);
        if (carry.length + (nl < 0 ? data.length : nl) > MAX_LINE) {
          // Memory stays bounded whatever the input: a newline-less file is not held whole.
          tooLong(carry);
          carry = null;
          overlong = nl < 0;
          if (nl < 0) continue;
          pos = nl + 1;
        } else if (nl < 0) {
          carry = Buffer.concat([carry, data]);
          continue;
        } else {
          const joined = Buffer.concat([carry, data.subarray(0, nl + 1)]);
          carry = null;
          if (sink.line(joined, 0, joined.length - 1, ++lineNo)) await sink.flush();
          pos = nl + 1;
        }
      }
      for (;;) {
        const nl = buf.indexOf(10, pos);
        if (nl < 0) break;
        if (sink.line(buf, pos, nl, ++lineNo)) await sink.flush();
        pos = nl + 1;
      }
      // Copy the partial line: the chunk's buffer is reused for the next chunk.
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
export async function readCloudWatchJson(input: AsyncIterable<Uint8Array>, gzip: boolean, sink: SourceIngestor, onBytes?: (n: number) => void): Promise<void> {
  const bytes = counted(input, onBytes);
  const stream = gzip ? gunzipChunks(bytes) : asBuffers(bytes);
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
    for await (const data of stream) {
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

/**
 * The flow log lines in a JSON value: the `message` of every CloudWatch Logs event, or the
 * lines of every record of a Firehose request (undefined for a malformed one).
 */
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
  // A Firehose HTTP endpoint request ({requestId, timestamp, records: [{data}]}), as the
  // emulator's firehose delivery keeps them: each record's data is base64 of flow log lines.
  if (Array.isArray(o.records) && ('requestId' in o || 'timestamp' in o)) {
    for (const r of o.records) {
      const data = r && typeof r === 'object' ? (r as { data?: unknown }).data : undefined;
      if (typeof data !== 'string') {
        yield undefined;
        continue;
      }
      for (const line of Buffer.from(data, 'base64').toString('latin1').split('\n')) if (line.trim()) yield line;
    }
    return;
  }
  const events = o.logEvents ?? o.events;
  if (Array.isArray(events)) {
    for (const e of events) yield e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : undefined;
    return;
  }
  yield typeof o.message === 'string' ? o.message : undefined;
}
