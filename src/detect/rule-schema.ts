import { z } from 'zod';

/**
 * A detection rule as users write it in YAML (one rule per file, or a list under `rules:`).
 * The rule selects records with a Logs Insights query, groups them per tumbling window by an
 * actor (and a target), aggregates measures, and fires when a threshold over the measures
 * holds, optionally compared against a learned baseline.
 */

const DURATION_RE = /^(\d+)\s*(s|m|h|d|w)$/;
const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `10m`, `1h`, `7d` (or a number of seconds) as seconds. */
export function durationSeconds(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = DURATION_RE.exec(v.trim());
  if (!m) throw new Error(`expected a duration such as 10m, 1h or 7d, got "${v}"`);
  return Number(m[1]) * UNIT[m[2]];
}

const Duration = z
  .union([z.number().int().positive(), z.string().regex(DURATION_RE, 'expected a duration such as 10m, 1h or 7d')])
  .transform((v) => durationSeconds(v));

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Where the records come from, relative to private (RFC 1918 / ULA) address space. */
export const SCOPES = ['inbound', 'outbound', 'internal', 'any'] as const;

const Name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a name of letters, digits and _');

export const Baseline = z.strictObject({
  /**
   * `seasonal`: the measure is compared with its mean and spread in earlier windows (the same
   * hour of day when there is enough history). `novel`: the group (actor, target) must not
   * appear in any earlier window of the history.
   */
  kind: z.enum(['seasonal', 'novel']),
  /** For `seasonal`: the measure to compare. */
  measure: Name.optional(),
  /** How far back the baseline looks. */
  history: Duration.default(7 * 86400),
  /** No finding until the store holds at least this much history before the window. */
  minHistory: Duration.default(3600),
  seasonality: z.enum(['hour-of-day', 'none']).default('hour-of-day'),
  /** For `seasonal`: `up` fires on a rise (volume), `down` on a fall to below mean / factor (a source going quiet). */
  direction: z.enum(['up', 'down']).default('up'),
  /** For `seasonal`: fire when the value exceeds factor × the mean ... */
  factor: z.number().positive().default(3),
  /** ... and the mean plus this many standard deviations. */
  sigmas: z.number().nonnegative().default(3),
});
export type BaselineT = z.output<typeof Baseline>;

export const RuleDoc = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lower-case id such as ssh-brute-force-inbound'),
  family: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lower-case family such as brute-force'),
  severity: z.enum(SEVERITIES),
  /** Title template: {actor}, {target}, {window} and measure names in braces are replaced. */
  title: z.string().min(1),
  description: z.string().default(''),
  enabled: z.boolean().default(true),
  scope: z.enum(SCOPES).default('any'),
  /** Logs Insights commands that select the records (filter, fields, parse; no stats). */
  query: z.string().min(1),
  /** Tumbling window the records are grouped by. */
  window: Duration.default(600),
  /** Insights expression naming who did it (an address). */
  actor: z.string().min(1),
  /** Insights expression naming who it was done to. */
  target: z.string().min(1).optional(),
  /** Group by the actor alone, or by actor and target (default when a target is given). */
  groupBy: z.array(z.enum(['actor', 'target'])).min(1).optional(),
  /** Named Insights aggregations, e.g. `ports: count_distinct(dstPort)`. */
  measures: z.record(Name, z.string().min(1)).default({}),
  /** Insights boolean expression over the measures (and `records`), e.g. `ports >= 100`. */
  threshold: z.string().min(1),
  baseline: Baseline.optional(),
  /** Same-key findings closer than this merge into one alert. */
  dedupe: Duration.optional(),
  tags: z.array(z.string()).default([]),
});
export type RuleDocIn = z.input<typeof RuleDoc>;
export type Rule = z.output<typeof RuleDoc> & { source: string };

export const RuleFile = z.union([RuleDoc, z.strictObject({ rules: z.array(RuleDoc) })]);
