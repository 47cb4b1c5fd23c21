import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { emulate } from '../fabric/index.ts';
import { ingestPaths } from '../ingest/index.ts';
import { runInsights } from '../query/index.ts';
import { openStore } from '../store/index.ts';
import { renderResult } from './output.ts';
import { parseDuration } from './emulate.ts';

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
 * `flowlens demo`: emulate a VPC that lives through several incidents, ingest what it wrote,
 * answer the first questions people ask, then detect and serve the dashboard.
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
      say(`2/4 ingesting into ${db}`);
      const s = await ingestPaths([out], { db });
      say(`    ${s.records} records in ${s.seconds}s (${s.ok} OK, ${s.nodata} NODATA, ${s.skipdata} SKIPDATA, ${s.quarantined} quarantined)`);
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
      say(`\nTry your own: npx flowlens query --db ${db} 'fields @timestamp, srcAddr, dstAddr, action | limit 20'`);
      say(`             npx flowlens sql --db ${db} "SELECT * FROM vpc_flow_logs LIMIT 10"`);
    });
}
