import type { Call, DurationLit, Expr, Span, StringLit } from './ast.ts';
import { UNIT_MS, functionSpec, FUNCTIONS } from './catalog.ts';
import { QueryError, suggestion } from './errors.ts';
import type { FieldDialect } from './fields.ts';
import { cidrBounds, type CidrBounds } from './ip-sql.ts';
import { toRe2 } from './regex.ts';
import { fieldByName } from '../schema/columns.ts';
import type { Scope, Sql, SqlType } from './scope.ts';

/**
 * Where an expression sits: `none` (no aggregations allowed), `stats` (a stats item, outside
 * any aggregation: only aggregations may read fields) or `inside` (an aggregation's argument).
 */
export interface ExprContext {
  readonly scope: Scope;
  readonly agg: 'none' | 'stats' | 'inside';
}

/** A regex sent to the database, with where it came from (so a database error can point at it). */
export interface RegexUse {
  readonly pattern: string;
  readonly span: Span;
}

const isNumeric = (t: SqlType) => t !== 'str';

/**
 * Compiles expressions to SQL. The language's semantics live here once; each SQL dialect
 * subclasses it and supplies the spelling (casts, function names, regex and IP helpers).
 * Every value from the query reaches SQL as a bound parameter or as a number this class
 * formatted itself; the only text literals are ones the compiler wrote.
 */
export abstract class SqlVisitor implements FieldDialect {
  readonly params: string[] = [];
  readonly regexes: RegexUse[] = [];
  private readonly paramIndex = new Map<string, number>();
  /** Set by stats items so the compiler can insist on at least one aggregation. */
  sawAggregate = false;

  constructor(readonly source: string) {}

  // ---- the spelling each dialect provides ----
  abstract ident(name: string): string;
  protected abstract placeholder(index: number): string;
  abstract strLit(s: string): string;
  abstract dateLit(ymd: string): string;
  /** An integer or boolean as DOUBLE (arithmetic never overflows in floating point). */
  protected abstract castDouble(sql: string): string;
  /** Text to DOUBLE, NULL when it is not a number. */
  protected abstract tryDouble(sql: string): string;
  protected abstract castText(sql: string): string;
  protected abstract boolToInt(sql: string): string;
  protected abstract fname(name: string): string;
  protected abstract contains(hay: string, needle: string): string;
  protected abstract regexMatch(hay: string, pattern: string): string;
  /** Whole-string match against a pattern the compiler wrote. */
  protected abstract regexFull(hay: string, pattern: string): string;
  protected abstract regexExtract(hay: string, pattern: string, group: number): string;
  protected abstract concat(parts: string[]): string;
  protected abstract trim(side: 'ltrim' | 'rtrim' | 'trim', s: string, chars?: string): string;
  /** `start0` and `len` are already whole numbers clamped to [0, 1e9]. */
  protected abstract substr(s: string, start0: string, len?: string): string;
  protected abstract timeText(ms: string): string;
  protected abstract calendarFloor(ms: string, unit: 'mo' | 'q' | 'y'): string;
  /** IPv4 text → unsigned 32-bit integer, NULL when not dotted-quad. */
  protected abstract ipv4Int(text: string): string;
  /** Octet `n` (1-4) of canonical dotted-quad text, as an integer (NULL when there is none). */
  protected abstract ipv4Octet(text: string, n: number): string;
  /** IPv6 text → 32 hex digits in the case `ipv6HexBound` uses, NULL when not IPv6. */
  protected abstract ipv6Hex(text: string): string;
  protected abstract ipv6HexBound(hex: string): string;
  protected abstract countDistinct(x: string): string;
  protected abstract quantile(x: string, p: number): string;
  protected abstract argBy(which: 'min' | 'max', x: string, by: string): string;
  abstract joinWithSpaces(parts: string[]): string;
  abstract secondsToMillis(sql: string): string;

  coalesceText(sql: string, fallback: string): string {
    return `${this.fname('coalesce')}(${sql}, ${fallback})`;
  }

  toText(s: Sql): string {
    switch (s.type) {
      case 'str':
        return s.sql;
      case 'time':
        return this.timeText(s.sql);
      default:
        return this.castText(s.sql);
    }
  }

  /** Renders a value for output: times as Insights-style timestamps, the rest as they are. */
  output(s: Sql): string {
    return s.type === 'time' ? this.timeText(s.sql) : s.sql;
  }

  // ---- values ----
  protected fail(message: string, span: Span): never {
    throw new QueryError(message, this.source, span);
  }

  /**
   * A bound parameter for a string from the query (the same string reuses its slot). Until
   * `finish`, it is a marker no query text can produce (user text never enters the SQL).
   */
  param(value: string): string {
    let i = this.paramIndex.get(value);
    if (i === undefined) {
      this.params.push(value);
      i = this.params.length;
      this.paramIndex.set(value, i);
    }
    return `\u0001${i}\u0001`;
  }

  /** Write every literal into the SQL (see CompileOptions.inline). */
  inlineAll = false;

  /**
   * Writes the parameters in `sql` as escaped literals, for the clauses where databases refuse
   * parameters (DuckDB: ORDER BY, and with them window and grouping keys).
   */
  inlineParams(sql: string): string {
    return sql.replace(/\u0001(\d+)\u0001/g, (_m, n: string) => this.strLit(this.params[Number(n) - 1]));
  }

  /**
   * Numbers the parameters the final SQL really uses (commands such as `display` can drop
   * expressions that had some), in order of appearance.
   * @example v.finish(sql) // {sql: '... $1 ...', params: ['REJECT']}
   */
  finish(sql: string): { sql: string; params: string[] } {
    if (this.inlineAll) return { sql: this.inlineParams(sql), params: [] };
    const renumber = new Map<number, number>();
    const params: string[] = [];
    const out = sql.replace(/\u0001(\d+)\u0001/g, (_m, n: string) => {
      let j = renumber.get(Number(n));
      if (j === undefined) {
        params.push(this.params[Number(n) - 1]);
        j = params.length;
        renumber.set(Number(n), j);
      }
      return this.placeholder(j);
    });
    return { sql: out, params };
  }

  numLit(n: number): string {
    if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
    return String(n);
  }

  protected f(name: string, ...args: string[]): string {
    return `${this.fname(name)}(${args.join(', ')})`;
  }

  /** The expression as a DOUBLE for arithmetic. */
  protected num(s: Sql): string {
    switch (s.type) {
      case 'num':
      case 'time':
        // Integer literals are INTEGER to the database, and INTEGER arithmetic can overflow.
        return /^\d+$/.test(s.sql) ? this.castDouble(s.sql) : s.sql;
      case 'int':
        return this.castDouble(s.sql);
      case 'bool':
        return this.castDouble(this.boolToInt(s.sql));
      case 'str':
        return this.tryDouble(s.sql);
    }
  }

  /** The expression as a condition (numbers are true when not zero; text is refused). */
  cond(s: Sql, span: Span): string {
    if (s.type === 'bool') return s.sql;
    if (s.type === 'str') this.fail('expected a condition (a comparison, like, in or a function such as ispresent) but this is text', span);
    return `(${s.sql} <> 0)`;
  }

  /** One `parse` capture: NULL when the pattern does not match (the row stays, without the field). */
  parseField(text: string, pattern: string, group: number): Sql {
    return { sql: `(CASE WHEN ${this.regexMatch(text, pattern)} THEN ${this.regexExtract(text, pattern, group)} END)`, type: 'str' };
  }

  private regexParam(pattern: string, span: Span): string {
    const re = toRe2(pattern, this.source, span);
    this.regexes.push({ pattern: re.pattern, span });
    return this.param(re.pattern);
  }

  // ---- expressions ----
  /**
   * Compiles one expression in a scope.
   * @example v.visit(parseExpr('bytes > 1000'), {scope, agg: 'none'}).sql // '("bytes" > 1000)'
   */
  visit(e: Expr, ctx: ExprContext): Sql {
    switch (e.kind) {
      case 'field':
        if (ctx.agg === 'stats') this.fail(`\`${e.name}\` must be inside an aggregation such as count_distinct(${e.name}), or listed after \`by\``, e.span);
        return ctx.scope.resolve(e);
      case 'string':
        return { sql: this.param(e.value), type: 'str' };
      case 'number':
        return { sql: this.numLit(e.value), type: 'num' };
      case 'duration':
        return this.fail('a time period such as `5m` only goes in bin(), datefloor() or dateceil()', e.span);
      case 'regex':
        return this.fail('a /regular expression/ only goes after `like` or `=~`, or in `parse`', e.span);
      case 'list':
        return this.fail('a [list] only goes after `in` or `not in`', e.span);
      case 'unary': {
        const x = this.visit(e.operand, ctx);
        if (e.op === 'not') return { sql: `(NOT ${this.cond(x, e.operand.span)})`, type: 'bool' };
        return { sql: `(-${this.num(x)})`, type: 'num' };
      }
      case 'binary':
        return this.binary(e, ctx);
      case 'in':
        return this.inList(e, ctx);
      case 'match': {
        const hay = this.toText(this.visit(e.value, ctx));
        const test =
          e.pattern.kind === 'string' && e.op === 'like'
            ? this.contains(hay, this.param(e.pattern.value))
            : this.regexMatch(hay, this.regexParam(e.pattern.kind === 'regex' ? e.pattern.pattern : e.pattern.value, e.pattern.span));
        return { sql: e.negated ? `(NOT ${test})` : test, type: 'bool' };
      }
      case 'call':
        return this.call(e, ctx);
    }
  }

  private binary(e: Expr & { kind: 'binary' }, ctx: ExprContext): Sql {
    const a = this.visit(e.left, ctx);
    const b = this.visit(e.right, ctx);
    switch (e.op) {
      case 'and':
      case 'or':
        return { sql: `(${this.cond(a, e.left.span)} ${e.op.toUpperCase()} ${this.cond(b, e.right.span)})`, type: 'bool' };
      case '=':
      case '!=':
      case '<':
      case '<=':
      case '>':
      case '>=':
        return { sql: this.compare(e.op === '!=' ? '<>' : e.op, a, b), type: 'bool' };
      case '^':
        return { sql: this.f('pow', this.num(a), this.num(b)), type: 'num' };
      case '/':
      case '%':
        // An integer modulo a positive integer literal (tcp_flags % 4) stays integer: same
        // answer as the double form, a fraction of the cost on every row of a scan.
        if (e.op === '%' && a.type === 'int' && e.right.kind === 'number' && Number.isInteger(e.right.value) && e.right.value > 0) return { sql: `(${a.sql} % ${e.right.value})`, type: 'int' };
        // Division by zero is missing, not an error, not infinity (NULLIF also sidesteps a DuckDB
        // quirk where x / 0 shows NULL yet compares as if it were NaN).
        return { sql: `(${this.num(a)} ${e.op} ${this.f('nullif', this.num(b), '0')})`, type: 'num' };
      default:
        return { sql: `(${this.num(a)} ${e.op} ${this.num(b)})`, type: 'num' };
    }
  }

  /** Compares two values; a number against text compares numerically (text that is no number never matches). */
  protected compare(op: string, a: Sql, b: Sql): string {
    const side = (x: Sql, other: Sql) => {
      if (x.type === 'bool') return this.boolToInt(x.sql);
      if (x.type === 'str' && isNumeric(other.type)) return this.tryDouble(x.sql);
      return x.sql;
    };
    if (a.type === 'bool' && b.type === 'bool') return `(${a.sql} ${op} ${b.sql})`;
    return `(${side(a, b)} ${op} ${side(b, a)})`;
  }

  private inList(e: Expr & { kind: 'in' }, ctx: ExprContext): Sql {
    const v = this.visit(e.value, ctx);
    const items = e.list.items.map((i) => this.visit(i, ctx));
    let sql: string;
    // The value stays in the SQL so its parameters stay bound; the result is FALSE regardless.
    if (items.length === 0) sql = `(${v.sql} IS NULL AND FALSE)`;
    else if (items.every((i) => isNumeric(i.type) === isNumeric(v.type) && i.type !== 'bool' && v.type !== 'bool')) {
      sql = `(${v.sql} IN (${items.map((i) => i.sql).join(', ')}))`;
    } else sql = `(${items.map((i) => this.compare('=', v, i)).join(' OR ')})`;
    return { sql: e.negated ? `(NOT ${sql})` : sql, type: 'bool' };
  }

  // ---- functions ----
  private call(e: Call, ctx: ExprContext): Sql {
    const spec = functionSpec(e.name);
    if (!spec) {
      this.fail(`unknown function \`${e.name}\`${suggestion(e.name, FUNCTIONS.map((f) => f.name))}`, e.nameSpan);
    }
    const n = e.args.length;
    if (e.star && !spec.star) this.fail(`\`${spec.name}(*)\` is not allowed; \`*\` only goes in count(*)`, e.span);
    if (n < spec.minArgs || n > spec.maxArgs) {
      const want = spec.minArgs === spec.maxArgs ? `${spec.minArgs}` : spec.maxArgs === Infinity ? `at least ${spec.minArgs}` : `${spec.minArgs} or ${spec.maxArgs}`;
      this.fail(`\`${spec.name}\` takes ${want} argument${want === '1' ? '' : 's'}, got ${n}`, e.span);
    }
    if (spec.aggregate) {
      if (ctx.agg === 'none') this.fail(`\`${spec.name}\` is an aggregation; it only goes in \`stats\``, e.nameSpan);
      if (ctx.agg === 'inside') this.fail(`aggregations cannot be nested: \`${spec.name}\` is inside another aggregation`, e.nameSpan);
      this.sawAggregate = true;
      return this.aggregate(spec.name, e, { scope: ctx.scope, agg: 'inside' });
    }
    return this.scalar(spec.name, e, ctx);
  }

  private args(e: Call, ctx: ExprContext): Sql[] {
    return e.args.map((a) => this.visit(a, ctx));
  }

  private timestamp(e: Call, ctx: ExprContext): Sql {
    return ctx.scope.resolve({ kind: 'field', name: '@timestamp', span: e.nameSpan });
  }

  private duration(x: Expr, fn: string): DurationLit {
    if (x.kind !== 'duration') this.fail(`\`${fn}\` expects a time period such as 5m or 1h`, x.span);
    if (!(x.amount > 0)) this.fail('the time period must be greater than zero', x.span);
    return x;
  }

  private floorTime(ms: string, d: DurationLit, ceil: boolean): Sql {
    const unitMs = UNIT_MS[d.unit];
    if (unitMs !== undefined) {
      const size = this.numLit(d.amount * unitMs);
      return { sql: `(${this.f(ceil ? 'ceil' : 'floor', `${ms} / ${size}`)} * ${size})`, type: 'time' };
    }
    if (d.amount !== 1 || ceil) this.fail(`only bin(1${d.unit}) and datefloor(..., 1${d.unit}) are supported for calendar periods`, d.span);
    return { sql: this.calendarFloor(ms, d.unit as 'mo'), type: 'time' };
  }

  private stringArg(x: Expr, fn: string): StringLit {
    if (x.kind !== 'string') this.fail(`\`${fn}\` expects a CIDR block in quotes here, such as "10.0.0.0/8"`, x.span);
    return x;
  }

  /** Clamps a position or length to a whole number in [0, 1e9] (NULL stays NULL). */
  private clampIndex(s: Sql): string {
    const whole = this.f('floor', this.num(s));
    return this.f('least', this.f('greatest', whole, '0'), '1000000000');
  }

  private scalar(name: string, e: Call, ctx: ExprContext): Sql {
    const lower = name.toLowerCase();
    switch (lower) {
      case 'bin': {
        const ts = this.timestamp(e, ctx);
        return this.floorTime(ts.sql, this.duration(e.args[0], 'bin'), false);
      }
      case 'datefloor':
      case 'dateceil': {
        const t = this.visit(e.args[0], ctx);
        return this.floorTime(this.num(t), this.duration(e.args[1], name), lower === 'dateceil');
      }
      case 'isipinsubnet':
      case 'isipv4insubnet':
      case 'isipv6insubnet':
        return this.inSubnet(lower, e, ctx);
    }
    const a = this.args(e, ctx);
    switch (lower) {
      case 'abs':
      case 'ceil':
      case 'floor':
        return { sql: this.f(lower, this.num(a[0])), type: 'num' };
      case 'log':
      case 'sqrt': {
        const x = this.num(a[0]);
        return { sql: `(CASE WHEN ${x} ${lower === 'log' ? '>' : '>='} 0 THEN ${this.f(lower === 'log' ? 'ln' : 'sqrt', x)} END)`, type: 'num' };
      }
      case 'greatest':
      case 'least':
      case 'coalesce': {
        const numeric = a.every((x) => isNumeric(x.type));
        const same = a.every((x) => x.type === a[0].type);
        const parts = a.map((x) => (same ? x.sql : numeric ? this.num(x) : this.toText(x)));
        return { sql: this.f(lower, ...parts), type: same ? a[0].type : numeric ? 'num' : 'str' };
      }
      case 'ispresent':
        return { sql: `(${a[0].sql} IS NOT NULL)`, type: 'bool' };
      case 'isempty':
        return { sql: `(${a[0].sql} IS NULL OR ${this.toText(a[0])} = '')`, type: 'bool' };
      case 'isblank':
        return { sql: `(${a[0].sql} IS NULL OR ${this.regexFull(this.toText(a[0]), '\\s*')})`, type: 'bool' };
      case 'concat':
        return { sql: this.concat(a.map((x) => this.toText(x))), type: 'str' };
      case 'ltrim':
      case 'rtrim':
      case 'trim':
        return { sql: this.trim(lower, this.toText(a[0]), a[1] && this.toText(a[1])), type: 'str' };
      case 'strlen':
        return { sql: this.f('length', this.toText(a[0])), type: 'int' };
      case 'toupper':
        return { sql: this.f('upper', this.toText(a[0])), type: 'str' };
      case 'tolower':
        return { sql: this.f('lower', this.toText(a[0])), type: 'str' };
      case 'substr':
        return { sql: this.substr(this.toText(a[0]), this.clampIndex(a[1]), a[2] && this.clampIndex(a[2])), type: 'str' };
      case 'replace':
        return { sql: this.f('replace', this.toText(a[0]), this.toText(a[1]), this.toText(a[2])), type: 'str' };
      case 'strcontains':
        return { sql: this.boolToInt(this.contains(this.toText(a[0]), this.toText(a[1]))), type: 'int' };
      case 'frommillis':
        return { sql: this.num(a[0]), type: 'time' };
      case 'tomillis': {
        // Epoch milliseconds are a whole number in Insights (1705277399000, not ...000.0); a
        // value no BIGINT holds is NULL rather than an error (the same SQL in both dialects).
        const ms = this.num(a[0]);
        return { sql: `(CASE WHEN abs(${ms}) < 9.2e18 THEN CAST(round(${ms}) AS BIGINT) END)`, type: 'int' };
      }
      case 'isvalidip':
      case 'isvalidipv4':
      case 'isvalidipv6': {
        const t = this.toText(a[0]);
        const v4 = `(${this.ipv4Int(t)} IS NOT NULL)`;
        const v6 = `(${this.ipv6Hex(t)} IS NOT NULL)`;
        return { sql: lower === 'isvalidipv4' ? v4 : lower === 'isvalidipv6' ? v6 : `(${v4} OR ${v6})`, type: 'bool' };
      }
    }
    return this.fail(`function \`${name}\` is not supported by this compiler`, e.nameSpan);
  }

  /** A cheap test text must pass to be worth `ipv6Hex` (a dialect whose parse is costly). */
  protected ipv6Guard(text: string): string | undefined {
    void text;
    return undefined;
  }

  private inSubnet(fn: string, e: Call, ctx: ExprContext): Sql {
    const addr = this.visit(e.args[0], ctx);
    const lit = this.stringArg(e.args[1], e.name);
    const c = cidrBounds(lit.value);
    if (!c) this.fail(`\`${lit.value}\` is not a CIDR block; expected something like "10.0.0.0/8" or "2001:db8::/32"`, lit.span);
    if (fn === 'isipv4insubnet' && c.family !== 4) this.fail(`\`${e.name}\` needs an IPv4 CIDR block, got \`${lit.value}\``, lit.span);
    if (fn === 'isipv6insubnet' && c.family !== 6) this.fail(`\`${e.name}\` needs an IPv6 CIDR block, got \`${lit.value}\``, lit.span);
    return { sql: this.cidrTest(addr, c, ctx), type: 'bool' };
  }

  /**
   * Stored address columns hold canonical text, so an IPv4 block is first a text prefix test
   * (whole octets; cheap, and storage can skip on it), then, for a partial octet, that octet
   * alone. Blocks shorter than /8 compare the whole number (the view's shadow column).
   */
  private cidrTest(addr: Sql, c: CidrBounds, ctx: ExprContext): string {
    // Text that is no address of the family is outside the block (false), a missing one unknown (NULL).
    const known = (test: string) => `(CASE WHEN ${addr.sql} IS NULL THEN NULL ELSE coalesce(${test}, FALSE) END)`;
    if (c.family === 6) {
      const text = this.toText(addr);
      const test = `${this.ipv6Hex(text)} BETWEEN ${this.ipv6HexBound(c.lo)} AND ${this.ipv6HexBound(c.hi)}`;
      const guard = this.ipv6Guard(text);
      if (!guard) return known(test);
      return `(CASE WHEN ${addr.sql} IS NULL THEN NULL WHEN NOT ${guard} THEN FALSE ELSE coalesce(${test}, FALSE) END)`;
    }
    const stored = addr.column !== undefined && fieldByName(addr.column)?.kind === 'addr';
    const prefix = Number(c.text.split('/')[1]);
    const octets = Math.floor(prefix / 8);
    const shadow = stored ? ctx.scope.lookup(`${addr.column}_v4`) : undefined;
    const range = `(${shadow?.column === `${addr.column}_v4` ? shadow.sql : this.ipv4Int(this.toText(addr))} BETWEEN ${c.lo} AND ${c.hi})`;
    if (!stored || octets === 0) return known(range);
    const network = c.text.split('/')[0].split('.');
    if (prefix === 32) return `(${addr.sql} = ${this.strLit(network.join('.'))})`;
    const text = `${this.f('starts_with', addr.sql, this.strLit(network.slice(0, octets).join('.') + '.'))}`;
    if (prefix % 8 === 0) return text;
    // A partial octet: only that octet of the text, and only where the whole octets matched.
    // CASE evaluates its branch on the matching rows alone; `AND` under a NOT (a scope's
    // "not private") is evaluated on every row, and the full number costs a parse per row.
    const first = Number(network[octets]);
    const last = first + (1 << (8 - (prefix % 8))) - 1;
    const octet = this.ipv4Octet(addr.sql, octets + 1);
    return `(CASE WHEN ${text} THEN coalesce(${octet} BETWEEN ${first} AND ${last}, FALSE) WHEN ${addr.sql} IS NULL THEN NULL ELSE FALSE END)`;
  }

  private aggregate(name: string, e: Call, ctx: ExprContext): Sql {
    const lower = name.toLowerCase();
    if (lower === 'count') {
      if (e.star || e.args.length === 0) return { sql: 'count(*)', type: 'int' };
      return { sql: this.f('count', this.visit(e.args[0], ctx).sql), type: 'int' };
    }
    const x = this.visit(e.args[0], ctx);
    const raw = x.type === 'str' ? this.tryDouble(x.sql) : x.type === 'bool' ? this.boolToInt(x.sql) : x.sql;
    switch (lower) {
      case 'count_distinct':
        return { sql: this.countDistinct(x.sql), type: 'int' };
      case 'sum':
        return { sql: this.f('sum', raw), type: x.type === 'int' ? 'int' : 'num' };
      case 'avg':
        return { sql: this.f('avg', raw), type: 'num' };
      case 'stddev':
        return { sql: this.f('stddev_samp', raw), type: 'num' };
      case 'min':
      case 'max':
      case 'sortsfirst':
      case 'sortslast':
        return { sql: this.f(lower === 'min' || lower === 'sortsfirst' ? 'min' : 'max', x.sql), type: x.type };
      case 'pct': {
        const p = e.args[1];
        if (p.kind !== 'number' || p.value < 0 || p.value > 100) this.fail('`pct` expects a percentile from 0 to 100 as its second argument, e.g. pct(bytes, 95)', p.span);
        return { sql: this.quantile(raw, p.value / 100), type: x.type === 'int' ? 'num' : x.type === 'time' ? 'time' : 'num' };
      }
      case 'earliest':
      case 'latest': {
        const ts = this.timestamp(e, ctx);
        return { sql: this.argBy(lower === 'earliest' ? 'min' : 'max', x.sql, ts.sql), type: x.type };
      }
    }
    return this.fail(`aggregation \`${name}\` is not supported by this compiler`, e.nameSpan);
  }
}
