import type { Ip } from '../ip.ts';

/** What a flow log needs from a packet. */
export interface DecodedPacket {
  src: Ip;
  dst: Ip;
  protocol: number;
  srcPort: number;
  dstPort: number;
  icmpType: number;
  /** IP packet length (what flow logs count in bytes). */
  bytes: number;
  tcpFlags: number;
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const VLAN_TAGS = new Set([0x8100, 0x88a8, 0x9100]);

/**
 * Decodes a frame down to IP and the transport ports: Ethernet (with 802.1Q / QinQ tags),
 * raw IP, Linux cooked (SLL, SLL2) and BSD loopback link types; IPv4 and IPv6 (extension
 * headers skipped). Returns undefined for anything else (ARP, LLDP, ...).
 * @example decodeFrame(1, frame.data)?.protocol // 6
 */
export function decodeFrame(linkType: number, d: Buffer): DecodedPacket | undefined {
  let off: number;
  let etherType: number;
  switch (linkType) {
    case 1: // Ethernet
      if (d.length < 14) return undefined;
      off = 12;
      etherType = d.readUInt16BE(off);
      off += 2;
      while (VLAN_TAGS.has(etherType) && off + 4 <= d.length) {
        etherType = d.readUInt16BE(off + 2);
        off += 4;
      }
      break;
    case 101: // raw IP
    case 12:
      off = 0;
      etherType = d.length > 0 && d[0] >> 4 === 6 ? ETH_IPV6 : ETH_IPV4;
      break;
    case 113: // Linux cooked capture
      if (d.length < 16) return undefined;
      off = 16;
      etherType = d.readUInt16BE(14);
      break;
    case 276: // Linux cooked capture v2
      if (d.length < 20) return undefined;
      off = 20;
      etherType = d.readUInt16BE(0);
      break;
    case 0: // BSD loopback: a host-order address family
      if (d.length < 4) return undefined;
      off = 4;
      etherType = [2].includes(d.readUInt32LE(0)) || d.readUInt32BE(0) === 2 ? ETH_IPV4 : ETH_IPV6;
      break;
    default:
      return undefined;
  }
  if (etherType === ETH_IPV4) return ipv4(d, off);
  if (etherType === ETH_IPV6) return ipv6(d, off);
  return undefined;
}

function ipv4(d: Buffer, o: number): DecodedPacket | undefined {
  if (d.length < o + 20 || d[o] >> 4 !== 4) return undefined;
  const ihl = (d[o] & 15) * 4;
  const fragOffset = d.readUInt16BE(o + 6) & 0x1fff;
  const p: DecodedPacket = { src: d.readUInt32BE(o + 12), dst: d.readUInt32BE(o + 16), protocol: d[o + 9], srcPort: 0, dstPort: 0, icmpType: 0, bytes: d.readUInt16BE(o + 2), tcpFlags: 0 };
  // Later fragments have no transport header; they count towards the flow without ports.
  if (fragOffset === 0) transport(d, o + ihl, p);
  return p;
}

function ipv6(d: Buffer, o: number): DecodedPacket | undefined {
  if (d.length < o + 40 || d[o] >> 4 !== 6) return undefined;
  const big = (at: number) => (d.readBigUInt64BE(at) << 64n) | d.readBigUInt64BE(at + 8);
  let next = d[o + 6];
  let at = o + 40;
  // Hop-by-hop, routing, fragment and destination options headers come before the transport.
  while ((next === 0 || next === 43 || next === 44 || next === 60) && at + 8 <= d.length) {
    const len = next === 44 ? 8 : (d[at + 1] + 1) * 8;
    next = d[at];
    at += len;
  }
  const p: DecodedPacket = { src: big(o + 8), dst: big(o + 24), protocol: next, srcPort: 0, dstPort: 0, icmpType: 0, bytes: 40 + d.readUInt16BE(o + 4), tcpFlags: 0 };
  transport(d, at, p);
  return p;
}

function transport(d: Buffer, o: number, p: DecodedPacket): void {
  if (p.protocol === 6 || p.protocol === 17) {
    if (o + 4 > d.length) return;
    p.srcPort = d.readUInt16BE(o);
    p.dstPort = d.readUInt16BE(o + 2);
    if (p.protocol === 6 && o + 14 <= d.length) p.tcpFlags = d[o + 13];
  } else if ((p.protocol === 1 || p.protocol === 58) && o < d.length) p.icmpType = d[o];
}
