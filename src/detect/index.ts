/**
 * Detection and alerting: rules (YAML, Logs Insights queries) evaluated per window over the
 * store, in batch (`runDetection`) or following ingest (`createStreamingDetector`); findings
 * become alerts with a lifecycle (dedupe, incidents, suppression, routing, open →
 * acknowledged → resolved) kept in `<db>/alerts/`, and notifications (stdout, file, webhook,
 * Slack). The CLI (`flowlens detect`), ingest (`--detect`) and the server call these.
 */
import { readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { CommitInfo } from '../ingest/index.ts';
import { describeFlows, QueryError, type ColumnInfo } from '../query/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { applyFindings, readAlerts, updateState, type Alert, type AlertEvent } from './alerts.ts';
import { loadConfig, type DetectConfigT, type NotifierDocT } from './config.ts';
import { evaluateRule, windowSpan, type Finding, type StatsSource } from './engine.ts';
import { GrainStore } from './incremental.ts';
import { createNotifiers, type Notifier } from './notify.ts';
import type { Rule, Severity } from './rule-schema.ts';
import { rulesFor } from './rules.ts';
import { threatListRules } from './threat-list.ts';

export type { Alert, AlertEvent } from './alerts.ts';
export type { Finding } from './engine.ts';
export type { Rule } from './rule-schema.ts';
export { loadRules, rulesFor, parseRuleFile, RuleError, BUILTIN_RULES_DIR } from './rules.ts';
export { loadConfig } from './config.ts';
export { createNotifiers, notifierFromFlag } from './notify.ts';

const SEV = ['low', 'medium', 'high', 'critical'];
/** The view a streaming pass reads: the files that may hold its windows. */
const RECENT_VIEW = 'detect_recent';
/** Views over the files a streaming pass adds to its running aggregates (new; already loaded). */
const NEW_VIEW = 'detect_new';
const BACKFILL_VIEW = 'detect_backfill';
/** The new records of a pass, copied once into memory; up to this many files. */
const NEW_ROWS = 'detect_new_rows';
const NEW_ROWS_MAX_FILES = 64;
/** How late (seconds of record time behind the newest) records may come and still be aggregated without reading files again. */
const LATE_SLACK = 3600;
/** Running aggregates are pruned in steps of this much record time. */
const PRUNE_STEP = 3600;
const nowSec = () => Math.floor(Date.now() / 1000);

/**
 * Alerts kept in the store, newest activity first. Suppressed alerts only when asked.
 * @example await listAlerts('./flowlens.duckdb', { state: 'open', severity: 'high' })
 */
export async function listAlerts(
  db: string,
  filter: { state?: string; severity?: string; since?: number; limit?: number; rule?: string; family?: string; incident?: string; suppressed?: boolean } = {},
): Promise<Alert[]> {
  let out = await readAlerts(db);
  if (filter.state) out = out.filter((a) => a.state === filter.state);
  // A severity means "at least this severe", as alert routing reads it.
  if (filter.severity) out = out.filter((a) => SEV.indexOf(a.severity) >= SEV.indexOf(filter.severity!));
  if (filter.since !== undefined) out = out.filter((a) => a.last_seen >= filter.since!);
  if (filter.rule) out = out.filter((a) => a.rule_id === filter.rule);
  if (filter.family) out = out.filter((a) => a.family === filter.family);
  if (filter.incident) out = out.filter((a) => a.incident_id === filter.incident);
  out = out.filter((a) => (filter.suppressed ? a.suppressed !== undefined : a.suppressed === undefined));
  out.sort((a, b) => b.last_seen - a.last_seen || a.id.localeCompare(b.id));
  return filter.limit !== undefined ? out.slice(0, filter.limit) : out;
}

/**
 * Acknowledges or resolves an alert (kept across detection runs; new activity after a resolve
 * opens it again). Undefined when there is no such alert.
 * @example await setAlertState('./flowlens.duckdb', 'al-0123456789abcdef', 'resolved', 'patched')
 */
export async function setAlertState(db: string, id: string, state: 'acknowledged' | 'resolved', note?: string): Promise<Alert | undefined> {
  return updateState(db, id, state, note, nowSec());
}

export interface DetectOptions {
  db: string;
  /** A folder (or file) of YAML rules added to the built-ins (same id replaces a built-in). */
  rulesDir?: string;
  /** Only these rule ids. */
  ruleIds?: readonly string[];
  /** Inclusive unix seconds; default: everything the store holds. */
  from?: number;
  to?: number;
  /** Settings; default `--config` file or `<db>/detect.yaml`. */
  config?: DetectConfigT;
  configPath?: string;
  /** Extra notification targets (besides the config's). */
  notify?: readonly NotifierDocT[];
  /** Skip the built-in rules. */
  noBuiltins?: boolean;
}

interface Prepared {
  rules: Rule[];
  byId: Map<string, Rule>;
  config: DetectConfigT;
}

/** Rules (built-in, user, threat list) and settings for a run. */
export async function prepare(opts: Pick<DetectOptions, 'db' | 'rulesDir' | 'ruleIds' | 'config' | 'configPath' | 'noBuiltins'>): Promise<Prepared> {
  const config = opts.config ?? (await loadConfig(opts.configPath, opts.db));
  let rules = await rulesFor(opts.rulesDir, { builtins: !opts.noBuiltins });
  if (config.threatList) rules.push(...(await threatListRules(config.threatList)));
  rules = rules.filter((r) => r.enabled);
  if (opts.ruleIds?.length) {
    const known = new Set(rules.map((r) => r.id));
    const missing = opts.ruleIds.filter((id) => !known.has(id));
    if (missing.length) {
      const { UserError } = await import('../util/errors.ts');
      throw new UserError(`--rule: no rule "${missing[0]}" (run flowlens detect --list-rules)`);
    }
    rules = rules.filter((r) => opts.ruleIds!.includes(r.id));
  }
  return { rules, byId: new Map(rules.map((r) => [r.id, r])), config };
}

async function dataRange(store: Store): Promise<[number, number] | undefined> {
  const r = await store.query('SELECT min(start), max(start) FROM flows WHERE start IS NOT NULL');
  const [min, max] = r.rows[0] ?? [];
  return min === null || min === undefined ? undefined : [Number(min), Number(max)];
}

/**
 * Evaluates rules over [from, to] and stores what they found; returns the events. `recent`, a
 * view over the files holding the range's windows (streaming), serves the rules without a
 * baseline; baselines read their history from `flows`.
 */
async function detectRange(
  db: string,
  store: Store,
  p: Prepared,
  from: number,
  to: number,
  columns: readonly ColumnInfo[],
  dataStart: number,
  only?: (r: Rule) => boolean,
  recent?: string,
  sourceOf?: (r: Rule) => StatsSource | undefined,
  /** A rule's own range, instead of [from, to]. */
  rangeOf?: (r: Rule) => { from: number; to: number } | undefined,
): Promise<{ alerts: Alert[]; events: AlertEvent[] }> {
  const findings: Finding[] = [];
  const evaluated: { ruleId: string; from: number; to: number }[] = [];
  // Each rule scans the Parquet files itself. A shared in-memory copy of the range (tried) was
  // no faster, since the files' dictionary-coded strings and row-group statistics are lost in
  // the copy, and its memory grew with the range (2.5 GB for 9.6 M records).
  for (const rule of p.rules.filter((r) => !only || only(r))) {
    const own = rangeOf?.(rule) ?? { from, to };
    const [wFrom, wLast] = windowSpan(rule.window, own.from, own.to);
    try {
      const source = sourceOf?.(rule);
      findings.push(...(await evaluateRule(store, rule, { from: own.from, to: own.to, columns, dataStart, source, table: rule.baseline ? undefined : recent })));
    } catch (err) {
      // A rule reading columns this store does not have (enrichment, say) has nothing to say here.
      if (err instanceof QueryError && /unknown field/i.test(err.detail)) continue;
      throw err;
    }
    evaluated.push({ ruleId: rule.id, from: wFrom, to: wLast });
  }
  return applyFindings(db, evaluated, findings, { rules: p.byId, config: p.config, now: nowSec() });
}

async function deliver(notifiers: readonly Notifier[], events: readonly AlertEvent[]): Promise<void> {
  if (!events.length) return;
  for (const n of notifiers) await n.notify(events);
}

/**
 * Batch detection over the store (all of it, or [from, to]); persists findings and alert
 * state, notifies new alerts, and returns the alerts active in the range.
 * @example await runDetection({ db: './flowlens.duckdb', from: Date.now() / 1000 - 86400 })
 */
export async function runDetection(opts: DetectOptions & { notifyTimeoutMs?: number }): Promise<Alert[]> {
  const p = await prepare(opts);
  const store = await openStore(opts.db);
  const notifiers = createNotifiers([...p.config.notify, ...(opts.notify ?? [])], opts.db);
  try {
    const range = await dataRange(store);
    if (!range) return [];
    const from = Math.max(opts.from ?? range[0], range[0]);
    const to = Math.min(opts.to ?? range[1], range[1]);
    if (from > to) return [];
    const columns = await describeFlows(store);
    const { alerts, events } = await detectRange(opts.db, store, p, from, to, columns, range[0]);
    await deliver(notifiers, events);
    for (const n of notifiers) await n.flush(opts.notifyTimeoutMs ?? 10_000);
    return alerts.filter((a) => !a.suppressed && a.last_seen >= from && a.first_seen <= to + 600);
  } finally {
    for (const n of notifiers) await n.stop();
    await store.close();
  }
}

export interface StreamingOptions {
  db: string;
  rulesDir?: string;
  /** Only these rule ids. */
  ruleIds?: readonly string[];
  configPath?: string;
  config?: DetectConfigT;
  notifiers?: readonly NotifierDocT[];
  /** Called with each batch of alert events (after notifiers got them). */
  onEvents?: (events: AlertEvent[]) => void;
  /**
   * Called after each pass with, per commit it covered, the seconds from the commit's records
   * arriving (`receivedAt`, else the commit) to every rule having evaluated them: how late an
   * alert those records raise can be at most.
   */
  onEvaluated?: (latencies: number[]) => void;
  onError?: (err: unknown) => void;
  /**
   * How long the running aggregates keep windows behind the newest records (seconds of record
   * time, besides a baseline's history and two windows; default 3600), and in what steps they
   * are pruned (default 3600). Older late records are read back from the files.
   */
  retention?: { lateSlack?: number; pruneStep?: number };
}

/** A commit as streaming detection takes it: when its records arrived, if the caller knows. */
export type StreamCommit = CommitInfo & { receivedAt?: number };

/**
 * Detection that follows ingest: `onCommit` (ingest's hook) queues the chunk's time range and
 * returns at once; a background pass evaluates every rule on the windows the new records
 * touch, so findings appear seconds after the records. Baseline rules, whose answer depends on
 * history, run again over everything seen when the detector stops, so the final findings equal
 * a batch run's over the same data.
 * @example const d = createStreamingDetector({ db }); await ingestPaths(paths, { db, onCommit: d.onCommit }); await d.stop()
 */
export function createStreamingDetector(opts: StreamingOptions): { onCommit(info: StreamCommit): Promise<void>; stop(): Promise<void>; idle(): Promise<void>; stats: { commits: number; passes: number; records: number; alertEvents: number } } {
  const stats = { commits: 0, passes: 0, records: 0, alertEvents: 0 };
  let pending: { from: number; to: number; arrived: number[] } | undefined;
  let seen: { from: number; to: number } | undefined;
  let unknownRange = false;
  let loop: Promise<void> | undefined;
  let stopped = false;
  let ready: Promise<{ p: Prepared; store: Store; notifiers: Notifier[] }> | undefined;
  const init = () =>
    (ready ??= (async () => {
      const p = await prepare({ db: opts.db, rulesDir: opts.rulesDir, ruleIds: opts.ruleIds, config: opts.config, configPath: opts.configPath });
      const store = await openStore(opts.db, { reusePlans: true });
      return { p, store, notifiers: createNotifiers([...p.config.notify, ...(opts.notifiers ?? [])], opts.db) };
    })());

  // The store's first record start (baselines need it): read once, then lowered by commits.
  let dataStart: number | undefined;
  // Record-start range of each file the commits named: a pass reads only files that may hold
  // its windows (a file nobody told us about is read whatever it holds).
  const known = new Map<string, [number, number]>();
  /** Stored files of the days [lo, hi] touches (store-relative paths). */
  const storedFiles = async (lo: number, hi: number): Promise<string[]> => {
    const files: string[] = [];
    for (let day = Math.floor(lo / 86400); day <= Math.floor(hi / 86400); day++) {
      const part = `date=${new Date(day * 86400_000).toISOString().slice(0, 10)}`;
      for (const f of await readdir(join(opts.db, 'flows', part)).catch(() => [] as string[])) if (f.endsWith('.parquet')) files.push(`flows/${part}/${f}`);
    }
    return files;
  };
  const mayHold = (f: string, lo: number, hi: number) => {
    const k = known.get(f);
    return !k || (k[1] >= lo && k[0] <= hi);
  };
  /** Files that may hold record starts in the rules' whole windows around the range. */
  const recentFiles = async (rules: readonly Rule[], range: { from: number; to: number }): Promise<string[]> => {
    // The record starts the rules' whole windows cover: [first window start, last window end].
    const spans = rules.map((r) => {
      const [first, last] = windowSpan(r.window, range.from, range.to);
      return [first, last + r.window - 1];
    });
    const lo = Math.min(...spans.map((s) => s[0]));
    const hi = Math.max(...spans.map((s) => s[1]));
    return (await storedFiles(lo, hi)).filter((f) => mayHold(f, lo, hi));
  };

  // Rules whose measures decompose keep running aggregates (incremental.ts): every file in
  // `loaded` has added its records with starts >= the rule's coverage start to its grain table.
  let grain: GrainStore | undefined;
  let flowColumns: readonly ColumnInfo[] = [];
  const loaded = new Set<string>();
  /** How far back a rule's grain reaches behind the newest records: its history, and late records. */
  const lateSlack = opts.retention?.lateSlack ?? LATE_SLACK;
  const pruneStep = opts.retention?.pruneStep ?? PRUNE_STEP;
  const keepBehind = (r: Rule) => (r.baseline?.history ?? 0) + 2 * r.window + lateSlack;
  /**
   * Record starts each rule's grain got rows for and has not evaluated yet. Loaded rows can lie
   * past the pass's range (a file committed while the pass ran, or one nobody named, is loaded
   * at once, and the pass for its commit finds nothing new), so a rule evaluates these windows.
   */
  const owed = new Map<Rule, [number, number]>();
  const owe = (r: Rule, lo: number, hi: number) => {
    const o = owed.get(r);
    owed.set(r, o ? [Math.min(o[0], lo), Math.max(o[1], hi)] : [lo, hi]);
  };
  /** Brings the grain tables up to date; what got rows is in `owed`. */
  const updateGrain = async (store: Store, all: readonly Rule[], rules: readonly Rule[], range: { from: number; to: number }) => {
    const g = grain!;
    // What each rule must cover: the pass's first window, and a baseline's history before it.
    const need = new Map(rules.map((r) => [r, Math.floor((windowSpan(r.window, range.from, range.to)[0] - (r.baseline?.history ?? 0)) / r.window) * r.window]));
    // Back in time (late records, a first pass, a baseline's history): from the files already in.
    for (const [r, from] of need) {
      const cov = g.coveredFrom(r);
      if (from >= cov) continue;
      const back = cov === Infinity ? undefined : cov - 1;
      const files = [...loaded].filter((f) => mayHold(f, from, back ?? Infinity));
      if (files.length) {
        await store.fileView(BACKFILL_VIEW, files);
        // Late records (their windows are the range's) or history: the range is evaluated again.
        if (await g.add(r, BACKFILL_VIEW, from, back)) owe(r, range.from, range.to);
      }
      g.setCovered(r, from);
    }
    // Forward: files not loaded yet (the commits' new files, and any written by someone else),
    // into every rule that has a table, so `loaded` stays true for all of them.
    const live = all.filter((r) => g.coveredFrom(r) !== Infinity);
    const lo = Math.min(...live.map((r) => g.coveredFrom(r)));
    const fresh = (await storedFiles(lo, range.to)).filter((f) => !loaded.has(f));
    if (fresh.length) {
      // One copy of the new records in memory serves every rule's aggregation (each rule
      // decoding the same Parquet files again cost more than its own query). A first pass
      // over a store that already holds days of records reads the files instead.
      const small = fresh.length <= NEW_ROWS_MAX_FILES;
      const source = small ? NEW_ROWS : NEW_VIEW;
      if (small) await store.scratchFiles(NEW_ROWS, fresh, lo);
      else await store.fileView(NEW_VIEW, fresh);
      const [min, max] = (await store.query(`SELECT min(start), max(start) FROM ${source} WHERE start >= ${Math.floor(lo)}`)).rows[0] ?? [];
      for (const r of live) {
        const cov = g.coveredFrom(r);
        if ((await g.add(r, source, cov, undefined)) && max !== null && max !== undefined) owe(r, Math.max(cov, Number(min)), Number(max));
      }
      for (const f of fresh) loaded.add(f);
    }
  };
  const pruneGrain = async (rules: readonly Rule[]) => {
    if (!grain || !seen) return;
    for (const r of rules) {
      const keepFrom = Math.floor((seen.to - keepBehind(r)) / r.window) * r.window;
      // Rewriting the table each pass would cost more than the rows it saves.
      if (keepFrom - grain.coveredFrom(r) >= pruneStep) await grain.prune(r, keepFrom);
    }
  };

  /**
   * Evaluates the rules `select` accepts: a grain rule on the windows it owes (see `owed`), any
   * other on the range's. A pass that is not the final one skips grain rules that owe nothing:
   * every window they hold was evaluated in the pass that loaded its rows, and an empty window
   * finds nothing (most rules select a small part of the traffic, so most passes skip most of
   * them). The final pass evaluates every rule on the range and what it owes, as a baseline's
   * verdict also moves with its history and the store's start.
   */
  const pass = async (range: { from: number; to: number }, opt: { select?: (r: Rule) => boolean; final?: boolean } = {}) => {
    const { p, store, notifiers } = await init();
    flowColumns = await describeFlows(store);
    dataStart = Math.min(dataStart ?? (await dataRange(store))?.[0] ?? range.from, range.from);
    grain ??= new GrainStore(store, () => flowColumns);
    const selected = opt.select ? p.rules.filter(opt.select) : p.rules;
    const incremental = selected.filter((r) => grain!.has(r));
    if (incremental.length) await updateGrain(store, p.rules.filter((r) => grain!.has(r)), incremental, range);
    const rules = opt.final ? selected : selected.filter((r) => !grain!.has(r) || owed.has(r));
    const ranges = new Map<Rule, { from: number; to: number }>();
    for (const r of rules) {
      const o = owed.get(r);
      if (!grain.has(r)) continue;
      ranges.set(r, !o ? range : opt.final ? { from: Math.min(range.from, o[0]), to: Math.max(range.to, o[1]) } : { from: o[0], to: o[1] });
      owed.delete(r);
    }
    const chosen = new Set(rules);
    // The rest read the records: rules without a baseline a view over the files that may hold
    // their windows, baseline rules `flows`.
    const viewed = rules.filter((r) => !r.baseline && !grain!.has(r));
    if (viewed.length) await store.fileView(RECENT_VIEW, await recentFiles(viewed, range));
    const source = grain.source();
    let events: AlertEvent[];
    try {
      ({ events } = await detectRange(opts.db, store, p, range.from, range.to, flowColumns, dataStart, (r) => chosen.has(r), viewed.length ? RECENT_VIEW : undefined, (r) => (grain!.has(r) ? source : undefined), (r) => ranges.get(r)));
    } catch (err) {
      // A failed pass evaluated nothing for sure: its windows stay owed, and the next pass (or
      // the final one) evaluates them, even when no new rows come for those rules.
      for (const [r, w] of ranges) owe(r, w.from, w.to);
      throw err;
    }
    await pruneGrain(incremental);
    stats.passes++;
    stats.alertEvents += events.length;
    await deliver(notifiers, events);
    if (events.length) opts.onEvents?.(events);
  };

  const run = async () => {
    while (pending) {
      const r = pending;
      pending = undefined;
      try {
        await pass(r);
        const now = Date.now();
        opts.onEvaluated?.(r.arrived.map((t) => Math.max(0, now - t) / 1000));
      } catch (err) {
        opts.onError?.(err);
      }
    }
  };

  return {
    stats,
    async onCommit(info: StreamCommit) {
      if (stopped) return;
      stats.commits++;
      stats.records += info.records;
      if (info.minStart === undefined || info.maxStart === undefined) {
        unknownRange = true;
        return;
      }
      const r = { from: info.minStart, to: info.maxStart };
      if (info.file) known.set(info.file.split(sep).join('/'), [info.minStart, info.maxStart]);
      const arrived = info.receivedAt ?? Date.now();
      pending = pending ? { from: Math.min(pending.from, r.from), to: Math.max(pending.to, r.to), arrived: [...pending.arrived, arrived] } : { ...r, arrived: [arrived] };
      seen = seen ? { from: Math.min(seen.from, r.from), to: Math.max(seen.to, r.to) } : { ...r };
      // Evaluation runs beside ingest; commits arriving meanwhile are merged into the next pass.
      loop ??= run().finally(() => {
        loop = undefined;
      });
    },
    async idle() {
      while (loop) await loop;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      while (loop) await loop;
      if (!ready && !seen && !unknownRange) return;
      const { store, notifiers } = await init();
      try {
        if (unknownRange) {
          const d = await dataRange(store);
          if (d) await pass({ from: d[0], to: d[1] }, { final: true });
        } else if (seen) {
          await pass(seen, { select: (r) => r.baseline !== undefined, final: true });
        }
        for (const n of notifiers) await n.flush(2000);
      } catch (err) {
        opts.onError?.(err);
      } finally {
        for (const n of notifiers) await n.stop();
        await store.close();
      }
    },
  };
}

export type { Severity };
