import { z } from 'zod';

/** Hosts that only this machine can reach: binding them needs no token. */
export const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

/** Options of `startServer` / `flowlens serve`; every limit has a default a laptop can hold. */
export const ServerConfig = z
  .object({
    /** The store folder (created empty when missing, so live ingest can start from nothing). */
    db: z.string().min(1),
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port (tests). */
    port: z.number().int().min(0).max(65535).default(8080),
    /** Bearer token; required when `host` is not a loopback address. */
    token: z.string().min(16, 'the token must be at least 16 characters').optional(),
    /** Rows a JSON answer may carry; more come back only as NDJSON (`Accept: application/x-ndjson`). */
    maxRows: z.number().int().positive().default(10_000),
    /** Rows an NDJSON (streamed) answer may carry. */
    maxStreamRows: z.number().int().positive().default(1_000_000),
    /** A query running longer is interrupted and answered with HTTP 504. */
    queryTimeoutMs: z.number().int().positive().default(30_000),
    /** Queries waiting for the store beyond this many are refused with 429. */
    maxQueuedQueries: z.number().int().positive().default(32),
    /** How often days that live ingest changed get their rollups rebuilt (0: never). */
    rollupIntervalMs: z.number().int().min(0).default(300_000),
    /** Largest request body (bytes) for ingest routes; Firehose sends at most 64 MiB per request. */
    ingestBodyLimit: z.number().int().positive().default(64 * 1024 * 1024),
    /** Largest request body for the API (queries, notes). */
    apiBodyLimit: z.number().int().positive().default(1024 * 1024),
    /** Ingest bytes accepted but not yet committed; beyond it ingest answers 429 + Retry-After. */
    maxIngestInFlightBytes: z.number().int().positive().default(128 * 1024 * 1024),
    /** The built dashboard (index.html and assets); the default is the one `npm ci` builds. */
    webRoot: z.string().optional(),
    /** Streaming detection on every chunk live ingest commits. */
    detect: z.boolean().default(true),
    /** Folder of detection rules handed to the detector. */
    rulesDir: z.string().optional(),
    /** The topology `/api/explain` answers over (YAML or a describe-* folder; default: the shipped VPC). */
    topology: z.string().optional(),
    /** Log requests (pino) to stderr. */
    logRequests: z.boolean().default(false),
  })
  .strict();

export type ServerOptions = z.input<typeof ServerConfig>;
export type ServerSettings = z.output<typeof ServerConfig>;
