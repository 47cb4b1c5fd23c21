import { formatVersion } from '../schema/columns.ts';
import { STATUS_NODATA, STATUS_OK, type AddrTable, type FlowTable } from './flow-table.ts';
import type { Topology } from './model.ts';

/** A growable byte buffer that lines are written into without building strings. */
export class ByteBuf {
  buf: Buffer;
  pos = 0;

  constructor(size = 1 << 20) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Makes room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }
}

const enc = (s: string) => Buffer.from(s, 'latin1');
const DASH = 45;
const SPACE = 32;
const NL = 10;
const DOT = 46;
const ACCEPT = enc('ACCEPT');
const REJECT = enc('REJECT');
const STATUS = [enc('OK'), enc('NODATA'), enc('SKIPDATA')];
const INGRESS = enc('ingress');
const EGRESS = enc('egress');
const IPV4 = enc('IPv4');
const IPV6 = enc('IPv6');
const BPA = enc('BPA');

// Field codes for the render loop (a switch on small integers).
const F = {
  version: 0, 'account-id': 1, 'interface-id': 2, srcaddr: 3, dstaddr: 4, srcport: 5, dstport: 6, protocol: 7, packets: 8, bytes: 9,
  start: 10, end: 11, action: 12, 'log-status': 13, 'vpc-id': 14, 'subnet-id': 15, 'instance-id': 16, 'tcp-flags': 17, type: 18,
  'pkt-srcaddr': 19, 'pkt-dstaddr': 20, region: 21, 'az-id': 22, 'pkt-src-aws-service': 23, 'pkt-dst-aws-service': 24,
  'flow-direction': 25, 'traffic-path': 26, 'reject-reason': 27,
} as const;
// Fields no VPC flow log fills (transit gateway, ECS, unversioned ones) are always `-`.
const F_DASH = 99;

// Fields that depend only on the interface (or on nothing): consecutive ones are rendered once
// per interface into one segment, so a line is a few copies plus the per-record fields.
const ENI_CONSTANT = new Set<number>([F.version, F['account-id'], F['interface-id'], F['vpc-id'], F['subnet-id'], F['instance-id'], F.region, F['az-id'], F_DASH]);
/** Ops at or above SEG copy the interface's segment (op - SEG). */
const SEG = 128;

/**
 * Renders flow table rows as AWS text lines for one format (fields in the format's order,
 * `-` where a field does not apply), straight into bytes.
 * @example new LineRenderer(DEFAULT_FIELDS, topo, addrs, services).render(table, 0, table.size, buf)
 */
export class LineRenderer {
  readonly codes: Uint8Array;
  readonly header: Buffer;
  /** What each space-separated token of a line is: a field code, or SEG + segment index. */
  private ops: Uint8Array;
  /** Per interface, its constant segments. */
  private segs: Uint8Array[][];
  private services: Buffer[];
  private maxLine: number;

  constructor(
    readonly fields: readonly string[],
    topo: Topology,
    private readonly addrs: AddrTable,
    serviceNames: readonly string[],
  ) {
    this.codes = Uint8Array.from(fields.map((f) => (f in F ? F[f as keyof typeof F] : F_DASH)));
    this.header = enc(fields.join(' ') + '\n');
    const version = String(formatVersion(fields));
    this.services = serviceNames.map(enc);
    // Runs of interface-constant fields become one segment each.
    const ops: number[] = [];
    const runs: number[][] = [];
    for (const c of this.codes) {
      if (!ENI_CONSTANT.has(c)) ops.push(c);
      else if (ops.length > 0 && ops[ops.length - 1] >= SEG) runs[runs.length - 1].push(c);
      else {
        ops.push(SEG + runs.length);
        runs.push([c]);
      }
    }
    this.ops = Uint8Array.from(ops);
    const text = (c: number, e: Topology['enis'][number]): string => {
      switch (c) {
        case F.version:
          return version;
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
          return topo.region;
        case F['az-id']:
          return e.subnet.azId;
        default:
          return '-';
      }
    };
    this.segs = topo.enis.map((e) => runs.map((run) => enc(run.map((c) => text(c, e)).join(' '))));
    const longestSeg = Math.max(0, ...this.segs.flatMap((l) => l.map((b) => b.length)));
    this.maxLine = this.codes.length * 48 + longestSeg * runs.length + 16;
  }

  /** Renders rows [from, to) of the table (or the listed rows) as lines. */
  render(t: FlowTable, from: number, to: number, out: ByteBuf, rows?: Int32Array): void {
    const ops = this.ops;
    const nops = ops.length;
    const segs = this.segs;
    const addrs = this.addrs;
    out.ensure(this.maxLine * Math.min(to - from, 64));
    let buf = out.buf;
    let p = out.pos;
    for (let k = from; k < to; k++) {
      const r = rows ? rows[k] : k;
      if (p + this.maxLine > buf.length) {
        out.pos = p;
        out.ensure(this.maxLine * Math.min(to - k, 4096));
        buf = out.buf;
      }
      const ok = t.status[r] === STATUS_OK;
      const eseg = segs[t.eni[r]];
      for (let i = 0; i < nops; i++) {
        if (i > 0) buf[p++] = SPACE;
        const op = ops[i];
        if (op >= SEG) {
          p = copy(buf, p, eseg[op - SEG]);
          continue;
        }
        if (!ok && op !== 10 && op !== 11 && op !== 13) {
          buf[p++] = DASH;
          continue;
        }
        switch (op) {
          case 3:
            p = addr(buf, p, addrs, t.src[r]);
            break;
          case 4:
            p = addr(buf, p, addrs, t.dst[r]);
            break;
          case 5:
            p = uint(buf, p, t.sport[r]);
            break;
          case 6:
            p = uint(buf, p, t.dport[r]);
            break;
          case 7:
            p = uint(buf, p, t.proto[r]);
            break;
          case 8:
            p = uint(buf, p, t.packets[r]);
            break;
          case 9:
            p = uint(buf, p, t.bytes[r]);
            break;
          case 10:
            p = uint(buf, p, t.first[r]);
            break;
          case 11:
            p = uint(buf, p, t.last[r]);
            break;
          case 12:
            p = copy(buf, p, t.action[r] === 0 ? ACCEPT : REJECT);
            break;
          case 13:
            p = copy(buf, p, STATUS[t.status[r]]);
            break;
          case 17:
            p = uint(buf, p, t.flags[r]);
            break;
          case 18:
            p = copy(buf, p, addrs.isV6(t.src[r]) ? IPV6 : IPV4);
            break;
          case 19:
            p = addr(buf, p, addrs, t.pktSrc[r]);
            break;
          case 20:
            p = addr(buf, p, addrs, t.pktDst[r]);
            break;
          case 23:
            if (t.svcSrc[r] !== 0) p = copy(buf, p, this.services[t.svcSrc[r]]);
            else buf[p++] = DASH;
            break;
          case 24:
            if (t.svcDst[r] !== 0) p = copy(buf, p, this.services[t.svcDst[r]]);
            else buf[p++] = DASH;
            break;
          case 25:
            p = copy(buf, p, t.egress[r] ? EGRESS : INGRESS);
            break;
          case 26:
            if (t.path[r] !== 0) p = uint(buf, p, t.path[r]);
            else buf[p++] = DASH;
            break;
          case 27:
            if (t.bpa[r] !== 0) p = copy(buf, p, BPA);
            else buf[p++] = DASH;
            break;
          default:
            buf[p++] = DASH;
        }
      }
      buf[p++] = NL;
    }
    out.pos = p;
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

/** An address id as text: IPv4 digit by digit, IPv6 from the table's cached bytes. */
function addr(buf: Uint8Array, p: number, addrs: AddrTable, id: number): number {
  if (id >= 4294967296) return copy(buf, p, addrs.bytes(id));
  p = octet(buf, p, (id / 16777216) | 0);
  buf[p++] = DOT;
  p = octet(buf, p, (id >>> 16) & 255);
  buf[p++] = DOT;
  p = octet(buf, p, (id >>> 8) & 255);
  buf[p++] = DOT;
  return octet(buf, p, id & 255);
}

function octet(buf: Uint8Array, p: number, v: number): number {
  if (v >= 100) {
    const h = (v / 100) | 0;
    const rest = v - h * 100;
    const t = (rest / 10) | 0;
    buf[p] = 48 + h;
    buf[p + 1] = 48 + t;
    buf[p + 2] = 48 + rest - t * 10;
    return p + 3;
  }
  if (v >= 10) {
    const t = (v / 10) | 0;
    buf[p] = 48 + t;
    buf[p + 1] = 48 + v - t * 10;
    return p + 2;
  }
  buf[p] = 48 + v;
  return p + 1;
}

/** A non-negative integer in decimal. */
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
