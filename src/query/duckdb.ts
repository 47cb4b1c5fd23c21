import { IPV4_PATTERN } from './ip-sql.ts';
import { SqlVisitor } from './sql-visitor.ts';

/** Timestamps DuckDB can hold, in epoch milliseconds (beyond them conversions throw). */
const MAX_MS = '1e14';

/**
 * The DuckDB spelling of the query language. DuckDB here has no inet extension, so IP
 * parsing is written as SQL: IPv4 via a strict dotted-quad regex, IPv6 by expanding `::` and
 * an embedded IPv4 tail into 32 hex digits inside list lambdas.
 * @example new DuckDbVisitor(src).param('REJECT') // '$1'
 */
export class DuckDbVisitor extends SqlVisitor {
  ident(name: string): string {
    return '"' + name.replace(/"/g, '""') + '"';
  }
  protected placeholder(index: number): string {
    return `$${index}`;
  }
  strLit(s: string): string {
    if (s.includes('\0')) throw new Error('NUL byte in SQL string');
    return "'" + s.replace(/'/g, "''") + "'";
  }
  dateLit(ymd: string): string {
    return `DATE '${ymd}'`;
  }
  protected castDouble(sql: string): string {
    return `CAST(${sql} AS DOUBLE)`;
  }
  protected tryDouble(sql: string): string {
    return `TRY_CAST(${sql} AS DOUBLE)`;
  }
  protected castText(sql: string): string {
    return `CAST(${sql} AS VARCHAR)`;
  }
  protected boolToInt(sql: string): string {
    return `CAST(${sql} AS INTEGER)`;
  }
  protected fname(name: string): string {
    return name;
  }
  protected contains(hay: string, needle: string): string {
    return `contains(${hay}, ${needle})`;
  }
  protected regexMatch(hay: string, pattern: string): string {
    return `regexp_matches(${hay}, ${pattern})`;
  }
  protected regexFull(hay: string, pattern: string): string {
    return `regexp_full_match(${hay}, ${this.strLit(pattern)})`;
  }
  protected regexExtract(hay: string, pattern: string, group: number): string {
    return `regexp_extract(${hay}, ${pattern}, ${group})`;
  }
  protected concat(parts: string[]): string {
    return `concat(${parts.join(', ')})`;
  }
  protected trim(side: 'ltrim' | 'rtrim' | 'trim', s: string, chars?: string): string {
    return chars ? `${side}(${s}, ${chars})` : `${side}(${s})`;
  }
  protected substr(s: string, start0: string, len?: string): string {
    const from = `CAST(${start0} AS BIGINT) + 1`;
    return len ? `substring(${s}, ${from}, CAST(${len} AS BIGINT))` : `substring(${s}, ${from})`;
  }
  protected timeText(ms: string): string {
    return `(CASE WHEN abs(${ms}) < ${MAX_MS} THEN strftime(epoch_ms(CAST(floor(${ms}) AS BIGINT)), '%Y-%m-%d %H:%M:%S.%g') END)`;
  }
  protected calendarFloor(ms: string, unit: 'mo' | 'q' | 'y'): string {
    const part = unit === 'mo' ? 'month' : unit === 'q' ? 'quarter' : 'year';
    return `(CASE WHEN abs(${ms}) < ${MAX_MS} THEN CAST(epoch_ms(date_trunc('${part}', epoch_ms(CAST(floor(${ms}) AS BIGINT)))) AS DOUBLE) END)`;
  }
  protected ipv4Int(text: string): string {
    const octet = (i: number) => `TRY_CAST(split_part(__a, '.', ${i}) AS BIGINT)`;
    const body = `CASE WHEN regexp_full_match(__a, ${this.strLit(IPV4_PATTERN)}) THEN ${octet(1)} * 16777216 + ${octet(2)} * 65536 + ${octet(3)} * 256 + ${octet(4)} END`;
    return `list_transform([${text}], lambda __a: ${body})[1]`;
  }
  protected ipv4Octet(text: string, n: number): string {
    return `TRY_CAST(split_part(${text}, '.', ${n}) AS INTEGER)`;
  }
  protected ipv6Hex(text: string): string {
    // Lambdas bind each step once: __h the lower-cased text; __v an IPv4 tail as an integer,
    // rewritten as two hex groups (__t); __s the groups on each side of `::`; __g all 8.
    const tail = `list_transform([${this.ipv4Int(`regexp_extract(__h, '[0-9.]+$')`)}], lambda __v: printf('%x:%x', __v // 65536, __v % 65536))[1]`;
    const noTail = `CASE WHEN regexp_full_match(__h, ${this.strLit('.*:' + IPV4_PATTERN)}) THEN regexp_extract(__h, '^(.*:)', 1) || ${tail} ELSE __h END`;
    const sides = `list_transform(string_split(__t, '::'), lambda __x: CASE WHEN __x = '' THEN []::VARCHAR[] ELSE string_split(__x, ':') END)`;
    const groups =
      `CASE WHEN len(__s) = 1 THEN __s[1] WHEN len(__s) = 2 AND len(__s[1]) + len(__s[2]) <= 7 ` +
      `THEN __s[1] || list_transform(range(8 - len(__s[1]) - len(__s[2])), lambda __i: '0') || __s[2] END`;
    const hex =
      `CASE WHEN len(__g) = 8 AND list_bool_and(list_transform(__g, lambda __x: regexp_full_match(__x, '[0-9a-f]{1,4}'))) ` +
      `THEN array_to_string(list_transform(__g, lambda __x: lpad(__x, 4, '0')), '') END`;
    const let1 = (value: string, name: string, body: string) => `list_transform([${value}], lambda ${name}: ${body})[1]`;
    return let1(`lower(${text})`, '__h', let1(noTail, '__t', `CASE WHEN regexp_full_match(__t, '[0-9a-f:]{2,39}') THEN ${let1(sides, '__s', let1(groups, '__g', hex))} END`));
  }
  protected ipv6HexBound(hex: string): string {
    return this.strLit(hex.toLowerCase());
  }
  protected override ipv6Guard(text: string): string {
    // The parse above is a chain of lambdas and regexes; text without a colon is no IPv6
    // address, and CASE spares those rows (IPv4, most of them) the parse.
    return this.contains(text, this.strLit(':'));
  }
  protected countDistinct(x: string): string {
    return `count(DISTINCT ${x})`;
  }
  protected quantile(x: string, p: number): string {
    return `quantile_disc(${x}, ${this.numLit(p)})`;
  }
  protected argBy(which: 'min' | 'max', x: string, by: string): string {
    return `arg_${which}(${x}, ${by})`;
  }
  joinWithSpaces(parts: string[]): string {
    return `concat_ws(' ', ${parts.join(', ')})`;
  }
  secondsToMillis(sql: string): string {
    return `(${sql} * 1000.0)`;
  }
}
