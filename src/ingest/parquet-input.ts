import { fieldByName, type FieldDef } from '../schema/columns.ts';
import type { LakeWriter } from '../store/lake-writer.ts';
import { recordDaySql } from '../store/place.ts';
import { STORED_COLUMNS, addressValidSql } from '../store/schema-sql.ts';
import { sqlIdent, sqlString } from '../store/sql-text.ts';
import type { QuarantineEntry } from './ledger.ts';
import type { Counts } from './source-ingestor.ts';
import { firstLine } from '../util/errors.ts';

/**
 * Ingests an AWS Parquet flow log file (columns named like Athena's, `account_id`, or like the
 * fields, `account-id`) with DuckDB reading it directly. Values that do not fit their field go
 * to quarantine with their row number; the rest of the file still lands.
 * @example await ingestParquet(writer, 'x.parquet', 'fp', 'fp-0')
 */
export async function ingestParquet(
  writer: LakeWriter,
  path: string,
  sourceId: string,
  chunkId: string,
): Promise<{ counts: Counts; quarantine: Omit<QuarantineEntry, 'source'>[] }> {
  const conn = writer.connection;
  const src = `read_parquet(${sqlString(path)}, file_row_number = true)`;
  const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`).catch((err: unknown) => {
    throw new ParquetInputError(err);
  });
  const names = described.getRows().map((r) => String(r[0]));
  const known = new Map<string, { def: FieldDef; name: string }>();
  const unknown: string[] = [];
  for (const name of names) {
    if (name === 'file_row_number') continue;
    const def = fieldByName(name.toLowerCase().replace(/_/g, '-')) ?? fieldByName(name.toLowerCase());
    if (def && !known.has(def.column)) known.set(def.column, { def, name });
    else unknown.push(name);
  }
  if (!known.size) throw new ParquetInputError(new Error(`no flow log columns (found ${names.slice(0, 5).join(', ')})`));
  const exprs = new Map<string, string>();
  const checks: string[] = [];
  for (const [column, { def, name }] of known) {
    const raw = `NULLIF(${sqlIdent(name)}::VARCHAR, '-')`;
    switch (def.kind) {
      case 'int':
      case 'bigint': {
        const t = def.kind === 'int' ? 'INTEGER' : 'BIGINT';
        exprs.set(column, `TRY_CAST(${raw} AS ${t})`);
        checks.push(`CASE WHEN ${raw} IS NOT NULL AND (TRY_CAST(${raw} AS ${t}) IS NULL OR TRY_CAST(${raw} AS ${t}) < 0) THEN ${sqlString(`${def.field}: expected a non-negative number`)} END`);
        break;
      }
      case 'addr':
        exprs.set(column, raw);
        checks.push(`CASE WHEN NOT ${addressValidSql(raw)} THEN ${sqlString(`${def.field}: expected an IPv4 or IPv6 address`)} END`);
        break;
      case 'action':
        exprs.set(column, raw);
        checks.push(`CASE WHEN ${raw} NOT IN ('ACCEPT', 'REJECT') THEN ${sqlString('action: expected ACCEPT, REJECT or "-"')} END`);
        break;
      case 'status':
        exprs.set(column, raw);
        checks.push(`CASE WHEN ${raw} NOT IN ('OK', 'NODATA', 'SKIPDATA') THEN ${sqlString('log-status: expected OK, NODATA, SKIPDATA or "-"')} END`);
        break;
      default:
        exprs.set(column, raw);
    }
  }
  if (unknown.length) {
    exprs.set('extra', `json_object(${unknown.map((u) => `${sqlString(u)}, ${sqlIdent(u)}::VARCHAR`).join(', ')})::VARCHAR`);
  }
  exprs.set('source_id', '$source');
  const problem = `coalesce(${checks.length ? checks.join(', ') : 'NULL'}, NULL)`;
  const present = STORED_COLUMNS.filter((c) => exprs.has(c.column));
  const day = recordDaySql(exprs.get('start'), exprs.get('end'));
  const select = `SELECT ${present.map((c) => `${exprs.get(c.column)}::${c.duckType} AS ${sqlIdent(c.column)}`).join(', ')}, ${day} AS "date" FROM ${src} WHERE ${problem} IS NULL`;
  // The COPY reads the whole input: a damaged page shows here. DuckDB names the file it could
  // not read; any other failure (the store's disk, memory) is not the input's and is rethrown.
  await writer.place(chunkId, select, sourceId, present.map((c) => c.column)).catch((err: unknown) => {
    throw /^(IO|Invalid Input|Invalid|Conversion) Error/.test(String((err as Error)?.message)) && String((err as Error)?.message).includes(path) ? new ParquetInputError(err) : err;
  });
  const bad = await conn.runAndReadAll(`SELECT file_row_number + 1 AS line, ${problem} AS reason FROM ${src} WHERE ${problem} IS NOT NULL LIMIT 100000`);
  const quarantine = bad.getRows().map((r) => ({ line: Number(r[0]), reason: String(r[1]) }));
  const statusCol = known.get('log_status')?.name;
  const countSql = statusCol
    ? `SELECT count(*), count(*) FILTER (WHERE ${sqlIdent(statusCol)} = 'OK'), count(*) FILTER (WHERE ${sqlIdent(statusCol)} = 'NODATA'), count(*) FILTER (WHERE ${sqlIdent(statusCol)} = 'SKIPDATA') FROM ${src} WHERE ${problem} IS NULL`
    : `SELECT count(*), count(*), 0, 0 FROM ${src} WHERE ${problem} IS NULL`;
  const [row] = (await conn.runAndReadAll(countSql)).getRows();
  return {
    counts: { records: Number(row[0]), ok: Number(row[1]), nodata: Number(row[2]), skipdata: Number(row[3]), quarantined: quarantine.length },
    quarantine,
  };
}

/** A Parquet input DuckDB cannot read (damaged, truncated, not flow logs): quarantined whole. */
export class ParquetInputError extends Error {
  constructor(cause: unknown) {
    // DuckDB's first line, without its query context ("LINE 1: ..." and the SQL).
    super(firstLine(cause).replace(/^[A-Za-z ]+ Error: /, '').slice(0, 300), { cause });
    this.name = 'ParquetInputError';
  }
}
