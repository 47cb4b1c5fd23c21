/**
 * The Logs Insights query as a frozen tree. Every node is tagged by `kind` and carries the
 * source span it came from, so compilers can point errors at the user's text.
 */

/** Half-open character range [start, end) in the query text. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export type BinaryOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%' | '^' | 'and' | 'or';

export interface FieldRef {
  readonly kind: 'field';
  /** The name as the user typed it (without back-quotes). */
  readonly name: string;
  readonly span: Span;
}
export interface StringLit {
  readonly kind: 'string';
  readonly value: string;
  readonly span: Span;
}
export interface NumberLit {
  readonly kind: 'number';
  readonly value: number;
  readonly span: Span;
}
/** A time period such as `5m`, as written in `bin(5m)` or `datefloor(@timestamp, 1h)`. */
export interface DurationLit {
  readonly kind: 'duration';
  readonly amount: number;
  readonly unit: DurationUnit;
  readonly span: Span;
}
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w' | 'mo' | 'q' | 'y';
export interface RegexLit {
  readonly kind: 'regex';
  /** The pattern between the slashes, with `\/` unescaped. */
  readonly pattern: string;
  readonly span: Span;
}
export interface ListLit {
  readonly kind: 'list';
  readonly items: readonly Expr[];
  readonly span: Span;
}
export interface Unary {
  readonly kind: 'unary';
  readonly op: 'not' | '-';
  readonly operand: Expr;
  readonly span: Span;
}
export interface Binary {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
  readonly span: Span;
}
export interface InList {
  readonly kind: 'in';
  readonly negated: boolean;
  readonly value: Expr;
  readonly list: ListLit;
  readonly span: Span;
}
/** `like "text"` (substring), `like /re/` and `=~ /re/` (regular expression). */
export interface Match {
  readonly kind: 'match';
  readonly negated: boolean;
  readonly op: 'like' | '=~';
  readonly value: Expr;
  readonly pattern: StringLit | RegexLit;
  readonly span: Span;
}
export interface Call {
  readonly kind: 'call';
  /** The function name as typed; lookups are case-insensitive. */
  readonly name: string;
  readonly nameSpan: Span;
  /** True for `count(*)`. */
  readonly star: boolean;
  readonly args: readonly Expr[];
  readonly span: Span;
}

export type Expr = FieldRef | StringLit | NumberLit | DurationLit | RegexLit | ListLit | Unary | Binary | InList | Match | Call;

/** An expression with an optional `as` alias; `text` is its source, used as the default name. */
export interface Item {
  readonly expr: Expr;
  readonly alias?: string;
  readonly text: string;
  readonly span: Span;
}

export interface FieldsCmd {
  readonly kind: 'fields';
  readonly items: readonly Item[];
  readonly span: Span;
}
export interface DisplayCmd {
  readonly kind: 'display';
  readonly items: readonly Item[];
  readonly span: Span;
}
export interface FilterCmd {
  readonly kind: 'filter';
  readonly expr: Expr;
  readonly span: Span;
}
export interface StatsCmd {
  readonly kind: 'stats';
  readonly aggs: readonly Item[];
  readonly by: readonly Item[];
  readonly span: Span;
}
export interface SortKey {
  readonly expr: Expr;
  readonly desc: boolean;
}
export interface SortCmd {
  readonly kind: 'sort';
  readonly keys: readonly SortKey[];
  readonly span: Span;
}
export interface LimitCmd {
  readonly kind: 'limit';
  readonly count: number;
  readonly span: Span;
}
export interface ParseCmd {
  readonly kind: 'parse';
  /** The field parsed; `@message` when the query names none. */
  readonly source: Expr;
  readonly pattern: StringLit | RegexLit;
  /** `as` names for a glob (one per `*`) or for a regex's unnamed groups. */
  readonly names: readonly string[];
  readonly span: Span;
}
export interface DedupCmd {
  readonly kind: 'dedup';
  readonly fields: readonly FieldRef[];
  readonly span: Span;
}

export type Command = FieldsCmd | DisplayCmd | FilterCmd | StatsCmd | SortCmd | LimitCmd | ParseCmd | DedupCmd;

export interface Query {
  readonly kind: 'query';
  readonly commands: readonly Command[];
  readonly source: string;
}

/** The command names, for parsing and for "did you mean" suggestions. */
export const COMMAND_NAMES = ['fields', 'display', 'filter', 'stats', 'sort', 'limit', 'parse', 'dedup'] as const;

/**
 * Freezes a tree in place so no compiler can change what another one sees.
 * @example const q = deepFreeze({kind: 'query', commands: [], source: ''})
 */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
