import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { storeExtent } from '../store/rollups.ts';
import type { LiveIngest } from './live-ingest.ts';
import type { Metrics } from './metrics.ts';
import type { QueryService } from './query-service.ts';

/** Data older than this (seconds) makes the store "stale": S3 delivery lags ~10 minutes. */
const STALE_AFTER = 20 * 60;

/**
 * Ingest health for on-call: how fresh the data is, what arrived in the last hour, logging
 * health (NODATA, SKIPDATA), the quarantine, and live ingest's own state.
 * @example await ingestHealth(service, live, metrics) // {status: 'ok', store: {...}, live: {...}}
 */
export async function ingestHealth(service: QueryService, live: LiveIngest, metrics: Metrics, now = Math.floor(Date.now() / 1000)) {
  const hourAgo = now - 3600;
  const extent = await storeExtent(service.db, async (sql) => (await service.sql(sql)).rows);
  const row: Record<string, number | null> = { ...extent, records_last_hour: 0, nodata_last_hour: 0, skipdata_last_hour: 0, interfaces_last_hour: 0 };
  // The last hour's counts read only the days the hour touches (records are filed under the
  // day they start), so the panel costs the same on a year of data as on a day.
  if (extent.last_end !== null && extent.last_end >= hourAgo) {
    const hourDay = new Date(hourAgo * 1000).toISOString().slice(0, 10);
    const r = await service.sql(
      `SELECT count(*) AS records_last_hour,
         count(*) FILTER (WHERE log_status = 'NODATA') AS nodata_last_hour,
         count(*) FILTER (WHERE log_status = 'SKIPDATA') AS skipdata_last_hour,
         count(DISTINCT interface_id) AS interfaces_last_hour
       FROM flows WHERE "date" >= DATE '${hourDay}' AND start >= ${Math.floor(hourAgo)}`,
    );
    for (const [i, c] of r.columns.entries()) row[c] = r.rows[0]?.[i] === null || r.rows[0]?.[i] === undefined ? null : Number(r.rows[0][i]);
  }
  const q = await service.sql('SELECT count(*) FROM quarantine');
  const quarantined = Number(q.rows[0]?.[0] ?? 0);
  const ledgerDir = join(service.db, 'ledger');
  const sources = existsSync(ledgerDir) ? (await readdir(ledgerDir)).filter((f) => f.endsWith('.json')).length : 0;
  const records = row.records ?? 0;
  const lag = row.last_end === null ? null : Math.max(0, now - row.last_end);
  const t = metrics.totals;
  const status = records === 0 ? 'empty' : lag !== null && lag > STALE_AFTER ? 'stale' : (row.skipdata_last_hour ?? 0) > 0 || quarantined > records * 0.01 ? 'degraded' : 'ok';
  return {
    status,
    now,
    store: { records, first_start: row.first_start, last_end: row.last_end, lag_seconds: lag, records_last_hour: row.records_last_hour, nodata_last_hour: row.nodata_last_hour, skipdata_last_hour: row.skipdata_last_hour, interfaces_last_hour: row.interfaces_last_hour, quarantined, sources },
    live: {
      requests: live.stats.requests,
      rejected_429: live.stats.rejected429,
      inflight_bytes: live.inFlight.bytes,
      inflight_requests: live.inFlight.requests,
      last_commit_at: live.stats.lastCommitAt ?? null,
      last_error: live.stats.lastError ?? null,
      received: t.received,
      stored: t.stored,
      quarantined: t.quarantined,
      duplicated: t.duplicated,
      success_ratio: t.stored + t.quarantined === 0 ? 1 : t.stored / (t.stored + t.quarantined),
    },
  };
}
