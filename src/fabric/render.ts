import { formatVersion } from '../schema/columns.ts';
import { ACC_STRIDE, A_BYTES, A_FIRST, A_FLAGS, A_LAST, A_PACKETS, CLASS_STRIDE, C_DST, C_PKT_DST, C_PKT_SRC, C_SRC, C_TEMPLATE, STATUS_NODATA, type AddrTable, type FlowTable, type HopClasses } from './flow-table.ts';
import type { Topology } from './model.ts';

/** A growable byte buffer that lines are written into without building strings. */
export class ByteBuf {
  buf: Buffer;
  /** The same bytes, for 16- and 32-bit stores (two digits, an octet and its dot, at once). */
  view: DataView;
  pos = 0;

  constructor(size = 1 << 20) {
    this.buf = Buffer.allocUnsafe(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Makes room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.length);
  }
}

const enc = (s: string) => Buffer.from(s, 'latin1');
const DASH = 45;
const SPACE = 32;
const NL = 10;
const STATUS = [enc('OK'), enc('NODATA'), enc('SKIPDATA')];

// Field codes for the render loop (a switch on small integers).
const F = {
  version: 0, 'account-id': 1, 'interface-id': 2, srcaddr: 3, dstaddr: 4, srcport: 5, dstport: 6, protocol: 7, packets: 8, bytes: 9,
  start: 10, end: 11, action: 12, 'log-status': 13, 'vpc-id': 14, 'subnet-id': 15, 'instance-id': 16, 'tcp-flags': 17, type: 18,
  'pkt-srcaddr': 19, 'pkt-dstaddr': 20, region: 21, 'az-id': 22, 'pkt-src-aws-service': 23, 'pkt-dst-aws-service': 24,
  'flow-direction': 25, 'traffic-path': 26, 'reject-reason': 27,
} as const;
// Fields no VPC flow log fills (transit gateway, ECS, unversioned ones) are always `-`.
const F_DASH = 99;

// Fields that depend only on the interface (or on nothing): NODATA and SKIPDATA lines copy them
// as per-interface segments.
const ENI_CONSTANT = new Set<number>([F.version, F['account-id'], F['interface-id'], F['vpc-id'], F['subnet-id'], F['instance-id'], F.region, F['az-id'], F_DASH]);
// What an OK line takes from its row (numbers) and from its hop class (addresses); every other
// field is its template's, so runs of them are rendered once per template.
const NUMBERS = new Set<number>([F.srcport, F.dstport, F.packets, F.bytes, F.start, F.end, F['tcp-flags']]);
const ADDRESSES = new Set<number>([F.srcaddr, F.dstaddr, F['pkt-srcaddr'], F['pkt-dstaddr']]);
/** Ops at or above SEG copy segment (op - SEG). */
const SEG = 128;
/** Rows whose hop classes render() reads ahead of their lines. */
const TOUCH = 64;
/** "00".."99" as little-endian 16-bit words: two digits with one store. */
const DIGITS2 = Uint16Array.from({ length: 100 }, (_, i) => (48 + Math.floor(i / 10)) | ((48 + (i % 10)) << 8));
/** An octet's digits and a dot as a little-endian 32-bit word, and its digit count. */
const OCTET = Uint32Array.from({ length: 256 }, (_, v) => {
  const b = Buffer.from(`${v}.`.padEnd(4, '\0'), 'latin1');
  return b.readUInt32LE(0);
});
const OCTET_LEN = Uint8Array.from({ length: 256 }, (_, v) => String(v).length);
/** Writes one OK line at p; returns the end. */
type LineFn = (buf: Buffer, dv: DataView, p: number, segs: Uint8Array[], data: Float64Array, d: number, acc: Float64Array, a: number, ports: number, addrs: AddrTable) => number;

/**
 * The ops of a format as one function of straight-line code: no loop over ops, no switch on
 * field codes, separators as constants (a quarter less time a line than interpreting the ops).
 */
function compileLine(ops: Uint8Array, seps: Uint8Array): LineFn {
  const field: Record<number, string> = {
    [F.srcaddr]: `addr(buf, dv, p, addrs, data[d + ${C_SRC}])`,
    [F.dstaddr]: `addr(buf, dv, p, addrs, data[d + ${C_DST}])`,
    [F['pkt-srcaddr']]: `addr(buf, dv, p, addrs, data[d + ${C_PKT_SRC}])`,
    [F['pkt-dstaddr']]: `addr(buf, dv, p, addrs, data[d + ${C_PKT_DST}])`,
    [F.srcport]: 'num(buf, dv, p, ports >>> 16)',
    [F.dstport]: 'num(buf, dv, p, ports & 0xffff)',
    [F.packets]: `num(buf, dv, p, acc[a + ${A_PACKETS}])`,
    [F.bytes]: `num(buf, dv, p, acc[a + ${A_BYTES}])`,
    [F.start]: `num(buf, dv, p, acc[a + ${A_FIRST}])`,
    [F.end]: `num(buf, dv, p, acc[a + ${A_LAST}])`,
    [F['tcp-flags']]: `num(buf, dv, p, acc[a + ${A_FLAGS}])`,
  };
  let body = 'let v;\n';
  ops.forEach((op, i) => {
    if (op >= SEG) body += `v = segs[${op - SEG}]; if (v.length > 6) buf.set(v, p); else for (let j = 0; j < v.length; j++) buf[p + j] = v[j]; p += v.length;\n`;
    else body += `p = ${field[op]}; buf[p++] = ${seps[i]};\n`;
  });
  body += 'return p;';
  // The code is made from this module's own constants only (never from input).
  return new Function('addr', 'num', `return function line(buf, dv, p, segs, data, d, acc, a, ports, addrs) {\n${body}\n}`)(addr, num) as LineFn;
}

/** Splits a format's codes into ops: runs of codes in `constant` become one segment each. */
function plan(codes: Uint8Array, constant: (c: number) => boolean): { ops: Uint8Array; runs: number[][] } {
  const ops: number[] = [];
  const runs: number[][] = [];
  for (const c of codes) {
    if (!constant(c)) ops.push(c);
    else if (ops.length > 0 && ops[ops.length - 1] >= SEG) runs[runs.length - 1].push(c);
    else {
      ops.push(SEG + runs.length);
      runs.push([c]);
    }
  }
  return { ops: Uint8Array.from(ops), runs };
}

/**
 * Renders flow table rows as AWS text lines for one format (fields in the format's order,
 * `-` where a field does not apply), straight into bytes. An OK line is its template's
 * segments (rendered once per template, separators included) around its hop class's
 * addresses and its row's numbers.
 * @example new LineRenderer(DEFAULT_FIELDS, topo, addrs, services, classes).render(table, 0, table.size, buf)
 */
export class LineRenderer {
  readonly codes: Uint8Array;
  readonly header: Buffer;
  /** OK lines: a field code or SEG + segment index per op; each op ends with its separator. */
  private ops: Uint8Array;
  private seps: Uint8Array;
  private runs: number[][];
  /**
   * Per template, its segments as views into slabs (undefined: not rendered yet). A typed
   * array set() from a ready view costs ~20 ns whatever the length; a JS byte loop costs ~3 ns
   * a byte here, and Buffer.copy or subarray() allocate.
   */
  private tsegs: (Uint8Array[] | undefined)[] = [];
  /** The templates of the rows of a batch (see render). */
  private tpls = new Int32Array(TOUCH);
  private slab = new Uint8Array(0);
  private slabUsed = 0;
  private epoch = -1;
  /** NODATA and SKIPDATA lines: per-interface segments and ops. */
  private statusOps: Uint8Array;
  private statusSegs: Uint8Array[][];
  private services: readonly string[];
  private version: string;
  private maxLine: number;
  /** An OK line of this format, as straight-line code (see compileLine). */
  private line1: LineFn;
  constructor(
    readonly fields: readonly string[],
    private readonly topo: Topology,
    private readonly addrs: AddrTable,
    serviceNames: readonly string[],
    private readonly classes: HopClasses,
  ) {
    this.codes = Uint8Array.from(fields.map((f) => (f in F ? F[f as keyof typeof F] : F_DASH)));
    this.header = enc(fields.join(' ') + '\n');
    this.version = String(formatVersion(fields));
    // The live list: a render thread fills its copy as windows arrive.
    this.services = serviceNames;
    const ok = plan(this.codes, (c) => !NUMBERS.has(c) && !ADDRESSES.has(c));
    this.ops = ok.ops;
    this.runs = ok.runs;
    const nops = this.ops.length;
    this.seps = this.ops.map((_, i) => (i === nops - 1 ? NL : SPACE));
    const st = plan(this.codes, (c) => ENI_CONSTANT.has(c));
    this.statusOps = st.ops;
    this.statusSegs = topo.enis.map((e) => st.runs.map((run) => enc(run.map((c) => this.eniText(c, e)).join(' '))));
    const longestSeg = Math.max(0, ...this.statusSegs.flatMap((l) => l.map((b) => b.length)));
    // Numbers take at most 20 digits, addresses 39 characters, names of services and ids less.
    this.maxLine = this.codes.length * 48 + longestSeg * st.runs.length + 16;
    this.line1 = compileLine(this.ops, this.seps);
  }

  private eniText(c: number, e: Topology['enis'][number]): string {
    switch (c) {
      case F.version:
        return this.version;
      case F['account-id']:
        return e.account;
      case F['interface-id']:
        return e.id;
      case F['vpc-id']:
        return e.vpc.id;
      case F['subnet-id']:
        return e.subnet.id;
      case F['instance-id']:
        return e.instanceId ?? '-';
      case F.region:
        return this.topo.region;
      case F['az-id']:
        return e.subnet.azId;
      default:
        return '-';
    }
  }

  /** A field of an OK record that its template decides. */
  private templateText(c: number, tpl: number): string {
    const k = this.classes;
    switch (c) {
      case F.protocol:
        return String(k.tProto[tpl]);
      case F.action:
        return k.tAction[tpl] === 0 ? 'ACCEPT' : 'REJECT';
      case F['log-status']:
        return 'OK';
      case F.type:
        return k.tV6[tpl] ? 'IPv6' : 'IPv4';
      case F['pkt-src-aws-service']:
        return k.tSvcSrc[tpl] !== 0 ? this.services[k.tSvcSrc[tpl]] : '-';
      case F['pkt-dst-aws-service']:
        return k.tSvcDst[tpl] !== 0 ? this.services[k.tSvcDst[tpl]] : '-';
      case F['flow-direction']:
        return k.tEgress[tpl] ? 'egress' : 'ingress';
      case F['traffic-path']:
        return k.tPath[tpl] !== 0 ? String(k.tPath[tpl]) : '-';
      case F['reject-reason']:
        return k.tBpa[tpl] !== 0 ? 'BPA' : '-';
      default:
        return this.eniText(c, this.topo.enis[k.tEni[tpl]]);
    }
  }

  /** Renders a template's segments (separators included) into views of a slab. */
  private segments(tpl: number): Uint8Array[] {
    const nseg = this.runs.length;
    const out: Uint8Array[] = [];
    let opIndex = 0;
    for (let k = 0; k < nseg; k++) {
      while (this.ops[opIndex] !== SEG + k) opIndex++;
      const str = this.runs[k].map((c) => this.templateText(c, tpl)).join(' ') + (this.seps[opIndex] === NL ? '\n' : ' ');
      const text = enc(str);
      if (this.slabUsed + text.length > this.slab.length) {
        // Slabs never move: views into full ones stay valid.
        this.slab = new Uint8Array(Math.max(1 << 14, text.length));
        this.slabUsed = 0;
      }
      const v = this.slab.subarray(this.slabUsed, this.slabUsed + text.length);
      v.set(text);
      this.slabUsed += text.length;
      out.push(v);
    }
    this.tsegs[tpl] = out;
    return out;
  }

  private checkEpoch(): void {
    if (this.epoch === this.classes.epoch) return;
    // The classes were renumbered: what was cached per template no longer applies.
    this.epoch = this.classes.epoch;
    this.tsegs = [];
  }

  /** Renders rows [from, to) of the table (or the listed rows) as lines. */
  render(t: FlowTable, from: number, to: number, out: ByteBuf, rows?: Int32Array): void {
    this.checkEpoch();
    const data = this.classes.data;
    const acc = t.acc;
    const addrs = this.addrs;
    const tpls = this.tpls;
    const line = this.line1;
    out.ensure(this.maxLine * Math.min(to - from, 64));
    let buf = out.buf;
    let dv = out.view;
    let p = out.pos;
    for (let b0 = from; b0 < to; b0 += TOUCH) {
      const b1 = Math.min(to, b0 + TOUCH);
      // First the rows' classes (independent loads whose cache misses overlap), then the lines.
      for (let k = b0; k < b1; k++) {
        const hc = t.hc[rows ? rows[k] : k];
        tpls[k - b0] = hc < 0 ? -1 : data[hc * CLASS_STRIDE + C_TEMPLATE];
      }
      if (p + this.maxLine * (b1 - b0) > buf.length) {
        out.pos = p;
        out.ensure(this.maxLine * Math.max(b1 - b0, Math.min(to - b0, 4096)));
        buf = out.buf;
        dv = out.view;
      }
      for (let k = b0; k < b1; k++) {
        const r = rows ? rows[k] : k;
        const tpl = tpls[k - b0];
        if (tpl < 0) {
          p = this.statusLine(t, r, buf, p);
          continue;
        }
        const segs = this.tsegs[tpl] ?? this.segments(tpl);
        p = line(buf, dv, p, segs, data, t.hc[r] * CLASS_STRIDE, acc, r * ACC_STRIDE, t.ports[r], addrs);
      }
    }
    out.pos = p;
  }

  /** A NODATA or SKIPDATA line: the interface's fields, the window and the status; `-` elsewhere. */
  private statusLine(t: FlowTable, r: number, buf: Uint8Array, p: number): number {
    const ops = this.statusOps;
    const eseg = this.statusSegs[t.eni[r]];
    const a = r * ACC_STRIDE;
    for (let i = 0; i < ops.length; i++) {
      if (i > 0) buf[p++] = SPACE;
      const op = ops[i];
      if (op >= SEG) p = copy(buf, p, eseg[op - SEG]);
      else if (op === F.start) p = uint(buf, p, t.acc[a + A_FIRST]);
      else if (op === F.end) p = uint(buf, p, t.acc[a + A_LAST]);
      else if (op === F['log-status']) p = copy(buf, p, STATUS[t.status[r]]);
      else buf[p++] = DASH;
    }
    buf[p++] = NL;
    return p;
  }

  /** One row as a string (for CloudWatch events and tests). */
  line(t: FlowTable, r: number, scratch: ByteBuf): string {
    scratch.pos = 0;
    this.render(t, r, r + 1, scratch);
    return scratch.buf.toString('latin1', 0, scratch.pos - 1);
  }
}

function copy(buf: Uint8Array, p: number, b: Uint8Array): number {
  const n = b.length;
  if (n > 32) {
    buf.set(b, p);
    return p + n;
  }
  for (let i = 0; i < n; i++) buf[p + i] = b[i];
  return p + n;
}

/**
 * An address id as text: IPv4 an octet and its dot a store (the last dot is overwritten by
 * the separator), IPv6 from the table's cached bytes.
 */
function addr(buf: Uint8Array, dv: DataView, p: number, addrs: AddrTable, id: number): number {
  if (id >= 4294967296) return copy(buf, p, addrs.bytes(id));
  let o = (id / 16777216) | 0;
  dv.setUint32(p, OCTET[o], true);
  p += OCTET_LEN[o] + 1;
  o = (id >>> 16) & 255;
  dv.setUint32(p, OCTET[o], true);
  p += OCTET_LEN[o] + 1;
  o = (id >>> 8) & 255;
  dv.setUint32(p, OCTET[o], true);
  p += OCTET_LEN[o] + 1;
  o = id & 255;
  dv.setUint32(p, OCTET[o], true);
  return p + OCTET_LEN[o];
}

/**
 * A non-negative integer in decimal, two digits a store. Below 2^40, v / 100 is taken as
 * (v + 0.5) * 0.01 (a multiply; the error is far below the 0.005 margin), else divided.
 */
function num(buf: Uint8Array, dv: DataView, p: number, v: number): number {
  if (v < 10) {
    buf[p] = 48 + v;
    return p + 1;
  }
  if (v < 100) {
    dv.setUint16(p, DIGITS2[v], true);
    return p + 2;
  }
  if (v >= 1099511627776) return uint(buf, p, v);
  const n = v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : v < 10000000000 ? 10 : v < 100000000000 ? 11 : v < 1000000000000 ? 12 : 13;
  let q = p + n;
  while (v >= 100) {
    const h = Math.floor((v + 0.5) * 0.01);
    q -= 2;
    dv.setUint16(q, DIGITS2[v - h * 100], true);
    v = h;
  }
  if (v >= 10) dv.setUint16(q - 2, DIGITS2[v], true);
  else buf[q - 1] = 48 + v;
  return p + n;
}

/** A non-negative integer in decimal, a digit at a time (any size). */
function uint(buf: Uint8Array, p: number, v: number): number {
  if (v < 10) {
    buf[p] = 48 + v;
    return p + 1;
  }
  if (v >= 2147483648) return bigUint(buf, p, v);
  const n = v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10;
  let q = p + n;
  while (v >= 10) {
    const d = (v / 10) | 0;
    buf[--q] = 48 + v - d * 10;
    v = d;
  }
  buf[--q] = 48 + v;
  return p + n;
}

function bigUint(buf: Uint8Array, p: number, v: number): number {
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  let q = p + digits;
  while (v >= 10) {
    const d = Math.floor(v / 10);
    buf[--q] = 48 + (v - d * 10);
    v = d;
  }
  buf[--q] = 48 + v;
  return p + digits;
}

export { STATUS_NODATA };
