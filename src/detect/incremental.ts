import { compileInsights, describeFlows, parseQuery, type ColumnInfo } from '../query/index.ts';
import type { Expr } from '../query/ast.ts';
import { functionSpec } from '../query/catalog.ts';
import type { Store } from '../store/index.ts';
import { sqlString } from '../store/sql-text.ts';
import { LIST_CAP, type StatsSource } from './engine.ts';
import { groupKeys, selection } from './rule-query.ts';
import type { Rule } from './rule-schema.ts';

/**
 * Streaming detection's running aggregates. A pass used to re-aggregate every record of the
 * windows new records touched, for every rule (29 rules x 0.2-0.6 s over the open windows);
 * here each rule keeps a *grain* table (a DuckDB temporary table): the records it selects,
 * aggregated by window, actor, target, interface and the arguments of its distinct counts,
 * with partial counts, sums, minima and maxima. New records are aggregated once into it, and
 * a pass reads the rule's stats and finding details from the grain rows of its windows only.
 * Batch and streaming give the same rows because the grain keeps every value a distinct count
 * or a detail list needs: sums of partial sums, minima of minima, distinct counts of the
 * distinct keys.
 */

/** How a rule's measures decompose into grain columns. */
export interface GrainPlan {
  /** Insights query over records: one row per grain key, with the partial aggregates. */
  partial: string;
  /** Measure name → Insights expression over the grain columns. */
  measures: Record<string, string>;
  hasTarget: boolean;
}

const LIMIT = 2147483647;

/**
 * The grain plan of a rule, or undefined when a measure uses an aggregate that does not
 * decompose (avg, pct, stddev, earliest, ...): such a rule reads the records as in batch.
 * @example planGrain(rule)?.measures // { ports: 'count_distinct(k_d1)', attempts: 'sum(v_n)' }
 */
export function planGrain(rule: Rule): GrainPlan | undefined {
  const partials = new Map<string, string>(); // partial Insights aggregate text → column
  const distinct = new Map<string, string>(); // distinct-count argument text → key column
  const measures: Record<string, string> = {};
  for (const [name, text] of Object.entries(rule.measures)) {
    const src = `stats ${text} as m`;
    const cmd = parseQuery(src).commands[0];
    if (cmd?.kind !== 'stats' || cmd.aggs.length !== 1) return undefined;
    const edits: { start: number; end: number; text: string }[] = [];
    // An argument's text from the call's: a node's span can leave out closing parentheses.
    const argText = (call: Expr) => {
      const t = src.slice(call.span.start, call.span.end);
      return t.slice(t.indexOf('(') + 1, t.lastIndexOf(')')).trim();
    };
    const partial = (agg: string, fin: string, arg: string) => {
      const key = `${agg}(${arg})`;
      const col = partials.get(key) ?? `v_p${partials.size + 1}`;
      partials.set(key, col);
      return `${fin}(${col})`;
    };
    let ok = true;
    const walk = (e: Expr): void => {
      if (!ok) return;
      if (e.kind === 'call' && functionSpec(e.name)?.aggregate) {
        const f = e.name.toLowerCase();
        let out: string | undefined;
        if (f === 'count' && (e.star || e.args.length === 0)) out = 'sum(v_n)';
        else if (f === 'count') out = partial('count', 'sum', argText(e));
        else if (f === 'sum') out = partial('sum', 'sum', argText(e));
        else if (f === 'min' || f === 'max') out = partial(f, f, argText(e));
        else if (f === 'count_distinct') {
          const arg = argText(e);
          const col = distinct.get(arg) ?? `k_d${distinct.size + 1}`;
          distinct.set(arg, col);
          out = `count_distinct(${col})`;
        }
        if (out === undefined) ok = false;
        else edits.push({ start: e.span.start, end: e.span.end, text: out });
        return;
      }
      switch (e.kind) {
        case 'call':
          e.args.forEach(walk);
          return;
        case 'binary':
          walk(e.left);
          walk(e.right);
          return;
        case 'unary':
          walk(e.operand);
          return;
        case 'in':
          walk(e.value);
          e.list.items.forEach(walk);
          return;
        case 'match':
          walk(e.value);
          return;
        default:
          return;
      }
    };
    const item = cmd.aggs[0];
    walk(item.expr);
    if (!ok) return undefined;
    let out = src.slice(item.expr.span.start, item.expr.span.end);
    const base = item.expr.span.start;
    for (const ed of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, ed.start - base) + ed.text + out.slice(ed.end - base);
    measures[name] = out;
  }
  const aggs = ['count(*) as v_n', 'min(startTime) as v_first', 'max(endTime) as v_last', ...[...partials].map(([agg, col]) => `${agg} as ${col}`)];
  const by = [
    `${rule.actor} as k_actor`,
    ...(rule.target ? [`${rule.target} as k_target`] : []),
    'interfaceId as k_eni',
    `floor(startTime / ${rule.window}) * ${rule.window} as k_window`,
    ...[...distinct].map(([arg, col]) => `${arg} as ${col}`),
  ];
  return { partial: `${selection(rule)}\n| stats ${aggs.join(', ')} by ${by.join(', ')}\n| limit ${LIMIT}`, measures, hasTarget: rule.target !== undefined };
}

interface RuleState {
  plan: GrainPlan;
  table: string;
  /** Record starts >= this (a window start) of every loaded file are in the table. */
  covFrom: number;
  created: boolean;
  columns?: ColumnInfo[];
}

/**
 * The grain tables of a streaming detector's rules (gone with the store's connection), and
 * the StatsSource reading them. `add` aggregates records into a rule's table, `setCovered`
 * records how far back it holds every loaded file's records, `prune` drops old windows.
 */
export class GrainStore {
  /** null: the rule's measures do not decompose. */
  private readonly rules = new Map<string, RuleState | null>();
  private next = 1;

  constructor(
    private readonly store: Store,
    private readonly flowColumns: () => readonly ColumnInfo[],
  ) {}

  /** True when the rule is served from a grain table (its measures decompose). */
  has(rule: Rule): boolean {
    return this.state(rule) !== undefined;
  }

  private state(rule: Rule): RuleState | undefined {
    let s = this.rules.get(rule.id);
    if (s === undefined) {
      const plan = planGrain(rule);
      s = plan ? { plan, table: `detect_grain_${this.next++}`, covFrom: Infinity, created: false } : null;
      this.rules.set(rule.id, s);
    }
    return s ?? undefined;
  }

  /** Coverage start of a rule (Infinity before anything was loaded). */
  coveredFrom(rule: Rule): number {
    return this.state(rule)?.covFrom ?? Infinity;
  }

  /**
   * Aggregates the records of `view` (shaped like flows) with starts in [from, to] into the
   * rule's grain table. Resolves false when that added no row: the rule's answer for every
   * window is what it was.
   */
  async add(rule: Rule, view: string, from: number, to: number | undefined): Promise<boolean> {
    const s = this.state(rule)!;
    const c = compileInsights(s.plan.partial, { dialect: 'duckdb', from, to, columns: this.flowColumns(), table: view, inline: true });
    const select = `SELECT ${c.columns.map((n, i) => `"c${i + 1}" AS ${n}`).join(', ')} FROM (${c.sql}) AS p`;
    const added = await this.store.scratch(s.table, select, [...c.params], s.created ? 'append' : 'replace');
    if (!s.created) {
      s.created = true;
      s.columns = await describeFlows(this.store, s.table);
    }
    return added !== 0;
  }

  /** Marks the rule's table as holding record starts >= from of every loaded file. */
  setCovered(rule: Rule, from: number): void {
    this.state(rule)!.covFrom = from;
  }

  /** Drops the rule's windows before `before` (a window start); coverage moves up to it. */
  async prune(rule: Rule, before: number): Promise<void> {
    const s = this.state(rule)!;
    if (!s.created || before <= s.covFrom) return;
    await this.store.scratch(s.table, `SELECT * FROM ${s.table} WHERE k_window >= $1`, [before], 'replace');
    s.covFrom = before;
  }

  /** The StatsSource over the grain tables (for rules `has` accepts). */
  source(): StatsSource {
    return {
      stats: async (rule, from, to, withThreshold) => {
        const s = this.state(rule)!;
        if (!s.created) return [];
        const keys = groupKeys(rule).map((k) => (k === 'actor' ? 'k_actor as actor' : 'k_target as target'));
        const measures = Object.entries(s.plan.measures).map(([n, e]) => `${e} as ${n}`);
        const w = rule.window;
        let q =
          `filter k_window >= ${Math.floor(from / w) * w} and k_window <= ${Math.floor(to / w) * w}\n` +
          `| stats sum(v_n) as records, min(v_first) as first_seen, max(v_last) as last_seen${measures.length ? ', ' + measures.join(', ') : ''} by ${[...keys, 'k_window as window'].join(', ')}`;
        if (withThreshold) q += `\n| filter ${rule.threshold}`;
        const c = compileInsights(`${q}\n| limit 1000000`, { dialect: 'duckdb', columns: s.columns, table: s.table, inline: true });
        const r = await this.store.query(c.sql, [...c.params]);
        return r.rows.map((row) => Object.fromEntries(c.columns.map((name, i) => [name, row[i]])));
      },
      detail: async (rule, by, values, from, to) => {
        const s = this.state(rule)!;
        if (!s.created || !values.length) return [];
        const grouped = groupKeys(rule);
        const target = s.plan.hasTarget ? 'k_target' : 'NULL::VARCHAR';
        const key = (k: 'actor' | 'target', x: string) => (grouped.includes(k) ? x : `any_value(${x})`);
        const list = (x: string) => `list(DISTINCT ${x} ORDER BY ${x}) FILTER (WHERE ${x} IS NOT NULL)[1:${LIST_CAP}]`;
        const byCol = by === 'actor' ? 'k_actor' : target;
        const groupCols = [...grouped.map((k) => (k === 'actor' ? 'k_actor' : target)), 'k_window'];
        const w = rule.window;
        const sql =
          `SELECT ${key('actor', 'k_actor')} AS actor, ${key('target', target)} AS target, k_window AS window, ` +
          `count(DISTINCT k_actor) AS actor_count, count(DISTINCT ${target}) AS target_count, ${list('k_actor')} AS actors, ${list(target)} AS targets, ${list('k_eni')} AS enis ` +
          `FROM ${s.table} WHERE k_window >= ${Math.floor(from / w) * w} AND k_window <= ${Math.floor(to / w) * w} AND CAST(${byCol} AS VARCHAR) IN (${values.map(sqlString).join(', ')}) ` +
          `GROUP BY ${groupCols.join(', ')}`;
        // Literals, not parameters: DuckDB plans a statement with parameters at every run.
        const r = await this.store.query(sql);
        return r.rows.map((row) => Object.fromEntries(r.columns.map((name, i) => [name, row[i]])));
      },
    };
  }
}
