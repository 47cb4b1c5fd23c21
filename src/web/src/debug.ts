/// <reference lib="dom" />
import { useEffect, useRef, useState } from 'react';
import { explain, insights, saveQuery, savedQueries, sql, type Explanation, type Result } from './api.ts';
import { Chart } from './chart.ts';
import { deps, type Ctx } from './context.ts';
import { emptyRange } from './empty.ts';
import { h } from './h.ts';
import { Panel, Table, useLoad } from './panel.ts';
import { Q, ownerExpr, protoName } from './queries.ts';
import { fmtBytes, fmtTime, navigate } from './state.ts';

/** Debug: who talks most, one address's timeline, where traffic goes, and a query editor. */
export function Debug({ ctx }: { ctx: Ctx }) {
  const focus = ctx.route.params.get('focus');
  return h(
    'div',
    { className: 'grid' },
    h(TopTalkers, { ctx }),
    h(TopPorts, { ctx }),
    h(TopOwners, { ctx }),
    focus ? h(Timeline, { ctx, focus, key: focus }) : h(TimelinePicker, null),
    h(SankeyPanel, { ctx }),
    h(Editor, { ctx }),
  );
}

const fmtCell = (col: string, v: unknown) => (v === null || v === undefined ? '—' : col === 'bytes' ? fmtBytes(Number(v)) : col === 'protocol' ? protoName(v) : col === 'start' ? fmtTime(Number(v)) : String(v));

function TopTalkers({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(() => sql(Q.topTalkersIp(ctx.w, ctx.route, ctx.cols)), deps(ctx));
  return h(Panel<Result>, {
    title: 'Top talkers by IP',
    subtitle: 'bytes sent · click a row for its timeline',
    id: 'top-talkers',
    load,
    isEmpty: (r) => r.rows.length === 0,
    empty: emptyRange(ctx),
    children: (r) => h(Table, { columns: r.columns, rows: r.rows, format: fmtCell, testId: 'top-talkers', onRow: (row) => openTimeline(String(row[0])) }),
  });
}

function openTimeline(focus: string) {
  navigate({ set: { focus } });
  // The timeline panel sits below the fold on small screens.
  requestAnimationFrame(() => document.querySelector('[data-panel="timeline"]')?.scrollIntoView({ behavior: 'smooth', block: 'start' }));
}

function TopPorts({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(() => sql(Q.topPorts(ctx.w, ctx.route, ctx.cols)), deps(ctx));
  return h(Panel<Result>, {
    title: 'Top service ports',
    subtitle: 'by flows (the service side of each connection) · click to filter every view by the port',
    id: 'top-ports',
    load,
    isEmpty: (r) => r.rows.length === 0,
    empty: emptyRange(ctx),
    children: (r) => h(Table, { columns: r.columns, rows: r.rows, format: fmtCell, onRow: (row) => navigate({ set: { port: String(row[0]) } }) }),
  });
}

function TopOwners({ ctx }: { ctx: Ctx }) {
  const owner = ownerExpr(ctx.cols);
  const [load] = useLoad(() => sql(Q.topOwners(ctx.w, ctx.route, ctx.cols)), deps(ctx));
  return h(Panel<Result>, {
    title: 'Top talkers by owner',
    subtitle: `bytes by ${owner.label}`,
    id: 'top-owners',
    load,
    isEmpty: (r) => r.rows.length === 0,
    empty: emptyRange(ctx),
    children: (r) =>
      h(Chart, {
        theme: ctx.theme,
        height: 280,
        option: {
          tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => fmtBytes(Number(v)) },
          grid: { left: 150, right: 20, top: 10, bottom: 30 },
          xAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
          yAxis: { type: 'category', inverse: true, data: r.rows.map((x) => String(x[0])) },
          series: [{ type: 'bar', name: 'bytes', data: r.rows.map((x) => Number(x[1])) }],
        },
      }),
  });
}

function TimelinePicker() {
  const [text, setText] = useState('');
  return h(
    'section',
    { className: 'panel', 'data-panel': 'timeline' },
    h('header', null, h('h2', null, 'Flow timeline')),
    h(
      'form',
      { className: 'empty', onSubmit: (e: Event) => (e.preventDefault(), text.trim() && openTimeline(text.trim())) },
      h('p', null, 'Pick a row in Top talkers, or type an IP address or an interface id (eni-…):'),
      h('input', { value: text, placeholder: '10.0.1.10 or eni-0a1b2c3d', onChange: (e: { target: HTMLInputElement }) => setText(e.target.value), 'aria-label': 'IP or ENI' }),
      h('button', { type: 'submit' }, 'Show timeline'),
    ),
  );
}

function Timeline({ ctx, focus }: { ctx: Ctx; focus: string }) {
  const [why, setWhy] = useState<unknown[] | null>(null);
  const [load] = useLoad(async () => {
    const series = await sql(Q.timeline(ctx.w, ctx.route, ctx.cols, focus));
    const flows = await sql(Q.timelineFlows(ctx.w, ctx.route, ctx.cols, focus));
    return { series, flows };
  }, [...deps(ctx), focus]);
  return h(Panel<{ series: Result; flows: Result }>, {
    title: `Flow timeline: ${focus}`,
    subtitle: `${focus.startsWith('eni-') ? 'records of this interface' : 'flows from or to this address'} · ${ctx.w.label}`,
    id: 'timeline',
    wide: true,
    load,
    tools: h('button', { className: 'link', onClick: () => navigate({ set: { focus: null } }) }, 'close'),
    isEmpty: (d) => d.series.rows.length === 0,
    empty: emptyRange(ctx, `flows of ${focus}`),
    children: (d) =>
      h(
        'div',
        null,
        h(Chart, {
          theme: ctx.theme,
          height: 220,
          testId: 'chart-timeline',
          option: {
            tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => fmtBytes(Number(v ?? 0)) },
            legend: { top: 0 },
            grid: { left: 70, right: 20, top: 30, bottom: 30 },
            xAxis: { type: 'category', data: d.series.rows.map((x) => fmtTime(Number(x[0])).slice(5)) },
            yAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
            series: [
              { type: 'bar', name: 'accepted bytes', stack: 'b', data: d.series.rows.map((x) => Number(x[1] ?? 0)), itemStyle: { color: '#30a46c' } },
              { type: 'bar', name: 'rejected bytes', stack: 'b', data: d.series.rows.map((x) => Number(x[2] ?? 0)), itemStyle: { color: '#e5484d' } },
            ],
          },
        }),
        h(Why, { columns: d.flows.columns, row: why }),
        h(Table, { columns: d.flows.columns, rows: d.flows.rows, format: fmtCell, testId: 'timeline-flows', max: 100, onRow: setWhy }),
      ),
  });
}

/** The policy engine's answer for one flow of the timeline: which layer and rule decided it. */
function Why({ columns, row }: { columns: string[]; row: unknown[] | null }) {
  const [state, setState] = useState<{ e?: Explanation; error?: string }>({});
  const at = (name: string) => (row ? row[columns.indexOf(name)] : undefined);
  const num = (v: unknown) => (v === null || v === undefined ? undefined : Number(v));
  useEffect(() => {
    if (!row) return;
    setState({});
    let live = true;
    explain({ src: String(at('srcaddr')), dst: String(at('dstaddr')), port: num(at('dstport')), srcPort: num(at('srcport')), protocol: num(at('protocol')) })
      .then((e) => live && setState({ e }))
      .catch((err: unknown) => live && setState({ error: err instanceof Error ? err.message : String(err) }));
    return () => {
      live = false;
    };
  }, [row]);
  if (!row) return h('p', { className: 'hint' }, 'Click a flow to see which security group, network ACL or route decides it.');
  if (state.error) return h('div', { className: 'why error', 'data-testid': 'why' }, `explain: ${state.error}`);
  if (!state.e) return h('div', { className: 'why loading', 'data-testid': 'why' }, 'asking the policy engine…');
  const e = state.e;
  const rules = e.steps.flatMap((s) => s.checks.map((c) => `${s.leg} · ${s.name ?? s.eni} ${s.direction} · ${c.layer} ${c.action} ${c.ruleId}`));
  return h(
    'div',
    { className: `why ${e.verdict === 'REJECT' ? 'reject' : 'accept'}`, 'data-testid': 'why' },
    h('strong', null, e.verdict),
    ' ',
    e.summary,
    h('ul', null, ...rules.map((r, i) => h('li', { key: i }, r))),
    h('p', { className: 'hint' }, 'From the policy engine over the server topology (serve --topology); a record of another VPC is judged as seen from outside it.'),
  );
}

function SankeyPanel({ ctx }: { ctx: Ctx }) {
  const [load] = useLoad(() => sql(Q.sankey(ctx.w, ctx.route, ctx.cols)), deps(ctx));
  return h(Panel<Result>, {
    title: 'Source → destination port → destination',
    subtitle: 'client → service port → server, top 25 by bytes · click an address for its timeline',
    id: 'sankey',
    wide: true,
    load,
    isEmpty: (r) => r.rows.length === 0,
    empty: emptyRange(ctx),
    children: (r) => {
      // Node names must be unique across the three columns, so each carries its role.
      const nodes = new Set<string>();
      const links = new Map<string, number>();
      const add = (a: string, b: string, v: number) => links.set(`${a}\u0000${b}`, (links.get(`${a}\u0000${b}`) ?? 0) + v);
      for (const [src, port, proto, dst, bytes] of r.rows) {
        const s = `${src}`;
        const p = `:${port}/${protoName(proto)}`;
        const d = `→ ${dst}`;
        nodes.add(s).add(p).add(d);
        add(s, p, Number(bytes));
        add(p, d, Number(bytes));
      }
      return h(Chart, {
        theme: ctx.theme,
        height: 420,
        testId: 'chart-sankey',
        option: {
          tooltip: { trigger: 'item', valueFormatter: (v: unknown) => fmtBytes(Number(v)) },
          series: [
            {
              type: 'sankey',
              left: 10,
              right: 120,
              emphasis: { focus: 'adjacency' },
              nodeAlign: 'justify',
              data: [...nodes].map((name) => ({ name })),
              links: [...links].map(([k, value]) => {
                const [source, target] = k.split('\u0000');
                return { source, target, value };
              }),
              lineStyle: { color: 'gradient', curveness: 0.5, opacity: 0.35 },
            },
          ],
        },
        onClick: (p) => {
          if (/^\d|^[0-9a-f:]+$/i.test(p.name)) openTimeline(p.name);
          else if (p.name.startsWith('→ ')) openTimeline(p.name.slice(2));
        },
      });
    },
  });
}

const DEFAULT_QUERY = 'filter action="REJECT" | stats count(*) as rejects by srcAddr, dstPort | sort rejects desc | limit 20';

/** The Logs Insights editor (SQL too): run with the button or Ctrl+Enter, table or chart. */
function Editor({ ctx }: { ctx: Ctx }) {
  const initial = ctx.route.params.get('q') ?? DEFAULT_QUERY;
  const [text, setText] = useState(initial);
  const [lang, setLang] = useState<'insights' | 'sql'>(/^\s*(select|with)\b/i.test(initial) ? 'sql' : 'insights');
  const [asChart, setAsChart] = useState(false);
  const [run, setRun] = useState<{ text: string; lang: string; n: number } | undefined>(ctx.route.params.get('q') ? { text: initial, lang: /^\s*(select|with)\b/i.test(initial) ? 'sql' : 'insights', n: 0 } : undefined);
  const [saved] = useLoad(savedQueries, []);
  const [note, setNote] = useState('');
  const area = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const q = ctx.route.params.get('q');
    if (q && q !== text) {
      setText(q);
      const l = /^\s*(select|with)\b/i.test(q) ? 'sql' : 'insights';
      setLang(l);
      setRun({ text: q, lang: l, n: Date.now() });
    }
  }, [ctx.route.params.get('q')]);
  const [load] = useLoad<Result | undefined>(
    () => (run ? (run.lang === 'sql' ? sql(run.text) : insights(run.text, ctx.w.from, ctx.w.to)) : Promise.resolve(undefined)),
    [run?.n, run?.text, ctx.w.from, ctx.w.to, ctx.refresh],
  );
  const go = () => {
    setRun({ text, lang, n: Date.now() });
    navigate({ set: { q: text } });
  };
  const save = async () => {
    const name = prompt('Save this Logs Insights query as (letters, digits, . _ -):');
    if (!name) return;
    try {
      await saveQuery(name, text);
      setNote(`saved as ${name}`);
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  const editor = h(
    'div',
    { className: 'editor' },
    h('textarea', {
      ref: area,
      value: text,
      spellCheck: false,
      rows: 4,
      'aria-label': 'query',
      'data-testid': 'query-input',
      onChange: (e: { target: HTMLTextAreaElement }) => setText(e.target.value),
      onKeyDown: (e: KeyboardEvent) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          go();
        }
      },
    }),
    h(
      'div',
      { className: 'editor-bar' },
      h('button', { className: 'primary', onClick: go, 'data-testid': 'run-query' }, 'Run (Ctrl+Enter)'),
      h('select', { value: lang, onChange: (e: { target: HTMLSelectElement }) => setLang(e.target.value as 'insights' | 'sql'), 'aria-label': 'language' }, h('option', { value: 'insights' }, 'Logs Insights'), h('option', { value: 'sql' }, 'SQL')),
      h(
        'select',
        {
          value: '',
          'aria-label': 'saved queries',
          onChange: (e: { target: HTMLSelectElement }) => {
            const q = saved.state === 'done' ? saved.data.queries.find((x) => x.name === e.target.value) : undefined;
            if (q) {
              setText(q.query);
              setLang('insights');
            }
          },
        },
        h('option', { value: '' }, 'Saved queries…'),
        ...(saved.state === 'done' ? saved.data.queries.map((q) => h('option', { key: q.name, value: q.name, title: q.description }, q.name)) : []),
      ),
      lang === 'insights' ? h('button', { onClick: save }, 'Save…') : null,
      note ? h('span', { className: 'sub' }, note) : null,
    ),
  );
  let result;
  if (load.state === 'loading') result = h('div', { className: 'skeleton', 'aria-busy': 'true' }, h('span', null, 'running…'));
  else if (load.state === 'error') result = h('div', { className: 'error', 'data-testid': 'query-error' }, load.caret ? h('pre', null, load.caret) : load.error);
  else if (load.data === undefined) result = h('p', { className: 'sub' }, 'Type a query and run it. Fields: srcAddr, dstAddr, srcPort, dstPort, protocol, action, bytes, packets, interfaceId, logStatus, @timestamp …');
  else if (load.data.rows.length === 0) result = h('p', { className: 'empty', 'data-testid': 'query-result' }, 'The query ran and matched nothing in this time range.');
  else {
    const r = load.data;
    result = h('div', { 'data-testid': 'query-result' }, asChart ? resultChart(r, ctx.theme) : h(Table, { columns: r.columns, rows: r.rows, format: fmtCell, testId: 'result-table' }), r.truncated ? h('p', { className: 'sub' }, "Showing the first rows only (the server's row limit).") : null);
  }
  return h(
    'section',
    { className: 'panel wide', 'data-panel': 'editor', 'data-state': load.state },
    h(
      'header',
      null,
      h('div', null, h('h2', null, 'Logs Insights'), h('p', { className: 'sub' }, lang === 'sql' ? 'read-only SQL over flows, vpc_flow_logs, quarantine' : `CloudWatch Logs Insights language · ${ctx.w.label}`)),
      h(
        'div',
        { className: 'tools' },
        h('div', { className: 'seg' }, h('button', { className: asChart ? '' : 'on', onClick: () => setAsChart(false) }, 'Table'), h('button', { className: asChart ? 'on' : '', onClick: () => setAsChart(true), 'data-testid': 'as-chart' }, 'Chart')),
        load.state === 'done' && load.data ? h('span', { className: 'ms' }, `${load.ms} ms`) : null,
      ),
    ),
    editor,
    result,
  );
}

/** A chart of a result: a time series when the first column is a time bin, else bars by the first column. */
function resultChart(r: Result, theme: string) {
  const numeric = r.columns.map((_, i) => r.rows.every((row) => row[i] === null || typeof row[i] === 'number'));
  const valueCols = r.columns.map((c, i) => ({ c, i })).filter((x) => numeric[x.i] && x.i > 0);
  const isTime = /^(t|time|bin|@timestamp)|bin\(/i.test(r.columns[0]) || r.rows.every((row) => typeof row[0] === 'string' && /^\d{4}-\d{2}-\d{2}/.test(String(row[0])));
  const labels = r.rows.map((row) => r.columns.slice(0, Math.max(1, r.columns.length - valueCols.length)).map((_, i) => String(row[i])).join(' '));
  return h(Chart, {
    theme,
    height: 320,
    testId: 'result-chart',
    option: {
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      grid: { left: 70, right: 20, top: 30, bottom: 60 },
      xAxis: { type: 'category', data: labels, axisLabel: { rotate: isTime ? 0 : 30 } },
      yAxis: { type: 'value' },
      series: valueCols.map((v) => ({ type: isTime ? ('line' as const) : ('bar' as const), name: v.c, data: r.rows.map((row) => row[v.i] as number) })),
    },
  });
}
