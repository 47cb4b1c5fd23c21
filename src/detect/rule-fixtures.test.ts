import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestPaths } from '../ingest/index.ts';
import { DetectConfig } from './config.ts';
import { runDetection, type Alert } from './index.ts';

/**
 * Built-in rules on small hand-written flow logs: each case is a false positive or a miss the
 * detection bench found, written down as the few records that show it.
 */

const HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id instance-id tcp-flags pkt-dstaddr';
const VPC = 'vpc-0a1b2c3d4e5f60001';
/** An hour boundary, so 1 h windows line up with the fixture's hours. */
const T0 = 1699999200;

interface Rec {
  eni: string;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  proto?: number;
  packets?: number;
  bytes?: number;
  start: number;
  action?: 'ACCEPT' | 'REJECT';
  status?: 'OK' | 'NODATA' | 'SKIPDATA';
  instance?: string;
  /** null: the field is `-` (a flow log in the default version 2 format has no tcp-flags). */
  flags?: number | null;
  pktDst?: string;
}

function line(r: Rec): string {
  if (r.status === 'NODATA' || r.status === 'SKIPDATA') return ['5', '123456789012', r.eni, '-', '-', '-', '-', '-', '-', '-', r.start, r.start + 59, '-', r.status, VPC, r.instance ?? '-', '-', '-'].join(' ');
  return ['5', '123456789012', r.eni, r.src, r.dst, r.sport ?? 40000, r.dport ?? 443, r.proto ?? 6, r.packets ?? 1, r.bytes ?? 60, r.start, r.start + 59, r.action ?? 'ACCEPT', 'OK', VPC, r.instance ?? '-', r.flags === null ? '-' : (r.flags ?? 2), r.pktDst ?? r.dst].join(' ');
}

async function detect(recs: Rec[], ruleIds: string[], threats?: string): Promise<Alert[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flowlens-rule-fixture-'));
  writeFileSync(join(dir, 'flows.log'), [HEADER, ...recs.map(line)].join('\n') + '\n');
  const db = join(dir, 'store');
  await ingestPaths([join(dir, 'flows.log')], { db });
  if (threats === undefined) return runDetection({ db, ruleIds });
  writeFileSync(join(dir, 'threats.txt'), threats);
  return runDetection({ db, ruleIds, config: DetectConfig.parse({ threatList: join(dir, 'threats.txt') }) });
}

describe('blackhole rule', () => {
  it("flags an instance's unanswered SYNs, not the NAT gateway's record of the same calls", async () => {
    const recs: Rec[] = [];
    for (let i = 0; i < 12; i++) {
      // The instance calls a service behind a blackhole route: its own ENI sees SYNs, no reply.
      recs.push({ eni: 'eni-app', instance: 'i-app', src: '10.0.10.21', dst: '10.4.4.20', sport: 41000 + i, dport: 9092, start: T0 + i * 30 });
      // Mail through the NAT gateway that nobody answers: on the gateway's ENI the destination
      // is the gateway itself (the internet host is pkt-dstaddr), and there is no instance.
      recs.push({ eni: 'eni-nat', src: '10.0.30.10', dst: '10.0.0.20', sport: 42000 + i, dport: 25, start: T0 + i * 30, pktDst: '151.101.1.1' });
    }
    const alerts = await detect(recs, ['blackhole-traffic']);
    expect(alerts.map((a) => [a.actors, a.targets])).toEqual([[['10.0.10.21'], ['10.4.4.20']]]);
  }, 60_000);
});

describe('nodata-gap rule', () => {
  /** Hours 0..3 of `busy` traffic per hour (or none), then hour 4 NODATA only. */
  function eni(name: string, perHour: (h: number) => number, action: 'ACCEPT' | 'REJECT' = 'ACCEPT'): Rec[] {
    const out: Rec[] = [];
    for (let h = 0; h < 5; h++) {
      const n = h < 4 ? perHour(h) : 0;
      for (let i = 0; i < n; i++) out.push({ eni: name, instance: `i-${name}`, src: '203.0.113.7', dst: '10.0.0.40', sport: 50000 + i, dport: 3389, start: T0 + h * 3600 + i * 60, action, flags: 19, packets: 8, bytes: 2000 });
      if (n === 0) out.push({ eni: name, instance: `i-${name}`, start: T0 + h * 3600 + 600, status: 'NODATA' });
    }
    return out;
  }

  it('fires when an interface with steady accepted traffic goes silent', async () => {
    const alerts = await detect(eni('eni-steady', () => 5), ['nodata-gap']);
    expect(alerts.map((a) => a.actors)).toEqual([['eni-steady']]);
    expect(alerts[0].first_seen).toBeGreaterThanOrEqual(T0 + 4 * 3600);
  }, 60_000);

  it('stays quiet for an idle interface that only saw rejected scans, or one burst', async () => {
    const recs = [...eni('eni-scanned', () => 30, 'REJECT'), ...eni('eni-burst', (h) => (h === 3 ? 200 : 0))];
    expect(await detect(recs, ['nodata-gap'])).toEqual([]);
  }, 60_000);
});

describe('inbound-reject-spike rule', () => {
  /** Steady background scanning of a public address, then (from minute 40) its users rejected. */
  function fixture(usersRejected: boolean, oneScanner: boolean): Rec[] {
    const out: Rec[] = [];
    for (let m = 0; m < 60; m++) {
      const start = T0 + m * 60;
      out.push({ eni: 'eni-alb', src: `198.51.100.${m % 50}`, dst: '10.0.0.10', sport: 50000 + m, dport: 23, start, action: 'REJECT', flags: 2 });
      if (m < 40) continue;
      for (let i = 0; i < 15; i++) {
        // Block Public Access (flow logs v5: no reject-reason) rejects everyone; or one scanner sweeps ports.
        const src = oneScanner ? '203.0.113.9' : `203.0.113.${(m * 15 + i) % 250}`;
        if (usersRejected || oneScanner) out.push({ eni: 'eni-alb', src, dst: '10.0.0.10', sport: 40000 + i, dport: oneScanner ? 1000 + m * 15 + i : 443, start: start + i, action: 'REJECT', flags: 2 });
      }
    }
    return out;
  }

  it('fires when many internet sources are suddenly rejected', async () => {
    const alerts = await detect(fixture(true, false), ['inbound-reject-spike']);
    expect(alerts.map((a) => a.targets)).toEqual([['10.0.0.10']]);
    expect(alerts[0].first_seen).toBeGreaterThanOrEqual(T0 + 40 * 60);
  }, 60_000);

  it('stays quiet for steady background scanning and for one scanner', async () => {
    expect(await detect(fixture(false, true), ['inbound-reject-spike'])).toEqual([]);
  }, 60_000);
});

describe('crypto-mining rule', () => {
  it("flags an instance calling a pool port, not a server's reply to a client's ephemeral port", async () => {
    const recs: Rec[] = [
      // An RDP host answering an internet client whose ephemeral port is 45560.
      { eni: 'eni-rdp', instance: 'i-rdp', src: '10.0.0.40', dst: '203.0.113.94', sport: 3389, dport: 45560, start: T0, flags: 19, packets: 20, bytes: 9000 },
      // Miners: ephemeral port above the pool's, or in the ephemeral range below a high pool port.
      { eni: 'eni-w1', instance: 'i-w1', src: '10.0.30.10', dst: '198.51.100.7', sport: 40001, dport: 3333, start: T0, flags: 19, packets: 20, bytes: 9000 },
      { eni: 'eni-w2', instance: 'i-w2', src: '10.0.30.11', dst: '198.51.100.8', sport: 40002, dport: 45560, start: T0, flags: 19, packets: 20, bytes: 9000 },
    ];
    const alerts = await detect(recs, ['crypto-mining']);
    expect(alerts.map((a) => a.actors[0]).sort()).toEqual(['10.0.30.10', '10.0.30.11']);
  }, 60_000);
});

describe('port-sweep rule', () => {
  it('flags one probe per host and port, not a client retrying servers whose replies are lost', async () => {
    const recs: Rec[] = [];
    // A compromised worker tries SSH, SMB and RDP once on each of 30 neighbours: SYN only.
    for (let h = 0; h < 30; h++) {
      for (const [k, port] of [22, 445, 3389].entries()) {
        recs.push({ eni: 'eni-worker', instance: 'i-worker', src: '10.0.30.11', dst: `10.0.${10 + (h % 3)}.${20 + h}`, sport: 50000 + h * 3 + k, dport: port, start: T0 + h * 10 });
      }
    }
    // An app server behind a network ACL that drops its replies: it calls the same 30 servers
    // on 443 over and over, so every call is a SYN without an answer too.
    for (let i = 0; i < 300; i++) {
      recs.push({ eni: 'eni-app', instance: 'i-app', src: '10.0.10.21', dst: `203.0.113.${1 + (i % 30)}`, sport: 40000 + i, dport: 443, start: T0 + i * 2 });
    }
    // Another one calling 29 servers, each on its own one of three ports (HTTPS APIs, the
    // database, DNS over TCP), nine times each: 261 = 3 x 29 hosts x 3 ports attempts, but nine
    // per host and port pair it actually tried (the rule once divided by hosts x ports).
    for (let i = 0; i < 261; i++) {
      const h = i % 29;
      recs.push({ eni: 'eni-app2', instance: 'i-app2', src: '10.0.10.22', dst: `198.51.100.${1 + h}`, sport: 30000 + i, dport: [443, 5432, 53][h % 3], start: T0 + i * 2 });
    }
    const alerts = await detect(recs, ['port-sweep']);
    expect(alerts.map((a) => [a.actors, a.measures])).toEqual([[['10.0.30.11'], { hosts: 30, ports: 3, pairs: 90, attempts: 90 }]]);
  }, 60_000);
});

describe('winrm-brute-force-inbound rule', () => {
  it('flags one address guessing on WinRM (5985 and 5986), not a few admin sessions', async () => {
    const recs: Rec[] = [];
    // An internet address: 30 failed logins in ten minutes, each a short connection the server closes.
    for (let i = 0; i < 30; i++) recs.push({ eni: 'eni-win', instance: 'i-win', src: '198.51.100.83', dst: '10.0.0.40', sport: 50000 + i, dport: i % 5 === 0 ? 5986 : 5985, start: T0 + i * 20, flags: 3, packets: 14, bytes: 3400 });
    // The admin's management station: three sessions.
    for (let i = 0; i < 3; i++) recs.push({ eni: 'eni-win', instance: 'i-win', src: '203.0.113.10', dst: '10.0.0.40', sport: 51000 + i, dport: 5986, start: T0 + i * 120, flags: 3, packets: 400, bytes: 90_000 });
    const alerts = await detect(recs, ['winrm-brute-force-inbound']);
    expect(alerts.map((a) => [a.actors, a.targets])).toEqual([[['198.51.100.83'], ['10.0.0.40']]]);
  }, 60_000);
});

describe('unusual-volume rule', () => {
  /** A host's hourly uploads to its bucket (one record per 10 minutes), hours 0..2. */
  function host(src: string, perHour: number[]): Rec[] {
    return perHour.flatMap((bytes, h) => Array.from({ length: 6 }, (_, k) => ({ eni: `eni-${src}`, instance: `i-${src}`, src, dst: '52.216.4.20', sport: 40000 + h * 6 + k, start: T0 + h * 3600 + k * 600, flags: 3, packets: Math.ceil(bytes / 6 / 1400), bytes: Math.round(bytes / 6) })));
  }

  it('flags the hour a host sends many times its usual volume, after two hours of history', async () => {
    const recs = [...host('10.0.30.11', [50e6, 55e6, 1.2e9]), ...host('10.0.20.10', [800e6, 790e6, 810e6])];
    const alerts = await detect(recs, ['unusual-volume']);
    expect(alerts.map((a) => [a.actors, a.first_seen >= T0 + 2 * 3600])).toEqual([[['10.0.30.11'], true]]);
  }, 60_000);

  it('stays quiet without two hours of history', async () => {
    expect(await detect(host('10.0.30.11', [50e6, 1.2e9]), ['unusual-volume'])).toEqual([]);
  }, 60_000);
});

describe('tiny-accepted-flows (timeouts) rule', () => {
  it('counts the far side of a peering whose flow log has no tcp-flags', async () => {
    const recs: Rec[] = [];
    for (let i = 0; i < 30; i++) {
      const call = { src: `10.0.10.${21 + (i % 3)}`, dst: '172.31.0.10', sport: 45000 + i, dport: 9100, start: T0 + i * 15, packets: 2, bytes: 120 };
      // The client's v5 record: SYN and its retry. The service's v2 record (default format): no tcp-flags.
      recs.push({ ...call, eni: 'eni-app', instance: 'i-app', flags: 2 });
      recs.push({ ...call, eni: 'eni-ldap', instance: 'i-ldap', flags: null });
    }
    const alerts = await detect(recs, ['tiny-accepted-flows']);
    expect(alerts.map((a) => [a.targets, a.measures.tiny])).toEqual([[['172.31.0.10'], 60]]);
  }, 60_000);

  it('stays quiet for answered connections, with tcp-flags or without', async () => {
    const recs: Rec[] = [];
    for (let i = 0; i < 30; i++) {
      const call = { src: '10.0.10.21', dst: '172.31.0.10', sport: 45000 + i, dport: 9100, start: T0 + i * 15, packets: 7, bytes: 2900 };
      recs.push({ ...call, eni: 'eni-app', instance: 'i-app', flags: 3 });
      recs.push({ ...call, eni: 'eni-ldap', instance: 'i-ldap', flags: null });
    }
    expect(await detect(recs, ['tiny-accepted-flows'])).toEqual([]);
  }, 60_000);
});

describe('skipdata rule', () => {
  it('flags each interface whose windows carry SKIPDATA, once an hour', async () => {
    const recs: Rec[] = [
      { eni: 'eni-spare', instance: 'i-spare', start: T0 + 600, status: 'SKIPDATA' },
      { eni: 'eni-spare', instance: 'i-spare', start: T0 + 660, status: 'SKIPDATA' },
      { eni: 'eni-idle', instance: 'i-idle', start: T0 + 600, status: 'NODATA' },
      { eni: 'eni-app', instance: 'i-app', src: '10.0.10.21', dst: '52.216.4.20', start: T0, flags: 3, packets: 8 },
    ];
    const alerts = await detect(recs, ['skipdata']);
    expect(alerts.map((a) => [a.actors, a.count])).toEqual([[['eni-spare'], 2]]);
  }, 60_000);
});

describe('threat-list rules', () => {
  it("flag an instance calling a listed address (and the address's replies), nothing else", async () => {
    const recs: Rec[] = [
      // A beacon to a listed C2 address, its reply, and an ordinary API call.
      { eni: 'eni-app', instance: 'i-app', src: '10.0.11.21', dst: '203.0.113.66', sport: 41000, start: T0, flags: 3, packets: 8, bytes: 1300 },
      { eni: 'eni-app', instance: 'i-app', src: '203.0.113.66', dst: '10.0.11.21', sport: 443, dport: 41000, start: T0, flags: 19, packets: 7, bytes: 1100 },
      { eni: 'eni-app', instance: 'i-app', src: '10.0.11.21', dst: '151.101.1.1', sport: 41001, start: T0, flags: 3, packets: 8, bytes: 1300 },
    ];
    const alerts = await detect(recs, ['threat-list-outbound', 'threat-list-inbound'], '# feed\n203.0.113.66  # c2\n198.18.0.0/15\n');
    expect(alerts.map((a) => [a.rule_id, a.actors, a.targets]).sort()).toEqual([
      ['threat-list-inbound', ['203.0.113.66'], ['10.0.11.21']],
      ['threat-list-outbound', ['10.0.11.21'], ['203.0.113.66']],
    ]);
  }, 60_000);
});
