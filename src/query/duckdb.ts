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
    const octet = (i: number) => `TRY_CAST(split_part(${text}, '.', ${i}) AS BIGINT)`;
    return `(CASE WHEN regexp_full_match(${text}, ${this.strLit(IPV4_PATTERN)}) THEN ${octet(1)} * 16777216 + ${octet(2)} * 65536 + ${octet(3)} * 256 + ${octet(4)} END)`;
  }
  protected ipv6Hex(text: string): string {
    // Lambdas bind each intermediate once: __h the lower-cased text, __t the text with an
    // IPv4 tail turned into two hex groups, __p the halves around `::`, __g the 8 groups.
    const v4tail = this.ipv4Int(`regexp_extract(__h, '[0-9.]+$')`);
    const tailFixed =
      `CASE WHEN regexp_full_match(__h, ${this.strLit('.*:' + IPV4_PATTERN)}) ` +
      `THEN regexp_extract(__h, '^(.*:)', 1) || printf('%x:%x', ${v4tail} // 65536, ${v4tail} % 65536) ELSE __h END`;
    const side = (i: number) => `(CASE WHEN __p[${i}] = '' THEN []::VARCHAR[] ELSE string_split(__p[${i}], ':') END)`;
    const groups =
      `CASE WHEN len(__p) = 1 THEN string_split(__p[1], ':') ` +
      `WHEN len(__p) = 2 AND len(${side(1)}) + len(${side(2)}) <= 7 ` +
      `THEN ${side(1)} || list_transform(range(8 - len(${side(1)}) - len(${side(2)})), lambda __i: '0') || ${side(2)} END`;
    const joined =
      `CASE WHEN len(__g) = 8 AND list_bool_and(list_transform(__g, lambda __x: regexp_full_match(__x, '[0-9a-f]{1,4}'))) ` +
      `THEN array_to_string(list_transform(__g, lambda __x: lpad(__x, 4, '0')), '') END`;
    const expand = `list_transform([string_split(__t, '::')], lambda __p: list_transform([${groups}], lambda __g: ${joined})[1])[1]`;
    return (
      `list_transform([lower(${text})], lambda __h: list_transform([${tailFixed}], ` +
      `lambda __t: CASE WHEN regexp_full_match(__t, '[0-9a-f:]{2,39}') THEN ${expand} END)[1])[1]`
    );
  }
  protected ipv6HexBound(hex: string): string {
    return this.strLit(hex.toLowerCase());
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
