import type { Writable } from 'node:stream';

export type OutputFormat = 'table' | 'json' | 'csv' | 'ndjson';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'csv', 'ndjson'];

/** A result set as every command prints it. */
export interface ResultSet {
  columns: string[];
  rows: unknown[][];
}

/** Converts DuckDB values (bigint, Date, nested) into JSON-safe values. */
export function jsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(jsonValue);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = jsonValue(x);
    return o;
  }
  return v;
}

function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  const j = jsonValue(v);
  return typeof j === 'object' ? JSON.stringify(j) : String(j);
}

function csvCell(v: unknown): string {
  const s = text(v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/**
 * Renders a result set in one of the four output formats.
 * @example renderResult({columns:['a'], rows:[[1]]}, 'csv') // "a\n1\n"
 */
export function renderResult(rs: ResultSet, format: OutputFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify(rs.rows.map((r) => rowObject(rs.columns, r))) + '\n';
    case 'ndjson':
      return rs.rows.map((r) => JSON.stringify(rowObject(rs.columns, r)) + '\n').join('');
    case 'csv':
      return [rs.columns.map(csvCell).join(','), ...rs.rows.map((r) => r.map(csvCell).join(','))].join('\n') + '\n';
    case 'table':
      return renderTable(rs);
  }
}

export function rowObject(columns: string[], row: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  uniqueKeys(columns).forEach((c, i) => (o[c] = jsonValue(row[i])));
  return o;
}

/**
 * Column names as distinct object keys: a repeated name gets `_1`, `_2`, ... (as DuckDB names
 * the columns of a table made from such a query), so JSON loses no column.
 * @example uniqueKeys(['a', 'a', 'b']) // ['a', 'a_1', 'b']
 */
export function uniqueKeys(columns: readonly string[]): string[] {
  const taken = new Set<string>();
  return columns.map((c) => {
    let k = c;
    for (let n = 1; taken.has(k); n++) k = `${c}_${n}`;
    taken.add(k);
    return k;
  });
}

function renderTable(rs: ResultSet): string {
  const cells = rs.rows.map((r) => r.map((v) => (v === null || v === undefined ? '-' : text(v))));
  const widths = rs.columns.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((r) => r[i].length))));
  const numeric = rs.columns.map((_, i) => rs.rows.length > 0 && rs.rows.every((r) => r[i] === null || typeof r[i] === 'number' || typeof r[i] === 'bigint'));
  const fit = (s: string, i: number) => {
    const w = widths[i];
    const t = s.length > w ? s.slice(0, w - 1) + '…' : s;
    return numeric[i] ? t.padStart(w) : t.padEnd(w);
  };
  const lines = [
    rs.columns.map((c, i) => fit(c, i)).join('  '),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map((r) => r.map((s, i) => fit(s, i)).join('  ')),
  ];
  lines.push(`(${rs.rows.length} row${rs.rows.length === 1 ? '' : 's'})`);
  return lines.map((l) => l.trimEnd()).join('\n') + '\n';
}

/** Writes and waits for the stream to accept it (so large outputs are not buffered in memory). */
export async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}
