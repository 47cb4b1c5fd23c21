import type { FieldRef } from './ast.ts';
import { QueryError, suggestion } from './errors.ts';

/** What a compiled expression is, as far as the query language cares. `time` is epoch milliseconds. */
export type SqlType = 'int' | 'num' | 'str' | 'bool' | 'time';

/** A compiled expression. `column` is set when it is a plain stored column (for fast paths). */
export interface Sql {
  readonly sql: string;
  readonly type: SqlType;
  readonly column?: string;
}

/** A named field visible to the rest of the query. */
export interface Entry extends Sql {
  readonly name: string;
}

/**
 * The fields a command can see: those the query defined (fields ... as, parse, stats) over
 * those of the stored rows. Names match without regard to case, as users type them in
 * Insights' or Athena's spelling; output keeps the spelling the user typed.
 */
export class Scope {
  private readonly defined = new Map<string, Entry>();

  /** `base` is null after `stats`, when only its outputs exist. */
  constructor(private readonly base: ReadonlyMap<string, Entry> | null, private readonly source: string) {}

  define(name: string, sql: Sql): Entry {
    const e: Entry = { name, sql: sql.sql, type: sql.type, column: sql.column };
    this.defined.set(name.toLowerCase(), e);
    return e;
  }

  lookup(name: string): Entry | undefined {
    const key = name.toLowerCase();
    return this.defined.get(key) ?? this.base?.get(key);
  }

  /**
   * The field a reference names; throws QueryError with a suggestion when there is none.
   * @example scope.resolve({kind: 'field', name: 'srcAddr', span}).sql // '"srcaddr"'
   */
  resolve(ref: FieldRef): Entry {
    const e = this.lookup(ref.name);
    if (e) return { ...e, name: ref.name };
    if (!this.base) {
      const names = [...this.defined.values()].map((d) => d.name);
      throw new QueryError(
        `unknown field \`${ref.name}\`: after \`stats\` only its results exist (${names.join(', ')})${suggestion(ref.name, names)}`,
        this.source,
        ref.span,
      );
    }
    const names = [...this.defined.values(), ...this.base.values()].map((d) => d.name);
    throw new QueryError(`unknown field \`${ref.name}\`${suggestion(ref.name, names)}`, this.source, ref.span);
  }
}
