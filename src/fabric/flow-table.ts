import { formatV4, formatV6, type Ip } from './ip.ts';

/**
 * Addresses as float64 ids for the flow table: an IPv4 address is its own number; an IPv6
 * address gets an id above 2^32. One table serves a whole run, so ids stay stable.
 */
export class AddrTable {
  private v6Ids = new Map<bigint, number>();
  private v6Text: string[] = [];
  private v4Cache = new Map<number, Buffer>();
  private v6Bytes: Buffer[] = [];

  /** @example table.id(167772161) // 167772161 */
  id(ip: Ip): number {
    if (typeof ip === 'number') return ip;
    let id = this.v6Ids.get(ip);
    if (id === undefined) {
      id = 2 ** 32 + this.v6Text.length;
      this.v6Ids.set(ip, id);
      const text = formatV6(ip);
      this.v6Text.push(text);
      this.v6Bytes.push(Buffer.from(text, 'latin1'));
    }
    return id;
  }

  isV6(id: number): boolean {
    return id >= 2 ** 32;
  }

  /** IPv6 addresses known so far (their ids are 2^32 + index). */
  get v6Count(): number {
    return this.v6Text.length;
  }

  /** The text of the IPv6 addresses from index `from` on (for a render thread's copy). */
  v6Since(from: number): string[] {
    return this.v6Text.slice(from);
  }

  /** Appends IPv6 addresses by text, in id order (a render thread's copy of the table). */
  addV6(texts: readonly string[]): void {
    for (const t of texts) {
      this.v6Text.push(t);
      this.v6Bytes.push(Buffer.from(t, 'latin1'));
    }
  }

  text(id: number): string {
    return id >= 2 ** 32 ? this.v6Text[id - 2 ** 32] : formatV4(id);
  }

  /** The address's text as bytes (cached: rendering calls this per field). */
  bytes(id: number): Buffer {
    if (id >= 2 ** 32) return this.v6Bytes[id - 2 ** 32];
    let b = this.v4Cache.get(id);
    if (b === undefined) {
      if (this.v4Cache.size > 200_000) this.v4Cache.clear();
      b = Buffer.from(formatV4(id), 'latin1');
      this.v4Cache.set(id, b);
    }
    return b;
  }
}

/** Row status codes. */
export const STATUS_OK = 0;
export const STATUS_NODATA = 1;
export const STATUS_SKIPDATA = 2;

/**
 * Tuples of numbers to dense ids, by open addressing over one Float64Array (the tuple and its
 * id side by side: a lookup touches one or two cache lines and builds no string).
 */
class TupleIds {
  size = 0;
  private slots: Float64Array;
  private mask: number;

  constructor(
    private readonly k: number,
    capacity = 1 << 12,
  ) {
    this.slots = new Float64Array(capacity * (k + 1)).fill(-1);
    this.mask = capacity - 1;
  }

  /** The id of the tuple (a new one when unseen). */
  id(v: ArrayLike<number>): number {
    const k = this.k;
    const w = k + 1;
    let h = 0x811c9dc5;
    for (let i = 0; i < k; i++) h = Math.imul(h ^ (v[i] | 0) ^ ((v[i] / 4294967296) | 0), 0x01000193);
    for (let s = (h ^ (h >>> 16)) & this.mask; ; s = (s + 1) & this.mask) {
      const at = s * w;
      const id = this.slots[at + k];
      if (id < 0) {
        for (let i = 0; i < k; i++) this.slots[at + i] = v[i];
        this.slots[at + k] = this.size;
        if (++this.size * 2 > this.mask) this.grow();
        return this.size - 1;
      }
      let same = true;
      for (let i = 0; i < k && same; i++) same = this.slots[at + i] === v[i];
      if (same) return id;
    }
  }

  clear(): void {
    this.slots.fill(-1);
    this.size = 0;
  }

  private grow(): void {
    const old = this.slots;
    const w = this.k + 1;
    this.slots = new Float64Array(old.length * 2).fill(-1);
    this.mask = this.mask * 2 + 1;
    const n = this.size;
    this.size = 0;
    const byId = new Array<Float64Array>(n);
    for (let at = 0; at < old.length; at += w) if (old[at + this.k] >= 0) byId[old[at + this.k]] = old.subarray(at, at + this.k);
    for (const t of byId) this.id(t);
  }
}

/** Per hop class, in one stride of CLASS_STRIDE numbers: addresses, template, interface, key class. */
export const CLASS_STRIDE = 8;
export const C_SRC = 0;
export const C_DST = 1;
export const C_PKT_SRC = 2;
export const C_PKT_DST = 3;
export const C_TEMPLATE = 4;
export const C_ENI = 5;
export const C_KEY = 6;

/** New hop classes and templates, for a render thread's copy (see HopClasses.since). */
export interface ClassesDelta {
  epoch: number;
  /** The copy starts over (the classes were cleared since). */
  reset: boolean;
  from: number;
  data: Float64Array;
  templatesFrom: number;
  /** tEni, tProto, tAction, tEgress, tPath, tSvcSrc, tSvcDst, tBpa, tV6 from templatesFrom on. */
  t: (Int32Array | Uint8Array)[];
}

/**
 * Hop classes: everything a record takes from the hop that made it, interned once per compiled
 * trace so the flow table keeps one id per row. A class is its key class (the fields that
 * identify a record besides the ports: interface, addresses, protocol, action; two hops that
 * differ only in direction, path or service share it and so merge into one record) plus a
 * template: the interface and the codes (protocol, action, direction, path, services, BPA,
 * address family) without the addresses. Templates are few, so what renderers cache per
 * template stays in cache; the addresses, the only per-class text, are one cache line away.
 */
export class HopClasses {
  /** Bumped by clear(): renderers drop what they cached per class. */
  epoch = 0;
  size = 0;
  /** Per class, CLASS_STRIDE numbers (see C_*). */
  data = new Float64Array(1024 * CLASS_STRIDE);
  templates = 0;
  tEni = new Int32Array(64);
  tProto = new Uint8Array(64);
  /** 0 ACCEPT, 1 REJECT. */
  tAction = new Uint8Array(64);
  tEgress = new Uint8Array(64);
  tPath = new Uint8Array(64);
  tSvcSrc = new Uint8Array(64);
  tSvcDst = new Uint8Array(64);
  tBpa = new Uint8Array(64);
  tV6 = new Uint8Array(64);
  private keyIds = new TupleIds(5);
  private classIds = new TupleIds(2);
  private templateIds = new TupleIds(2);
  private scratch = new Float64Array(5);

  /**
   * The class of a hop (made on first use).
   * @example classes.intern(0, src, dst, src, dst, 6, 0, 1, 2, 0, 0, 0, false)
   */
  intern(eni: number, src: number, dst: number, pktSrc: number, pktDst: number, proto: number, action: number, egress: number, path: number, svcSrc: number, svcDst: number, bpa: number, v6: boolean): number {
    const t = this.scratch;
    t[0] = eni;
    t[1] = ((((((proto * 2 + egress) * 16 + path) * 256 + svcSrc) * 256 + svcDst) * 2 + bpa) * 2 + (v6 ? 1 : 0)) * 2 + action;
    const tpl = this.templateIds.id(t);
    if (tpl === this.templates) this.addTemplate(eni, proto, action, egress, path, svcSrc, svcDst, bpa, v6);
    t[0] = eni * 512 + proto * 2 + action;
    t[1] = src;
    t[2] = dst;
    t[3] = pktSrc;
    t[4] = pktDst;
    const key = this.keyIds.id(t);
    t[0] = key;
    t[1] = tpl;
    const id = this.classIds.id(t);
    if (id < this.size) return id;
    this.size++;
    if (this.size * CLASS_STRIDE > this.data.length) this.data = grown(this.data, this.data.length * 2);
    const at = id * CLASS_STRIDE;
    this.data[at + C_SRC] = src;
    this.data[at + C_DST] = dst;
    this.data[at + C_PKT_SRC] = pktSrc;
    this.data[at + C_PKT_DST] = pktDst;
    this.data[at + C_TEMPLATE] = tpl;
    this.data[at + C_ENI] = eni;
    this.data[at + C_KEY] = key;
    return id;
  }

  private addTemplate(eni: number, proto: number, action: number, egress: number, path: number, svcSrc: number, svcDst: number, bpa: number, v6: boolean): void {
    const i = this.templates++;
    if (i === this.tEni.length) {
      const n = i * 2;
      this.tEni = grown(this.tEni, n);
      this.tProto = grown(this.tProto, n);
      this.tAction = grown(this.tAction, n);
      this.tEgress = grown(this.tEgress, n);
      this.tPath = grown(this.tPath, n);
      this.tSvcSrc = grown(this.tSvcSrc, n);
      this.tSvcDst = grown(this.tSvcDst, n);
      this.tBpa = grown(this.tBpa, n);
      this.tV6 = grown(this.tV6, n);
    }
    this.tEni[i] = eni;
    this.tProto[i] = proto;
    this.tAction[i] = action;
    this.tEgress[i] = egress;
    this.tPath[i] = path;
    this.tSvcSrc[i] = svcSrc;
    this.tSvcDst[i] = svcDst;
    this.tBpa[i] = bpa;
    this.tV6[i] = v6 ? 1 : 0;
  }

  /**
   * What a render thread's copy lacks: the classes and templates made since `classes` and
   * `templates` (everything when `epoch` is not the current one).
   */
  since(epoch: number, classes: number, templates: number): ClassesDelta {
    const reset = epoch !== this.epoch;
    const c0 = reset ? 0 : classes;
    const t0 = reset ? 0 : templates;
    const t = (a: Uint8Array | Int32Array) => a.slice(t0, this.templates);
    return {
      epoch: this.epoch,
      reset,
      from: c0,
      data: this.data.slice(c0 * CLASS_STRIDE, this.size * CLASS_STRIDE),
      templatesFrom: t0,
      t: [t(this.tEni), t(this.tProto), t(this.tAction), t(this.tEgress), t(this.tPath), t(this.tSvcSrc), t(this.tSvcDst), t(this.tBpa), t(this.tV6)],
    };
  }

  /** Applies since()'s answer to a copy (a render thread's; it never interns). */
  apply(d: ClassesDelta): void {
    if (d.reset) {
      this.size = 0;
      this.templates = 0;
    }
    if (d.reset || d.epoch !== this.epoch) this.epoch = d.epoch;
    const n = d.from + d.data.length / CLASS_STRIDE;
    if (n * CLASS_STRIDE > this.data.length) this.data = grown(this.data, Math.max(n * CLASS_STRIDE, this.data.length * 2));
    this.data.set(d.data, d.from * CLASS_STRIDE);
    this.size = n;
    const m = d.templatesFrom + d.t[0].length;
    if (m > this.tEni.length) {
      const k = Math.max(m, this.tEni.length * 2);
      this.tEni = grown(this.tEni, k);
      this.tProto = grown(this.tProto, k);
      this.tAction = grown(this.tAction, k);
      this.tEgress = grown(this.tEgress, k);
      this.tPath = grown(this.tPath, k);
      this.tSvcSrc = grown(this.tSvcSrc, k);
      this.tSvcDst = grown(this.tSvcDst, k);
      this.tBpa = grown(this.tBpa, k);
      this.tV6 = grown(this.tV6, k);
    }
    const at = d.templatesFrom;
    this.tEni.set(d.t[0], at);
    this.tProto.set(d.t[1], at);
    this.tAction.set(d.t[2], at);
    this.tEgress.set(d.t[3], at);
    this.tPath.set(d.t[4], at);
    this.tSvcSrc.set(d.t[5], at);
    this.tSvcDst.set(d.t[6], at);
    this.tBpa.set(d.t[7], at);
    this.tV6.set(d.t[8], at);
    this.templates = m;
  }

  /** The key class of a class (what the flow table merges records by, with the ports). */
  key(hc: number): number {
    return this.data[hc * CLASS_STRIDE + C_KEY];
  }

  /** 0 ACCEPT, 1 REJECT. */
  action(hc: number): number {
    return this.tAction[this.data[hc * CLASS_STRIDE + C_TEMPLATE]];
  }

  /** Forgets every class (only when no table row or compiled hop still uses one). */
  clear(): void {
    this.keyIds.clear();
    this.classIds.clear();
    this.templateIds.clear();
    this.size = 0;
    this.templates = 0;
    this.epoch++;
  }
}

function grown<T extends Int32Array | Uint32Array | Float64Array | Uint8Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}

/** The rows of a flow table, copied out (see FlowTable.parts). */
export interface TableParts {
  size: number;
  hc: Int32Array;
  eni: Int32Array;
  ports: Int32Array;
  status: Uint8Array;
  acc: Float64Array;
}

/** Adds a flow table batches (see FlowTable.queue), and the numbers of each. */
const Q_BATCH = 256;
const Q_STRIDE = 10;

/** Per row of a flow table, ACC_STRIDE numbers: packets, bytes, first, last, tcp flags. */
export const ACC_STRIDE = 5;
export const A_PACKETS = 0;
export const A_BYTES = 1;
export const A_FIRST = 2;
export const A_LAST = 3;
export const A_FLAGS = 4;

/**
 * One aggregation window's records, keyed by (key class, source port, destination port), with
 * open addressing: merging a packet batch into a record costs a hash probe and no allocation.
 * A slot holds its key next to its row, so a probe reads one cache line and a merge one more
 * (a row's counters sit together). A row keeps the hop class of its first packets.
 */
export class FlowTable {
  size = 0;
  private cap: number;
  /** Per slot: key (key class * 2^32 + ports) and row + 1 (0 = empty). */
  private slots: Float64Array;
  private mask: number;
  /** Hop class of the row (-1 for NODATA and SKIPDATA rows). */
  hc: Int32Array;
  eni: Int32Array;
  /** Source port << 16 | destination port. */
  ports: Int32Array;
  status: Uint8Array;
  /** Per row, ACC_STRIDE numbers (see A_*). */
  acc: Float64Array;
  /** Adds waiting to be applied (see queue), Q_STRIDE numbers each. */
  private q = new Float64Array(Q_BATCH * Q_STRIDE);
  private qn = 0;
  private touched = 0;

  constructor(
    readonly classes: HopClasses,
    capacity = 1024,
  ) {
    this.cap = capacity;
    this.hc = new Int32Array(capacity);
    this.eni = new Int32Array(capacity);
    this.ports = new Int32Array(capacity);
    this.status = new Uint8Array(capacity);
    this.acc = new Float64Array(capacity * ACC_STRIDE);
    this.slots = new Float64Array(capacity * 4);
    this.mask = capacity * 2 - 1;
  }

  /** Adds waiting in the queue (apply them with drain() before reading the table). */
  get queued(): number {
    return this.qn;
  }

  /**
   * Like add(), applied later in a batch: a first pass reads each add's slot, independent
   * loads the CPU overlaps (a probe of this multi-megabyte table is a cache miss, ~80% of an
   * add's time when done one by one); the second pass adds in order, so rows keep the order of
   * the adds (add() applies what is queued first). Call drain() before reading the table.
   */
  queue(hc: number, kc: number, eni: number, sport: number, dport: number, packets: number, bytes: number, first: number, last: number, flags: number): void {
    const q = this.q;
    const at = this.qn * Q_STRIDE;
    q[at] = hc;
    q[at + 1] = kc;
    q[at + 2] = eni;
    q[at + 3] = sport;
    q[at + 4] = dport;
    q[at + 5] = packets;
    q[at + 6] = bytes;
    q[at + 7] = first;
    q[at + 8] = last;
    q[at + 9] = flags;
    if (++this.qn === Q_BATCH) this.drain();
  }

  /** Applies the queued adds. */
  drain(): void {
    const n = this.qn;
    if (n === 0) return;
    const q = this.q;
    const slots = this.slots;
    const mask = this.mask;
    let touched = 0;
    for (let i = 0; i < n; i++) {
      const at = i * Q_STRIDE;
      const key = q[at + 1] * 4294967296 + (((q[at + 3] << 16) | q[at + 4]) >>> 0);
      touched += slots[(slotOf(key) & mask) * 2 + 1];
    }
    // Kept so the first pass is not optimized away.
    this.touched = touched;
    this.qn = 0;
    for (let i = 0; i < n; i++) {
      const at = i * Q_STRIDE;
      this.apply(q[at], q[at + 1], q[at + 2], q[at + 3], q[at + 4], q[at + 5], q[at + 6], q[at + 7], q[at + 8], q[at + 9]);
    }
  }

  clear(): void {
    if (this.qn > 0) throw new Error('flow table cleared with queued adds');
    if (this.size === 0) return;
    this.size = 0;
    this.slots.fill(0);
  }

  private grow(): void {
    const cap = this.cap * 2;
    this.hc = grown(this.hc, cap);
    this.eni = grown(this.eni, cap);
    this.ports = grown(this.ports, cap);
    this.status = grown(this.status, cap);
    this.acc = grown(this.acc, cap * ACC_STRIDE);
    const old = this.slots;
    this.cap = cap;
    this.slots = new Float64Array(cap * 4);
    this.mask = cap * 2 - 1;
    for (let at = 0; at < old.length; at += 2) {
      if (old[at + 1] === 0) continue;
      const key = old[at];
      let s = slotOf(key) & this.mask;
      while (this.slots[s * 2 + 1] !== 0) s = (s + 1) & this.mask;
      this.slots[s * 2] = key;
      this.slots[s * 2 + 1] = old[at + 1];
    }
  }

  /**
   * Adds packets of a hop class (of key class kc, on interface eni) to the record of its key
   * and ports (creating it), after any queued adds. Returns the row.
   * @example t.add(hc, classes.key(hc), eni, 40000, 443, 3, 180, 1705276800, 1705276801, 2)
   */
  add(hc: number, kc: number, eni: number, sport: number, dport: number, packets: number, bytes: number, first: number, last: number, flags: number): number {
    this.drain();
    return this.apply(hc, kc, eni, sport, dport, packets, bytes, first, last, flags);
  }

  private apply(hc: number, kc: number, eni: number, sport: number, dport: number, packets: number, bytes: number, first: number, last: number, flags: number): number {
    const ports = (sport << 16) | dport;
    const key = kc * 4294967296 + (ports >>> 0);
    const slots = this.slots;
    let s = slotOf(key) & this.mask;
    for (;;) {
      const r1 = slots[s * 2 + 1];
      if (r1 === 0) break;
      if (slots[s * 2] === key) {
        const a = (r1 - 1) * ACC_STRIDE;
        const acc = this.acc;
        acc[a + A_PACKETS] += packets;
        acc[a + A_BYTES] += bytes;
        if (first < acc[a + A_FIRST]) acc[a + A_FIRST] = first;
        if (last > acc[a + A_LAST]) acc[a + A_LAST] = last;
        acc[a + A_FLAGS] = acc[a + A_FLAGS] | flags;
        return r1 - 1;
      }
      s = (s + 1) & this.mask;
    }
    if (this.size === this.cap) {
      this.grow();
      return this.apply(hc, kc, eni, sport, dport, packets, bytes, first, last, flags);
    }
    const r = this.size++;
    slots[s * 2] = key;
    slots[s * 2 + 1] = r + 1;
    this.hc[r] = hc;
    this.eni[r] = eni;
    this.ports[r] = ports;
    this.status[r] = STATUS_OK;
    const a = r * ACC_STRIDE;
    const acc = this.acc;
    acc[a + A_PACKETS] = packets;
    acc[a + A_BYTES] = bytes;
    acc[a + A_FIRST] = first;
    acc[a + A_LAST] = last;
    acc[a + A_FLAGS] = flags;
    return r;
  }

  /** Appends a NODATA or SKIPDATA record (never merged: one per interface and window). */
  addStatus(eni: number, status: number, start: number, end: number): void {
    this.drain();
    if (this.size === this.cap) this.grow();
    const r = this.size++;
    this.hc[r] = -1;
    this.eni[r] = eni;
    this.ports[r] = 0;
    this.status[r] = status;
    const a = r * ACC_STRIDE;
    this.acc[a + A_PACKETS] = 0;
    this.acc[a + A_BYTES] = 0;
    this.acc[a + A_FIRST] = start;
    this.acc[a + A_LAST] = end;
    this.acc[a + A_FLAGS] = 0;
  }

  /** Copies the rows into `into` (a render thread's shared slot, large enough). */
  parts(into: TableParts): void {
    const n = this.size;
    into.size = n;
    into.hc.set(this.hc.subarray(0, n));
    into.eni.set(this.eni.subarray(0, n));
    into.ports.set(this.ports.subarray(0, n));
    into.status.set(this.status.subarray(0, n));
    into.acc.set(this.acc.subarray(0, n * ACC_STRIDE));
  }

  /** A read-only table over the first `size` rows of parts() (a render thread's; never added to). */
  static view(classes: HopClasses, p: TableParts, size: number): FlowTable {
    const t = new FlowTable(classes, 1);
    t.size = size;
    t.cap = size;
    t.hc = p.hc;
    t.eni = p.eni;
    t.ports = p.ports;
    t.status = p.status;
    t.acc = p.acc;
    return t;
  }

  /** The action of a row: 0 ACCEPT, 1 REJECT (NODATA and SKIPDATA rows: 0). */
  action(r: number): number {
    const hc = this.hc[r];
    return hc < 0 ? 0 : this.classes.action(hc);
  }

  /** The record's start (Unix seconds; the window's start for NODATA and SKIPDATA). */
  first(r: number): number {
    return this.acc[r * ACC_STRIDE + A_FIRST];
  }
}

function slotOf(key: number): number {
  let h = Math.imul((key | 0) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ ((key / 4294967296) | 0), 0xc2b2ae35);
  return (h ^ (h >>> 15)) >>> 0;
}
