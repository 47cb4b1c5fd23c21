import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseCidr } from '../util/ip.ts';
import { UserError } from '../util/errors.ts';
import { SEVERITIES, durationSeconds } from './rule-schema.ts';

/**
 * Detection settings (`--config FILE`, else `<db>/detect.yaml` when present): alert dedupe and
 * grouping, suppression windows, severity routing, the threat list, notification targets.
 */

const Duration = z.union([z.number().int().positive(), z.string().regex(/^\d+\s*[smhdw]$/, 'expected a duration such as 30m or 1h')]).transform((v) => durationSeconds(v));
const Cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'expected an address or CIDR block');
const Time = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const t = typeof v === 'number' ? v : Date.parse(/Z|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`) / 1000;
  if (!Number.isFinite(t)) ctx.addIssue({ code: 'custom', message: 'expected an ISO 8601 time or unix seconds' });
  return Math.floor(t);
});

export const Suppression = z.strictObject({
  /** Why (shown on suppressed alerts). */
  reason: z.string().min(1),
  rules: z.array(z.string()).optional(),
  families: z.array(z.string()).optional(),
  /** Alerts whose actors all fall in these blocks (allow-listed scanners, say). */
  actors: z.array(Cidr).optional(),
  targets: z.array(Cidr).optional(),
  /** A maintenance window: alerts whose activity lies within it. */
  from: Time.optional(),
  to: Time.optional(),
});
export type SuppressionT = z.output<typeof Suppression>;

const NotifierBase = {
  name: z.string().optional(),
  /** Only alerts at or above this severity. */
  minSeverity: z.enum(SEVERITIES).optional(),
  /** Only alerts routed here (`page` or `ticket`). */
  route: z.enum(['page', 'ticket']).optional(),
};
export const NotifierDoc = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('stdout'), ...NotifierBase }),
  z.strictObject({ type: z.literal('file'), path: z.string().min(1), ...NotifierBase }),
  z.strictObject({
    type: z.literal('webhook'),
    url: z.url(),
    headers: z.record(z.string(), z.string()).default({}),
    timeoutMs: z.number().int().positive().default(5000),
    maxAttempts: z.number().int().positive().default(12),
    ...NotifierBase,
  }),
  z.strictObject({
    type: z.literal('slack'),
    url: z.url(),
    timeoutMs: z.number().int().positive().default(5000),
    maxAttempts: z.number().int().positive().default(12),
    ...NotifierBase,
  }),
]);
export type NotifierDocT = z.output<typeof NotifierDoc>;

export const DetectConfig = z.strictObject({
  /** Findings of the same rule and key closer than this become one alert. */
  dedupe: Duration.default(3600),
  /** Alerts sharing an address and closer than this become one incident. */
  incidentGap: Duration.default(3600),
  routing: z
    .strictObject({
      page: z.array(z.enum(SEVERITIES)).default(['critical', 'high']),
      ticket: z.array(z.enum(SEVERITIES)).default(['medium', 'low']),
    })
    .prefault({}),
  suppress: z.array(Suppression).default([]),
  /** A file of malicious addresses / CIDR blocks (one per line, # comments). */
  threatList: z.string().optional(),
  notify: z.array(NotifierDoc).default([]),
});
export type DetectConfigT = z.output<typeof DetectConfig>;

/**
 * Reads and checks a detection config; errors name the file, line and column.
 * @example await loadConfig('./detect.yaml')
 */
export async function loadConfig(path: string | undefined, db?: string): Promise<DetectConfigT & { path?: string }> {
  const file = path ?? (db && existsSync(join(db, 'detect.yaml')) ? join(db, 'detect.yaml') : undefined);
  if (!file) return DetectConfig.parse({});
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new UserError(`--config ${file}: ${(err as Error).message}`, { cause: err });
  });
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const pos = (off: number) => {
    const p = lc.linePos(off);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length) throw new UserError(`${pos(doc.errors[0].pos[0])}: YAML: ${doc.errors[0].message.split('\n')[0]}`);
  const r = DetectConfig.safeParse(doc.toJS() ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    const node = doc.getIn(i.path as (string | number)[], true) as { range?: [number, number, number] } | undefined;
    const msg = i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message;
    throw new UserError(`${pos(node?.range?.[0] ?? 0)}: ${i.path.join('.') || 'config'}: ${msg}`);
  }
  return { ...r.data, path: file };
}
