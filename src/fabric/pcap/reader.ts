import { createReadStream } from 'node:fs';
import { UserError } from '../../util/errors.ts';

/** One captured frame. */
export interface Frame {
  /** Unix seconds (fractional). */
  ts: number;
  linkType: number;
  data: Buffer;
}

/**
 * Buffers a byte stream so a parser can ask for whole blocks; only the unread tail is kept.
 */
class Bytes {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  private done = false;

  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Makes n bytes available; false at a clean end of input. */
  async need(n: number): Promise<boolean> {
    while (this.buf.length - this.off < n) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        continue;
      }
      this.buf = this.off < this.buf.length ? Buffer.concat([this.buf.subarray(this.off), r.value]) : r.value;
      this.off = 0;
    }
    return true;
  }

  view(n: number): Buffer {
    return this.buf.subarray(this.off, this.off + n);
  }

  skip(n: number): void {
    this.off += n;
  }
}

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;

/**
 * Reads pcap (µs or ns, either byte order) and pcapng (section, interface, enhanced and simple
 * packet blocks; if_tsresol honoured) files as a stream of frames, holding one block at a time.
 * @example for await (const f of readCapture('trace.pcapng')) console.log(f.ts, f.data.length)
 */
export async function* readCapture(path: string): AsyncGenerator<Frame> {
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  const b = new Bytes(stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  try {
    if (!(await b.need(4))) throw new UserError(`${path}: empty file, not a capture`);
    const magicBE = b.view(4).readUInt32BE(0);
    const magicLE = b.view(4).readUInt32LE(0);
    if (magicBE === PCAPNG_SHB) yield* readPcapng(b, path);
    else if ([PCAP_US, PCAP_NS].includes(magicBE) || [PCAP_US, PCAP_NS].includes(magicLE)) yield* readPcap(b, path);
    else throw new UserError(`${path}: not a pcap or pcapng file (magic 0x${magicBE.toString(16).padStart(8, '0')})`);
  } finally {
    stream.destroy();
  }
}

async function* readPcap(b: Bytes, path: string): AsyncGenerator<Frame> {
  if (!(await b.need(24))) throw new UserError(`${path}: truncated pcap header`);
  const h = b.view(24);
  const le = h.readUInt32LE(0) === PCAP_US || h.readUInt32LE(0) === PCAP_NS;
  const u32 = (buf: Buffer, o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const nanos = u32(h, 0) === PCAP_NS;
  const linkType = u32(h, 20) & 0x0fffffff;
  b.skip(24);
  while (await b.need(16)) {
    const r = b.view(16);
    const sec = u32(r, 0);
    const frac = u32(r, 4);
    const incl = u32(r, 8);
    if (incl > 1 << 26) throw new UserError(`${path}: a record claims ${incl} bytes; the file is damaged`);
    b.skip(16);
    if (!(await b.need(incl))) return; // a capture cut mid-packet: keep what came before
    yield { ts: sec + frac / (nanos ? 1e9 : 1e6), linkType, data: Buffer.from(b.view(incl)) };
    b.skip(incl);
  }
}

async function* readPcapng(b: Bytes, path: string): AsyncGenerator<Frame> {
  let le = true;
  let ifaces: { linkType: number; tsDiv: number }[] = [];
  let lastTs = 0;
  while (await b.need(12)) {
    const head = b.view(12);
    const typeBE = head.readUInt32BE(0);
    if (typeBE === PCAPNG_SHB) {
      // A section header sets the byte order for everything up to the next one.
      le = head.readUInt32LE(8) === 0x1a2b3c4d;
      ifaces = [];
    }
    const u32 = (buf: Buffer, o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const u16 = (buf: Buffer, o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
    const type = u32(head, 0);
    const len = u32(head, 4);
    if (len < 12 || len % 4 !== 0 || len > 1 << 26) throw new UserError(`${path}: damaged pcapng block (length ${len})`);
    if (!(await b.need(len))) return;
    const blk = b.view(len);
    if (type === 1) {
      ifaces.push({ linkType: u16(blk, 8), tsDiv: ifTsResolution(blk, len, u16) });
    } else if (type === 6 || type === 2) {
      const ifId = type === 6 ? u32(blk, 8) : u16(blk, 8);
      const iface = ifaces[ifId];
      if (!iface) throw new UserError(`${path}: packet block for undeclared interface ${ifId}`);
      const ts = (u32(blk, 12) * 4294967296 + u32(blk, 16)) / iface.tsDiv;
      lastTs = ts;
      yield { ts, linkType: iface.linkType, data: Buffer.from(blk.subarray(28, 28 + u32(blk, 20))) };
    } else if (type === 3 && ifaces[0]) {
      // Simple packet blocks carry no time: they take the last one seen.
      yield { ts: lastTs, linkType: ifaces[0].linkType, data: Buffer.from(blk.subarray(12, 12 + Math.min(u32(blk, 8), len - 16))) };
    }
    b.skip(len);
  }
}

/** The if_tsresol option of an interface description block (default: microseconds). */
function ifTsResolution(blk: Buffer, len: number, u16: (b: Buffer, o: number) => number): number {
  let o = 16;
  while (o + 4 <= len - 4) {
    const code = u16(blk, o);
    const olen = u16(blk, o + 2);
    if (code === 0) break;
    if (code === 9 && olen >= 1) {
      const v = blk[o + 4];
      return v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
    }
    o += 4 + ((olen + 3) & ~3);
  }
  return 1e6;
}
