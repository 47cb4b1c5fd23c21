import { DERIVED_COLUMNS, FIELDS, athenaDuckType, storedType, type FieldDef } from '../schema/columns.ts';
import { sqlIdent } from './sql-text.ts';

/**
 * SQL derived from the column list: the stored row shape, the staging shape the parser fills,
 * and the Athena-compatible view. Nothing here names a column by hand.
 */

/** Stored columns in order: every AWS field, then the derived ones (the `date` partition is implied). */
export const STORED_COLUMNS: readonly { column: string; duckType: string }[] = [
  ...FIELDS.map((d) => ({ column: d.column, duckType: storedType(d) })),
  ...DERIVED_COLUMNS.map((d) => ({ column: d.column, duckType: d.duckType })),
];

/** `CREATE TABLE` body for an empty table with the stored shape plus `date`. */
export function emptyFlowsDdl(name: string): string {
  const cols = STORED_COLUMNS.map((c) => `${sqlIdent(c.column)} ${c.duckType}`);
  cols.push('"date" DATE');
  return `CREATE OR REPLACE TABLE ${sqlIdent(name)} (${cols.join(', ')})`;
}

/** DuckDB SQL that formats an unsigned 32-bit integer expression as dotted-quad text. */
export function ipv4TextSql(x: string): string {
  return `concat(((${x}) >> 24)::VARCHAR, '.', (((${x}) >> 16) & 255)::VARCHAR, '.', (((${x}) >> 8) & 255)::VARCHAR, '.', ((${x}) & 255)::VARCHAR)`;
}

/**
 * The `vpc_flow_logs` view: Athena's column names and types so Athena queries run unchanged.
 * Athena's table is partitioned by `date`; here `date` is the record's UTC day.
 */
export function athenaViewSql(source: string): string {
  const cols = FIELDS.map((d: FieldDef) => {
    const t = athenaDuckType(d);
    return t === storedType(d) ? sqlIdent(d.column) : `CAST(${sqlIdent(d.column)} AS ${t}) AS ${sqlIdent(d.column)}`;
  });
  return `CREATE OR REPLACE VIEW vpc_flow_logs AS SELECT ${cols.join(', ')}, "date" FROM ${source}`;
}
