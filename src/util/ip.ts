/**
 * IP address helpers shared by the parser, the fabric and the query compilers. DuckDB's inet
 * extension cannot be loaded offline, so address logic lives here (and as integers in SQL).
 */

/**
 * Parses dotted-quad IPv4 text to an unsigned 32-bit integer, or returns -1.
 * @example parseIpv4('10.0.0.1') // 167772161
 */
export function parseIpv4(s: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // Leading zeros are ambiguous (octal in some parsers); AWS never writes them.
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** Formats an unsigned 32-bit integer as dotted-quad text. */
export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * Parses IPv6 text (with `::`, and an embedded IPv4 tail) into eight 16-bit groups, or undefined.
 * @example parseIpv6('2001:db8::1') // [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]
 */
export function parseIpv6(s: string): number[] | undefined {
  if (s.length < 2 || s.length > 45) return undefined;
  const dbl = s.indexOf('::');
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return undefined;
  const parseSide = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (v4 < 0) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  if (dbl === -1) {
    const all = parseSide(s);
    return all && all.length === 8 ? all : undefined;
  }
  const head = parseSide(s.slice(0, dbl));
  const tail = parseSide(s.slice(dbl + 2));
  if (!head || !tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
}

/** Formats eight groups as canonical RFC 5952 text (lower case, longest zero run as `::`). */
export function formatIpv6(g: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':');
}

/** Canonical IPv6 text for any valid IPv6 input, or undefined. */
export function canonicalIpv6(s: string): string | undefined {
  const g = parseIpv6(s);
  return g ? formatIpv6(g) : undefined;
}

/** A CIDR block as a numeric range (IPv4) or a group prefix (IPv6). */
export type Cidr =
  | { family: 4; first: number; last: number; prefix: number; text: string }
  | { family: 6; groups: number[]; prefix: number; text: string };

/**
 * Parses a CIDR block (a bare address is a /32 or /128).
 * @example parseCidr('10.0.0.0/16') // {family: 4, first: 167772160, last: 167837695, ...}
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bits = slash < 0 ? undefined : text.slice(slash + 1);
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
  const v4 = parseIpv4(addr);
  if (v4 >= 0) {
    const prefix = bits === undefined ? 32 : Number(bits);
    if (prefix > 32) return undefined;
    const size = 2 ** (32 - prefix);
    const first = Math.floor(v4 / size) * size;
    return { family: 4, first, last: first + size - 1, prefix, text: `${formatIpv4(first)}/${prefix}` };
  }
  const g = parseIpv6(addr);
  if (!g) return undefined;
  const prefix = bits === undefined ? 128 : Number(bits);
  if (prefix > 128) return undefined;
  const groups = g.map((x, i) => {
    const keep = Math.max(0, Math.min(16, prefix - i * 16));
    return keep === 16 ? x : keep === 0 ? 0 : x & (0xffff << (16 - keep)) & 0xffff;
  });
  return { family: 6, groups, prefix, text: `${formatIpv6(groups)}/${prefix}` };
}

/** True when the address text falls inside the CIDR block. */
export function inCidr(address: string, cidr: Cidr): boolean {
  if (cidr.family === 4) {
    const v = parseIpv4(address);
    return v >= 0 && v >= cidr.first && v <= cidr.last;
  }
  const g = parseIpv6(address);
  if (!g) return false;
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, cidr.prefix - i * 16));
    if (keep === 0) break;
    const mask = (0xffff << (16 - keep)) & 0xffff;
    if ((g[i] & mask) !== cidr.groups[i]) return false;
  }
  return true;
}
