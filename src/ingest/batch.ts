import { fieldByName, type FieldDef, type FieldKind } from '../schema/columns.ts';
import { ByteDict } from './byte-dict.ts';

/**
 * A batch of parsed records held column by column in typed arrays laid out exactly as DuckDB
 * vectors are, so each 2048-row vector is filled by one memcpy. Strings never cross into
 * DuckDB one by one: string and address columns hold dictionary codes, and only the distinct
 * values travel (as a small dictionary table), because a per-value N-API call costs more than
 * parsing the value.
 *
 * Per kind:
 *  - int:     i32 value; NULL via the validity bitmap
 *  - bigint:  i64 value (written as two 32-bit words); NULL via validity
 *  - addr:    i32 dictionary code (0 = NULL) and u32 IPv4 value (validity clear when not IPv4)
 *  - action / status: u8 enum index (ACTIONS / STATUSES order); NULL via validity
 *  - string:  i32 dictionary code, 0 = NULL
 * Address columns share one dictionary (the batch's distinct addresses); every other string
 * column has its own.
 * Validity bitmaps use DuckDB's layout: bit i of the mask set = row i valid.
 */
export interface BatchColumn {
  readonly def: FieldDef;
  readonly kind: FieldKind;
  readonly i32: Int32Array;
  readonly u8?: Uint8Array;
  readonly i64?: BigInt64Array;
  /** The same memory as i64 seen as (lo, hi) 32-bit words: no BigInt per value. */
  readonly i64w?: Uint32Array;
  readonly u32?: Uint32Array;
  /** Validity of the value (int, bigint, action, status) or of u32 (addr). */
  readonly valid: Uint8Array;
  hasNull: boolean;
  /** string / addr: raw-bytes dictionary; code c is dict.values[c - 1]. */
  readonly dict?: ByteDict;
}

// Enrichment columns are transferred to the writing thread, which detaches ArrayBuffers. The
// first detach in a thread makes V8 throw away every optimised function that
// reads typed arrays (it had assumed none is ever detached) and optimise each again (seen with
// --trace-deopt: seven functions at once, the parser's generated code among them, 100-200 ms of
// TurboFan). Detaching one buffer as this module loads, before anything is hot, settles that
// assumption up front.
const detached = new ArrayBuffer(8);
structuredClone(detached, { transfer: [detached] });

export const ACTIONS = ['ACCEPT', 'REJECT'] as const;
export const STATUSES = ['OK', 'NODATA', 'SKIPDATA'] as const;

/** Column batch for one format (one list of fields). */
export class ColumnBatch {
  readonly columns: BatchColumn[];
  /** Unknown fields of the format, kept per row as JSON text in `extra`. */
  readonly unknownFields: string[];
  /** `extra` JSON per row as a dictionary code (0 = none); values by code-1 in extraValues. */
  readonly extra: Int32Array;
  readonly extraValues: string[] = [];
  readonly extraCodes = new Map<string, number>();
  /** The record's UTC day (days since 1970-01-01), the partition key. */
  readonly day: Int32Array;
  /** Input line number of each row (for diagnostics). */
  readonly lineNo: Float64Array;
  length = 0;

  constructor(
    readonly fields: readonly string[],
    readonly capacity: number,
    /**
     * Arrays in SharedArrayBuffers: a writer in another thread reads them in place, where
     * ArrayBuffers would have to be copied or moved there.
     */
    shared = false,
  ) {
    const mem = (bytes: number): ArrayBuffer => (shared ? (new SharedArrayBuffer(bytes) as unknown as ArrayBuffer) : new ArrayBuffer(bytes));
    this.columns = [];
    this.unknownFields = [];
    // Every address column shares one dictionary: a batch's distinct addresses are then one
    // list, which enrichment looks up once and the store writes as one ENUM type.
    const addrDict = new ByteDict();
    for (const name of fields) {
      const def = fieldByName(name);
      if (!def || this.columns.some((c) => c.def === def)) {
        this.unknownFields.push(name);
        continue;
      }
      const i64 = def.kind === 'bigint' ? new BigInt64Array(mem(8 * capacity)) : undefined;
      this.columns.push({
        def,
        kind: def.kind,
        i32: new Int32Array(mem(def.kind === 'int' || def.kind === 'addr' || def.kind === 'string' ? 4 * capacity : 0)),
        u8: def.kind === 'action' || def.kind === 'status' ? new Uint8Array(mem(capacity)) : undefined,
        i64,
        i64w: i64 ? new Uint32Array(i64.buffer) : undefined,
        u32: def.kind === 'addr' ? new Uint32Array(mem(4 * capacity)) : undefined,
        valid: new Uint8Array(mem(Math.ceil(capacity / 8))).fill(0xff),
        hasNull: false,
        dict: def.kind === 'addr' ? addrDict : def.kind === 'string' ? new ByteDict() : undefined,
      });
    }
    this.extra = new Int32Array(mem(this.unknownFields.length ? 4 * capacity : 0));
    this.day = new Int32Array(mem(4 * capacity));
    this.lineNo = new Float64Array(mem(8 * capacity));
    // V8 compiles a field written only once (at construction) into optimised code as a
    // constant; setNull writes `hasNull` again mid-run, and every function that relied on it
    // (the generated parser among them) was thrown away and optimised anew (seen with
    // --trace-deopt). A second write now, before anything is optimised, makes it an ordinary
    // field from the start.
    for (const c of this.columns) {
      c.hasNull = true;
      c.hasNull = false;
    }
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  /** Empties the batch for reuse; dictionaries restart too. */
  reset(): void {
    this.length = 0;
    for (const c of this.columns) {
      c.dict?.clear();
      if (c.hasNull) {
        c.valid.fill(0xff);
        c.hasNull = false;
      }
    }
    if (this.extra.length) {
      this.extraValues.length = 0;
      this.extraCodes.clear();
    }
  }

  /** Counts rows per log-status (OK, NODATA, SKIPDATA, none). */
  statusCounts(): { ok: number; nodata: number; skipdata: number } {
    const col = this.columns.find((c) => c.kind === 'status');
    if (!col) return { ok: this.length, nodata: 0, skipdata: 0 };
    const counts = [0, 0, 0];
    for (let i = 0; i < this.length; i++) {
      if (col.valid[i >> 3] & (1 << (i & 7))) counts[col.u8![i]]++;
    }
    return { ok: counts[0], nodata: counts[1], skipdata: counts[2] };
  }
}

/** Marks row `row` of a column NULL. */
export function setNull(col: BatchColumn, row: number): void {
  col.valid[row >> 3] &= ~(1 << (row & 7));
  col.hasNull = true;
}

/**
 * Decodes row `i` back to field values (numbers, strings, null): for tests and diagnostics,
 * never the hot path.
 * @example rowValues(batch, 0) // { version: 2, 'account-id': '123456789010', ... }
 */
export function rowValues(batch: ColumnBatch, i: number): Record<string, string | number | bigint | null> {
  const out: Record<string, string | number | bigint | null> = {};
  for (const c of batch.columns) {
    const valid = (c.valid[i >> 3] & (1 << (i & 7))) !== 0;
    const name = c.def.field;
    switch (c.kind) {
      case 'int':
        out[name] = valid ? c.i32[i] : null;
        break;
      case 'bigint': {
        const v = c.i64![i];
        out[name] = valid ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v) : null;
        break;
      }
      case 'action':
        out[name] = valid ? ACTIONS[c.u8![i]] : null;
        break;
      case 'status':
        out[name] = valid ? STATUSES[c.u8![i]] : null;
        break;
      default:
        out[name] = c.i32[i] ? c.dict!.values[c.i32[i] - 1] : null;
    }
  }
  if (batch.extra.length && batch.extra[i]) Object.assign(out, JSON.parse(batch.extraValues[batch.extra[i] - 1]) as object);
  return out;
}
