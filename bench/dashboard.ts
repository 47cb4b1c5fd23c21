/**
 * bench:dashboard — the dashboard on ~10 M records: every panel's query over the whole window,
 * from the rollups (as the dashboard sends it) and from the records alone, median of `--runs`;
 * then the real dashboard in Debian's Chromium: first contentful paint and the time until
 * every panel of each view has its data. Targets (DESIGN.md): first paint < 1 s, every panel
 * query < 500 ms.
 *   npm run bench:dashboard -- --scale 11 --hours 6 --runs 3
 * The store (emulated web-app traffic with incidents, ingested with the topology as
 * inventory) is kept under .bench/ and reused.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { emulate } from '../src/fabric/index.ts';
import { DEFAULT_TOPOLOGY_PATH } from '../src/fabric/topology.ts';
import { ingestPaths } from '../src/ingest/index.ts';
import { startServer } from '../src/server/index.ts';
import { openStore } from '../src/store/index.ts';
import { Columns, Q } from '../src/web/src/queries.ts';
import type { Route, TimeWindow } from '../src/web/src/state.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const scale = Number(arg('scale', '11'));
const hours = Number(arg('hours', '6'));
const runs = Number(arg('runs', '3'));
const root = resolve('.bench', `dashboard-s${scale}-h${hours}`);
const db = join(root, 'store');
const start = 1_700_000_000;

if (!existsSync(join(db, 'flowlens-store.json'))) {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const t0 = performance.now();
  const e = await emulate({ scenarios: ['web-app', 'attacks'], scale, duration: hours * 3600, start, seed: 1, out: join(root, 'bucket') });
  process.stderr.write(`emulated ${e.records.toLocaleString('en-US')} records in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  const s = await ingestPaths([join(root, 'bucket')], { db, inventory: DEFAULT_TOPOLOGY_PATH });
  process.stderr.write(`ingested ${s.records.toLocaleString('en-US')} records in ${s.seconds} s (+${s.rollup_seconds} s rollups)\n`);
  rmSync(join(root, 'bucket'), { recursive: true, force: true });
}

const store = await openStore(db);
const names = (await store.columns()).map((c) => c.name);
const [[records, first, last]] = (await store.query('SELECT count(*), min(start), max("end") FROM flows')).rows;
const w: TimeWindow = { from: Number(first), to: Number(last) + 1, label: 'all' };
const route: Route = { view: 'oncall', params: new URLSearchParams() };
const recent: TimeWindow = { from: Number(last) + 1 - 1800, to: Number(last) + 1, label: '30m' };
const panels: [string, (c: Columns) => string][] = [
  ['totals', (c) => Q.totals(w, route, c)],
  ['REJECT sources (last 30 min)', (c) => Q.topRejectSources(recent, route, c)],
  ['volume by subnet', (c) => Q.volumeBySubnet(w, route, c)],
  ['top talkers', (c) => Q.topTalkersIp(w, route, c)],
  ['service ports', (c) => Q.topPorts(w, route, c)],
  ['owners', (c) => Q.topOwners(w, route, c)],
  ['timeline (one address)', (c) => Q.timeline(w, route, c, '10.0.1.10')],
  ['Sankey', (c) => Q.sankey(w, route, c)],
  ['egress by VPC and cost', (c) => Q.egress(w, route, c)],
  ['coverage', (c) => Q.coverage(w, route, c)],
];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (sql: string) => {
  const t = performance.now();
  await store.query(sql);
  return performance.now() - t;
};
const rows: string[][] = [];
for (const [name, q] of panels) {
  const fast = new Columns(names, true);
  const slow = new Columns(names, false);
  await time(q(fast));
  await time(q(slow));
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < runs; r++) {
    a.push(await time(q(fast)));
    b.push(await time(q(slow)));
  }
  rows.push([name, median(a).toFixed(0), median(b).toFixed(0), q(fast).includes('flows_summary') ? 'rollups' : 'records']);
}
await store.close();

// The real dashboard: first contentful paint and all panels done, per view.
const server = await startServer({ db, port: 0, detect: false });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
const views: string[][] = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  for (const view of ['oncall', 'debug', 'executive']) {
    const url = `${server.url}/#/${view}?range=custom&from=${w.from}&to=${w.to}`;
    const t = performance.now();
    await page.goto(url);
    await page.waitForFunction(() => document.querySelectorAll('[data-panel]').length > 0 && Array.from(document.querySelectorAll('[data-panel]')).every((p) => p.getAttribute('data-state') !== 'loading'), undefined, { timeout: 120_000 });
    const all = performance.now() - t;
    const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN);
    views.push([view, fcp.toFixed(0), all.toFixed(0)]);
  }
} finally {
  await browser.close();
  await server.close();
}

const table = (head: string[], body: string[][]) => {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
};
console.log(`\ndashboard on ${Number(records).toLocaleString('en-US')} records (${hours} h emulated, scale ${scale}), whole window, median of ${runs}\n`);
console.log(table(['panel', 'as sent ms', 'records only ms', 'reads'], rows));
console.log(`\n${table(['view', 'first contentful paint ms', 'all panels done ms'], views)}`);
