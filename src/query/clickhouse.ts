import { IPV4_PATTERN } from './ip-sql.ts';
import { SqlVisitor } from './sql-visitor.ts';

const RENAMES: Readonly<Record<string, string>> = {
  length: 'lengthUTF8',
  upper: 'upperUTF8',
  lower: 'lowerUTF8',
  ln: 'log',
  replace: 'replaceAll',
  stddev_samp: 'stddevSamp',
  starts_with: 'startsWith',
  nullif: 'nullIf',
};

/** Timestamps ClickHouse's DateTime64 can hold comfortably, in epoch milliseconds. */
const MAX_MS = '1e14';

/**
 * The ClickHouse spelling of the query language, for a `flows` table with the same columns
 * (Nullable types). Values are typed query parameters (`{p1:String}`), which ClickHouse
 * substitutes as constants; IP logic uses ClickHouse's own IPv4/IPv6 functions.
 * @example new ClickHouseVisitor(src).param('REJECT') // '{p1:String}'
 */
export class ClickHouseVisitor extends SqlVisitor {
  ident(name: string): string {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `"${name}"`;
    return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
  }
  protected placeholder(index: number): string {
    return `{p${index}:String}`;
  }
  strLit(s: string): string {
    if (s.includes('\0')) throw new Error('NUL byte in SQL string');
    return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
  }
  dateLit(ymd: string): string {
    return `toDate('${ymd}')`;
  }
  protected castDouble(sql: string): string {
    return `toFloat64(${sql})`;
  }
  protected tryDouble(sql: string): string {
    return `toFloat64OrNull(${sql})`;
  }
  protected castText(sql: string): string {
    return `toString(${sql})`;
  }
  protected boolToInt(sql: string): string {
    return `toUInt8(${sql})`;
  }
  protected fname(name: string): string {
    return RENAMES[name] ?? name;
  }
  protected contains(hay: string, needle: string): string {
    return `(position(${hay}, ${needle}) > 0)`;
  }
  protected regexMatch(hay: string, pattern: string): string {
    return `match(${hay}, ${pattern})`;
  }
  protected regexFull(hay: string, pattern: string): string {
    return `match(${hay}, ${this.strLit(`^(?:${pattern})$`)})`;
  }
  protected regexExtract(hay: string, pattern: string, group: number): string {
    return `extractGroups(${hay}, ${pattern})[${group}]`;
  }
  protected concat(parts: string[]): string {
    // ClickHouse's concat is NULL if any part is; Insights (and DuckDB) skip missing parts.
    return `concat(${parts.map((p) => `ifNull(${p}, '')`).join(', ')})`;
  }
  protected trim(side: 'ltrim' | 'rtrim' | 'trim', s: string, chars?: string): string {
    if (!chars) return `${side === 'ltrim' ? 'trimLeft' : side === 'rtrim' ? 'trimRight' : 'trimBoth'}(${s})`;
    return `trim(${side === 'ltrim' ? 'LEADING' : side === 'rtrim' ? 'TRAILING' : 'BOTH'} ${chars} FROM ${s})`;
  }
  protected substr(s: string, start0: string, len?: string): string {
    const from = `toInt64(${start0}) + 1`;
    return len ? `substringUTF8(${s}, ${from}, toInt64(${len}))` : `substringUTF8(${s}, ${from})`;
  }
  private fromMillis(ms: string): string {
    return `fromUnixTimestamp64Milli(toInt64(floor(${ms})), 'UTC')`;
  }
  protected timeText(ms: string): string {
    return `if(abs(${ms}) < ${MAX_MS}, toString(${this.fromMillis(ms)}), NULL)`;
  }
  protected calendarFloor(ms: string, unit: 'mo' | 'q' | 'y'): string {
    const fn = unit === 'mo' ? 'toStartOfMonth' : unit === 'q' ? 'toStartOfQuarter' : 'toStartOfYear';
    return `if(abs(${ms}) < ${MAX_MS}, toFloat64(toUnixTimestamp(toDateTime(${fn}(${this.fromMillis(ms)}), 'UTC'))) * 1000, NULL)`;
  }
  protected ipv4Int(text: string): string {
    return `if(match(${text}, ${this.strLit(`^${IPV4_PATTERN}$`)}), toUInt32(toIPv4OrNull(${text})), NULL)`;
  }
  protected ipv4Octet(text: string, n: number): string {
    return `toInt32OrNull(splitByChar('.', ${text})[${n}])`;
  }
  protected ipv6Hex(text: string): string {
    return `if(isIPv6String(${text}), hex(toIPv6OrNull(${text})), NULL)`;
  }
  protected ipv6HexBound(hex: string): string {
    return this.strLit(hex.toUpperCase());
  }
  protected countDistinct(x: string): string {
    return `uniqExact(${x})`;
  }
  protected quantile(x: string, p: number): string {
    return `quantileExact(${this.numLit(p)})(${x})`;
  }
  protected argBy(which: 'min' | 'max', x: string, by: string): string {
    return `arg${which === 'min' ? 'Min' : 'Max'}(${x}, ${by})`;
  }
  joinWithSpaces(parts: string[]): string {
    return `concat(${parts.join(", ' ', ")})`;
  }
  secondsToMillis(sql: string): string {
    return `(${sql} * 1000.0)`;
  }
}
