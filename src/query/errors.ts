import { UserError } from '../util/errors.ts';
import type { Span } from './ast.ts';

/**
 * A mistake in a Logs Insights query, pinned to where it is in the text. The message says what
 * was expected; `render()` adds the offending line with a caret under the problem.
 * @example throw new QueryError('unknown function `sumn`, did you mean `sum`?', src, {start: 6, end: 10})
 */
export class QueryError extends UserError {
  /** 1-based line and column of the problem. */
  readonly line: number;
  readonly column: number;
  readonly span: Span;
  /** The short message, without the position prefix. */
  readonly detail: string;

  constructor(detail: string, readonly source: string, span: Span, options?: { cause?: unknown }) {
    const { line, column } = position(source, span.start);
    super(`query error at line ${line}, column ${column}: ${detail}`, options);
    this.name = 'QueryError';
    this.detail = detail;
    this.span = span;
    this.line = line;
    this.column = column;
  }

  /**
   * The message, the query line and a caret under the problem.
   * @example err.render() // "query error at line 1, column 7: ...\n  stats sumn(bytes)\n        ^^^^"
   */
  render(): string {
    const lines = this.source.split('\n');
    const text = (lines[this.line - 1] ?? '').replace(/\t/g, ' ');
    const width = Math.max(1, Math.min(this.span.end - this.span.start, text.length - this.column + 1));
    const caret = ' '.repeat(this.column - 1) + '^'.repeat(width);
    return `${this.message}\n  ${text}\n  ${caret}`;
  }

  /** The one-line JSON form (`--format json`, the HTTP API). */
  toJSON(): { error: string; line: number; column: number } {
    return { error: this.detail, line: this.line, column: this.column };
  }
}

/** 1-based line and column of a character offset. */
export function position(source: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, source.length);
  for (let i = 0; i < end; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * The candidate closest to `name` by edit distance, when it is close enough to be a typo.
 * @example didYouMean('sumn', ['sum', 'min']) // 'sum'
 */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDist = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** `, did you mean `x`?` or nothing. */
export function suggestion(name: string, candidates: Iterable<string>): string {
  const s = didYouMean(name, candidates);
  return s ? `, did you mean \`${s}\`?` : '';
}
