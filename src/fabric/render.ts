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

  bytes(b: Uint8Array): void {
    const n = b.length;
    const buf = this.buf;
    let p = this.pos;
    if (n < 24) for (let i = 0; i < n; i++) buf[p++] = b[i];
    else {
      buf.set(b, p);
      p += n;
    }
    this.pos = p;
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  /** A non-negative integer in decimal. */
  uint(v: number): void {
    const buf = this.buf;
    if (v < 10) {
      buf[this.pos++] = 48 + v;
      return;
    }
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    while (v >= 10) {
      const q = Math.floor(v / 10);
      buf[--p] = 48 + (v - q * 10);
      v = q;
    }
    buf[--p] = 48 + v;
  }

  /** Takes the written bytes (a copy) and empties the buffer. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }
}

const enc = (s: string) => Buffer.from(s, 'latin1');
const DASH = 45;
const SPACE = 32;
const NL = 10;
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

interface EniBytes {
  account: Buffer;
  id: Buffer;
  vpc: Buffer;
  subnet: Buffer;
  instance: Buffer | undefined;
  azId: Buffer;
}

/**
 * Renders flow table rows as AWS text lines for one format (fields in the format's order,
 * `-` where a field does not apply), straight into bytes.
 * @example new LineRenderer(DEFAULT_FIELDS, topo, addrs, services).render(table, 0, table.size, buf)
 */
export class LineRenderer {
  readonly codes: Uint8Array;
  readonly header: Buffer;
  private version: Buffer;
  private enis: EniBytes[];
  private region: Buffer;
  private services: Buffer[];

  constructor(
    readonly fields: readonly string[],
    topo: Topology,
    private readonly addrs: AddrTable,
    serviceNames: readonly string[],
  ) {
    this.codes = Uint8Array.from(fields.map((f) => (f in F ? F[f as keyof typeof F] : F_DASH)));
    this.header = enc(fields.join(' ') + '\n');
    this.version = enc(String(formatVersion(fields)));
    this.region = enc(topo.region);
    this.services = serviceNames.map(enc);
    this.enis = topo.enis.map((e) => ({
      account: enc(e.account),
      id: enc(e.id),
      vpc: enc(e.vpc.id),
      subnet: enc(e.subnet.id),
      instance: e.instanceId ? enc(e.instanceId) : undefined,
      azId: enc(e.subnet.azId),
    }));
  }

  /** Upper bound of one line's length, for ensure(). */
  private maxLine(): number {
    return this.codes.length * 48 + 16;
  }

  /** Renders rows [from, to) of the table (or the listed rows) as lines. */
  render(t: FlowTable, from: number, to: number, out: ByteBuf, rows?: Int32Array): void {
    const codes = this.codes;
    const nf = codes.length;
    const maxLine = this.maxLine();
    for (let k = from; k < to; k++) {
      const r = rows ? rows[k] : k;
      out.ensure(maxLine);
      const ok = t.status[r] === STATUS_OK;
      const e = this.enis[t.eni[r]];
      for (let i = 0; i < nf; i++) {
        if (i > 0) out.byte(SPACE);
        switch (codes[i]) {
          case 0:
            out.bytes(this.version);
            break;
          case 1:
            out.bytes(e.account);
            break;
          case 2:
            out.bytes(e.id);
            break;
          case 3:
            if (ok) out.bytes(this.addrs.bytes(t.src[r]));
            else out.byte(DASH);
            break;
          case 4:
            if (ok) out.bytes(this.addrs.bytes(t.dst[r]));
            else out.byte(DASH);
            break;
          case 5:
            if (ok) out.uint(t.sport[r]);
            else out.byte(DASH);
            break;
          case 6:
            if (ok) out.uint(t.dport[r]);
            else out.byte(DASH);
            break;
          case 7:
            if (ok) out.uint(t.proto[r]);
            else out.byte(DASH);
            break;
          case 8:
            if (ok) out.uint(t.packets[r]);
            else out.byte(DASH);
            break;
          case 9:
            if (ok) out.uint(t.bytes[r]);
            else out.byte(DASH);
            break;
          case 10:
            out.uint(t.first[r]);
            break;
          case 11:
            out.uint(t.last[r]);
            break;
          case 12:
            if (ok) out.bytes(t.action[r] === 0 ? ACCEPT : REJECT);
            else out.byte(DASH);
            break;
          case 13:
            out.bytes(STATUS[t.status[r]]);
            break;
          case 14:
            out.bytes(e.vpc);
            break;
          case 15:
            out.bytes(e.subnet);
            break;
          case 16:
            if (e.instance) out.bytes(e.instance);
            else out.byte(DASH);
            break;
          case 17:
            if (ok) out.uint(t.flags[r]);
            else out.byte(DASH);
            break;
          case 18:
            if (ok) out.bytes(this.addrs.isV6(t.src[r]) ? IPV6 : IPV4);
            else out.byte(DASH);
            break;
          case 19:
            if (ok) out.bytes(this.addrs.bytes(t.pktSrc[r]));
            else out.byte(DASH);
            break;
          case 20:
            if (ok) out.bytes(this.addrs.bytes(t.pktDst[r]));
            else out.byte(DASH);
            break;
          case 21:
            out.bytes(this.region);
            break;
          case 22:
            out.bytes(e.azId);
            break;
          case 23:
            if (ok && t.svcSrc[r] !== 0) out.bytes(this.services[t.svcSrc[r]]);
            else out.byte(DASH);
            break;
          case 24:
            if (ok && t.svcDst[r] !== 0) out.bytes(this.services[t.svcDst[r]]);
            else out.byte(DASH);
            break;
          case 25:
            if (ok) out.bytes(t.egress[r] ? EGRESS : INGRESS);
            else out.byte(DASH);
            break;
          case 26:
            if (ok && t.path[r] !== 0) out.uint(t.path[r]);
            else out.byte(DASH);
            break;
          case 27:
            if (ok && t.bpa[r] !== 0) out.bytes(BPA);
            else out.byte(DASH);
            break;
          default:
            out.byte(DASH);
        }
      }
      out.byte(NL);
    }
  }

  /** One row as a string (for CloudWatch events and tests). */
  line(t: FlowTable, r: number, scratch: ByteBuf): string {
    scratch.pos = 0;
    this.render(t, r, r + 1, scratch);
    return scratch.buf.toString('latin1', 0, scratch.pos - 1);
  }
}

export { STATUS_NODATA };
