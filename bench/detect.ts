/**
 * Benchmark: detection quality against the fabric's ground truth, and detection speed.
 *
 * For every attack scenario × seed: emulate it beside normal web traffic (`web-app`), ingest,
 * run batch detection with the built-in rules, and match alerts to the scenario's labels:
 * same family (FAMILIES below), overlapping time, and a shared address (actor or target in
 * the label's actors or victims) or interface. Prints precision and recall per rule family,
 * the alerts on a long normal-only run (`web-app`, 24 h by default), and records/s of
 * detection next to records/s of ingest on the same data. A scenario with a `minDuration`
 * (an incident a baseline must learn hours of history for) runs at least that long. Every
 * run's detection reads a threat list (`<db>/detect.yaml`, `threatList:`) naming the
 * addresses the run's threat-list labels name.
 *
 *   npm run bench:detect -- [--seeds 3] [--duration 3h] [--baseline 24h] [--scenario NAME]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runDetection, type Alert } from '../src/detect/index.ts';
import { durationSeconds } from '../src/detect/rule-schema.ts';
import { emulate, SCENARIOS, type Label } from '../src/fabric/index.ts';
import { ingestPaths } from '../src/ingest/index.ts';

/**
 * Which labels each family is meant to find (recall counts these) and which other labels its
 * alerts may legitimately match (the same incident seen from another angle: an outbound SSH
 * brute force is also a port sweep; a security-group change that rejects the app's
 * connections also leaves them timing out). An alert matching neither is a false positive.
 */
const FAMILIES: Record<string, { finds: string[]; related?: string[] }> = {
  'port-scan': { finds: ['port-scan'] },
  'port-sweep': { finds: ['port-sweep'], related: ['ssh-brute-force-outbound', 'spam-bot'] },
  'slow-scan': { finds: ['slow-scan'], related: ['port-scan'] },
  'unprotected-port-probe': { finds: [], related: ['port-scan', 'slow-scan', 'ssh-brute-force', 'rdp-brute-force', 'winrm-brute-force'] },
  'ssh-brute-force': { finds: ['ssh-brute-force'] },
  'rdp-brute-force': { finds: ['rdp-brute-force'] },
  'winrm-brute-force': { finds: ['winrm-brute-force'] },
  'brute-force-outbound': { finds: ['ssh-brute-force-outbound'] },
  'ddos-inbound': { finds: ['ddos'], related: ['bpa-enabled'] },
  'dos-outbound': { finds: ['dos-outbound'] },
  'spam-bot': { finds: ['spam-bot'] },
  'crypto-mining': { finds: ['crypto-mining'] },
  exfiltration: { finds: ['data-exfiltration'] },
  'unusual-volume': { finds: ['unusual-volume'], related: ['data-exfiltration', 'dos-outbound'] },
  'egress-burn-rate': { finds: [], related: ['data-exfiltration', 'dos-outbound'] },
  'unusual-port': { finds: [], related: ['crypto-mining', 'spam-bot', 'ssh-brute-force-outbound', 'dos-outbound', 'port-sweep', 'blackhole-traffic'] },
  blackhole: { finds: ['blackhole-traffic'], related: ['nacl-blocks-return', 'sg-change-breaks-app-db', 'connect-timeouts'] },
  // A flood the security group rejects is a REJECT spike from many sources too (the mirror of
  // ddos-inbound's bpa-enabled).
  'reject-spike': { finds: ['sg-change-breaks-app-db', 'nacl-blocks-return', 'bpa-enabled'], related: ['ddos'] },
  timeouts: { finds: ['connect-timeouts'], related: ['sg-change-breaks-app-db', 'nacl-blocks-return', 'blackhole-traffic'] },
  'nodata-gap': { finds: ['nodata-gap'] },
  skipdata: { finds: ['skipdata'] },
  'threat-list': { finds: ['threat-list-contact'] },
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function matches(a: Alert, l: Label): boolean {
  const slack = 600;
  if (a.last_seen < l.start - slack || a.first_seen > l.end + slack) return false;
  const people = new Set([...l.actors, ...l.victims]);
  const enis = new Set(l.enis);
  return a.actors.some((x) => people.has(x)) || a.targets.some((x) => people.has(x)) || a.enis.some((e) => enis.has(e));
}

interface Tally {
  tp: number;
  fp: number;
  labels: number;
  found: number;
  fpExamples: string[];
}

/**
 * The threat list every run's detection uses: the addresses the run's threat-list labels name
 * (what a feed would list for them) and a block of the feed the fabric never talks to.
 */
async function writeThreatList(db: string, labels: Label[]): Promise<void> {
  const listed = [...new Set(labels.filter((l) => l.kind === 'threat-list-contact').flatMap((l) => l.victims))];
  const file = join(db, 'threat-list.txt');
  await writeFile(file, ['# threat feed (bench)', ...listed.map((a) => `${a}  # c2`), '198.18.0.0/15  # listed block nothing in the fabric uses', ''].join('\n'));
  await writeFile(join(db, 'detect.yaml'), `threatList: ${JSON.stringify(file)}\n`);
}

async function runOne(scenarios: string[], seed: number, duration: number, dir: string) {
  const out = join(dir, `logs-${scenarios.join('+')}-${seed}`);
  const db = join(dir, `db-${scenarios.join('+')}-${seed}`);
  const em = await emulate({ scenarios, duration, seed, out });
  const t0 = performance.now();
  const ing = await ingestPaths([out], { db });
  const t1 = performance.now();
  await writeThreatList(db, em.labels);
  const t2 = performance.now();
  const alerts = await runDetection({ db });
  const t3 = performance.now();
  await rm(out, { recursive: true, force: true });
  await rm(db, { recursive: true, force: true });
  return { alerts, labels: em.labels, records: ing.records, ingestS: (t1 - t0) / 1000, detectS: (t3 - t2) / 1000 };
}

async function main() {
  const seeds = Number(arg('seeds', '3'));
  const duration = durationSeconds(arg('duration', '3h'));
  const baseline = durationSeconds(arg('baseline', '24h'));
  const only = arg('scenario', '');
  const dir = await mkdtemp(join(tmpdir(), 'flowlens-bench-detect-'));
  const tally = new Map<string, Tally>(Object.keys(FAMILIES).map((f) => [f, { tp: 0, fp: 0, labels: 0, found: 0, fpExamples: [] }]));
  const t = (f: string) => tally.get(f) ?? tally.set(f, { tp: 0, fp: 0, labels: 0, found: 0, fpExamples: [] }).get(f)!;
  let records = 0;
  let ingestS = 0;
  let detectS = 0;
  const attacks = [...SCENARIOS.keys()].filter((n) => n !== 'web-app' && (!only || n === only));
  // Scenarios whose incident needs hours of history run longer than --duration.
  const longer: string[] = [];
  for (const sc of attacks) {
    const dur = Math.max(duration, SCENARIOS.get(sc)!.minDuration ?? 0);
    if (dur > duration) longer.push(`${sc} ${dur / 3600} h`);
    for (let seed = 1; seed <= seeds; seed++) {
      const r = await runOne(['web-app', sc], seed, dur, dir);
      records += r.records;
      ingestS += r.ingestS;
      detectS += r.detectS;
      for (const [fam, def] of Object.entries(FAMILIES)) {
        for (const l of r.labels.filter((x) => def.finds.includes(x.kind))) {
          t(fam).labels++;
          if (r.alerts.some((a) => a.family === fam && matches(a, l))) t(fam).found++;
        }
      }
      for (const a of r.alerts) {
        const def = FAMILIES[a.family] ?? { finds: [] };
        const ok = r.labels.some((l) => (def.finds.includes(l.kind) || def.related?.includes(l.kind)) && matches(a, l));
        if (ok) t(a.family).tp++;
        else {
          t(a.family).fp++;
          if (t(a.family).fpExamples.length < 3) t(a.family).fpExamples.push(`${sc}#${seed}: ${a.title}`);
        }
      }
      process.stderr.write(`${sc} seed ${seed}: ${r.records} records, ${r.alerts.length} alerts, detect ${r.detectS.toFixed(1)} s\n`);
    }
  }
  const base = only ? undefined : await runOne(['web-app'], 1, baseline, dir);
  await rm(dir, { recursive: true, force: true });

  const pct = (x: number, n: number) => (n === 0 ? 'n/a' : x / n >= 0.9995 ? '1.00' : (x / n).toFixed(2));
  const lines = ['| family | labels | found | recall | alerts | true | false | precision |', '|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const [fam, x] of tally) lines.push(`| ${fam} | ${x.labels} | ${x.found} | ${pct(x.found, x.labels)} | ${x.tp + x.fp} | ${x.tp} | ${x.fp} | ${pct(x.tp, x.tp + x.fp)} |`);
  process.stdout.write(`\n${attacks.length} scenarios x ${seeds} seeds, ${duration / 3600} h each${longer.length ? ` (${longer.join(', ')})` : ''} beside web-app traffic\n\n${lines.join('\n')}\n`);
  for (const [fam, x] of tally) for (const e of x.fpExamples) process.stdout.write(`  false positive (${fam}) ${e}\n`);
  if (base) {
    const byFam = new Map<string, number>();
    for (const a of base.alerts) byFam.set(a.family, (byFam.get(a.family) ?? 0) + 1);
    process.stdout.write(`\nclean baseline (web-app only, ${baseline / 3600} h, ${base.records} records): ${base.alerts.length} alert(s)${byFam.size ? ': ' + [...byFam].map(([f, n]) => `${f} ${n}`).join(', ') : ''}\n`);
    for (const a of base.alerts.slice(0, 5)) process.stdout.write(`  ${a.rule_id}: ${a.title}\n`);
    records += base.records;
    ingestS += base.ingestS;
    detectS += base.detectS;
  }
  process.stdout.write(`\nspeed: ingest ${Math.round(records / ingestS).toLocaleString('en-US')} records/s, detection (all ${''}rules, batch) ${Math.round(records / detectS).toLocaleString('en-US')} records/s over ${records.toLocaleString('en-US')} records\n`);
}

await main();
