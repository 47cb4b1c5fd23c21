/**
 * Test support (not a test): an in-memory DuckDB with a `flows` table shaped like the store's
 * view (every field of the column list, the derived columns and `date`), filled with rows the
 * tests also hold in TypeScript so they can compute expected answers independently.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parseIpv4 } from '../util/ip.ts';
import { DEFAULT_COLUMNS } from './fields.ts';

export interface Row {
  version: number | null;
  account_id: string | null;
  interface_id: string | null;
  srcaddr: string | null;
  dstaddr: string | null;
  srcport: number | null;
  dstport: number | null;
  protocol: number | null;
  packets: number | null;
  bytes: number | null;
  start: number | null;
  end: number | null;
  action: string | null;
  log_status: string | null;
  tcp_flags: number | null;
  vpc_id: string | null;
}

const DAY0 = 1_700_000_000; // 2023-11-14T22:13:20Z

/** Deterministic rows covering IPv4 and IPv6, NODATA/SKIPDATA, REJECTs, two UTC days. */
export function fixtureRows(n = 240, seed = 7): Row[] {
  let s = seed;
  const rnd = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const v4 = ['10.0.0.5', '10.0.1.9', '192.0.2.17', '192.0.2.200', '198.51.100.7', '203.0.113.9', '172.31.16.139', '0.0.0.0', '255.255.255.255'];
  const v6 = ['2001:db8::1', '2001:db8:0:1::42', 'fe80::1', '::1', '::ffff:192.0.2.1', '2600:1f18:abcd::7'];
  const enis = ['eni-1235b8ca123456789', 'eni-11111111aaaaaaaaa', 'eni-0a0b0c0d0e0f01234'];
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const start = DAY0 + Math.floor(rnd() * 2 * 86400);
    const status = rnd() < 0.06 ? 'NODATA' : rnd() < 0.05 ? 'SKIPDATA' : 'OK';
    const eni = pick(enis);
    if (status !== 'OK') {
      rows.push({ version: 2, account_id: '123456789010', interface_id: eni, srcaddr: null, dstaddr: null, srcport: null, dstport: null, protocol: null, packets: null, bytes: null, start, end: start + 58, action: null, log_status: status, tcp_flags: null, vpc_id: null });
      continue;
    }
    const six = rnd() < 0.2;
    const protocol = pick([6, 6, 6, 17, 1]);
    const packets = 1 + Math.floor(rnd() * 50);
    rows.push({
      version: 2,
      account_id: pick(['123456789010', 'unknown']),
      interface_id: eni,
      srcaddr: six ? pick(v6) : pick(v4),
      dstaddr: six ? pick(v6) : pick(v4),
      srcport: protocol === 1 ? 0 : 1024 + Math.floor(rnd() * 60000),
      dstport: protocol === 1 ? 0 : pick([22, 443, 80, 3389, 53]),
      protocol,
      packets,
      bytes: packets * (40 + Math.floor(rnd() * 1400)),
      start,
      end: start + 59,
      action: rnd() < 0.3 ? 'REJECT' : 'ACCEPT',
      log_status: 'OK',
      tcp_flags: protocol === 6 ? pick([2, 3, 19, 18, 0]) : null,
      vpc_id: pick(['vpc-1a2b3c4d', 'vpc-99', null]),
    });
  }
  return rows;
}

const v4num = (a: string | null) => (a === null ? null : parseIpv4(a) >= 0 ? parseIpv4(a) : null);

/** An in-memory database with the fixture in `flows`. Close it when done. */
export async function fixtureDb(rows: readonly Row[]): Promise<{ conn: DuckDBConnection; run: (sql: string, params?: readonly string[]) => Promise<unknown[][]>; close: () => void }> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  const cols = DEFAULT_COLUMNS.map((c) => `"${c.name}" ${c.type}`).join(', ');
  await conn.run(`CREATE TABLE flows (${cols})`);
  const appender = await conn.createAppender('flows');
  for (const r of rows) {
    for (const c of DEFAULT_COLUMNS) {
      const value =
        c.name === 'srcaddr_v4' ? v4num(r.srcaddr) : c.name === 'dstaddr_v4' ? v4num(r.dstaddr) : c.name === 'date' ? null : (r as unknown as Record<string, unknown>)[c.name] ?? null;
      if (value === null || value === undefined) appender.appendNull();
      else if (c.type === 'VARCHAR') appender.appendVarchar(String(value));
      else if (c.type === 'INTEGER') appender.appendInteger(Number(value));
      else if (c.type === 'UINTEGER') appender.appendUInteger(Number(value));
      else appender.appendBigInt(BigInt(value as number));
    }
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
  await conn.run(`UPDATE flows SET "date" = CAST(to_timestamp("start") AS DATE)`);
  const run = async (sql: string, params: readonly string[] = []) => {
    const p = await conn.prepare(sql);
    params.forEach((v, i) => p.bindVarchar(i + 1, v));
    const r = await p.runAndReadAll();
    return r.getRows().map((row) => row.map(plain));
  };
  return { conn, run, close: () => { conn.closeSync(); instance.closeSync(); } };
}

/** DuckDB values as plain JS (bigint → number) so tests compare them to TypeScript answers. */
export function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  return v;
}
