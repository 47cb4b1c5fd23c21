/**
 * The CloudWatch Logs Insights query language over the flowlens store: parse, compile to
 * DuckDB or ClickHouse SQL, run. The CLI (`flowlens query`) and the HTTP API call these.
 */
import { ClickHouseVisitor } from './clickhouse.ts';
import { compilePipeline, type TimeRange } from './compiler.ts';
import { DuckDbVisitor } from './duckdb.ts';
import { QueryError } from './errors.ts';
import { normalizeColumns, type ColumnInfo } from './fields.ts';
import { parseQuery } from './parser.ts';
import { planRollup, rollupRelation } from './rollup.ts';
import { freshRollupDays, hasRollups, storedDays } from '../store/rollups.ts';
import { firstLine } from '../util/errors.ts';

export { parseQuery } from './parser.ts';
export { QueryError } from './errors.ts';
export { DEFAULT_LIMIT, type TimeRange } from './compiler.ts';
export type { ColumnInfo } from './fields.ts';
export { timeRange, parseTime, parseSince } from './time-range.ts';

export type Dialect = 'duckdb' | 'clickhouse';

export interface CompileOptions {
  readonly dialect?: Dialect;
  /** Unix seconds (or a Date), inclusive. */
  readonly from?: number | Date;
  readonly to?: number | Date;
  /** The `flows` view's columns (names, or names with DuckDB types); defaults to the column list. */
  readonly columns?: readonly (string | ColumnInfo)[];
  /** The table or view to query; `flows` unless told. */
  readonly table?: string;
  /**
   * Literals written into the SQL (escaped) instead of bound as `$n` parameters. DuckDB plans
   * a prepared statement with parameters again at every execution (~10 ms for a rule's scope
   * filter), and one without once: for statements run again and again.
   */
  readonly inline?: boolean;
}

export interface Compiled {
  readonly sql: string;
  readonly params: readonly string[];
  /** Output names, in the order of the SQL's c1, c2, ... columns. */
  readonly columns: readonly string[];
}

const seconds = (t: number | Date | undefined) => (t instanceof Date ? Math.floor(t.getTime() / 1000) : t);

/**
 * Compiles a Logs Insights query to SQL; throws QueryError (with line and column) when the
 * query is wrong.
 * @example compileInsights('filter action="REJECT" | stats count(*) by srcAddr', {dialect: 'duckdb'}).params // ['REJECT']
 */
export function compileInsights(query: string, opts: CompileOptions = {}): Compiled & { regexes: readonly { pattern: string; span: { start: number; end: number } }[] } {
  const ast = parseQuery(query);
  const v = opts.dialect === 'clickhouse' ? new ClickHouseVisitor(query) : new DuckDbVisitor(query);
  if (opts.inline) v.inlineAll = true;
  const range: TimeRange = { from: seconds(opts.from), to: seconds(opts.to) };
  return compilePipeline(ast, v, normalizeColumns(opts.columns), range, opts.table ?? 'flows');
}

/** What runInsights needs from the store (the store's `query`; its folder, for rollups). */
export interface QueryableStore {
  query(sql: string, params?: unknown[]): Promise<{ columns: string[]; rows: unknown[][] }>;
  readonly path?: string;
}

export interface RunOptions {
  readonly from?: number | Date;
  readonly to?: number | Date;
  /** Skip `DESCRIBE` when the caller already knows the columns. */
  readonly columns?: readonly (string | ColumnInfo)[];
  /** false: read the records even where a rollup could answer. */
  readonly rollups?: boolean;
  /** Query this table (with the `flows` columns it names) instead of `flows`; no rollups. */
  readonly table?: string;
}

/**
 * The `flows` view's columns as DuckDB describes them.
 * @example await describeFlows(store) // [{name: 'version', type: 'INTEGER'}, ...]
 */
export async function describeFlows(store: QueryableStore, table = 'flows'): Promise<ColumnInfo[]> {
  const r = await store.query(`DESCRIBE ${table}`);
  const name = r.columns.indexOf('column_name');
  const type = r.columns.indexOf('column_type');
  return r.rows.map((row) => ({ name: String(row[name]), type: String(row[type]) }));
}

/**
 * Runs a Logs Insights query on a DuckDB store and returns the result set with Insights'
 * column names.
 * @example await runInsights(store, 'stats count(*) by action', {from: 1700000000})
 */
export async function runInsights(store: QueryableStore, query: string, opts: RunOptions = {}): Promise<{ columns: string[]; rows: unknown[][]; rollup?: string }> {
  const columns = opts.columns ?? (await describeFlows(store));
  const over = opts.table ? undefined : await compileOverRollups(store, query, opts, normalizeColumns(columns));
  const c = over?.compiled ?? compileInsights(query, { dialect: 'duckdb', from: opts.from, to: opts.to, columns, table: opts.table });
  // RE2 refuses some patterns our checks let through; ask it first so the error points at the regex.
  for (const re of c.regexes) {
    try {
      await store.query('SELECT regexp_matches(\'\', $1)', [re.pattern]);
    } catch (err) {
      const why = firstLine(err).replace(/^[A-Za-z ]*Error: /, '');
      throw new QueryError(`invalid regular expression: ${why}`, query, re.span, { cause: err });
    }
  }
  const r = await store.query(c.sql, [...c.params]);
  // `rollup` names the rollup level that answered (absent: the records did).
  return over ? { columns: [...c.columns], rows: r.rows, rollup: over.level } : { columns: [...c.columns], rows: r.rows };
}

/**
 * Compiles the query over the store's rollups when they give its exact answer (rollup.ts),
 * else returns undefined.
 */
async function compileOverRollups(store: QueryableStore, query: string, opts: RunOptions, columns: ColumnInfo[]): Promise<{ compiled: ReturnType<typeof compileInsights>; level: string } | undefined> {
  if (opts.rollups === false || !store.path || !hasRollups(store.path)) return undefined;
  const range: TimeRange = { from: seconds(opts.from), to: seconds(opts.to) };
  const plan = planRollup(parseQuery(query), columns, range);
  if (!plan) return undefined;
  // The days whose rollup at the plan's level was built (the rest read their records).
  const days = [...(await freshRollupDays(store.path))].filter(([, d]) => d.rows[plan.level.name] !== undefined).map(([day]) => day);
  if (!days.length) return undefined;
  const stale = (await storedDays(store.path)).filter((d) => !days.includes(d));
  const rel = rollupRelation(plan, columns, range, { fresh: days, stale });
  return { compiled: compilePipeline(plan.query, new DuckDbVisitor(query), rel.columns, range, rel.sql), level: plan.level.name };
}
