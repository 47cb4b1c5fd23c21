/// <reference lib="dom" />
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { BarChart, GaugeChart, LineChart, SankeyChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { h } from './h.ts';

// Only what the panels draw: keeps the bundle (and first paint) small.
echarts.use([BarChart, LineChart, SankeyChart, GaugeChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

export type ChartOption = Parameters<echarts.ECharts['setOption']>[0];

/**
 * One ECharts canvas: re-created when the theme changes, updated in place when the option
 * does, resized with its box. `onClick` gets the clicked item's name and series.
 * @example h(Chart, { option: { series: [{ type: 'bar', data: [1, 2] }] }, theme: 'dark' })
 */
export function Chart(props: { option: ChartOption; theme: string; height?: number; onClick?: (p: { name: string; seriesName?: string; data?: unknown }) => void; testId?: string }) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | undefined>(undefined);
  const click = useRef(props.onClick);
  click.current = props.onClick;
  useEffect(() => {
    if (!el.current) return;
    const c = echarts.init(el.current, props.theme === 'dark' ? 'dark' : undefined, { renderer: 'canvas' });
    chart.current = c;
    c.on('click', (p) => click.current?.({ name: String((p as { name?: unknown }).name ?? ''), seriesName: (p as { seriesName?: string }).seriesName, data: (p as { data?: unknown }).data }));
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = undefined;
    };
  }, [props.theme]);
  useEffect(() => {
    chart.current?.setOption({ backgroundColor: 'transparent', animationDuration: 300, ...(props.option as object) }, true);
  }, [props.option, props.theme]);
  return h('div', { ref: el, className: 'chart', style: { height: props.height ?? 260 }, 'data-testid': props.testId });
}
