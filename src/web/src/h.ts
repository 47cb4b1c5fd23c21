/// <reference lib="dom" />
import { createElement } from 'react';

/**
 * The dashboard is written with `h(type, props, ...children)` (React.createElement) rather than
 * JSX, so the repository's one TypeScript configuration checks it as it is.
 * @example h('div', { className: 'card' }, 'hello')
 */
export const h = createElement;

/** Joins class names, skipping falsy ones. @example cx('a', cond && 'b') */
export function cx(...names: (string | false | null | undefined)[]): string {
  return names.filter(Boolean).join(' ');
}
