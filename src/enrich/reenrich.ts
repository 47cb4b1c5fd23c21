import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LakeWriter } from '../store/lake-writer.ts';
import { ensureStore, SCHEMA_FILE } from '../store/layout.ts';
import { buildRollups, warnRollupDay } from '../store/rollups.ts';
import { UserError } from '../util/errors.ts';
import { loadEnricher } from './index.ts';

export interface ReenrichSummary {
  files: number;
  records: number;
  unattributed_ratio: number;
  seconds: number;
}

/**
 * Rewrites every stored Parquet file with enrichment from the store's current inventory,
 * ip-ranges, prices and settings. Each file is written beside itself and renamed over it, so an
 * interrupted run leaves every file either old or new; running it again finishes the job.
 * @example await reenrichStore('./flowlens.duckdb')
 */
export async function reenrichStore(db: string, opts: { onFile?: (file: string, done: number, total: number) => void } = {}): Promise<ReenrichSummary> {
  const t0 = performance.now();
  if (!existsSync(join(db, 'flows'))) throw new UserError(`${db}: no flowlens store here (run \`flowlens ingest --db ${db} ...\` first)`);
  await ensureStore(db);
  const enricher = await loadEnricher(db);
  if (!enricher) throw new UserError(`${db}: enrichment is switched off for this store (flowlens enrich --enable)`);
  const files: string[] = [];
  for (const part of (await readdir(join(db, 'flows'))).sort()) {
    if (!part.startsWith('date=')) continue;
    for (const f of (await readdir(join(db, 'flows', part))).sort()) {
      const rel = join('flows', part, f);
      if (f.endsWith('.parquet') && rel !== SCHEMA_FILE) files.push(rel);
    }
  }
  const writer = await LakeWriter.open(db, { enricher });
  try {
    let done = 0;
    for (const f of files) {
      await writer.enrichFile(f);
      opts.onFile?.(f, ++done, files.length);
    }
  } finally {
    await writer.close();
  }
  // The rewritten files make their days' rollups stale: rebuild them with the new columns.
  await buildRollups(db, undefined, { onError: warnRollupDay });
  const { records, unattributed } = enricher.coverage;
  return {
    files: files.length,
    records,
    unattributed_ratio: records ? Math.round((unattributed / records) * 1e6) / 1e6 : 0,
    seconds: Math.round(performance.now() - t0) / 1000,
  };
}
