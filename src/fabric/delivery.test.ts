import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import type { Delivery, EmulateOptionsIn } from './config.ts';
import { emulate } from './emulate.ts';
import { TINY } from './test-helpers.ts';

const GOLDEN_DIR = new URL('./testdata/', import.meta.url).pathname;
const base: EmulateOptionsIn = { topology: TINY, scenarios: ['web-app', 'blackhole'], duration: 120, seed: 3, scale: 0.05, gzipLevel: 1 };

/** A text picture of a delivery's files: each file's path and content (Parquet as its schema and rows). */
async function picture(out: string, paths: string[]): Promise<string> {
  let s = '';
  for (const p of [...paths].sort()) {
    s += `== ${relative(out, p)} ==\n`;
    if (p.endsWith('.gz')) s += gunzipSync(readFileSync(p)).toString('latin1');
    else if (p.endsWith('.parquet')) {
      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      const schema = await conn.runAndReadAll(`SELECT name, type, converted_type FROM parquet_schema('${p}') WHERE name <> 'duckdb_schema'`);
      s += schema.getRows().map((r) => r.join(' ')).join('\n') + '\n';
      const rows = await conn.runAndReadAll(`SELECT * FROM read_parquet('${p}')`);
      s += rows.getRows().map((r) => r.map((v) => (v === null ? '-' : String(v))).join(' ')).join('\n') + '\n';
      conn.closeSync();
    } else s += readFileSync(p, 'latin1');
  }
  return s;
}

/** Compares with the golden file; writes it only when UPDATE_GOLDENS=1 (never in CI). */
function golden(name: string, actual: string): void {
  const path = join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDENS === '1') writeFileSync(path, actual);
  if (!existsSync(path)) throw new Error(`golden ${name} is missing; run with UPDATE_GOLDENS=1 to create it`);
  expect(actual === readFileSync(path, 'latin1'), `${name} differs from its golden file (UPDATE_GOLDENS=1 to accept)`).toBe(true);
}

const DELIVERIES: Delivery[] = ['s3', 's3-hive', 'parquet', 'cloudwatch', 'cloudwatch-subscription', 'firehose'];

describe('delivery shapes', () => {
  for (const delivery of DELIVERIES) {
    it(`golden: ${delivery}`, async () => {
      const out = mkdtempSync(join(tmpdir(), `flowlens-${delivery}-`));
      const r = await emulate({ ...base, out, delivery });
      expect(r.records).toBeGreaterThan(50);
      golden(`golden-${delivery}.txt`, await picture(out, r.paths));
    });
  }

  it('determinism: same seed, same bytes; another seed, other bytes', async () => {
    const digest = async (seed: number) => {
      const out = mkdtempSync(join(tmpdir(), 'flowlens-det-'));
      const r = await emulate({ ...base, scenarios: ['all'], duration: 1200, seed, out, labels: join(out, 'labels.jsonl') });
      const h = createHash('sha256');
      for (const p of [...r.paths, join(out, 'labels.jsonl')]) h.update(relative(out, p)).update(readFileSync(p));
      return h.digest('hex');
    };
    const a = await digest(11);
    expect(await digest(11)).toBe(a);
    expect(await digest(12)).not.toBe(a);
  });

  it('objects roll over past the size cap, each with its header line', async () => {
    const out = mkdtempSync(join(tmpdir(), 'flowlens-roll-'));
    const r = await emulate({ ...base, out, maxObjectBytes: 2048 });
    expect(r.paths.length).toBeGreaterThan(8);
    for (const p of r.paths) expect(gunzipSync(readFileSync(p)).toString('latin1')).toMatch(/^version /);
    const keys = r.paths.map((p) => relative(out, p));
    expect(keys[0]).toMatch(/^AWSLogs\/111122223333\/vpcflowlogs\/eu-west-1\/2024\/01\/15\/111122223333_vpcflowlogs_eu-west-1_fl-[0-9]+_20240115T\d{4}Z_[0-9a-f]{8}\.log\.gz$/);
  });

  it('firehose: POSTs the HTTP endpoint request body and checks the answer', async () => {
    const bodies: { requestId: string; timestamp: number; records: { data: string }[] }[] = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        const body = JSON.parse(text);
        expect(req.headers['x-amz-firehose-request-id']).toBe(body.requestId);
        bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requestId: body.requestId, timestamp: Date.now() }));
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    try {
      const out = mkdtempSync(join(tmpdir(), 'flowlens-fh-'));
      const r = await emulate({ ...base, out, delivery: 'firehose', firehoseUrl: `http://127.0.0.1:${port}/` });
      const lines = bodies.flatMap((b) => b.records.map((x) => Buffer.from(x.data, 'base64').toString('latin1')));
      expect(lines.length).toBe(r.records);
      expect(lines.every((l) => l.endsWith('\n') && !l.startsWith('version'))).toBe(true);
    } finally {
      server.close();
    }
  });

  it('firehose: a refusing endpoint is a clear error', async () => {
    const server = createServer((_req, res) => res.writeHead(500).end('no'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    try {
      const out = mkdtempSync(join(tmpdir(), 'flowlens-fh-'));
      await expect(emulate({ ...base, duration: 60, out, delivery: 'firehose', firehoseUrl: `http://127.0.0.1:${port}/` })).rejects.toThrow(/refused request .*HTTP 500/);
    } finally {
      server.close();
    }
  });
});
