import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../fabric/topology.ts';
import { parseIpRanges } from './aws-ranges.ts';
import { Enricher } from './enricher.ts';
import { GeoResolver } from './geo.ts';
import { inventoryFromTopology, parseInventoryCsv, parseInventoryYaml, readInventory } from './inventory.ts';
import { appPortSql } from './ports.ts';
import { PrefixTable } from './prefix-table.ts';

const YAML_INV = `
networks: [192.168.0.0/16]
entries:
  - { cidr: 10.0.0.0/16, vpc: vpc-1, account: "111111111111", name: main-vpc, env: prod }
  - { cidr: 10.0.3.0/24, vpc: vpc-1, subnet: subnet-app, az: us-east-1a, owner: platform }
  - { cidr: 10.0.3.17, name: payments-api, owner: payments, env: prod, vpc: vpc-1, subnet: subnet-app, tags: { tier: api, pci: true }, valid_to: "2024-01-15T12:00:00Z" }
  - { cidr: 10.0.3.17/32, name: search-api, owner: search, env: prod, vpc: vpc-1, subnet: subnet-app, valid_from: "2024-01-15T12:00:00Z" }
  - { cidr: "2600:1f18::/40", vpc: vpc-1, name: main-vpc-v6 }
`;

describe('inventory files', () => {
  it('reads YAML and keeps types, tags and times', () => {
    const inv = parseInventoryYaml(YAML_INV, 'inv.yaml');
    expect(inv.networks).toEqual(['192.168.0.0/16']);
    expect(inv.entries).toHaveLength(5);
    expect(inv.entries[2].tags).toEqual({ tier: 'api', pci: 'true' });
    expect(inv.entries[2].valid_to).toBe(Date.parse('2024-01-15T12:00:00Z') / 1000);
  });

  it('names the file, path and line of a mistake', () => {
    const bad = 'entries:\n  - cidr: 10.0.0.0/16\n    name: ok\n  - cidr: 10.0.0.0/33\n    name: bad\n';
    expect(() => parseInventoryYaml(bad, 'inv.yaml')).toThrow('inv.yaml: entries[1].cidr (line 4): not an address or CIDR block');
    const unknown = 'entries:\n  - cidr: 10.0.0.0/16\n    owner: a\n    colour: red\n';
    expect(() => parseInventoryYaml(unknown, 'inv.yaml')).toThrow(/inv\.yaml: entries\[0\] \(line 2\): .*colour/);
    const order = 'entries:\n  - { cidr: 10.0.0.1, valid_from: 2024-02-01, valid_to: 2024-01-01 }\n';
    expect(() => parseInventoryYaml(order, 'inv.yaml')).toThrow('inv.yaml: entries[0].valid_to (line 2): must be after valid_from');
    expect(() => parseInventoryYaml('entries: [\n', 'inv.yaml')).toThrow(/^inv\.yaml: line \d+:/);
  });

  it('reads CSV with tag columns, quoting, and errors by line', () => {
    const csv = 'cidr,name,owner,env,tag:cost-center,tags\n10.0.3.17,"payments, api",payments,prod,cc-42,a=1;b=2\n10.0.4.0/24,,data,,,\n';
    const inv = parseInventoryCsv(csv, 'inv.csv');
    expect(inv.entries[0]).toMatchObject({ cidr: '10.0.3.17', name: 'payments, api', tags: { 'cost-center': 'cc-42', a: '1', b: '2' } });
    expect(inv.entries[1]).toEqual({ cidr: '10.0.4.0/24', owner: 'data' });
    expect(() => parseInventoryCsv('cidr,name\n10.0.0.1,a\n10.0.0.999,b\n', 'inv.csv')).toThrow('inv.csv: entries[1].cidr (line 3): not an address or CIDR block');
    expect(() => parseInventoryCsv('cidr,team\n', 'inv.csv')).toThrow('inv.csv: line 1: unknown column "team"');
    expect(() => parseInventoryCsv('cidr,name\n10.0.0.1\n', 'inv.csv')).toThrow('inv.csv: line 2: 1 fields, the header has 2');
  });

  it('derives entries from the fabric topology and from describe-* outputs', async () => {
    const topo = inventoryFromTopology(await loadTopology());
    expect(topo.entries.find((e) => e.kind === 'vpc' && e.cidr === '10.0.0.0/16')).toMatchObject({ vpc: 'vpc-0a1b2c3d4e5f60001', region: 'us-east-1' });
    expect(topo.entries.find((e) => e.kind === 'aws-service' && e.aws_service === 'S3')).toBeDefined();
    expect(topo.entries.filter((e) => e.kind === 'nat_gateway').length).toBeGreaterThan(0);
    const described = await readInventory(join(import.meta.dirname, '../fabric/testdata/describe'));
    expect(described.entries.some((e) => e.kind === 'subnet' && e.subnet?.startsWith('subnet-'))).toBe(true);
    expect(described.entries.some((e) => e.eni?.startsWith('eni-') && e.cidr.endsWith('/32'))).toBe(true);
    // The topology YAML is recognised by content when given as an inventory file.
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-inv-'));
    writeFileSync(join(dir, 'inv.yaml'), YAML_INV);
    expect((await readInventory(join(dir, 'inv.yaml'))).entries).toHaveLength(5);
    expect((await readInventory(join(import.meta.dirname, '../fabric/topologies/default.yaml'))).entries.length).toBe(topo.entries.length);
  });
});

describe('attribution', () => {
  const inv = parseInventoryYaml(YAML_INV, 'inv.yaml');
  const e = new Enricher({ inventory: inv, geo: null });
  const at = (iso: string) => e.bounds.filter((b) => b <= Date.parse(iso) / 1000).length;

  it('lets the longest prefix win', () => {
    const t = new PrefixTable([
      { cidr: '10.0.0.0/8', value: 'a' },
      { cidr: '10.0.3.0/24', value: 'b' },
      { cidr: '10.0.3.17/32', value: 'c' },
      { cidr: '2600:1f18::/40', value: 'v6' },
    ]);
    expect(['10.9.9.9', '10.0.3.1', '10.0.3.17', '11.0.0.1', '2600:1f18:1::1', '2600:1f19::1'].map((a) => t.lookup(a, 0))).toEqual(['a', 'b', 'c', undefined, 'v6', undefined]);
    expect(e.resolve('10.0.3.99', at('2024-01-15T00:00:00Z'))).toMatchObject({ vpc: 'vpc-1', subnet: 'subnet-app', owner: 'platform', kind: 'internal', unattributed: false });
    expect(e.resolve('10.0.9.9', 0)).toMatchObject({ name: 'main-vpc', env: 'prod', owner: undefined });
    expect(e.resolve('2600:1f18:0:1::5', 0)).toMatchObject({ name: 'main-vpc-v6', internal: true });
  });

  it('attributes an address that changed owners by record time', () => {
    expect(e.resolve('10.0.3.17', at('2024-01-15T11:59:59Z'))).toMatchObject({ name: 'payments-api', owner: 'payments', tags: '{"tier":"api","pci":"true"}' });
    expect(e.resolve('10.0.3.17', at('2024-01-15T12:00:00Z'))).toMatchObject({ name: 'search-api', owner: 'search' });
    expect(e.segSql('"start"')).toBe(`CASE WHEN "start" < ${Date.parse('2024-01-15T12:00:00Z') / 1000} THEN 0 ELSE 1 END`);
  });

  it('classifies addresses outside the inventory', () => {
    expect(e.resolve('192.168.1.1', 0)).toMatchObject({ kind: 'on-prem', internal: true, unattributed: true });
    expect(e.resolve('172.16.0.1', 0)).toMatchObject({ kind: 'on-prem', internal: true, unattributed: true });
    expect(e.resolve('169.254.169.254', 0)).toMatchObject({ kind: 'link-local', internal: false });
    expect(e.resolve('8.8.8.8', 0)).toMatchObject({ kind: 'internet', internal: false });
  });

  it('finds AWS service and region in ip-ranges.json, the specific service over AMAZON', () => {
    const ranges = parseIpRanges(
      JSON.stringify({
        syncToken: '1',
        createDate: '2026-06-01-00-00-00',
        prefixes: [
          { ip_prefix: '52.95.128.0/21', region: 'us-east-1', service: 'S3', network_border_group: 'us-east-1' },
          { ip_prefix: '52.95.128.0/21', region: 'us-east-1', service: 'AMAZON', network_border_group: 'us-east-1' },
          { ip_prefix: '3.5.140.0/22', region: 'ap-northeast-2', service: 'EC2', network_border_group: 'ap-northeast-2' },
        ],
        ipv6_prefixes: [{ ipv6_prefix: '2600:1f18::/33', region: 'us-east-1', service: 'EC2', network_border_group: 'us-east-1' }],
      }),
      'ip-ranges.json',
    );
    const w = new Enricher({ inventory: { networks: [], entries: [] }, ipRanges: ranges, geo: null });
    expect(w.resolve('52.95.128.179', 0)).toMatchObject({ kind: 'aws-service', awsService: 'S3', awsRegion: 'us-east-1' });
    // EC2 ranges are other customers' instances: internet, with the service still named.
    expect(w.resolve('3.5.140.9', 0)).toMatchObject({ kind: 'internet', awsService: 'EC2', awsRegion: 'ap-northeast-2' });
    expect(() => parseIpRanges('{"prefixes": 3}', 'x.json')).toThrow("x.json: prefixes: ");
  });
});

describe('geo and ASN from the shipped data', () => {
  it('knows well-known public resolvers and nothing of private space', () => {
    const g = new GeoResolver({ cacheDir: mkdtempSync(join(tmpdir(), 'flowlens-geo-')) });
    expect(g.lookup('1.1.1.1')).toMatchObject({ asn: 13335, asName: 'Cloudflare, Inc.' });
    expect(g.lookup('8.8.8.8')).toEqual({ country: 'US', asn: 15169, asName: 'Google LLC' });
    expect(g.lookup('2001:4860:4860::8888')).toMatchObject({ country: 'US', asn: 15169 });
    expect(g.lookup('9.9.9.9')).toMatchObject({ asn: 19281 });
    expect(g.lookup('10.0.0.1')).toEqual({});
    // The cache written by the first resolver answers the same.
    const again = new GeoResolver({ cacheDir: (g as unknown as { opts: { cacheDir: string } }).opts.cacheDir });
    expect(again.lookup('8.8.8.8')).toEqual({ country: 'US', asn: 15169, asName: 'Google LLC' });
  });

  it('rebuilds a damaged ASN cache and answers the same from the rebuilt one', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'flowlens-geo-'));
    const ips = ['1.1.1.1', '8.8.8.8', '9.9.9.9', '2001:4860:4860::8888', '2606:4700:4700::1111', '0.0.0.1', '255.255.255.255', 'ffff::1'];
    const all = (g: GeoResolver) => ips.map((ip) => g.lookup(ip));
    const first = all(new GeoResolver({ cacheDir }));
    const [sub] = readdirSync(cacheDir);
    const file = join(cacheDir, sub, 'asn-ranges.bin');
    expect(statSync(file).size).toBeGreaterThan(1000);
    writeFileSync(file, 'garbage');
    expect(all(new GeoResolver({ cacheDir }))).toEqual(first);
    expect(all(new GeoResolver({ cacheDir }))).toEqual(first);
    expect(first[4]).toMatchObject({ asn: 13335 });
  });
});

describe('app_port', () => {
  it('picks the service side', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    const cases: [number, number, number, number | null][] = [
      [49152, 443, 6, 443],
      [443, 51234, 6, 443],
      [40000, 5432, 6, 5432],
      [5432, 40000, 6, 5432],
      [33000, 45000, 6, 33000],
      [123, 123, 17, 123],
      [0, 0, 1, null],
    ];
    for (const [sp, dp, pr, want] of cases) {
      const r = await c.runAndReadAll(`SELECT ${appPortSql(String(sp), String(dp), String(pr))}`);
      expect(r.getRows()[0][0], `${sp} → ${dp}/${pr}`).toBe(want);
    }
    c.closeSync();
    db.closeSync();
  });
});
