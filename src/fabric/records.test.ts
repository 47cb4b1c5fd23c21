import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { TopologyDocT } from './config.ts';
import { runFabric } from './emulate.ts';
import { ip, tiny } from './test-helpers.ts';
import { Close, type TrafficDriver } from './traffic.ts';

const T0 = 1705276800; // 2024-01-15T00:00:00Z, a multiple of 600

type Row = Record<string, string>;

/** Runs the tiny topology with the given traffic and reads back every record, by flow log. */
async function run(traffic: (from: number, to: number, d: TrafficDriver) => void, opts: { seconds?: number; interval?: 60 | 600; change?: (doc: TopologyDocT) => void; logFormat?: string } = {}): Promise<Record<string, Row[]>> {
  const out = mkdtempSync(join(tmpdir(), 'flowlens-rec-'));
  const r = await runFabric(
    { topo: tiny(opts.change), start: T0, end: T0 + (opts.seconds ?? 60), interval: opts.interval, logFormat: opts.logFormat, out, seed: 1, gzipLevel: 1, maxObjectBytes: 75 << 20 },
    { tick: traffic },
  );
  const byLog: Record<string, Row[]> = {};
  for (const p of r.paths) {
    const lines = gunzipSync(readFileSync(p)).toString('latin1').trimEnd().split('\n');
    const header = lines[0].split(' ');
    const fl = /_(fl-[0-9a-z]+)_/.exec(p)![1];
    for (const l of lines.slice(1)) (byLog[fl] ??= []).push(Object.fromEntries(l.split(' ').map((v, i) => [header[i], v])));
  }
  return byLog;
}

const once = (f: (d: TrafficDriver, t: number) => void) => (from: number, _to: number, d: TrafficDriver) => {
  if (from === T0) f(d, T0);
};
const ok = (rows: Row[]) => rows.filter((r) => r['log-status'] === 'OK');
const brief = (r: Row) => `${r['interface-id']} ${r['flow-direction']} ${r.srcaddr}:${r.srcport}>${r.dstaddr}:${r.dstport} ${r.action} flags=${r['tcp-flags']} pk=${r.packets}`;

describe('records', () => {
  it('both interfaces log a flow between two of them; tcp-flags 3 (client) and 19 (server) for a short connection', async () => {
    const logs = await run(once((d, t) => d.tcp(t + 5, ip('10.1.1.20'), ip('10.1.2.10'), 5432, 2, 10, 1000, 10, 9000, Close.Fin, 6, 41000)));
    expect(ok(logs['fl-11111111']).map(brief)).toEqual([
      'eni-app egress 10.1.1.20:41000>10.1.2.10:5432 ACCEPT flags=3 pk=14',
      'eni-db ingress 10.1.1.20:41000>10.1.2.10:5432 ACCEPT flags=3 pk=14',
      'eni-db egress 10.1.2.10:5432>10.1.1.20:41000 ACCEPT flags=19 pk=12',
      'eni-app ingress 10.1.2.10:5432>10.1.1.20:41000 ACCEPT flags=19 pk=12',
    ]);
    const r = ok(logs['fl-11111111'])[0];
    expect([r.start, r.end, r.version, r.protocol]).toEqual([String(T0 + 5), String(T0 + 7), '8', '6']);
  });

  it('tcp-flags across windows: 2 and 18 when it opens, 0 for ACK-only windows, 1 when it closes, 4 for a RST', async () => {
    const logs = await run(
      once((d, t) => {
        d.tcp(t + 10, ip('10.1.1.20'), ip('10.1.2.10'), 5432, 150, 300, 30000, 300, 300000, Close.Fin, 6, 41000);
        d.tcp(t + 20, ip('10.1.1.20'), ip('10.1.2.10'), 5432, 100, 30, 3000, 30, 3000, Close.ClientRst, 6, 41001);
      }),
      { seconds: 180 },
    );
    const flags = (sport: string, eni: string, dir: string) =>
      ok(logs['fl-11111111'])
        .filter((r) => (r.srcport === sport || r.dstport === sport) && r['interface-id'] === eni && r['flow-direction'] === dir)
        .map((r) => Number(r['tcp-flags']));
    expect(flags('41000', 'eni-app', 'egress')).toEqual([2, 0, 1]);
    expect(flags('41000', 'eni-app', 'ingress')).toEqual([18, 0, 1]);
    expect(flags('41001', 'eni-app', 'egress')).toEqual([2, 0, 4]);
    expect(flags('41001', 'eni-db', 'egress')).toEqual([18, 0]);
    // Packets and bytes are spread over the windows and add up.
    const pk = ok(logs['fl-11111111']).filter((r) => r.srcport === '41000' && r['interface-id'] === 'eni-app').map((r) => Number(r.packets));
    expect(pk.reduce((a, b) => a + b)).toBe(300 + 4);
  });

  it('a rejected SYN is retried: 7 SYNs (flags 2), ACCEPT where it leaves, REJECT where it is refused', async () => {
    const logs = await run(once((d, t) => d.tcp(t, ip('10.1.1.10'), ip('10.1.2.10'), 5432, 1, 5, 500, 5, 500, Close.Fin, 6, 42000)), { seconds: 120 });
    const rows = ok(logs['fl-11111111']).filter((r) => r.srcport === '42000');
    expect(rows.map(brief)).toEqual([
      'eni-web egress 10.1.1.10:42000>10.1.2.10:5432 ACCEPT flags=2 pk=6',
      'eni-db ingress 10.1.1.10:42000>10.1.2.10:5432 REJECT flags=2 pk=6',
      'eni-web egress 10.1.1.10:42000>10.1.2.10:5432 ACCEPT flags=2 pk=1',
      'eni-db ingress 10.1.1.10:42000>10.1.2.10:5432 REJECT flags=2 pk=1',
    ]);
    expect(rows[0].bytes).toBe('360');
    expect(rows[3].start).toBe(String(T0 + 63));
  });

  it('NAT rewriting shows in the records: the NAT interface logs its address, pkt-srcaddr/pkt-dstaddr the real ones', async () => {
    const logs = await run(once((d, t) => d.tcp(t, ip('10.1.1.20'), ip('203.0.113.5'), 443, 1, 3, 300, 3, 3000, Close.Fin, 6, 43000)));
    const nat = ok(logs['fl-11111111']).filter((r) => r['interface-id'] === 'eni-nat').map((r) => `${r['flow-direction']} ${r.srcaddr}>${r.dstaddr} pkt ${r['pkt-srcaddr']}>${r['pkt-dstaddr']} path=${r['traffic-path']}`);
    expect(nat).toEqual([
      'ingress 10.1.1.20>10.1.0.20 pkt 10.1.1.20>203.0.113.5 path=-',
      'egress 10.1.0.20>203.0.113.5 pkt 10.1.0.20>203.0.113.5 path=2',
      'ingress 203.0.113.5>10.1.0.20 pkt 203.0.113.5>10.1.0.20 path=-',
      'egress 10.1.0.20>10.1.1.20 pkt 203.0.113.5>10.1.1.20 path=1',
    ]);
  });

  it('NODATA for silent interfaces: every window, with "-" for the flow fields', async () => {
    const logs = await run(() => {}, { seconds: 120 });
    const idle = logs['fl-11111111'].filter((r) => r['interface-id'] === 'eni-idle');
    expect(idle.map((r) => `${r.srcaddr} ${r.packets} ${r.action} ${r.start} ${r.end} ${r['log-status']}`)).toEqual([`- - - ${T0} ${T0 + 60} NODATA`, `- - - ${T0 + 60} ${T0 + 120} NODATA`]);
    // The peer VPC's flow log (default format) has its own NODATA lines, version 2.
    expect(logs['fl-22222222'][0]).toMatchObject({ version: '2', 'interface-id': 'eni-peer', 'log-status': 'NODATA', srcaddr: '-' });
  });

  it('SKIPDATA when an interface exceeds its capacity: records past it are replaced by one SKIPDATA', async () => {
    // eni-idle takes at most 2 records a window; 3 connections make 6.
    const logs = await run(once((d, t) => [1, 2, 3].forEach((i) => d.tcp(t + i, ip('10.1.1.10'), ip('10.1.1.30'), 8443, 1, 2, 200, 2, 200, Close.Fin, 6, 44000 + i))));
    const rows = logs['fl-11111111'].filter((r) => r['interface-id'] === 'eni-idle');
    expect(rows.map((r) => r['log-status'])).toEqual(['OK', 'OK', 'SKIPDATA']);
    expect(rows[2]).toMatchObject({ srcaddr: '-', packets: '-', action: '-', start: String(T0), end: String(T0 + 60) });
  });

  it("version field: the highest version of the format's fields", async () => {
    const logs = await run(once((d, t) => d.ping(t, ip('198.51.100.9'), ip('192.0.2.130'), 2)), { logFormat: '${version} ${interface-id} ${srcaddr} ${tcp-flags} ${log-status}' });
    expect(new Set(Object.values(logs).flat().map((r) => r.version))).toEqual(new Set(['3']));
    const v5 = await run(() => {}, { logFormat: '${version} ${interface-id} ${traffic-path} ${log-status}' });
    expect(v5['fl-11111111'][0].version).toBe('5');
  });

  it('refuses a format naming a field it cannot make (as AWS refuses it), and writes - for resource-id', async () => {
    await expect(run(() => {}, { logFormat: '${version} ${bogus-field} ${srcaddr}' })).rejects.toThrow(/^--log-format: unknown field \$\{bogus-field\}/);
    const logs = await run(() => {}, { logFormat: '${version} ${resource-id} ${log-status}' });
    expect(logs['fl-11111111'][0]['resource-id']).toBe('-');
  });

  it('ICMP and UDP: ICMP records have ports 0, replies come back, the DNS resolver is never logged', async () => {
    const logs = await run(
      once((d, t) => {
        d.ping(t, ip('198.51.100.9'), ip('192.0.2.130'), 4);
        d.udp(t, ip('10.1.1.20'), ip('10.1.0.2'), 45000, 53, 0, 1, 70, 1, 150);
        d.udp(t, ip('10.1.1.20'), ip('172.16.0.10'), 45001, 514, 10, 20, 4000, 0, 0);
      }),
    );
    const rows = ok(logs['fl-11111111']);
    expect(rows.filter((r) => r.protocol === '1').map(brief)).toEqual([
      'eni-bastion ingress 198.51.100.9:0>10.1.0.30:0 ACCEPT flags=0 pk=4',
      'eni-bastion egress 10.1.0.30:0>198.51.100.9:0 ACCEPT flags=0 pk=4',
    ]);
    expect(rows.filter((r) => r.dstport === '53')).toEqual([]);
    expect(rows.filter((r) => r.protocol === '17').map((r) => `${r['interface-id']} ${r.dstport} ${r['traffic-path']} ${r['tcp-flags']}`)).toEqual(['eni-app 514 4 0']);
    expect(ok(logs['fl-22222222']).map((r) => `${r['interface-id']} ${r.packets}`)).toEqual(['eni-peer 20']);
  });

  it('Nitro interfaces aggregate over 60 s even when the flow log asks for 600 s', async () => {
    const traffic = (from: number, _to: number, d: TrafficDriver) => {
      d.tcp(from + 1, ip('10.1.3.10'), ip('10.1.3.10'), 22, 0, 1, 60, 1, 60);
      d.tcp(from + 1, ip('10.1.1.20'), ip('10.1.2.10'), 5432, 1, 1, 60, 1, 60);
    };
    const logs = await run(traffic, { seconds: 600, interval: 600 });
    const windows = (eni: string) => new Set(logs['fl-11111111'].filter((r) => r['interface-id'] === eni && r['log-status'] === 'NODATA').map((r) => Number(r.end) - Number(r.start)));
    expect(windows('eni-idle')).toEqual(new Set([60]));
    expect(windows('eni-bastion')).toEqual(new Set([60]));
    // The NAT gateway is not Nitro-based here: one 600 s window.
    expect(logs['fl-11111111'].filter((r) => r['interface-id'] === 'eni-nat')[0]).toMatchObject({ start: String(T0), end: String(T0 + 600), 'log-status': 'NODATA' });
  });

  it('traffic type REJECT keeps only rejected records (and NODATA)', async () => {
    const logs = await run(
      once((d, t) => {
        d.tcp(t, ip('10.1.1.10'), ip('10.1.2.10'), 5432, 1, 1, 1, 1, 1, Close.Fin, 0);
        d.tcp(t, ip('10.1.1.20'), ip('10.1.2.10'), 5432, 1, 1, 1, 1, 1);
      }),
      { change: (doc) => (doc.flowLogs[0].trafficType = 'REJECT') },
    );
    expect(ok(logs['fl-11111111']).map(brief)).toEqual(['eni-db ingress 10.1.1.10:33037>10.1.2.10:5432 REJECT flags=2 pk=1'].map((s) => s.replace('33037', ok(logs['fl-11111111'])[0].srcport)));
  });

  it('Block Public Access rejections carry reject-reason BPA', async () => {
    const logs = await run(once((d, t) => d.tcp(t, ip('198.51.100.9'), ip('192.0.2.130'), 22, 1, 1, 1, 1, 1, Close.Fin, 0)), { change: (doc) => (doc.vpcs[0].blockPublicAccess = 'block-bidirectional') });
    expect(ok(logs['fl-11111111']).map((r) => `${r['interface-id']} ${r.action} ${r['reject-reason']}`)).toEqual(['eni-bastion REJECT BPA']);
  });
});
