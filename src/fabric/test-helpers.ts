import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseIp, type Ip } from './ip.ts';
import type { Topology } from './model.ts';
import { buildTopology } from './topology.ts';
import type { TopologyDocT } from './config.ts';

/** The tests' topology file. */
export const TINY = fileURLToPath(new URL('./testdata/tiny.yaml', import.meta.url));

/** The tiny topology's document, to change in a test before building it. */
export function tinyDoc(): TopologyDocT {
  return parse(readFileSync(TINY, 'utf8')) as TopologyDocT;
}

/** The tiny topology, optionally changed first. */
export function tiny(change?: (doc: TopologyDocT) => void): Topology {
  const doc = tinyDoc();
  change?.(doc);
  return buildTopology(doc, 'tiny.yaml');
}

/** An address from text (tests only: throws on a typo). */
export function ip(s: string): Ip {
  const v = parseIp(s);
  if (v === undefined) throw new Error(`bad address ${s}`);
  return v;
}
