import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { emulate } from '../emulate.ts';
import { formatIp } from '../ip.ts';
import { TINY } from '../test-helpers.ts';
import { decodeFrame } from './decode.ts';
import { readCapture } from './reader.ts';

const T0 = 1705276800;
const dir = mkdtempSync(join(tmpdir(), 'flowlens-pcap-'));

// Packets built byte by byte: Ethernet (optionally VLAN-tagged), IPv4/IPv6, TCP/UDP/ICMP.
const v4 = (s: string) => Buffer.from(s.split('.').map(Number));
function tcpSeg(sport: number, dport: number, flags: number, payload = 0): Buffer {
  const b = Buffer.alloc(20 + payload);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b[12] = 5 << 4;
  b[13] = flags;
  return b;
}
function udpSeg(sport: number, dport: number, payload: number): Buffer {
  const b = Buffer.alloc(8 + payload);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt16BE(8 + payload, 4);
  return b;
}
function ip4(src: string, dst: string, proto: number, l4: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + l4.length, 2);
  h[8] = 64;
  h[9] = proto;
  v4(src).copy(h, 12);
  v4(dst).copy(h, 16);
  return Buffer.concat([h, l4]);
}
function ip6(src: Buffer, dst: Buffer, next: number, l4: Buffer, ext?: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(l4.length + (ext?.length ?? 0), 4);
  h[6] = ext ? 0 : next;
  h[7] = 64;
  src.copy(h, 8);
  dst.copy(h, 24);
  return Buffer.concat([h, ...(ext ? [ext] : []), l4]);
}
function eth(ethertype: number, payload: Buffer, vlan?: number): Buffer {
  const h = Buffer.alloc(vlan === undefined ? 14 : 18);
  if (vlan !== undefined) {
    h.writeUInt16BE(0x8100, 12);
    h.writeUInt16BE(vlan, 14);
    h.writeUInt16BE(ethertype, 16);
  } else h.writeUInt16BE(ethertype, 12);
  return Buffer.concat([h, payload]);
}

/** A classic pcap file (little-endian, microseconds, Ethernet). */
function pcapFile(frames: [number, Buffer][]): Buffer {
  const g = Buffer.alloc(24);
  g.writeUInt32LE(0xa1b2c3d4, 0);
  g.writeUInt16LE(2, 4);
  g.writeUInt16LE(4, 6);
  g.writeUInt32LE(65535, 16);
  g.writeUInt32LE(1, 20);
  const recs = frames.map(([ts, f]) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(Math.floor(ts), 0);
    r.writeUInt32LE(Math.round((ts % 1) * 1e6), 4);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([g, ...recs]);
}

/** A big-endian pcapng file with one Ethernet interface at nanosecond resolution. */
function pcapngFile(frames: [number, Buffer][]): Buffer {
  const block = (type: number, body: Buffer) => {
    const len = 12 + body.length + ((4 - (body.length % 4)) % 4);
    const b = Buffer.alloc(len);
    b.writeUInt32BE(type, 0);
    b.writeUInt32BE(len, 4);
    body.copy(b, 8);
    b.writeUInt32BE(len, len - 4);
    return b;
  };
  const shb = Buffer.alloc(16);
  shb.writeUInt32BE(0x1a2b3c4d, 0);
  shb.writeUInt16BE(1, 4);
  shb.writeBigInt64BE(-1n, 8);
  const idb = Buffer.alloc(8 + 8 + 4);
  idb.writeUInt16BE(1, 0);
  idb.writeUInt32BE(262144, 4);
  idb.writeUInt16BE(9, 8); // if_tsresol
  idb.writeUInt16BE(1, 10);
  idb[12] = 9; // 10^-9
  const epbs = frames.map(([ts, f]) => {
    const b = Buffer.alloc(20 + f.length);
    const ns = BigInt(Math.round(ts * 1e6)) * 1000n;
    b.writeUInt32BE(0, 0);
    b.writeUInt32BE(Number(ns >> 32n), 4);
    b.writeUInt32BE(Number(ns & 0xffffffffn), 8);
    b.writeUInt32BE(f.length, 12);
    b.writeUInt32BE(f.length, 16);
    f.copy(b, 20);
    return block(6, b);
  });
  return Buffer.concat([block(0x0a0d0d0a, shb), block(1, idb), ...epbs]);
}

/** An SSH session from the internet to the bastion (10.1.0.30), seen on the bastion. */
function sshSession(vlan?: number): [number, Buffer][] {
  const c = '198.51.100.9';
  const s = '10.1.0.30';
  const up = (t: number, flags: number, len = 0): [number, Buffer] => [T0 + t, eth(0x0800, ip4(c, s, 6, tcpSeg(50000, 22, flags, len)), vlan)];
  const down = (t: number, flags: number, len = 0): [number, Buffer] => [T0 + t, eth(0x0800, ip4(s, c, 6, tcpSeg(22, 50000, flags, len)), vlan)];
  return [up(1, 0x02), down(1.001, 0x12), up(1.002, 0x10), up(2, 0x18, 100), down(2.01, 0x18, 500), up(3, 0x11), down(3.001, 0x11), up(3.002, 0x10)];
}

async function records(file: string): Promise<string[]> {
  const out = mkdtempSync(join(dir, 'out-'));
  const r = await emulate({ topology: TINY, pcap: file, out });
  return r.paths
    .filter((p) => p.includes('fl-11111111'))
    .flatMap((p) => gunzipSync(readFileSync(p)).toString('latin1').trimEnd().split('\n').slice(1))
    .filter((l) => l.includes(' OK '))
    .map((l) => l.split(' '))
    .map((f) => `${f[1]} ${f[2]}:${f[4]} > ${f[3]}:${f[5]} proto=${f[6]} pk=${f[7]} bytes=${f[8]} ${f[11]} flags=${f[13]} ${f[17]}`);
}

describe('pcap', () => {
  it('turns a pcap capture into flow log records for the interfaces its addresses map to', async () => {
    const file = join(dir, 'ssh.pcap');
    writeFileSync(file, pcapFile(sshSession()));
    expect(await records(file)).toEqual([
      'eni-bastion 198.51.100.9:50000 > 10.1.0.30:22 proto=6 pk=5 bytes=300 ACCEPT flags=3 ingress',
      'eni-bastion 10.1.0.30:22 > 198.51.100.9:50000 proto=6 pk=3 bytes=620 ACCEPT flags=19 egress',
    ]);
  });

  it('reads pcapng (big-endian, nanosecond timestamps, VLAN-tagged frames) the same way', async () => {
    const file = join(dir, 'ssh.pcapng');
    writeFileSync(file, pcapngFile(sshSession(100)));
    const frames = [];
    for await (const f of readCapture(file)) frames.push(f);
    expect(frames).toHaveLength(8);
    expect(frames[1].ts).toBeCloseTo(T0 + 1.001, 6);
    expect(await records(file)).toEqual([
      'eni-bastion 198.51.100.9:50000 > 10.1.0.30:22 proto=6 pk=5 bytes=300 ACCEPT flags=3 ingress',
      'eni-bastion 10.1.0.30:22 > 198.51.100.9:50000 proto=6 pk=3 bytes=620 ACCEPT flags=19 egress',
    ]);
  });

  it('judges captured packets with the policy engine: a port the security group closes is REJECT', async () => {
    const file = join(dir, 'rdp.pcap');
    writeFileSync(file, pcapFile([[T0 + 5, eth(0x0800, ip4('198.51.100.9', '10.1.0.30', 6, tcpSeg(50001, 3389, 0x02)))], [T0 + 6, eth(0x0800, ip4('198.51.100.9', '10.1.0.30', 6, tcpSeg(50001, 3389, 0x02)))]]));
    expect(await records(file)).toEqual(['eni-bastion 198.51.100.9:50001 > 10.1.0.30:3389 proto=6 pk=2 bytes=80 REJECT flags=2 ingress']);
  });

  it('decodes IPv6 (with an extension header) and UDP, VLAN and ICMP', () => {
    const a = Buffer.from('20010db8000000000000000000000001', 'hex');
    const b = Buffer.from('20010db8000000000000000000000002', 'hex');
    const hopByHop = Buffer.from([17, 0, 0, 0, 0, 0, 0, 0]);
    const p = decodeFrame(1, eth(0x86dd, ip6(a, b, 17, udpSeg(5353, 53, 12), hopByHop), 7))!;
    expect([formatIp(p.src), formatIp(p.dst), p.protocol, p.srcPort, p.dstPort, p.bytes]).toEqual(['2001:db8::1', '2001:db8::2', 17, 5353, 53, 68]);
    const icmp = decodeFrame(101, ip4('10.0.0.1', '10.0.0.2', 1, Buffer.from([8, 0, 0, 0, 0, 0, 0, 0])))!;
    expect([icmp.protocol, icmp.icmpType, icmp.bytes]).toEqual([1, 8, 28]);
    expect(decodeFrame(1, eth(0x0806, Buffer.alloc(28)))).toBeUndefined();
  });

  it('a capture cut mid-packet keeps what came before; a file that is no capture is a clear error', async () => {
    const file = join(dir, 'cut.pcap');
    const whole = pcapFile(sshSession());
    writeFileSync(file, whole.subarray(0, whole.length - 10));
    let n = 0;
    for await (const _ of readCapture(file)) n++;
    expect(n).toBe(7);
    writeFileSync(join(dir, 'x.txt'), 'hello world');
    await expect(emulate({ topology: TINY, pcap: join(dir, 'x.txt'), out: join(dir, 'o') })).rejects.toThrow(/not a pcap or pcapng file/);
  });
});
