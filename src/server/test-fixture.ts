import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDetection } from '../detect/index.ts';
import { emulate } from '../fabric/index.ts';
import { ingestPaths } from '../ingest/index.ts';

/** A store made the way users make one: an emulated VPC's S3 objects, ingested, then detected. */
export interface Fixture {
  dir: string;
  db: string;
  start: number;
  end: number;
  records: number;
  cleanup(): void;
}

/**
 * Emulates 40 minutes ending now (so "the last 30 minutes" panels have data) with normal web
 * traffic, an SSH brute force and a port scan, ingests it and runs batch detection.
 * @example const fx = await emulatedStore(); ...; fx.cleanup()
 */
export async function emulatedStore(opts: { detect?: boolean } = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'flowlens-server-'));
  const now = Math.floor(Date.now() / 1000);
  const duration = 2400;
  const start = now - duration - ((now - duration) % 60);
  const out = join(dir, 'bucket');
  await emulate({ scenarios: ['web-app', 'ssh-brute-force', 'port-scan-vertical'], duration, start, seed: 11, out, scale: 0.3 });
  const db = join(dir, 'store');
  const s = await ingestPaths([out], { db });
  if (opts.detect !== false) await runDetection({ db });
  return { dir, db, start, end: start + duration, records: s.records, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
