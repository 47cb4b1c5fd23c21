/**
 * A mistake in what the user gave us (a flag, a file, a query). Printed as one line and the
 * command exits with code 2; the stack is shown only with --debug.
 * @example throw new UserError('unknown scenario "sshbrute"; try --list-scenarios')
 */
export class UserError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

/**
 * The first line of any thrown value's message (DuckDB's errors go on with "LINE 1: ..." and
 * the query): callers strip the error kind ("Binder Error: ") as their message needs.
 * @example firstLine(new Error('Binder Error: x\nLINE 1: SELECT x')) // 'Binder Error: x'
 */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/** Formats any thrown value as one line. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ');
}

/** 1-based line and column of a character offset in text. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/**
 * A JSON.parse failure as a UserError naming the line and column: V8 says "at position N"
 * (or nothing, at an unexpected end: then the end of the text).
 * @example throw jsonError('a.json', text, err) // a.json:3:14: not JSON (Unexpected token } ...)
 */
export function jsonError(file: string, text: string, err: unknown): UserError {
  const msg = err instanceof Error ? err.message : String(err);
  const pos = /at position (\d+)/.exec(msg);
  const { line, col } = lineCol(text, pos ? Number(pos[1]) : text.replace(/\s+$/, '').length);
  return new UserError(`${file}:${line}:${col}: not JSON (${oneLine(msg).replace(/ in JSON at position \d+.*$/, '')})`, { cause: err });
}
