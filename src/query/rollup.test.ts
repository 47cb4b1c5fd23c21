import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestPaths } from '../ingest/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { buildRollups, freshRollupDays, invalidateRollups, storeExtent } from '../store/rollups.ts';
import { describeFlows, parseQuery, runInsights } from './index.ts';
import { planRollup } from './rollup.ts';

const T0 = Date.UTC(2024, 0, 1) / 1000;

/**
 * Records of one day: a few conversations repeating within two busy hours (so every rollup
 * level aggregates), NODATA, UDP, REJECTs, an IPv6 pair; `spread` scatters them over the whole
 * day and over many more addresses instead (then no level halves what it aggregates).
 */
function lines(day: number, n: number, seed: number, spread = false): string {
  const out: string[] = [];
  let s = seed;
  const rnd = (k: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % k;
  };
  const hosts = spread ? 200 : 2;
  for (let i = 0; i < n; i++) {
    const t = T0 + day * 86400 + (spread ? rnd(86400) : 36_000 + rnd(7200));
    if (rnd(50) === 0) {
      out.push(`2 123456789012 eni-0a - - - - - - - ${t} ${t + 59} - NODATA`);
      continue;
    }
    const v6 = rnd(40) === 0;
    const src = v6 ? '2001:db8::1' : `10.0.${rnd(2)}.${rnd(hosts)}`;
    const dst = v6 ? '2001:db8::2' : rnd(4) === 0 ? `192.0.2.${rnd(hosts)}` : `10.1.0.${rnd(hosts)}`;
    const proto = rnd(5) === 0 ? 17 : 6;
    const dport = [22, 443, 53, 3389][rnd(4)];
    out.push(`2 123456789012 eni-0a ${src} ${dst} ${40000 + rnd(20000)} ${dport} ${proto} ${1 + rnd(20)} ${40 + rnd(5000)} ${t} ${t + 59} ${rnd(6) === 0 ? 'REJECT' : 'ACCEPT'} OK`);
  }
  return out.join('\n') + '\n';
}

// Sorted on a total order: ties may come in any order, from the records as from a rollup.
const QUERIES = [
  'filter action="REJECT" | stats count(*) as numRejections by srcAddr | sort numRejections desc, srcAddr | limit 20',
  'stats sum(bytes) as bytesTransferred by srcAddr, dstAddr | sort bytesTransferred desc, srcAddr, dstAddr | limit 10',
  'stats avg(bytes), min(bytes), max(bytes) by srcAddr, dstAddr | sort srcAddr, dstAddr',
  'filter protocol=17 | stats count(*) by srcAddr | sort srcAddr',
  'filter isIpv4InSubnet(srcAddr, "10.0.1.0/24") | stats sum(bytes) as b by dstAddr | sort b desc, dstAddr | limit 15',
  'filter logStatus="NODATA" | stats count(*) by bin(1h) as t | sort t',
  'stats sum(packets) as p, count(bytes) as nb, count_distinct(dstAddr) as peers by action, logStatus | sort action, logStatus',
  'stats count(*) as n by bin(1d) as day, protocol | sort day, protocol',
  'filter action = "ACCEPT" | stats sum(bytes) as b, max(packets) as p by bin(10m) as t | sort t',
  'filter dstAddr like "192.0.2." and action != "REJECT" | stats sum(bytes) / count(*) as per by srcAddr | sort per desc, srcAddr | limit 5',
];

describe('queries answered from rollups', () => {
  let dir: string;
  let db: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowlens-rollup-'));
    db = join(dir, 'db');
    for (let d = 0; d < 3; d++) writeFileSync(join(dir, `day${d}.log`), lines(d, 20_000, 7 + d));
    await ingestPaths([dir], { db });
    // A fourth file lands on day 1 after its rollup was built: that day is stale now.
    writeFileSync(join(dir, 'late.log'), lines(1, 500, 99));
    await ingestPaths([join(dir, 'late.log')], { db, rollups: false });
    store = await openStore(db);
  }, 120_000);
  afterAll(async () => store.close());

  it('keeps rollups only for days whose records did not change', async () => {
    expect([...(await freshRollupDays(db)).keys()].sort()).toEqual(['2024-01-01', '2024-01-03']);
  });

  const ranges: [string, { from?: number; to?: number }][] = [
    ['all time', {}],
    ['whole days', { from: T0, to: T0 + 3 * 86400 - 1 }],
    ['unaligned edges', { from: T0 + 5000, to: T0 + 2 * 86400 + 40_000 }],
    ['one day and a bit', { from: T0 + 86400 * 2 - 3600, to: T0 + 86400 * 3 - 1 }],
  ];
  for (const [label, range] of ranges) {
    it(`gives the records' answer (${label})`, async () => {
      const columns = await describeFlows(store);
      for (const q of QUERIES) {
        expect(planRollup(parseQuery(q), columns, range), q).toBeDefined();
        const { rollup, ...fast } = await runInsights(store, q, { ...range, columns });
        const slow = await runInsights(store, q, { ...range, columns, rollups: false });
        expect(rollup, `${q} over ${label} used a rollup`).toMatch(/^(5m|1h|1d)$/);
        expect(slow.rollup).toBeUndefined();
        expect(fast, `${q} over ${label}`).toEqual(slow);
      }
    });
  }

  it('knows the store extent without a scan, with fresh and stale first, middle and last days', async () => {
    const run = async (sql: string) => (await store.query(sql)).rows;
    const scan = async () => {
      const [[records, first, last]] = await run('SELECT count(*), min(start), max("end") FROM flows');
      return { records: Number(records), first_start: Number(first), last_end: Number(last) };
    };
    const expected = await scan();
    expect(expected.records).toBe(60_500);
    // Day 2 is stale (counted from the files); days 1 and 3 answer from their covers.
    expect(await storeExtent(db, run)).toEqual(expected);
    // Stale first and last days are read, not taken from covers.
    await invalidateRollups(db, '2024-01-01');
    await invalidateRollups(db, '2024-01-03');
    expect(await storeExtent(db, run)).toEqual(expected);
    await buildRollups(db);
    expect(await storeExtent(db, run)).toEqual(expected);
    // Back to the fixture's state for the tests below: day 2 stale.
    await invalidateRollups(db, '2024-01-02');
    expect([...(await freshRollupDays(db)).keys()].sort()).toEqual(['2024-01-01', '2024-01-03']);
    expect(await storeExtent(db, run)).toEqual(expected);
  });

  it('gives the same answer once the stale day is rebuilt', async () => {
    expect(await buildRollups(db)).toEqual(['2024-01-02']);
    const columns = await describeFlows(store);
    for (const q of QUERIES) {
      const { rollup, ...fast } = await runInsights(store, q, { columns });
      expect(rollup).toBeDefined();
      expect(fast).toEqual(await runInsights(store, q, { columns, rollups: false }));
    }
  });

  it('offers the same to SQL as flows_summary(lo, hi)', async () => {
    for (const [lo, hi] of [[T0, T0 + 3 * 86400 - 1], [T0 + 5000, T0 + 2 * 86400 + 40_000], [T0 + 40_000, T0 + 86400 + 38_000]]) {
      const a = await store.query(`SELECT srcaddr, action, sum(__records)::BIGINT AS n, sum(__bytes_sum)::BIGINT AS b, max(__bytes_max) AS m FROM flows_summary(${lo}, ${hi}) GROUP BY ALL ORDER BY ALL`);
      const b = await store.query(`SELECT srcaddr, action, count(*) AS n, sum(bytes)::BIGINT AS b, max(bytes) AS m FROM flows WHERE start BETWEEN ${lo} AND ${hi} GROUP BY ALL ORDER BY ALL`);
      expect(a.rows.length).toBeGreaterThan(0);
      expect(a.rows).toEqual(b.rows);
    }
    await expect(store.query("SELECT * FROM glob('/etc/*')")).rejects.toThrow(/read-only/);
    await expect(store.query(`SELECT * FROM glob('${db}/*')`)).rejects.toThrow(/not allowed/);
  });

  it('builds no level that would not halve what it aggregates, and then reads the records', async () => {
    const d = mkdtempSync(join(tmpdir(), 'flowlens-rollup-spread-'));
    writeFileSync(join(d, 'x.log'), lines(0, 3000, 5, true));
    await ingestPaths([join(d, 'x.log')], { db: join(d, 'db') });
    const days = await freshRollupDays(join(d, 'db'));
    expect([...days.keys()]).toEqual(['2024-01-01']);
    expect(days.get('2024-01-01')!.rows).toEqual({});
    const s = await openStore(join(d, 'db'));
    try {
      const r = await runInsights(s, QUERIES[1]);
      expect(r.rollup).toBeUndefined();
      expect(r.rows.length).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });

  it('reads the records for what rollups cannot answer', async () => {
    const columns = await describeFlows(store);
    for (const q of ['stats count(*) by dstPort', 'stats pct(bytes, 50) by srcAddr', 'fields srcAddr | stats count(*) by srcAddr', 'filter bytes > 100 | stats count(*)', 'stats count(*) by bin(1m)', 'stats earliest(@timestamp) by srcAddr', 'stats count(srcAddr)']) {
      expect(planRollup(parseQuery(q), columns, {}), q).toBeUndefined();
    }
  });
});
