import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulate } from '../fabric/emulate.ts';
import { DEFAULT_TOPOLOGY_PATH } from '../fabric/topology.ts';
import { ingestPaths } from '../ingest/index.ts';
import { runInsights } from '../query/index.ts';
import { ENRICH_COLUMNS } from '../schema/columns.ts';
import { openStore } from '../store/index.ts';
import { readStoredInventory, saveInventory, unattributedSql } from './index.ts';
import { reenrichStore } from './reenrich.ts';

const INVENTORY = `
networks: [192.168.0.0/16]
entries:
  - { cidr: 10.0.0.0/16, kind: vpc, vpc: vpc-1, account: "111111111111", region: us-east-1 }
  - { cidr: 10.0.3.0/24, vpc: vpc-1, subnet: subnet-a, az: us-east-1a, account: "111111111111", region: us-east-1 }
  - { cidr: 10.0.4.0/24, vpc: vpc-1, subnet: subnet-b, az: us-east-1b, account: "111111111111", region: us-east-1 }
  - { cidr: 10.0.3.17, name: payments-api, owner: payments, env: prod, vpc: vpc-1, subnet: subnet-a, az: us-east-1a, account: "111111111111", region: us-east-1 }
  - { cidr: 10.0.4.5, name: payments-db, owner: payments, env: prod, vpc: vpc-1, subnet: subnet-b, az: us-east-1b, account: "111111111111", region: us-east-1 }
  - { cidr: 10.0.3.9, kind: nat_gateway, name: nat-a, vpc: vpc-1, subnet: subnet-a, az: us-east-1a, account: "111111111111", region: us-east-1 }
  - { cidr: 10.1.0.0/16, vpc: vpc-2, name: shared, account: "111111111111", region: us-east-1, az: us-east-1a }
  - { cidr: 10.2.0.0/16, vpc: vpc-3, name: partner, account: "222222222222", region: us-east-1, az: us-east-1a }
`;

const HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status pkt-dst-aws-service';
const T = 1_705_300_000;
const GB = 1073741824;
// srcaddr dstaddr srcport dstport protocol bytes pkt-dst-aws-service, and what enrichment must say.
const CASES: [string, string, number, number, number, number, string, Record<string, unknown>][] = [
  ['10.0.3.17', '203.0.113.9', 51515, 443, 6, GB, '-', { direction: 'egress', peer_kind: 'internet', cost_class: 'internet-egress', cost_usd: 0.09, app_port: 443, service: 'https', src_name: 'payments-api', src_owner: 'payments', src_env: 'prod', dst_name: null }],
  ['198.51.100.7', '10.0.3.17', 40000, 22, 6, GB, '-', { direction: 'ingress', peer_kind: 'internet', cost_class: 'free', cost_usd: 0, app_port: 22, service: 'ssh', dst_owner: 'payments' }],
  ['10.0.3.17', '10.0.4.5', 40001, 5432, 6, GB, '-', { direction: 'internal', peer_kind: 'internal', cost_class: 'inter-az', cost_usd: 0.01, service: 'postgresql', src_subnet: 'subnet-a', dst_subnet: 'subnet-b', dst_name: 'payments-db' }],
  ['10.0.3.17', '10.1.0.5', 40002, 8080, 6, GB, '-', { direction: 'cross-vpc', peer_kind: 'internal', cost_class: 'free', dst_vpc: 'vpc-2', service: 'http-alt' }],
  ['10.0.3.17', '10.2.0.5', 40003, 9092, 6, GB, '-', { direction: 'cross-account', peer_kind: 'internal', dst_name: 'partner', service: 'kafka' }],
  ['10.0.3.17', '52.95.128.179', 40004, 443, 6, GB, 'S3', { direction: 'egress', peer_kind: 'aws-service', aws_service: 'S3', cost_class: 'free' }],
  ['10.0.3.17', '169.254.169.254', 40005, 80, 6, 1000, '-', { direction: 'egress', peer_kind: 'link-local', service: 'http' }],
  ['10.0.3.17', '192.168.5.5', 40006, 53, 17, GB, '-', { direction: 'internal', peer_kind: 'on-prem', cost_class: 'on-prem-egress', cost_usd: 0.02, service: 'domain', protocol_name: 'udp' }],
  ['10.0.3.17', '10.0.3.9', 40007, 443, 6, GB, '-', { direction: 'internal', peer_kind: 'internal', cost_class: 'nat-processing', cost_usd: 0.045 }],
  ['10.9.9.9', '8.8.8.8', 40008, 53, 17, 100, '-', { direction: 'egress', peer_kind: 'internet', src_name: null, dst_country: 'US', dst_asn: 15169, dst_as_name: 'Google LLC' }],
  ['10.0.3.17', '10.0.4.5', 0, 0, 1, 84, '-', { direction: 'internal', app_port: null, service: 'icmp', protocol_name: 'icmp' }],
];

function fixture(): string {
  const lines = [HEADER];
  CASES.forEach(([s, d, sp, dp, pr, bytes, svc], i) => lines.push(`2 111111111111 eni-0a1b2c3d4e5f60001 ${s} ${d} ${sp} ${dp} ${pr} 10 ${bytes} ${T + i} ${T + i + 59} ACCEPT OK ${svc}`));
  lines.push(`2 111111111111 eni-0a1b2c3d4e5f60001 - - - - - - - ${T + 100} ${T + 160} - NODATA -`);
  return lines.join('\n') + '\n';
}

async function rows(db: string, sql: string): Promise<Record<string, unknown>[]> {
  const store = await openStore(db);
  try {
    const rs = await store.query(sql);
    return rs.rows.map((r) => Object.fromEntries(rs.columns.map((c, i) => [c, typeof r[i] === 'bigint' ? Number(r[i]) : r[i]])));
  } finally {
    await store.close();
  }
}

const ENRICH_LIST = ENRICH_COLUMNS.map((c) => `"${c.column}"`).join(', ');

describe('enrichment at ingest', () => {
  let dir: string;
  const dbFast = () => join(dir, 'ingested');
  const dbJs = () => join(dir, 'reenriched');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowlens-enrich-'));
    writeFileSync(join(dir, 'inventory.yaml'), INVENTORY);
    writeFileSync(join(dir, 'flows.log'), fixture());
    const fast = await ingestPaths([join(dir, 'flows.log')], { db: dbFast(), inventory: join(dir, 'inventory.yaml') });
    // The second store is re-enriched afterwards: its enrichment comes from the SQL path.
    const js = await ingestPaths([join(dir, 'flows.log')], { db: dbJs(), inventory: join(dir, 'inventory.yaml') });
    const re = await reenrichStore(dbJs());
    expect(re.records).toBe(CASES.length);
    expect(re.unattributed_ratio).toBeCloseTo(2 / CASES.length, 6);
    expect(fast.records).toBe(CASES.length + 1);
    expect(js.records).toBe(CASES.length + 1);
    // Two records of the eleven with addresses have an internal address no entry names: 10.9.9.9,
    // and 192.168.5.5 (inside a declared network, but nobody's).
    expect(fast.unattributed_ratio).toBeCloseTo(2 / CASES.length, 6);
    expect(js.unattributed_ratio).toBeCloseTo(2 / CASES.length, 6);
  }, 60_000);

  afterAll(() => {});

  it('classifies representative records (direction, peer kind, cost, service, owner, geo)', async () => {
    const got = await rows(dbFast(), `SELECT ${ENRICH_LIST} FROM flows WHERE log_status = 'OK' ORDER BY "start"`);
    CASES.forEach(([s, d, , , , , , want], i) => {
      const row = got[i];
      for (const [k, v] of Object.entries(want)) {
        if (typeof v === 'number' && !Number.isInteger(v)) expect(row[k], `${s} → ${d}: ${k}`).toBeCloseTo(v, 9);
        else expect(row[k], `${s} → ${d}: ${k}`).toEqual(v);
      }
    });
    const [nodata] = await rows(dbFast(), `SELECT direction, peer_kind, cost_class, app_port FROM flows WHERE log_status = 'NODATA'`);
    expect(nodata).toEqual({ direction: null, peer_kind: null, cost_class: null, app_port: null });
  });

  it('stores the same enrichment at ingest (JS, over dictionary codes) as re-enrich (SQL)', async () => {
    const q = `SELECT "start", ${ENRICH_LIST} FROM flows ORDER BY "start"`;
    const [a, b] = [await rows(dbFast(), q), await rows(dbJs(), q)];
    expect(a).toHaveLength(CASES.length + 1);
    expect(b).toEqual(a);
  });

  it('answers Insights queries by the camelCase names and SQL for coverage', async () => {
    const store = await openStore(dbFast());
    try {
      const r = await runInsights(store, 'filter srcOwner = "payments" and costClass = "internet-egress" | stats sum(costUsd) as usd by srcName, peerKind', { from: T - 10, to: T + 1000 });
      expect(r.rows).toHaveLength(1);
      expect(r.rows[0].slice(0, 2)).toEqual(['payments-api', 'internet']);
      expect(Number(r.rows[0][2])).toBeCloseTo(0.09, 9);
      const cov = await store.query(`SELECT count(*) FILTER (WHERE ${unattributedSql()}) / count(direction) FROM flows`);
      expect(Number(cov.rows[0][0])).toBeCloseTo(2 / CASES.length, 6);
    } finally {
      await store.close();
    }
  });

  it('re-enriches stored history after the inventory changes, replacing files in place', async () => {
    const db = dbJs();
    const before = readdirSync(join(db, 'flows'), { recursive: true }).filter((f) => String(f).endsWith('.parquet')).sort();
    const inv = await readStoredInventory(db);
    const moved = inv.entries.map((e) => (e.name === 'payments-api' ? { ...e, owner: 'checkout', name: 'checkout-api' } : e));
    moved.push({ cidr: '10.9.9.0/24', vpc: 'vpc-9', name: 'legacy', owner: 'ops' }, { cidr: '192.168.0.0/16', kind: 'on-prem', name: 'datacenter', owner: 'ops' });
    await saveInventory(db, { ...inv, entries: moved });
    const s = await reenrichStore(db);
    expect(s.files).toBe(before.length - 1);
    expect(s.records).toBe(CASES.length);
    expect(s.unattributed_ratio).toBe(0);
    const after = readdirSync(join(db, 'flows'), { recursive: true }).map(String).sort();
    expect(after.filter((f) => f.endsWith('.parquet'))).toEqual(before);
    expect(after.some((f) => f.endsWith('.tmp'))).toBe(false);
    const owners = await rows(db, `SELECT src_owner, src_name, count(*) AS n FROM flows WHERE src_owner IS NOT NULL GROUP BY ALL ORDER BY 1`);
    expect(owners).toEqual([
      { src_owner: 'checkout', src_name: 'checkout-api', n: CASES.length - 2 },
      { src_owner: 'ops', src_name: 'legacy', n: 1 },
    ]);
    expect(await rows(db, `SELECT dst_name, peer_kind, cost_class FROM flows WHERE dstaddr = '192.168.5.5'`)).toEqual([
      { dst_name: 'datacenter', peer_kind: 'on-prem', cost_class: 'on-prem-egress' },
    ]);
    expect(await rows(db, 'SELECT count(*) AS n FROM flows')).toEqual([{ n: CASES.length + 1 }]);
  }, 60_000);
});

describe('enrichment columns NULL throughout a chunk', () => {
  it('are left out of its file, and read as NULL through the views (no inventory: no names)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-enrich-null-'));
    writeFileSync(join(dir, 'flows.log'), fixture());
    const db = join(dir, 'store');
    await ingestPaths([join(dir, 'flows.log')], { db });
    const part = readdirSync(join(db, 'flows')).find((p) => p !== 'date=1970-01-01')!;
    const file = join(db, 'flows', part, readdirSync(join(db, 'flows', part))[0]);
    // The file itself (read by DuckDB directly): the columns with values, none of the names.
    const inst = await DuckDBInstance.create(':memory:');
    const conn = await inst.connect();
    const cols = (await conn.runAndReadAll(`SELECT name FROM parquet_schema('${file.replace(/'/g, "''")}')`)).getRows().map((r) => String(r[0]));
    conn.closeSync();
    inst.closeSync();
    expect(cols).toEqual(expect.arrayContaining(['direction', 'peer_kind', 'dst_asn', 'dst_country', 'cost_usd']));
    // src_as_name: the chunk's AS names include 8.8.8.8's, but no source address has one.
    for (const c of ['src_name', 'dst_owner', 'src_vpc', 'dst_subnet', 'src_tags', 'src_asn', 'src_as_name']) expect(cols).not.toContain(c);
    // The views: every enrichment column, NULL where the file has none.
    const [described] = await rows(db, `SELECT list(column_name) AS cols FROM (DESCRIBE SELECT * FROM flows)`);
    for (const c of ENRICH_COLUMNS) expect(described.cols as string[]).toContain(c.column);
    const [n] = await rows(db, `SELECT count(*) AS all_rows, count(src_name) + count(dst_owner) + count(src_vpc) + count(src_as_name) AS named, count(dst_asn) AS with_asn FROM flows`);
    // Two destinations have an AS: 8.8.8.8 and 52.95.128.179 (Amazon).
    expect(n).toEqual({ all_rows: CASES.length + 1, named: 0, with_asn: 2 });
  });
});

describe('coverage on the fabric', () => {
  it('attributes all but a sliver of internal addresses with the fabric topology as inventory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-enrich-fabric-'));
    await emulate({ scenarios: ['web-app', 'port-scan-horizontal', 'exfiltration'], duration: 1200, out: join(dir, 'logs'), seed: 3 });
    const s = await ingestPaths([join(dir, 'logs')], { db: join(dir, 'db'), inventory: DEFAULT_TOPOLOGY_PATH });
    expect(s.records).toBeGreaterThan(1000);
    expect(s.unattributed_ratio).not.toBeNull();
    expect(s.unattributed_ratio!).toBeLessThan(0.05);
    const [r] = await rows(join(dir, 'db'), `SELECT count(*) FILTER (WHERE ${unattributedSql()}) / count(direction) AS ratio, count(*) FILTER (WHERE src_name IS NOT NULL) AS named FROM flows`);
    expect(r.ratio as number).toBeCloseTo(s.unattributed_ratio!, 5);
    expect(r.named as number).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'db', 'enrich', 'inventory.json'))).toBe(true);
  }, 120_000);
});
