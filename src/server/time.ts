import { parseSince, parseTime } from '../query/index.ts';
import { HttpError } from './errors.ts';

/**
 * The time range of an API request: `since` (30m, 6h, 7d) or `from`/`to` (unix seconds or ms,
 * or ISO 8601); all time when none is given.
 * @example requestRange({since: '1h'}, 7200) // {from: 3600, to: 7200}
 */
export function requestRange(body: { from?: unknown; to?: unknown; since?: unknown }, now = Math.floor(Date.now() / 1000)): { from?: number; to?: number } {
  if (body.since !== undefined && body.since !== null && body.since !== '') {
    if (body.from !== undefined || body.to !== undefined) throw new HttpError(400, 'give either since or from/to, not both');
    return { from: now - parseSince(String(body.since)), to: now };
  }
  const one = (v: unknown, name: string) => {
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'number' && typeof v !== 'string') throw new HttpError(400, `${name}: expected unix seconds or an ISO 8601 time`);
    return parseTime(String(v), name);
  };
  const from = one(body.from, 'from');
  const to = one(body.to, 'to');
  if (from !== undefined && to !== undefined && from > to) throw new HttpError(400, 'from is after to');
  return { from, to };
}
