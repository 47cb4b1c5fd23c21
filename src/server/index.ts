import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { explainConnection } from '../explain/index.ts';
import { loadTopology } from '../fabric/index.ts';
import type { Topology } from '../fabric/model.ts';
import type { CommitInfo } from '../ingest/index.ts';
import { getSaved, listSaved, saveQuery } from '../query/saved.ts';
import { ensureStore } from '../store/layout.ts';
import { buildRollups, hasRollups, storeExtent, warnRollupDay } from '../store/rollups.ts';
import { authHook, checkBind } from './auth.ts';
import { ServerConfig, type ServerOptions, type ServerSettings } from './config.ts';
import { HttpError, errorBody } from './errors.ts';
import { Findings, type AlertFilter } from './findings.ts';
import { ingestHealth } from './health.ts';
import { LiveIngest } from './live-ingest.ts';
import { srcPath } from '../util/runtime.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { OPENAPI } from './openapi.ts';
import { QueryService, type LimitedResult } from './query-service.ts';
import { requestRange } from './time.ts';

export { ServerConfig, type ServerOptions } from './config.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Resolves when accepted ingest is committed and streaming detection has caught up. */
    flowlensIdle(): Promise<void>;
  }
}

/** The dashboard `npm ci` builds (vite, src/web → src/web/dist). */
export const DEFAULT_WEB_ROOT = srcPath('web/dist');

const NDJSON = 'application/x-ndjson';

/** A running server: what `flowlens serve` and `flowlens demo` hold. */
export interface RunningServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * Builds the fastify app over a store (tests drive it with `inject`; `startServer` listens).
 * @example const app = await buildServer({ db: './flowlens.duckdb' }); await app.inject('/healthz')
 */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const cfg = ServerConfig.parse(options);
  checkBind(cfg.host, cfg.token);
  await ensureStore(cfg.db);
  const metrics = createMetrics();
  const service = new QueryService(cfg.db, { maxRows: cfg.maxRows, timeoutMs: cfg.queryTimeoutMs, maxQueued: cfg.maxQueuedQueries }, (kind, s, ok) =>
    metrics.query.observe({ kind, outcome: ok ? 'ok' : 'error' }, s),
  );
  const findings = new Findings(cfg.db, cfg.rulesDir, cfg.detect, (ls) => {
    for (const s of ls) metrics.detection.observe(s);
  });
  const onCommit = async (c: CommitInfo, receivedAt: number) => {
    await service.refresh();
    // Detection follows ingest; its failure must not undo a commit the sender will be told about.
    await findings.onCommit(c, receivedAt).catch((err: unknown) => app.log.error({ err }, 'streaming detection failed on a commit'));
  };
  const live = new LiveIngest(cfg.db, metrics, cfg.maxIngestInFlightBytes, onCommit);

  const app = Fastify({ logger: cfg.logRequests ? { level: 'info' } : false, bodyLimit: cfg.apiBodyLimit, forceCloseConnections: true });
  if (cfg.token) app.addHook('onRequest', authHook(cfg.token));
  app.setErrorHandler(async (err, req, reply) => {
    const { status, body } = errorBody(err);
    if (status === 500) req.log.error({ err }, 'request failed');
    if (status === 429 || status === 503) reply.header('retry-after', String(body.retryAfter ?? 1));
    if (req.url.startsWith('/ingest/firehose')) {
      // Firehose reads errorMessage and retries on anything but 200.
      return reply.code(status).send({ requestId: firehoseRequestId(req), timestamp: Date.now(), errorMessage: body.error });
    }
    return reply.code(status).send(body);
  });
  app.decorate('flowlensIdle', async () => {
    await live.drain();
    await findings.idle();
  });
  // Live ingest leaves the rollups of the days it touched stale (queries then read those days'
  // records); a rebuild now and then brings them back, one at a time, off the request path.
  let rollupRun: Promise<unknown> = Promise.resolve();
  let rollupBusy = false;
  const rollupTimer = cfg.rollupIntervalMs
    ? setInterval(() => {
        if (rollupBusy) return;
        rollupBusy = true;
        rollupRun = buildRollups(cfg.db, undefined, { threads: 1, memoryLimit: '512MB', onError: (day, err) => {
          // The request logger may be off: say it on stderr as ingest does.
          warnRollupDay(day, err);
          app.log.error({ err, day }, 'rollups of a day not built; its queries read the records');
        } })
          .catch((err: unknown) => app.log.error({ err }, 'rebuilding rollups failed'))
          .finally(() => (rollupBusy = false));
      }, cfg.rollupIntervalMs)
    : undefined;
  rollupTimer?.unref();
  app.addHook('onClose', async () => {
    if (rollupTimer) clearInterval(rollupTimer);
    await rollupRun;
    await live.close();
    await findings.stop();
    await service.close();
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => {
    await refreshGauges(service, findings, metrics);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/api/openapi.json', async () => OPENAPI);
  app.get('/api/schema', async () => {
    const columns = await service.columns();
    // Rollups: the store has flows_summary(lo, hi) (stores made before rollups do not).
    const rollups = hasRollups(cfg.db);
    return { columns, enriched: columns.some((c) => c.name === 'src_owner'), rollups };
  });

  // What the dashboard opens with: record count, first start, last end (no scan of the store).
  app.get('/api/extent', async () => storeExtent(cfg.db, async (sql) => (await service.sql(sql)).rows));
  app.post('/api/query', async (req, reply) => {
    const body = objectBody(req);
    const query = requiredString(body, 'query');
    const range = requestRange(body);
    return answer(req, reply, (max) => service.insights(query, range, max), cfg);
  });
  app.post('/api/sql', async (req, reply) => {
    const sql = requiredString(objectBody(req), 'sql');
    return answer(req, reply, (max) => service.sql(sql, max), cfg);
  });

  app.get('/api/saved-queries', async () => ({ queries: await listSaved(cfg.db) }));
  app.post('/api/saved-queries', async (req, reply) => {
    const body = objectBody(req);
    const name = requiredString(body, 'name');
    await saveQuery(cfg.db, name, requiredString(body, 'query'), typeof body.description === 'string' ? body.description : undefined);
    return reply.code(201).send({ saved: name });
  });
  app.post<{ Params: { name: string } }>('/api/saved-queries/:name/run', async (req, reply) => {
    const saved = await getSaved(cfg.db, req.params.name).catch((err: Error) => {
      throw new HttpError(404, err.message);
    });
    const range = requestRange(req.body ? objectBody(req) : {});
    return answer(req, reply, (max) => service.insights(saved.query, range, max), cfg);
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/findings', async (req) => {
    const q = req.query;
    const filter: AlertFilter = {};
    if (q.state) filter.state = q.state;
    if (q.severity) filter.severity = q.severity;
    if (q.since) filter.since = requestRange({ since: q.since }).from;
    if (q.limit) filter.limit = positiveInt(q.limit, 'limit');
    return { available: true, findings: await findings.list(filter), ...(findings.lastError ? { detection_error: findings.lastError } : {}) };
  });
  for (const [action, state] of [['ack', 'acknowledged'], ['resolve', 'resolved']] as const) {
    app.post<{ Params: { id: string } }>(`/api/findings/:id/${action}`, async (req) => {
      const note = req.body && typeof objectBody(req).note === 'string' ? String(objectBody(req).note) : undefined;
      const alert = await findings.setState(req.params.id, state, note);
      if (!alert) throw new HttpError(404, `no alert with id ${req.params.id}`);
      return alert;
    });
  }
  // Explain answers from the policy engine over the server's topology (loaded once, on first use).
  let topology: Promise<Topology> | undefined;
  app.post('/api/explain', async (req) => {
    const body = objectBody(req);
    const int = (key: string) => {
      const v = body[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new HttpError(400, `"${key}" must be a whole number`);
      return v;
    };
    const protocol = body.protocol;
    if (protocol !== undefined && typeof protocol !== 'string' && typeof protocol !== 'number') throw new HttpError(400, '"protocol" must be a name or a number');
    topology ??= loadTopology(cfg.topology).catch((err: unknown) => {
      topology = undefined;
      throw err;
    });
    return explainConnection(await topology, { src: requiredString(body, 'src'), dst: requiredString(body, 'dst'), dstPort: int('port'), srcPort: int('srcPort'), protocol });
  });
  app.get('/api/health/ingest', async () => ingestHealth(service, live, metrics));

  await app.register(async (scope) => ingestRoutes(scope, live, cfg));
  await serveDashboard(app, cfg);
  return app;
}

/**
 * Starts `flowlens serve`: the API, live ingest, metrics and the dashboard on one port.
 * @example const { url, close } = await startServer({ db: './flowlens.duckdb', port: 0 })
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const cfg: ServerSettings = ServerConfig.parse(options);
  const app = await buildServer(cfg);
  await app.listen({ host: cfg.host, port: cfg.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  return { url: `http://${host}:${port}`, app, close: () => app.close() };
}

/** Answers a result as JSON (capped at maxRows) or, when asked, as streamed NDJSON. */
async function answer(req: FastifyRequest, reply: FastifyReply, run: (maxRows: number) => Promise<LimitedResult>, cfg: ServerSettings) {
  const stream = (req.headers.accept ?? '').includes(NDJSON);
  const t0 = performance.now();
  const r = await run(stream ? cfg.maxStreamRows : cfg.maxRows);
  const elapsed_ms = Math.round(performance.now() - t0);
  if (!stream) return reply.send({ columns: r.columns, rows: r.rows.map(jsonSafeRow), truncated: r.truncated, elapsed_ms });
  return reply.type(NDJSON).send(
    Readable.from(
      (function* () {
        yield JSON.stringify({ columns: r.columns }) + '\n';
        // Rows go out in slices so a million-row answer never becomes one giant string.
        for (let i = 0; i < r.rows.length; i += 1000) {
          yield r.rows.slice(i, i + 1000).map((row) => JSON.stringify(jsonSafeRow(row))).join('\n') + '\n';
        }
        yield JSON.stringify({ truncated: r.truncated, elapsed_ms }) + '\n';
      })(),
    ),
  );
}

/** BIGINTs beyond 2^53 travel as strings; smaller ones as numbers (JSON cannot carry bigint). */
function jsonSafeRow(row: unknown[]): unknown[] {
  return row.map((v) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v));
}

function objectBody(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'expected a JSON object body');
  return b as Record<string, unknown>;
}

function requiredString(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || !v.trim()) throw new HttpError(400, `"${key}" is required (a non-empty string)`);
  return v;
}

function positiveInt(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new HttpError(400, `${name}: expected a positive integer, got "${text}"`);
  return n;
}

function firehoseRequestId(req: FastifyRequest): string {
  const body = req.body as { requestId?: unknown } | undefined;
  return typeof body?.requestId === 'string' ? body.requestId : String(req.headers['x-amz-firehose-request-id'] ?? '');
}

/** Live ingest: Firehose HTTP endpoint delivery and plain text lines. */
async function ingestRoutes(scope: FastifyInstance, live: LiveIngest, cfg: ServerSettings): Promise<void> {
  // Bodies arrive as bytes (gzip allowed); admission is decided from Content-Length before reading.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: cfg.ingestBodyLimit }, (_req, body, done) => done(null, body));
  scope.addHook('onRequest', async (req) => {
    const length = Number(req.headers['content-length'] ?? 0);
    live.admit(Number.isFinite(length) ? length : 0, req.url.startsWith('/ingest/firehose') ? 'firehose' : 'lines');
  });
  const text = (req: FastifyRequest): string => {
    let buf = req.body as Buffer | undefined;
    if (!buf || buf.length === 0) throw new HttpError(400, 'empty body');
    if (req.headers['content-encoding'] === 'gzip' || (buf[0] === 0x1f && buf[1] === 0x8b)) {
      try {
        buf = gunzipSync(buf, { maxOutputLength: cfg.ingestBodyLimit * 4 });
      } catch (err) {
        throw new HttpError(400, `body is not valid gzip (or inflates beyond ${cfg.ingestBodyLimit * 4} bytes): ${(err as Error).message}`, {}, { cause: err });
      }
    }
    return buf.toString('utf8');
  };

  scope.post<{ Querystring: { log_format?: string } }>('/ingest/firehose', async (req) => {
    let body: { requestId?: unknown; records?: unknown };
    try {
      body = JSON.parse(text(req));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, 'body is not the Firehose JSON request ({requestId, timestamp, records: [{data}]})', {}, { cause: err });
    }
    (req as { body: unknown }).body = body;
    if (!Array.isArray(body.records)) throw new HttpError(400, 'records: expected an array of {data: base64}');
    const requestId = typeof body.requestId === 'string' ? body.requestId : String(req.headers['x-amz-firehose-request-id'] ?? '');
    const lines: string[] = [];
    for (const [i, r] of body.records.entries()) {
      const data = (r as { data?: unknown })?.data;
      if (typeof data !== 'string') throw new HttpError(400, `records[${i}].data: expected base64 text`);
      const line = Buffer.from(data, 'base64').toString('utf8');
      lines.push(line.endsWith('\n') ? line : line + '\n');
    }
    const format = req.query.log_format ?? commonAttribute(req, 'log_format');
    if (lines.length) await live.ingest(lines.join(''), 'firehose', format);
    return { requestId, timestamp: Date.now() };
  });

  scope.post<{ Querystring: { log_format?: string } }>('/ingest/lines', async (req) => {
    const r = await live.ingest(text(req), 'lines', req.query.log_format);
    return { records: r.records + r.quarantined, stored: r.duplicates ? 0 : r.records, quarantined: r.quarantined, duplicates: r.duplicates, ok: r.ok, nodata: r.nodata, skipdata: r.skipdata };
  });
}

/** Firehose passes configured "common attributes" as a JSON header. */
function commonAttribute(req: FastifyRequest, key: string): string | undefined {
  const raw = req.headers['x-amz-firehose-common-attributes'];
  if (typeof raw !== 'string') return undefined;
  try {
    const v = (JSON.parse(raw) as { commonAttributes?: Record<string, unknown> }).commonAttributes?.[key];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

async function serveDashboard(app: FastifyInstance, cfg: ServerSettings): Promise<void> {
  const root = cfg.webRoot ?? DEFAULT_WEB_ROOT;
  if (!existsSync(join(root, 'index.html'))) {
    app.get('/', async (_req, reply) =>
      reply
        .code(503)
        .type('text/html')
        .send('<!doctype html><title>flowlens</title><p>The dashboard is not built. Run <code>npm run build:web</code> (it runs at <code>npm ci</code>), then restart <code>flowlens serve</code>. The API is up: <a href="/api/openapi.json">/api/openapi.json</a>.</p>'),
    );
    return;
  }
  await app.register(fastifyStatic, { root, prefix: '/', index: ['index.html'], wildcard: true, cacheControl: false, setHeaders: (res, path) => {
    // Hashed asset names never change; index.html must always be revalidated.
    res.header('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
  } });
}

/** Fills the gauges that come from the store and the findings at scrape time. */
async function refreshGauges(service: QueryService, findings: Findings, metrics: Metrics): Promise<void> {
  const cols = await service.columns();
  metrics.unattributed.reset();
  if (cols.some((c) => c.name === 'src_owner') && cols.some((c) => c.name === 'dst_owner')) {
    const since = Math.floor(Date.now() / 1000) - 3600;
    const r = await service.sql(
      `SELECT count(*), count(*) FILTER (WHERE src_owner IS NULL AND dst_owner IS NULL) FROM flows WHERE log_status = 'OK' AND start >= ${since}`,
    );
    const total = Number(r.rows[0]?.[0] ?? 0);
    if (total > 0) metrics.unattributed.set(Number(r.rows[0][1]) / total);
  }
  metrics.alerts.reset();
  {
    const counts = new Map<string, number>();
    for (const a of await findings.list({})) counts.set(`${a.severity}\u0000${a.state}`, (counts.get(`${a.severity}\u0000${a.state}`) ?? 0) + 1);
    for (const [k, n] of counts) {
      const [severity, state] = k.split('\u0000');
      metrics.alerts.set({ severity, state }, n);
    }
  }
}
