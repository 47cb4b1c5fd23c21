import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inCidr, parseCidr } from '../util/ip.ts';
import { AWS_SAMPLE_QUERIES, BUILTIN_QUERIES } from './builtins.ts';
import { compileInsights, runInsights } from './index.ts';
import { fixtureDb, fixtureRows, type Row } from './test-fixture.ts';

/** SQL fragments too long to repeat in every row of the table, written out once. */
const V4_RE = "'(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'";
const V4_INT = (x: string) =>
  `list_transform([${x}], lambda __a: CASE WHEN regexp_full_match(__a, ${V4_RE}) THEN TRY_CAST(split_part(__a, '.', 1) AS BIGINT) * 16777216 + TRY_CAST(split_part(__a, '.', 2) AS BIGINT) * 65536 + TRY_CAST(split_part(__a, '.', 3) AS BIGINT) * 256 + TRY_CAST(split_part(__a, '.', 4) AS BIGINT) END)[1]`;
const V6_HEX = (x: string) =>
  `list_transform([lower(${x})], lambda __h: list_transform([CASE WHEN regexp_full_match(__h, '.*:${V4_RE.slice(1, -1)}') THEN regexp_extract(__h, '^(.*:)', 1) || ` +
  `list_transform([${V4_INT("regexp_extract(__h, '[0-9.]+$')")}], lambda __v: printf('%x:%x', __v // 65536, __v % 65536))[1] ELSE __h END], ` +
  `lambda __t: CASE WHEN regexp_full_match(__t, '[0-9a-f:]{2,39}') THEN list_transform([list_transform(string_split(__t, '::'), lambda __x: CASE WHEN __x = '' THEN []::VARCHAR[] ELSE string_split(__x, ':') END)], ` +
  `lambda __s: list_transform([CASE WHEN len(__s) = 1 THEN __s[1] WHEN len(__s) = 2 AND len(__s[1]) + len(__s[2]) <= 7 THEN __s[1] || list_transform(range(8 - len(__s[1]) - len(__s[2])), lambda __i: '0') || __s[2] END], ` +
  `lambda __g: CASE WHEN len(__g) = 8 AND list_bool_and(list_transform(__g, lambda __x: regexp_full_match(__x, '[0-9a-f]{1,4}'))) THEN array_to_string(list_transform(__g, lambda __x: lpad(__x, 4, '0')), '') END)[1])[1] END)[1])[1]`;
const MESSAGE =
  `concat_ws(' ', coalesce(CAST("version" AS VARCHAR), '-'), coalesce("account_id", '-'), coalesce("interface_id", '-'), coalesce("srcaddr", '-'), coalesce("dstaddr", '-'), ` +
  `coalesce(CAST("srcport" AS VARCHAR), '-'), coalesce(CAST("dstport" AS VARCHAR), '-'), coalesce(CAST("protocol" AS VARCHAR), '-'), coalesce(CAST("packets" AS VARCHAR), '-'), ` +
  `coalesce(CAST("bytes" AS VARCHAR), '-'), coalesce(CAST("start" AS VARCHAR), '-'), coalesce(CAST("end" AS VARCHAR), '-'), coalesce("action", '-'), coalesce("log_status", '-'))`;
const TIME = (x: string) => `(CASE WHEN abs(${x}) < 1e14 THEN strftime(epoch_ms(CAST(floor(${x}) AS BIGINT)), '%Y-%m-%d %H:%M:%S.%g') END)`;

// ---- the TypeScript side: answers computed from the fixture rows, not from SQL ----
type Out = unknown[];
const insightsTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
function groupBy(rows: readonly Row[], key: (r: Row) => unknown[], agg: (rs: Row[]) => unknown[]): Out[] {
  const m = new Map<string, { k: unknown[]; rs: Row[] }>();
  for (const r of rows) {
    const k = key(r);
    const id = JSON.stringify(k);
    if (!m.has(id)) m.set(id, { k, rs: [] });
    m.get(id)!.rs.push(r);
  }
  return [...m.values()].map(({ k, rs }) => [...k, ...agg(rs)]);
}
const sum = (xs: (number | null)[]) => xs.reduce<number>((a, b) => a + (b ?? 0), 0);
const cmp = (a: unknown, b: unknown): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : (a as number) < (b as number) ? -1 : 1);
const orderBy = (rows: Out[], ...keys: [number, 'asc' | 'desc'][]) =>
  [...rows].sort((x, y) => {
    for (const [i, d] of keys) {
      const c = cmp(x[i], y[i]);
      if (c) return d === 'asc' ? c : x[i] === null || y[i] === null ? c : -c;
    }
    return 0;
  });
const round = (v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(10)) : v);
const norm = (rows: unknown[][]) => rows.map((r) => r.map(round));
/** Order-insensitive comparison for results whose SQL order has ties. */
const sorted = (rows: unknown[][]) => norm(rows).map((r) => JSON.stringify(r)).sort();
const stddev = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.length < 2 ? null : Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

interface Case {
  query: string;
  sql: string;
  params: string[];
  columns: string[];
  /** The expected rows from the fixture; `ordered` when the SQL order is fully determined. */
  expect: (rows: readonly Row[]) => Out[];
  /** Compare only these columns (when ties at a limit make the others ambiguous). */
  only?: number[];
  ordered: boolean;
}

const CASES: Case[] = [
  {
    query: 'filter action="REJECT" | stats count(*) as numRejections by srcAddr | sort numRejections desc | limit 20',
    sql: 'SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "srcaddr" AS "g1", count(*) AS "a1" FROM flows WHERE ("action" = $1) GROUP BY "srcaddr") AS q1 ORDER BY "a1" DESC NULLS LAST LIMIT 20',
    params: ['REJECT'],
    columns: ['srcAddr', 'numRejections'],
    expect: (rs) => groupBy(rs.filter((r) => r.action === 'REJECT'), (r) => [r.srcaddr], (g) => [g.length]),
    ordered: false,
  },
  {
    query: 'stats sum(bytes) as bytesTransferred by srcAddr, dstAddr | sort bytesTransferred desc | limit 10',
    sql: 'SELECT "g1" AS "c1", "g2" AS "c2", "a1" AS "c3" FROM (SELECT "srcaddr" AS "g1", "dstaddr" AS "g2", sum("bytes") AS "a1" FROM flows GROUP BY "srcaddr", "dstaddr") AS q1 ORDER BY "a1" DESC NULLS LAST LIMIT 10',
    params: [],
    columns: ['srcAddr', 'dstAddr', 'bytesTransferred'],
    expect: (rs) => orderBy(groupBy(rs, (r) => [r.srcaddr, r.dstaddr], (g) => [g.every((r) => r.bytes === null) ? null : sum(g.map((r) => r.bytes))]), [2, 'desc']).slice(0, 10),
    ordered: true,
  },
  {
    query: 'stats avg(bytes), min(bytes), max(bytes) by srcAddr, dstAddr',
    sql: 'SELECT "g1" AS "c1", "g2" AS "c2", "a1" AS "c3", "a2" AS "c4", "a3" AS "c5" FROM (SELECT "srcaddr" AS "g1", "dstaddr" AS "g2", avg("bytes") AS "a1", min("bytes") AS "a2", max("bytes") AS "a3" FROM flows GROUP BY "srcaddr", "dstaddr") AS q1 LIMIT 10000',
    params: [],
    columns: ['srcAddr', 'dstAddr', 'avg(bytes)', 'min(bytes)', 'max(bytes)'],
    expect: (rs) =>
      groupBy(rs, (r) => [r.srcaddr, r.dstaddr], (g) => {
        const b = g.map((r) => r.bytes).filter((x): x is number => x !== null);
        return b.length ? [sum(b) / b.length, Math.min(...b), Math.max(...b)] : [null, null, null];
      }),
    ordered: false,
  },
  {
    query: 'filter protocol=17 | stats count(*) by srcAddr',
    sql: 'SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "srcaddr" AS "g1", count(*) AS "a1" FROM flows WHERE ("protocol" = 17) GROUP BY "srcaddr") AS q1 LIMIT 10000',
    params: [],
    columns: ['srcAddr', 'count(*)'],
    expect: (rs) => orderBy(groupBy(rs.filter((r) => r.protocol === 17), (r) => [r.srcaddr], (g) => [g.length]), [0, 'asc']),
    ordered: true,
  },
  {
    query: 'filter isIpv4InSubnet(srcAddr, "192.0.2.0/24") | stats sum(bytes) as bytesTransferred by dstAddr | sort bytesTransferred desc | limit 15',
    sql: `SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "dstaddr" AS "g1", sum("bytes") AS "a1" FROM flows WHERE starts_with("srcaddr", '192.0.2.') GROUP BY "dstaddr") AS q1 ORDER BY "a1" DESC NULLS LAST LIMIT 15`,
    params: [],
    columns: ['dstAddr', 'bytesTransferred'],
    expect: (rs) => orderBy(groupBy(rs.filter((r) => r.srcaddr?.startsWith('192.0.2.')), (r) => [r.dstaddr], (g) => [sum(g.map((r) => r.bytes))]), [1, 'desc']).slice(0, 15),
    ordered: true,
  },
  {
    query: 'filter logStatus="SKIPDATA" | stats count(*) by bin(1h) as t | sort t',
    sql: `SELECT ${TIME('"g1"')} AS "c1", "a1" AS "c2" FROM (SELECT (floor(("start" * 1000.0) / 3600000) * 3600000) AS "g1", count(*) AS "a1" FROM flows WHERE ("log_status" = $1) GROUP BY (floor(("start" * 1000.0) / 3600000) * 3600000)) AS q1 ORDER BY "g1" ASC NULLS LAST LIMIT 10000`,
    params: ['SKIPDATA'],
    columns: ['t', 'count(*)'],
    expect: (rs) =>
      orderBy(groupBy(rs.filter((r) => r.log_status === 'SKIPDATA'), (r) => [Math.floor(r.start! / 3600) * 3600], (g) => [g.length]), [0, 'asc']).map(([t, n]) => [insightsTime((t as number) * 1000), n]),
    ordered: true,
  },
  {
    query: 'stats sum(packets) as packetsTransferred by srcAddr, dstAddr | sort packetsTransferred desc | limit 15',
    sql: 'SELECT "g1" AS "c1", "g2" AS "c2", "a1" AS "c3" FROM (SELECT "srcaddr" AS "g1", "dstaddr" AS "g2", sum("packets") AS "a1" FROM flows GROUP BY "srcaddr", "dstaddr") AS q1 ORDER BY "a1" DESC NULLS LAST LIMIT 15',
    params: [],
    columns: ['srcAddr', 'dstAddr', 'packetsTransferred'],
    expect: (rs) => orderBy(groupBy(rs, (r) => [r.srcaddr, r.dstaddr], (g) => [g.every((r) => r.packets === null) ? null : sum(g.map((r) => r.packets))]), [2, 'desc']).slice(0, 15),
    ordered: true,
    only: [2],
  },
  {
    query: 'filter dstPort = 22 and action = "REJECT" | fields @timestamp, srcAddr, @logStream | limit 5',
    sql: `SELECT ${TIME('("start" * 1000.0)')} AS "c1", "srcaddr" AS "c2", "interface_id" AS "c3" FROM flows WHERE (("dstport" = 22) AND ("action" = $1)) ORDER BY "start" DESC NULLS LAST LIMIT 5`,
    params: ['REJECT'],
    columns: ['@timestamp', 'srcAddr', '@logStream'],
    expect: (rs) =>
      [...rs.filter((r) => r.dstport === 22 && r.action === 'REJECT')].sort((a, b) => b.start! - a.start!).slice(0, 5).map((r) => [insightsTime(r.start! * 1000), r.srcaddr, r.interface_id]),
    ordered: false,
  },
  {
    query: 'filter isIpInSubnet(concat(srcaddr), "192.0.2.0/24") | stats count(*) as n by srcaddr',
    sql: `SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "srcaddr" AS "g1", count(*) AS "a1" FROM flows WHERE (CASE WHEN concat("srcaddr") IS NULL THEN NULL ELSE coalesce((${V4_INT('concat("srcaddr")')} BETWEEN 3221225984 AND 3221226239), FALSE) END) GROUP BY "srcaddr") AS q1 LIMIT 10000`,
    params: [],
    columns: ['srcaddr', 'n'],
    expect: (rs) => orderBy(groupBy(rs.filter((r) => r.srcaddr?.startsWith('192.0.2.')), (r) => [r.srcaddr], (g) => [g.length]), [0, 'asc']),
    ordered: true,
  },
  {
    // Partial octets test that octet alone, and only where the whole octets matched; a missing
    // address stays unknown under `not` (NODATA rows are not "outside the block").
    query: 'filter not isIpv4InSubnet(srcAddr, "172.16.0.0/12") and not isIpv4InSubnet(srcAddr, "192.0.2.128/25") | stats count(*) as n by srcAddr',
    sql:
      `SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "srcaddr" AS "g1", count(*) AS "a1" FROM flows WHERE ((NOT (CASE WHEN starts_with("srcaddr", '172.') THEN coalesce(TRY_CAST(split_part("srcaddr", '.', 2) AS INTEGER) BETWEEN 16 AND 31, FALSE) WHEN "srcaddr" IS NULL THEN NULL ELSE FALSE END)) ` +
      `AND (NOT (CASE WHEN starts_with("srcaddr", '192.0.2.') THEN coalesce(TRY_CAST(split_part("srcaddr", '.', 4) AS INTEGER) BETWEEN 128 AND 255, FALSE) WHEN "srcaddr" IS NULL THEN NULL ELSE FALSE END))) GROUP BY "srcaddr") AS q1 LIMIT 10000`,
    params: [],
    columns: ['srcAddr', 'n'],
    expect: (rs) =>
      orderBy(
        groupBy(rs.filter((r) => r.srcaddr !== null && !inCidr(r.srcaddr, parseCidr('172.16.0.0/12')!) && !inCidr(r.srcaddr, parseCidr('192.0.2.128/25')!)), (r) => [r.srcaddr], (g) => [g.length]),
        [0, 'asc'],
      ),
    ordered: true,
  },
  {
    query: 'filter isIpv6InSubnet(srcAddr, "2001:db8::/32") | stats count(*) as n by srcAddr',
    sql: `SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "srcaddr" AS "g1", count(*) AS "a1" FROM flows WHERE (CASE WHEN "srcaddr" IS NULL THEN NULL WHEN NOT contains("srcaddr", ':') THEN FALSE ELSE coalesce(${V6_HEX('"srcaddr"')} BETWEEN '20010db8000000000000000000000000' AND '20010db8ffffffffffffffffffffffff', FALSE) END) GROUP BY "srcaddr") AS q1 LIMIT 10000`,
    params: [],
    columns: ['srcAddr', 'n'],
    expect: (rs) => orderBy(groupBy(rs.filter((r) => r.srcaddr !== null && inCidr(r.srcaddr, parseCidr('2001:db8::/32')!)), (r) => [r.srcaddr], (g) => [g.length]), [0, 'asc']),
    ordered: true,
  },
  {
    query: 'filter srcAddr like "192.0" or dstAddr =~ /(?i)^FE80:/ | stats count(*) as n by action',
    sql: 'SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "action" AS "g1", count(*) AS "a1" FROM flows WHERE (contains("srcaddr", $1) OR regexp_matches("dstaddr", $2)) GROUP BY "action") AS q1 LIMIT 10000',
    params: ['192.0', '(?i)^FE80:'],
    columns: ['action', 'n'],
    expect: (rs) => orderBy(groupBy(rs.filter((r) => r.srcaddr?.includes('192.0') || /^fe80:/i.test(r.dstaddr ?? '')), (r) => [r.action], (g) => [g.length]), [0, 'asc']),
    ordered: true,
  },
  {
    query: 'filter dstPort not in [22, 443] and protocol in [6, 17] and logStatus != "NODATA" | stats count(*) as n by dstPort',
    sql: 'SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "dstport" AS "g1", count(*) AS "a1" FROM flows WHERE (((NOT ("dstport" IN (22, 443))) AND ("protocol" IN (6, 17))) AND ("log_status" <> $1)) GROUP BY "dstport") AS q1 LIMIT 10000',
    params: ['NODATA'],
    columns: ['dstPort', 'n'],
    expect: (rs) =>
      orderBy(groupBy(rs.filter((r) => r.dstport !== null && ![22, 443].includes(r.dstport) && [6, 17].includes(r.protocol!) && r.log_status !== 'NODATA'), (r) => [r.dstport], (g) => [g.length]), [0, 'asc']),
    ordered: true,
  },
  {
    query: 'filter packets > 0 and srcport > 60000 | fields bytes / packets as avgSize, bytes % 7 as m, 2 ^ 10 as p, -packets as neg | sort avgSize desc | limit 3',
    sql: 'SELECT (CAST("bytes" AS DOUBLE) / nullif(CAST("packets" AS DOUBLE), 0)) AS "c1", ("bytes" % 7) AS "c2", pow(CAST(2 AS DOUBLE), CAST(10 AS DOUBLE)) AS "c3", (-CAST("packets" AS DOUBLE)) AS "c4" FROM flows WHERE (("packets" > 0) AND ("srcport" > 60000)) ORDER BY (CAST("bytes" AS DOUBLE) / nullif(CAST("packets" AS DOUBLE), 0)) DESC NULLS LAST LIMIT 3',
    params: [],
    columns: ['avgSize', 'm', 'p', 'neg'],
    expect: (rs) =>
      rs.filter((r) => r.packets! > 0 && r.srcport! > 60000).map((r) => [r.bytes! / r.packets!, r.bytes! % 7, 1024, -r.packets!]).sort((a, b) => (b[0] as number) - (a[0] as number)).slice(0, 3),
    ordered: true,
  },
  {
    query: 'fields toupper(action) as a, strlen(interfaceId) as l, substr(interfaceId, 4, 4) as s, concat(action, "-", logStatus) as c, replace(interfaceId, "eni-", "") as r, strcontains(interfaceId, "1111") as has | sort @timestamp asc | limit 3',
    sql:
      'SELECT upper("action") AS "c1", length("interface_id") AS "c2", substring("interface_id", CAST(least(greatest(floor(CAST(4 AS DOUBLE)), 0), 1000000000) AS BIGINT) + 1, CAST(least(greatest(floor(CAST(4 AS DOUBLE)), 0), 1000000000) AS BIGINT)) AS "c3", ' +
      'concat("action", $1, "log_status") AS "c4", replace("interface_id", $2, $3) AS "c5", CAST(contains("interface_id", $4) AS INTEGER) AS "c6" FROM flows ORDER BY ("start" * 1000.0) ASC NULLS LAST LIMIT 3',
    params: ['-', 'eni-', '', '1111'],
    columns: ['a', 'l', 's', 'c', 'r', 'has'],
    expect: (rs) =>
      [...rs].sort((a, b) => a.start! - b.start!).slice(0, 3).map((r) => [r.action?.toUpperCase() ?? null, r.interface_id!.length, r.interface_id!.slice(4, 8), `${r.action ?? ''}-${r.log_status}`, r.interface_id!.replace('eni-', ''), r.interface_id!.includes('1111') ? 1 : 0]),
    ordered: true,
  },
  {
    query: 'filter ispresent(action) | stats count_distinct(srcAddr) as srcs, pct(bytes, 50) as median, stddev(bytes) as sd, earliest(srcPort) as first, latest(srcPort) as last, sortsFirst(dstAddr) as lo, sortsLast(dstAddr) as hi by action',
    sql:
      'SELECT "g1" AS "c1", "a1" AS "c2", "a2" AS "c3", "a3" AS "c4", "a4" AS "c5", "a5" AS "c6", "a6" AS "c7", "a7" AS "c8" FROM (SELECT "action" AS "g1", count(DISTINCT "srcaddr") AS "a1", quantile_disc("bytes", 0.5) AS "a2", stddev_samp("bytes") AS "a3", ' +
      'arg_min("srcport", ("start" * 1000.0)) AS "a4", arg_max("srcport", ("start" * 1000.0)) AS "a5", min("dstaddr") AS "a6", max("dstaddr") AS "a7" FROM flows WHERE ("action" IS NOT NULL) GROUP BY "action") AS q1 LIMIT 10000',
    params: [],
    columns: ['action', 'srcs', 'median', 'sd', 'first', 'last', 'lo', 'hi'],
    expect: (rs) =>
      orderBy(
        groupBy(rs.filter((r) => r.action !== null), (r) => [r.action], (g) => {
          const b = g.map((r) => r.bytes!).sort((x, y) => x - y);
          const byTime = [...g].sort((x, y) => x.start! - y.start!);
          const dst = g.map((r) => r.dstaddr!).sort();
          return [new Set(g.map((r) => r.srcaddr)).size, b[Math.floor(0.5 * (b.length - 1))], stddev(b), byTime[0].srcport, byTime[byTime.length - 1].srcport, dst[0], dst[dst.length - 1]];
        }),
        [0, 'asc'],
      ),
    ordered: true,
  },
  {
    query: 'stats count(*) as n by datefloor(@timestamp, 1d) as day',
    sql: `SELECT ${TIME('"g1"')} AS "c1", "a1" AS "c2" FROM (SELECT (floor(("start" * 1000.0) / 86400000) * 86400000) AS "g1", count(*) AS "a1" FROM flows GROUP BY (floor(("start" * 1000.0) / 86400000) * 86400000)) AS q1 ORDER BY "g1" ASC NULLS LAST LIMIT 10000`,
    params: [],
    columns: ['day', 'n'],
    expect: (rs) => orderBy(groupBy(rs, (r) => [Math.floor(r.start! / 86400) * 86400], (g) => [g.length]), [0, 'asc']).map(([d, n]) => [insightsTime((d as number) * 1000), n]),
    ordered: true,
  },
  {
    query: 'filter ispresent(srcAddr) | sort bytes desc | dedup srcAddr | fields srcAddr, bytes',
    sql: 'SELECT "srcaddr" AS "c1", "bytes" AS "c2" FROM (SELECT *, row_number() OVER (PARTITION BY "srcaddr" ORDER BY "bytes" DESC NULLS LAST) AS "__rn" FROM flows WHERE ("srcaddr" IS NOT NULL)) AS q1 WHERE ("__rn" = 1 OR "srcaddr" IS NULL) ORDER BY "bytes" DESC NULLS LAST LIMIT 10000',
    params: [],
    columns: ['srcAddr', 'bytes'],
    expect: (rs) => orderBy(groupBy(rs.filter((r) => r.srcaddr !== null), (r) => [r.srcaddr], (g) => [Math.max(...g.map((r) => r.bytes!))]), [1, 'desc']),
    ordered: false,
  },
  {
    query: 'parse @message /(?<eni>eni-[0-9a-f]+) (?<src>\\S+) / | filter src != "-" | stats count(*) as n by eni',
    sql:
      'SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "__p1_1" AS "g1", count(*) AS "a1" FROM (SELECT *, (CASE WHEN regexp_matches("__p1_text", $1) THEN regexp_extract("__p1_text", $1, 1) END) AS "__p1_1", ' +
      `(CASE WHEN regexp_matches("__p1_text", $1) THEN regexp_extract("__p1_text", $1, 2) END) AS "__p1_2" FROM (SELECT *, ${MESSAGE} AS "__p1_text" FROM flows) AS q1) AS q2 WHERE ("__p1_2" <> $2) GROUP BY "__p1_1") AS q3 LIMIT 10000`,
    params: ['(eni-[0-9a-f]+) (\\S+) ', '-'],
    columns: ['eni', 'n'],
    expect: (rs) => orderBy(groupBy(rs.filter((r) => r.srcaddr !== null), (r) => [r.interface_id], (g) => [g.length]), [0, 'asc']),
    ordered: true,
  },
];

describe('DuckDB compiler', () => {
  const rows = fixtureRows();
  let db: Awaited<ReturnType<typeof fixtureDb>>;
  beforeAll(async () => {
    db = await fixtureDb(rows);
  });
  afterAll(() => db.close());

  it.each(CASES.map((c) => [c.query, c] as const))('%s', async (_q, c) => {
    const compiled = compileInsights(c.query, { dialect: 'duckdb' });
    expect(compiled.sql).toBe(c.sql);
    expect(compiled.params).toEqual(c.params);
    expect(compiled.columns).toEqual(c.columns);
    const pick = (rs: unknown[][]) => (c.only ? rs.map((r) => c.only!.map((i) => r[i])) : rs);
    const got = pick(await db.run(compiled.sql, compiled.params));
    const want = pick(c.expect(rows));
    expect(want.length).toBeGreaterThan(0);
    // Groups without a time bin or a sort come in no particular order.
    if (c.ordered && c.sql.includes('ORDER BY')) expect(norm(got)).toEqual(norm(want));
    else expect(sorted(got)).toEqual(sorted(want));
  });

  it('toMillis gives whole epoch milliseconds (1705277399000, not 1705277399000.0)', async () => {
    const c = compileInsights('fields toMillis(@timestamp) as ms | sort ms asc | limit 3', { dialect: 'duckdb' });
    const got = await db.run(`SELECT "c1", typeof("c1") FROM (${c.sql}) AS t`, c.params);
    const first = Math.min(...rows.map((r) => r.start!));
    expect(got[0]).toEqual([first * 1000, 'BIGINT']);
  });

  it('runs every builtin query (the 7 AWS samples and the console list)', async () => {
    expect(AWS_SAMPLE_QUERIES).toHaveLength(7);
    const store = {
      query: async (sql: string, params?: unknown[]) => {
        const p = await db.conn.prepare(sql);
        (params ?? []).forEach((v, i) => p.bindVarchar(i + 1, String(v)));
        const r = await p.runAndReadAll();
        return { columns: r.columnNames(), rows: r.getRows() as unknown[][] };
      },
    };
    for (const b of BUILTIN_QUERIES) {
      const r = await runInsights(store, b.query);
      expect(r.rows.length, b.name).toBeGreaterThan(0);
      expect(r.columns.length, b.name).toBe(r.rows[0].length);
    }
  });

  it('prunes by time on both start and the date partition', async () => {
    const from = 1_700_050_000;
    const to = 1_700_120_000;
    const c = compileInsights('stats count(*) as n', { from, to });
    expect(c.sql).toBe(
      `SELECT "a1" AS "c1" FROM (SELECT count(*) AS "a1" FROM flows WHERE "start" >= ${from} AND "start" <= ${to} AND "date" >= DATE '2023-11-15' AND "date" <= DATE '2023-11-16') AS q1 LIMIT 10000`,
    );
    expect(await db.run(c.sql, c.params)).toEqual([[rows.filter((r) => r.start! >= from && r.start! <= to).length]]);
  });

  it('resolves enrichment columns by name, case as typed', async () => {
    const c = compileInsights('filter Src_Owner = "team-a" | stats count(*) by Src_Owner', { columns: [{ name: 'src_owner', type: 'VARCHAR' }, 'start'] });
    expect(c.sql).toBe('SELECT "g1" AS "c1", "a1" AS "c2" FROM (SELECT "src_owner" AS "g1", count(*) AS "a1" FROM flows WHERE ("src_owner" = $1) GROUP BY "src_owner") AS q1 LIMIT 10000');
    expect(c.columns).toEqual(['Src_Owner', 'count(*)']);
  });
});
