/// <reference lib="dom" />

/** A result set as the API returns it. */
export interface Result {
  columns: string[];
  rows: unknown[][];
  truncated?: boolean;
  elapsed_ms?: number;
}

/** An API error, with line/column/caret for Logs Insights mistakes. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly caret?: string,
  ) {
    super(message);
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  });
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(`${path}: HTTP ${res.status}: ${text.slice(0, 200)}`, res.status);
  }
  if (!res.ok) {
    const e = data as { error?: string; message?: string; caret?: string };
    throw new ApiError(e.message ?? e.error ?? `HTTP ${res.status}`, res.status, e.caret);
  }
  return data as T;
}

/** Read-only SQL over the store. @example await sql('SELECT count(*) FROM flows') */
export const sql = (text: string, signal?: AbortSignal) => call<Result>('POST', '/api/sql', { sql: text }, signal);

/** A Logs Insights query over [from, to] (unix seconds). */
export const insights = (query: string, from?: number, to?: number, signal?: AbortSignal) => call<Result>('POST', '/api/query', { query, from, to }, signal);

export interface Column {
  name: string;
  type: string;
}
export const schema = () => call<{ columns: Column[]; enriched: boolean; rollups?: boolean }>('GET', '/api/schema');

export interface Alert {
  id: string;
  rule_id: string;
  family: string;
  severity: string;
  title: string;
  state: string;
  actors: string[];
  targets: string[];
  enis: string[];
  first_seen: string | number;
  last_seen: string | number;
  count: number;
  evidence_query: string;
  incident_id?: string;
}
export interface FindingsAnswer {
  available: boolean;
  detection?: string;
  findings: Alert[];
}
export const findings = (params: Record<string, string> = {}) => call<FindingsAnswer>('GET', `/api/findings?${new URLSearchParams(params)}`);
export const setAlert = (id: string, action: 'ack' | 'resolve') => call<Alert>('POST', `/api/findings/${encodeURIComponent(id)}/${action}`, {});

export interface SavedQuery {
  name: string;
  query: string;
  description: string;
  builtin?: boolean;
}
export const savedQueries = () => call<{ queries: SavedQuery[] }>('GET', '/api/saved-queries');
export const saveQuery = (name: string, query: string) => call<{ saved: string }>('POST', '/api/saved-queries', { name, query });

export interface Explanation {
  verdict: 'ACCEPT' | 'REJECT';
  summary: string;
  endpoint: string;
  blockedBy?: { leg: 'request' | 'reply'; layer: string; ruleId: string; reason: string; eni?: string };
  steps: { leg: 'request' | 'reply'; eni: string; name?: string; direction: string; action: string; checks: { layer: string; action: string; ruleId: string; reason: string }[] }[];
}
export const explain = (q: { src: string; dst: string; port?: number; srcPort?: number; protocol?: number }) => call<Explanation>('POST', '/api/explain', q);

export const extent = () => call<{ records: number; first_start: number | null; last_end: number | null }>('GET', '/api/extent');

export interface IngestHealth {
  status: 'ok' | 'stale' | 'degraded' | 'empty';
  now: number;
  store: { records: number; first_start: number | null; last_end: number | null; lag_seconds: number | null; records_last_hour: number; nodata_last_hour: number; skipdata_last_hour: number; interfaces_last_hour: number; quarantined: number; sources: number };
  live: { requests: number; rejected_429: number; inflight_bytes: number; received: number; stored: number; quarantined: number; duplicated: number; success_ratio: number; last_commit_at: string | null; last_error: string | null };
}
export const ingestHealth = () => call<IngestHealth>('GET', '/api/health/ingest');

/** Rows as objects keyed by column name. */
export function objects(r: Result): Record<string, unknown>[] {
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));
}
