import { UserError } from '../util/errors.ts';
import type { TimeRange } from './compiler.ts';

const SINCE_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * Reads a time given on the command line: unix seconds, unix milliseconds (13+ digits) or an
 * ISO 8601 date/time (UTC unless it says otherwise).
 * @example parseTime('2024-05-01T00:00:00Z') // 1714521600
 */
export function parseTime(text: string, flag = '--from'): number {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    return Math.floor(Math.abs(n) >= 1e12 ? n / 1000 : n);
  }
  // A bare date or a date-time without a zone means UTC, not the machine's zone.
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00:00Z` : /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(t) ? `${t.replace(' ', 'T')}Z` : t;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(iso) ? Date.parse(iso) : NaN;
  if (Number.isNaN(ms)) throw new UserError(`${flag}: expected an ISO date/time (2024-05-01T12:00:00Z) or unix seconds, got "${text}"`);
  return Math.floor(ms / 1000);
}

/**
 * Parses a `--since` duration such as 30m, 6h or 7d into seconds.
 * @example parseSince('6h') // 21600
 */
export function parseSince(text: string): number {
  const m = /^\s*(\d+)\s*([smhdw])\s*$/i.exec(text);
  if (!m) throw new UserError(`--since: expected a duration such as 30m, 6h or 7d, got "${text}"`);
  return Number(m[1]) * SINCE_UNITS[m[2].toLowerCase()];
}

/**
 * The range the command-line options select; all time when none is given.
 * @example timeRange({since: '1h'}, 7200) // {from: 3600, to: 7200}
 */
export function timeRange(opts: { since?: string; from?: string; to?: string }, nowSeconds = Math.floor(Date.now() / 1000)): TimeRange {
  if (opts.since !== undefined && (opts.from !== undefined || opts.to !== undefined)) {
    throw new UserError('give either --since or --from/--to, not both');
  }
  if (opts.since !== undefined) return { from: nowSeconds - parseSince(opts.since), to: nowSeconds };
  const from = opts.from === undefined ? undefined : parseTime(opts.from, '--from');
  const to = opts.to === undefined ? undefined : parseTime(opts.to, '--to');
  if (from !== undefined && to !== undefined && from > to) throw new UserError('--from is after --to');
  return { from, to };
}
