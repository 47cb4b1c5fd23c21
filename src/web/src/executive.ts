/// <reference lib="dom" />
import { findings, sql, type FindingsAnswer, type Result } from './api.ts';
import { Chart } from './chart.ts';
import { deps, type Ctx } from './context.ts';
import { emptyRange } from './empty.ts';
import { h } from './h.ts';
import { kpi } from './oncall.ts';
import { Panel, useLoad } from './panel.ts';
import { Q } from './queries.ts';
import { fmtBytes, fmtNum, navigate } from './state.ts';

/** Executive: where egress (and money) goes, how many alerts this week, how much we can attribute. */
export function Executive({ ctx }: { ctx: Ctx }) {
  return h('div', { className: 'grid' }, h(Totals, { ctx }), h(Egress, { ctx }), h(AlertsThisWeek, { ctx }), h(Coverage, { ctx }));
}

function Totals({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(() => sql(Q.totals(ctx.w, ctx.route, ctx.cols)), deps(ctx));
  return h(Panel<Result>, {
    title: 'At a glance',
    subtitle: ctx.w.label,
    id: 'totals',
    wide: true,
    load,
    isEmpty: (r) => Number(r.rows[0]?.[0] ?? 0) === 0,
    empty: emptyRange(ctx),
    children: (r) => {
      const [flows, bytes, rejects, interfaces] = r.rows[0].map(Number);
      return h('div', { className: 'kpis' }, kpi('Flows', fmtNum(flows)), kpi('Bytes', fmtBytes(bytes)), kpi('Rejected flows', fmtNum(rejects), `${((rejects / Math.max(1, flows)) * 100).toFixed(1)}%`), kpi('Interfaces logging', String(interfaces)));
    },
  });
}

function Egress({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(() => sql(Q.egress(ctx.w, ctx.route, ctx.cols)), deps(ctx));
  const enriched = ctx.cols.has('cost_class');
  return h(Panel<Result>, {
    title: 'Egress by VPC and cost class',
    subtitle: enriched ? 'bytes leaving each VPC, by what they cost' : 'bytes leaving each VPC by the path AWS logged (traffic-path); cost classes appear once the store is enriched',
    id: 'egress',
    wide: true,
    load,
    isEmpty: (r) => r.rows.length === 0,
    empty: emptyRange(ctx, 'egress flows (flow-direction egress needs a v5 format)'),
    children: (r) => {
      const vpcs = [...new Set(r.rows.map((x) => String(x[0])))];
      const classes = [...new Set(r.rows.map((x) => String(x[1])))];
      const usd = r.rows.reduce((a, x) => a + (x[3] === null ? 0 : Number(x[3])), 0);
      return h(
        'div',
        null,
        enriched && usd > 0 ? h('p', { className: 'sub' }, `Estimated transfer cost in this window: $${usd.toFixed(2)}`) : null,
        h(Chart, {
          theme: ctx.theme,
          height: 300,
          testId: 'chart-egress',
          option: {
            tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => fmtBytes(Number(v ?? 0)) },
            legend: { type: 'scroll', top: 0 },
            grid: { left: 160, right: 30, top: 36, bottom: 30 },
            xAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
            yAxis: { type: 'category', data: vpcs },
            series: classes.map((c) => ({ type: 'bar' as const, name: c, stack: 'egress', data: vpcs.map((v) => Number(r.rows.find((x) => String(x[0]) === v && String(x[1]) === c)?.[2] ?? 0)) })),
          },
          onClick: (p) => p.name.startsWith('vpc-') && navigate({ set: { vpc: p.name } }),
        }),
      );
    },
  });
}

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
const SEV_COLORS: Record<string, string> = { critical: '#8e1b1b', high: '#e5484d', medium: '#f5a524', low: '#3e63dd', info: '#8b8d98' };

function AlertsThisWeek({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(() => findings({ since: '7d' }), [ctx.refresh]);
  return h(Panel<FindingsAnswer>, {
    title: 'Alerts this week',
    subtitle: 'by day first seen and severity',
    id: 'alerts-week',
    load,
    isEmpty: (d) => !d.available || d.findings.length === 0,
    empty: load.state === 'done' && !load.data.available ? h('p', null, load.data.detection ?? 'detection not available') : h('p', null, 'No alerts in the last 7 days.'),
    children: (d) => {
      const days = Array.from({ length: 7 }, (_, i) => new Date(Date.now() - (6 - i) * 86400000).toISOString().slice(0, 10));
      const dayOf = (t: string | number) => new Date(typeof t === 'number' ? (t < 1e12 ? t * 1000 : t) : Date.parse(t)).toISOString().slice(0, 10);
      const sevs = SEVERITIES.filter((s) => d.findings.some((a) => a.severity === s));
      return h(Chart, {
        theme: ctx.theme,
        height: 260,
        testId: 'chart-alerts-week',
        option: {
          tooltip: { trigger: 'axis' },
          legend: { top: 0 },
          grid: { left: 40, right: 20, top: 36, bottom: 30 },
          xAxis: { type: 'category', data: days.map((x) => x.slice(5)) },
          yAxis: { type: 'value', minInterval: 1 },
          series: sevs.map((s) => ({ type: 'bar' as const, name: s, stack: 'a', itemStyle: { color: SEV_COLORS[s] }, data: days.map((day) => d.findings.filter((a) => a.severity === s && dayOf(a.first_seen) === day).length) })),
        },
      });
    },
  });
}

function Coverage({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(() => sql(Q.coverage(ctx.w, ctx.route, ctx.cols)), deps(ctx));
  return h(Panel<Result>, {
    title: 'Coverage',
    subtitle: 'records we can attribute to an owner',
    id: 'coverage',
    load,
    isEmpty: (r) => Number(r.rows[0]?.[0] ?? 0) === 0,
    empty: emptyRange(ctx),
    children: (r) => {
      const [flows, unattributed, interfaces, gaps] = r.rows[0];
      if (unattributed === null) {
        return h(
          'div',
          null,
          h('div', { className: 'kpis' }, kpi('Attributed', '—', 'no enrichment columns in this store'), kpi('Interfaces logging', String(interfaces)), kpi('NODATA/SKIPDATA records', fmtNum(Number(gaps)))),
          h('p', { className: 'sub' }, 'Owners, VPCs and cost classes come from the enrich step at ingest; re-ingest with an inventory to see coverage here.'),
        );
      }
      const attributed = 1 - Number(unattributed) / Math.max(1, Number(flows));
      return h(
        'div',
        null,
        h(Chart, {
          theme: ctx.theme,
          height: 200,
          testId: 'chart-coverage',
          option: { series: [{ type: 'gauge', min: 0, max: 100, progress: { show: true, width: 14 }, axisLine: { lineStyle: { width: 14 } }, detail: { valueAnimation: true, formatter: '{value}%', fontSize: 24 }, data: [{ value: Math.round(attributed * 1000) / 10, name: 'attributed' }] }] },
        }),
        h('div', { className: 'kpis' }, kpi('Unattributed records', fmtNum(Number(unattributed)), `${((1 - attributed) * 100).toFixed(1)}% of ${fmtNum(Number(flows))}`), kpi('Interfaces logging', String(interfaces)), kpi('NODATA/SKIPDATA', fmtNum(Number(gaps)))),
      );
    },
  });
}
