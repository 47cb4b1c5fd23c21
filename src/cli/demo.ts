import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_TOPOLOGY_PATH, emulate } from '../fabric/index.ts';
import { ingestPaths } from '../ingest/index.ts';
import { runInsights } from '../query/index.ts';
import { openStore } from '../store/index.ts';
import { renderResult } from './output.ts';
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
    .action(async (opts: { dir: string; duration: string; seed: string; serve: boolean; port: string }) => {
      const dir = resolve(opts.dir);
      rmSync(dir, { recursive: true, force: true });
      const duration = parseDuration(opts.duration);
      // The emulated time ends now, so "the last 30 minutes" on the dashboard shows the incidents.
      const start = minuteFloor(Math.floor(Date.now() / 1000) - duration);
      const out = join(dir, 'bucket');
      const labels = join(dir, 'labels.jsonl');
      const say = (s: string) => process.stdout.write(`${s}\n`);
      say(`1/4 emulating a VPC for ${opts.duration} with ${DEMO_SCENARIOS.length - 1} incidents → ${out} (ground truth: ${labels})`);
      const e = await emulate({ scenarios: [...DEMO_SCENARIOS], duration, start, seed: Number(opts.seed), out, labels });
      say(`    ${e.records} records in ${e.files} objects (${e.seconds.toFixed(1)}s)`);
      const db = join(dir, 'store');
      say(`2/4 ingesting into ${db}, enriched with the emulated VPC's topology as the inventory`);
      const s = await ingestPaths([out], { db, inventory: DEFAULT_TOPOLOGY_PATH });
      say(`    ${s.records} records in ${s.seconds}s (${s.ok} OK, ${s.nodata} NODATA, ${s.skipdata} SKIPDATA, ${s.quarantined} quarantined; rollups ${s.rollup_seconds}s)`);
      say('3/4 asking the store');
      const store = await openStore(db);
      try {
        for (const q of QUESTIONS) {
          say(`\n## ${q.title}\n$ flowlens query --db ${db} '${q.query}'`);
          process.stdout.write(renderResult(await runInsights(store, q.query), 'table'));
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
      process.stdout.write(renderResult({ columns: ['rule', 'severity', 'alerts'], rows }, 'table'));
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
