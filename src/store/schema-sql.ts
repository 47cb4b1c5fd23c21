import { DERIVED_COLUMNS, ENRICH_COLUMNS, FIELDS, athenaDuckType, storedType, type FieldDef } from '../schema/columns.ts';
import { sqlIdent } from './sql-text.ts';

/**
 * SQL derived from the column list: the stored row shape, the staging shape the parser fills,
 * and the Athena-compatible view. Nothing here names a column by hand.
 */

/** Stored columns in order: every AWS field, the derived ones, then enrichment (the `date` partition is implied). */
export const STORED_COLUMNS: readonly { column: string; duckType: string }[] = [
  ...FIELDS.map((d) => ({ column: d.column, duckType: storedType(d) })),
  ...DERIVED_COLUMNS.map((d) => ({ column: d.column, duckType: d.duckType })),
  ...ENRICH_COLUMNS.map((d) => ({ column: d.column, duckType: d.duckType })),
];

/** `CREATE TABLE` body for an empty table with the stored shape plus `date`. */
export function emptyFlowsDdl(name: string): string {
  const cols = STORED_COLUMNS.map((c) => `${sqlIdent(c.column)} ${c.duckType}`);
  cols.push('"date" DATE');
  return `CREATE OR REPLACE TABLE ${sqlIdent(name)} (${cols.join(', ')})`;
}

/**
 * DuckDB SQL: dotted-quad text in `a` as an unsigned 32-bit integer, NULL when not IPv4. Stored
 * addresses are valid already (the parser checked them), so a shape test is enough.
 */
export function ipv4NumberSql(a: string): string {
  const part = (i: number) => `TRY_CAST(split_part(${a}, '.', ${i}) AS UTINYINT)::UINTEGER`;
  return `CASE WHEN NOT contains(${a}, ':') THEN ${part(1)} * 16777216 + ${part(2)} * 65536 + ${part(3)} * 256 + ${part(4)} END`;
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

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';

/**
 * DuckDB SQL: true when `a` is NULL, strict dotted-quad IPv4, or IPv6 already in the canonical
 * form the parser writes (lower case, no leading zeros, `::` for zero runs), so stored text is
 * the same whichever path ingested it.
 */
export function addressValidSql(a: string): string {
  return (
    `(${a} IS NULL OR regexp_full_match(${a}, '${OCTET}(\\.${OCTET}){3}') OR ` +
    `(regexp_full_match(${a}, '[0-9a-f:]*:[0-9a-f:]*') AND length(${a}) <= 39 AND NOT regexp_matches(${a}, '(^|:)0[0-9a-f]|(^|:)0:0(:|$)|:::|::.*::|[0-9a-f]{5}')))`
  );
}
