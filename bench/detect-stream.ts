/**
 * Benchmark: streaming detection behind live ingest. Emulates web-app traffic with attacks,
 * then replays the delivered objects, oldest first, as `POST /ingest/lines` requests to a real
 * `flowlens serve` (streaming detection on, every built-in rule) at a steady rate, and reads
 * the server's own histogram `flowlens_detection_latency_seconds` (a request received → every
 * rule has evaluated its records: the longest an alert those records raise can wait). Prints
 * p50/p95/max-bucket, the rate sustained, and the alerts raised. Target (DESIGN.md): p95 < 2 s.
 *
 *   npm run bench:detect-stream -- [--rate 5000] [--duration 1h] [--lines 2000] [--seed 1]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { durationSeconds } from '../src/detect/rule-schema.ts';
import { emulate } from '../src/fabric/index.ts';
import { startServer } from '../src/server/index.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const rate = Number(arg('rate', '5000'));
const duration = durationSeconds(arg('duration', '1h'));
const perRequest = Number(arg('lines', '2000'));
const seed = Number(arg('seed', '1'));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.log.gz') ? [p] : [];
  });
}

/** Quantile from a Prometheus histogram's cumulative buckets, linear within a bucket. */
function quantile(buckets: [number, number][], q: number): number {
  const total = buckets.at(-1)![1];
  const want = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const [le, n] of buckets) {
    if (n >= want) return le === Infinity ? prevLe : prevLe + ((want - prevN) / Math.max(1, n - prevN)) * (le - prevLe);
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}

const dir = await mkdtemp(join(tmpdir(), 'flowlens-bench-stream-'));
const out = join(dir, 'bucket');
const em = await emulate({ scenarios: ['web-app', 'ssh-brute-force', 'port-scan-vertical', 'ddos', 'crypto-mining'], duration, seed, out });
// Objects in delivery order: the key's timestamp (yyyymmddThhmmZ), then its name.
const objects = files(out).sort((a, b) => (a.match(/_(\d{8}T\d{4}Z)_/)?.[1] ?? '').localeCompare(b.match(/_(\d{8}T\d{4}Z)_/)?.[1] ?? '') || a.localeCompare(b));
const requests: string[] = [];
for (const f of objects) {
  const text = gunzipSync(readFileSync(f)).toString('utf8');
  const lines = text.split('\n').filter(Boolean);
  const [header, ...rows] = lines;
  for (let i = 0; i < rows.length; i += perRequest) requests.push([header, ...rows.slice(i, i + perRequest)].join('\n') + '\n');
}

const server = await startServer({ db: join(dir, 'store'), port: 0 });
const t0 = performance.now();
let sent = 0;
const alerts = new Map<string, number>();
const poll = setInterval(() => {
  void fetch(`${server.url}/api/findings`)
    .then((r) => r.json() as Promise<{ findings?: { id: string }[] }>)
    .then((b) => {
      for (const a of b.findings ?? []) if (!alerts.has(a.id)) alerts.set(a.id, performance.now());
    })
    .catch(() => undefined);
}, 500);
for (const body of requests) {
  const lines = body.split('\n').length - 2;
  // Steady arrival: each request leaves when the rate says its records are due.
  const due = t0 + (sent / rate) * 1000;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  for (;;) {
    const res = await fetch(`${server.url}/ingest/lines`, { method: 'POST', body });
    if (res.status !== 429) {
      if (!res.ok) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  sent += lines;
}
const sendS = (performance.now() - t0) / 1000;
// Let the last pass finish: every commit evaluated (the histogram counts one per commit),
// or its count still for 30 s.
let last = -1;
let still = 0;
let metrics = '';
for (;;) {
  await new Promise((r) => setTimeout(r, 1000));
  metrics = await (await fetch(`${server.url}/metrics`)).text();
  const count = Number(metrics.match(/^flowlens_detection_latency_seconds_count (\S+)/m)?.[1] ?? 0);
  // One series per ingest route: their sum.
  const commits = [...metrics.matchAll(/^flowlens_ingest_records_stored_total\{[^}]*\} (\S+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  still = count === last ? still + 1 : 0;
  last = count;
  process.stderr.write(`evaluated commits ${count}, stored records ${commits}\n`);
  if (count >= requests.length || still >= 30) break;
}
clearInterval(poll);
const buckets = [...metrics.matchAll(/^flowlens_detection_latency_seconds_bucket\{le="([^"]+)"\} (\S+)/gm)].map((m) => [m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])] as [number, number]);
const fbody = (await (await fetch(`${server.url}/api/findings`)).json()) as { findings: { id: string; family: string; rule_id: string }[]; detection_error?: string };
if (fbody.detection_error) process.stderr.write(`detection error: ${fbody.detection_error}\n`);
const findings = fbody.findings;
await server.close();
await rm(dir, { recursive: true, force: true });

const fmt = (x: number) => x.toFixed(2);
process.stdout.write(
  `streaming detection: ${em.records.toLocaleString('en-US')} records (${duration / 3600} h emulated, ${em.labels.length} incidents) in ${requests.length} requests of <= ${perRequest} lines, ` +
    `sent at ${Math.round(sent / sendS).toLocaleString('en-US')} records/s (asked ${rate.toLocaleString('en-US')}) over ${fmt(sendS)} s\n` +
    `request received -> every rule evaluated, over ${last} commits: p50 ${fmt(quantile(buckets, 0.5))} s, p95 ${fmt(quantile(buckets, 0.95))} s (target < 2 s)\n` +
    `alerts: ${findings.length} (${[...new Set(findings.map((f) => f.rule_id))].sort().map((id) => `${id} ${findings.filter((f) => f.rule_id === id).length}`).join(', ')})\n`,
);
