/// <reference lib="dom" />
import { useEffect, useState, type ReactNode } from 'react';
import { ApiError } from './api.ts';
import { h } from './h.ts';

export type Load<T> = { state: 'loading' } | { state: 'error'; error: string; caret?: string } | { state: 'done'; data: T; ms: number };

/**
 * Runs `fetcher` whenever `key` changes and tracks its state; a newer run wins over an older
 * one still in flight.
 * @example const load = useLoad(() => sql(text), [text])
 */
export function useLoad<T>(fetcher: () => Promise<T>, deps: unknown[]): [Load<T>, () => void] {
  const [load, setLoad] = useState<Load<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoad({ state: 'loading' });
    const t0 = performance.now();
    fetcher().then(
      (data) => live && setLoad({ state: 'done', data, ms: Math.round(performance.now() - t0) }),
      (err: unknown) => live && setLoad({ state: 'error', error: err instanceof Error ? err.message : String(err), caret: err instanceof ApiError ? err.caret : undefined }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [load, () => setTick((x) => x + 1)];
}

/**
 * A dashboard card: title, optional tools, and the body for the load state: a skeleton while
 * loading, the error, an empty state that says what to do, or the content.
 */
export function Panel<T>(props: {
  title: string;
  subtitle?: string;
  load: Load<T>;
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  tools?: ReactNode;
  wide?: boolean;
  id?: string;
  children: (data: T) => ReactNode;
}) {
  const { load } = props;
  let body: ReactNode;
  if (load.state === 'loading') body = h('div', { className: 'skeleton', 'aria-busy': 'true' }, h('span', null, 'loading…'));
  else if (load.state === 'error') body = h('div', { className: 'error' }, h('strong', null, 'Query failed: '), load.caret ? h('pre', null, load.caret) : load.error);
  else if (props.isEmpty?.(load.data)) body = h('div', { className: 'empty' }, props.empty ?? 'No data in this time range: widen the range or clear filters.');
  else body = props.children(load.data);
  return h(
    'section',
    { className: `panel${props.wide ? ' wide' : ''}`, 'data-panel': props.id ?? props.title, 'data-state': load.state === 'done' && props.isEmpty?.(load.data) ? 'empty' : load.state },
    h('header', null, h('div', null, h('h2', null, props.title), props.subtitle ? h('p', { className: 'sub' }, props.subtitle) : null), h('div', { className: 'tools' }, props.tools, load.state === 'done' ? h('span', { className: 'ms', title: 'query time' }, `${load.ms} ms`) : null)),
    body,
  );
}

/** A plain result table; `onRow` makes rows clickable. */
export function Table(props: { columns: string[]; rows: unknown[][]; format?: (col: string, v: unknown) => ReactNode; onRow?: (row: unknown[]) => void; max?: number; testId?: string }) {
  const rows = props.rows.slice(0, props.max ?? 500);
  return h(
    'div',
    { className: 'table-wrap' },
    h(
      'table',
      { 'data-testid': props.testId },
      h('thead', null, h('tr', null, ...props.columns.map((c) => h('th', { key: c }, c)))),
      h(
        'tbody',
        null,
        ...rows.map((row, i) =>
          h(
            'tr',
            { key: i, className: props.onRow ? 'clickable' : undefined, onClick: props.onRow ? () => props.onRow!(row) : undefined },
            ...row.map((v, j) => h('td', { key: j, className: typeof v === 'number' ? 'num' : undefined }, props.format ? props.format(props.columns[j], v) : cell(v))),
          ),
        ),
      ),
    ),
  );
}

export function cell(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
