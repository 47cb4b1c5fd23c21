import { compileInsights, parseQuery, runInsights, type ColumnInfo, type QueryableStore } from '../query/index.ts';
import type { Expr } from '../query/ast.ts';
import { detailQuery, evidenceQuery, groupKeys, statsQuery } from './rule-query.ts';
import type { Rule, Severity } from './rule-schema.ts';

/** One rule firing for one group (actor, target) in one window. */
export interface Finding {
  /** `<rule>|<actor>|<target>|<window start>`: the same data always gives the same id. */
  id: string;
  /** `<rule>|<actor>|<target>`: findings with the same key dedupe into one alert. */
  key: string;
  rule_id: string;
  family: string;
  severity: Severity;
  title: string;
  window_start: number;
  window_end: number;
  actor?: string;
  target?: string;
  actors: string[];
  targets: string[];
  enis: string[];
  actor_count: number;
  target_count: number;
  first_seen: number;
  last_seen: number;
  /** Records behind the finding. */
  count: number;
  measures: Record<string, number>;
  /** For baseline rules: what the window was compared with. */
  baseline?: { mean?: number; stddev?: number; samples: number };
  evidence_query: string;
}

/** How many actors/targets/ENIs a finding lists (the counts say how many there were). */
export const LIST_CAP = 50;

const num = (v: unknown): number => (v === null || v === undefined ? NaN : Number(v));
const str = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));

/** The windows of size `w` that a time range touches: [first start, last start]. */
export function windowSpan(w: number, from: number, to: number): [number, number] {
  return [Math.floor(from / w) * w, Math.floor(to / w) * w];
}

export type Row = Record<string, unknown>;

function rowsOf(r: { columns: string[]; rows: unknown[][] }): Row[] {
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));
}

/**
 * Evaluates a threshold (an Insights boolean expression) on one group's measures, for rules
 * whose threshold cannot run in SQL (baselines need every group of the history).
 */
export function evalExpr(e: Expr, vars: Record<string, number>): number | boolean | string | undefined {
  switch (e.kind) {
    case 'number':
      return e.value;
    case 'string':
      return e.value;
    case 'field': {
      const k = Object.keys(vars).find((x) => x.toLowerCase() === e.name.toLowerCase());
      return k === undefined ? undefined : vars[k];
    }
    case 'unary': {
      const v = evalExpr(e.operand, vars);
      return e.op === 'not' ? !v : -Number(v);
    }
    case 'binary': {
      const a = evalExpr(e.left, vars);
      if (e.op === 'and') return Boolean(a) && Boolean(evalExpr(e.right, vars));
      if (e.op === 'or') return Boolean(a) || Boolean(evalExpr(e.right, vars));
      const b = evalExpr(e.right, vars);
      if (a === undefined || b === undefined) return undefined;
      const x = Number(a);
      const y = Number(b);
      switch (e.op) {
        case '=':
          return a === b || x === y;
        case '!=':
          return !(a === b || x === y);
        case '<':
          return x < y;
        case '<=':
          return x <= y;
        case '>':
          return x > y;
        case '>=':
          return x >= y;
        case '+':
          return x + y;
        case '-':
          return x - y;
        case '*':
          return x * y;
        case '/':
          return y === 0 ? undefined : x / y;
        case '%':
          return y === 0 ? undefined : x % y;
        case '^':
          return x ** y;
      }
      return undefined;
    }
    case 'in': {
      const v = evalExpr(e.value, vars);
      const hit = e.list.items.some((i) => evalExpr(i, vars) === v);
      return e.negated ? !hit : hit;
    }
    case 'call': {
      const args = e.args.map((a) => Number(evalExpr(a, vars)));
      const f = e.name.toLowerCase();
      if (f === 'abs') return Math.abs(args[0]);
      if (f === 'greatest') return Math.max(...args);
      if (f === 'least') return Math.min(...args);
      if (f === 'log') return Math.log(args[0]);
      if (f === 'sqrt') return Math.sqrt(args[0]);
      if (f === 'ceil') return Math.ceil(args[0]);
      if (f === 'floor') return Math.floor(args[0]);
      return undefined;
    }
    default:
      return undefined;
  }
}

function thresholdFn(rule: Rule): (vars: Record<string, number>) => boolean {
  const cmd = parseQuery(`filter ${rule.threshold}`).commands[0];
  if (cmd.kind !== 'filter') throw new Error('unreachable: threshold is a filter');
  return (vars) => evalExpr(cmd.expr, vars) === true;
}

function title(rule: Rule, f: Pick<Finding, 'actor' | 'target' | 'window_start' | 'measures' | 'count' | 'actor_count' | 'target_count'>): string {
  const vars: Record<string, string> = {
    actor: f.actor ?? `${f.actor_count} sources`,
    target: f.target ?? (f.target_count === 1 ? '1 target' : `${f.target_count} targets`),
    window: new Date(f.window_start * 1000).toISOString().replace('.000Z', 'Z'),
    records: String(f.count),
    actor_count: String(f.actor_count),
    target_count: String(f.target_count),
  };
  for (const [k, v] of Object.entries(f.measures)) vars[k] = Number.isInteger(v) ? String(v) : v.toFixed(2);
  return rule.title.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m);
}

interface Group {
  actor?: string;
  target?: string;
  window: number;
  vars: Record<string, number>;
  first: number;
  last: number;
}

function groupOf(rule: Rule, r: Row): Group {
  const vars: Record<string, number> = { records: num(r.records) };
  for (const m of Object.keys(rule.measures)) vars[m] = num(r[m]);
  return { actor: str(r.actor), target: str(r.target), window: num(r.window), vars, first: num(r.first_seen), last: num(r.last_seen) };
}

const keyOf = (g: { actor?: string; target?: string }) => `${g.actor ?? ''}|${g.target ?? ''}`;

/** Applies a rule's baseline to the groups of the history and the evaluated windows. */
function baselineFilter(rule: Rule, groups: Group[], from: number, dataStart: number, pass: (v: Record<string, number>) => boolean): (Group & { baseline?: Finding['baseline'] })[] {
  const b = rule.baseline!;
  const w = rule.window;
  const byKey = new Map<string, Group[]>();
  for (const g of groups) {
    const k = keyOf(g);
    const l = byKey.get(k) ?? [];
    l.push(g);
    byKey.set(k, l);
  }
  const out: (Group & { baseline?: Finding['baseline'] })[] = [];
  for (const list of byKey.values()) {
    list.sort((a, c) => a.window - c.window);
    for (const g of list) {
      if (g.window < from || !pass(g.vars)) continue;
      // Not enough history before this window: a baseline from nothing flags everything.
      if (g.window - dataStart < b.minHistory) continue;
      const histFrom = Math.max(g.window - b.history, Math.ceil(dataStart / w) * w);
      const hist = list.filter((h) => h.window >= histFrom && h.window < g.window);
      if (b.kind === 'novel') {
        if (hist.length === 0) out.push({ ...g, baseline: { samples: 0 } });
        continue;
      }
      const m = b.measure!;
      // Every window of the history counts; a window without the group had zero.
      const slots: number[] = [];
      for (let t = histFrom; t < g.window; t += w) slots.push(t);
      const seen = new Map(hist.map((h) => [h.window, h.vars[m] || 0]));
      const hourOf = (t: number) => Math.floor((t % 86400) / 3600);
      let sample = slots;
      if (b.seasonality === 'hour-of-day') {
        const same = slots.filter((t) => hourOf(t) === hourOf(g.window));
        // Seasonality needs a few days of the same hour; until then compare with all history.
        if (same.length >= 3) sample = same;
      }
      if (sample.length === 0) continue;
      const vals = sample.map((t) => seen.get(t) ?? 0);
      const mean = vals.reduce((a, c) => a + c, 0) / vals.length;
      const sd = Math.sqrt(vals.reduce((a, c) => a + (c - mean) ** 2, 0) / vals.length);
      const v = g.vars[m] || 0;
      const fires = b.direction === 'down' ? mean > 0 && v < mean / b.factor && v < mean - b.sigmas * sd : v > b.factor * mean && v > mean + b.sigmas * sd;
      if (fires) out.push({ ...g, baseline: { mean, stddev: sd, samples: vals.length } });
    }
  }
  return out;
}

export interface EvaluateOptions {
  /** Inclusive unix seconds; whole windows around them are evaluated. */
  from: number;
  to: number;
  columns?: readonly ColumnInfo[];
  /** Earliest record start in the store (baselines need it). */
  dataStart?: number;
  /** Read this view (shaped like `flows`, holding at least the rule's windows) instead of `flows`. */
  table?: string;
  /** Where the rule's per-window aggregates come from; default: the records (`recordStats`). */
  source?: StatsSource;
}

/**
 * What a rule's evaluation reads: its stats rows (`records`, `first_seen`, `last_seen`, the
 * measures, by `actor`/`target` and `window`) and, for the groups that fire, who and where
 * (one folded row per group: `actor_count`, `target_count`, the first LIST_CAP `actors`,
 * `targets`, `enis`). From the records (batch), or from aggregates kept up to date as records
 * arrive (streaming, `incremental.ts`); both must give the same rows.
 */
export interface StatsSource {
  /** Rows of the windows holding record starts in [from, to] (whole windows). */
  stats(rule: Rule, from: number, to: number, withThreshold: boolean): Promise<Row[]>;
  /** Folded rows of the groups whose `by` key is one of `values`, windows in [from, to]. */
  detail(rule: Rule, by: 'actor' | 'target', values: readonly string[], from: number, to: number): Promise<Row[]>;
}

/** The default StatsSource: the rule's Insights queries over `flows` (or `table`). */
export function recordStats(store: QueryableStore, opts: { columns?: readonly ColumnInfo[]; table?: string } = {}): StatsSource {
  return {
    async stats(rule, from, to, withThreshold) {
      return rowsOf(await runInsights(store, statsQuery(rule, withThreshold), { from, to, columns: opts.columns, table: opts.table }));
    },
    async detail(rule, by, values, from, to) {
      const q = detailSql(rule, by, values, { from, to, columns: opts.columns, table: opts.table });
      return rowsOf(await store.query(q.sql, [...q.params]));
    },
  };
}

/**
 * The detail query's rows folded per group (the rule's keys and the window): how many distinct
 * actors and targets, and the first LIST_CAP of actors, targets and ENIs in sorted order.
 */
function detailSql(rule: Rule, by: 'actor' | 'target', values: readonly string[], span: { from: number; to: number; columns?: readonly ColumnInfo[]; table?: string }): { sql: string; params: readonly string[] } {
  const c = compileInsights(detailQuery(rule, by, values), { dialect: 'duckdb', ...span });
  const col = (name: string) => `"c${c.columns.indexOf(name) + 1}"`;
  const grouped = groupKeys(rule);
  const list = (x: string) => `list(DISTINCT ${x} ORDER BY ${x}) FILTER (WHERE ${x} IS NOT NULL)[1:${LIST_CAP}]`;
  const actor = col('actor');
  const target = rule.target ? col('target') : 'NULL::VARCHAR';
  // A column that is no group key is not selected bare (the engine ignores its value there).
  const key = (k: 'actor' | 'target', x: string) => (grouped.includes(k) ? x : `any_value(${x})`);
  const sql =
    `SELECT ${key('actor', actor)} AS actor, ${key('target', target)} AS target, ${col('window')} AS window, ` +
    `count(DISTINCT ${actor}) AS actor_count, count(DISTINCT ${target}) AS target_count, ${list(actor)} AS actors, ${list(target)} AS targets, ${list(col('eni'))} AS enis ` +
    `FROM (${c.sql}) AS d GROUP BY ${[...grouped.map(col), col('window')].join(', ')}`;
  return { sql, params: c.params };
}

/** Firing windows closer than this many windows share one detail query. */
const DETAIL_GAP_WINDOWS = 6;

/**
 * The firing groups in runs of nearby windows: each run's detail query reads only its own time
 * span (row groups outside it are skipped) instead of the whole evaluated range again.
 */
function windowRuns<T extends { window: number }>(groups: readonly T[], w: number): T[][] {
  const sorted = [...groups].sort((a, b) => a.window - b.window);
  const runs: T[][] = [];
  for (const g of sorted) {
    const run = runs.at(-1);
    if (run && g.window - run.at(-1)!.window <= DETAIL_GAP_WINDOWS * w) run.push(g);
    else runs.push([g]);
  }
  return runs;
}

/**
 * Runs one rule over the windows that [from, to] touches and returns its findings. The same
 * records give the same findings whatever the order they arrived in.
 * @example await evaluateRule(store, rule, { from: 1705276800, to: 1705280400 })
 */
export async function evaluateRule(store: QueryableStore, rule: Rule, opts: EvaluateOptions): Promise<Finding[]> {
  const w = rule.window;
  const [wFrom, wLast] = windowSpan(w, opts.from, opts.to);
  const qFrom = rule.baseline ? wFrom - rule.baseline.history : wFrom;
  const source = opts.source ?? recordStats(store, opts);
  const all = (await source.stats(rule, qFrom, wLast + w - 1, !rule.baseline)).map((r) => groupOf(rule, r));
  const pass = thresholdFn(rule);
  // Without a baseline the SQL applied the threshold already; the JS check keeps both evaluators honest.
  const groups: (Group & { baseline?: Finding['baseline'] })[] = rule.baseline
    ? baselineFilter(rule, all, wFrom, opts.dataStart ?? qFrom, pass)
    : all.filter((g) => g.window >= wFrom && g.window <= wLast && pass(g.vars));
  if (groups.length === 0) return [];
  const keys = groupKeys(rule);
  // Who else and where: targets and ENIs of the firing groups.
  const by = keys.includes('actor') ? 'actor' : 'target';
  const detail = new Map<string, { actors: string[]; targets: string[]; enis: string[]; actorCount: number; targetCount: number }>();
  const strs = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  for (const run of windowRuns(groups, w)) {
    const values = [...new Set(run.map((g) => g[by]).filter((a): a is string => a !== undefined))].sort();
    for (let i = 0; i < values.length; i += 500) {
      for (const row of await source.detail(rule, by, values.slice(i, i + 500), run[0].window, run.at(-1)!.window + w - 1)) {
        const k = `${keys.includes('actor') ? (str(row.actor) ?? '') : ''}|${keys.includes('target') ? (str(row.target) ?? '') : ''}|${num(row.window)}`;
        detail.set(k, { actors: strs(row.actors), targets: strs(row.targets), enis: strs(row.enis), actorCount: num(row.actor_count), targetCount: num(row.target_count) });
      }
    }
  }
  const out: Finding[] = [];
  for (const g of groups) {
    const actor = keys.includes('actor') ? g.actor : undefined;
    const target = keys.includes('target') ? g.target : undefined;
    const d = detail.get(`${actor ?? ''}|${target ?? ''}|${g.window}`);
    const targets = d?.targets ?? [];
    const actorsOf = d?.actors ?? (g.actor ? [g.actor] : []);
    const measures: Record<string, number> = {};
    for (const m of Object.keys(rule.measures)) measures[m] = g.vars[m];
    const base = {
      actor,
      target,
      window_start: g.window,
      measures,
      count: g.vars.records,
      actor_count: d?.actorCount ?? actorsOf.length,
      target_count: target !== undefined ? 1 : (d?.targetCount ?? targets.length),
    };
    const key = `${rule.id}|${actor ?? ''}|${target ?? ''}`;
    out.push({
      id: `${key}|${g.window}`,
      key,
      rule_id: rule.id,
      family: rule.family,
      severity: rule.severity,
      title: title(rule, base),
      ...base,
      window_end: g.window + w,
      actors: actorsOf,
      targets: target !== undefined ? [target] : targets,
      enis: d?.enis ?? [],
      first_seen: g.first,
      last_seen: g.last,
      ...(g.baseline ? { baseline: g.baseline } : {}),
      evidence_query: evidenceQuery(rule, { actor, target }, g.window, g.window + w),
    });
  }
  return out.sort((a, b) => a.window_start - b.window_start || a.id.localeCompare(b.id));
}
