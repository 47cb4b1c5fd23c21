import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_TOPOLOGY_PATH, emulate } from '../fabric/index.ts';
import { ingestPaths } from '../ingest/index.ts';
import { runInsights } from '../query/index.ts';
import { openStore } from '../store/index.ts';
import { OUTPUT_FORMATS, renderResult, rowObject, type OutputFormat } from './output.ts';
import type { ResultSet } from '../store/index.ts';
import { parseDuration } from './emulate.ts';
import { UserError } from '../util/errors.ts';

/** The incidents the demo VPC lives through, besides its normal web traffic. */
export const DEMO_SCENARIOS = [
  'web-app',
  'ssh-brute-force',
  'port-scan-vertical',
  'port-scan-horizontal',
  'exfiltration',
  'spam-bot',
  'crypto-mining',
  'sg-change-breaks-db',
  'blackhole',
] as const;

/** The questions the demo answers, as a user would type them in Logs Insights. */
const QUESTIONS: { title: string; query: string }[] = [
  {
    title: 'Who is rejected most? (AWS sample query)',
    query: 'filter action="REJECT" | stats count(*) as numRejections by srcAddr | sort numRejections desc | limit 5',
  },
  {
    title: 'What sends the most bytes? (top talkers)',
    query: 'stats sum(bytes) as bytesTransferred by srcAddr, dstAddr | sort bytesTransferred desc | limit 5',
  },
  {
    title: 'Who knocks on SSH and RDP?',
    query: 'filter action="REJECT" and dstPort in [22, 3389] | stats count(*) as attempts, count_distinct(dstAddr) as hosts by srcAddr | sort attempts desc | limit 5',
  },
  { title: 'Logging health (NODATA / SKIPDATA)', query: 'stats count(*) as records by logStatus | sort records desc' },
];

/** Window starts line up with minutes, as AWS's do. */
const minuteFloor = (t: number) => t - (t % 60);

/**
 * `flowlens demo`: emulate a VPC that lives through several incidents, ingest what it wrote
 * (enriched with the emulated topology as the inventory), answer the first questions people
 * ask, run detection, then serve the dashboard on the demo store until interrupted.
 */
export function define(cmd: Command): void {
  cmd
    .option('--dir <dir>', 'where the demo writes its logs and store', './flowlens-demo')
    .option('--duration <d>', 'emulated time, ending now', '6h')
    .option('--seed <n>', 'seed of the emulation', '7')
    .option('--no-serve', 'stop after the answers instead of serving the dashboard')
    .option('--port <port>', 'dashboard port', '8080')
    // Not $FLOWLENS_DB: a demo must never fill the store someone configured for real data.
    .option('--db <path>', 'where the demo store goes (new or empty; default <dir>/store)')
    .addOption(new Option('--format <format>', 'the answers and alert counts as table, json (one object), ndjson or csv; progress goes to stderr then').choices([...OUTPUT_FORMATS]).default('table'))
    .action(async (opts: { dir: string; duration: string; seed: string; serve: boolean; port: string; db?: string; format: OutputFormat }) => {
      const dir = resolve(opts.dir);
      if (opts.db && existsSync(opts.db) && !statSync(opts.db).isDirectory()) throw new UserError(`--db ${opts.db} is a file; the demo store is a folder: give a new one`);
      if (opts.db && existsSync(opts.db) && readdirSync(opts.db).length) {
        throw new UserError(`--db ${opts.db} is not empty; the demo makes a fresh store: give a new folder (or leave --db out for ${join(opts.dir, 'store')})`);
      }
      rmSync(dir, { recursive: true, force: true });
      const results: { title: string; query?: string; rs: ResultSet }[] = [];
      const show = (title: string, rs: ResultSet, query?: string) => {
        results.push({ title, query, rs });
        if (opts.format === 'table') process.stdout.write(renderResult(rs, 'table'));
      };
      const duration = parseDuration(opts.duration);
      // The emulated time ends now, so "the last 30 minutes" on the dashboard shows the incidents.
      const start = minuteFloor(Math.floor(Date.now() / 1000) - duration);
      const out = join(dir, 'bucket');
      const labels = join(dir, 'labels.jsonl');
      // Progress lines: on stdout beside tables, on stderr when stdout carries a data format.
      const say = (s: string) => (opts.format === 'table' ? process.stdout : process.stderr).write(`${s}\n`);
      say(`1/4 emulating a VPC for ${opts.duration} with ${DEMO_SCENARIOS.length - 1} incidents → ${out} (ground truth: ${labels})`);
      const e = await emulate({ scenarios: [...DEMO_SCENARIOS], duration, start, seed: Number(opts.seed), out, labels });
      say(`    ${e.records} records in ${e.files} objects (${e.seconds.toFixed(1)}s)`);
      const db = opts.db ? resolve(opts.db) : join(dir, 'store');
      say(`2/4 ingesting into ${db}, enriched with the emulated VPC's topology as the inventory`);
      const s = await ingestPaths([out], { db, inventory: DEFAULT_TOPOLOGY_PATH });
      say(`    ${s.records} records in ${s.seconds}s (${s.ok} OK, ${s.nodata} NODATA, ${s.skipdata} SKIPDATA, ${s.quarantined} quarantined; rollups ${s.rollup_seconds}s)`);
      say('3/4 asking the store');
      const store = await openStore(db);
      try {
        for (const q of QUESTIONS) {
          say(`\n## ${q.title}\n$ flowlens query --db ${db} '${q.query}'`);
          show(q.title, await runInsights(store, q.query), q.query);
        }
      } finally {
        await store.close();
      }
      say('\n4/4 detecting (every built-in rule over the whole run)');
      const { runDetection } = await import('../detect/index.ts');
      const alerts = await runDetection({ db, from: start, to: start + duration + 600 });
      const byRule = new Map<string, { severity: string; n: number }>();
      for (const a of alerts) {
        const r = byRule.get(a.rule_id) ?? { severity: a.severity, n: 0 };
        r.n++;
        byRule.set(a.rule_id, r);
      }
      const rows = [...byRule].sort((a, b) => b[1].n - a[1].n).map(([rule, r]) => [rule, r.severity, r.n]);
      show('Alerts by rule', { columns: ['rule', 'severity', 'alerts'], rows });
      printResults(results, opts.format, { store: db, labels, records: s.records, alerts: alerts.length });
      say(`    ${alerts.length} alerts; the incidents the emulator staged are in ${labels}`);
      say(`\nTry your own: npx flowlens query --db ${db} 'fields @timestamp, srcAddr, dstAddr, action | limit 20'`);
      say(`             npx flowlens sql --db ${db} "SELECT * FROM vpc_flow_logs LIMIT 10"`);
      say(`             npx flowlens detect --db ${db} --list --state open`);
      if (!opts.serve) return;
      const { startServer } = await import('../server/index.ts');
      let server;
      try {
        server = await startServer({ db, port: Number(opts.port) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UserError(`port ${opts.port} is in use; pass another --port (0 picks a free one), or --no-serve`, { cause: err });
        throw err;
      }
      say(`\nDashboard: ${server.url}/  (on-call, debug and executive views; Ctrl-C stops it)`);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}

/**
 * The demo's answers in a data format (the table format printed them as it went): json one
 * object, ndjson one object per answer, csv one block per answer after a `# title` line.
 */
function printResults(results: { title: string; query?: string; rs: ResultSet }[], format: OutputFormat, about: Record<string, unknown>): void {
  const objects = results.map((r) => ({ title: r.title, ...(r.query ? { query: r.query } : {}), rows: r.rs.rows.map((row) => rowObject(r.rs.columns, row)) }));
  if (format === 'json') process.stdout.write(JSON.stringify({ ...about, answers: objects }) + '\n');
  else if (format === 'ndjson') for (const o of objects) process.stdout.write(JSON.stringify(o) + '\n');
  else if (format === 'csv') process.stdout.write(results.map((r) => `# ${r.title}\n${renderResult(r.rs, 'csv')}`).join('\n'));
}
