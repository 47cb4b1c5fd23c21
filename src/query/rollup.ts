import { enrichColumnByName, fieldByName } from '../schema/columns.ts';
import { ROLLUP_COMPUTED, ROLLUP_DIMS, ROLLUP_LEVELS, recordAsRollupSql, rollupView, type RollupLevel } from '../store/rollups.ts';
import { ipv4NumberSql } from '../store/schema-sql.ts';
import { sqlIdent, sqlString } from '../store/sql-text.ts';
import type { Call, Command, Expr, Item, Query } from './ast.ts';
import { functionSpec, UNIT_MS } from './catalog.ts';
import type { TimeRange } from './compiler.ts';
import type { ColumnInfo } from './fields.ts';

/**
 * Answering a Logs Insights query from the rollups (src/store/rollups.ts) when that gives
 * exactly the answer the records give: the query is `filter`s over rollup columns, then
 * `stats` whose aggregations the rollup keeps (count, sum, avg, min and max of bytes and
 * packets, sum of cost, count_distinct of a rollup column) by rollup columns or time bins the
 * rollup's buckets divide, then anything. The aggregations are rewritten over the rollup's
 * measures (count(*) → sum(__records), avg(bytes) → sum(__bytes_sum) / sum(__bytes_n), ...),
 * and the relation they run on is the rollup rows of the whole buckets inside the time range
 * for days whose rollup is fresh, plus the records themselves for the rest (the edges of the
 * range, and days with records newer than their rollup), each record as a rollup row of one.
 */

type Measure = 'bytes' | 'packets' | 'cost_usd';

/** Lower-case query name → column, for the columns a store has. */
function resolver(columns: readonly ColumnInfo[]): (name: string) => string | undefined {
  const map = new Map<string, string>();
  for (const c of columns) {
    const def = fieldByName(c.name);
    for (const n of [c.name, def?.field, def?.insightsName, enrichColumnByName(c.name)?.insightsName]) if (n) map.set(n.toLowerCase(), c.name);
  }
  return (name) => map.get(name.toLowerCase());
}

const span = (e: Expr) => e.span;
const field = (name: string, at: Expr): Expr => ({ kind: 'field', name, span: span(at) });
const call = (name: string, args: Expr[], at: Call): Call => ({ kind: 'call', name, nameSpan: at.nameSpan, star: false, args, span: at.span });

class NotEligible extends Error {}

interface Check {
  resolve: (name: string) => string | undefined;
  dims: ReadonlySet<string>;
  measures: ReadonlySet<Measure>;
}

/** A filter or group key: every field must be a rollup column. */
function dimsOnly(e: Expr, c: Check): void {
  switch (e.kind) {
    case 'field': {
      const col = c.resolve(e.name);
      if (!col || !c.dims.has(col)) throw new NotEligible();
      return;
    }
    case 'call':
      if (functionSpec(e.name)?.aggregate || e.name.toLowerCase() === 'bin') throw new NotEligible();
      e.args.forEach((a) => dimsOnly(a, c));
      return;
    case 'unary':
      return dimsOnly(e.operand, c);
    case 'binary':
      dimsOnly(e.left, c);
      dimsOnly(e.right, c);
      return;
    case 'in':
      dimsOnly(e.value, c);
      e.list.items.forEach((x) => dimsOnly(x, c));
      return;
    case 'match':
      return dimsOnly(e.value, c);
    case 'list':
      e.items.forEach((x) => dimsOnly(x, c));
      return;
    default:
      return;
  }
}

/** The measure a single-field argument names, if the rollup keeps it. */
function measureOf(args: readonly Expr[], c: Check): Measure | undefined {
  if (args.length !== 1 || args[0].kind !== 'field') return undefined;
  const col = c.resolve(args[0].name);
  return col && c.measures.has(col as Measure) ? (col as Measure) : undefined;
}

/** An aggregation expression rewritten over the rollup's measures (or NotEligible). */
function rewriteAgg(e: Expr, c: Check): Expr {
  switch (e.kind) {
    case 'call': {
      const name = e.name.toLowerCase();
      if (!functionSpec(name)?.aggregate) return { ...e, args: e.args.map((a) => rewriteAgg(a, c)) };
      const m = measureOf(e.args, c);
      const sum = (col: string) => call('sum', [field(col, e)], e);
      switch (name) {
        case 'count':
          if (e.star || e.args.length === 0) return sum('__records');
          if (m === 'bytes' || m === 'packets') return sum(`__${m}_n`);
          throw new NotEligible();
        case 'sum':
          if (m) return sum(`__${m}_sum`);
          throw new NotEligible();
        case 'avg':
          if (m === 'bytes' || m === 'packets') return { kind: 'binary', op: '/', left: sum(`__${m}_sum`), right: sum(`__${m}_n`), span: e.span };
          throw new NotEligible();
        case 'min':
        case 'max':
          if (m === 'bytes' || m === 'packets') return call(name, [field(`__${m}_${name}`, e)], e);
          throw new NotEligible();
        case 'count_distinct':
          e.args.forEach((a) => dimsOnly(a, c));
          return e;
        default:
          throw new NotEligible();
      }
    }
    case 'unary':
      return { ...e, operand: rewriteAgg(e.operand, c) };
    case 'binary':
      return { ...e, left: rewriteAgg(e.left, c), right: rewriteAgg(e.right, c) };
    case 'field':
      // A bare field in an aggregation item is the compiler's error to report, on the records.
      throw new NotEligible();
    default:
      return e;
  }
}

/** Seconds of a bin() period, or 'calendar' for months and longer. */
function binPeriod(e: Expr): number | 'calendar' | undefined {
  if (e.kind !== 'call' || e.name.toLowerCase() !== 'bin' || e.args.length !== 1 || e.args[0].kind !== 'duration') return undefined;
  const d = e.args[0];
  const ms = UNIT_MS[d.unit];
  return ms === undefined ? 'calendar' : (d.amount * ms) / 1000;
}

export interface RollupPlan {
  /** The query rewritten over the rollup relation. */
  readonly query: Query;
  readonly level: RollupLevel;
}

/**
 * The rollup plan for a query, or undefined when the rollups cannot give its exact answer.
 * @example planRollup(parseQuery('stats sum(bytes) by srcAddr'), columns, {})?.level.name // '1d'
 */
export function planRollup(query: Query, columns: readonly ColumnInfo[], range: TimeRange): RollupPlan | undefined {
  const names = new Set(columns.map((c) => c.name));
  const c: Check = {
    resolve: resolver(columns),
    dims: new Set(ROLLUP_DIMS.filter((d) => names.has(d))),
    measures: new Set((['bytes', 'packets', 'cost_usd'] as const).filter((m) => names.has(m))),
  };
  const first = query.commands.findIndex((x) => x.kind === 'stats');
  if (first < 0 || !names.has('start')) return undefined;
  try {
    const before = query.commands.slice(0, first);
    for (const cmd of before) {
      if (cmd.kind !== 'filter') throw new NotEligible();
      dimsOnly(cmd.expr, c);
    }
    const stats = query.commands[first] as Command & { kind: 'stats' };
    const periods: (number | 'calendar')[] = [];
    for (const it of stats.by) {
      const p = binPeriod(it.expr);
      if (p !== undefined) periods.push(p);
      else dimsOnly(it.expr, c);
    }
    const aggs: Item[] = stats.aggs.map((it) => ({ ...it, expr: rewriteAgg(it.expr, c) }));
    const level = chooseLevel(periods, range);
    if (!level) return undefined;
    const rewritten: Query = { ...query, commands: [...before, { ...stats, aggs }, ...query.commands.slice(first + 1)] };
    return { query: rewritten, level };
  } catch (err) {
    if (err instanceof NotEligible) return undefined;
    throw err;
  }
}

/**
 * The coarsest level whose buckets every bin period is a multiple of, among those with at
 * least two whole buckets in the range (else the finest that has one).
 */
function chooseLevel(periods: readonly (number | 'calendar')[], range: TimeRange): RollupLevel | undefined {
  const fits = ROLLUP_LEVELS.filter((l) => periods.every((p) => p === 'calendar' || (p >= l.seconds && p % l.seconds === 0)));
  const span = range.from === undefined || range.to === undefined ? Infinity : range.to - range.from + 1;
  for (let i = fits.length - 1; i >= 0; i--) if (span >= 2 * fits[i].seconds) return fits[i];
  return fits.find((l) => span >= l.seconds);
}

/** Which days the relation takes from rollups (fresh) and which from their records (stale). */
export interface RollupDays {
  fresh: readonly string[];
  stale: readonly string[];
}

/**
 * The relation a rollup answers from (DuckDB SQL over the store's views): rollup rows of the
 * whole buckets of [lo, hi] on fresh days; the records of the partial buckets at the edges on
 * fresh days; the records of stale days. `lo` and `hi` are SQL expressions (unix seconds,
 * inclusive; undefined: open), so the same text serves a query's literal range and the
 * `flows_summary(lo, hi)` macro's arguments. The days are literals, so DuckDB skips the files
 * of the days each part does not read.
 * @example rollupRelationSql(ROLLUP_LEVELS[0], ['srcaddr'], '1700000000', '1700086399', { fresh: ['2023-11-14'], stale: [] })
 */
export function rollupRelationSql(level: RollupLevel, dims: readonly string[], lo: string | undefined, hi: string | undefined, days: RollupDays): string {
  const L = level.seconds;
  const list = (ds: readonly string[]) => `"date" IN (${ds.map((d) => `DATE ${sqlString(d)}`).join(', ')})`;
  const dayOf = (t: string) => `(DATE '1970-01-01' + CAST(floor((${t}) / 86400) AS INTEGER))`;
  const from = lo === undefined ? undefined : `(CAST(ceil((${lo}) / ${L}) AS BIGINT) * ${L})`;
  const to = hi === undefined ? undefined : `(CAST(floor(((${hi}) + 1) / ${L}) AS BIGINT) * ${L})`;
  const inRange = [lo && `"start" >= (${lo})`, hi && `"start" <= (${hi})`, lo && `"date" >= ${dayOf(lo)}`, hi && `"date" <= ${dayOf(hi)}`].filter(Boolean) as string[];
  const computed = ROLLUP_COMPUTED.map((c) => `${c.expr} AS ${sqlIdent(c.name)}`);
  const records = (conds: string[]) => `SELECT ${[...dims.map(sqlIdent), ...computed, '"start"', '"date"', ...recordAsRollupSql()].join(', ')} FROM flows WHERE ${conds.join(' AND ')}`;
  const parts: string[] = [];
  if (days.fresh.length) {
    const whole = [from && `"start" >= ${from}`, to && `"start" + ${L} <= ${to}`].filter(Boolean) as string[];
    parts.push(`SELECT * FROM ${rollupView(level)} WHERE ${[list(days.fresh), ...inRange.filter((c) => c.startsWith('"date"')), ...whole].join(' AND ')}`);
    const edges = [from && `"start" < ${from}`, to && `"start" >= ${to}`].filter(Boolean) as string[];
    if (edges.length) parts.push(records([list(days.fresh), ...inRange, `(${edges.join(' OR ')})`]));
  }
  if (days.stale.length) parts.push(records([list(days.stale), ...inRange]));
  // No day at all: an empty relation of the right shape.
  if (!parts.length) parts.push(records(['false']));
  return `SELECT *, ${ipv4NumberSql('srcaddr')} AS srcaddr_v4, ${ipv4NumberSql('dstaddr')} AS dstaddr_v4 FROM (${parts.join(' UNION ALL BY NAME ')})`;
}

/** The columns of the rollup relation over `dims` (with their types from the store's columns). */
export function rollupColumns(dims: readonly string[], columns: readonly ColumnInfo[]): ColumnInfo[] {
  const typeOf = new Map(columns.map((c) => [c.name, c.type]));
  return [
    ...dims.map((d) => ({ name: d, type: typeOf.get(d) ?? 'VARCHAR' })),
    ...ROLLUP_COMPUTED.map((c) => ({ name: c.name, type: 'VARCHAR' })),
    { name: 'start', type: 'BIGINT' },
    { name: 'date', type: 'DATE' },
    { name: 'srcaddr_v4', type: 'UINTEGER' },
    { name: 'dstaddr_v4', type: 'UINTEGER' },
    { name: '__records', type: 'BIGINT' },
    ...(['bytes', 'packets'] as const).flatMap((m) => ['sum', 'n', 'min', 'max'].map((k) => ({ name: `__${m}_${k}`, type: 'BIGINT' }))),
    { name: '__cost_usd_sum', type: 'DOUBLE' },
  ];
}

/** The relation a plan runs on, for a query's literal range. */
export function rollupRelation(plan: RollupPlan, columns: readonly ColumnInfo[], range: TimeRange, days: RollupDays): { sql: string; columns: ColumnInfo[] } {
  const names = new Set(columns.map((c) => c.name));
  const dims = ROLLUP_DIMS.filter((d) => names.has(d));
  const num = (t: number | undefined) => (t === undefined ? undefined : String(Math.floor(t)));
  return { sql: `(${rollupRelationSql(plan.level, dims, num(range.from), num(range.to), days)}) AS rollup_rows`, columns: rollupColumns(dims, columns) };
}
