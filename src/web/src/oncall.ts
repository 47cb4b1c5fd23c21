/// <reference lib="dom" />
import { findings, ingestHealth, setAlert, sql, type Alert, type FindingsAnswer, type Result } from './api.ts';
import { Chart } from './chart.ts';
import { deps, type Ctx } from './context.ts';
import { emptyRange } from './empty.ts';
import { h } from './h.ts';
import { Panel, useLoad } from './panel.ts';
import { Q } from './queries.ts';
import { fmtAgo, fmtBytes, fmtNum, fmtTime, navigate } from './state.ts';

const STATUS_TEXT: Record<string, string> = {
  ok: 'Healthy: data is fresh',
  stale: 'Stale: no new records for a while (delivery lag or a stopped pipeline)',
  degraded: 'Degraded: SKIPDATA or many quarantined lines',
  empty: 'Empty store',
};

/** On-call: is data arriving, who is being rejected, where the volume goes, what is open. */
export function OnCall({ ctx }: { ctx: Ctx }) {
  return h('div', { className: 'grid' }, h(IngestHealthPanel, { ctx }), h(TopRejects, { ctx }), h(VolumeBySubnet, { ctx }), h(OpenAlerts, { ctx }));
}

function IngestHealthPanel({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(ingestHealth, [ctx.refresh]);
  return h(Panel<Awaited<ReturnType<typeof ingestHealth>>>, {
    title: 'Ingest health',
    id: 'ingest-health',
    load,
    isEmpty: (d) => d.status === 'empty',
    empty: h('p', null, 'No data yet: run ', h('code', null, 'flowlens ingest --db <store> <files or folders>'), ', or POST flow log lines to ', h('code', null, '/ingest/lines'), ' or a Firehose stream to ', h('code', null, '/ingest/firehose'), '.'),
    children: (d) =>
      h(
        'div',
        null,
        h('div', { className: `status status-${d.status}` }, STATUS_TEXT[d.status]),
        h(
          'div',
          { className: 'kpis' },
          kpi('Records stored', fmtNum(d.store.records)),
          kpi('Latest record', d.store.last_end ? `${fmtAgo(d.store.lag_seconds)} ago` : '—', d.store.last_end ? fmtTime(d.store.last_end) : undefined),
          kpi('Last hour', fmtNum(d.store.records_last_hour), `${d.store.interfaces_last_hour} interfaces`),
          kpi('NODATA / SKIPDATA (1 h)', `${fmtNum(d.store.nodata_last_hour)} / ${fmtNum(d.store.skipdata_last_hour)}`),
          kpi('Quarantined lines', fmtNum(d.store.quarantined)),
          kpi('Live ingest', `${fmtNum(d.live.stored)} stored`, `${d.live.requests} requests · ${(d.live.success_ratio * 100).toFixed(1)}% ok · ${d.live.rejected_429} throttled`),
        ),
        d.live.last_error ? h('p', { className: 'error' }, `Last live ingest error: ${d.live.last_error}`) : null,
      ),
  });
}

export function kpi(label: string, value: string, hint?: string) {
  return h('div', { className: 'kpi', key: label }, h('div', { className: 'kpi-label' }, label), h('div', { className: 'kpi-value' }, value), hint ? h('div', { className: 'kpi-hint' }, hint) : null);
}

function TopRejects({ ctx }: { ctx: Ctx }) {
  // Always the 30 minutes ending at the window's end: the on-call question is "right now".
  const w = { from: ctx.w.to - 1800, to: ctx.w.to, label: 'last 30 minutes' };
  const [load] = useLoad(() => sql(Q.topRejectSources(w, ctx.route, ctx.cols)), deps(ctx));
  return h(Panel<Result>, {
    title: 'Top REJECT sources',
    subtitle: `30 minutes to ${fmtTime(w.to)} · click a source to debug it`,
    id: 'top-rejects',
    load,
    isEmpty: (r) => r.rows.length === 0,
    empty: emptyRange({ ...ctx, w }, 'rejected flows'),
    children: (r) =>
      h(Chart, {
        theme: ctx.theme,
        height: 280,
        testId: 'chart-top-rejects',
        option: {
          tooltip: { trigger: 'axis' },
          grid: { left: 110, right: 20, top: 10, bottom: 30 },
          xAxis: { type: 'value' },
          yAxis: { type: 'category', inverse: true, data: r.rows.map((x) => String(x[0])) },
          series: [{ type: 'bar', name: 'rejects', data: r.rows.map((x) => Number(x[1])), itemStyle: { color: '#e5484d' } }],
        },
        onClick: (p) => navigate({ view: 'debug', set: { focus: p.name } }),
      }),
  });
}

function VolumeBySubnet({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(() => sql(Q.volumeBySubnet(ctx.w, ctx.route, ctx.cols)), deps(ctx));
  return h(Panel<Result>, {
    title: 'Flow volume by subnet',
    subtitle: `${ctx.w.label} · bytes per interval, by the logging interface's subnet · click a series to filter`,
    id: 'volume-by-subnet',
    wide: true,
    load,
    isEmpty: (r) => r.rows.length === 0,
    empty: emptyRange(ctx),
    children: (r) => {
      const times = [...new Set(r.rows.map((x) => Number(x[0])))].sort((a, b) => a - b);
      const subnets = [...new Set(r.rows.map((x) => String(x[1])))];
      const idx = new Map(times.map((t, i) => [t, i]));
      const series = subnets.map((s) => {
        const data = times.map(() => 0);
        for (const x of r.rows) if (String(x[1]) === s) data[idx.get(Number(x[0]))!] = Number(x[2]);
        return { type: 'line' as const, name: s, stack: 'bytes', areaStyle: { opacity: 0.25 }, showSymbol: false, data };
      });
      return h(Chart, {
        theme: ctx.theme,
        height: 300,
        testId: 'chart-volume',
        option: {
          tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => fmtBytes(Number(v)) },
          legend: { type: 'scroll', top: 0 },
          grid: { left: 70, right: 20, top: 36, bottom: 50 },
          xAxis: { type: 'category', data: times.map((t) => fmtTime(t).slice(5)) },
          yAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
          dataZoom: [{ type: 'inside' }, { type: 'slider', height: 16, bottom: 6 }],
          series,
        },
        onClick: (p) => p.seriesName?.startsWith('subnet-') && navigate({ set: { subnet: p.seriesName } }),
      });
    },
  });
}

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'];

function OpenAlerts({ ctx }: { ctx: Ctx }) {
  const [load, reload] = useLoad(() => findings({}), [ctx.refresh]);
  const act = async (a: Alert, action: 'ack' | 'resolve') => {
    try {
      await setAlert(a.id, action);
    } finally {
      reload();
    }
  };
  return h(Panel<FindingsAnswer>, {
    title: 'Open alerts',
    id: 'open-alerts',
    wide: true,
    load,
    isEmpty: (d) => !d.available || d.findings.filter((a) => a.state !== 'resolved').length === 0,
    empty:
      load.state === 'done' && !load.data.available
        ? h('p', null, load.data.detection ?? 'detection not available')
        : h('p', null, 'No open alerts. Detection runs on every chunk live ingest commits; for stored data run ', h('code', null, 'flowlens detect --db <store>'), '.'),
    children: (d) => {
      const open = d.findings.filter((a) => a.state !== 'resolved').sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity));
      return h(
        'div',
        { className: 'table-wrap' },
        h(
          'table',
          { 'data-testid': 'alerts' },
          h('thead', null, h('tr', null, ...['severity', 'alert', 'actors', 'targets', 'last seen', 'count', 'state', ''].map((c) => h('th', { key: c }, c)))),
          h(
            'tbody',
            null,
            ...open.map((a) =>
              h(
                'tr',
                { key: a.id },
                h('td', null, h('span', { className: `sev sev-${a.severity}` }, a.severity)),
                h('td', null, h('div', null, a.title), h('div', { className: 'sub' }, `${a.family} · ${a.rule_id}`)),
                h('td', null, ...a.actors.slice(0, 3).map((x) => h('button', { key: x, className: 'link', onClick: () => navigate({ view: 'debug', set: { focus: x } }) }, x))),
                h('td', null, a.targets.slice(0, 3).join(', ')),
                h('td', null, typeof a.last_seen === 'number' ? fmtTime(a.last_seen) : String(a.last_seen)),
                h('td', { className: 'num' }, String(a.count)),
                h('td', null, a.state),
                h(
                  'td',
                  { className: 'actions' },
                  a.state === 'open' || a.state === 'new' ? h('button', { onClick: () => act(a, 'ack') }, 'Ack') : null,
                  h('button', { onClick: () => act(a, 'resolve') }, 'Resolve'),
                  h('button', { className: 'link', onClick: () => navigate({ view: 'debug', set: { q: a.evidence_query } }) }, 'Evidence'),
                ),
              ),
            ),
          ),
        ),
      );
    },
  });
}

