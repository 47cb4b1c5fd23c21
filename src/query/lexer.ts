import type { DurationUnit, Span } from './ast.ts';
import { QueryError } from './errors.ts';

export type TokenKind = 'ident' | 'qident' | 'string' | 'number' | 'duration' | 'regex' | 'op' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Decoded value: the name, the string contents, the regex pattern, or the operator. */
  readonly value: string;
  readonly span: Span;
  /** For numbers and durations. */
  readonly num?: number;
  readonly unit?: DurationUnit;
}

const UNITS: Record<string, DurationUnit> = {
  ms: 'ms', msec: 'ms', millisecond: 'ms', milliseconds: 'ms',
  s: 's', sec: 's', secs: 's', second: 's', seconds: 's',
  m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm',
  h: 'h', hr: 'h', hrs: 'h', hour: 'h', hours: 'h',
  d: 'd', day: 'd', days: 'd',
  w: 'w', week: 'w', weeks: 'w',
  mo: 'mo', mon: 'mo', month: 'mo', months: 'mo',
  q: 'q', qtr: 'q', quarter: 'q', quarters: 'q',
  y: 'y', yr: 'y', year: 'y', years: 'y',
};

const TWO_CHAR_OPS = new Set(['!=', '<=', '>=', '=~']);
const ONE_CHAR_OPS = new Set(['|', ',', '(', ')', '[', ']', '=', '<', '>', '+', '-', '*', '/', '^', '%']);

const isIdentStart = (c: string) => /[A-Za-z_@]/.test(c);
const isIdentPart = (c: string) => /[A-Za-z0-9_@.$]/.test(c);

/**
 * Splits a query into tokens on demand. A `/` is ambiguous (division or the start of a regex),
 * so the parser, which knows which one it wants, asks for `rescanRegex()` when it expects a value.
 * @example new Lexer('filter a = 1').next() // {kind: 'ident', value: 'filter', ...}
 */
export class Lexer {
  private pos = 0;

  constructor(readonly source: string) {}

  private fail(message: string, start: number, end = start + 1): never {
    throw new QueryError(message, this.source, { start, end });
  }

  private skipSpaceAndComments(): void {
    const s = this.source;
    while (this.pos < s.length) {
      const c = s[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else break;
    }
  }

  /** The next token, moving past it. */
  next(): Token {
    this.skipSpaceAndComments();
    const s = this.source;
    const start = this.pos;
    if (start >= s.length) return { kind: 'eof', value: '', span: { start, end: start } };
    const c = s[start];
    if (c === '"' || c === "'") return this.quoted(c, 'string');
    if (c === '`') return this.quoted(c, 'qident');
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[start + 1] ?? ''))) return this.number();
    if (isIdentStart(c)) {
      let end = start + 1;
      while (end < s.length && isIdentPart(s[end])) end++;
      // A trailing dot is punctuation, not part of a name.
      while (s[end - 1] === '.') end--;
      this.pos = end;
      return { kind: 'ident', value: s.slice(start, end), span: { start, end } };
    }
    const two = s.slice(start, start + 2);
    if (TWO_CHAR_OPS.has(two)) {
      this.pos = start + 2;
      return { kind: 'op', value: two, span: { start, end: start + 2 } };
    }
    if (c === '!' && s[start + 1] === '~') this.fail('`!~` is not an operator; use `not ... =~ /re/` or `not like /re/`', start, start + 2);
    if (c === '=' && s[start + 1] === '=') {
      this.pos = start + 2;
      return { kind: 'op', value: '=', span: { start, end: start + 2 } };
    }
    if (ONE_CHAR_OPS.has(c)) {
      this.pos = start + 1;
      return { kind: 'op', value: c, span: { start, end: start + 1 } };
    }
    return this.fail(`unexpected character \`${c}\``, start);
  }

  /** Re-reads the `/` at `start` as the opening of a regex literal `/.../`. */
  rescanRegex(start: number): Token {
    const s = this.source;
    let i = start + 1;
    let out = '';
    let inClass = false;
    while (i < s.length) {
      const c = s[i];
      if (c === '\\' && i + 1 < s.length) {
        // `\/` is an escaped slash; every other escape belongs to the regex itself.
        out += s[i + 1] === '/' ? '/' : c + s[i + 1];
        i += 2;
        continue;
      }
      if (c === '\n') break;
      if (c === '[') inClass = true;
      else if (c === ']') inClass = false;
      else if (c === '/' && !inClass) {
        this.pos = i + 1;
        return { kind: 'regex', value: out, span: { start, end: i + 1 } };
      }
      out += c;
      i++;
    }
    return this.fail('unterminated regular expression: expected a closing `/`', start, Math.min(i, s.length) || start + 1);
  }

  private quoted(q: string, kind: 'string' | 'qident'): Token {
    const s = this.source;
    const start = this.pos;
    let i = start + 1;
    let out = '';
    while (i < s.length) {
      const c = s[i];
      if (c === q) {
        // A doubled back-quote stands for one inside a back-quoted name.
        if (kind === 'qident' && s[i + 1] === q) {
          out += q;
          i += 2;
          continue;
        }
        this.pos = i + 1;
        if (kind === 'qident' && out === '') this.fail('empty back-quoted name', start, i + 1);
        return { kind, value: out, span: { start, end: i + 1 } };
      }
      if (c === '\\' && kind === 'string' && i + 1 < s.length) {
        const e = s[i + 1];
        out += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === q || e === '\\' ? e : '\\' + e;
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
    const what = kind === 'string' ? 'string' : 'back-quoted name';
    return this.fail(`unterminated ${what}: expected a closing ${q}`, start, s.length);
  }

  private number(): Token {
    const s = this.source;
    const start = this.pos;
    const m = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(s.slice(start))!;
    let end = start + m[0].length;
    const num = Number(m[0]);
    if (!Number.isFinite(num)) this.fail(`number \`${m[0].length > 24 ? m[0].slice(0, 20) + '...' : m[0]}\` is too large`, start, end);
    if (end < s.length && /[A-Za-z]/.test(s[end])) {
      let uend = end;
      while (uend < s.length && /[A-Za-z]/.test(s[uend])) uend++;
      const word = s.slice(end, uend);
      const unit = UNITS[word.toLowerCase()];
      if (!unit) this.fail(`unknown time unit \`${word}\`: expected ms, s, m, h, d, w, mo, q or y`, end, uend);
      end = uend;
      this.pos = end;
      return { kind: 'duration', value: s.slice(start, end), num, unit, span: { start, end } };
    }
    this.pos = end;
    return { kind: 'number', value: m[0], num, span: { start, end } };
  }
}

/** Describes a token for "expected X but found Y" messages. */
export function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the query';
    case 'string':
      return `the string ${JSON.stringify(t.value)}`;
    case 'regex':
      return 'a regular expression';
    default:
      return `\`${t.kind === 'qident' ? t.value : t.value}\``;
  }
}
