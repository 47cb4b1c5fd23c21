import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../util/ip.ts';

/**
 * Addresses as numbers for the fabric's hot paths: IPv4 as an unsigned 32-bit number, IPv6 as a
 * 128-bit bigint. Range checks are then plain comparisons, for both families.
 */

/** An IPv4 address (number) or an IPv6 address (bigint). */
export type Ip = number | bigint;

/** A CIDR block as an inclusive numeric range. */
export interface Cidr {
  family: 4 | 6;
  first: Ip;
  last: Ip;
  prefix: number;
  text: string;
}

/**
 * Parses dotted-quad IPv4 to a number, or -1.
 * @example parseV4('10.0.0.1') // 167772161
 */
export const parseV4 = parseIpv4;

/** Formats a number as dotted-quad IPv4. */
export const formatV4 = formatIpv4;

/**
 * Parses IPv6 text (with `::` and an IPv4 tail) to a bigint, or undefined.
 * @example parseV6('2001:db8::1') // 0x20010db8000000000000000000000001n
 */
export function parseV6(s: string): bigint | undefined {
  const g = parseIpv6(s);
  if (!g) return undefined;
  let v = 0n;
  for (const x of g) v = (v << 16n) | BigInt(x);
  return v;
}

/** Formats a bigint as canonical (RFC 5952) IPv6 text. */
export function formatV6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  return formatIpv6(g);
}

/** Parses IPv4 or IPv6 text. */
export function parseIp(s: string): Ip | undefined {
  const v4 = parseV4(s);
  return v4 >= 0 ? v4 : parseV6(s);
}

/** Formats an address of either family. */
export function formatIp(ip: Ip): string {
  return typeof ip === 'number' ? formatV4(ip) : formatV6(ip);
}

/**
 * Parses a CIDR block; with `strict`, host bits must be zero (as AWS demands of VPC and subnet
 * blocks). A bare address is a /32 or /128.
 * @example parseCidr('10.0.0.0/16') // {family: 4, first: 167772160, last: 167837695, prefix: 16, ...}
 */
export function parseCidr(text: string, strict = false): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (addr === undefined) return undefined;
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return undefined;
  if (typeof addr === 'number') {
    const prefix = bitsText === undefined ? 32 : Number(bitsText);
    if (prefix > 32) return undefined;
    const size = 2 ** (32 - prefix);
    const first = Math.floor(addr / size) * size;
    if (strict && first !== addr) return undefined;
    return { family: 4, first, last: first + size - 1, prefix, text: `${formatV4(first)}/${prefix}` };
  }
  const prefix = bitsText === undefined ? 128 : Number(bitsText);
  if (prefix > 128) return undefined;
  const hostMask = (1n << BigInt(128 - prefix)) - 1n;
  const first = addr & ~hostMask & ((1n << 128n) - 1n);
  if (strict && first !== addr) return undefined;
  return { family: 6, first, last: first | hostMask, prefix, text: `${formatV6(first)}/${prefix}` };
}

/** True when the address lies in the block (an address of the other family never does). */
export function cidrContains(c: Cidr, ip: Ip): boolean {
  return typeof ip === typeof c.first && ip >= c.first && ip <= c.last;
}

/** True when two blocks share an address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/** True when `inner` lies wholly inside `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.first >= outer.first && inner.last <= outer.last;
}
