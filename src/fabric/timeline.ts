import type { TopologyDocT } from './config.ts';
import type { Topology } from './model.ts';
import { buildTopology } from './topology.ts';

/** A scheduled change to the topology (a security group edit, a new network ACL, ...). */
export interface TopologyChange {
  /** Unix seconds from which the change is in effect. */
  at: number;
  description: string;
  /** Edits a copy of the document. */
  apply(doc: TopologyDocT): void;
}

/**
 * The topology over time: the base version and one version per scheduled change. Connections
 * are judged by the version in effect when they open (tracked connections survive a change,
 * as they do in AWS).
 * @example const tl = TopologyTimeline.build(topo, [change]); tl.at(1705277000)
 */
export class TopologyTimeline {
  private constructor(readonly versions: { from: number; topo: Topology }[]) {}

  static build(base: Topology, changes: readonly TopologyChange[]): TopologyTimeline {
    const sorted = [...changes].sort((a, b) => a.at - b.at);
    const versions = [{ from: -Infinity, topo: base }];
    let doc = base.doc;
    for (const c of sorted) {
      doc = structuredClone(doc);
      c.apply(doc);
      const topo = buildTopology(doc, `(after change at ${c.at}: ${c.description})`);
      if (topo.enis.length !== base.enis.length) throw new Error(`change "${c.description}" added or removed interfaces; changes may only edit rules and routes`);
      versions.push({ from: c.at, topo });
    }
    return new TopologyTimeline(versions);
  }

  /** The version index in effect at time t. */
  indexAt(t: number): number {
    const v = this.versions;
    let i = v.length - 1;
    while (i > 0 && v[i].from > t) i--;
    return i;
  }

  at(t: number): Topology {
    return this.versions[this.indexAt(t)].topo;
  }

  get base(): Topology {
    return this.versions[0].topo;
  }
}
