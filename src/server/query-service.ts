import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type ResultSet, type Store } from '../store/index.ts';
import { describeFlows, runInsights, type ColumnInfo } from '../query/index.ts';
import { HttpError } from './errors.ts';

export interface QueryLimits {
  maxRows: number;
  timeoutMs: number;
  maxQueued: number;
}

/** A result with the flag saying rows were cut at the limit. */
export interface LimitedResult extends ResultSet {
  truncated: boolean;
}

/** How long an answer is reused (ms), and how many are kept. */
const CACHE_MS = 10_000;
const CACHE_ENTRIES = 200;

/** Statements that can be wrapped in an outer SELECT to cap their rows inside DuckDB. */
const WRAPPABLE = /^[\s(]*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*(SELECT|WITH|FROM|VALUES|TABLE)\b/i;

/**
 * Caps a query's rows inside the engine (so a huge answer is never materialised), asking for
 * one row more than allowed to know whether the answer was cut. DESCRIBE, EXPLAIN and SHOW
 * are small and cannot be wrapped, so they run as they are.
 * @example limitSql('SELECT * FROM flows;', 10) // 'SELECT * FROM (\nSELECT * FROM flows\n) AS limited LIMIT 11'
 */
export function limitSql(sql: string, maxRows: number): string {
  if (!WRAPPABLE.test(sql)) return sql;
  const body = sql.replace(/[\s;]+$/, '');
  // The newline ends a trailing `-- comment` before the closing parenthesis.
  return `SELECT * FROM (\n${body}\n) AS limited LIMIT ${maxRows + 1}`;
}

/**
 * The server's one door to the store: queries run one at a time on the locked, read-only
 * store (two cores; DuckDB parallelises each query itself), each with a time limit enforced by
 * interrupting DuckDB, and with a bounded queue so a flood of requests gets 429, not memory.
 */
export class QueryService {
  private store: Store | undefined;
  private opening: Promise<Store> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private columnsCache: { at: number; cols: ColumnInfo[] } | undefined;
  private hadQuarantine: boolean;
  /** Recent answers by statement: switching views re-asks the same panels. Cleared on every commit. */
  private cache = new Map<string, { at: number; result: Promise<LimitedResult> }>();

  constructor(
    readonly db: string,
    readonly limits: QueryLimits,
    private readonly observe: (kind: string, seconds: number, ok: boolean) => void = () => {},
  ) {
    this.hadQuarantine = existsSync(join(db, 'quarantine'));
  }

  private async current(): Promise<Store> {
    if (this.store) return this.store;
    this.opening ??= openStore(this.db).then((s) => {
      this.store = s;
      this.opening = undefined;
      return s;
    });
    return this.opening;
  }

  /** Runs `job` when the store is free; refuses with 429 when too many wait already. */
  private exclusive<T>(job: (store: Store) => Promise<T>): Promise<T> {
    if (this.queued >= this.limits.maxQueued) {
      return Promise.reject(new HttpError(429, `too many queries waiting (${this.queued}); retry shortly`, { retryAfter: 1 }));
    }
    this.queued++;
    const run = this.chain.then(async () => {
      try {
        return await job(await this.current());
      } finally {
        this.queued--;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Runs one statement under the time limit, interrupting DuckDB when it is exceeded. */
  private async timed<T>(store: Store, kind: string, fn: () => Promise<T>, timeoutMs = this.limits.timeoutMs): Promise<T> {
    const t0 = performance.now();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      interrupt(store);
    }, timeoutMs);
    try {
      const r = await fn();
      this.observe(kind, (performance.now() - t0) / 1000, true);
      return r;
    } catch (err) {
      this.observe(kind, (performance.now() - t0) / 1000, false);
      if (timedOut) throw new HttpError(504, `query interrupted after ${timeoutMs} ms (the server's time limit); narrow the time range or add filters`, {}, { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Read-only SQL (checked by the store's read-only wall), capped at `maxRows`.
   * @example await service.sql('SELECT action, count(*) FROM flows GROUP BY 1')
   */
  sql(sql: string, maxRows = this.limits.maxRows): Promise<LimitedResult> {
    return this.cached(`sql\u0000${maxRows}\u0000${sql}`, () => this.exclusive((store) => this.timed(store, 'sql', async () => cap(await store.query(limitSql(sql, maxRows)), maxRows))));
  }

  /** Same statement within a few seconds and no commit since: the same answer, run once. */
  private cached(key: string, run: () => Promise<LimitedResult>): Promise<LimitedResult> {
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < CACHE_MS) return hit.result;
    const result = run();
    this.cache.set(key, { at: now, result });
    result.catch(() => this.cache.delete(key));
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return result;
  }

  /**
   * A Logs Insights query over `[from, to]` (unix seconds), capped at `maxRows`.
   * @example await service.insights('stats count(*) by action', {from: 1700000000})
   */
  insights(query: string, range: { from?: number; to?: number }, maxRows = this.limits.maxRows): Promise<LimitedResult> {
    return this.cached(`insights\u0000${maxRows}\u0000${range.from}\u0000${range.to}\u0000${query}`, () =>
      this.exclusive(async (store) => {
        const columns = await this.flowColumns(store);
        const capped = { query: (sql: string, params?: unknown[]) => store.query(limitSql(sql, maxRows), params) };
        return this.timed(store, 'insights', async () => cap(await runInsights(capped, query, { ...range, columns }), maxRows));
      }),
    );
  }

  /** The `flows` columns (cached for a few seconds: the dashboard asks on every panel). */
  columns(): Promise<ColumnInfo[]> {
    return this.exclusive((store) => this.flowColumns(store));
  }

  private async flowColumns(store: Store): Promise<ColumnInfo[]> {
    const now = Date.now();
    if (this.columnsCache && now - this.columnsCache.at < 5000) return this.columnsCache.cols;
    const cols = await describeFlows(store);
    this.columnsCache = { at: now, cols };
    return cols;
  }

  /**
   * Called after live ingest commits: the `quarantine` view is bound when the store opens, so a
   * quarantine folder that appeared since needs a reopen; new columns need a fresh DESCRIBE.
   */
  async refresh(): Promise<void> {
    this.columnsCache = undefined;
    this.cache.clear();
    const has = existsSync(join(this.db, 'quarantine'));
    if (has === this.hadQuarantine) return;
    this.hadQuarantine = has;
    await this.exclusive(async (store) => {
      this.store = undefined;
      await store.close();
    });
  }

  async close(): Promise<void> {
    await this.chain;
    const s = this.store ?? (await this.opening?.catch(() => undefined));
    this.store = undefined;
    await s?.close();
  }
}

function cap(r: ResultSet, maxRows: number): LimitedResult {
  const truncated = r.rows.length > maxRows;
  return { columns: r.columns, rows: truncated ? r.rows.slice(0, maxRows) : r.rows, truncated };
}

/**
 * Interrupts the statement running on the store's connection. The Store interface has no
 * interrupt of its own, so this reaches the DuckDB connection it wraps; if that ever changes
 * shape the time limit degrades to "answer 504 when the query ends".
 */
function interrupt(store: Store): void {
  const conn = (store as unknown as { conn?: { interrupt?: () => void } }).conn;
  conn?.interrupt?.();
}
