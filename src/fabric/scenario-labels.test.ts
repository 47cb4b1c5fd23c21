import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_START } from './config.ts';
import { emulate } from './emulate.ts';
import type { Label } from './scenarios/index.ts';

type Rec = Record<string, string>;

/** Emulates the default topology and reads back every record it wrote (fields by header name). */
async function run(scenarios: string[], duration: number, seed = 1): Promise<{ labels: Label[]; records: Rec[] }> {
  const out = join(mkdtempSync(join(tmpdir(), 'flowlens-labels-')), 'logs');
  const r = await emulate({ scenarios, duration, seed, out });
  const records: Rec[] = [];
  for (const p of r.paths) {
    const [head, ...lines] = gunzipSync(readFileSync(p)).toString('latin1').trimEnd().split('\n');
    const names = head.split(' ');
    for (const l of lines) records.push(Object.fromEntries(l.split(' ').map((x, i) => [names[i], x])));
  }
  return { labels: r.labels, records };
}

const HOUR = 3600;
const num = (r: Rec, f: string) => Number(r[f]);

describe('scenario labels', () => {
  it("nacl-blocks-return names every interface of the subnet, the web tier's too", async () => {
    const { labels } = await run(['nacl-blocks-return'], 1200);
    const l = labels.find((x) => x.kind === 'nacl-blocks-return')!;
    // Default topology: web-1, web-2, app-1 and app-2 share subnet 10.0.10.0/24; all lose replies.
    expect([...l.actors].sort()).toEqual(['10.0.10.11', '10.0.10.12', '10.0.10.21', '10.0.10.22']);
    expect(l.enis).toHaveLength(4);
  }, 60_000);

  it('winrm-brute-force: the Windows host accepts WinRM only once its security group is opened, and only the labelled guessers come', async () => {
    const { labels, records } = await run(['winrm-brute-force'], 3600);
    const l = labels.find((x) => x.kind === 'winrm-brute-force')!;
    expect(l.victims).toEqual(['192.0.2.40']);
    const winrm = records.filter((r) => r['interface-id'] === 'eni-0a1b2c3d4e5f60004' && ['5985', '5986'].includes(r.dstport));
    const accepted = winrm.filter((r) => r.action === 'ACCEPT');
    expect(accepted.length).toBeGreaterThan(500);
    expect(new Set(accepted.map((r) => r.srcaddr))).toEqual(new Set(l.actors));
    // Most guesses go to WinRM over HTTP, some over HTTPS.
    expect(accepted.filter((r) => r.dstport === '5986').length).toBeGreaterThan(accepted.length / 10);
    expect(Math.min(...accepted.map((r) => num(r, 'start')))).toBeGreaterThanOrEqual(l.start);
    // The other public hosts' security groups still reject the same guesses.
    expect(records.some((r) => r['interface-id'] === 'eni-0a1b2c3d4e5f60003' && r.dstport === '5985' && r.action === 'REJECT')).toBe(true);
  }, 60_000);

  it('backup-runaway: after two quiet hours one clock hour carries over a gigabyte to the bucket the host always used', async () => {
    const { labels, records } = await run(['backup-runaway'], 3 * HOUR);
    const l = labels.find((x) => x.kind === 'unusual-volume')!;
    expect(l.start).toBeGreaterThanOrEqual(DEFAULT_START + 2 * HOUR);
    const hour = Math.floor(l.start / HOUR) * HOUR;
    expect(l.end).toBeLessThanOrEqual(hour + HOUR);
    const out = records.filter((r) => r['interface-id'] === l.enis[0] && r.srcaddr === l.actors[0] && r['log-status'] === 'OK');
    const bytesIn = (from: number, to: number) => out.filter((r) => num(r, 'start') >= from && num(r, 'start') < to).reduce((a, r) => a + num(r, 'bytes'), 0);
    const before = [bytesIn(DEFAULT_START, DEFAULT_START + HOUR), bytesIn(DEFAULT_START + HOUR, DEFAULT_START + 2 * HOUR)];
    for (const b of before) expect(b).toBeGreaterThan(30e6);
    expect(bytesIn(hour, hour + HOUR)).toBeGreaterThan(1e9);
    // Every destination, in the runaway hour too, is one of the two bucket addresses used from the start.
    expect(new Set(out.map((r) => r.dstaddr))).toEqual(new Set(l.victims));
    expect(new Set(out.filter((r) => num(r, 'start') < DEFAULT_START + HOUR).map((r) => r.dstaddr))).toEqual(new Set(l.victims));
  }, 120_000);

  it('peer-route-removed: calls to the peered service are answered before the change and SYN-only (1-2 packets) after', async () => {
    const { labels, records } = await run(['peer-route-removed'], 2400);
    const l = labels.find((x) => x.kind === 'connect-timeouts')!;
    expect(l.victims).toEqual(['172.31.0.10']);
    const calls = records.filter((r) => l.actors.includes(r.srcaddr) && r.dstaddr === '172.31.0.10' && r['flow-direction'] === 'egress');
    const before = calls.filter((r) => num(r, 'end') < l.start);
    const after = calls.filter((r) => num(r, 'start') >= l.start + 60);
    expect(before.length).toBeGreaterThan(20);
    expect(after.length).toBeGreaterThan(20);
    for (const r of before) expect(num(r, 'tcp-flags') & 1).toBe(1);
    for (const r of after) expect([r.action, r['tcp-flags'], num(r, 'packets') <= 2]).toEqual(['ACCEPT', '2', true]);
  }, 60_000);

  it('worker-crash: three hours of steady jobs, then only NODATA on its interface', async () => {
    const { labels, records } = await run(['worker-crash'], 4.5 * HOUR);
    const l = labels.find((x) => x.kind === 'nodata-gap')!;
    expect(l.start).toBeGreaterThanOrEqual(DEFAULT_START + 3 * HOUR);
    const own = records.filter((r) => r['interface-id'] === l.enis[0]);
    for (let h = 0; h < 3; h++) {
      const ok = own.filter((r) => r['log-status'] === 'OK' && r.action === 'ACCEPT' && Math.floor((num(r, 'start') - DEFAULT_START) / HOUR) === h);
      expect(ok.length).toBeGreaterThan(100);
    }
    const late = own.filter((r) => num(r, 'start') >= l.start + 600);
    expect(late.length).toBeGreaterThan(0);
    expect(new Set(late.map((r) => r['log-status']))).toEqual(new Set(['NODATA']));
  }, 120_000);

  it('flow-log-overload: SKIPDATA on the interface in every window of the crawl and none outside it, at most its capacity of records', async () => {
    const { labels, records } = await run(['flow-log-overload'], 2 * HOUR);
    const l = labels.find((x) => x.kind === 'skipdata')!;
    const own = records.filter((r) => r['interface-id'] === l.enis[0]);
    const skip = own.filter((r) => r['log-status'] === 'SKIPDATA').map((r) => num(r, 'start'));
    expect(skip.length).toBeGreaterThanOrEqual(2);
    // Instances are Nitro: 60 s windows.
    for (const t of skip) expect(t + 60 > l.start && t < l.end).toBe(true);
    const perWindow = new Map<number, number>();
    for (const r of own) if (r['log-status'] === 'OK') perWindow.set(Math.floor(num(r, 'start') / 60), (perWindow.get(Math.floor(num(r, 'start') / 60)) ?? 0) + 1);
    // The default topology gives spare-1 a capacity of 200 records a window; the crawl fills it.
    expect(Math.max(...perWindow.values())).toBe(200);
  }, 120_000);

  it('c2-beacon: the labelled (threat-listed) addresses are what the host calls, about once a minute', async () => {
    const { labels, records } = await run(['c2-beacon'], 3600);
    const l = labels.find((x) => x.kind === 'threat-list-contact')!;
    expect(l.victims).toHaveLength(2);
    const calls = records.filter((r) => r['interface-id'] === l.enis[0] && r.srcaddr === l.actors[0] && r['log-status'] === 'OK');
    expect(new Set(calls.map((r) => r.dstaddr))).toEqual(new Set(l.victims));
    const beacons = calls.filter((r) => r.dstaddr === l.victims[0]);
    expect(beacons.length).toBeGreaterThan(((l.end - l.start) / 75) * 0.9);
  }, 60_000);
});
