/** The OpenAPI 3.1 description of `flowlens serve`, served at /api/openapi.json. */
const resultSet = {
  type: 'object',
  required: ['columns', 'rows'],
  properties: {
    columns: { type: 'array', items: { type: 'string' } },
    rows: { type: 'array', items: { type: 'array', items: {} } },
    truncated: { type: 'boolean', description: 'true when the answer was cut at the row limit (ask for NDJSON for more)' },
    elapsed_ms: { type: 'number' },
  },
};
const error = { type: 'object', required: ['error'], properties: { error: { type: 'string' }, line: { type: 'integer' }, column: { type: 'integer' }, caret: { type: 'string' } } };
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const streamed = { ...json(resultSet).content, 'application/x-ndjson': { schema: { type: 'string', description: 'first line {"columns": [...]}, then one JSON array per row, then {"truncated": bool}' } } };
const errors = { 400: { description: 'mistake in the request (queries: with line and column)', ...json(error) }, 401: { description: 'missing or wrong bearer token', ...json(error) }, 429: { description: 'busy; see Retry-After', ...json(error) }, 504: { description: 'query time limit reached', ...json(error) } };
const alert = {
  type: 'object',
  properties: Object.fromEntries([
    ...['id', 'rule_id', 'family', 'severity', 'title', 'state', 'evidence_query', 'incident_id'].map((k): [string, object] => [k, { type: 'string' }]),
    ...['actors', 'targets', 'enis'].map((k): [string, object] => [k, { type: 'array', items: { type: 'string' } }]),
    ...['first_seen', 'last_seen', 'updated_at'].map((k): [string, object] => [k, { type: ['string', 'number'] }]),
    ['count', { type: 'integer' }] as [string, object],
  ]),
};
const timeParam = (name: string) => ({ type: ['string', 'number'], description: `${name}: unix seconds, unix ms or ISO 8601` });

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'flowlens', version: '0.1.0', description: 'VPC Flow Logs: query, findings, live ingest. Every route but /healthz takes `Authorization: Bearer <token>` when the server has a token.' },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': { get: { summary: 'liveness', security: [], responses: { 200: json({ type: 'object', properties: { ok: { type: 'boolean' } } }) } } },
    '/metrics': { get: { summary: 'Prometheus metrics (ingest SLIs, query latency, alerts by severity)', responses: { 200: { description: 'text exposition format', content: { 'text/plain': {} } } } } },
    '/api/openapi.json': { get: { summary: 'this document', responses: { 200: { description: 'OpenAPI 3.1' } } } },
    '/api/query': {
      post: {
        summary: 'run a CloudWatch Logs Insights query',
        requestBody: json({ type: 'object', required: ['query'], properties: { query: { type: 'string' }, from: timeParam('from'), to: timeParam('to'), since: { type: 'string', description: 'instead of from/to: 30m, 6h, 7d' } } }),
        responses: { 200: { description: 'the result; NDJSON when Accept asks for it', content: streamed }, ...errors },
      },
    },
    '/api/sql': {
      post: {
        summary: 'run one read-only SQL statement over flows, vpc_flow_logs, quarantine',
        requestBody: json({ type: 'object', required: ['sql'], properties: { sql: { type: 'string' } } }),
        responses: { 200: { description: 'the result; NDJSON when Accept asks for it', content: streamed }, ...errors },
      },
    },
    '/api/extent': { get: { summary: 'how much the store holds and when: record count, first start, last end (from the rollups where fresh, no scan)', responses: { 200: json({ type: 'object', properties: { records: { type: 'integer' }, first_start: { type: ['integer', 'null'] }, last_end: { type: ['integer', 'null'] } } }) } } },
    '/api/schema': { get: { summary: 'columns of the flows view (enrichment columns included when stored)', responses: { 200: json({ type: 'object', properties: { columns: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, type: { type: 'string' } } } } } }) } } },
    '/api/saved-queries': {
      get: { summary: 'saved queries: built-ins and the ones saved in the store', responses: { 200: json({ type: 'object', properties: { queries: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, query: { type: 'string' }, description: { type: 'string' }, builtin: { type: 'boolean' } } } } } }) } },
      post: { summary: 'save a query under a name', requestBody: json({ type: 'object', required: ['name', 'query'], properties: { name: { type: 'string' }, query: { type: 'string' }, description: { type: 'string' } } }), responses: { 201: { description: 'saved' }, ...errors } },
    },
    '/api/saved-queries/{name}/run': {
      post: { summary: 'run a saved query', parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], requestBody: json({ type: 'object', properties: { from: timeParam('from'), to: timeParam('to'), since: { type: 'string' } } }), responses: { 200: { description: 'the result', content: streamed }, ...errors } },
    },
    '/api/findings': {
      get: {
        summary: 'alerts from the detection engine',
        parameters: ['state', 'severity', 'since', 'limit'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })),
        responses: { 200: json({ type: 'object', properties: { available: { type: 'boolean' }, detection: { type: 'string', description: 'why findings are empty when detection is not available' }, findings: { type: 'array', items: alert } } }) },
      },
    },
    '/api/findings/{id}/ack': { post: { summary: 'acknowledge an alert', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], requestBody: json({ type: 'object', properties: { note: { type: 'string' } } }), responses: { 200: json(alert), 404: json(error), 503: json(error) } } },
    '/api/findings/{id}/resolve': { post: { summary: 'resolve an alert', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], requestBody: json({ type: 'object', properties: { note: { type: 'string' } } }), responses: { 200: json(alert), 404: json(error), 503: json(error) } } },
    '/api/explain': {
      post: {
        summary: 'why a connection is accepted or rejected: every interface, layer and rule of the request and its reply (the policy engine over the server topology)',
        requestBody: json({ type: 'object', required: ['src', 'dst'], properties: { src: { type: 'string' }, dst: { type: 'string' }, port: { type: 'integer' }, srcPort: { type: 'integer' }, protocol: { type: ['string', 'integer'] } } }),
        responses: { 200: json({ type: 'object', properties: { verdict: { type: 'string', enum: ['ACCEPT', 'REJECT'] }, summary: { type: 'string' }, endpoint: { type: 'string' }, blockedBy: { type: 'object' }, steps: { type: 'array', items: { type: 'object' } } } }), ...errors },
      },
    },
    '/api/health/ingest': { get: { summary: 'ingest health: data freshness, volumes, NODATA/SKIPDATA, quarantine, live ingest state', responses: { 200: json({ type: 'object' }) } } },
    '/ingest/firehose': {
      post: {
        summary: 'Amazon Data Firehose HTTP endpoint delivery (records are flow log lines)',
        description: 'Auth: X-Amz-Firehose-Access-Key or a bearer token. Content-Encoding gzip accepted. The log format comes from ?log_format=, the common attribute log_format, a header line, or the first line (all fields up to its version); else the default format.',
        requestBody: json({ type: 'object', required: ['requestId', 'records'], properties: { requestId: { type: 'string' }, timestamp: { type: 'integer' }, records: { type: 'array', items: { type: 'object', properties: { data: { type: 'string', contentEncoding: 'base64' } } } } } }),
        responses: {
          200: { description: 'stored durably', ...json({ type: 'object', properties: { requestId: { type: 'string' }, timestamp: { type: 'integer' } } }) },
          400: json({ type: 'object', properties: { requestId: { type: 'string' }, timestamp: { type: 'integer' }, errorMessage: { type: 'string' } } }),
          429: { description: 'busy; Firehose retries' },
        },
      },
    },
    '/ingest/lines': {
      post: {
        summary: 'flow log lines as text/plain (a header line, if any, sets the format)',
        parameters: [{ name: 'log_format', in: 'query', schema: { type: 'string' } }],
        requestBody: { content: { 'text/plain': { schema: { type: 'string' } } } },
        responses: { 200: json({ type: 'object', properties: { records: { type: 'integer' }, stored: { type: 'integer' }, quarantined: { type: 'integer' }, duplicates: { type: 'integer' } } }), ...errors },
      },
    },
  },
} as const;
