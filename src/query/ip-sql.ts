import { parseCidr, type Cidr } from '../util/ip.ts';

/**
 * CIDR blocks as the bounds SQL compares against: IPv4 as unsigned 32-bit integers, IPv6 as
 * 32-digit lower-case hex strings (fixed width, so text order is numeric order).
 */
export type CidrBounds = { family: 4; lo: number; hi: number; text: string } | { family: 6; lo: string; hi: string; text: string };

/**
 * Parses a CIDR block into the bounds the compilers emit; undefined when it is not one.
 * @example cidrBounds('192.0.2.0/24') // {family: 4, lo: 3221225984, hi: 3221226239, ...}
 */
export function cidrBounds(text: string): CidrBounds | undefined {
  const c: Cidr | undefined = parseCidr(text.trim());
  if (!c) return undefined;
  if (c.family === 4) return { family: 4, lo: c.first, hi: c.last, text: c.text };
  const hex = c.groups.map((g) => g.toString(16).padStart(4, '0')).join('');
  const hostBits = 128 - c.prefix;
  const bits = BigInt('0x' + hex);
  const span = (1n << BigInt(hostBits)) - 1n;
  const hi = (bits | span).toString(16).padStart(32, '0');
  return { family: 6, lo: hex, hi, text: c.text };
}

/** The dotted-quad pattern SQL uses to recognise IPv4 text (no leading zeros, like util/ip). */
export const IPV4_PATTERN = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}';
