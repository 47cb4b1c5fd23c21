import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert, AlertEvent } from './alerts.ts';
import { createNotifiers, notifierFromFlag, slackPayload } from './notify.ts';

const alert = (id: string, severity: Alert['severity'] = 'high'): Alert => ({
  id,
  key: `r|${id}|`,
  rule_id: 'port-scan',
  family: 'port-scan',
  severity,
  title: `scan ${id}`,
  state: 'open',
  actors: ['203.0.113.5'],
  targets: ['10.0.0.30'],
  enis: ['eni-0a1b2c3d4e5f60003'],
  first_seen: 1705276800,
  last_seen: 1705277400,
  count: 40,
  evidence_query: 'filter srcAddr = "203.0.113.5"',
  updated_at: 1705277400,
  windows: 1,
  measures: { ports: 40 },
  route: 'page',
});

let server: Server | undefined;
afterEach(() => server?.close());

describe('webhook notifier', () => {
  it('keeps events on disk while the endpoint fails and delivers all of them, in order, once it recovers', async () => {
    const got: { type: string; alert: { id: string } }[] = [];
    let failures = 3;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        if (failures-- > 0) {
          res.statusCode = 503;
          res.end('down');
          return;
        }
        got.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const db = mkdtempSync(join(tmpdir(), 'flowlens-notify-'));
    const [n] = createNotifiers([notifierFromFlag(`webhook:http://127.0.0.1:${port}/hook`)!], db, { baseBackoffMs: 20 });
    const events: AlertEvent[] = [{ type: 'opened', alert: alert('a1') }, { type: 'opened', alert: alert('a2') }];
    await n.notify(events);
    // Queued durably before any send succeeded.
    expect(readdirSync(join(db, 'alerts', 'outbox', 'webhook-1')).filter((f) => f.endsWith('.json')).length).toBeGreaterThan(0);
    expect(await n.flush(20_000)).toBe(true);
    await n.stop();
    expect(got.map((g) => [g.type, g.alert.id])).toEqual([
      ['alert.opened', 'a1'],
      ['alert.opened', 'a2'],
    ]);
  });

  it('a queue left by a stopped process is sent by the next one', async () => {
    const db = mkdtempSync(join(tmpdir(), 'flowlens-notify-'));
    const dead = createNotifiers([{ type: 'webhook', url: 'http://127.0.0.1:9/none', headers: {}, timeoutMs: 500, maxAttempts: 50 }], db, { baseBackoffMs: 10_000 });
    await dead[0].notify([{ type: 'opened', alert: alert('b1', 'critical') }]);
    await dead[0].stop();
    const got: string[] = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        got.push(JSON.parse(body).alert.id);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    // Same notifier name, same outbox folder; the new endpoint takes the backlog (attempts reset by hand: the test does not wait 10 s).
    const dir = join(db, 'alerts', 'outbox', 'webhook-1');
    const { readFile, writeFile } = await import('node:fs/promises');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      const q = JSON.parse(await readFile(join(dir, f), 'utf8'));
      await writeFile(join(dir, f), JSON.stringify({ ...q, next_at: 0 }));
    }
    const [n] = createNotifiers([{ type: 'webhook', url: `http://127.0.0.1:${port}/`, headers: {}, timeoutMs: 2000, maxAttempts: 5 }], db);
    expect(await n.flush(10_000)).toBe(true);
    await n.stop();
    expect(got).toEqual(['b1']);
  });

  it('Slack payloads carry text and blocks; minSeverity filters', async () => {
    const p = slackPayload({ type: 'opened', alert: alert('c1', 'critical') }) as { text: string; blocks: unknown[] };
    expect(p.text).toBe('[CRITICAL] scan c1');
    expect(p.blocks.length).toBe(3);
    const lines: string[] = [];
    const [n] = createNotifiers([{ type: 'stdout', minSeverity: 'critical' }], mkdtempSync(join(tmpdir(), 'flowlens-notify-')), { stdout: (s) => lines.push(s) });
    await n.notify([{ type: 'opened', alert: alert('low', 'low') }, { type: 'opened', alert: alert('crit', 'critical') }]);
    expect(lines.join('').trim().split('\n').map((l) => JSON.parse(l).alert.id)).toEqual(['crit']);
  });
});
