import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ingestPaths } from '../ingest/index.ts';
import { writeSyntheticV2 } from '../ingest/sample.ts';
import { openStore } from '../store/index.ts';
import { renderResult } from './output.ts';

/** The questions the demo answers, as a user would type them. */
const QUESTIONS: { title: string; sql: string }[] = [
  {
    title: 'Who is rejected most? (top REJECT sources)',
    sql: `SELECT srcaddr, count(*) AS rejects, count(DISTINCT dstport) AS ports FROM flows WHERE action = 'REJECT' GROUP BY srcaddr ORDER BY rejects DESC LIMIT 5`,
  },
  {
    title: 'What sends the most bytes? (top talkers)',
    sql: `SELECT srcaddr, dstaddr, sum(bytes) AS bytes FROM flows GROUP BY ALL ORDER BY bytes DESC LIMIT 5`,
  },
  {
    title: 'SSH rejected (the Athena example, unchanged, on vpc_flow_logs)',
    sql: `SELECT srcaddr, dstaddr, dstport, action, SUM(bytes) AS total_bytes FROM vpc_flow_logs WHERE action = 'REJECT' AND dstport = 22 GROUP BY srcaddr, dstaddr, dstport, action ORDER BY total_bytes DESC LIMIT 5`,
  },
  { title: 'Logging health (NODATA / SKIPDATA)', sql: `SELECT log_status, count(*) AS records FROM flows GROUP BY ALL ORDER BY records DESC` },
];

/** `flowlens demo`: make a sample, ingest it, and answer the first questions people ask. */
export function define(cmd: Command): void {
  cmd
    .option('--dir <dir>', 'where the demo writes its logs and store', './flowlens-demo')
    .option('--records <n>', 'records to generate', '200000')
    .action(async (opts: { dir: string; records: string }) => {
      const dir = resolve(opts.dir);
      rmSync(dir, { recursive: true, force: true });
      const logs = join(dir, 'AWSLogs', '123456789012', 'vpcflowlogs', 'us-east-1', '2023', '11', '14');
      mkdirSync(logs, { recursive: true });
      const records = Number(opts.records);
      process.stdout.write(`1/3 generating ${records} flow log records (AWS S3 layout) under ${join(dir, 'AWSLogs')}\n`);
      await writeSyntheticV2(join(logs, '123456789012_vpcflowlogs_us-east-1_fl-0demo_20231114T2210Z_0001.log.gz'), records);
      const db = join(dir, 'store');
      process.stdout.write(`2/3 ingesting into ${db}\n`);
      const s = await ingestPaths([join(dir, 'AWSLogs')], { db });
      process.stdout.write(`    ${s.records} records in ${s.seconds}s (${s.ok} OK, ${s.nodata} NODATA, ${s.quarantined} quarantined)\n`);
      process.stdout.write('3/3 asking the store\n');
      const store = await openStore(db);
      try {
        for (const q of QUESTIONS) {
          process.stdout.write(`\n## ${q.title}\n$ flowlens sql --db ${db} "${q.sql}"\n`);
          process.stdout.write(renderResult(await store.query(q.sql), 'table'));
        }
      } finally {
        await store.close();
      }
      process.stdout.write(`\nTry your own: npx flowlens sql --db ${db} "SELECT * FROM vpc_flow_logs LIMIT 10"\n`);
    });
}
