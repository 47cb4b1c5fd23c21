/// <reference lib="dom" />
import { useEffect, useMemo, useState } from 'react';
import { extent, schema } from './api.ts';
import type { Ctx } from './context.ts';
import { Debug } from './debug.ts';
import { Executive } from './executive.ts';
import { cx, h } from './h.ts';
import { OnCall } from './oncall.ts';
import { useLoad } from './panel.ts';
import { Columns } from './queries.ts';
import { FILTER_KEYS, RANGES, VIEWS, fmtTime, navigate, timeWindow, useRoute } from './state.ts';

/** The dashboard shell: views, time range, filters, theme; the views below it query the API. */
export function App() {
  const route = useRoute();
  const [refresh, setRefresh] = useState(0);
  const theme = route.params.get('theme') ?? document.documentElement.dataset.theme ?? 'light';
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('flowlens-theme', theme);
  }, [theme]);
  const [cols] = useLoad(schema, []);
  const [latest] = useLoad(extent, [refresh]);
  // "now" moves only when the range or refresh changes, so panels do not re-query on every render.
  const w = useMemo(() => timeWindow(route.params), [route.params.get('range'), route.params.get('from'), route.params.get('to'), refresh]);
  const lastEnd = latest.state === 'done' ? latest.data.last_end : null;
  const records = latest.state === 'done' ? latest.data.records : undefined;

  let body;
  if (cols.state === 'error') body = h('div', { className: 'error page' }, `Cannot reach the flowlens API: ${cols.error}`);
  else if (cols.state === 'loading' || latest.state === 'loading') body = h('div', { className: 'skeleton page' }, 'loading…');
  else if (records === 0)
    body = h(
      'div',
      { className: 'empty page', 'data-testid': 'empty-store' },
      h('h2', null, 'No data in this store yet'),
      h('p', null, 'Ingest flow logs, then refresh:'),
      h('pre', null, 'npx flowlens ingest --db <this store> ./AWSLogs/\n# or try it with emulated logs:\nnpx flowlens emulate --scenario all --duration 1h --out ./bucket\nnpx flowlens ingest --db <this store> ./bucket'),
      h('p', null, 'Live sources can POST to ', h('code', null, '/ingest/lines'), ' (text) or ', h('code', null, '/ingest/firehose'), ' (an Amazon Data Firehose HTTP endpoint).'),
    );
  else {
    const ctx: Ctx = { route, w, cols: new Columns(cols.data.columns.map((c) => c.name), cols.data.rollups), theme, lastEnd, refresh };
    body = route.view === 'debug' ? h(Debug, { ctx }) : route.view === 'executive' ? h(Executive, { ctx }) : h(OnCall, { ctx });
  }

  return h(
    'div',
    { className: 'app' },
    h(
      'header',
      { className: 'top' },
      h('div', { className: 'brand' }, 'flowlens'),
      h('nav', null, ...VIEWS.map((v) => h('a', { key: v.id, href: `#/${v.id}${route.params.toString() ? `?${route.params}` : ''}`, className: cx(route.view === v.id && 'active'), 'data-view': v.id }, v.label))),
      h(
        'div',
        { className: 'controls' },
        h(
          'select',
          {
            'aria-label': 'time range',
            'data-testid': 'range',
            value: route.params.get('range') === 'custom' ? 'custom' : (route.params.get('range') ?? '6h'),
            onChange: (e: { target: HTMLSelectElement }) => navigate({ set: { range: e.target.value, from: null, to: null } }),
          },
          ...RANGES.map((r) => h('option', { key: r.id, value: r.id }, r.label)),
          route.params.get('range') === 'custom' ? h('option', { value: 'custom' }, w.label) : null,
        ),
        lastEnd ? h('button', { className: 'link', title: `latest record ends ${fmtTime(lastEnd)}`, onClick: () => navigate({ set: { range: 'custom', from: String(lastEnd - 6 * 3600), to: String(lastEnd + 60) } }) }, 'Latest data') : null,
        h('button', { onClick: () => setRefresh((x) => x + 1), title: 'run every panel again' }, 'Refresh'),
        h('button', { onClick: () => navigate({ set: { theme: theme === 'dark' ? 'light' : 'dark' } }), 'data-testid': 'theme', title: 'dark / light' }, theme === 'dark' ? '☀ Light' : '☾ Dark'),
      ),
    ),
    h(FilterBar, { params: route.params }),
    h('main', null, body),
  );
}

const FILTER_LABELS: Record<string, string> = { vpc: 'VPC', subnet: 'subnet', eni: 'interface', ip: 'IP', port: 'port', action: 'action' };

/** Filters carried across views: shown as chips, added by clicks in panels or here. */
function FilterBar({ params }: { params: URLSearchParams }) {
  const [key, setKey] = useState<string>('ip');
  const [value, setValue] = useState('');
  const active = FILTER_KEYS.filter((k) => params.get(k));
  return h(
    'div',
    { className: 'filters' },
    h('span', { className: 'sub' }, 'Filters:'),
    ...active.map((k) => h('span', { key: k, className: 'chip', 'data-filter': k }, `${FILTER_LABELS[k]} = ${params.get(k)}`, h('button', { 'aria-label': `remove ${k}`, onClick: () => navigate({ set: { [k]: null } }) }, '×'))),
    active.length === 0 ? h('span', { className: 'sub' }, 'none') : null,
    h(
      'form',
      { onSubmit: (e: Event) => (e.preventDefault(), value.trim() && navigate({ set: { [key]: value.trim() } }), setValue('')) },
      h('select', { value: key, onChange: (e: { target: HTMLSelectElement }) => setKey(e.target.value), 'aria-label': 'filter field' }, ...FILTER_KEYS.map((k) => h('option', { key: k, value: k }, FILTER_LABELS[k]))),
      h('input', { value, placeholder: key === 'action' ? 'ACCEPT or REJECT' : 'value', onChange: (e: { target: HTMLInputElement }) => setValue(e.target.value), 'aria-label': 'filter value' }),
      h('button', { type: 'submit' }, 'Add'),
    ),
  );
}
