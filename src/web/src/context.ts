import type { Columns } from './queries.ts';
import type { Route, TimeWindow } from './state.ts';

/** What every view gets: the route (filters, deep-link state), the window, the store's columns. */
export interface Ctx {
  route: Route;
  w: TimeWindow;
  cols: Columns;
  theme: string;
  /** Latest record end in the store (unix seconds), for "jump to the latest data". */
  lastEnd: number | null;
  /** Bumped by the refresh button: every panel reloads. */
  refresh: number;
}

/** Dependencies of a panel's query: reload when any of these change. */
export const deps = (c: Ctx) => [c.route.params.toString(), c.w.from, c.w.to, c.refresh];
