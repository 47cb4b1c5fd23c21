/**
 * The Logs Insights functions flowlens understands: name, arity and whether it aggregates.
 * Compilers look names up here (case-insensitively) and suggest the nearest on a typo.
 */

export interface FunctionSpec {
  /** The name as AWS documents it. */
  readonly name: string;
  readonly aggregate: boolean;
  readonly minArgs: number;
  /** Infinity for variadic functions. */
  readonly maxArgs: number;
  /** True when `f(*)` is allowed (count). */
  readonly star?: boolean;
}

const scalar = (name: string, minArgs: number, maxArgs = minArgs): FunctionSpec => ({ name, aggregate: false, minArgs, maxArgs });
const agg = (name: string, minArgs: number, maxArgs = minArgs, star = false): FunctionSpec => ({ name, aggregate: true, minArgs, maxArgs, star });

export const FUNCTIONS: readonly FunctionSpec[] = Object.freeze([
  // numeric
  scalar('abs', 1), scalar('ceil', 1), scalar('floor', 1), scalar('greatest', 1, Infinity), scalar('least', 1, Infinity),
  scalar('log', 1), scalar('sqrt', 1),
  // general
  scalar('ispresent', 1), scalar('coalesce', 1, Infinity),
  // strings
  scalar('isempty', 1), scalar('isblank', 1), scalar('concat', 1, Infinity), scalar('ltrim', 1, 2), scalar('rtrim', 1, 2),
  scalar('trim', 1, 2), scalar('strlen', 1), scalar('toupper', 1), scalar('tolower', 1), scalar('substr', 2, 3),
  scalar('replace', 3), scalar('strcontains', 2),
  // date and time
  scalar('bin', 1), scalar('datefloor', 2), scalar('dateceil', 2), scalar('fromMillis', 1), scalar('toMillis', 1),
  // IP addresses
  scalar('isValidIp', 1), scalar('isValidIpV4', 1), scalar('isValidIpV6', 1),
  scalar('isIpInSubnet', 2), scalar('isIpv4InSubnet', 2), scalar('isIpv6InSubnet', 2),
  // aggregations
  agg('avg', 1), agg('count', 0, 1, true), agg('count_distinct', 1), agg('max', 1), agg('min', 1), agg('pct', 2),
  agg('stddev', 1), agg('sum', 1), agg('earliest', 1), agg('latest', 1), agg('sortsFirst', 1), agg('sortsLast', 1),
]);

const BY_NAME = new Map(FUNCTIONS.map((f) => [f.name.toLowerCase(), f]));

/** Looks a function up by name, ignoring case. @example functionSpec('COUNT')?.aggregate // true */
export function functionSpec(name: string): FunctionSpec | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** Milliseconds in one of each fixed-size period unit (months and longer are calendar units). */
export const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
