import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestPaths } from '../../ingest/index.ts';
import { openStore, type Store } from '../../store/index.ts';
import { freshRollupDays } from '../../store/rollups.ts';
import { Columns, Q } from '../src/queries.ts';
import type { Route, TimeWindow } from '../src/state.ts';

/**
 * Every dashboard panel gives the same rows from flows_summary (rollups) as from the records,
 * over windows aligned and not, with route filters, on a store with a stale day.
 */

const T0 = Date.UTC(2024, 2, 1) / 1000;
const INVENTORY = `
entries:
  - { cidr: 10.0.0.0/16, kind: vpc, vpc: vpc-a, account: "111111111111", region: us-east-1 }
  - { cidr: 10.0.1.0/24, vpc: vpc-a, subnet: subnet-1, az: us-east-1a, owner: web, region: us-east-1 }
  - { cidr: 10.0.2.0/24, vpc: vpc-a, subnet: subnet-2, az: us-east-1b, owner: db, region: us-east-1 }
`;

function lines(day: number, n: number, seed: number): string {
  const out: string[] = [];
  let s = seed;
  const rnd = (k: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % k;
  };
  for (let i = 0; i < n; i++) {
    // Busy hours: enough records per 5 minutes and key for every rollup level to be built.
    const t = T0 + day * 86400 + 36_000 + rnd(4 * 3600);
    const eni = `eni-0${rnd(4)}`;
    if (rnd(60) === 0) {
      out.push(`2 111111111111 ${eni} - - - - - - - ${t} ${t + 59} - NODATA`);
      continue;
    }
    const client = rnd(3) === 0 ? `203.0.113.${rnd(3)}` : `10.0.1.${rnd(3)}`;
    const server = `10.0.2.${rnd(2)}`;
    const [port, proto] = [[5432, 6], [443, 6], [53, 17], [0, 1]][rnd(4)];
    const eph = 32768 + rnd(20000);
    // Half the records are the server side's replies (service port as the source port).
    const reply = rnd(2) === 0;
    const [a, b, sp, dp] = reply ? [server, client, port, proto === 1 ? 0 : eph] : [client, server, proto === 1 ? 0 : eph, port];
    out.push(`2 111111111111 ${eni} ${a} ${b} ${sp} ${dp} ${proto} ${1 + rnd(9)} ${60 + rnd(3000)} ${t} ${t + 59} ${rnd(7) === 0 ? 'REJECT' : 'ACCEPT'} OK`);
  }
  return out.join('\n') + '\n';
}

describe('dashboard panels from rollups', () => {
  let store: Store;
  let names: string[];
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-panels-'));
    writeFileSync(join(dir, 'inv.yaml'), INVENTORY);
    const input = join(dir, 'in');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(input);
    for (let d = 0; d < 2; d++) writeFileSync(join(input, `d${d}.log`), lines(d, 20_000, 3 + d));
    const db = join(dir, 'db');
    await ingestPaths([input], { db, inventory: join(dir, 'inv.yaml') });
    writeFileSync(join(dir, 'late.log'), lines(1, 300, 77));
    await ingestPaths([join(dir, 'late.log')], { db, rollups: false });
    const days = await freshRollupDays(db);
    expect(days.get('2024-03-01')?.rows['5m']).toBeGreaterThan(0);
    store = await openStore(db);
    names = (await store.columns()).map((c) => c.name);
  }, 120_000);
  afterAll(async () => store.close());

  const windows: TimeWindow[] = [
    { from: T0, to: T0 + 2 * 86400, label: 'two days' },
    { from: T0 + 3000, to: T0 + 86400 + 7000, label: 'unaligned' },
    { from: T0 + 86400 + 10 * 3600, to: T0 + 86400 + 13 * 3600 + 500, label: 'three hours' },
  ];
  const routes = ['', 'vpc=vpc-a', 'action=REJECT', 'ip=10.0.2.1', 'eni=eni-02', 'subnet=subnet-1'].map((q): Route => ({ view: 'debug', params: new URLSearchParams(q) }));

  // Rows in a total order (panels sort by a measure, and ties may come in any order).
  const sorted = (rows: unknown[][]) => rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? Math.round(v * 1e9) / 1e9 : v))).sort();

  for (const w of windows) {
    it(`matches the records over ${w.label}`, async () => {
      const fast = new Columns(names, true);
      const slow = new Columns(names, false);
      for (const r of routes) {
        const panels: [string, (c: Columns) => string][] = [
          ['totals', (c) => Q.totals(w, r, c)],
          ['volumeBySubnet', (c) => Q.volumeBySubnet(w, r, c)],
          ['topOwners', (c) => Q.topOwners(w, r, c)],
          ['timeline', (c) => Q.timeline(w, r, c, '10.0.2.1')],
          ['timeline eni', (c) => Q.timeline(w, r, c, 'eni-01')],
          ['egress', (c) => Q.egress(w, r, c)],
          ['coverage', (c) => Q.coverage(w, r, c)],
        ];
        for (const [name, q] of panels) {
          const a = q(fast);
          expect(a, name).toMatch(/flows_summary/);
          expect(sorted((await store.query(a)).rows), `${name} ${r.params}`).toEqual(sorted((await store.query(q(slow))).rows));
        }
        // Top-N panels: the whole ranking, without the LIMIT that cuts ties differently.
        for (const [name, q] of [
          ['topTalkersIp', (c: Columns) => Q.topTalkersIp(w, r, c)],
          ['topPorts', (c: Columns) => Q.topPorts(w, r, c)],
          ['sankey', (c: Columns) => Q.sankey(w, r, c)],
        ] as const) {
          const unlimited = (sql: string) => sql.replace(/ LIMIT \d+$/, '');
          expect(sorted((await store.query(unlimited(q(fast)))).rows), `${name} ${r.params}`).toEqual(sorted((await store.query(unlimited(q(slow)))).rows));
        }
      }
    });
  }
});
