import type { Command, Expr, Item, Query } from './ast.ts';
import { QueryError } from './errors.ts';
import { baseFields, type ColumnInfo } from './fields.ts';
import { globToRe2, toRe2 } from './regex.ts';
import { Scope, type Entry } from './scope.ts';
import type { RegexUse, SqlVisitor } from './sql-visitor.ts';

/** Insights returns at most this many rows when the query has no `limit`. */
export const DEFAULT_LIMIT = 10_000;

/** Unix seconds, inclusive on both ends. */
export interface TimeRange {
  readonly from?: number;
  readonly to?: number;
}

export interface CompiledSql {
  readonly sql: string;
  /** Values for the placeholders, in order ($1.. in DuckDB, {p1:String}.. in ClickHouse). */
  readonly params: readonly string[];
  /** Output column names as the user will see them (the SQL names them c1, c2, ...). */
  readonly columns: readonly string[];
  /** Regular expressions the SQL uses, with their place in the query. */
  readonly regexes: readonly RegexUse[];
}

interface OrderKey {
  readonly sql: string;
  readonly desc: boolean;
}

/** One SELECT being built; commands add to it until one needs the rows it produces. */
interface Layer {
  from: string;
  where: string[];
  order: OrderKey[];
  limit?: number;
}

/**
 * Turns a parsed query into one SQL statement over `table`, command by command. Most
 * commands add to the current SELECT; a command that needs the previous one's output (a
 * filter after limit, stats, dedup) wraps it as a subquery, and `SELECT *` carries the stored
 * columns through so expressions over them stay valid in the outer query.
 * @example compilePipeline(parseQuery('stats count(*) by srcAddr'), new DuckDbVisitor(src), cols, {}, 'flows')
 */
export function compilePipeline(query: Query, v: SqlVisitor, columns: readonly ColumnInfo[], range: TimeRange, table: string): CompiledSql {
  return new Pipeline(query, v, columns, range, table).compile();
}

class Pipeline {
  private layer: Layer;
  private scope: Scope;
  private subqueries = 0;
  private display?: Entry[];
  private shown: Entry[] = [];
  private statsOutputs?: Entry[];

  constructor(
    private readonly query: Query,
    private readonly v: SqlVisitor,
    columns: readonly ColumnInfo[],
    range: TimeRange,
    table: string,
  ) {
    const base = baseFields(columns, v);
    this.scope = new Scope(base, query.source);
    const names = new Set(columns.map((c) => c.name));
    const where: string[] = [];
    const start = v.ident('start');
    const date = v.ident('date');
    // Both the row's time and its day partition, so storage skips whole days before reading rows.
    if (names.has('start')) {
      if (range.from !== undefined) where.push(`${start} >= ${v.numLit(range.from)}`);
      if (range.to !== undefined) where.push(`${start} <= ${v.numLit(range.to)}`);
    }
    if (names.has('date')) {
      if (range.from !== undefined) where.push(`${date} >= ${v.dateLit(utcDay(range.from))}`);
      if (range.to !== undefined) where.push(`${date} <= ${v.dateLit(utcDay(range.to))}`);
    }
    // Without a sort, Insights lists the most recent events first.
    const order = names.has('start') ? [{ sql: start, desc: true }] : [];
    this.layer = { from: table, where, order };
  }

  compile(): CompiledSql {
    for (const c of this.query.commands) this.command(c);
    const out = this.display ?? (this.shown.length ? this.shown : (this.statsOutputs ?? this.defaultDisplay()));
    const select = out.map((e, i) => `${this.v.output(e)} AS ${this.v.ident(`c${i + 1}`)}`);
    const limit = this.layer.limit ?? DEFAULT_LIMIT;
    const { sql, params } = this.v.finish(this.selectSql(select.join(', '), { ...this.layer, limit }));
    return {
      sql,
      params,
      columns: out.map((e) => e.name),
      regexes: [...this.v.regexes],
    };
  }

  private defaultDisplay(): Entry[] {
    const out: Entry[] = [];
    for (const name of ['@timestamp', '@message']) {
      const e = this.scope.lookup(name);
      if (e) out.push({ ...e, name });
    }
    return out;
  }

  private selectSql(select: string, l: Layer): string {
    let sql = `SELECT ${select} FROM ${l.from}`;
    if (l.where.length) sql += ` WHERE ${l.where.join(' AND ')}`;
    if (l.order.length) sql += ` ORDER BY ${this.orderBy(l.order)}`;
    if (l.limit !== undefined) sql += ` LIMIT ${l.limit}`;
    return sql;
  }

  private orderBy(order: readonly OrderKey[]): string {
    return this.v.inlineParams(order.map((o) => `${o.sql} ${o.desc ? 'DESC' : 'ASC'} NULLS LAST`).join(', '));
  }

  /** Makes the current SELECT a subquery of a new one that keeps its order. */
  private wrap(select = '*', l: Layer = this.layer): void {
    const alias = `q${++this.subqueries}`;
    // Order only matters inside when a limit picks rows; otherwise the outer query sorts.
    const inner = l.limit === undefined ? { ...l, order: [] } : l;
    this.layer = { from: `(${this.selectSql(select, inner)}) AS ${alias}`, where: [], order: l.order };
  }

  private ctx(agg: 'none' | 'stats' = 'none') {
    return { scope: this.scope, agg } as const;
  }

  private command(c: Command): void {
    switch (c.kind) {
      case 'filter': {
        if (this.layer.limit !== undefined) this.wrap();
        const x = this.v.visit(c.expr, this.ctx());
        this.layer.where.push(this.v.cond(x, c.expr.span));
        return;
      }
      case 'fields':
        for (const e of this.items(c.items)) {
          this.shown = this.shown.filter((s) => s.name.toLowerCase() !== e.name.toLowerCase());
          this.shown.push(e);
        }
        return;
      case 'display':
        this.display = this.items(c.items);
        return;
      case 'parse':
        return this.parse(c);
      case 'stats':
        return this.stats(c);
      case 'sort':
        if (this.layer.limit !== undefined) this.wrap();
        // A key with no field in it orders nothing (and databases refuse constant keys).
        this.layer.order = c.keys.filter((k) => readsRow(k.expr)).map((k) => ({ sql: this.v.visit(k.expr, this.ctx()).sql, desc: k.desc }));
        return;
      case 'limit':
        this.layer.limit = Math.min(this.layer.limit ?? Infinity, c.count);
        return;
      case 'dedup':
        return this.dedup(c);
    }
  }

  /** Compiles `expr [as name]` items, defining aliased ones for later commands. */
  private items(items: readonly Item[]): Entry[] {
    return items.map((it) => {
      const x = this.v.visit(it.expr, this.ctx());
      const name = it.alias ?? (it.expr.kind === 'field' ? it.expr.name : it.text);
      return it.alias || it.expr.kind !== 'field' ? this.scope.define(name, x) : { ...x, name };
    });
  }

  private parse(c: Command & { kind: 'parse' }): void {
    const src = this.v.toText(this.v.visit(c.source, this.ctx()));
    const re = c.pattern.kind === 'string' ? globToRe2(c.pattern.value) : toRe2(c.pattern.pattern, this.query.source, c.pattern.span);
    const unnamed = re.groups.filter((g) => !g.name);
    let targets: { index: number; name: string }[];
    if (c.pattern.kind === 'string' || (c.names.length && !re.groups.some((g) => g.name))) {
      if (c.names.length !== re.groups.length) {
        const what = c.pattern.kind === 'string' ? '`*` in the pattern' : 'group in the regular expression';
        throw new QueryError(`expected one name per ${what}: ${re.groups.length} of them, ${c.names.length} name${c.names.length === 1 ? '' : 's'}`, this.query.source, c.span);
      }
      targets = re.groups.map((g, i) => ({ index: g.index, name: c.names[i] }));
    } else {
      if (c.names.length) throw new QueryError('a regular expression with named groups takes no `as` names', this.query.source, c.span);
      targets = re.groups.filter((g) => g.name).map((g) => ({ index: g.index, name: g.name! }));
      if (!targets.length) {
        throw new QueryError(`expected named groups such as (?<name>...) in the regular expression (it has ${unnamed.length} unnamed)`, this.query.source, c.pattern.span);
      }
    }
    const p = this.v.param(re.pattern);
    this.v.regexes.push({ pattern: re.pattern, span: c.pattern.span });
    // Extract once, in subqueries (the text, then the captures), not at every use of the fields.
    const n = this.subqueries + 1;
    const text = /^"[A-Za-z0-9_]+"$/.test(src) ? src : this.v.ident(`__p${n}_text`);
    if (text !== src) this.wrap(`*, ${src} AS ${text}`);
    const cols = targets.map((t, i) => ({ ...t, col: `__p${n}_${i + 1}` }));
    this.wrap(['*', ...cols.map((t) => `${this.v.parseField(text, p, t.index).sql} AS ${this.v.ident(t.col)}`)].join(', '));
    for (const t of cols) this.scope.define(t.name, { sql: this.v.ident(t.col), type: 'str' });
  }

  private stats(c: Command & { kind: 'stats' }): void {
    if (this.layer.limit !== undefined) this.wrap();
    // Group keys spell values as literals: DuckDB refuses parameters in GROUP BY, and the
    // select list must repeat each key exactly.
    const by = this.items(c.by).map((e, i) => ({ e: { ...e, sql: this.v.inlineParams(e.sql) }, alias: `g${i + 1}` }));
    const aggs = c.aggs.map((it, i) => {
      this.v.sawAggregate = false;
      const x = this.v.visit(it.expr, this.ctx('stats'));
      if (!this.v.sawAggregate) {
        throw new QueryError('expected an aggregation such as count(*), sum(bytes) or avg(bytes) in `stats`', this.query.source, it.span);
      }
      return { e: { ...x, name: it.alias ?? it.text } as Entry, alias: `a${i + 1}` };
    });
    const all = [...by, ...aggs];
    const seen = new Set<string>();
    for (const [i, { e }] of all.entries()) {
      const key = e.name.toLowerCase();
      const span = i < by.length ? c.by[i].span : c.aggs[i - by.length].span;
      if (seen.has(key)) throw new QueryError(`\`${e.name}\` is named twice in this stats; give one an alias with \`as\``, this.query.source, span);
      seen.add(key);
    }
    const select = all.map(({ e, alias }) => `${e.sql} AS ${this.v.ident(alias)}`).join(', ');
    let sql = `SELECT ${select} FROM ${this.layer.from}`;
    if (this.layer.where.length) sql += ` WHERE ${this.layer.where.join(' AND ')}`;
    // Constant keys group nothing (and a bare number would be read as a column position).
    const keys = by.filter((_, i) => readsRow(c.by[i].expr));
    if (keys.length) sql += ` GROUP BY ${keys.map(({ e }) => e.sql).join(', ')}`;
    this.scope = new Scope(null, this.query.source);
    const outputs = all.map(({ e, alias }) => this.scope.define(e.name, { sql: this.v.ident(alias), type: e.type }));
    // Time bins read best in time order; other groups come in no order (as in Insights), which
    // spares sorting what may be millions of groups.
    const order = by.filter(({ e }) => e.type === 'time').map(({ alias }) => ({ sql: this.v.ident(alias), desc: false }));
    this.layer = { from: `(${sql}) AS q${++this.subqueries}`, where: [], order };
    this.statsOutputs = outputs;
    this.shown = [];
    this.display = undefined;
  }

  private dedup(c: Command & { kind: 'dedup' }): void {
    if (this.layer.limit !== undefined) this.wrap();
    const keys = c.fields.map((f) => this.v.visit(f, this.ctx()).sql);
    const order = this.orderBy(this.layer.order);
    const rn = this.v.ident('__rn');
    const window = this.v.inlineParams(`row_number() OVER (PARTITION BY ${keys.join(', ')}${order ? ` ORDER BY ${order}` : ''}) AS ${rn}`);
    const kept = this.layer.order;
    this.wrap(`*, ${window}`, { ...this.layer, order: [] });
    this.layer.order = kept;
    // Rows with a missing key are never duplicates (as in Insights).
    this.layer.where.push(`(${[`${rn} = 1`, ...keys.map((k) => `${k} IS NULL`)].join(' OR ')})`);
  }
}

/** True when an expression reads the row (a field, or a function of @timestamp such as bin). */
function readsRow(e: Expr): boolean {
  switch (e.kind) {
    case 'field':
      return true;
    case 'call':
      return ['bin', 'earliest', 'latest'].includes(e.name.toLowerCase()) || e.args.some(readsRow);
    case 'unary':
      return readsRow(e.operand);
    case 'binary':
      return readsRow(e.left) || readsRow(e.right);
    case 'in':
      // `"x" in [srcAddr]` reads the row through its list.
      return readsRow(e.value) || e.list.items.some(readsRow);
    case 'match':
      return readsRow(e.value);
    default:
      return false;
  }
}

/** The UTC day of a unix time, as YYYY-MM-DD. */
export function utcDay(seconds: number): string {
  const d = new Date(Math.min(Math.max(seconds, -62135596800), 253402300799) * 1000);
  return d.toISOString().slice(0, 10);
}
