import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { emulate } from '../fabric/index.ts';
import { ingestPaths } from '../ingest/index.ts';
import { createStreamingDetector, listAlerts, runDetection, setAlertState, type Alert } from './index.ts';

/** The rules these tests need (all 26 would make them slow): thresholds, and a baseline rule. */
const RULES = ['ssh-brute-force-inbound', 'port-scan', 'unusual-port'];

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `flowlens-detect-${p}-`));

/** What must agree between batch and streaming (timestamps of writing aside). */
const facts = (as: Alert[]) =>
  as
    .map(({ id, rule_id, actors, targets, enis, first_seen, last_seen, count, incident_id, windows }) => ({ id, rule_id, actors, targets, enis, first_seen, last_seen, count, incident_id, windows }))
    .sort((a, b) => a.id.localeCompare(b.id));

describe('detection on an emulated SSH brute force', () => {
  let out: string;
  let labels: Awaited<ReturnType<typeof emulate>>['labels'];
  beforeAll(async () => {
    out = tmp('fabric');
    const r = await emulate({ scenarios: ['web-app', 'ssh-brute-force', 'port-scan-vertical'], duration: 5400, seed: 3, out: join(out, 'logs') });
    labels = r.labels;
  });

  it('batch finds the attackers, and the alert lifecycle is kept in the store', async () => {
    const db = join(tmp('batch'), 'store');
    await ingestPaths([join(out, 'logs')], { db });
    const alerts = await runDetection({ db, ruleIds: RULES });
    const ssh = labels.find((l) => l.kind === 'ssh-brute-force')!;
    const found = alerts.filter((a) => a.family === 'ssh-brute-force');
    expect(found.length).toBeGreaterThan(0);
    for (const a of found) expect(ssh.actors).toEqual(expect.arrayContaining(a.actors));
    const scan = alerts.filter((a) => a.family === 'port-scan');
    expect(scan.map((a) => a.actors[0])).toEqual(labels.find((l) => l.kind === 'port-scan')!.actors);
    for (const a of alerts) {
      expect(a.state).toBe('open');
      expect(a.first_seen).toBeLessThanOrEqual(a.last_seen);
      expect(a.enis.length).toBeGreaterThan(0);
      expect(a.incident_id).toMatch(/^inc-/);
    }
    // Related findings (same attackers, same victim) share an incident.
    const incidents = new Set(found.map((a) => a.incident_id));
    expect(incidents.size).toBeLessThan(found.length + 1);

    const acked = await setAlertState(db, found[0].id, 'acknowledged', 'on it');
    expect(acked?.state).toBe('acknowledged');
    expect(await setAlertState(db, 'al-nope', 'resolved')).toBeUndefined();
    // A second run keeps people's decisions and adds no duplicates.
    const again = await runDetection({ db, ruleIds: RULES });
    expect(facts(again)).toEqual(facts(alerts));
    expect(again.find((a) => a.id === found[0].id)?.state).toBe('acknowledged');
    expect((await listAlerts(db, { state: 'acknowledged' })).map((a) => a.id)).toEqual([found[0].id]);
    expect((await listAlerts(db, { severity: 'critical' })).every((a) => a.severity === 'critical')).toBe(true);
  }, 120_000);

  it('streaming during ingest (small chunks) gives the same alerts as batch afterwards', async () => {
    const streamDb = join(tmp('stream'), 'store');
    const errors: unknown[] = [];
    const d = createStreamingDetector({ db: streamDb, ruleIds: RULES, onError: (e) => errors.push(e) });
    // The JS parser commits small chunks, so detection sees the data arrive piecemeal.
    await ingestPaths([join(out, 'logs')], { db: streamDb, batchRows: 20_000, concurrency: 1, onCommit: (c) => d.onCommit(c) });
    await d.stop();
    expect(errors).toEqual([]);
    expect(d.stats.commits).toBeGreaterThan(3);
    const streamed = await listAlerts(streamDb);
    const batchDb = join(tmp('batch2'), 'store');
    await ingestPaths([join(out, 'logs')], { db: batchDb });
    const batch = await runDetection({ db: batchDb, ruleIds: RULES });
    expect(streamed.length).toBeGreaterThan(0);
    expect(facts(streamed)).toEqual(facts(batch));
    expect(readdirSync(join(streamDb, 'alerts'))).toEqual(expect.arrayContaining(['alerts.jsonl', 'findings.json']));
  }, 180_000);

  it('commits that reach the detector after their files were loaded lose nothing: live alerts equal batch before stop', async () => {
    const db = join(tmp('stream-early'), 'store');
    const commits: Parameters<ReturnType<typeof createStreamingDetector>['onCommit']>[0][] = [];
    await ingestPaths([join(out, 'logs')], { db, batchRows: 20_000, concurrency: 1, onCommit: (c) => void commits.push(c) });
    expect(commits.length).toBeGreaterThan(3);
    const thresholds = RULES.filter((r) => r !== 'unusual-port');
    const errors: unknown[] = [];
    const d = createStreamingDetector({ db, ruleIds: thresholds, onError: (e) => errors.push(e) });
    // Every file is on disk when the first commit arrives, so its pass loads them all and the
    // later commits' passes find nothing new: the first must evaluate what it loaded.
    for (const c of commits) {
      await d.onCommit(c);
      await d.idle();
    }
    expect(errors).toEqual([]);
    const live = await listAlerts(db);
    await d.stop();
    const batchDb = join(tmp('batch-early'), 'store');
    await ingestPaths([join(out, 'logs')], { db: batchDb });
    const batch = await runDetection({ db: batchDb, ruleIds: thresholds });
    expect(batch.length).toBeGreaterThan(1);
    expect(facts(live)).toEqual(facts(batch));
  }, 180_000);

  it('streaming over a store that already holds records, with objects arriving out of order, equals batch for every built-in rule', async () => {
    const objects = listFiles(join(out, 'logs')).sort();
    const half = Math.floor(objects.length / 2);
    const streamDb = join(tmp('stream-late'), 'store');
    // The first half is in the store before the detector starts (its files are nobody's commits).
    await ingestPaths(objects.slice(0, half), { db: streamDb });
    const errors: unknown[] = [];
    // Aggregates kept only two windows back and pruned every window: older late records come
    // back from the files.
    const d = createStreamingDetector({ db: streamDb, onError: (e) => errors.push(e), retention: { lateSlack: 0, pruneStep: 600 } });
    // The rest arrives newest object first, so later commits carry older records.
    for (const f of objects.slice(half).reverse()) await ingestPaths([f], { db: streamDb, batchRows: 20_000, concurrency: 1, onCommit: (c) => d.onCommit(c) });
    await d.stop();
    expect(errors).toEqual([]);
    const batchDb = join(tmp('batch3'), 'store');
    await ingestPaths([join(out, 'logs')], { db: batchDb });
    const batch = await runDetection({ db: batchDb });
    expect(batch.length).toBeGreaterThan(3);
    expect(facts(await listAlerts(streamDb))).toEqual(facts(batch));
  }, 240_000);
});

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('finding details', () => {
  it("a flood's alert counts every source and lists the first 50 in order", async () => {
    const dir = tmp('flood');
    const t0 = 1700000400;
    // 320 internet sources (out of order) each send one short flow to one web server in 10 minutes.
    const sources = Array.from({ length: 320 }, (_, i) => `198.51.${100 + (i % 4)}.${(i * 37) % 250 + 1}`).filter((x, i, a) => a.indexOf(x) === i);
    const lines = sources.map((src, i) => `2 123456789012 eni-0web00000000000001 ${src} 10.0.0.10 ${40000 + i} 80 6 1 40 ${t0 + (i % 500)} ${t0 + (i % 500) + 30} ACCEPT OK`);
    writeFileSync(join(dir, 'flood.log'), ['version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status', ...lines].join('\n') + '\n');
    const db = join(dir, 'store');
    await ingestPaths([join(dir, 'flood.log')], { db });
    const [alert, ...rest] = await runDetection({ db, ruleIds: ['ddos-inbound'] });
    expect(rest).toEqual([]);
    expect(alert.targets).toEqual(['10.0.0.10']);
    expect(alert.actor_count).toBe(sources.length);
    expect(alert.actors).toEqual([...sources].sort().slice(0, 50));
    expect(alert.enis).toEqual(['eni-0web00000000000001']);
  }, 60_000);
});
