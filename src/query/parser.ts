import {
  COMMAND_NAMES,
  type BinaryOp,
  deepFreeze,
  type Command,
  type Expr,
  type FieldRef,
  type Item,
  type ListLit,
  type Query,
  type RegexLit,
  type SortKey,
  type Span,
  type StringLit,
} from './ast.ts';
import { QueryError, suggestion } from './errors.ts';
import { Lexer, describe, type Token } from './lexer.ts';

/** The largest `limit` (SQL engines take a 64-bit count; nobody reads more rows than this). */
const MAX_LIMIT = 2_147_483_647;

const COMPARE_OPS = new Set(['=', '!=', '<', '<=', '>', '>=']);

/**
 * Parses a Logs Insights query into a frozen AST; throws QueryError with the position of the
 * first problem.
 * @example parseQuery('filter action="REJECT" | stats count(*) by srcAddr').commands.length // 2
 */
export function parseQuery(source: string): Query {
  return deepFreeze(new Parser(source).query());
}

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  /** End offset of the last token consumed, for node spans. */
  private lastEnd = 0;

  constructor(private readonly source: string) {
    this.lexer = new Lexer(source);
    this.tok = this.lexer.next();
  }

  private fail(message: string, span: Span = this.tok.span): never {
    const s = span.end > span.start ? span : { start: span.start, end: span.start + 1 };
    throw new QueryError(message, this.source, s);
  }

  private take(): Token {
    const t = this.tok;
    this.lastEnd = t.span.end;
    this.tok = this.lexer.next();
    return t;
  }

  /** One or more of something, separated by commas. */
  private commaList<T>(one: () => T): T[] {
    const out = [one()];
    while (this.isOp(',')) {
      this.take();
      out.push(one());
    }
    return out;
  }

  private atEnd(): boolean {
    return this.tok.kind === 'eof';
  }

  private isOp(value: string): boolean {
    return this.tok.kind === 'op' && this.tok.value === value;
  }

  private isWord(word: string): boolean {
    return this.tok.kind === 'ident' && this.tok.value.toLowerCase() === word;
  }

  private expectOp(value: string, context: string): Token {
    if (!this.isOp(value)) this.fail(`expected \`${value}\` ${context} but found ${describe(this.tok)}`);
    return this.take();
  }

  query(): Query {
    const commands: Command[] = [];
    if (this.tok.kind === 'eof') this.fail('empty query: expected a command (fields, filter, stats, sort, limit, parse, dedup, display)');
    for (;;) {
      commands.push(this.command());
      if (this.atEnd()) break;
      if (!this.isOp('|')) this.fail(`expected \`|\` or the end of the query but found ${describe(this.tok)}`);
      this.take();
    }
    return { kind: 'query', commands, source: this.source };
  }

  private command(): Command {
    const t = this.tok;
    if (t.kind !== 'ident') this.fail(`expected a command (${COMMAND_NAMES.join(', ')}) but found ${describe(t)}`);
    const name = t.value.toLowerCase();
    if (!(COMMAND_NAMES as readonly string[]).includes(name)) {
      this.fail(`unknown command \`${t.value}\`${suggestion(t.value, COMMAND_NAMES) || `; expected one of ${COMMAND_NAMES.join(', ')}`}`);
    }
    this.take();
    const start = t.span.start;
    const span = () => ({ start, end: this.lastEnd });
    switch (name) {
      case 'fields':
      case 'display':
        return { kind: name, items: this.items(name), span: span() };
      case 'filter':
        return { kind: 'filter', expr: this.expr(), span: span() };
      case 'stats': {
        const aggs = this.items('stats');
        const by: Item[] = [];
        if (this.isWord('by')) {
          this.take();
          by.push(...this.items('stats ... by'));
        }
        return { kind: 'stats', aggs, by, span: span() };
      }
      case 'sort': {
        const keys = this.commaList<SortKey>(() => {
          const expr = this.expr();
          const desc = this.isWord('desc') || this.isWord('asc') ? this.take().value.toLowerCase() === 'desc' : false;
          return { expr, desc };
        });
        return { kind: 'sort', keys, span: span() };
      }
      case 'limit': {
        const n = this.tok;
        if (n.kind !== 'number' || !Number.isInteger(n.num) || n.num! < 1) this.fail(`expected a whole number of rows after \`limit\` but found ${describe(n)}`);
        if (n.num! > MAX_LIMIT) this.fail(`\`limit\` takes at most ${MAX_LIMIT.toLocaleString('en-US')} rows, not ${describe(n)}`);
        this.take();
        return { kind: 'limit', count: n.num!, span: span() };
      }
      case 'parse':
        return this.parseCmd(start);
      case 'dedup': {
        const fields = this.commaList(() => this.fieldName('dedup'));
        return { kind: 'dedup', fields, span: span() };
      }
    }
    return this.fail(`unknown command \`${t.value}\``, t.span);
  }

  private parseCmd(start: number): Command {
    let source: Expr = { kind: 'field', name: '@message', span: { start, end: start + 5 } };
    if (this.tok.kind !== 'string' && !this.isOp('/')) source = this.primary();
    let pattern: StringLit | RegexLit;
    if (this.tok.kind === 'string') {
      const t = this.take();
      pattern = { kind: 'string', value: t.value, span: t.span };
    } else if (this.isOp('/')) {
      const t = this.regexToken();
      pattern = { kind: 'regex', pattern: t.value, span: t.span };
    } else {
      return this.fail(`expected a glob pattern in quotes or a /regular expression/ after \`parse\` but found ${describe(this.tok)}`);
    }
    let names: string[] = [];
    if (this.isWord('as')) {
      this.take();
      names = this.commaList(() => this.name('parse ... as'));
    }
    if (pattern.kind === 'string' && names.length === 0) this.fail('expected `as` and a name for each `*` of the glob pattern');
    return { kind: 'parse', source, pattern, names, span: { start, end: this.lastEnd } };
  }

  private regexToken(): Token {
    const t = this.lexer.rescanRegex(this.tok.span.start);
    this.lastEnd = t.span.end;
    this.tok = this.lexer.next();
    return t;
  }

  private name(context: string): string {
    const t = this.tok;
    if (t.kind !== 'ident' && t.kind !== 'qident') this.fail(`expected a name after \`${context}\` but found ${describe(t)}`);
    this.take();
    return t.value;
  }

  private fieldName(context: string): FieldRef {
    const t = this.tok;
    if (t.kind !== 'ident' && t.kind !== 'qident') this.fail(`expected a field name after \`${context}\` but found ${describe(t)}`);
    this.take();
    return { kind: 'field', name: t.value, span: t.span };
  }

  private items(context: string): Item[] {
    return this.commaList(() => {
      const start = this.tok.span.start;
      const expr = this.expr();
      const text = this.source.slice(start, this.lastEnd).replace(/\s+/g, ' ');
      let alias: string | undefined;
      if (this.isWord('as')) {
        this.take();
        alias = this.name(`${context} ... as`);
      }
      return { expr, alias, text, span: { start, end: this.lastEnd } };
    });
  }

  expr(): Expr {
    return this.or();
  }

  private binary(op: BinaryOp, left: Expr, right: Expr): Expr {
    return { kind: 'binary', op, left, right, span: { start: left.span.start, end: right.span.end } };
  }

  private or(): Expr {
    let left = this.and();
    while (this.isWord('or')) {
      this.take();
      left = this.binary('or', left, this.and());
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.isWord('and')) {
      this.take();
      left = this.binary('and', left, this.not());
    }
    return left;
  }

  private not(): Expr {
    if (this.isWord('not')) {
      const t = this.take();
      const operand = this.not();
      return { kind: 'unary', op: 'not', operand, span: { start: t.span.start, end: operand.span.end } };
    }
    return this.comparison();
  }

  private comparison(): Expr {
    const left = this.additive();
    const t = this.tok;
    if (t.kind === 'op' && COMPARE_OPS.has(t.value)) {
      this.take();
      return this.binary(t.value as '=', left, this.additive());
    }
    let negated = false;
    if (this.isWord('not')) {
      this.take();
      negated = true;
      if (!this.isWord('in') && !this.isWord('like')) this.fail(`expected \`in\` or \`like\` after \`not\` but found ${describe(this.tok)}`);
    }
    if (this.isWord('in')) {
      this.take();
      const list = this.list();
      return { kind: 'in', negated, value: left, list, span: { start: left.span.start, end: list.span.end } };
    }
    if (this.isWord('like') || this.isOp('=~')) {
      const op = this.take().value.toLowerCase() === 'like' ? 'like' : '=~';
      const pattern = this.pattern(op);
      return { kind: 'match', negated, op, value: left, pattern, span: { start: left.span.start, end: pattern.span.end } };
    }
    return left;
  }

  private pattern(op: string): StringLit | RegexLit {
    if (this.tok.kind === 'string') {
      const t = this.take();
      return { kind: 'string', value: t.value, span: t.span };
    }
    if (this.isOp('/')) {
      const t = this.regexToken();
      return { kind: 'regex', pattern: t.value, span: t.span };
    }
    return this.fail(`expected a string or a /regular expression/ after \`${op}\` but found ${describe(this.tok)}`);
  }

  private list(): ListLit {
    const open = this.tok;
    if (!this.isOp('[')) this.fail(`expected \`[\` to start the list after \`in\` but found ${describe(open)}`);
    this.take();
    const items = this.isOp(']') ? [] : this.commaList(() => this.expr());
    const close = this.expectOp(']', 'to close the list');
    return { kind: 'list', items, span: { start: open.span.start, end: close.span.end } };
  }

  private additive(): Expr {
    let left = this.multiplicative();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.take().value as '+';
      left = this.binary(op, left, this.multiplicative());
    }
    return left;
  }

  private multiplicative(): Expr {
    let left = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = this.take().value as '*';
      left = this.binary(op, left, this.unary());
    }
    return left;
  }

  /** `-2 ^ 2` is -(2 ^ 2), as in mathematics; `2 ^ -1` is allowed. */
  private unary(): Expr {
    if (this.isOp('-')) {
      const t = this.take();
      const operand = this.unary();
      return { kind: 'unary', op: '-', operand, span: { start: t.span.start, end: operand.span.end } };
    }
    return this.power();
  }

  private power(): Expr {
    const base = this.primary();
    if (this.isOp('^')) {
      this.take();
      return this.binary('^', base, this.unary());
    }
    return base;
  }

  private primary(): Expr {
    const t = this.tok;
    switch (t.kind) {
      case 'number':
        this.take();
        return { kind: 'number', value: t.num!, span: t.span };
      case 'duration':
        this.take();
        return { kind: 'duration', amount: t.num!, unit: t.unit!, span: t.span };
      case 'string':
        this.take();
        return { kind: 'string', value: t.value, span: t.span };
      case 'qident':
        this.take();
        return { kind: 'field', name: t.value, span: t.span };
      case 'ident': {
        this.take();
        if (this.isOp('(')) return this.call(t);
        return { kind: 'field', name: t.value, span: t.span };
      }
      case 'op':
        if (t.value === '(') {
          this.take();
          const e = this.expr();
          this.expectOp(')', 'to close the parenthesis');
          return e;
        }
        if (t.value === '[') return this.list();
        if (t.value === '/') {
          const r = this.regexToken();
          return { kind: 'regex', pattern: r.value, span: r.span };
        }
        break;
      default:
        break;
    }
    return this.fail(`expected a field, a value or a function call but found ${describe(t)}`);
  }

  private call(nameTok: Token): Expr {
    this.take();
    let args: Expr[] = [];
    let star = false;
    if (this.isOp('*')) {
      this.take();
      star = true;
    } else if (!this.isOp(')')) args = this.commaList(() => this.expr());
    const close = this.expectOp(')', `to close the call to \`${nameTok.value}\``);
    return { kind: 'call', name: nameTok.value, nameSpan: nameTok.span, star, args, span: { start: nameTok.span.start, end: close.span.end } };
  }
}
