/** Escaping for the few places where a value must be SQL text (DDL, file paths in COPY). */

/**
 * Quotes a string literal for DuckDB/ClickHouse SQL.
 * @example sqlString("it's") // "'it''s'"
 */
export function sqlString(s: string): string {
  if (s.includes('\0')) throw new Error('NUL byte in SQL string');
  return "'" + s.replace(/'/g, "''") + "'";
}

/** Quotes an identifier. @example sqlIdent('end') // '"end"' */
export function sqlIdent(s: string): string {
  return '"' + s.replace(/"/g, '""') + '"';
}
