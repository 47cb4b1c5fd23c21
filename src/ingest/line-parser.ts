import { fieldByName } from '../schema/columns.ts';
import { parseHeaderLine } from '../schema/format.ts';
import { canonicalIpv6 } from '../util/ip.ts';
import { ColumnBatch, setNull, type BatchColumn } from './batch.ts';
import { compileFastLine, type FastLine } from './fast-line.ts';

/** Why a line was refused, with the 1-based column of the offending field. */
export interface LineError {
  column: number;
  reason: string;
}

/** What one line turned out to be. */
export type LineOutcome = 'record' | 'blank' | LineError;

const SPACE = 0x20;
const TAB = 0x09;
const DASH = 0x2d;

// Per-field kind codes for the hot loop (a switch on small ints beats string compares).
const K_INT = 0;
const K_BIGINT = 1;
const K_ADDR = 2;
const K_ACTION = 3;
const K_STATUS = 4;
const K_STRING = 5;
const K_UNKNOWN = 6;

const KIND_CODE = { int: K_INT, bigint: K_BIGINT, addr: K_ADDR, action: K_ACTION, status: K_STATUS, string: K_STRING } as const;

/** Upper bounds AWS's own value ranges imply; anything above is a corrupt field. */
const MAX_BY_FIELD: Record<string, number> = { srcport: 65535, dstport: 65535, protocol: 255, 'tcp-flags': 255 };

function isFieldStart(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

/**
 * Parses flow log text lines of one format into a ColumnBatch, byte by byte, without creating
 * a string per field (only dictionary misses and IPv6 addresses allocate).
 * @example const p = new LineParser(DEFAULT_FIELDS, 65536); p.parse(buf, 0, buf.length, 1)
 */
export class LineParser {
  batch: ColumnBatch;
  private kinds!: Int32Array;
  /** Batch column per field position, or null for unknown fields. */
  private slots!: (BatchColumn | null)[];
  private maxes!: Float64Array;
  private timeCol: BatchColumn | undefined;
  private endCol: BatchColumn | undefined;
  /** The format's generated parser (fast-line.ts) and its instance bound to the batch. */
  private fastFormat: { fields: readonly string[]; make: ((b: ColumnBatch) => FastLine) | undefined } | undefined;
  private fast: FastLine | undefined;

  constructor(
    fields: readonly string[],
    readonly capacity: number,
    /** false: every line goes through the generic parser (tests compare both). */
    private readonly fastPath = true,
    /** An empty batch of these fields to start with (a lane's spare one). */
    batch?: ColumnBatch,
  ) {
    this.batch = batch ?? new ColumnBatch(fields, capacity);
    this.prepare();
  }

  get fields(): readonly string[] {
    return this.batch.fields;
  }

  private prepare(): void {
    const fields = this.batch.fields;
    this.kinds = new Int32Array(fields.length);
    this.slots = [];
    this.maxes = new Float64Array(fields.length);
    this.timeCol = this.batch.columns.find((c) => c.def.field === 'start');
    this.endCol = this.batch.columns.find((c) => c.def.field === 'end');
    for (let i = 0; i < fields.length; i++) {
      const def = fieldByName(fields[i]);
      const col = def ? (this.batch.columns.find((c) => c.def === def) ?? null) : null;
      this.slots.push(col);
      this.kinds[i] = col ? KIND_CODE[def!.kind] : K_UNKNOWN;
      this.maxes[i] = MAX_BY_FIELD[fields[i]] ?? (def?.kind === 'int' ? 2147483647 : Number.MAX_SAFE_INTEGER);
    }
    if (this.fastFormat?.fields !== fields) this.fastFormat = { fields, make: this.fastPath ? compileFastLine(fields, this.maxes) : undefined };
    this.fast = this.fastFormat.make?.(this.batch);
  }

  /** Switches to another format: the current batch must have been taken (length 0) first. */
  setFormat(fields: readonly string[]): void {
    if (this.batch.length) throw new Error('setFormat with rows pending; take the batch first');
    this.useBatch(new ColumnBatch(fields, this.capacity));
  }

  /** Continues into another (empty) batch of the same format, e.g. while the last one is written. */
  useBatch(batch: ColumnBatch): void {
    this.batch = batch;
    this.prepare();
  }

  /**
   * Parses buf[start, end) (one line without its newline) in a single pass: each field is
   * scanned and decoded at once. Header lines are reported, not applied: the caller decides
   * when to switch formats (a batch may have to be flushed first).
   */
  parse(buf: Uint8Array, start: number, end: number, lineNo: number): LineOutcome | { header: string[] } {
    if (this.fast !== undefined && this.fast(buf, start, end, lineNo)) return 'record';
    const out = this.parseRow(buf, start, end, lineNo);
    if (typeof out === 'object' && 'reason' in out) {
      // A refused line may have marked NULLs in the row slot the next line will reuse.
      const row = this.batch.length;
      for (const c of this.batch.columns) c.valid[row >> 3] |= 1 << (row & 7);
    }
    return out;
  }

  private parseRow(buf: Uint8Array, start: number, end: number, lineNo: number): LineOutcome | { header: string[] } {
    if (end > start && buf[end - 1] === 0x0d) end--;
    let i = start;
    // Runs of blanks separate fields: AWS writes single spaces, hand-edited files may not.
    while (i < end && (buf[i] === SPACE || buf[i] === TAB)) i++;
    if (i >= end) return 'blank';
    if (isFieldStart(buf[i])) {
      let t = i;
      while (t < end && buf[t] !== SPACE && buf[t] !== TAB) t++;
      const first = latin1(buf, i, t);
      if (fieldByName(first) || first === this.batch.fields[0]) {
        const header = parseHeaderLine(latin1(buf, start, end));
        if (header) return { header };
      }
    }
    const kinds = this.kinds;
    const slots = this.slots;
    const nf = kinds.length;
    const row = this.batch.length;
    let extra: Record<string, string> | null = null;
    for (let k = 0; k < nf; k++) {
      if (i >= end) {
        return { column: end - start + 1, reason: `expected ${nf} fields (${this.batch.fields.slice(0, 3).join(' ')} ...), found ${k}` };
      }
      const s = i;
      const col = slots[k];
      const dash = buf[i] === DASH && (i + 1 === end || buf[i + 1] === SPACE || buf[i + 1] === TAB);
      switch (kinds[k]) {
        case K_INT:
        case K_BIGINT: {
          let v = -1;
          if (dash) {
            i++;
            setNull(col!, row);
            break;
          } else {
            v = 0;
            let c = buf[i];
            while (c >= 48 && c <= 57) {
              v = v * 10 + (c - 48);
              c = ++i < end ? buf[i] : SPACE;
            }
            if ((c !== SPACE && c !== TAB) || i === s) return fieldError(this, k, buf, start, s, end, 'a number or "-"');
            if (v > this.maxes[k]) {
              if (kinds[k] === K_BIGINT && i - s <= 19 && BigInt(latin1(buf, s, i)) <= 9223372036854775807n) {
                // Beyond 2^53: exact via BigInt (never seen in practice, but nothing is lost).
                col!.i64![row] = BigInt(latin1(buf, s, i));
                break;
              }
              return fieldError(this, k, buf, start, s, end, `a number <= ${kinds[k] === K_BIGINT ? '9223372036854775807' : this.maxes[k]}`);
            }
          }
          if (kinds[k] === K_INT) col!.i32[row] = v;
          else {
            // Little-endian words; exact for every value below 2^53, and no BigInt per value.
            col!.i64w![2 * row] = v % 4294967296;
            col!.i64w![2 * row + 1] = Math.floor(v / 4294967296);
          }
          break;
        }
        case K_ADDR: {
          if (dash) {
            i++;
            col!.i32[row] = 0;
            setNull(col!, row);
            break;
          }
          // Strict dotted-quad IPv4 in one pass (no leading zeros, octets <= 255); anything
          // else goes to the (rare) IPv6 path.
          let value = 0;
          let octet = 0;
          let digits = 0;
          let dots = 0;
          let ok = true;
          let c = buf[i];
          while (c !== SPACE && c !== TAB) {
            if (c >= 48 && c <= 57) {
              if ((digits > 0 && octet === 0) || ++digits > 3) ok = false;
              octet = octet * 10 + (c - 48);
            } else if (c === 46 && digits > 0 && octet <= 255) {
              value = value * 256 + octet;
              octet = 0;
              digits = 0;
              dots++;
            } else ok = false;
            c = ++i < end ? buf[i] : SPACE;
          }
          if (ok && dots === 3 && digits > 0 && octet <= 255) {
            const v = value * 256 + octet;
            col!.i32[row] = col!.dict!.codeV4(v, buf, s, i);
            col!.u32![row] = v;
            break;
          }
          const text = canonicalIpv6(latin1(buf, s, i));
          if (!text) return fieldError(this, k, buf, start, s, end, 'an IPv4 or IPv6 address or "-"');
          const bytes = Buffer.from(text, 'latin1');
          col!.i32[row] = col!.dict!.code(bytes, 0, bytes.length);
          setNull(col!, row);
          break;
        }
        case K_ACTION:
        case K_STATUS: {
          while (i < end && buf[i] !== SPACE && buf[i] !== TAB) i++;
          if (dash) {
            setNull(col!, row);
            break;
          }
          const code = matchWord(buf, s, i, kinds[k] === K_ACTION ? ACTION_WORDS : STATUS_WORDS);
          if (code < 0) return fieldError(this, k, buf, start, s, end, kinds[k] === K_ACTION ? 'ACCEPT, REJECT or "-"' : 'OK, NODATA, SKIPDATA or "-"');
          col!.u8![row] = code - 1;
          break;
        }
        case K_STRING: {
          // Hash while scanning: one pass over the token's bytes.
          let h = 0x811c9dc5;
          let c = buf[i];
          while (c !== SPACE && c !== TAB) {
            h = Math.imul(h ^ c, 0x01000193);
            c = ++i < end ? buf[i] : SPACE;
          }
          col!.i32[row] = dash ? 0 : col!.dict!.codeHashed(buf, s, i, h);
          break;
        }
        default: {
          while (i < end && buf[i] !== SPACE && buf[i] !== TAB) i++;
          if (!dash) (extra ??= {})[this.batch.fields[k]] = latin1(buf, s, i);
        }
      }
      while (i < end && (buf[i] === SPACE || buf[i] === TAB)) i++;
    }
    if (i < end) {
      let n = nf;
      for (let p = i; p < end; p++) if ((buf[p] === SPACE || buf[p] === TAB) && p + 1 < end && buf[p + 1] !== SPACE && buf[p + 1] !== TAB) n++;
      return { column: i - start + 1, reason: `expected ${nf} fields (${this.batch.fields.slice(0, 3).join(' ')} ...), found ${n + 1}` };
    }
    // The partition day: the window start, else its end, else today.
    const t = this.timeCol;
    if (t && t.valid[row >> 3] & (1 << (row & 7))) {
      this.batch.day[row] = Math.floor((t.i64w![2 * row] + t.i64w![2 * row + 1] * 4294967296) / 86400);
    } else if (this.endCol && this.endCol.valid[row >> 3] & (1 << (row & 7))) {
      this.batch.day[row] = Math.floor((this.endCol.i64w![2 * row] + this.endCol.i64w![2 * row + 1] * 4294967296) / 86400);
    } else this.batch.day[row] = Math.floor(Date.now() / 86400000);
    if (this.batch.extra.length) {
      let code = 0;
      if (extra) {
        const json = JSON.stringify(extra);
        code = this.batch.extraCodes.get(json) ?? 0;
        if (!code) {
          code = this.batch.extraValues.push(json);
          this.batch.extraCodes.set(json, code);
        }
      }
      this.batch.extra[row] = code;
    }
    this.batch.lineNo[row] = lineNo;
    this.batch.length = row + 1;
    return 'record';
  }
}

const ACTION_WORDS = [Buffer.from('ACCEPT'), Buffer.from('REJECT')];
const STATUS_WORDS = [Buffer.from('OK'), Buffer.from('NODATA'), Buffer.from('SKIPDATA')];

function matchWord(buf: Uint8Array, s: number, e: number, words: Buffer[]): number {
  outer: for (let w = 0; w < words.length; w++) {
    const word = words[w];
    if (word.length !== e - s) continue;
    for (let p = 0; p < word.length; p++) if (word[p] !== buf[s + p]) continue outer;
    return w + 1;
  }
  return -1;
}

function latin1(buf: Uint8Array, s: number, e: number): string {
  return Buffer.prototype.latin1Slice.call(buf, s, e) as string;
}

function fieldError(p: LineParser, k: number, buf: Uint8Array, lineStart: number, s: number, end: number, expected: string): LineError {
  let e = s;
  while (e < end && buf[e] !== SPACE && buf[e] !== TAB) e++;
  const shown = latin1(buf, s, Math.min(e, s + 40));
  return { column: s - lineStart + 1, reason: `${p.fields[k]}: expected ${expected}, found "${shown}${e - s > 40 ? '…' : ''}"` };
}
