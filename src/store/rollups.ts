import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ENRICH_COLUMNS } from '../schema/columns.ts';
import { sqlIdent, sqlString } from './sql-text.ts';
import { firstLine } from '../util/errors.ts';

/**
 * Rollups: per UTC day, the day's records aggregated by 5 minutes, hour and day over the columns
 * people group and filter flow logs by (addresses, protocol, action, status, the enrichment
 * columns), with counts, sums, minima and maxima of the counters. Queries whose every part a
 * rollup can answer read it instead of the records (src/query/rollup.ts): a week of 100 M
 * records with a few hundred thousand conversations becomes a few million rollup rows.
 *
 *   rollups/<level>/date=YYYY-MM-DD/rollup.parquet   the aggregate
 *   rollups/<level>/date=YYYY-MM-DD/covers.json      the record files it was built from
 *
 * Whatever adds, replaces or removes a record file first deletes its day's covers.json
 * (invalidateRollups): a day without one reads its records until the rollup is rebuilt.
 */

export interface RollupLevel {
  readonly name: string;
  readonly seconds: number;
}

/** Coarsest last: a query takes the coarsest level that its bins and range allow. */
export const ROLLUP_LEVELS: readonly RollupLevel[] = Object.freeze([
  { name: '5m', seconds: 300 },
  { name: '1h', seconds: 3600 },
  { name: '1d', seconds: 86400 },
]);

/** Whether a store has its rollup anchors (stores made before rollups do not). */
export function hasRollups(root: string): boolean {
  return ROLLUP_LEVELS.every((l) => existsSync(join(root, 'rollups', l.name, 'date=1970-01-01', 'rollup.parquet')));
}

/** The SQL view over a level's rollup files (defined by openStore). */
export function rollupView(level: RollupLevel): string {
  return `rollups_${level.name}`;
}

/**
 * Columns a rollup groups by (when the day's records have them). Not the ports (a client's
 * ephemeral port would keep every record apart; `app_port` folds them), not the times (the
 * bucket stands for them). The interface is kept although both ends of a flow log it: the
 * dashboard filters and counts by it.
 */
export const ROLLUP_DIMS: readonly string[] = Object.freeze([
  'account_id',
  'interface_id',
  'instance_id',
  'srcaddr',
  'dstaddr',
  'protocol',
  'action',
  'log_status',
  'vpc_id',
  'subnet_id',
  'type',
  'region',
  'az_id',
  'flow_direction',
  'traffic_path',
  'pkt_src_aws_service',
  'pkt_dst_aws_service',
  'reject_reason',
  ...ENRICH_COLUMNS.filter((c) => c.column !== 'cost_usd').map((c) => c.column),
]);

/**
 * Group keys computed from records: `service_side` says which end is the service (the end
 * whose port is `app_port`), so client → service views survive the loss of the ports.
 */
export const ROLLUP_COMPUTED: readonly { name: string; expr: string; needs: readonly string[] }[] = Object.freeze([
  { name: 'service_side', expr: "CASE WHEN app_port IS NULL THEN NULL WHEN dstport = app_port THEN 'dst' ELSE 'src' END", needs: ['app_port', 'dstport'] },
]);

/**
 * Aggregates a rollup keeps, as `__<name>`: how each is made from records, and from the rows
 * of a finer rollup. Sums are BIGINT: Parquet has no 128-bit integers (and no VPC moves 2^63
 * bytes in a day).
 */
export const ROLLUP_MEASURES: readonly { name: string; fromRecords: string; fromRollup: string; column?: string }[] = Object.freeze([
  { name: '__records', fromRecords: 'count(*)', fromRollup: 'sum(__records)::BIGINT' },
  ...(['bytes', 'packets'] as const).flatMap((c) => [
    { name: `__${c}_sum`, fromRecords: `sum(${c})::BIGINT`, fromRollup: `sum(__${c}_sum)::BIGINT`, column: c },
    { name: `__${c}_n`, fromRecords: `count(${c})`, fromRollup: `sum(__${c}_n)::BIGINT`, column: c },
    { name: `__${c}_min`, fromRecords: `min(${c})`, fromRollup: `min(__${c}_min)`, column: c },
    { name: `__${c}_max`, fromRecords: `max(${c})`, fromRollup: `max(__${c}_max)`, column: c },
  ]),
  { name: '__cost_usd_sum', fromRecords: 'sum(cost_usd)', fromRollup: 'sum(__cost_usd_sum)', column: 'cost_usd' },
]);

/** One record as a rollup row of its own (for records a rollup does not cover). */
export function recordAsRollupSql(): string[] {
  return [
    '1::BIGINT AS __records',
    ...(['bytes', 'packets'] as const).flatMap((c) => [
      `${c}::BIGINT AS __${c}_sum`,
      `(${c} IS NOT NULL)::BIGINT AS __${c}_n`,
      `${c} AS __${c}_min`,
      `${c} AS __${c}_max`,
    ]),
    'cost_usd AS __cost_usd_sum',
  ];
}

interface Covers {
  files: { name: string; size: number }[];
  /** Records the day holds, and rows of this rollup (estimated when skipped). */
  records?: number;
  rows?: number;
  /** Not built: it would not have halved the rows it is made from. */
  skipped?: boolean;
  /** The day's first record start and last record end (the store's extent without a scan). */
  first?: number | null;
  last?: number | null;
}

/** The record files of a day folder, as a rollup's covers.json lists them. */
async function dayFiles(root: string, day: string): Promise<Covers['files']> {
  const dir = join(root, 'flows', `date=${day}`);
  if (!existsSync(dir)) return [];
  const names = (await readdir(dir)).filter((f) => f.endsWith('.parquet') && !f.startsWith('_')).sort();
  return Promise.all(names.map(async (name) => ({ name, size: (await stat(join(dir, name))).size })));
}

/**
 * Marks a day's rollups stale: called before any record file of the day is added, replaced
 * or removed, so a rollup whose covers.json exists always covers the day's files exactly.
 * @example await invalidateRollups(db, '2024-01-01')
 */
export async function invalidateRollups(root: string, day: string): Promise<void> {
  for (const level of ROLLUP_LEVELS) await rm(join(root, 'rollups', level.name, `date=${day}`, 'covers.json'), { force: true });
}

/** A fresh day's rollups: records of the day, and the rows of each level that was built. */
export interface RollupDay {
  records: number;
  /** First start and last end among the day's records (absent in covers written before). */
  first?: number | null;
  last?: number | null;
  /** Level name → rows; a level left out was not built (it would not aggregate). */
  rows: Record<string, number>;
}

/**
 * The days whose rollups are fresh (covers.json present at every level, built or skipped),
 * with their sizes.
 * @example [...(await freshRollupDays(db)).keys()] // ['2024-01-01', ...]
 */
export async function freshRollupDays(root: string): Promise<Map<string, RollupDay>> {
  const out = new Map<string, RollupDay>();
  const top = join(root, 'rollups', ROLLUP_LEVELS[ROLLUP_LEVELS.length - 1].name);
  if (!existsSync(top)) return out;
  for (const part of await readdir(top)) {
    if (!part.startsWith('date=')) continue;
    const size: RollupDay = { records: 0, rows: {} };
    let fresh = true;
    for (const level of ROLLUP_LEVELS) {
      const covers = await readFile(join(root, 'rollups', level.name, part, 'covers.json'), 'utf8')
        .then((t) => JSON.parse(t) as Covers)
        .catch(() => undefined);
      if (!covers) fresh = false;
      size.records = covers?.records ?? 0;
      if (covers && 'first' in covers) {
        size.first = covers.first;
        size.last = covers.last;
      }
      if (covers && !covers.skipped) size.rows[level.name] = covers.rows ?? 0;
    }
    if (fresh) out.set(part.slice(5), size);
  }
  return out;
}

/** How much the store holds and when: what the dashboard and ingest health open with. */
export interface StoreExtent {
  records: number;
  first_start: number | null;
  last_end: number | null;
}

/**
 * The store's record count, first start and last end without scanning it: fresh days answer
 * from their covers.json; only stale days are counted (from the Parquet footers), and the
 * first and last day read when their covers do not say.
 * @example await storeExtent(db, (sql) => store.query(sql).then((r) => r.rows))
 */
export async function storeExtent(root: string, run: (sql: string) => Promise<unknown[][]>): Promise<StoreExtent> {
  const days = await storedDays(root);
  if (!days.length) return { records: 0, first_start: null, last_end: null };
  const fresh = await freshRollupDays(root);
  const date = (d: string) => `DATE ${sqlString(d)}`;
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  let records = 0;
  const stale: string[] = [];
  for (const d of days) {
    const f = fresh.get(d);
    if (f) records += f.records;
    else stale.push(d);
  }
  if (stale.length) records += Number((await run(`SELECT count(*) FROM flows WHERE "date" IN (${stale.map(date).join(', ')})`))[0]?.[0] ?? 0);
  const firstDay = fresh.get(days[0]);
  const lastDay = fresh.get(days[days.length - 1]);
  const first_start = firstDay && firstDay.first !== undefined ? firstDay.first : num((await run(`SELECT min("start") FROM flows WHERE "date" = ${date(days[0])}`))[0]?.[0]);
  const last_end = lastDay && lastDay.last !== undefined ? lastDay.last : num((await run(`SELECT max("end") FROM flows WHERE "date" = ${date(days[days.length - 1])}`))[0]?.[0]);
  return { records, first_start, last_end };
}

/** Days (YYYY-MM-DD) that have record files. */
export async function storedDays(root: string): Promise<string[]> {
  const dir = join(root, 'flows');
  if (!existsSync(dir)) return [];
  return (await readdir(dir))
    .filter((p) => p.startsWith('date=') && p !== 'date=1970-01-01')
    .map((p) => p.slice(5))
    .sort();
}

/**
 * (Re)builds the rollups of the given days (default: every stale day). Each level's file is
 * written beside its final name and renamed over it, then its covers.json; a crash leaves a
 * day stale, never wrong. Returns the days rebuilt.
 * @example await buildRollups('./flowlens.duckdb')
 */
export async function buildRollups(
  root: string,
  days?: readonly string[],
  opts: { threads?: number; memoryLimit?: string; onError?: (day: string, err: unknown) => void } = {},
): Promise<string[]> {
  const fresh = await freshRollupDays(root);
  // Days whose rollups are gone although their records are too (all their files removed).
  const orphans = (await readdir(join(root, 'rollups', ROLLUP_LEVELS[0].name)).catch(() => [] as string[])).filter((p) => p.startsWith('date=') && p !== 'date=1970-01-01').map((p) => p.slice(5));
  const todo = [...new Set([...(days ?? (await storedDays(root))), ...orphans])].filter((d) => !fresh.has(d));
  if (!todo.length) return [];
  const instance = await DuckDBInstance.create(':memory:', { threads: String(opts.threads ?? 2), memory_limit: opts.memoryLimit ?? '1GB', preserve_insertion_order: 'false' });
  const conn = await instance.connect();
  const done: string[] = [];
  try {
    for (const day of todo) {
      // A day that cannot be rolled up (e.g. byte sums beyond BIGINT from absurd records) stays
      // stale, which is never wrong: queries read its records. The other days still build.
      try {
        if (await buildDay(day)) done.push(day);
      } catch (err) {
        if (opts.onError) opts.onError(day, err);
        else throw err;
      }
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return done;

  /** Builds one day's levels; false when the day has no record files (its rollups go). */
  async function buildDay(day: string): Promise<boolean> {
    const files = await dayFiles(root, day);
    const part = `date=${day}`;
    if (!files.length) {
      for (const level of ROLLUP_LEVELS) await rm(join(root, 'rollups', level.name, part), { recursive: true, force: true });
      return false;
    }
    const src = `read_parquet([${files.map((f) => sqlString(join(root, 'flows', part, f.name))).join(', ')}], union_by_name = true)`;
    const have = new Set((await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`)).getRows().map((r) => String(r[0])));
    const dims = ROLLUP_DIMS.filter((d) => have.has(d)).map(sqlIdent);
    const computed = ROLLUP_COMPUTED.filter((c) => c.needs.every((n) => have.has(n)));
    const measures = ROLLUP_MEASURES.filter((m) => !m.column || have.has(m.column));
    const bucketOf = (L: number) => (have.has('start') ? `"start" - "start" % ${L}` : 'NULL::BIGINT');
    // How many rows each level would have, estimated from the keys that decide it (the
    // enrichment columns follow the addresses): a level that would not halve what it
    // aggregates is not built, and queries read the records (or the finer level) instead.
    const core = ['srcaddr', 'dstaddr', 'protocol', 'action', 'log_status', 'interface_id', 'app_port'].filter((d) => have.has(d)).map(sqlIdent);
    const extent = `${have.has('start') ? 'min("start")' : 'NULL'}, ${have.has('end') ? 'max("end")' : 'NULL'}`;
    const estRow = (await conn.runAndReadAll(`SELECT ${extent}, count(*), ${ROLLUP_LEVELS.map((l) => `approx_count_distinct(hash(${[bucketOf(l.seconds), ...core].join(', ')}))`).join(', ')} FROM ${src}`)).getRows()[0];
    const span = { first: estRow[0] === null ? null : Number(estRow[0]), last: estRow[1] === null ? null : Number(estRow[1]) };
    const est = estRow.slice(2).map(Number);
    const records = est[0];
    let from = src;
    let fromRows = records;
    for (const [i, level] of ROLLUP_LEVELS.entries()) {
      const dir = join(root, 'rollups', level.name, part);
      await mkdir(dir, { recursive: true });
      if (est[i + 1] > fromRows * MAX_ROLLUP_SHARE) {
        await rm(join(dir, 'rollup.parquet'), { force: true });
        await writeCovers(dir, { files, records, rows: est[i + 1], skipped: true, ...span });
        continue;
      }
      // The finest rollup built comes from the records; coarser ones from the level before.
      const fromRecords = from === src;
      const aggs = measures.map((m) => `${fromRecords ? m.fromRecords : m.fromRollup} AS ${m.name}`);
      const keys = [`${bucketOf(level.seconds)} AS "start"`, ...dims, ...computed.map((c) => (fromRecords ? `${c.expr} AS ${sqlIdent(c.name)}` : sqlIdent(c.name)))];
      const sql = `SELECT ${keys.join(', ')}, ${aggs.join(', ')} FROM ${from} GROUP BY ALL`;
      const tmp = join(dir, `rollup.parquet.tmp-${process.pid}`);
      await conn.run(`COPY (${sql}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
      await rename(tmp, join(dir, 'rollup.parquet'));
      const [[rows]] = (await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(join(dir, 'rollup.parquet'))})`)).getRows();
      await writeCovers(dir, { files, records, rows: Number(rows), ...span });
      from = `read_parquet(${sqlString(join(dir, 'rollup.parquet'))})`;
      fromRows = Number(rows);
    }
    return true;
  }
}

/**
 * Says on stderr that a day's rollups were not built (buildRollups' onError for commands):
 * nothing is lost, the day's queries read its records.
 */
export function warnRollupDay(day: string, err: unknown): void {
  process.stderr.write(`flowlens: the rollups of ${day} were not built (${firstLine(err)}); queries read that day's records\n`);
}

/** A level is built only when it has at most this share of the rows it is made from. */
export const MAX_ROLLUP_SHARE = 0.5;

async function writeCovers(dir: string, covers: Covers): Promise<void> {
  await writeFile(join(dir, 'covers.json.tmp'), JSON.stringify(covers) + '\n');
  await rename(join(dir, 'covers.json.tmp'), join(dir, 'covers.json'));
}
