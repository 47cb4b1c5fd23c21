import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBPreparedStatement, type DuckDBValue } from '@duckdb/node-api';
import { UserError } from '../util/errors.ts';
import { athenaViewSql, emptyFlowsDdl, ipv4NumberSql } from './schema-sql.ts';
import { sqlString } from './sql-text.ts';
import { ATHENA_FUNCTIONS } from './athena-functions.ts';
import { SCHEMA_FILE, STORE_MARKER } from './layout.ts';
import { ROLLUP_DIMS, ROLLUP_LEVELS, freshRollupDays, hasRollups, rollupView, storedDays } from './rollups.ts';
import { rollupRelationSql } from '../query/rollup.ts';
import { checkReadOnly } from './read-only.ts';

export interface ResultSet {
  columns: string[];
  rows: unknown[][];
}

/** The query side of the store: read-only SQL over `flows`, `vpc_flow_logs` and `quarantine`. */
export interface Store {
  readonly path: string;
  /**
   * Runs one read-only statement; `params` bind to `$1`, `$2`, ... (or `?`).
   * @example await store.query('SELECT count(*) FROM flows WHERE action = $1', ['REJECT'])
   */
  query(sql: string, params?: unknown[]): Promise<ResultSet>;
  /** Column names and DuckDB types of the `flows` view. */
  columns(): Promise<{ name: string; type: string }[]>;
  /**
   * Defines (or redefines) a temporary view shaped like `flows` over only the given stored
   * files (store-relative `flows/date=.../*.parquet`): a query over `flows` lists and opens
   * every file of the store, which costs more than the query itself when the store holds
   * thousands of small live-ingest files and the question is about the last minutes.
   * @example await store.fileView('recent', ['flows/date=2024-01-15/s0a1b2-0_0.parquet'])
   */
  fileView(name: string, files: readonly string[]): Promise<void>;
  /**
   * Keeps the rows of a read-only SELECT in a temporary table of this connection (gone at
   * close; no stored file is touched): `replace` makes the table from them, `append` adds them
   * by column name. Streaming detection keeps its running aggregates this way. Resolves to the
   * rows appended (`append`), or undefined for `replace` (DuckDB does not count CREATE TABLE AS).
   * @example await store.scratch('detect_st_1', 'SELECT 1 AS x', [], 'replace')
   */
  scratch(name: string, select: string, params?: unknown[], mode?: 'replace' | 'append'): Promise<number | undefined>;
  /**
   * Fills a temporary table (made on first use, emptied after) with the records of the given
   * stored files that start at or after `minStart`, shaped like `flows`.
   * @example await store.scratchFiles('new_rows', ['flows/date=2024-01-15/s0a1b2-0_0.parquet'], 1705276800)
   */
  scratchFiles(name: string, files: readonly string[], minStart: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the store folder for queries. Views are bound at each query, so files committed by a
 * concurrent ingest show up without reopening. `reusePlans` keeps statements without
 * parameters planned for a caller that runs the same texts again and again.
 * @example const store = await openStore('./flowlens.duckdb'); await store.query('SELECT 1')
 */
export async function openStore(path: string, opts: { threads?: number; memoryLimit?: string; reusePlans?: boolean } = {}): Promise<Store> {
  const root = resolve(path);
  if (!existsSync(join(root, STORE_MARKER))) {
    throw new UserError(`${path}: no flowlens store here (run \`flowlens ingest --db ${path} ...\` first)`);
  }
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(opts.threads ?? 2),
    memory_limit: opts.memoryLimit ?? '4GB',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const conn = await instance.connect();
  const flowsGlob = join(root, 'flows', '*', '*.parquet');
  await conn.run(
    `CREATE VIEW flows AS SELECT *, ${ipv4NumberSql('srcaddr')} AS srcaddr_v4, ${ipv4NumberSql('dstaddr')} AS dstaddr_v4 ` +
      `FROM read_parquet(${sqlString(flowsGlob)}, hive_partitioning = true, union_by_name = true, hive_types = {'date': DATE})`,
  );
  await conn.run(athenaViewSql('flows'));
  // Presto functions AWS's Athena examples use, so those queries run unchanged.
  for (const sql of ATHENA_FUNCTIONS) await conn.run(sql);
  // Rollup views, when the store has its rollup anchors (stores from before rollups do not),
  // and flows_summary(lo, hi): the hourly rollup where fresh, the records elsewhere.
  if (hasRollups(root)) {
    for (const level of ROLLUP_LEVELS) {
      const glob = join(root, 'rollups', level.name, '*', 'rollup.parquet');
      await conn.run(`CREATE VIEW ${rollupView(level)} AS SELECT * FROM read_parquet(${sqlString(glob)}, hive_partitioning = true, union_by_name = true, hive_types = {'date': DATE})`);
    }
    await defineSummary(conn, root);
  }
  const quarantineGlob = join(root, 'quarantine', '*.jsonl');
  await conn.run(
    existsSync(join(root, 'quarantine'))
      ? `CREATE VIEW quarantine AS SELECT * FROM read_json(${sqlString(quarantineGlob)}, format = 'newline_delimited', columns = {source: 'VARCHAR', line: 'BIGINT', "column": 'BIGINT', reason: 'VARCHAR', text: 'VARCHAR'}, filename = true)`
      : `CREATE VIEW quarantine AS SELECT NULL::VARCHAR AS source, NULL::BIGINT AS line, NULL::BIGINT AS "column", NULL::VARCHAR AS reason, NULL::VARCHAR AS text, NULL::VARCHAR AS filename WHERE false`,
  );
  void emptyFlowsDdl;
  // Stored files never change under a name (new content gets a new file, or a rename over
  // the old one); a footer read once serves every later query: detection runs dozens of
  // queries per pass over live ingest's many small files.
  await conn.run('SET parquet_metadata_cache = true');
  // A plan kept for reuse must not rest on what tables held when it was made: DuckDB 1.5's
  // statistics propagation rewrites a prepared plan from the tables' current statistics (a
  // filter no row matches yet becomes an empty result, duckdb#23704), and later runs keep the
  // rewrite after rows came in. Without it a reused plan reads what the tables hold then.
  if (opts.reusePlans) await conn.run("SET disabled_optimizers = 'statistics_propagation'");
  // From here on SQL can read only the store folder, and nobody can loosen that again.
  await conn.run(`SET allowed_directories = [${sqlString(root + '/')}]`);
  await conn.run('SET enable_external_access = false');
  await conn.run('SET lock_configuration = true');
  return new DuckDBStore(path, instance, conn, opts.reusePlans ?? false);
}

/**
 * (Re)defines flows_summary(lo, hi) with the days its 5-minute rollups answer and the days it
 * reads records for as literals (so each part reads only its days' files).
 */
async function defineSummary(conn: DuckDBConnection, root: string): Promise<void> {
  const level = ROLLUP_LEVELS[0];
  const built = [...(await freshRollupDays(root))].filter(([, d]) => d.rows[level.name] !== undefined).map(([day]) => day);
  const stale = (await storedDays(root)).filter((d) => !built.includes(d));
  await conn.run(`CREATE OR REPLACE MACRO flows_summary(lo, hi) AS TABLE ${rollupRelationSql(level, ROLLUP_DIMS, 'lo', 'hi', { fresh: built, stale })}`);
}

/** How long flows_summary's day lists are trusted before a query looks at the folders again. */
const SUMMARY_TTL_MS = 2000;

/** A temporary table's name: plain lower-case, so it can be written into SQL as it is. */
function scratchName(name: string, what: string): void {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(name)) throw new Error(`${what}: "${name}" is not a plain lower-case name`);
}

/** How many statement texts a store remembers as checked, and as prepared. */
const STATEMENT_CACHE = 256;

class DuckDBStore implements Store {
  private summaryAt = performance.now();
  // Streaming detection runs the same few dozen statements every pass: the read-only check
  // (two parses of the text) cost more than running them over a pass's new records. A text
  // that passed once passes again: the check reads the parse tree, not the data.
  private readonly checked = new Set<string>();
  // With `reusePlans`, statements run without parameters stay prepared (planned once; DuckDB
  // plans one again itself when the catalog changed): streaming detection runs the same ones
  // every pass. One in use by another caller is not shared.
  private readonly prepared = new Map<string, { stmt: DuckDBPreparedStatement; busy: boolean }>();

  private async check(sql: string): Promise<void> {
    if (this.checked.has(sql)) return;
    await checkReadOnly(this.conn, sql);
    if (this.checked.size >= STATEMENT_CACHE) this.checked.clear();
    this.checked.add(sql);
  }

  constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly reusePlans: boolean,
  ) {}

  async query(sql: string, params: unknown[] = []): Promise<ResultSet> {
    await this.check(sql);
    // Days become fresh or stale as ingest and rollup builds go on; refresh the macro's lists.
    if (/flows_summary/i.test(sql) && performance.now() - this.summaryAt > SUMMARY_TTL_MS && hasRollups(this.path)) {
      await defineSummary(this.conn, resolve(this.path));
      this.summaryAt = performance.now();
    }
    let reader;
    for (let attempt = 1; ; attempt++) {
      try {
        if (params.length) {
          const prepared = await this.conn.prepare(sql);
          prepared.bind(params as DuckDBValue[]);
          reader = await prepared.runAndReadAll();
        } else {
          reader = await this.runPrepared(sql, (p) => p.runAndReadAll());
        }
        break;
      } catch (err) {
        // A live ingest renames its files when its stream ends (run id -> content id): a query
        // that listed the folder just before finds one gone. Listing again sees the new name.
        if (attempt < VANISHED_RETRIES && isVanishedFile(err)) continue;
        throw new UserError(cleanDuckError(err), { cause: err });
      }
    }
    return { columns: reader.columnNames(), rows: reader.getRows().map((r) => r.map(plainValue)) };
  }

  /** Runs `sql` (no parameters) through the kept prepared statement for its text. */
  private async runPrepared<T>(sql: string, run: (stmt: DuckDBPreparedStatement) => Promise<T>): Promise<T> {
    if (!this.reusePlans) return run(await this.conn.prepare(sql));
    let entry = this.prepared.get(sql);
    if (entry?.busy) return run(await this.conn.prepare(sql));
    if (!entry) {
      entry = { stmt: await this.conn.prepare(sql), busy: false };
      if (this.prepared.size >= STATEMENT_CACHE) this.prepared.clear();
      this.prepared.set(sql, entry);
    }
    entry.busy = true;
    try {
      return await run(entry.stmt);
    } finally {
      entry.busy = false;
    }
  }

  async columns(): Promise<{ name: string; type: string }[]> {
    const r = await this.conn.runAndReadAll('DESCRIBE flows');
    return r.getRows().map((row) => ({ name: String(row[0]), type: String(row[1]) }));
  }

  /** The SELECT of a view shaped like `flows` over only the given stored files. */
  private filesSelect(files: readonly string[], what: string): string {
    const root = resolve(this.path);
    const paths = [SCHEMA_FILE, ...files].map((f) => {
      // Only the store's own record files: nothing else can be reached through the view.
      if (!/^flows\/date=\d{4}-\d{2}-\d{2}\/[^/]+\.parquet$/.test(f)) throw new Error(`${what}: "${f}" is not a stored record file`);
      return sqlString(join(root, f));
    });
    // The anchor holds every column (zero rows), so the view has the flows view's columns.
    return (
      `SELECT *, ${ipv4NumberSql('srcaddr')} AS srcaddr_v4, ${ipv4NumberSql('dstaddr')} AS dstaddr_v4 ` +
      `FROM read_parquet([${paths.join(', ')}], hive_partitioning = true, union_by_name = true, hive_types = {'date': DATE})`
    );
  }

  async fileView(name: string, files: readonly string[]): Promise<void> {
    if (!/^[a-z_]{1,40}$/.test(name)) throw new Error(`fileView: "${name}" is not a plain lower-case name`);
    await this.conn.run(`CREATE OR REPLACE TEMP VIEW ${name} AS ${this.filesSelect(files, 'fileView')}`);
  }

  async scratchFiles(name: string, files: readonly string[], minStart: number): Promise<void> {
    scratchName(name, 'scratchFiles');
    if (!Number.isFinite(minStart)) throw new Error('scratchFiles: minStart must be a number');
    const select = `${this.filesSelect(files, 'scratchFiles')} WHERE start >= ${Math.floor(minStart)}`;
    try {
      // Emptied and filled again rather than made anew: a new table (or view) changes the
      // catalog, and DuckDB then plans every prepared statement again (a rule's scope filter
      // alone takes ~10 ms to plan).
      const exists = await this.conn.runAndReadAll(`SELECT 1 FROM duckdb_tables() WHERE temporary AND table_name = ${sqlString(name)}`);
      if (exists.currentRowCount) {
        await this.conn.run(`DELETE FROM temp.${name}`);
        try {
          await this.conn.run(`INSERT INTO temp.${name} BY NAME ${select}`);
          return;
        } catch {
          // The files have a column the table lacks (the store gained one): make it again.
        }
      }
      await this.conn.run(`CREATE OR REPLACE TEMP TABLE ${name} AS ${select}`);
    } catch (err) {
      throw new UserError(cleanDuckError(err), { cause: err });
    }
  }

  async scratch(name: string, select: string, params: unknown[] = [], mode: 'replace' | 'append' = 'replace'): Promise<number | undefined> {
    scratchName(name, 'scratch');
    await this.check(select);
    const sql = mode === 'replace' ? `CREATE OR REPLACE TEMP TABLE ${name} AS ${select}` : `INSERT INTO temp.${name} BY NAME ${select}`;
    try {
      let result;
      if (params.length) {
        const prepared = await this.conn.prepare(sql);
        prepared.bind(params as DuckDBValue[]);
        result = await prepared.run();
      } else {
        result = await this.runPrepared(sql, (p) => p.run());
      }
      return mode === 'append' ? result.rowsChanged : undefined;
    } catch (err) {
      throw new UserError(cleanDuckError(err), { cause: err });
    }
  }

  async close(): Promise<void> {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/** How often a query is tried when a store file it listed vanished under it. */
const VANISHED_RETRIES = 4;

/** True for DuckDB's error on a listed file that is gone (renamed or replaced meanwhile). */
export function isVanishedFile(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /Cannot open file "[^"]*\/flows\/[^"]*": No such file or directory/.test(msg);
}

/** DuckDB's messages carry a type prefix and sometimes a multi-line hint; keep one line. */
export function cleanDuckError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].replace(/^(\w+ )?Error: /, '').trim() || msg;
}

/**
 * Converts DuckDB value objects (DATE, TIMESTAMP, DECIMAL, LIST, STRUCT, ...) to plain JS:
 * their own text for scalars, arrays and objects for nested values.
 */
export function plainValue(v: DuckDBValue): unknown {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if ('items' in v && Array.isArray((v as { items: unknown }).items)) return (v as { items: DuckDBValue[] }).items.map(plainValue);
  if ('entries' in v && typeof (v as { entries: unknown }).entries === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries((v as { entries: Record<string, DuckDBValue> }).entries)) out[k] = plainValue(x);
    return out;
  }
  return String(v);
}
