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
 * One aggregation window's records, keyed by (interface, 5-tuple, action, packet addresses),
 * in typed arrays with open addressing: merging a packet batch into a record costs a hash probe
 * and no allocation.
 */
export class FlowTable {
  size = 0;
  private cap: number;
  private slots: Int32Array;
  private mask: number;
  eni: Int32Array;
  src: Float64Array;
  dst: Float64Array;
  pktSrc: Float64Array;
  pktDst: Float64Array;
  sport: Int32Array;
  dport: Int32Array;
  proto: Uint8Array;
  /** 0 ACCEPT, 1 REJECT. */
  action: Uint8Array;
  status: Uint8Array;
  packets: Float64Array;
  bytes: Float64Array;
  first: Float64Array;
  last: Float64Array;
  flags: Uint8Array;
  egress: Uint8Array;
  path: Uint8Array;
  svcSrc: Uint8Array;
  svcDst: Uint8Array;
  bpa: Uint8Array;

  constructor(capacity = 1024) {
    this.cap = capacity;
    this.eni = new Int32Array(capacity);
    this.src = new Float64Array(capacity);
    this.dst = new Float64Array(capacity);
    this.pktSrc = new Float64Array(capacity);
    this.pktDst = new Float64Array(capacity);
    this.sport = new Int32Array(capacity);
    this.dport = new Int32Array(capacity);
    this.proto = new Uint8Array(capacity);
    this.action = new Uint8Array(capacity);
    this.status = new Uint8Array(capacity);
    this.packets = new Float64Array(capacity);
    this.bytes = new Float64Array(capacity);
    this.first = new Float64Array(capacity);
    this.last = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.egress = new Uint8Array(capacity);
    this.path = new Uint8Array(capacity);
    this.svcSrc = new Uint8Array(capacity);
    this.svcDst = new Uint8Array(capacity);
    this.bpa = new Uint8Array(capacity);
    this.slots = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
  }

  clear(): void {
    this.size = 0;
    this.slots.fill(0);
  }

  private grow(): void {
    const cap = this.cap * 2;
    const g = <T extends Int32Array | Float64Array | Uint8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.eni = g(this.eni);
    this.src = g(this.src);
    this.dst = g(this.dst);
    this.pktSrc = g(this.pktSrc);
    this.pktDst = g(this.pktDst);
    this.sport = g(this.sport);
    this.dport = g(this.dport);
    this.proto = g(this.proto);
    this.action = g(this.action);
    this.status = g(this.status);
    this.packets = g(this.packets);
    this.bytes = g(this.bytes);
    this.first = g(this.first);
    this.last = g(this.last);
    this.flags = g(this.flags);
    this.egress = g(this.egress);
    this.path = g(this.path);
    this.svcSrc = g(this.svcSrc);
    this.svcDst = g(this.svcDst);
    this.bpa = g(this.bpa);
    this.cap = cap;
    this.slots = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
    for (let r = 0; r < this.size; r++) {
      let s = this.hash(r) & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = r + 1;
    }
  }

  private hash(r: number): number {
    return mix(this.eni[r], this.src[r], this.dst[r], this.sport[r], this.dport[r], this.proto[r] | (this.action[r] << 8), this.pktSrc[r], this.pktDst[r]);
  }

  /**
   * Adds packets to the record of this key (creating it). Returns the row.
   * @example t.add(0, src, dst, 40000, 443, 6, 0, src, dst, 3, 180, 1705276800, 1705276801, 2, 1, 8, 0, 0, 0)
   */
  add(
    eni: number,
    src: number,
    dst: number,
    sport: number,
    dport: number,
    proto: number,
    action: number,
    pktSrc: number,
    pktDst: number,
    packets: number,
    bytes: number,
    first: number,
    last: number,
    flags: number,
    egress: number,
    path: number,
    svcSrc: number,
    svcDst: number,
    bpa: number,
  ): number {
    let s = mix(eni, src, dst, sport, dport, proto | (action << 8), pktSrc, pktDst) & this.mask;
    for (;;) {
      const r1 = this.slots[s];
      if (r1 === 0) break;
      const r = r1 - 1;
      if (
        this.eni[r] === eni &&
        this.src[r] === src &&
        this.dst[r] === dst &&
        this.sport[r] === sport &&
        this.dport[r] === dport &&
        this.proto[r] === proto &&
        this.action[r] === action &&
        this.pktSrc[r] === pktSrc &&
        this.pktDst[r] === pktDst
      ) {
        this.packets[r] += packets;
        this.bytes[r] += bytes;
        if (first < this.first[r]) this.first[r] = first;
        if (last > this.last[r]) this.last[r] = last;
        this.flags[r] |= flags;
        return r;
      }
      s = (s + 1) & this.mask;
    }
    if (this.size === this.cap) {
      this.grow();
      return this.add(eni, src, dst, sport, dport, proto, action, pktSrc, pktDst, packets, bytes, first, last, flags, egress, path, svcSrc, svcDst, bpa);
    }
    const r = this.size++;
    this.slots[s] = r + 1;
    this.eni[r] = eni;
    this.src[r] = src;
    this.dst[r] = dst;
    this.sport[r] = sport;
    this.dport[r] = dport;
    this.proto[r] = proto;
    this.action[r] = action;
    this.status[r] = STATUS_OK;
    this.pktSrc[r] = pktSrc;
    this.pktDst[r] = pktDst;
    this.packets[r] = packets;
    this.bytes[r] = bytes;
    this.first[r] = first;
    this.last[r] = last;
    this.flags[r] = flags;
    this.egress[r] = egress;
    this.path[r] = path;
    this.svcSrc[r] = svcSrc;
    this.svcDst[r] = svcDst;
    this.bpa[r] = bpa;
    return r;
  }

  /** Appends a NODATA or SKIPDATA record (never merged: one per interface and window). */
  addStatus(eni: number, status: number, start: number, end: number): void {
    if (this.size === this.cap) this.grow();
    const r = this.size++;
    this.eni[r] = eni;
    this.status[r] = status;
    this.first[r] = start;
    this.last[r] = end;
    this.packets[r] = 0;
    this.bytes[r] = 0;
    this.flags[r] = 0;
    this.action[r] = 0;
    this.egress[r] = 0;
    this.path[r] = 0;
    this.svcSrc[r] = 0;
    this.svcDst[r] = 0;
    this.bpa[r] = 0;
  }
}

function mix(eni: number, src: number, dst: number, sport: number, dport: number, pa: number, pktSrc: number, pktDst: number): number {
  let h = Math.imul(eni ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (src | 0) ^ ((src / 4294967296) | 0), 0xc2b2ae35);
  h = Math.imul(h ^ (dst | 0) ^ ((dst / 4294967296) | 0), 0x27d4eb2f);
  h = Math.imul(h ^ (sport << 16) ^ dport, 0x165667b1);
  h = Math.imul(h ^ pa, 0x85ebca6b);
  if (pktSrc !== src || pktDst !== dst) h = Math.imul(h ^ (pktSrc | 0) ^ (pktDst | 0), 0xc2b2ae35);
  return (h ^ (h >>> 15)) >>> 0;
}
