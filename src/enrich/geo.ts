import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Reader, type Response } from 'maxmind';
import { parseIp, type Ip } from '../fabric/ip.ts';
import { UserError } from '../util/errors.ts';

/**
 * Offline country and ASN of public addresses. Country: an .mmdb reader (the shipped
 * `@ip-location-db/geo-whois-asn-country-mmdb`, or the user's MaxMind/GeoLite2 file). ASN: the
 * shipped `@ip-location-db/asn` CSV turned into sorted range arrays at first use and cached
 * in the OS temp folder, or the user's GeoLite2-ASN .mmdb.
 */

export interface GeoInfo {
  country?: string;
  asn?: number;
  asName?: string;
}

export interface GeoOptions {
  /** A country .mmdb (GeoLite2-Country, GeoIP2-Country or ip-location-db layout). */
  countryMmdb?: string;
  /** An ASN .mmdb (GeoLite2-ASN layout). */
  asnMmdb?: string;
  /** Folder for the ASN range cache (default: the OS temp folder). */
  cacheDir?: string;
}

const require = createRequire(import.meta.url);

/** Where a package's file is, or undefined when the package is not installed. */
function packageFile(pkg: string, file: string): string | undefined {
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), file);
  } catch {
    return undefined;
  }
}

function packageVersion(pkg: string): string | undefined {
  const p = packageFile(pkg, 'package.json');
  return p && existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version : undefined;
}

/** The data the shipped packages carry: name, version (its date: 2.3.YYYYMMDDHH) and licence. */
export function shippedGeoData(): { package: string; version?: string }[] {
  return ['@ip-location-db/geo-whois-asn-country-mmdb', '@ip-location-db/asn'].map((p) => ({ package: p, version: packageVersion(p) }));
}

type MmdbRecord = Response & {
  country_code?: string;
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
  autonomous_system_number?: number;
  autonomous_system_organization?: string;
};

function openMmdb(path: string): Reader<Response> {
  try {
    return new Reader<Response>(readFileSync(path));
  } catch (err) {
    throw new UserError(`${path}: not a readable .mmdb file (${(err as Error).message})`, { cause: err });
  }
}

/** Sorted, non-overlapping ranges of one family; binary search by the range start. */
interface AsnRanges4 {
  lo: Uint32Array;
  hi: Uint32Array;
  asn: Uint32Array;
  name: Uint32Array;
}
interface AsnRanges6 {
  lo: bigint[];
  hi: bigint[];
  asn: Uint32Array;
  name: Uint32Array;
}

/**
 * The geo/ASN resolver of one process. Construction is cheap; the data loads at first lookup.
 * @example const g = new GeoResolver(); g.lookup('1.1.1.1') // {country: 'AU'?, asn: 13335, asName: 'Cloudflare, Inc.'}
 */
export class GeoResolver {
  private country?: Reader<Response> | null;
  private asnMmdb?: Reader<Response> | null;
  private asn?: { v4: AsnRanges4; v6: AsnRanges6; names: string[] } | null;

  constructor(private readonly opts: GeoOptions = {}) {}

  /** Country and ASN of an address; empty for private, reserved and unknown addresses. */
  lookup(address: string): GeoInfo {
    const ip = parseIp(address);
    if (ip === undefined) return {};
    const out: GeoInfo = {};
    const rec = this.countryReader()?.get(address) as MmdbRecord | null | undefined;
    const cc = rec?.country_code ?? rec?.country?.iso_code ?? rec?.registered_country?.iso_code;
    if (cc) out.country = cc;
    const asnDb = this.asnReader();
    if (asnDb) {
      const a = asnDb.get(address) as MmdbRecord | null;
      if (a?.autonomous_system_number) {
        out.asn = a.autonomous_system_number;
        if (a.autonomous_system_organization) out.asName = a.autonomous_system_organization;
      }
    } else {
      const hit = this.asnCsv(ip);
      if (hit) Object.assign(out, hit);
    }
    return out;
  }

  private countryReader(): Reader<Response> | null {
    if (this.country === undefined) {
      const path = this.opts.countryMmdb ?? packageFile('@ip-location-db/geo-whois-asn-country-mmdb', 'geo-whois-asn-country.mmdb');
      this.country = path && existsSync(path) ? openMmdb(path) : null;
    }
    return this.country;
  }

  private asnReader(): Reader<Response> | null {
    if (this.asnMmdb === undefined) this.asnMmdb = this.opts.asnMmdb ? openMmdb(this.opts.asnMmdb) : null;
    return this.asnMmdb;
  }

  private asnCsv(ip: Ip): { asn: number; asName?: string } | undefined {
    if (this.asn === undefined) this.asn = loadAsnRanges(this.opts.cacheDir);
    const t = this.asn;
    if (!t) return undefined;
    let i: number;
    let ranges: AsnRanges4 | AsnRanges6;
    if (typeof ip === 'number') {
      ranges = t.v4;
      i = upperBound(t.v4.lo.length, (k) => t.v4.lo[k] <= ip) - 1;
      if (i < 0 || t.v4.hi[i] < ip) return undefined;
    } else {
      ranges = t.v6;
      i = upperBound(t.v6.lo.length, (k) => t.v6.lo[k] <= ip) - 1;
      if (i < 0 || t.v6.hi[i] < ip) return undefined;
    }
    const asn = ranges.asn[i];
    if (!asn) return undefined;
    const name = t.names[ranges.name[i]];
    return name ? { asn, asName: name } : { asn };
  }
}

/** First index in [0, n) where `le(k)` turns false (le must be true then false). */
function upperBound(n: number, le: (k: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (le(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Reads `a,b,asn,"name"` lines (numeric addresses), in file order (the files are sorted). */
function* csvRows(text: string): Generator<[string, string, number, string]> {
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl);
    pos = nl + 1;
    if (!line) continue;
    const c1 = line.indexOf(',');
    const c2 = line.indexOf(',', c1 + 1);
    const c3 = line.indexOf(',', c2 + 1);
    let name = line.slice(c3 + 1).trim();
    if (name.startsWith('"')) name = name.slice(1, -1).replace(/""/g, '"');
    yield [line.slice(0, c1), line.slice(c1 + 1, c2), Number(line.slice(c2 + 1, c3)), name];
  }
}

/** Loads the ASN ranges from the cache, building the cache from the package's CSV first. */
function loadAsnRanges(cacheDir?: string): { v4: AsnRanges4; v6: AsnRanges6; names: string[] } | null {
  const v4csv = packageFile('@ip-location-db/asn', 'asn-ipv4-num.csv');
  const v6csv = packageFile('@ip-location-db/asn', 'asn-ipv6-num.csv');
  if (!v4csv || !existsSync(v4csv)) return null;
  const dir = join(cacheDir ?? join(tmpdir(), 'flowlens-cache'), `asn-${packageVersion('@ip-location-db/asn')}`);
  const file = join(dir, 'asn-ranges.json');
  if (existsSync(file)) {
    try {
      return decode(JSON.parse(readFileSync(file, 'utf8')) as Cached);
    } catch {
      // a damaged cache is rebuilt below
    }
  }
  const names: string[] = [];
  const nameIdx = new Map<string, number>();
  const idx = (n: string) => {
    let k = nameIdx.get(n);
    if (k === undefined) nameIdx.set(n, (k = names.push(n) - 1));
    return k;
  };
  const c: Cached = { names, v4: [], v6: [] };
  for (const [a, b, asn, name] of csvRows(readFileSync(v4csv, 'latin1'))) c.v4.push(Number(a), Number(b), asn, idx(name));
  if (v6csv && existsSync(v6csv)) {
    for (const [a, b, asn, name] of csvRows(readFileSync(v6csv, 'latin1'))) c.v6.push(BigInt(a).toString(16), BigInt(b).toString(16), asn, idx(name));
  }
  try {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(c));
    renameSync(tmp, file);
  } catch {
    // no writable temp folder: keep the table in memory only
  }
  return decode(c);
}

interface Cached {
  names: string[];
  /** lo, hi, asn, name index — flattened. */
  v4: number[];
  /** lo, hi (hex), asn, name index — flattened. */
  v6: (string | number)[];
}

function decode(c: Cached): { v4: AsnRanges4; v6: AsnRanges6; names: string[] } {
  const n4 = c.v4.length / 4;
  const v4: AsnRanges4 = { lo: new Uint32Array(n4), hi: new Uint32Array(n4), asn: new Uint32Array(n4), name: new Uint32Array(n4) };
  for (let i = 0; i < n4; i++) {
    v4.lo[i] = c.v4[4 * i];
    v4.hi[i] = c.v4[4 * i + 1];
    v4.asn[i] = c.v4[4 * i + 2];
    v4.name[i] = c.v4[4 * i + 3];
  }
  const n6 = c.v6.length / 4;
  const v6: AsnRanges6 = { lo: [], hi: [], asn: new Uint32Array(n6), name: new Uint32Array(n6) };
  for (let i = 0; i < n6; i++) {
    v6.lo.push(BigInt(`0x${c.v6[4 * i] as string}`));
    v6.hi.push(BigInt(`0x${c.v6[4 * i + 1] as string}`));
    v6.asn[i] = c.v6[4 * i + 2] as number;
    v6.name[i] = c.v6[4 * i + 3] as number;
  }
  return { v4, v6, names: c.names };
}
