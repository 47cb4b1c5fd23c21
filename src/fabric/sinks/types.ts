import type { FlowTable } from '../flow-table.ts';
import type { FlowLogSpec, Topology } from '../model.ts';
import type { LineRenderer } from '../render.ts';

/** One window's records of one flow log, as a sink receives them. */
export interface WindowRows {
  flowLog: FlowLogSpec;
  renderer: LineRenderer;
  table: FlowTable;
  /** Row indices into the table, `count` of them. */
  rows: Int32Array;
  count: number;
  windowStart: number;
  windowEnd: number;
}

export interface SinkOptions {
  out: string;
  topo: Topology;
  seed: number;
  gzipLevel: number;
  maxObjectBytes: number;
  /** S3 layout overrides from --delivery (s3-hive forces Hive keys, parquet forces Parquet). */
  hive?: boolean;
  parquet?: boolean;
  firehoseUrl?: string;
}

/** Where records go. Sinks are kept in one name-keyed registry (sinks/index.ts). */
export interface Sink {
  write(w: WindowRows): Promise<void>;
  /** Finishes every open object; returns the files (or URLs) written. */
  close(): Promise<string[]>;
}

/** Seconds in a delivery batch: AWS publishes flow log objects about every 5 minutes. */
export const BATCH_SECONDS = 300;

/** The delivery batch a window's records land in. */
export function batchOf(windowEnd: number): number {
  return Math.floor(windowEnd / BATCH_SECONDS) * BATCH_SECONDS;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** UTC parts of a Unix time, zero-padded. */
export function utcParts(t: number): { y: string; m: string; d: string; h: string; min: string } {
  const d = new Date(t * 1000);
  return { y: String(d.getUTCFullYear()), m: pad(d.getUTCMonth() + 1), d: pad(d.getUTCDate()), h: pad(d.getUTCHours()), min: pad(d.getUTCMinutes()) };
}
