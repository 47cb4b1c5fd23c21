import { cidrContains, formatIp, type Ip } from './ip.ts';
import type { Eni, Nacl, NaclRule, Route, RouteTable, SecurityGroup, SgRule, Subnet, Topology, Vpc } from './model.ts';

/**
 * The policy engine: where a packet goes and what each interface it crosses decides about it
 * (security groups, network ACLs, Block Public Access, routes). The traffic driver, the pcap
 * reader and `explain` all use this one engine. Every decision names the rule that made it.
 */

export type Layer = 'sg' | 'nacl' | 'bpa' | 'route' | 'unlogged';

/** A decision and the rule behind it. */
export interface Decision {
  action: 'ACCEPT' | 'REJECT';
  layer: Layer;
  /** The rule that decided, e.g. `acl-1#100 ingress`, `sg-web ingress[0]`, `rtb-1 10.9.0.0/16 → blackhole`. */
  ruleId: string;
  reason: string;
  /** What a v8 record shows in reject-reason (only Block Public Access sets it). */
  rejectReason?: 'BPA';
}

/** A packet as the engine sees it; ICMP carries type/code instead of ports. */
export interface Packet {
  src: Ip;
  dst: Ip;
  protocol: number;
  srcPort: number;
  dstPort: number;
  icmpType?: number;
  icmpCode?: number;
}

/** Which of the connection's ports a logged port is (so one trace serves many source ports). */
export const enum PortRole {
  Client = 0,
  Server = 1,
  Nat = 2,
}

/** One place where a packet is observed: the interface writes a record for it. */
export interface Hop {
  eni: Eni;
  direction: 'ingress' | 'egress';
  /** The decision as the record shows it (the layers evaluated at this interface). */
  decision: Decision;
  /** Every layer evaluated here, in order (for explain). */
  checks: Decision[];
  srcaddr: Ip;
  dstaddr: Ip;
  pktSrcaddr: Ip;
  pktDstaddr: Ip;
  srcport: number;
  dstport: number;
  srcPortRole: PortRole;
  dstPortRole: PortRole;
  /** traffic-path code for egress (0 = `-`). */
  trafficPath: number;
  pktSrcService?: string;
  pktDstService?: string;
}

/** Where a packet ended up. */
export type Endpoint = { kind: 'eni'; eni: Eni } | { kind: 'internet' } | { kind: 'aws-service'; service: string } | { kind: 'on-premises' } | { kind: 'nowhere' };

export interface Trace {
  hops: Hop[];
  delivered: boolean;
  /** The decision that ended the trace (a REJECT or a route drop), or the last ACCEPT. */
  verdict: Decision;
  endpoint: Endpoint;
  /** The packet as it arrived (after NAT), when delivered. */
  arrived?: Packet;
  /** The NAT gateway mapping the forward packet made, for its reply. */
  nat?: NatMapping;
  /** True when AWS never logs this traffic (DNS resolver, metadata, DHCP, ...). */
  unlogged: boolean;
}

export interface NatMapping {
  eni: Eni;
  port: number;
  clientIp: Ip;
  clientPort: number;
}

export interface ConnectionTrace {
  forward: Trace;
  /** The reply direction, when the forward packet was delivered. */
  reverse?: Trace;
}

const ipv4 = (a: number, b: number, c: number, d: number) => ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;

/** Link-local services AWS never logs: metadata, time sync, licence activation, DNS. */
const NEVER_LOGGED = new Set<Ip>([ipv4(169, 254, 169, 254), ipv4(169, 254, 169, 123), ipv4(169, 254, 169, 250), ipv4(169, 254, 169, 251), ipv4(169, 254, 169, 253)]);

const accept = (layer: Layer, ruleId: string, reason: string): Decision => ({ action: 'ACCEPT', layer, ruleId, reason });
const reject = (layer: Layer, ruleId: string, reason: string): Decision => ({ action: 'REJECT', layer, ruleId, reason });

function describe(p: Packet): string {
  const proto = p.protocol === 6 ? 'tcp' : p.protocol === 17 ? 'udp' : p.protocol === 1 ? 'icmp' : p.protocol === 58 ? 'icmpv6' : `proto ${p.protocol}`;
  const port = p.protocol === 6 || p.protocol === 17 ? `/${p.dstPort}` : p.icmpType !== undefined ? ` type ${p.icmpType}` : '';
  return `${proto}${port} ${formatIp(p.src)} → ${formatIp(p.dst)}`;
}

/**
 * True when AWS never logs the packet: the Amazon DNS resolver, instance metadata, time sync,
 * licence activation, DHCP, the VPC router.
 * @example isNeverLogged(topo, {src: ip('10.0.1.10'), dst: ip('10.0.0.2'), protocol: 17, srcPort: 40000, dstPort: 53})
 */
export function isNeverLogged(topo: Topology, p: Packet): boolean {
  if (NEVER_LOGGED.has(p.src) || NEVER_LOGGED.has(p.dst)) return true;
  if (p.protocol === 17 && (p.dstPort === 67 || p.dstPort === 68) && (p.srcPort === 67 || p.srcPort === 68)) return true;
  for (const v of topo.vpcs) if (v.reservedIps.has(p.src) || v.reservedIps.has(p.dst)) return true;
  return false;
}

function protocolMatches(ruleProto: number, from: number, to: number, icmpType: number, icmpCode: number, p: Packet): boolean {
  if (ruleProto === -1) return true;
  if (ruleProto !== p.protocol) return false;
  if (p.protocol === 6 || p.protocol === 17) return p.dstPort >= from && p.dstPort <= to;
  if (p.protocol === 1 || p.protocol === 58) {
    if (icmpType !== -1 && icmpType !== p.icmpType) return false;
    return icmpCode === -1 || icmpCode === p.icmpCode;
  }
  return true;
}

function sgPeerMatches(topo: Topology, rule: SgRule, peer: Ip, home: Vpc): boolean {
  if (rule.cidr) return cidrContains(rule.cidr, peer);
  if (rule.prefixList) return rule.prefixList.cidrs.some((c) => cidrContains(c, peer));
  // A group reference matches the private addresses of interfaces in that group (own VPC or a peer).
  const peerEni = home.enisByIp.get(peer) ?? findPrivate(topo, peer);
  return peerEni !== undefined && peerEni.securityGroups.some((g) => g.id === rule.group);
}

/**
 * Evaluates security groups for a new connection (they are stateful: replies are not evaluated).
 * Any rule of any group allows; nothing matching rejects.
 * @example evaluateSecurityGroups(topo, eni.securityGroups, 'ingress', packet, eni.vpc)
 */
export function evaluateSecurityGroups(topo: Topology, groups: readonly SecurityGroup[], direction: 'ingress' | 'egress', p: Packet, home: Vpc): Decision {
  const peer = direction === 'ingress' ? p.src : p.dst;
  for (const g of groups) {
    const rules = direction === 'ingress' ? g.ingress : g.egress;
    for (const r of rules) {
      if (protocolMatches(r.protocol, r.from, r.to, r.icmpType, r.icmpCode, p) && sgPeerMatches(topo, r, peer, home)) {
        return accept('sg', `${g.id} ${direction}[${r.index}]`, `${g.id} allows ${r.text} (${direction})`);
      }
    }
  }
  const ids = groups.map((g) => g.id).join(',') || '(no security group)';
  return reject('sg', `${ids} ${direction}`, `no ${direction} rule of ${ids} allows ${describe(p)}`);
}

/**
 * Evaluates a network ACL (stateless: every packet, replies too): rules in number order, the
 * first match decides, and the final `*` rule denies.
 * @example evaluateNacl(subnet.nacl, 'egress', packet) // {action: 'REJECT', ruleId: 'acl-1#* egress', ...}
 */
export function evaluateNacl(nacl: Nacl, direction: 'ingress' | 'egress', p: Packet): Decision {
  const peer = direction === 'ingress' ? p.src : p.dst;
  const rules: NaclRule[] = direction === 'ingress' ? nacl.ingress : nacl.egress;
  for (const r of rules) {
    if (cidrContains(r.cidr, peer) && protocolMatches(r.protocol, r.from, r.to, r.icmpType, r.icmpCode, p)) {
      const ruleId = `${nacl.id}#${r.number} ${direction}`;
      return r.allow ? accept('nacl', ruleId, `${ruleId} allows ${describe(p)}`) : reject('nacl', ruleId, `${ruleId} (${r.text}) denies ${describe(p)}`);
    }
  }
  return reject('nacl', `${nacl.id}#* ${direction}`, `no ${direction} rule of ${nacl.id} matches ${describe(p)}; the final * rule denies it`);
}

/**
 * Longest-prefix match in a route table.
 * @example lookupRoute(subnet.routeTable, ip('8.8.8.8'))?.target.kind // 'igw'
 */
export function lookupRoute(table: RouteTable, dst: Ip): Route | undefined {
  for (const r of table.routes) if (cidrContains(r.destination, dst)) return r;
  return undefined;
}

/**
 * Block Public Access for traffic between an interface and the internet gateway.
 * @example bpaDecision(eni, 'in', false) // {action: 'REJECT', layer: 'bpa', rejectReason: 'BPA', ...}
 */
export function bpaDecision(eni: Eni, way: 'in' | 'out', established: boolean): Decision | undefined {
  const vpc = eni.vpc;
  if (vpc.bpa === 'off') return undefined;
  const ex = eni.subnet.bpaExclusion;
  let blocked: boolean;
  if (ex === 'allow-bidirectional') blocked = false;
  else if (ex === 'allow-egress') blocked = way === 'in' && !established;
  else if (vpc.bpa === 'block-bidirectional') blocked = true;
  // block-ingress: only NAT gateways (outbound-only by nature) keep internet access.
  else blocked = eni.type === 'nat_gateway' ? way === 'in' && !established : true;
  const ruleId = `${vpc.id} block-public-access ${vpc.bpa}${ex ? ` (exclusion ${ex})` : ''}`;
  if (!blocked) return accept('bpa', ruleId, `Block Public Access lets ${way === 'in' ? 'inbound' : 'outbound'} internet traffic through`);
  return { ...reject('bpa', ruleId, `VPC Block Public Access (${vpc.bpa}) blocks ${way === 'in' ? 'inbound' : 'outbound'} internet traffic of ${eni.id}`), rejectReason: 'BPA' };
}

/** The interface owning a private address in any VPC of the topology. */
export function findPrivate(topo: Topology, ip: Ip): Eni | undefined {
  for (const v of topo.vpcs) {
    const e = v.enisByIp.get(ip);
    if (e) return e;
  }
  return undefined;
}

function serviceOf(topo: Topology, ip: Ip): string | undefined {
  for (const s of topo.awsServices) if (cidrContains(s.cidr, ip)) return s.service;
  return undefined;
}

interface WalkOptions {
  established: boolean;
  /** An existing connection judged again after a change: security groups keep tracking it. */
  tracked?: boolean;
  natPort: number;
  nat?: NatMapping;
  /** Where the packet's ports came from, so cached traces can be replayed with other ports. */
  srcRole: PortRole;
  dstRole: PortRole;
}

/** One packet's walk through the topology. */
class Walk {
  hops: Hop[] = [];
  verdict: Decision = accept('route', '-', 'delivered');
  endpoint: Endpoint = { kind: 'nowhere' };
  arrived?: Packet;
  nat?: NatMapping;
  private steps = 0;

  constructor(
    private readonly topo: Topology,
    private readonly opts: WalkOptions,
  ) {}

  private hop(eni: Eni, direction: 'ingress' | 'egress', p: Packet, checks: Decision[], trafficPath: number, srcRole: PortRole, dstRole: PortRole, dstService?: string): Hop {
    const last = checks[checks.length - 1];
    const rejected = checks.find((c) => c.action === 'REJECT');
    const decision = rejected ?? last ?? accept('sg', '-', 'no layer applies');
    const h: Hop = {
      eni,
      direction,
      decision,
      checks,
      // The interface's own side of a record is its primary private address; the packet's real
      // addresses are in pkt-srcaddr / pkt-dstaddr.
      srcaddr: direction === 'egress' ? eni.ip : p.src,
      dstaddr: direction === 'ingress' ? eni.ip : p.dst,
      pktSrcaddr: p.src,
      pktDstaddr: p.dst,
      srcport: p.protocol === 6 || p.protocol === 17 ? p.srcPort : 0,
      dstport: p.protocol === 6 || p.protocol === 17 ? p.dstPort : 0,
      srcPortRole: srcRole,
      dstPortRole: dstRole,
      trafficPath,
      pktSrcService: serviceOf(this.topo, p.src),
      pktDstService: dstService ?? serviceOf(this.topo, p.dst),
    };
    this.hops.push(h);
    if (rejected) this.verdict = rejected;
    return h;
  }

  private drop(d: Decision): void {
    this.verdict = d;
    this.endpoint = { kind: 'nowhere' };
  }

  private deliver(endpoint: Endpoint, p: Packet): void {
    if (this.verdict.ruleId === '-' && this.hops.length > 0) this.verdict = this.hops[this.hops.length - 1].decision;
    this.endpoint = endpoint;
    this.arrived = p;
  }

  /** The packet leaves an interface. */
  fromEni(eni: Eni, p: Packet, srcRole: PortRole, dstRole: PortRole): void {
    if (++this.steps > 8) return this.drop(reject('route', '-', 'routing loop'));
    const checks: Decision[] = [];
    const sgApplies = eni.type !== 'nat_gateway' && eni.securityGroups.length > 0;
    if (sgApplies) {
      checks.push(this.opts.established || this.opts.tracked ? accept('sg', `${eni.securityGroups.map((g) => g.id).join(',')} egress (tracked)`, 'reply of a tracked connection (security groups are stateful)') : evaluateSecurityGroups(this.topo, eni.securityGroups, 'egress', p, eni.vpc));
    }
    const route = lookupRoute(eni.subnet.routeTable, p.dst);
    const routeId = (r: Route) => `${eni.subnet.routeTable.id} ${r.text}`;
    if (!route) {
      this.hop(eni, 'egress', p, checks, 0, srcRole, dstRole);
      if (checks.every((c) => c.action === 'ACCEPT')) this.drop(reject('route', `${eni.subnet.routeTable.id} (no route)`, `no route in ${eni.subnet.routeTable.id} matches ${formatIp(p.dst)}`));
      return;
    }
    const t = route.target;
    const nitroPath = (nitro: number) => (eni.nitro ? nitro : 2);
    let nextEni: Eni | undefined;
    let path = 1;
    switch (t.kind) {
      case 'local':
        nextEni = eni.vpc.enisByIp.get(p.dst);
        break;
      case 'eni':
        nextEni = t.eni;
        break;
      case 'nat':
        nextEni = t.eni;
        break;
      case 'pcx':
        nextEni = t.peer.enisByIp.get(p.dst);
        path = t.crossRegion ? 5 : 4;
        break;
      case 'tgw':
        for (const v of t.vpcs) nextEni ??= v.enisByIp.get(p.dst);
        break;
      case 'igw':
        path = nitroPath(8);
        break;
      case 'vpce':
        path = nitroPath(7);
        break;
      case 'vgw':
        path = 3;
        break;
      case 'blackhole':
        path = 0;
        break;
    }
    // Network ACLs guard the subnet boundary: traffic that stays in the subnet never meets them.
    if (!(nextEni && nextEni.subnet === eni.subnet)) checks.push(evaluateNacl(eni.subnet.nacl, 'egress', p));
    let bpa: Decision | undefined;
    if (t.kind === 'igw') {
      bpa = bpaDecision(eni, 'out', this.opts.established);
      if (bpa) checks.push(bpa);
    }
    const h = this.hop(eni, 'egress', p, checks, path, srcRole, dstRole, t.kind === 'vpce' ? t.service : undefined);
    if (h.decision.action === 'REJECT') return;
    switch (t.kind) {
      case 'blackhole':
        return this.drop(reject('route', routeId(route), `route ${route.text} in ${eni.subnet.routeTable.id} is a blackhole`));
      case 'local':
      case 'eni':
      case 'pcx':
      case 'tgw':
        if (!nextEni) return this.drop(reject('route', routeId(route), `no interface has address ${formatIp(p.dst)}`));
        return this.toEni(nextEni, p, eni.subnet, srcRole, dstRole);
      case 'nat':
        return this.toEni(t.eni, p, eni.subnet, srcRole, dstRole, true);
      case 'vpce':
        return this.deliver({ kind: 'aws-service', service: t.service }, p);
      case 'vgw':
        return this.deliver({ kind: 'on-premises' }, p);
      case 'igw': {
        // The internet gateway maps private to public addresses; without one the packet dies there.
        const pub = eni.publicIp;
        if (pub === undefined || typeof p.src !== 'number') return this.drop(reject('route', routeId(route), `${eni.id} has no public IPv4 address, so ${t.id} drops its packets`));
        return this.fromInternet({ ...p, src: pub });
      }
    }
  }

  /** The packet arrives at an interface (from another subnet when `from` differs). */
  toEni(eni: Eni, p: Packet, from: Subnet | undefined, srcRole: PortRole, dstRole: PortRole, viaNatRoute = false): void {
    const checks: Decision[] = [];
    if (from !== eni.subnet) checks.push(evaluateNacl(eni.subnet.nacl, 'ingress', p));
    if (eni.type !== 'nat_gateway' && eni.securityGroups.length > 0) {
      checks.push(this.opts.established || this.opts.tracked ? accept('sg', `${eni.securityGroups.map((g) => g.id).join(',')} ingress (tracked)`, 'reply of a tracked connection (security groups are stateful)') : evaluateSecurityGroups(this.topo, eni.securityGroups, 'ingress', p, eni.vpc));
    }
    this.hopIngress(eni, p, checks, srcRole, dstRole, viaNatRoute);
  }

  private hopIngress(eni: Eni, p: Packet, checks: Decision[], srcRole: PortRole, dstRole: PortRole, viaNatRoute: boolean): void {
    const h = this.hop(eni, 'ingress', p, checks, 0, srcRole, dstRole);
    if (h.decision.action === 'REJECT') return;
    if (eni.type !== 'nat_gateway') return this.deliver({ kind: 'eni', eni }, p);
    if (viaNatRoute && !this.opts.established) {
      // Source NAT: the gateway's own address and a port of its choosing.
      this.nat = { eni, port: this.opts.natPort, clientIp: p.src, clientPort: p.srcPort };
      return this.fromEni(eni, { ...p, src: eni.ip, srcPort: p.protocol === 6 || p.protocol === 17 ? this.opts.natPort : p.srcPort }, PortRole.Nat, dstRole);
    }
    const m = this.opts.nat;
    if (this.opts.established && m && m.eni === eni) {
      return this.fromEni(eni, { ...p, dst: m.clientIp, dstPort: p.protocol === 6 || p.protocol === 17 ? m.clientPort : p.dstPort }, srcRole, PortRole.Client);
    }
    // Unsolicited traffic to a NAT gateway has no mapping: it goes no further.
    return this.drop(reject('route', `${eni.natGatewayId ?? eni.id} (no NAT mapping)`, `${eni.natGatewayId ?? eni.id} has no translation for ${describe(p)}`));
  }

  /** A packet on the internet side of the gateways. */
  fromInternet(p: Packet): void {
    if (typeof p.dst === 'number') {
      const eni = this.topo.enisByPublicIp.get(p.dst);
      if (eni) {
        if (!eni.vpc.igwId) return this.drop(reject('route', `${eni.vpc.id} (no internet gateway)`, `${eni.vpc.id} has no internet gateway`));
        const checks: Decision[] = [];
        const bpa = bpaDecision(eni, 'in', this.opts.established);
        if (bpa) checks.push(bpa);
        const inside = { ...p, dst: eni.ip };
        if (!bpa || bpa.action === 'ACCEPT') {
          checks.push(evaluateNacl(eni.subnet.nacl, 'ingress', inside));
          if (eni.type !== 'nat_gateway' && eni.securityGroups.length > 0) {
            checks.push(this.opts.established || this.opts.tracked ? accept('sg', `${eni.securityGroups.map((g) => g.id).join(',')} ingress (tracked)`, 'reply of a tracked connection (security groups are stateful)') : evaluateSecurityGroups(this.topo, eni.securityGroups, 'ingress', inside, eni.vpc));
          }
        }
        return this.hopIngress(eni, inside, checks, this.opts.srcRole, this.opts.dstRole, false);
      }
    }
    const service = serviceOf(this.topo, p.dst);
    return this.deliver(service ? { kind: 'aws-service', service } : { kind: 'internet' }, p);
  }
}

function finish(w: Walk, unlogged = false): Trace {
  return { hops: w.hops, delivered: w.endpoint.kind !== 'nowhere', verdict: w.verdict, endpoint: w.endpoint, arrived: w.arrived, nat: w.nat, unlogged };
}

/**
 * Traces one packet from its source to where it ends, with a decision at every interface.
 * `established` marks the reply direction of a tracked connection (security groups pass it).
 * @example tracePacket(topo, {src, dst, protocol: 6, srcPort: 40000, dstPort: 443}).verdict
 */
export function tracePacket(topo: Topology, p: Packet, opts: Partial<WalkOptions> = {}): Trace {
  const o: WalkOptions = { established: false, natPort: 1024 + (p.srcPort % 64000), srcRole: PortRole.Client, dstRole: PortRole.Server, ...opts };
  const w = new Walk(topo, o);
  if (isNeverLogged(topo, p)) {
    w.verdict = accept('unlogged', '-', 'AWS does not log traffic to or from this address');
    return finish(w, true);
  }
  const src = findPrivate(topo, p.src);
  if (src) w.fromEni(src, p, o.srcRole, o.dstRole);
  else {
    const dst = findPrivate(topo, p.dst);
    // From outside to a private address: on-premises or a peer we do not model (pcap captures).
    if (dst) w.toEni(dst, p, undefined, o.srcRole, o.dstRole);
    else w.fromInternet(p);
  }
  return finish(w);
}

/**
 * Traces a connection: the opening packet, and when it is delivered, the reply (security
 * groups let replies through; network ACLs and Block Public Access judge them again).
 * @example traceConnection(topo, {src, dst, protocol: 6, srcPort: 40000, dstPort: 5432}).reverse?.verdict
 */
export function traceConnection(topo: Topology, p: Packet, natPort = 1024 + (p.srcPort % 64000), tracked = false): ConnectionTrace {
  const forward = tracePacket(topo, p, { natPort, tracked });
  if (!forward.delivered || forward.unlogged || !forward.arrived) return { forward };
  const a = forward.arrived;
  const replyType = p.protocol === 1 && p.icmpType === 8 ? 0 : p.protocol === 58 && p.icmpType === 128 ? 129 : p.icmpType;
  const reply: Packet = { src: a.dst, dst: a.src, protocol: a.protocol, srcPort: a.dstPort, dstPort: a.srcPort, icmpType: replyType, icmpCode: p.icmpCode };
  const w = new Walk(topo, { established: true, natPort, nat: forward.nat, srcRole: PortRole.Server, dstRole: forward.nat ? PortRole.Nat : PortRole.Client });
  const end = forward.endpoint;
  if (end.kind === 'eni') w.fromEni(end.eni, reply, PortRole.Server, forward.nat ? PortRole.Nat : PortRole.Client);
  else if (findPrivate(topo, reply.dst)) w.toEni(findPrivate(topo, reply.dst)!, reply, undefined, PortRole.Server, PortRole.Client);
  else w.fromInternet(reply);
  return { forward, reverse: finish(w) };
}
