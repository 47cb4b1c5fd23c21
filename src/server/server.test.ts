import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoredInventory, saveInventory } from '../enrich/index.ts';
import { openStore } from '../store/index.ts';
import { UserError } from '../util/errors.ts';
import { buildServer, startServer } from './index.ts';
import { limitSql } from './query-service.ts';
import { inferLogFormat } from '../schema/format.ts';
import { emulatedStore, type Fixture } from './test-fixture.ts';

let fx: Fixture;
let app: FastifyInstance;

beforeAll(async () => {
  fx = await emulatedStore();
  app = await buildServer({ db: fx.db, webRoot: '/nonexistent', detect: false });
});
afterAll(async () => {
  await app?.close();
  fx?.cleanup();
});

const post = (url: string, payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, payload: payload as object, headers });
const countSql = async (sql: string) => Number((await post('/api/sql', { sql })).json().rows[0][0]);

/** Flow log lines in the default format, for an interface no emulated record uses. */
function lines(eni: string, n: number, end = Math.floor(Date.now() / 1000) - 30): string {
  return Array.from({ length: n }, (_, i) => `2 123456789010 ${eni} 198.51.100.${i % 250} 10.0.1.10 ${40000 + i} 22 6 3 180 ${end - 60} ${end} REJECT OK\n`).join('');
}

describe('query API', () => {
  it('answers health and its OpenAPI document', async () => {
    expect((await app.inject('/healthz')).json()).toEqual({ ok: true });
    const doc = (await app.inject('/api/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/query', '/api/sql', '/api/findings', '/api/explain', '/api/extent', '/ingest/firehose', '/ingest/lines', '/metrics']));
  });

  it('tells the store extent, the same as a scan says', async () => {
    const scan = (await post('/api/sql', { sql: 'SELECT count(*), min(start), max("end") FROM flows' })).json().rows[0].map(Number);
    expect(scan[0]).toBeGreaterThan(0);
    expect((await app.inject('/api/extent')).json()).toEqual({ records: scan[0], first_start: scan[1], last_end: scan[2] });
  });

  it('runs Logs Insights queries over a time range, with the same answer as SQL', async () => {
    const r = await post('/api/query', { query: 'stats count(*) as n by action | sort n desc', from: fx.start, to: fx.end + 600 });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.columns).toEqual(['action', 'n']);
    const accept = body.rows.find((x: unknown[]) => x[0] === 'ACCEPT')[1];
    expect(accept).toBe(await countSql(`SELECT count(*) FROM flows WHERE action = 'ACCEPT' AND start >= ${fx.start} AND start <= ${fx.end + 600}`));
    // An empty window answers with no rows, not an error.
    expect((await post('/api/query', { query: 'stats count(*) by action', from: 1000, to: 2000 })).json().rows).toEqual([]);
  });

  it('points at the mistake in a query', async () => {
    const r = await post('/api/query', { query: 'filter action="REJECT" | stats sumn(bytes) by srcAddr' });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ line: 1, column: 32, error: expect.stringContaining('did you mean `sum`') });
  });

  it('keeps SQL read-only and inside the store', async () => {
    for (const sql of ["COPY flows TO '/tmp/x.csv'", "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM '/etc/passwd'", 'CREATE TABLE x AS SELECT 1', "ATTACH '/tmp/x.db'"]) {
      const r = await post('/api/sql', { sql });
      expect(r.statusCode, sql).toBe(400);
      // Refused by the read-only check, or (a file path as a table) not found: never read.
      expect(r.json().error, sql).toMatch(/read-only|not allowed|disabled|only SELECT|does not exist/i);
      expect(r.body).not.toContain('root:');
    }
    expect((await post('/api/sql', {})).statusCode).toBe(400);
  });

  it('caps rows (truncated) and streams more as NDJSON', async () => {
    const small = await buildServer({ db: fx.db, maxRows: 5, maxStreamRows: 50, webRoot: '/nonexistent' });
    try {
      const r = await small.inject({ method: 'POST', url: '/api/sql', payload: { sql: 'SELECT start, srcaddr FROM flows ORDER BY start, srcaddr;' } });
      expect(r.json().rows).toHaveLength(5);
      expect(r.json().truncated).toBe(true);
      const s = await small.inject({ method: 'POST', url: '/api/sql', headers: { accept: 'application/x-ndjson' }, payload: { sql: 'SELECT start, srcaddr FROM flows ORDER BY start, srcaddr' } });
      expect(s.headers['content-type']).toContain('application/x-ndjson');
      const out = s.body.trim().split('\n').map((l) => JSON.parse(l));
      expect(out[0]).toEqual({ columns: ['start', 'srcaddr'] });
      expect(out.slice(1, -1)).toHaveLength(50);
      expect(out.at(-1).truncated).toBe(true);
      // A statement that cannot be wrapped still runs.
      expect((await small.inject({ method: 'POST', url: '/api/sql', payload: { sql: 'DESCRIBE flows' } })).statusCode).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('interrupts a query that runs past the time limit', async () => {
    const slow = await buildServer({ db: fx.db, queryTimeoutMs: 50, webRoot: '/nonexistent' });
    try {
      const r = await slow.inject({ method: 'POST', url: '/api/sql', payload: { sql: 'SELECT count(*) FROM range(1000000000000) a' } });
      expect(r.statusCode).toBe(504);
      expect(r.json().error).toMatch(/interrupted after 50 ms/);
      // The store is usable right after.
      expect((await slow.inject({ method: 'POST', url: '/api/sql', payload: { sql: 'SELECT 42' } })).json().rows).toEqual([[42]]);
    } finally {
      await slow.close();
    }
  });

  it('explains a connection over the shipped topology and refuses bad input with 400', async () => {
    const r = await post('/api/explain', { src: '10.0.10.21', dst: '10.0.20.10', port: 5432 });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ verdict: 'ACCEPT', endpoint: 'eni-0a1b2c3d4e5f60041' });
    const rej = (await post('/api/explain', { src: '203.0.113.9', dst: '192.0.2.30', port: 3389 })).json();
    expect(rej.blockedBy).toMatchObject({ layer: 'sg', ruleId: 'sg-0a1b2c3d4e5f60005 ingress' });
    const bad = await post('/api/explain', { src: 'not-an-ip', dst: '10.0.20.10' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/source: "not-an-ip" is not an IPv4 or IPv6 address/);
    expect((await post('/api/explain', { src: '10.0.10.21', dst: '10.0.20.10', port: '5432' })).statusCode).toBe(400);
  });

  it('lists, saves and runs saved queries, and refuses names that are paths', async () => {
    const list = (await app.inject('/api/saved-queries')).json().queries;
    expect(list.map((q: { name: string }) => q.name)).toContain('aws-top-rejected-sources');
    expect((await post('/api/saved-queries', { name: 'ssh-knocks', query: 'filter dstPort = 22 and action = "REJECT" | stats count(*) as n by srcAddr | sort n desc' })).statusCode).toBe(201);
    const run = await post('/api/saved-queries/ssh-knocks/run', {});
    expect(run.statusCode).toBe(200);
    expect(run.json().columns).toEqual(['srcAddr', 'n']);
    expect(run.json().rows.length).toBeGreaterThan(0);
    expect((await post('/api/saved-queries', { name: '../../etc/evil', query: 'stats count(*)' })).statusCode).toBe(400);
    expect((await post('/api/saved-queries/nope/run', {})).statusCode).toBe(404);
  });

  it('lists findings and acknowledges and resolves them', async () => {
    const all = (await app.inject('/api/findings')).json();
    expect(all.available).toBe(true);
    expect(all.findings.length).toBeGreaterThan(0);
    const a = all.findings[0];
    expect(a).toMatchObject({ id: expect.any(String), rule_id: expect.any(String), severity: expect.any(String), state: 'open' });
    const acked = await post(`/api/findings/${a.id}/ack`, { note: 'looking' });
    expect(acked.statusCode).toBe(200);
    expect(acked.json().state).toBe('acknowledged');
    expect((await app.inject(`/api/findings?state=acknowledged`)).json().findings.map((x: { id: string }) => x.id)).toContain(a.id);
    expect((await post(`/api/findings/${a.id}/resolve`, {})).json().state).toBe('resolved');
    expect((await post('/api/findings/al-nope/ack', {})).statusCode).toBe(404);
  });

  it('reports ingest health from the store', async () => {
    const h = (await app.inject('/api/health/ingest')).json();
    expect(h.store.records).toBe(await countSql('SELECT count(*) FROM flows'));
    expect(h.store.last_end).toBeGreaterThan(fx.end - 700);
    expect(['ok', 'degraded']).toContain(h.status);
  });

  it('refuses bodies over the limit', async () => {
    const tiny = await buildServer({ db: fx.db, apiBodyLimit: 100, ingestBodyLimit: 200, webRoot: '/nonexistent' });
    try {
      expect((await tiny.inject({ method: 'POST', url: '/api/sql', payload: { sql: `SELECT '${'x'.repeat(200)}'` } })).statusCode).toBe(413);
      expect((await tiny.inject({ method: 'POST', url: '/ingest/lines', payload: lines('eni-0000000000000big', 5), headers: { 'content-type': 'text/plain' } })).statusCode).toBe(413);
    } finally {
      await tiny.close();
    }
  });
});

describe('live ingest', () => {
  it('stores text lines durably before answering', async () => {
    const r = await post('/ingest/lines', lines('eni-0aaaaaaaaaaaaaaa1', 40), { 'content-type': 'text/plain' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ records: 40, stored: 40, quarantined: 0, duplicates: 0 });
    // Acknowledged means on disk: a separate reader sees the records at once.
    const store = await openStore(fx.db);
    try {
      expect((await store.query("SELECT count(*) FROM flows WHERE interface_id = 'eni-0aaaaaaaaaaaaaaa1'")).rows[0][0]).toBe(40n);
    } finally {
      await store.close();
    }
  });

  it('enriches with the inventory of the moment: one saved while the server runs applies to the next request', async () => {
    const name = async (eni: string) => (await post('/api/sql', { sql: `SELECT any_value(dst_name) FROM flows WHERE interface_id = '${eni}'` })).json().rows[0][0];
    expect((await post('/ingest/lines', lines('eni-0aaaaaaaaaaaaaaa3', 2), { 'content-type': 'text/plain' })).statusCode).toBe(200);
    const before = await readStoredInventory(fx.db);
    await saveInventory(fx.db, { ...before, entries: [...before.entries, { cidr: '10.0.1.10/32', name: 'bastion-under-test' }] });
    try {
      expect((await post('/ingest/lines', lines('eni-0aaaaaaaaaaaaaaa4', 2), { 'content-type': 'text/plain' })).statusCode).toBe(200);
      expect(await name('eni-0aaaaaaaaaaaaaaa4')).toBe('bastion-under-test');
      expect(await name('eni-0aaaaaaaaaaaaaaa3')).not.toBe('bastion-under-test');
    } finally {
      await saveInventory(fx.db, before);
    }
  });

  it('quarantines bad lines and keeps the good ones', async () => {
    const r = await post('/ingest/lines', lines('eni-0aaaaaaaaaaaaaaa2', 3) + '2 123456789010 eni-0aaaaaaaaaaaaaaa2 not-an-ip 10.0.0.1 1 2 6 1 1 1 2 ACCEPT OK\n', { 'content-type': 'text/plain' });
    expect(r.json()).toMatchObject({ records: 4, stored: 3, quarantined: 1 });
  });

  it('takes Firehose HTTP endpoint requests, answers with the request id, and stores a retry once', async () => {
    const body = {
      requestId: 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f',
      timestamp: Date.now(),
      records: lines('eni-0bbbbbbbbbbbbbbb1', 25).trim().split('\n').map((l) => ({ data: Buffer.from(l).toString('base64') })),
    };
    const headers = { 'content-type': 'application/json', 'x-amz-firehose-request-id': body.requestId, 'x-amz-firehose-protocol-version': '1.0' };
    const r = await post('/ingest/firehose', body, headers);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ requestId: body.requestId, timestamp: expect.any(Number) });
    // Firehose retries a request it got no answer for: same records, stored once.
    const again = await app.inject({ method: 'POST', url: '/ingest/firehose', headers: { ...headers, 'content-encoding': 'gzip' }, payload: gzipSync(JSON.stringify(body)) });
    expect(again.statusCode).toBe(200);
    expect(await countSql("SELECT count(*) FROM flows WHERE interface_id = 'eni-0bbbbbbbbbbbbbbb1'")).toBe(25);
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toMatch(/flowlens_ingest_records_duplicated_total\{route="firehose"\} 25/);
    expect(metrics).toMatch(/flowlens_ingest_records_stored_total\{route="firehose"\} 25/);
  });

  it('answers a malformed Firehose request the way Firehose reads errors', async () => {
    const r = await post('/ingest/firehose', { requestId: 'r-1', records: 'nope' });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ requestId: 'r-1', timestamp: expect.any(Number), errorMessage: expect.stringContaining('records') });
  });

  it('reads header-less lines in the "all fields up to version N" format', () => {
    expect(inferLogFormat('2 123456789010 eni-1 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK')).toBeUndefined();
    const v5 = inferLogFormat(`5 ${Array.from({ length: 28 }, () => '-').join(' ')}`);
    expect(v5).toMatch(/^\$\{version\} \$\{account-id\}.*\$\{traffic-path\}$/);
  });

  it('answers 429 with Retry-After instead of buffering without bound', async () => {
    const busy = await buildServer({ db: fx.db, maxIngestInFlightBytes: 4000, webRoot: '/nonexistent', detect: false });
    try {
      const send = (eni: string) => busy.inject({ method: 'POST', url: '/ingest/lines', payload: lines(eni, 30), headers: { 'content-type': 'text/plain' } });
      const [a, b] = await Promise.all([send('eni-0ccccccccccccccc1'), send('eni-0ccccccccccccccc2')]);
      expect(a.statusCode).toBe(200);
      expect(b.statusCode).toBe(429);
      expect(Number(b.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Once the first commit is done the same request goes through.
      expect((await send('eni-0ccccccccccccccc2')).statusCode).toBe(200);
      expect((await busy.inject('/metrics')).body).toMatch(/flowlens_ingest_requests_total\{route="lines",outcome="throttled"\} 1/);
    } finally {
      await busy.close();
    }
  });

  it('runs streaming detection on what live ingest commits', async () => {
    const live = await buildServer({ db: fx.db, webRoot: '/nonexistent' });
    try {
      const end = Math.floor(Date.now() / 1000) - 120;
      const attack = Array.from({ length: 40 }, (_, i) => `2 123456789010 eni-0eeeeeeeeeeeeeee1 203.0.113.66 10.0.1.10 ${50000 + i} 22 6 3 180 ${end - 50} ${end} REJECT OK\n`).join('');
      expect((await live.inject({ method: 'POST', url: '/ingest/lines', payload: attack, headers: { 'content-type': 'text/plain' } })).statusCode).toBe(200);
      await live.flowlensIdle();
      const found = (await live.inject('/api/findings')).json().findings as { rule_id: string; actors: string[] }[];
      expect(found.filter((a) => a.actors.includes('203.0.113.66')).map((a) => a.rule_id)).toContain('ssh-brute-force-inbound');
      // Request received → every rule evaluated its records, one observation per commit.
      const m = (await live.inject('/metrics')).body;
      expect(Number(/flowlens_detection_latency_seconds_count (\d+)/.exec(m)?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      await live.close();
    }
  });

  it('exposes the ingest SLIs and query latency as Prometheus metrics', async () => {
    const m = (await app.inject('/metrics')).body;
    for (const name of ['flowlens_ingest_records_received_total', 'flowlens_ingest_records_quarantined_total', 'flowlens_ingest_success_ratio', 'flowlens_query_duration_seconds_bucket', 'flowlens_alerts{']) {
      expect(m, name).toContain(name);
    }
    expect(m).toMatch(/flowlens_ingest_records_quarantined_total\{route="lines"\} 1/);
    // Record end → stored: the lines above ended 30 s before they were posted.
    const count = Number(/flowlens_processing_latency_seconds_count (\d+)/.exec(m)?.[1]);
    expect(count).toBeGreaterThanOrEqual(65);
    expect(Number(/flowlens_processing_latency_seconds_bucket\{le="10"\} (\d+)/.exec(m)?.[1])).toBe(0);
    expect(Number(/flowlens_processing_latency_seconds_bucket\{le="120"\} (\d+)/.exec(m)?.[1])).toBe(count);
  });
});

describe('security', () => {
  it('refuses to listen beyond loopback without a token', async () => {
    await expect(buildServer({ db: fx.db, host: '0.0.0.0' })).rejects.toThrow(UserError);
    await expect(buildServer({ db: fx.db, host: '0.0.0.0' })).rejects.toThrow(/without a token/);
  });

  it('checks the token on every route but /healthz', async () => {
    const token = 'correct-horse-battery-staple';
    const guarded = await buildServer({ db: fx.db, host: '0.0.0.0', token, webRoot: '/nonexistent' });
    try {
      expect((await guarded.inject('/healthz')).statusCode).toBe(200);
      for (const url of ['/metrics', '/api/openapi.json', '/api/findings', '/api/health/ingest', '/']) {
        expect((await guarded.inject(url)).statusCode, url).toBe(401);
      }
      expect((await guarded.inject({ method: 'POST', url: '/api/sql', payload: { sql: 'SELECT 1' } })).statusCode).toBe(401);
      expect((await guarded.inject({ method: 'POST', url: '/api/sql', payload: { sql: 'SELECT 1' }, headers: { authorization: 'Bearer wrong-token-wrong-token' } })).statusCode).toBe(401);
      expect((await guarded.inject({ method: 'POST', url: '/api/sql', payload: { sql: 'SELECT 1' }, headers: { authorization: `Bearer ${token}` } })).json().rows).toEqual([[1]]);
      // Firehose sends its access key in its own header.
      const fh = await guarded.inject({ method: 'POST', url: '/ingest/firehose', payload: { requestId: 'x', records: [] }, headers: { 'x-amz-firehose-access-key': token } });
      expect(fh.json()).toMatchObject({ requestId: 'x' });
      // A browser opens /?token=… once: it gets a cookie and a URL without the token.
      const open = await guarded.inject('/?token=' + token);
      expect(open.statusCode).toBe(303);
      expect(open.headers.location).toBe('/');
      const cookie = String(open.headers['set-cookie']).split(';')[0];
      expect(String(open.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/);
      expect((await guarded.inject({ url: '/api/findings', headers: { cookie } })).statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('serves on a real socket, bound to 127.0.0.1 by default', async () => {
    const s = await startServer({ db: fx.db, port: 0, webRoot: '/nonexistent', detect: false });
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const address = s.app.server.address();
      expect(typeof address === 'object' && address?.address).toBe('127.0.0.1');
      expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ ok: true });
      const r = await fetch(`${s.url}/ingest/lines`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: lines('eni-0ddddddddddddddd1', 10) });
      expect(await r.json()).toMatchObject({ stored: 10 });
      const q = await fetch(`${s.url}/api/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'filter interfaceId = "eni-0ddddddddddddddd1" | stats count(*) as n', since: '1h' }) });
      expect((await q.json()).rows).toEqual([[10]]);
      // Without a built dashboard, / says how to build it.
      const home = await fetch(`${s.url}/`);
      expect(home.status).toBe(503);
      expect(await home.text()).toContain('npm run build:web');
    } finally {
      await s.close();
    }
  });
});

describe('limitSql', () => {
  it('wraps queries and leaves other statements alone', () => {
    expect(limitSql('SELECT 1; ', 10)).toBe('SELECT * FROM (\nSELECT 1\n) AS limited LIMIT 11');
    expect(limitSql('select 1 -- note', 1)).toBe('SELECT * FROM (\nselect 1 -- note\n) AS limited LIMIT 2');
    expect(limitSql('DESCRIBE flows', 10)).toBe('DESCRIBE flows');
  });
});
