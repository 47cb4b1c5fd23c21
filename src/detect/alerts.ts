import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inCidr, parseCidr } from '../util/ip.ts';
import type { DetectConfigT, SuppressionT } from './config.ts';
import type { Finding } from './engine.ts';
import { evidenceQuery } from './rule-query.ts';
import { SEVERITIES, type Rule, type Severity } from './rule-schema.ts';

/**
 * Alert state in the store folder, `<db>/alerts/`:
 *   findings.json   every finding (rule, key, window): the facts, replaced window by window
 *   state.json      what people did: acknowledged / resolved, notes, history
 *   alerts.jsonl    the alerts derived from both (one JSON object a line, for readers and SQL)
 * Every file is written to a temporary name and renamed, so a reader never sees half a file.
 */

export type AlertState = 'open' | 'acknowledged' | 'resolved';

export interface Alert {
  id: string;
  rule_id: string;
  family: string;
  severity: Severity;
  title: string;
  state: AlertState;
  actors: string[];
  targets: string[];
  enis: string[];
  first_seen: number;
  last_seen: number;
  count: number;
  evidence_query: string;
  incident_id?: string;
  updated_at: number;
  /** Findings (windows) merged into this alert. */
  windows: number;
  key: string;
  measures: Record<string, number>;
  /** `page` or `ticket`, from the severity routing. */
  route: 'page' | 'ticket';
  /** Why the alert is suppressed (maintenance, allow-listed scanner), when it is. */
  suppressed?: string;
  note?: string;
  [k: string]: unknown;
}

interface StateEntry {
  state: AlertState;
  note?: string;
  updated_at: number;
  /** last_seen when resolved: newer activity reopens the alert. */
  resolved_last_seen?: number;
  history: { at: number; state: AlertState; note?: string }[];
}

export const alertsDir = (db: string) => join(db, 'alerts');

async function readJson<T>(path: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw new Error(`${path}: cannot read alert state: ${(err as Error).message}`, { cause: err });
  }
}

let tmpSeq = 0;
/** Writes a file atomically: a temporary file in the same folder, then rename. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${++tmpSeq}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

const locks = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` holding the store's alert lock: one writer at a time in this process (a promise
 * chain) and across processes (a lock folder; a stale one older than 60 s is taken over).
 */
export async function withAlertLock<T>(db: string, fn: () => Promise<T>): Promise<T> {
  const dir = alertsDir(db);
  const prev = locks.get(dir) ?? Promise.resolve();
  const run = prev.then(async () => {
    await mkdir(dir, { recursive: true });
    const lock = join(dir, '.lock');
    for (let i = 0; ; i++) {
      try {
        await mkdir(lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const { mtimeMs } = await import('node:fs/promises').then((m) => m.stat(lock)).catch(() => ({ mtimeMs: Date.now() }));
        if (Date.now() - mtimeMs > 60_000 || i > 600) await rm(lock, { recursive: true, force: true });
        else await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  });
  locks.set(dir, run.catch(() => undefined));
  return run;
}

export async function readFindings(db: string): Promise<Finding[]> {
  return (await readJson<{ findings: Finding[] }>(join(alertsDir(db), 'findings.json'), { findings: [] })).findings;
}

async function readStates(db: string): Promise<Record<string, StateEntry>> {
  return readJson<Record<string, StateEntry>>(join(alertsDir(db), 'state.json'), {});
}

/**
 * Reads the derived alerts (`<db>/alerts/alerts.jsonl`).
 * @example await readAlerts('./flowlens.duckdb')
 */
export async function readAlerts(db: string): Promise<Alert[]> {
  const p = join(alertsDir(db), 'alerts.jsonl');
  if (!existsSync(p)) return [];
  const text = await readFile(p, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Alert);
}

const sevRank = (s: Severity) => SEVERITIES.indexOf(s);
const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
const uniq = (xs: Iterable<string>, cap = 50) => [...new Set(xs)].sort().slice(0, cap);

function suppressedBy(a: Pick<Alert, 'rule_id' | 'family' | 'actors' | 'targets' | 'first_seen' | 'last_seen'>, rules: readonly SuppressionT[]): string | undefined {
  for (const s of rules) {
    if (s.rules && !s.rules.includes(a.rule_id)) continue;
    if (s.families && !s.families.includes(a.family)) continue;
    const blocks = (l?: string[]) => l?.map((c) => parseCidr(c)!).filter(Boolean);
    const actors = blocks(s.actors);
    if (actors && !(a.actors.length > 0 && a.actors.every((x) => actors.some((c) => inCidr(x, c))))) continue;
    const targets = blocks(s.targets);
    if (targets && !(a.targets.length > 0 && a.targets.every((x) => targets.some((c) => inCidr(x, c))))) continue;
    if (s.from !== undefined && a.first_seen < s.from) continue;
    if (s.to !== undefined && a.last_seen > s.to) continue;
    return s.reason;
  }
  return undefined;
}

/** Links alerts that share an address and lie within `gap` seconds of each other. */
function assignIncidents(alerts: Alert[], gap: number): void {
  const parent = alerts.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  const byEntity = new Map<string, number[]>();
  alerts.forEach((a, i) => {
    for (const e of new Set([...a.actors, ...a.targets])) {
      const l = byEntity.get(e) ?? [];
      l.push(i);
      byEntity.set(e, l);
    }
  });
  for (const idx of byEntity.values()) {
    const sorted = [...idx].sort((x, y) => alerts[x].first_seen - alerts[y].first_seen);
    let reach = -Infinity;
    let head = -1;
    for (const i of sorted) {
      if (head >= 0 && alerts[i].first_seen <= reach + gap) parent[find(i)] = find(head);
      if (alerts[i].last_seen > reach || head < 0) reach = Math.max(reach, alerts[i].last_seen);
      if (head < 0) head = i;
      else head = find(head);
    }
  }
  const members = new Map<number, Alert[]>();
  alerts.forEach((a, i) => {
    const r = find(i);
    members.set(r, [...(members.get(r) ?? []), a]);
  });
  for (const group of members.values()) {
    const id = `inc-${hash(group.map((a) => a.id).sort()[0])}`;
    for (const a of group) a.incident_id = id;
  }
}

export interface DeriveContext {
  rules: ReadonlyMap<string, Rule>;
  config: DetectConfigT;
  now: number;
}

/**
 * Turns findings into alerts: same key within the dedupe window → one alert; routing,
 * suppression and incidents; people's state (acknowledged, resolved) carried over. Pure.
 */
export function deriveAlerts(findings: readonly Finding[], states: Readonly<Record<string, StateEntry>>, previous: ReadonlyMap<string, Alert>, ctx: DeriveContext): Alert[] {
  const byKey = new Map<string, Finding[]>();
  for (const f of findings) byKey.set(f.key, [...(byKey.get(f.key) ?? []), f]);
  const alerts: Alert[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.window_start - b.window_start);
    const rule = ctx.rules.get(list[0].rule_id);
    const gap = rule?.dedupe ?? ctx.config.dedupe;
    let run: Finding[] = [];
    const flush = () => {
      if (run.length) alerts.push(buildAlert(key, run, rule, states, previous, ctx));
      run = [];
    };
    for (const f of list) {
      if (run.length && f.window_start - run[run.length - 1].window_end > gap) flush();
      run.push(f);
    }
    flush();
  }
  assignIncidents(alerts, ctx.config.incidentGap);
  return alerts.sort((a, b) => a.first_seen - b.first_seen || a.id.localeCompare(b.id));
}

function buildAlert(key: string, run: Finding[], rule: Rule | undefined, states: Readonly<Record<string, StateEntry>>, previous: ReadonlyMap<string, Alert>, ctx: DeriveContext): Alert {
  const first = run[0];
  const id = `al-${hash(`${key}|${first.window_start}`)}`;
  const top = run.reduce((a, b) => (b.count > a.count ? b : a));
  const severity = run.reduce<Severity>((s, f) => (sevRank(f.severity) > sevRank(s) ? f.severity : s), first.severity);
  const measures: Record<string, number> = {};
  for (const f of run) for (const [k, v] of Object.entries(f.measures)) measures[k] = Math.max(measures[k] ?? -Infinity, v);
  const from = first.window_start;
  const to = run[run.length - 1].window_end;
  const a: Alert = {
    id,
    key,
    rule_id: first.rule_id,
    family: first.family,
    severity,
    title: top.title,
    state: 'open',
    actors: uniq(run.flatMap((f) => f.actors)),
    targets: uniq(run.flatMap((f) => f.targets)),
    enis: uniq(run.flatMap((f) => f.enis)),
    actor_count: Math.max(...run.map((f) => f.actor_count)),
    target_count: Math.max(...run.map((f) => f.target_count)),
    first_seen: Math.min(...run.map((f) => f.first_seen)),
    last_seen: Math.max(...run.map((f) => f.last_seen)),
    count: run.reduce((s, f) => s + f.count, 0),
    windows: run.length,
    measures,
    evidence_query: rule ? evidenceQuery(rule, { actor: first.actor, target: first.target }, from, to) : first.evidence_query,
    route: ctx.config.routing.page.includes(severity) ? 'page' : 'ticket',
    updated_at: ctx.now,
  };
  if (rule?.description) a.description = rule.description.trim();
  const sup = suppressedBy(a, ctx.config.suppress);
  if (sup) a.suppressed = sup;
  const st = states[id];
  if (st) {
    a.state = st.state;
    if (st.note) a.note = st.note;
    // Activity after it was resolved opens it again.
    if (st.state === 'resolved' && st.resolved_last_seen !== undefined && a.last_seen > st.resolved_last_seen) a.state = 'open';
  }
  const prev = previous.get(id);
  if (prev && sameContent(prev, a)) a.updated_at = prev.updated_at;
  else if (st && st.updated_at > a.updated_at) a.updated_at = st.updated_at;
  return a;
}

function sameContent(a: Alert, b: Alert): boolean {
  const strip = (x: Alert) => JSON.stringify({ ...x, updated_at: 0, incident_id: undefined });
  return strip(a) === strip(b);
}

/** What changed for notifiers: alerts new or opened again. */
export interface AlertEvent {
  type: 'opened' | 'reopened' | 'escalated';
  alert: Alert;
}

/**
 * Replaces the findings of the given rules in the given windows, re-derives every alert and
 * writes the three files; returns the alerts and what changed.
 */
export async function applyFindings(
  db: string,
  evaluated: { ruleId: string; from: number; to: number }[],
  fresh: readonly Finding[],
  ctx: DeriveContext,
): Promise<{ alerts: Alert[]; events: AlertEvent[] }> {
  return withAlertLock(db, async () => {
    const dir = alertsDir(db);
    const old = await readFindings(db);
    const covered = (f: Finding) => evaluated.some((e) => e.ruleId === f.rule_id && f.window_start >= e.from && f.window_start <= e.to);
    const findings = [...old.filter((f) => !covered(f)), ...fresh];
    const states = await readStates(db);
    const previous = new Map((await readAlerts(db)).map((a) => [a.id, a]));
    const alerts = deriveAlerts(findings, states, previous, ctx);
    await writeAtomic(join(dir, 'findings.json'), JSON.stringify({ version: 1, findings }) + '\n');
    await writeAtomic(join(dir, 'alerts.jsonl'), alerts.map((a) => JSON.stringify(a) + '\n').join(''));
    const events: AlertEvent[] = [];
    for (const a of alerts) {
      if (a.suppressed) continue;
      const p = previous.get(a.id);
      if (!p) events.push({ type: 'opened', alert: a });
      else if (p.state === 'resolved' && a.state === 'open') events.push({ type: 'reopened', alert: a });
      else if (sevRank(a.severity) > sevRank(p.severity)) events.push({ type: 'escalated', alert: a });
    }
    return { alerts, events };
  });
}

/**
 * Records a person's decision on an alert; undefined when there is no such alert.
 * @example await updateState('./flowlens.duckdb', 'al-0123456789abcdef', 'acknowledged', 'looking')
 */
export async function updateState(db: string, id: string, state: 'acknowledged' | 'resolved', note: string | undefined, now: number): Promise<Alert | undefined> {
  return withAlertLock(db, async () => {
    const alerts = await readAlerts(db);
    const a = alerts.find((x) => x.id === id);
    if (!a) return undefined;
    const states = await readStates(db);
    const prev = states[id] ?? { state: 'open', updated_at: now, history: [] };
    states[id] = {
      state,
      note: note ?? prev.note,
      updated_at: now,
      ...(state === 'resolved' ? { resolved_last_seen: a.last_seen } : {}),
      history: [...prev.history, { at: now, state, ...(note ? { note } : {}) }],
    };
    a.state = state;
    a.updated_at = now;
    if (note) a.note = note;
    const dir = alertsDir(db);
    await writeAtomic(join(dir, 'state.json'), JSON.stringify(states, null, 1) + '\n');
    await writeAtomic(join(dir, 'alerts.jsonl'), alerts.map((x) => JSON.stringify(x) + '\n').join(''));
    return a;
  });
}
