/**
 * A dictionary keyed by raw bytes: looks a token up straight from the input buffer and makes a
 * JS string only the first time a value is seen. Interface and account ids repeat on nearly
 * every line, so this spares a string allocation and a Map probe per field per record.
 */
export class ByteDict {
  private table: Int32Array;
  private mask: number;
  private hashes: Int32Array<ArrayBuffer> = new Int32Array(64);
  private offsets: Int32Array<ArrayBuffer> = new Int32Array(64);
  private lengths: Int32Array<ArrayBuffer> = new Int32Array(64);
  private arena = new Uint8Array(4096);
  private used = 0;
  /** Distinct values; code c (1-based) is values[c - 1]. */
  readonly values: string[] = stringArray();

  constructor(initialSlots = 1024) {
    this.table = new Int32Array(initialSlots);
    this.mask = initialSlots - 1;
  }

  get size(): number {
    return this.values.length;
  }

  clear(): void {
    this.table.fill(0);
    this.v4Codes.fill(0);
    this.v4Size = 0;
    this.values.length = 0;
    this.used = 0;
  }

  /** IPv4 addresses by value: an integer probe instead of hashing and comparing text. */
  private v4Keys = new Int32Array(1024);
  private v4Codes = new Int32Array(1024);
  private v4Size = 0;

  /**
   * Returns the 1-based code of the IPv4 address `value` whose canonical text is buf[s, e),
   * adding it when new. The text is read only then.
   * @example dict.codeV4(0x0a000001, Buffer.from('10.0.0.1'), 0, 8) // 1
   */
  codeV4(value: number, buf: Uint8Array, s: number, e: number): number {
    const keys = this.v4Keys;
    const codes = this.v4Codes;
    const mask = keys.length - 1;
    const key = value | 0;
    let idx = Math.imul(key ^ (key >>> 15), 0x2c1b3c6d) >>> 0;
    idx = (idx ^ (idx >>> 12)) & mask;
    for (;;) {
      const c = codes[idx];
      if (c === 0) break;
      if (keys[idx] === key) return c;
      idx = (idx + 1) & mask;
    }
    this.values.push(Buffer.prototype.latin1Slice.call(buf, s, e) as string);
    const c = this.values.length;
    keys[idx] = key;
    codes[idx] = c;
    if (++this.v4Size * 2 > keys.length) this.rehashV4();
    return c;
  }

  private rehashV4(): void {
    const keys = new Int32Array(this.v4Keys.length * 2);
    const codes = new Int32Array(keys.length);
    const mask = keys.length - 1;
    for (let j = 0; j < this.v4Keys.length; j++) {
      const c = this.v4Codes[j];
      if (c === 0) continue;
      const key = this.v4Keys[j];
      let idx = Math.imul(key ^ (key >>> 15), 0x2c1b3c6d) >>> 0;
      idx = (idx ^ (idx >>> 12)) & mask;
      while (codes[idx] !== 0) idx = (idx + 1) & mask;
      keys[idx] = key;
      codes[idx] = c;
    }
    this.v4Keys = keys;
    this.v4Codes = codes;
  }

  /**
   * Returns the 1-based code of buf[s, e), adding it when new.
   * @example dict.code(Buffer.from('eni-1'), 0, 5) // 1
   */
  code(buf: Uint8Array, s: number, e: number): number {
    let h = 0x811c9dc5;
    for (let p = s; p < e; p++) h = Math.imul(h ^ buf[p], 0x01000193);
    return this.codeHashed(buf, s, e, h);
  }

  /**
   * As code(), with the FNV-1a hash of buf[s, e) computed by the caller while it scanned the
   * token (one pass over the bytes instead of two).
   */
  codeHashed(buf: Uint8Array, s: number, e: number, h: number): number {
    const len = e - s;
    const table = this.table;
    let idx = h & this.mask;
    for (;;) {
      const c = table[idx];
      if (c === 0) break;
      if (this.hashes[c] === h && this.lengths[c] === len) {
        const off = this.offsets[c];
        const arena = this.arena;
        let same = true;
        for (let p = 0; p < len; p++) {
          if (arena[off + p] !== buf[s + p]) {
            same = false;
            break;
          }
        }
        if (same) return c;
      }
      idx = (idx + 1) & this.mask;
    }
    return this.insert(buf, s, e, h, idx);
  }

  private insert(buf: Uint8Array, s: number, e: number, h: number, idx: number): number {
    const len = e - s;
    this.values.push(Buffer.prototype.latin1Slice.call(buf, s, e) as string);
    const c = this.values.length;
    if (c >= this.hashes.length) {
      this.hashes = grow(this.hashes);
      this.offsets = grow(this.offsets);
      this.lengths = grow(this.lengths);
    }
    if (this.used + len > this.arena.length) {
      const bigger = new Uint8Array(Math.max(this.arena.length * 2, this.used + len));
      bigger.set(this.arena);
      this.arena = bigger;
    }
    this.arena.set(buf.subarray(s, e), this.used);
    this.hashes[c] = h;
    this.offsets[c] = this.used;
    this.lengths[c] = len;
    this.used += len;
    this.table[idx] = c;
    // Keep the table at most half full so probes stay short.
    if (c * 2 > this.table.length) this.rehash();
    return c;
  }

  private rehash(): void {
    // From the old slots, not from the codes: IPv4 codes live in their own table.
    const old = this.table;
    const table = new Int32Array(old.length * 2);
    const mask = table.length - 1;
    for (let j = 0; j < old.length; j++) {
      const c = old[j];
      if (c === 0) continue;
      let idx = this.hashes[c] & mask;
      while (table[idx] !== 0) idx = (idx + 1) & mask;
      table[idx] = c;
    }
    this.table = table;
    this.mask = mask;
  }
}

function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/**
 * An empty array already of V8's "any element" kind: a fresh `[]` holds small integers until
 * its first string, and optimised code that had only seen string arrays was thrown away at each
 * new dictionary's first value (seen with --trace-deopt).
 */
function stringArray(): string[] {
  const a = [''];
  a.length = 0;
  return a;
}
