import { StatementType, type DuckDBConnection } from '@duckdb/node-api';
import { UserError, firstLine } from '../util/errors.ts';

/**
 * Table functions a query may use: generators, and flows_summary (the store's own macro over
 * its views); nothing that reads files or the network.
 */
const ALLOWED_TABLE_FUNCTIONS = new Set(['range', 'generate_series', 'unnest', 'json_each', 'json_tree', 'flows_summary']);
/** Statements that change something: refused by name before DuckDB parses them. */
const WRITE_KEYWORDS = new Set([
  'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'TRUNCATE', 'CREATE', 'DROP', 'ALTER', 'COPY', 'ATTACH', 'DETACH', 'USE',
  'INSTALL', 'LOAD', 'SET', 'RESET', 'PRAGMA', 'CALL', 'EXPORT', 'IMPORT', 'VACUUM', 'CHECKPOINT', 'FORCE',
  'BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'ABORT', 'END', 'PREPARE', 'EXECUTE', 'DEALLOCATE', 'GRANT', 'REVOKE', 'COMMENT', 'UPSERT', 'REPLACE',
  'ANALYZE', 'ANALYSE',
]);
/** Scalar functions that would reveal the host. */
const DENIED_FUNCTIONS = new Set(['getenv', 'current_setting', 'read_text', 'read_blob']);

/**
 * Refuses anything but one SELECT (or EXPLAIN of one) that reads the store's own views. Checked
 * on DuckDB's own parse tree, not the text, so quoting tricks do not help; the engine is also
 * locked to the store folder, so this is the second of two walls.
 * @example await checkReadOnly(conn, "COPY flows TO '/tmp/x'") // throws UserError
 */
export async function checkReadOnly(conn: DuckDBConnection, sql: string): Promise<void> {
  // A first look at the leading keyword gives the clearest message for the common mistakes
  // (INSERT into a view would otherwise fail with a binder error about the view).
  if (!sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\/|;/g, '').trim()) throw new UserError('no SQL given: write a SELECT over flows, vpc_flow_logs or quarantine');
  const keyword = /^[\s(]*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase();
  // Any other first word (a typo: "selec") is left to DuckDB's parser, which says where.
  if (keyword && WRITE_KEYWORDS.has(keyword)) throw notAQuery(keyword);
  // EXPLAIN ANALYZE runs what it explains, and EXPLAIN's statement type hides what that is: the
  // statement explained must pass every check a query passes (a COPY or CREATE behind EXPLAIN
  // ANALYZE would otherwise run).
  if (keyword === 'EXPLAIN') {
    const inner = /^EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?([\s\S]*)$/i.exec(withoutLeadingComments(sql))?.[1];
    if (!inner?.trim()) throw new UserError('read-only: EXPLAIN needs a query to explain');
    await checkReadOnly(conn, inner);
  }
  let extracted;
  try {
    extracted = await conn.extractStatements(sql);
  } catch (err) {
    throw new UserError(`SQL syntax: ${reason(err).replace(/^Failed to extract statements: (Parser Error: )?/, '')}`, { cause: err });
  }
  if (extracted.count !== 1) throw new UserError(`expected exactly one SQL statement, found ${extracted.count}`);
  // A write behind a WITH ("WITH x AS (...) INSERT ...") is refused as one, before DuckDB's
  // binder would say something about the view it writes to.
  if (keyword === 'WITH') {
    const write = /\b(INSERT|UPDATE|DELETE|MERGE)\b/i.exec(sql)?.[1];
    const probe = await conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql]);
    const serialized = JSON.parse(String(probe.getRows()[0][0])) as { error?: boolean; error_message?: string };
    if (serialized.error && write && /SELECT/i.test(serialized.error_message ?? '')) throw notAQuery(write.toUpperCase());
  }
  let prepared;
  try {
    prepared = await extracted.prepare(0);
  } catch (err) {
    const msg = reason(err);
    throw new UserError(/disabled by configuration/.test(msg) ? `read-only: ${msg}` : msg, { cause: err });
  }
  const type = prepared.statementType;
  if (type !== StatementType.SELECT && type !== StatementType.EXPLAIN) {
    throw notAQuery(StatementType[type] ?? 'non-query');
  }
  if (type === StatementType.EXPLAIN) return;
  const reader = await conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql]);
  const tree = JSON.parse(String(reader.getRows()[0][0])) as { error?: boolean; error_message?: string; statements?: unknown[] };
  if (tree.error) throw new UserError(`read-only: ${tree.error_message ?? 'statement not allowed'}`);
  walk(tree.statements, (node) => {
    if (node.type === 'TABLE_FUNCTION') {
      const fn = (node.function as { function_name?: string } | undefined)?.function_name?.toLowerCase() ?? '';
      if (!ALLOWED_TABLE_FUNCTIONS.has(fn)) {
        throw new UserError(`read-only: table function ${fn}() is not allowed; query the views flows, vpc_flow_logs or quarantine`);
      }
    }
    if (node.type === 'BASE_TABLE') {
      const name = String(node.table_name ?? '');
      if (/[/\\.:]/.test(name)) throw new UserError(`read-only: reading files ("${name}") is not allowed; query the views flows, vpc_flow_logs or quarantine`);
    }
    if (node.class === 'FUNCTION' && DENIED_FUNCTIONS.has(String(node.function_name ?? '').toLowerCase())) {
      throw new UserError(`read-only: function ${String(node.function_name)}() is not allowed`);
    }
  });
}

/** The SQL from its first word on: leading blanks, comments and parentheses dropped. */
function withoutLeadingComments(sql: string): string {
  return sql.replace(/^(?:[\s(]+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/, '');
}

/** The refusal of a statement that is not a query ("this is an INSERT statement"). */
function notAQuery(kind: string): UserError {
  return new UserError(`read-only: only SELECT queries are allowed here (this is ${/^[AEIOU]/i.test(kind) ? 'an' : 'a'} ${kind} statement)`);
}

function walk(value: unknown, visit: (node: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, visit);
  } else if (value && typeof value === 'object') {
    visit(value as Record<string, unknown>);
    for (const v of Object.values(value)) walk(v, visit);
  }
}

/** An error's first line without its kind (DuckDB's "Parser Error: ", one word at most). */
function reason(err: unknown): string {
  return firstLine(err).replace(/^(\w+ )?Error: /, '');
}
