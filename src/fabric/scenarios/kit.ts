import { UserError } from '../../util/errors.ts';
import { formatIp, parseV4, type Ip } from '../ip.ts';
import type { Eni, Topology } from '../model.ts';
import type { Rng } from '../prng.ts';
import type { TopologyChange } from '../timeline.ts';
import type { TrafficDriver } from '../traffic.ts';

/** One incident in the ground truth (a line of the labels file). */
export interface Label {
  kind: string;
  scenario: string;
  /** Who did it (addresses). */
  actors: string[];
  /** Who it was done to (addresses). */
  victims: string[];
  /** Interfaces whose records show it. */
  enis: string[];
  /** Unix seconds. */
  start: number;
  end: number;
  description: string;
}

export interface ScenarioContext {
  topo: Topology;
  rng: Rng;
  start: number;
  end: number;
  /** Traffic multiplier (1 = a small but busy application). */
  scale: number;
  roles: Roles;
  /** The flow logs' aggregation interval (Nitro interfaces use 60 s whatever it is). */
  interval: 60 | 600;
}

/** A scenario once placed in a run: its timed topology changes, its labels, its traffic. */
export interface ScenarioRun {
  changes?: TopologyChange[];
  labels: Label[];
  /** Opens the connections that start in [from, to). */
  tick(from: number, to: number, d: TrafficDriver): void;
}

export interface ScenarioDef {
  name: string;
  summary: string;
  /**
   * Seconds of run the incident needs to be visible to a detection that learns a baseline
   * first (the detection bench runs the scenario at least this long). Shorter runs still
   * place the incident and label it, but a rule that needs hours of history cannot see it.
   */
  minDuration?: number;
  create(ctx: ScenarioContext): ScenarioRun;
}

const ROLE_PORTS: [string, number[]][] = [
  ['db', [5432, 3306, 1433, 1521, 27017]],
  ['cache', [6379, 11211]],
  ['rdp', [3389]],
  ['app', [8443, 8000, 9000]],
  ['web', [8080, 80, 443]],
];

/**
 * Interfaces by role: the `role` a topology gives them, else a guess from their type and the
 * ports their security groups open (imported `describe-*` topologies have no roles).
 */
export class Roles {
  private byRole = new Map<string, Eni[]>();

  constructor(readonly topo: Topology) {
    for (const e of topo.enis) {
      const role = e.role ?? guessRole(e);
      const list = this.byRole.get(role) ?? [];
      list.push(e);
      this.byRole.set(role, list);
    }
  }

  /** Interfaces of the first role that has any. */
  find(...roles: string[]): Eni[] {
    for (const r of roles) {
      const l = this.byRole.get(r);
      if (l && l.length > 0) return l;
    }
    return [];
  }

  /** Like find, but a scenario cannot run without them. */
  need(scenario: string, ...roles: string[]): Eni[] {
    const l = this.find(...roles);
    if (l.length === 0) throw new UserError(`scenario ${scenario} needs an interface with role ${roles.join(' or ')}; none in this topology (set role: on one)`);
    return l;
  }

  /** Instance interfaces (not managed by a service). */
  instances(): Eni[] {
    return this.topo.enis.filter((e) => !e.managed);
  }

  /** Interfaces reachable from the internet. */
  public(): Eni[] {
    return this.topo.enis.filter((e) => e.publicIp !== undefined && e.type !== 'nat_gateway');
  }
}

function guessRole(e: Eni): string {
  if (e.type === 'nat_gateway') return 'nat';
  if (e.type.endsWith('load_balancer')) return 'alb';
  if (e.managed) return e.type;
  const ports = new Set<number>();
  for (const g of e.securityGroups) for (const r of g.ingress) if (r.protocol === 6 && r.to - r.from < 10) for (let p = r.from; p <= r.to; p++) ports.add(p);
  for (const [role, ps] of ROLE_PORTS) if (ps.some((p) => ports.has(p))) return role;
  if (ports.has(22) && e.publicIp !== undefined) return 'bastion';
  return 'worker';
}

/** Address text for labels. */
export const ipText = (ip: Ip) => formatIp(ip);

/** The address other hosts use to reach an interface from the internet (public) or inside (private). */
export function reachable(e: Eni): Ip {
  return e.publicIp ?? e.ip;
}

const blocks = (cidrs: string[]) =>
  cidrs.map((c) => {
    const [a, bits] = c.split('/');
    return { base: parseV4(a), size: 2 ** (32 - Number(bits)) };
  });

/** Documentation ranges (RFC 5737) for attackers and named internet peers. */
const DOC = blocks(['198.51.100.0/24', '203.0.113.0/24']);

/** Public-looking ranges for crowds (users, botnets), away from AWS service ranges and our VPC. */
const CROWD = blocks(['24.48.0.0/14', '45.76.0.0/15', '62.210.0.0/16', '81.2.64.0/18', '89.187.160.0/19', '91.198.174.0/24', '94.130.0.0/16', '109.74.192.0/20', '151.101.0.0/16', '176.9.0.0/16', '185.199.108.0/22', '188.114.96.0/20', '212.58.224.0/19']);

function inBlocks(rng: Rng, bs: { base: number; size: number }[]): number {
  const b = rng.pick(bs);
  // Skip network and broadcast-looking addresses so addresses read like hosts.
  return b.base + (b.size > 2 ? rng.int(1, b.size - 2) : 0);
}

/** An attacker or a named internet peer (documentation ranges). */
export function docAddress(rng: Rng): number {
  return inBlocks(rng, DOC);
}

/** A member of a crowd (users, bots). */
export function crowdAddress(rng: Rng): number {
  return inBlocks(rng, CROWD);
}

/** `n` distinct crowd addresses. */
export function crowd(rng: Rng, n: number): number[] {
  const s = new Set<number>();
  while (s.size < n) s.add(crowdAddress(rng));
  return [...s];
}

/** Where an incident sits in the run: a start in [lo, hi] of the run and a length in seconds. */
export function incidentWindow(ctx: ScenarioContext, lo: number, hi: number, minLen: number, maxLen: number): [number, number] {
  const span = ctx.end - ctx.start;
  const len = Math.min(span, ctx.rng.int(minLen, Math.max(minLen, maxLen)));
  const s = ctx.start + Math.floor(span * lo + ctx.rng.next() * Math.max(0, span * (hi - lo) - len));
  return [Math.max(ctx.start, s), Math.min(ctx.end, s + len)];
}

/** How many events of a Poisson process with `perSecond` fall in [from, to) ∩ [s, e). */
export function arrivals(rng: Rng, perSecond: number, from: number, to: number, s = -Infinity, e = Infinity): { count: number; lo: number; hi: number } {
  const lo = Math.max(from, s);
  const hi = Math.min(to, e);
  if (hi <= lo) return { count: 0, lo, hi };
  return { count: rng.poisson(perSecond * (hi - lo)), lo, hi };
}

/** A uniform time in [lo, hi), to the millisecond. */
export function at(rng: Rng, lo: number, hi: number): number {
  return Math.floor((lo + rng.next() * (hi - lo)) * 1000) / 1000;
}

/** A label with the scenario's name and addresses as text. */
export function label(scenario: string, kind: string, actors: Ip[], victims: Ip[], enis: Eni[], start: number, end: number, description: string): Label {
  return { kind, scenario, actors: actors.map(ipText), victims: victims.map(ipText), enis: [...new Set(enis.map((e) => e.id))], start, end, description };
}
