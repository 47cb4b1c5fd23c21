import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestPaths } from '../ingest/index.ts';
import { ENRICH_COLUMNS } from '../schema/columns.ts';
import { openStore } from '../store/index.ts';
import { reenrichStore } from './reenrich.ts';

/**
 * Ingest enriches in JS (batch-enrich.ts); re-enrich and Parquet input enrich in SQL
 * (EnrichSession.select). Random records over a random inventory must come out the same.
 */

const T = 1_700_000_000;
// Addresses covering every kind of answer: VPC hosts, a NAT gateway, on-premises networks,
// an AWS service range, link-local, public, IPv6, and a host that changes owner over time.
const POOL = ['10.0.3.17', '10.0.3.18', '10.0.4.9', '10.1.0.5', '10.0.9.8', '192.168.5.5', '172.16.0.1', '52.95.128.179', '169.254.169.254', '8.8.8.8', '203.0.113.9', '2600:1f18::5', '2001:db8:1::10', '10.9.9.9'];

const inventory = (split: number, withNames: boolean) => `
networks: [192.168.0.0/16]
entries:
  - { cidr: 10.0.0.0/16, kind: vpc, vpc: vpc-1, account: "111111111111", region: us-east-1 }
  - { cidr: 10.1.0.0/16, kind: vpc, vpc: vpc-2, account: "222222222222", region: eu-west-1 }
  - { cidr: 10.0.3.0/24, vpc: vpc-1, subnet: subnet-a, az: us-east-1a, account: "111111111111", region: us-east-1 }
  - { cidr: 10.0.4.0/24, vpc: vpc-1, subnet: subnet-b, az: us-east-1b, account: "111111111111", region: us-east-1 }
  - { cidr: 10.0.9.8, kind: nat_gateway, vpc: vpc-1, az: us-east-1a, region: us-east-1${withNames ? ', name: nat-a' : ''} }
  - { cidr: 52.95.128.0/21, kind: aws-service, aws_service: S3, region: us-east-1 }
  - { cidr: 2001:db8:1::/48, vpc: vpc-1, account: "111111111111", region: us-east-1 }
${withNames ? `  - { cidr: 10.0.3.17, name: payments-api, owner: payments, env: prod, tags: { pci: true }, valid_to: ${T + split} }
  - { cidr: 10.0.3.17, name: search-api, owner: search, env: prod, valid_from: ${T + split} }
  - { cidr: 172.16.0.0/12, kind: on-prem, name: dc-1, owner: netops }` : ''}
`;

const record = fc.record({
  nodata: fc.integer({ min: 0, max: 9 }),
  src: fc.constantFrom(...POOL),
  dst: fc.constantFrom(...POOL),
  sport: fc.oneof(fc.constantFrom(22, 443, 53, 3389, 5432, 8080, 0), fc.integer({ min: 0, max: 65535 })),
  dport: fc.oneof(fc.constantFrom(22, 443, 53, 3389, 5432, 8080, 0), fc.integer({ min: 0, max: 65535 })),
  proto: fc.constantFrom(6, 17, 1, 58, 132, 47),
  bytes: fc.integer({ min: 0, max: 2 ** 40 }),
  at: fc.integer({ min: 0, max: 7200 }),
  pktSrc: fc.constantFrom('-', '-', 'S3', 'DYNAMODB'),
  pktDst: fc.constantFrom('-', '-', 'S3', 'EC2'),
});

interface Rec {
  nodata: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  bytes: number;
  at: number;
  pktSrc: string;
  pktDst: string;
}

const HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status pkt-src-aws-service pkt-dst-aws-service';

function line(r: Rec): string {
  const t = T + r.at;
  if (r.nodata === 0) return `5 123456789012 eni-0a - - - - - - - ${t} ${t + 59} - NODATA - -`;
  const ports = r.proto === 6 || r.proto === 17 || r.proto === 132 ? `${r.sport} ${r.dport}` : '0 0';
  return `5 123456789012 eni-0a ${r.src} ${r.dst} ${ports} ${r.proto} 3 ${r.bytes} ${t} ${t + 59} ACCEPT OK ${r.pktSrc} ${r.pktDst}`;
}

const LIST = ['start', 'srcaddr', 'dstaddr', 'srcport', 'dstport', 'protocol', 'bytes', ...ENRICH_COLUMNS.map((c) => c.column)].map((c) => `"${c}"`).join(', ');

async function rows(db: string): Promise<unknown[][]> {
  const store = await openStore(db);
  try {
    return (await store.query(`SELECT ${LIST} FROM flows ORDER BY ALL`)).rows;
  } finally {
    await store.close();
  }
}

describe('enrichment at ingest (JS) and re-enrich (SQL) agree', () => {
  it('on random records over a random inventory', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 7200 }), fc.boolean(), async (recs, split, withNames) => {
        const dir = mkdtempSync(join(tmpdir(), 'flowlens-enrich-prop-'));
        writeFileSync(join(dir, 'inventory.yaml'), inventory(split, withNames));
        // Every pair of the pool once, so each classification branch is met in every run.
        const pairs = POOL.flatMap((src, i) => POOL.map((dst, j) => ({ nodata: 1, src, dst, sport: 40000 + i, dport: [443, 22, 53, 5432][j % 4], proto: [6, 17, 6, 1][(i + j) % 4], bytes: 1000 * (i + 1), at: (i * 600 + j * 60) % 7200, pktSrc: '-', pktDst: j % 5 === 0 ? 'S3' : '-' })));
        writeFileSync(join(dir, 'flows.log'), [HEADER, ...pairs.map(line), ...recs.map(line)].join('\n') + '\n');
        const a = join(dir, 'a');
        await ingestPaths([join(dir, 'flows.log')], { db: a, inventory: join(dir, 'inventory.yaml') });
        const b = join(dir, 'b');
        cpSync(a, b, { recursive: true });
        await reenrichStore(b);
        const [x, y] = [await rows(a), await rows(b)];
        expect(x.length).toBe(pairs.length + recs.length);
        expect(x).toEqual(y);
      }),
      { numRuns: 8 },
    );
  }, 120_000);
});
