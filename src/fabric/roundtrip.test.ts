import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ingestPaths } from '../ingest/index.ts';
import { openStore } from '../store/index.ts';
import type { Delivery } from './config.ts';
import { emulate } from './emulate.ts';
import { TINY } from './test-helpers.ts';

const FORMAT = '${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${tcp-flags} ${flow-direction} ${traffic-path} ${reject-reason}';
const KEY = ['interface_id', 'srcaddr', 'dstaddr', 'srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end', 'action', 'log_status', 'tcp_flags', 'flow_direction', 'traffic_path', 'reject_reason'];

/** The records of the .log.gz objects a run wrote, as sorted key strings. */
function recordsOf(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const [head, ...lines] = gunzipSync(readFileSync(p)).toString('latin1').trimEnd().split('\n');
    const names = head.split(' ').map((f) => f.replace(/-/g, '_'));
    for (const l of lines) {
      const v = Object.fromEntries(l.split(' ').map((x, i) => [names[i], x]));
      out.push(KEY.map((k) => v[k] ?? '-').join(' '));
    }
  }
  return out.sort();
}

describe('round trip: fabric → files → flowlens ingest → the same rows', () => {
  const deliveries: Delivery[] = ['s3', 's3-hive', 'parquet', 'cloudwatch', 'cloudwatch-subscription'];
  for (const delivery of deliveries) {
    it(delivery, async () => {
      const base = { topology: TINY, scenarios: ['web-app', 'ssh-brute-force', 'blackhole'], duration: 900, seed: 5, scale: 0.05, logFormat: FORMAT };
      const ref = mkdtempSync(join(tmpdir(), 'flowlens-rt-ref-'));
      const expected = recordsOf((await emulate({ ...base, out: ref, delivery: 's3' })).paths);
      const out = mkdtempSync(join(tmpdir(), `flowlens-rt-${delivery}-`));
      const r = await emulate({ ...base, out, delivery });
      const db = join(out, 'store');
      // CloudWatch events carry no header line: ingest is told the format, as a user would.
      const s = await ingestPaths([join(out, delivery.startsWith('cloudwatch') ? delivery : 'AWSLogs')], { db, logFormat: delivery.startsWith('cloudwatch') ? FORMAT : undefined });
      expect(s.quarantined).toBe(0);
      expect(s.records).toBe(r.records);
      const store = await openStore(db);
      try {
        const rs = await store.query(`SELECT ${KEY.map((k) => `"${k}"`).join(', ')} FROM flows`);
        const got = rs.rows.map((row) => row.map((v) => (v === null || v === undefined ? '-' : String(v))).join(' ')).sort();
        expect(got).toEqual(expected);
      } finally {
        await store.close();
      }
    });
  }
});
