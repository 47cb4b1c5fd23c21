import { DEFAULT_FIELDS, FIELDS, fieldByName } from './columns.ts';

/** A user error in a format string, with the 1-based column where it went wrong. */
export class FormatError extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(message);
    this.name = 'FormatError';
  }
}

// AWS field names are lower-case words joined by hyphens; anything else is not a field name.
const FIELD_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/**
 * Parses an AWS format string into field names.
 * @example parseFormatString('${version} ${vpc-id} ${srcaddr}') // ['version', 'vpc-id', 'srcaddr']
 */
export function parseFormatString(format: string): string[] {
  const fields: string[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(format))) {
    const token = m[0];
    const inner = /^\$\{([^}]*)\}$/.exec(token);
    if (!inner) {
      throw new FormatError(`expected \${field-name} at column ${m.index + 1}, found "${token}"`, m.index + 1);
    }
    const name = inner[1];
    if (!FIELD_NAME.test(name)) {
      throw new FormatError(`"${name}" at column ${m.index + 3} is not a field name (lower-case words joined by "-")`, m.index + 3);
    }
    if (fields.includes(name)) throw new FormatError(`field "${name}" appears twice (column ${m.index + 1})`, m.index + 1);
    fields.push(name);
  }
  if (fields.length === 0) throw new FormatError('the format string names no fields', 1);
  return fields;
}

/** Renders field names as an AWS format string. */
export function toFormatString(fields: readonly string[]): string {
  return fields.map((n) => '${' + n + '}').join(' ');
}

/**
 * Recognises a header line (the field names AWS writes at the top of each S3 object). Returns
 * the field names, or undefined when the line is a record. A header is all field-name tokens,
 * at least one of which is a known field; unknown well-formed names are kept.
 */
export function parseHeaderLine(line: string): string[] | undefined {
  const tokens = line.trim().split(/[ \t]+/);
  if (tokens.length === 0 || tokens[0] === '') return undefined;
  let known = 0;
  for (const t of tokens) {
    if (!FIELD_NAME.test(t)) return undefined;
    if (fieldByName(t)) known++;
  }
  // Record lines can hold words (ACCEPT, OK, ids) but never lower-case field names only with a
  // known one among them; the tokens must also be distinct.
  if (known === 0 || new Set(tokens).size !== tokens.length) return undefined;
  return tokens;
}

export { DEFAULT_FIELDS };

/** Fields AWS has not given a version number; never part of an "all fields" format. */
const UNVERSIONED = new Set(['resource-id', 'encryption-status']);

/**
 * The format of header-less lines (Firehose and CloudWatch Logs deliver no header): the "all
 * fields up to version N" format when the first line's version and field count say so (what
 * the VPC console offers); undefined for anything else (the default format, or a custom one
 * that only a format string can name).
 * @example inferLogFormat('5 123456789010 eni-1 ...29 fields') // '${version} ${account-id} ... ${traffic-path}'
 */
export function inferLogFormat(firstLine: string): string | undefined {
  const fields = inferLogFields(firstLine);
  return fields && toFormatString(fields);
}

/** inferLogFormat's fields (ingest switches its parser to them; HTTP takes the format string). */
export function inferLogFields(firstLine: string): string[] | undefined {
  const tokens = firstLine.trim().split(/\s+/);
  const v = Number(tokens[0]);
  if (!Number.isInteger(v) || v < 2 || v > 8) return undefined;
  const fields = FIELDS.filter((f) => f.version <= v && !UNVERSIONED.has(f.field)).map((f) => f.field);
  return fields.length === tokens.length && v > 2 ? fields : undefined;
}
