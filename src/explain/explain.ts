import { formatIp, parseIp, type Ip } from '../fabric/ip.ts';
import type { Topology } from '../fabric/model.ts';
import { traceConnection, type ConnectionTrace, type Decision, type Packet, type Trace } from '../fabric/policy.ts';
import { UserError } from '../util/errors.ts';

/**
 * `explain`: why a connection is accepted or rejected, what a policy change would break, and
 * which rules traffic never uses, all answered by the fabric's one policy engine
 * (src/fabric/policy.ts), so the emulator and the explanation can never disagree.
 */

/** A connection as a user names it: addresses as text, protocol by name or number. */
export interface ConnectionSpec {
  src: string;
  dst: string;
  protocol?: string | number;
  dstPort?: number;
  srcPort?: number;
}

/** One interface a packet crossed, with every layer it was judged by. */
export interface ExplainStep {
  leg: 'request' | 'reply';
  eni: string;
  name?: string;
  direction: 'ingress' | 'egress';
  srcaddr: string;
  dstaddr: string;
  action: 'ACCEPT' | 'REJECT';
  /** Every layer evaluated here, in order: `sg`, `nacl`, `bpa`, `route`. */
  checks: Decision[];
}

export interface Explanation {
  /** ACCEPT when the request arrives and its reply makes it back. */
  verdict: 'ACCEPT' | 'REJECT';
  /** The request's fate, and the reply's (absent when the request never arrives). */
  request: Decision;
  reply?: Decision;
  /** Where the request ended: an interface id, `internet`, an AWS service, `nowhere`. */
  endpoint: string;
  /** The decision that blocked the connection, if one did (the layer and the rule). */
  blockedBy?: Decision & { leg: 'request' | 'reply'; eni?: string };
  /** True when AWS writes no record of this traffic at all (DNS resolver, metadata, ...). */
  unlogged: boolean;
  steps: ExplainStep[];
  /** One sentence for people. */
  summary: string;
}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 };
const PROTOCOL_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

export function protocolNumber(p: string | number | undefined): number {
  if (p === undefined) return 6;
  if (typeof p === 'number') return p;
  const named = PROTOCOLS[p.toLowerCase()];
  if (named !== undefined) return named;
  if (/^\d{1,3}$/.test(p) && Number(p) <= 255) return Number(p);
  throw new UserError(`--protocol: "${p}" is not tcp, udp, icmp, icmpv6 or a protocol number 0-255`);
}

function address(text: string, what: string): Ip {
  const ip = parseIp(text);
  if (ip === undefined) throw new UserError(`${what}: "${text}" is not an IPv4 or IPv6 address`);
  return ip;
}

function port(n: number | undefined, what: string, dflt: number): number {
  const v = n ?? dflt;
  if (!Number.isInteger(v) || v < 0 || v > 65535) throw new UserError(`${what}: "${n}" is not a port 0-65535`);
  return v;
}

/** The packet the engine traces for a connection (ICMP: an echo request, no ports). */
export function packetFor(src: Ip, dst: Ip, protocol: number, srcPort: number, dstPort: number): Packet {
  if (protocol === 1 || protocol === 58) return { src, dst, protocol, srcPort: 0, dstPort: 0, icmpType: protocol === 1 ? 8 : 128, icmpCode: 0 };
  return { src, dst, protocol, srcPort, dstPort };
}

/** The packet for a spec as a user gave it, each part checked with the flag named. */
export function packetOf(spec: ConnectionSpec): Packet {
  const protocol = protocolNumber(spec.protocol);
  const icmp = protocol === 1 || protocol === 58;
  return packetFor(
    address(spec.src, 'source'),
    address(spec.dst, 'destination'),
    protocol,
    icmp ? 0 : port(spec.srcPort, '--src-port', 49152),
    icmp ? 0 : port(spec.dstPort, '--port', 443),
  );
}

function endpointName(t: Trace): string {
  const e = t.endpoint;
  return e.kind === 'eni' ? e.eni.id : e.kind === 'aws-service' ? `aws:${e.service}` : e.kind;
}

function steps(t: Trace | undefined, leg: 'request' | 'reply'): ExplainStep[] {
  if (!t) return [];
  return t.hops.map((h) => ({
    leg,
    eni: h.eni.id,
    name: h.eni.name,
    direction: h.direction,
    srcaddr: formatIp(h.srcaddr),
    dstaddr: formatIp(h.dstaddr),
    action: h.decision.action,
    checks: h.checks,
  }));
}

function describePacket(p: Packet): string {
  const proto = PROTOCOL_NAMES[p.protocol] ?? `protocol ${p.protocol}`;
  const ports = p.protocol === 6 || p.protocol === 17 ? `/${p.dstPort}` : '';
  return `${proto}${ports} ${formatIp(p.src)} → ${formatIp(p.dst)}`;
}

/** Builds the explanation of one traced connection. */
export function explainTrace(p: Packet, c: ConnectionTrace): Explanation {
  const request = c.forward.verdict;
  const reply = c.reverse?.verdict;
  const all = [...steps(c.forward, 'request'), ...steps(c.reverse, 'reply')];
  let blockedBy: Explanation['blockedBy'];
  if (!c.forward.delivered || request.action === 'REJECT') {
    blockedBy = { ...request, leg: 'request', eni: all.find((s) => s.leg === 'request' && s.action === 'REJECT')?.eni };
  } else if (c.reverse && (!c.reverse.delivered || c.reverse.verdict.action === 'REJECT')) {
    blockedBy = { ...c.reverse.verdict, leg: 'reply', eni: all.find((s) => s.leg === 'reply' && s.action === 'REJECT')?.eni };
  }
  const verdict = blockedBy ? 'REJECT' : 'ACCEPT';
  const what = describePacket(p);
  const summary = c.forward.unlogged
    ? `${what} is not logged by AWS: ${request.reason}`
    : blockedBy
      ? `${what} is rejected${blockedBy.leg === 'reply' ? ' on the way back (the request arrives, its reply does not)' : ''}` +
        `${blockedBy.eni ? ` at ${blockedBy.eni}` : ''} by ${blockedBy.layer === 'route' ? 'routing' : blockedBy.layer.toUpperCase()}: ${blockedBy.reason}`
      : `${what} is accepted: the request reaches ${endpointName(c.forward)} and the reply comes back`;
  return { verdict, request, reply, endpoint: endpointName(c.forward), blockedBy, unlogged: c.forward.unlogged, steps: all, summary };
}

/**
 * Why a connection is accepted or rejected in a topology.
 * @example explainConnection(topo, {src: '10.0.10.21', dst: '10.0.20.10', dstPort: 5432}).summary
 */
export function explainConnection(topo: Topology, spec: ConnectionSpec): Explanation {
  const p = packetOf(spec);
  return explainTrace(p, traceConnection(topo, p));
}
