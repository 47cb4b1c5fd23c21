import { DEFAULT_FIELDS, DERIVED_COLUMNS, ENRICH_COLUMNS, FIELDS, VIEW_COLUMNS, enrichColumnByName, fieldByName, storedType } from '../schema/columns.ts';
import type { Entry, Sql, SqlType } from './scope.ts';

/** A column of the `flows` view: its name and its DuckDB type (as `DESCRIBE flows` prints it). */
export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
}

/** The `flows` view's columns when the caller does not say: every field, the derived and view columns, `date`. */
export const DEFAULT_COLUMNS: readonly ColumnInfo[] = Object.freeze([
  ...FIELDS.map((d) => ({ name: d.column, type: storedType(d) })),
  ...[...DERIVED_COLUMNS, ...ENRICH_COLUMNS, ...VIEW_COLUMNS].map((d) => ({ name: d.column, type: d.duckType })),
  { name: 'date', type: 'DATE' },
]);

/**
 * Accepts column names alone (types then come from the column list) or names with types.
 * @example normalizeColumns(['srcaddr', {name: 'src_owner', type: 'VARCHAR'}])
 */
export function normalizeColumns(columns?: readonly (string | ColumnInfo)[]): ColumnInfo[] {
  if (!columns) return [...DEFAULT_COLUMNS];
  return columns.map((c) => {
    if (typeof c !== 'string') return c;
    const known = DEFAULT_COLUMNS.find((d) => d.name === c);
    return known ?? { name: c, type: 'VARCHAR' };
  });
}

/** How the query language sees a DuckDB type; anything it cannot treat as a number is text. */
export function sqlTypeOf(duckType: string): SqlType | 'other' {
  const t = duckType.toUpperCase();
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*|UINT\d*)$/.test(t)) return 'int';
  if (/^(DOUBLE|FLOAT|REAL|DECIMAL.*|FLOAT\d*)$/.test(t)) return 'num';
  if (t === 'VARCHAR' || t === 'STRING' || t === 'TEXT') return 'str';
  if (t === 'BOOLEAN' || t === 'BOOL') return 'bool';
  return 'other';
}

/** What a dialect provides to build the stored-row fields. */
export interface FieldDialect {
  ident(name: string): string;
  toText(s: Sql): string;
  strLit(s: string): string;
  /** Joins text expressions with single spaces (NULL parts already replaced). */
  joinWithSpaces(parts: string[]): string;
  coalesceText(sql: string, fallback: string): string;
  /** Seconds → milliseconds, in floating point so no stored value can overflow. */
  secondsToMillis(sql: string): string;
}

/**
 * Every name a query can use for a stored column, keyed by lower-case name: the Athena column
 * (`log_status`), the AWS field (`log-status`), the Insights name (`logStatus`), and the
 * Insights specials @timestamp, @message and @logStream.
 * @example baseFields(DEFAULT_COLUMNS, duck).get('srcaddr')?.sql // '"srcaddr"'
 */
export function baseFields(columns: readonly ColumnInfo[], d: FieldDialect): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const add = (name: string, sql: Sql) => {
    const key = name.toLowerCase();
    if (!out.has(key)) out.set(key, { name, ...sql });
  };
  const byName = new Map<string, Sql>();
  for (const c of columns) {
    const t = sqlTypeOf(c.type);
    const ident = d.ident(c.name);
    const sql: Sql = t === 'other' ? { sql: d.toText({ sql: ident, type: 'str' }), type: 'str' } : { sql: ident, type: t, column: c.name };
    byName.set(c.name.toLowerCase(), sql);
    // The Insights spelling first: it is the name suggestions show.
    const def = fieldByName(c.name);
    const insights = def?.insightsName ?? enrichColumnByName(c.name)?.insightsName;
    if (insights) add(insights, sql);
    add(c.name, sql);
    if (def) add(def.field, sql);
  }
  const start = byName.get('start');
  if (start) add('@timestamp', { sql: d.secondsToMillis(start.sql), type: 'time' });
  const eni = byName.get('interface_id');
  if (eni) add('@logStream', eni);
  // @message is the default-format line, rebuilt from the columns ("-" where a value is absent).
  const parts = DEFAULT_FIELDS.map((f) => {
    const col = byName.get(fieldByName(f)!.column);
    return col ? d.coalesceText(d.toText(col), d.strLit('-')) : d.strLit('-');
  });
  if (byName.size) add('@message', { sql: d.joinWithSpaces(parts), type: 'str' });
  return out;
}
