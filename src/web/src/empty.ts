/// <reference lib="dom" />
import type { Ctx } from './context.ts';
import { h } from './h.ts';
import { fmtTime, navigate } from './state.ts';

/** What an empty panel says: what to change, and a button to the latest data when there is some. */
export function emptyRange(ctx: Ctx, what = 'flows') {
  const filters = ['vpc', 'subnet', 'eni', 'ip', 'port', 'action'].filter((k) => ctx.route.params.get(k));
  return h(
    'div',
    null,
    h('p', null, `No ${what} between ${fmtTime(ctx.w.from)} and ${fmtTime(ctx.w.to)}${filters.length ? ` with the filters ${filters.join(', ')}` : ''}.`),
    ctx.lastEnd
      ? h('button', { className: 'link', onClick: () => navigate({ set: { range: 'custom', from: String(ctx.lastEnd! - 6 * 3600), to: String(ctx.lastEnd! + 60) } }) }, `Jump to the latest data (ends ${fmtTime(ctx.lastEnd)})`)
      : null,
    filters.length ? h('button', { className: 'link', onClick: () => navigate({ set: Object.fromEntries(filters.map((k) => [k, null])) }) }, 'Clear filters') : null,
  );
}
