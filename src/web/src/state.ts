/// <reference lib="dom" />
import { useEffect, useState } from 'react';

export type View = 'oncall' | 'debug' | 'executive';
export const VIEWS: { id: View; label: string }[] = [
  { id: 'oncall', label: 'On-call' },
  { id: 'debug', label: 'Debug' },
  { id: 'executive', label: 'Executive' },
];

/** Filters that carry across views (and into deep links). */
export const FILTER_KEYS = ['vpc', 'subnet', 'eni', 'ip', 'port', 'action'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];

/** Everything a deep link holds: `#/<view>?range=1h&ip=10.0.1.5&focus=10.0.1.5&theme=dark`. */
export interface Route {
  view: View;
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const m = /^#\/?([a-z]*)\??(.*)$/.exec(hash) ?? [];
  const view = (VIEWS.some((v) => v.id === m[1]) ? m[1] : 'oncall') as View;
  return { view, params: new URLSearchParams(m[2] ?? '') };
}

/** The current route; re-renders on back/forward and on `navigate`. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/**
 * Moves to a view and/or changes parameters (null removes one); filters and range are kept.
 * @example navigate({ view: 'debug', set: { focus: '10.0.1.5' } })
 */
export function navigate(change: { view?: View; set?: Record<string, string | null> }): void {
  const cur = parseHash(location.hash);
  const params = new URLSearchParams(cur.params);
  for (const [k, v] of Object.entries(change.set ?? {})) {
    if (v === null || v === '') params.delete(k);
    else params.set(k, v);
  }
  const q = params.toString();
  location.hash = `#/${change.view ?? cur.view}${q ? `?${q}` : ''}`;
}

/** Preset ranges of the time picker, in seconds. */
export const RANGES: { id: string; label: string; seconds: number }[] = [
  { id: '15m', label: 'Last 15 minutes', seconds: 900 },
  { id: '30m', label: 'Last 30 minutes', seconds: 1800 },
  { id: '1h', label: 'Last hour', seconds: 3600 },
  { id: '6h', label: 'Last 6 hours', seconds: 21600 },
  { id: '24h', label: 'Last 24 hours', seconds: 86400 },
  { id: '7d', label: 'Last 7 days', seconds: 604800 },
  { id: '30d', label: 'Last 30 days', seconds: 2592000 },
];

export interface TimeWindow {
  from: number;
  to: number;
  label: string;
}

/**
 * The time window a route selects: a preset relative to now (the default, 6 h), or the
 * explicit `from`/`to` (unix seconds) a zoom or "jump to the latest data" set.
 */
export function timeWindow(params: URLSearchParams, now = Math.floor(Date.now() / 1000)): TimeWindow {
  const from = Number(params.get('from'));
  const to = Number(params.get('to'));
  if (params.get('range') === 'custom' && from > 0 && to > from) return { from, to, label: `${fmtTime(from)} – ${fmtTime(to)}` };
  const preset = RANGES.find((r) => r.id === params.get('range')) ?? RANGES[3];
  return { from: now - preset.seconds, to: now, label: preset.label };
}

export function fmtTime(t: number): string {
  return new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16) + 'Z';
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function fmtNum(n: number): string {
  return Math.abs(n) >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : Math.abs(n) >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : String(Math.round(n * 100) / 100);
}

export function fmtAgo(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}
