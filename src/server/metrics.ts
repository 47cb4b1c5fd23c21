import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets (seconds) from sub-millisecond queries to a slow delivery pipeline. */
const QUERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const PROCESSING_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
/** Fine around the 2 s target (DESIGN.md: record-to-alert p95 < 2 s when streaming). */
const DETECTION_BUCKETS = [0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 7.5, 10, 20, 30, 60];

/**
 * The seed SLIs of the server, on a registry of its own (several servers in one process, as in
 * tests, must not share counters). Gauges that need the store are filled at scrape time by
 * `collect` callbacks the server installs.
 */
export function createMetrics() {
  /** Plain totals beside the counters: the success ratio is computed from them at scrape time. */
  const totals = { received: 0, stored: 0, quarantined: 0, duplicated: 0 };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'flowlens_' });
  const received = new Counter({ name: 'flowlens_ingest_records_received_total', help: 'Flow log lines received by live ingest (HTTP)', labelNames: ['route'], registers: [registry] });
  const stored = new Counter({ name: 'flowlens_ingest_records_stored_total', help: 'Records committed to the store by live ingest', labelNames: ['route'], registers: [registry] });
  const quarantined = new Counter({ name: 'flowlens_ingest_records_quarantined_total', help: 'Lines refused by the parser and kept in the quarantine', labelNames: ['route'], registers: [registry] });
  const duplicated = new Counter({ name: 'flowlens_ingest_records_duplicated_total', help: 'Records of requests whose content was stored before (retries)', labelNames: ['route'], registers: [registry] });
  const requests = new Counter({ name: 'flowlens_ingest_requests_total', help: 'Live ingest requests by outcome', labelNames: ['route', 'outcome'], registers: [registry] });
  const successRate = new Gauge({
    name: 'flowlens_ingest_success_ratio',
    help: 'Records stored / (stored + quarantined) since the server started (1 when nothing arrived)',
    registers: [registry],
    collect() {
      const seen = totals.stored + totals.quarantined;
      this.set(seen === 0 ? 1 : totals.stored / seen);
    },
  });
  const inFlight = new Gauge({ name: 'flowlens_ingest_inflight_bytes', help: 'Bytes accepted by live ingest and not yet committed', registers: [registry] });
  const processing = new Histogram({
    name: 'flowlens_processing_latency_seconds',
    help: 'Record end time to the moment its chunk is stored (live ingest)',
    buckets: PROCESSING_BUCKETS,
    registers: [registry],
  });
  const detection = new Histogram({
    name: 'flowlens_detection_latency_seconds',
    help: 'A live ingest request received to every detection rule having evaluated its records (the most an alert they raise waits)',
    buckets: DETECTION_BUCKETS,
    registers: [registry],
  });
  const query = new Histogram({ name: 'flowlens_query_duration_seconds', help: 'Query time in the store', labelNames: ['kind', 'outcome'], buckets: QUERY_BUCKETS, registers: [registry] });
  const unattributed = new Gauge({ name: 'flowlens_unattributed_ratio', help: 'Share of records of the last hour with no owner on either side (enrichment coverage)', registers: [registry] });
  const alerts = new Gauge({ name: 'flowlens_alerts', help: 'Alerts by severity and state', labelNames: ['severity', 'state'], registers: [registry] });
  return { registry, totals, received, stored, quarantined, duplicated, requests, successRate, inFlight, processing, detection, query, unattributed, alerts };
}

export type Metrics = ReturnType<typeof createMetrics>;
