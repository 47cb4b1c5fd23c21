import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { fieldByName, type FieldDef } from '../schema/columns.ts';
import { parseHeaderLine } from '../schema/format.ts';
import type { LakeWriter } from '../store/lake-writer.ts';
import { STORED_COLUMNS, addressValidSql } from '../store/schema-sql.ts';
import { sqlIdent, sqlString } from '../store/sql-text.ts';
import type { Counts } from './source-ingestor.ts';

/**
 * The fast path for clean text files: DuckDB's own CSV reader, told the exact type of every
 * field, reads the file into an in-memory table; one COPY then writes it, enriched, as the
 * chunk's Parquet file. Types do the checking the JS parser does (USMALLINT ports, UBIGINT
 * counters, ENUM action and status), `store_rejects` records any refused line, and addresses
 * are checked on their distinct values.
 *
 * It is all or nothing: if DuckDB refused anything but a repeated header, or an address is not
 * in canonical form, the result is discarded and the caller parses the file with the JS parser,
 * so what lands and what is quarantined (with line and column) is the same on both paths.
 */

/** read_csv type per field: narrow unsigned types turn range checks into cast errors. */
function csvType(d: FieldDef): string {
  switch (d.kind) {
    case 'int':
      return d.field === 'srcport' || d.field === 'dstport' ? 'USMALLINT' : d.field === 'protocol' || d.field === 'tcp-flags' ? 'UTINYINT' : 'UINTEGER';
    case 'bigint':
      return 'UBIGINT';
    case 'action':
      return "ENUM('ACCEPT', 'REJECT')";
    case 'status':
      return "ENUM('OK', 'NODATA', 'SKIPDATA')";
    default:
      return 'VARCHAR';
  }
}

/** The first line of a (possibly gzipped) file, or undefined when it cannot be read. */
async function firstLine(path: string, gzip: boolean): Promise<string | undefined> {
  const input = createReadStream(path, { start: 0, end: 1 << 16 });
  const stream = gzip ? input.pipe(createGunzip()) : input;
  let text = '';
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      text += chunk.toString('latin1');
      const nl = text.indexOf('\n');
      if (nl >= 0) return text.slice(0, nl).replace(/\r$/, '');
      if (text.length > 1 << 16) return undefined;
    }
  } catch {
    return undefined;
  } finally {
    input.destroy();
  }
  return text || undefined;
}

let runs = 0;

/**
 * Files up to this size (compressed bytes for gzip) are read into an in-memory table once and
 * written from there in one enriched COPY; bigger ones stream through an uncompressed scratch
 * Parquet file instead, so memory stays bounded whatever the object size (AWS caps objects at
 * 75 MB; a 32 MB .log.gz holds about 1.2 M records, ~150 MB as a DuckDB table).
 */
export const STAGE_LIMIT_BYTES = 32 << 20;

/**
 * Tries the fast path. Returns the counts when the file landed, or undefined when the caller
 * must use the JS parser (nothing was placed in the store then).
 * @example await tryFastText(writer, 'x.log.gz', true, DEFAULT_FIELDS, 'fp', 'fp-0')
 */
export async function tryFastText(
  writer: LakeWriter,
  path: string,
  gzip: boolean,
  defaultFields: readonly string[],
  sourceId: string,
  chunkId: string,
  size = 0,
): Promise<(Counts & { file: string; minStart?: number; maxStart?: number }) | undefined> {
  const head = await firstLine(path, gzip);
  if (head === undefined) return undefined;
  const header = parseHeaderLine(head);
  const fields = header ?? defaultFields;
  const defs = fields.map((f) => fieldByName(f));
  // Unknown fields and odd separators are the JS parser's business.
  if (defs.some((d) => !d) || (header && head !== header.join(' '))) return undefined;
  const conn = writer.connection;
  const run = ++runs;
  const rejects = `rejects_${run}`;
  const table = `fast_rows_${run}`;
  const columns = defs.map((d) => `${sqlString(d!.column)}: ${sqlString(csvType(d!))}`).join(', ');
  const src =
    `read_csv(${sqlString(path)}, delim = ' ', quote = '', escape = '', header = ${header ? 'true' : 'false'}, nullstr = '-', ` +
    `auto_detect = false, strict_mode = true, null_padding = false, compression = ${gzip ? "'gzip'" : "'none'"}, ` +
    `columns = {${columns}}, store_rejects = true, rejects_table = ${sqlString(rejects)}, rejects_scan = ${sqlString(rejects + '_scan')})`;
  const present = new Map(defs.map((d) => [d!.column, d!]));
  const stored = STORED_COLUMNS.filter((c) => present.has(c.column) || c.column === 'source_id');
  const select = stored.map((c) => (c.column === 'source_id' ? `${sqlString(sourceId)} AS source_id` : `${sqlIdent(c.column)}::${c.duckType} AS ${sqlIdent(c.column)}`)).join(', ');
  const staged = size <= STAGE_LIMIT_BYTES;
  const scratch = `${chunkId}-fast`;
  let placed: string[] = [];
  try {
    let rel: string;
    if (staged) {
      await conn.run(`CREATE OR REPLACE TEMP TABLE ${table} AS SELECT ${select} FROM ${src}`);
      rel = table;
    } else {
      // Enrichment rewrites the file below, so this first copy skips compression; without
      // enrichment it is the final file.
      const compression = writer.enricher ? 'uncompressed' : undefined;
      placed = await writer.place(scratch, 0, (target) => writer.copy(`SELECT ${select} FROM ${src}`, target, sourceId), compression);
      rel = `read_parquet(${sqlString(`${writer.root}/${placed[0]}`)})`;
    }
    const bad = await conn.runAndReadAll(`SELECT count(*) FROM ${sqlIdent(rejects)} WHERE csv_line <> ${sqlString(head)}`);
    if (Number(bad.getRows()[0][0]) > 0) return undefined;
    // Addresses must be in the canonical form the JS parser writes, so stored text is the same
    // whichever path ingested it: checked on the distinct values (a few thousand), not per row.
    const addrs = [...present.values()].filter((d) => d.kind === 'addr').map((d) => sqlIdent(d.column));
    if (addrs.length) {
      const distinct = addrs.map((a) => `SELECT DISTINCT ${a} AS a FROM ${rel}`).join(' UNION ');
      const odd = await conn.runAndReadAll(`SELECT count(*) FROM (${distinct}) WHERE NOT ${addressValidSql('a')}`);
      if (Number(odd.getRows()[0][0]) > 0) return undefined;
    }
    const status = present.has('log_status') ? sqlIdent('log_status') : undefined;
    const startCol = present.has('start') ? '"start"' : present.has('end') ? '"end"' : 'NULL::BIGINT';
    const stats = await conn.runAndReadAll(
      `SELECT count(*), ` +
        (status ? `count(*) FILTER (WHERE ${status} = 'OK'), count(*) FILTER (WHERE ${status} = 'NODATA'), count(*) FILTER (WHERE ${status} = 'SKIPDATA'), ` : 'count(*), 0, 0, ') +
        `min(${startCol}), max(${startCol}) FROM ${rel}`,
    );
    const [total, ok, nodata, skipdata, first, last] = stats.getRows()[0];
    const day = first === null ? Math.floor(Date.now() / 86400000) : Math.floor(Number(first) / 86400);
    let final: string;
    if (staged) {
      // One COPY from the table: enriched on the way when the store enriches.
      const cols = stored.map((c) => c.column);
      placed = await writer.place(chunkId, day, (target) => writer.copy(`SELECT * FROM ${table}`, target, sourceId, cols));
      final = placed[0];
    } else {
      // Enrichment needs the chunk's distinct addresses first: the raw file gives them cheaply.
      await writer.enrichFile(placed[0]);
      final = await writer.move(placed[0], chunkId, day);
    }
    placed = [];
    const range = first === null ? {} : { minStart: Number(first), maxStart: Number(last) };
    return { records: Number(total), ok: Number(ok), nodata: Number(nodata), skipdata: Number(skipdata), quarantined: 0, file: final, ...range };
  } catch (err) {
    if (process.env.FLOWLENS_DEBUG_FAST) console.error('fast path:', err);
    // Anything DuckDB could not read at all (a damaged gzip, say) goes to the JS path, which
    // keeps what it can and quarantines the rest with a reason.
    return undefined;
  } finally {
    for (const p of placed) await rm(`${writer.root}/${p}`, { force: true });
    await conn.run(`DROP TABLE IF EXISTS ${sqlIdent(table)}`).catch(() => {});
    await conn.run(`DROP TABLE IF EXISTS ${sqlIdent(rejects)}`).catch(() => {});
    await conn.run(`DROP TABLE IF EXISTS ${sqlIdent(rejects + '_scan')}`).catch(() => {});
  }
}
