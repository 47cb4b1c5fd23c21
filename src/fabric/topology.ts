import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { UserError } from '../util/errors.ts';
import { srcPath } from '../util/runtime.ts';
import { DEFAULT_FORMAT } from '../schema/columns.ts';
import { FormatError, parseFormatString } from '../schema/format.ts';
import { TopologyDoc, type NaclRuleDocT, type SgRuleDocT, type TopologyDocT } from './config.ts';
import { cidrContains, cidrOverlaps, cidrWithin, parseCidr, parseIp, parseV4, type Cidr, type Ip } from './ip.ts';
import { stableHex } from './prng.ts';
import type {
  Eni,
  FlowLogSpec,
  Nacl,
  NaclRule,
  Peering,
  Route,
  RouteTable,
  RouteTarget,
  SgRule,
  Subnet,
  Topology,
  Vpc,
} from './model.ts';

/** The topology used when `--topology` is omitted. */
export const DEFAULT_TOPOLOGY_PATH = srcPath('fabric/topologies/default.yaml');

type PathPart = string | number;

/**
 * A mistake in a topology, named by file and path (`vpcs[0].subnets[2].cidr`), with the line
 * when the file is YAML.
 * @example throw new TopologyError('topo.yaml', ['vpcs', 0, 'cidr'], '"10.0.0.0/33" is not a CIDR block')
 */
export class TopologyError extends UserError {
  constructor(
    readonly file: string,
    readonly path: readonly PathPart[],
    readonly detail: string,
    line?: number,
  ) {
    super(`${file}: ${formatPath(path)}${line ? ` (line ${line})` : ''}: ${detail}`);
    this.name = 'TopologyError';
  }
}

/** `['vpcs', 0, 'subnets', 2, 'cidr']` → `vpcs[0].subnets[2].cidr`. */
export function formatPath(path: readonly PathPart[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s || '(top level)';
}

/** Finds the 1-based line of a path in YAML text (undefined when it cannot). */
type LineOf = (path: readonly PathPart[]) => number | undefined;

/**
 * Loads a topology: a YAML (or JSON) file in flowlens's shape, a folder of `aws ec2 describe-*`
 * JSON outputs, or, with no argument, the shipped default.
 * @example const topo = await loadTopology('./my-vpc.yaml')
 */
export async function loadTopology(source?: string | object): Promise<Topology> {
  if (source !== undefined && typeof source === 'object') return buildTopology(source, '(topology object)');
  const path = source ?? DEFAULT_TOPOLOGY_PATH;
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new UserError(`cannot read topology ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (isDir) {
    const { importDescribeDir } = await import('./describe-import.ts');
    const { doc, file, locate } = importDescribeDir(path);
    try {
      return buildTopology(doc, file);
    } catch (err) {
      // Name the describe-* file and item the mistake came from, then the converted path.
      if (err instanceof TopologyError) throw new TopologyError(locate(err.path) ?? file, err.path, err.detail);
      throw err;
    }
  }
  const text = readFileSync(path, 'utf8');
  const lines = new LineCounter();
  const yamlDoc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (yamlDoc.errors.length > 0) {
    const e = yamlDoc.errors[0];
    const at = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
    throw new UserError(`${path}:${at.line}:${at.col}: ${e.message.split('\n')[0]}`, { cause: e });
  }
  const lineOf: LineOf = (p) => {
    for (let n = p.length; n > 0; n--) {
      const node = yamlDoc.getIn(p.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return buildTopology(yamlDoc.toJS(), path, lineOf);
}

/**
 * Validates a topology document and resolves it into the model.
 * @example buildTopology({vpcs: [{id: 'vpc-1', cidr: '10.0.0.0/16'}]}, 'inline')
 */
export function buildTopology(input: unknown, file: string, lineOf: LineOf = () => undefined): Topology {
  const fail = (path: readonly PathPart[], detail: string): never => {
    throw new TopologyError(file, path, detail, lineOf(path));
  };
  const parsed = TopologyDoc.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.filter((p): p is PathPart => typeof p !== 'symbol');
    fail(path, issue.message);
  }
  return new Builder(parsed.data as TopologyDocT, fail).build();
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, all: -1, '-1': -1 };

function protocolNumber(p: string | number): number {
  return typeof p === 'number' ? p : PROTOCOLS[p];
}

function portRange(p: string | number | undefined): [number, number] | undefined {
  if (p === undefined || p === 'all') return [0, 65535];
  if (typeof p === 'number') return [p, p];
  const [a, b] = p.split('-').map(Number);
  const lo = a;
  const hi = b ?? a;
  return lo <= hi && hi <= 65535 ? [lo, hi] : undefined;
}

const PROTOCOL_NAMES: Record<number, string> = { [-1]: 'all', 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6' };

/** `tcp/443`, `tcp/1024-65535`, `all`, `icmp/8`. */
export function ruleSummary(protocol: number, from: number, to: number, icmpType: number): string {
  const name = PROTOCOL_NAMES[protocol] ?? String(protocol);
  if (protocol === -1) return 'all';
  if (protocol === 1 || protocol === 58) return icmpType === -1 ? name : `${name}/${icmpType}`;
  if (protocol !== 6 && protocol !== 17) return name;
  return from === 0 && to === 65535 ? `${name}/all` : from === to ? `${name}/${from}` : `${name}/${from}-${to}`;
}

/** AWS's AZ id for an AZ name when none is given (us-east-1a → use1-az1). */
export function azIdFor(az: string): string {
  const m = /^([a-z]{2})-([a-z]+)-(\d)([a-z])$/.exec(az);
  if (!m) return az;
  const dir: Record<string, string> = { east: 'e', west: 'w', north: 'n', south: 's', central: 'c', northeast: 'ne', southeast: 'se', northwest: 'nw', southwest: 'sw' };
  return `${m[1]}${dir[m[2]] ?? m[2][0]}${m[3]}-az${m[4].charCodeAt(0) - 96}`;
}

class Builder {
  private ids = new Map<string, string>();
  private topo!: Topology;

  constructor(
    private readonly doc: TopologyDocT,
    private readonly fail: (path: readonly PathPart[], detail: string) => never,
  ) {}

  private cidr(text: string, path: PathPart[], strict = false): Cidr {
    const c = parseCidr(text, strict);
    if (!c) this.fail(path, `"${text}" is not a ${strict ? 'network CIDR block (host bits must be zero)' : 'CIDR block'}`);
    return c!;
  }

  private ip(text: string, path: PathPart[]): Ip {
    const ip = parseIp(text);
    if (ip === undefined) this.fail(path, `"${text}" is not an IP address`);
    return ip!;
  }

  private claim(idText: string, path: PathPart[]): void {
    const prev = this.ids.get(idText);
    if (prev) this.fail(path, `id "${idText}" is already used at ${prev}`);
    this.ids.set(idText, formatPath(path));
  }

  build(): Topology {
    const d = this.doc;
    this.topo = {
      account: d.account,
      region: d.region,
      vpcs: [],
      subnets: [],
      enis: [],
      securityGroups: new Map(),
      prefixLists: new Map(),
      awsServices: [],
      peerings: new Map(),
      enisByPublicIp: new Map(),
      natGateways: new Map(),
      flowLogs: [],
      doc: d,
    };
    const t = this.topo;
    d.prefixLists.forEach((pl, i) => {
      this.claim(pl.id, ['prefixLists', i, 'id']);
      t.prefixLists.set(
        pl.id,
        pl.cidrs.map((c, j) => this.cidr(c, ['prefixLists', i, 'cidrs', j])),
      );
    });
    d.awsServices.forEach((s, i) => s.cidrs.forEach((c, j) => t.awsServices.push({ service: s.service, cidr: this.cidr(c, ['awsServices', i, 'cidrs', j]) })));
    // Pass 1: VPCs, subnets, security groups, ENIs (routes and rules refer to them).
    d.vpcs.forEach((v, vi) => this.vpcShell(v, vi));
    d.vpcs.forEach((v, vi) => this.securityGroups(v, vi));
    d.vpcs.forEach((v, vi) => this.subnetsAndEnis(v, vi));
    d.peeringConnections.forEach((p, i) => {
      this.claim(p.id, ['peeringConnections', i, 'id']);
      const [a, b] = p.vpcs.map((vid, j) => this.vpcById(vid) ?? this.fail(['peeringConnections', i, 'vpcs', j], `unknown VPC "${vid}"`));
      t.peerings.set(p.id, { id: p.id, a, b, crossRegion: p.crossRegion } satisfies Peering);
    });
    // Pass 2: NACLs and route tables, then attach them to subnets.
    d.vpcs.forEach((v, vi) => this.aclsAndRoutes(v, vi));
    this.sgRuleReferences();
    this.flowLogs();
    return t;
  }

  private vpcById(idText: string): Vpc | undefined {
    return this.topo.vpcs.find((v) => v.id === idText);
  }

  private vpcShell(v: TopologyDocT['vpcs'][number], vi: number): void {
    const p: PathPart[] = ['vpcs', vi];
    this.claim(v.id, [...p, 'id']);
    const cidrs = [this.cidr(v.cidr, [...p, 'cidr'], true), ...v.secondaryCidrs.map((c, i) => this.cidr(c, [...p, 'secondaryCidrs', i], true))];
    cidrs.forEach((c, i) => {
      if (c.family !== 4) this.fail([...p, i === 0 ? 'cidr' : 'secondaryCidrs'], `"${c.text}" must be an IPv4 block (use ipv6Cidr for IPv6)`);
      if (c.prefix < 16 || c.prefix > 28) this.fail([...p, i === 0 ? 'cidr' : 'secondaryCidrs'], `VPC blocks must be /16 to /28, not /${c.prefix}`);
    });
    const ipv6Cidr = v.ipv6Cidr ? this.cidr(v.ipv6Cidr, [...p, 'ipv6Cidr'], true) : undefined;
    if (v.internetGateway) this.claim(v.internetGateway, [...p, 'internetGateway']);
    const reserved = new Set<Ip>([169 * 2 ** 24 + 254 * 2 ** 16 + 169 * 256 + 253]);
    for (const c of cidrs) {
      reserved.add((c.first as number) + 1); // the VPC router
      reserved.add((c.first as number) + 2); // the Amazon DNS resolver
    }
    const vpc: Vpc = {
      id: v.id,
      account: v.account ?? this.doc.account,
      cidrs,
      ipv6Cidr,
      igwId: v.internetGateway,
      vgwId: v.virtualPrivateGateway,
      bpa: v.blockPublicAccess,
      subnets: [],
      enisByIp: new Map(),
      mainRouteTable: undefined as unknown as RouteTable,
      defaultNacl: undefined as unknown as Nacl,
      reservedIps: reserved,
    };
    this.topo.vpcs.push(vpc);
  }

  private securityGroups(v: TopologyDocT['vpcs'][number], vi: number): void {
    v.securityGroups.forEach((g, gi) => {
      const p: PathPart[] = ['vpcs', vi, 'securityGroups', gi];
      this.claim(g.id, [...p, 'id']);
      const rules = (rs: SgRuleDocT[], dir: 'ingress' | 'egress') =>
        rs.map((r, ri) => this.sgRule(r, ri, [...p, dir, ri]));
      this.topo.securityGroups.set(g.id, { id: g.id, name: g.name ?? g.id, vpcId: v.id, ingress: rules(g.ingress, 'ingress'), egress: rules(g.egress, 'egress') });
    });
  }

  private sgRule(r: SgRuleDocT, index: number, p: PathPart[]): SgRule {
    const peers = [r.cidr, r.prefixList, r.group].filter((x) => x !== undefined).length;
    if (peers !== 1) this.fail(p, 'a security group rule needs exactly one of cidr, prefixList, group');
    const protocol = protocolNumber(r.protocol);
    const ports = portRange(r.ports);
    if (!ports) this.fail([...p, 'ports'], `"${r.ports}" is not a port range`);
    let prefixList: SgRule['prefixList'];
    if (r.prefixList) {
      const cidrs = this.topo.prefixLists.get(r.prefixList);
      if (!cidrs) this.fail([...p, 'prefixList'], `unknown prefix list "${r.prefixList}"`);
      prefixList = { id: r.prefixList, cidrs: cidrs! };
    }
    const icmpType = r.icmpType ?? -1;
    const peer = r.cidr ?? r.prefixList ?? r.group;
    return {
      index,
      protocol,
      from: ports![0],
      to: ports![1],
      icmpType,
      icmpCode: r.icmpCode ?? -1,
      cidr: r.cidr !== undefined ? this.cidr(r.cidr, [...p, 'cidr']) : undefined,
      prefixList,
      group: r.group,
      text: `${ruleSummary(protocol, ports![0], ports![1], icmpType)} ${peer}`,
    };
  }

  private subnetsAndEnis(v: TopologyDocT['vpcs'][number], vi: number): void {
    const vpc = this.topo.vpcs[vi];
    v.subnets.forEach((s, si) => {
      const p: PathPart[] = ['vpcs', vi, 'subnets', si];
      this.claim(s.id, [...p, 'id']);
      const cidr = this.cidr(s.cidr, [...p, 'cidr'], true);
      if (!vpc.cidrs.some((c) => cidrWithin(cidr, c))) this.fail([...p, 'cidr'], `${cidr.text} is not inside the VPC's blocks (${vpc.cidrs.map((c) => c.text).join(', ')})`);
      if (cidr.prefix > 28) this.fail([...p, 'cidr'], `subnets must be /16 to /28, not /${cidr.prefix}`);
      const clash = vpc.subnets.find((o) => cidrOverlaps(o.cidr, cidr));
      if (clash) this.fail([...p, 'cidr'], `${cidr.text} overlaps subnet ${clash.id} (${clash.cidr.text})`);
      const ipv6Cidr = s.ipv6Cidr ? this.cidr(s.ipv6Cidr, [...p, 'ipv6Cidr'], true) : undefined;
      if (ipv6Cidr && (!vpc.ipv6Cidr || !cidrWithin(ipv6Cidr, vpc.ipv6Cidr))) this.fail([...p, 'ipv6Cidr'], `${ipv6Cidr.text} is not inside the VPC's IPv6 block`);
      const subnet: Subnet = {
        id: s.id,
        vpc,
        cidr,
        ipv6Cidr,
        az: s.az,
        azId: s.azId ?? azIdFor(s.az),
        routeTable: undefined as unknown as RouteTable,
        nacl: undefined as unknown as Nacl,
        bpaExclusion: s.bpaExclusion,
        enis: [],
      };
      vpc.subnets.push(subnet);
      this.topo.subnets.push(subnet);
      s.enis.forEach((e, ei) => this.eni(e, [...p, 'enis', ei], subnet));
    });
  }

  private eni(e: TopologyDocT['vpcs'][number]['subnets'][number]['enis'][number], p: PathPart[], subnet: Subnet): void {
    const t = this.topo;
    const vpc = subnet.vpc;
    this.claim(e.id, [...p, 'id']);
    const ip = parseV4(e.ip);
    if (ip < 0) this.fail([...p, 'ip'], `"${e.ip}" is not an IPv4 address`);
    const addrs: Ip[] = [ip];
    const own = (a: Ip, ap: PathPart[], text: string) => {
      const block = typeof a === 'number' ? subnet.cidr : subnet.ipv6Cidr;
      if (!block || !cidrContains(block, a)) this.fail(ap, `${text} is not inside subnet ${subnet.id} (${block?.text ?? 'no IPv6 block'})`);
      if (typeof a === 'number') {
        const off = a - (subnet.cidr.first as number);
        // AWS reserves the first four addresses and the last one of every subnet.
        if (off < 4 || a === subnet.cidr.last) this.fail(ap, `${text} is reserved by AWS in ${subnet.cidr.text} (first four and last addresses)`);
      }
      const other = vpc.enisByIp.get(a);
      if (other) this.fail(ap, `${text} is already the address of ${other.id}`);
    };
    own(ip, [...p, 'ip'], e.ip);
    e.secondaryIps.forEach((s, i) => {
      const a = parseV4(s);
      if (a < 0) this.fail([...p, 'secondaryIps', i], `"${s}" is not an IPv4 address`);
      own(a, [...p, 'secondaryIps', i], s);
      addrs.push(a);
    });
    e.ipv6.forEach((s, i) => {
      const a = this.ip(s, [...p, 'ipv6', i]);
      if (typeof a !== 'bigint') this.fail([...p, 'ipv6', i], `"${s}" is not an IPv6 address`);
      own(a, [...p, 'ipv6', i], s);
      addrs.push(a);
    });
    let publicIp: number | undefined;
    if (e.publicIp !== undefined) {
      publicIp = parseV4(e.publicIp);
      if (publicIp < 0) this.fail([...p, 'publicIp'], `"${e.publicIp}" is not an IPv4 address`);
      const other = t.enisByPublicIp.get(publicIp);
      if (other) this.fail([...p, 'publicIp'], `${e.publicIp} is already the public address of ${other.id}`);
    }
    const sgs = e.securityGroups.map((g, i) => {
      const sg = t.securityGroups.get(g);
      if (!sg) this.fail([...p, 'securityGroups', i], `unknown security group "${g}"`);
      if (sg!.vpcId !== vpc.id) this.fail([...p, 'securityGroups', i], `security group ${g} belongs to ${sg!.vpcId}, not ${vpc.id}`);
      return sg!;
    });
    if (e.type === 'nat_gateway' && !e.natGateway) this.fail([...p, 'natGateway'], 'a nat_gateway interface needs natGateway (its nat-... id)');
    if (e.type === 'interface' && e.securityGroups.length === 0) this.fail([...p, 'securityGroups'], 'an instance interface needs at least one security group');
    const managed = e.type !== 'interface' && e.type !== 'lambda';
    const eni: Eni = {
      index: t.enis.length,
      id: e.id,
      vpc,
      subnet,
      ip,
      addrs,
      publicIp,
      type: e.type,
      instanceId: managed ? undefined : e.instance,
      natGatewayId: e.natGateway,
      managed,
      securityGroups: sgs,
      nitro: e.nitro ?? !managed,
      role: e.role,
      name: e.name,
      // Service-created interfaces may be logged under account "unknown"; keep the owner unless told.
      account: e.account ?? vpc.account,
      maxRecordsPerWindow: e.maxRecordsPerWindow,
    };
    t.enis.push(eni);
    subnet.enis.push(eni);
    for (const a of addrs) vpc.enisByIp.set(a, eni);
    if (publicIp !== undefined) t.enisByPublicIp.set(publicIp, eni);
    if (e.natGateway) {
      if (t.natGateways.has(e.natGateway)) this.fail([...p, 'natGateway'], `NAT gateway ${e.natGateway} already has an interface`);
      t.natGateways.set(e.natGateway, eni);
    }
  }

  private naclRules(rs: NaclRuleDocT[], p: PathPart[]): NaclRule[] {
    const seen = new Set<number>();
    const out = rs.map((r, i) => {
      if (seen.has(r.rule)) this.fail([...p, i, 'rule'], `rule number ${r.rule} appears twice`);
      seen.add(r.rule);
      const protocol = protocolNumber(r.protocol);
      const ports = portRange(r.ports);
      if (!ports) this.fail([...p, i, 'ports'], `"${r.ports}" is not a port range`);
      const icmpType = r.icmpType ?? -1;
      return {
        number: r.rule,
        allow: r.action === 'allow',
        protocol,
        from: ports![0],
        to: ports![1],
        icmpType,
        icmpCode: r.icmpCode ?? -1,
        cidr: this.cidr(r.cidr, [...p, i, 'cidr']),
        text: `${r.action} ${ruleSummary(protocol, ports![0], ports![1], icmpType)} ${r.cidr}`,
      };
    });
    return out.sort((a, b) => a.number - b.number);
  }

  private aclsAndRoutes(v: TopologyDocT['vpcs'][number], vi: number): void {
    const t = this.topo;
    const vpc = t.vpcs[vi];
    const p: PathPart[] = ['vpcs', vi];
    const acls = new Map<string, Nacl>();
    v.networkAcls.forEach((a, ai) => {
      this.claim(a.id, [...p, 'networkAcls', ai, 'id']);
      const nacl: Nacl = { id: a.id, ingress: this.naclRules(a.ingress, [...p, 'networkAcls', ai, 'ingress']), egress: this.naclRules(a.egress, [...p, 'networkAcls', ai, 'egress']) };
      acls.set(a.id, nacl);
      if (a.default) {
        if (vpc.defaultNacl) this.fail([...p, 'networkAcls', ai, 'default'], `${vpc.id} already has a default network ACL (${vpc.defaultNacl.id})`);
        vpc.defaultNacl = nacl;
      }
    });
    if (!vpc.defaultNacl) {
      // AWS's default network ACL allows everything both ways.
      const all = (n: number): NaclRule => ({ number: n, allow: true, protocol: -1, from: 0, to: 65535, icmpType: -1, icmpCode: -1, cidr: parseCidr('0.0.0.0/0')!, text: 'allow all 0.0.0.0/0' });
      const allV6 = (n: number): NaclRule => ({ ...all(n), cidr: parseCidr('::/0')!, text: 'allow all ::/0' });
      vpc.defaultNacl = { id: `acl-${stableHex(vpc.id + ':default-acl', 17)}`, ingress: [all(100), allV6(101)], egress: [all(100), allV6(101)] };
    }
    const tables = new Map<string, RouteTable>();
    v.routeTables.forEach((rt, ri) => {
      const rp: PathPart[] = [...p, 'routeTables', ri];
      this.claim(rt.id, [...rp, 'id']);
      const routes: Route[] = [];
      let hasLocal = false;
      rt.routes.forEach((r, i) => {
        const target = this.routeTarget(vpc, r.target, [...rp, 'routes', i, 'target']);
        if (target.kind === 'local') hasLocal = true;
        const text = `${r.destination} → ${r.target}`;
        if (r.destination.startsWith('pl-')) {
          const cidrs = t.prefixLists.get(r.destination);
          if (!cidrs) this.fail([...rp, 'routes', i, 'destination'], `unknown prefix list "${r.destination}"`);
          for (const c of cidrs!) routes.push({ destination: c, prefixListId: r.destination, target, text });
        } else routes.push({ destination: this.cidr(r.destination, [...rp, 'routes', i, 'destination']), target, text });
      });
      if (!hasLocal) for (const c of [...vpc.cidrs, ...(vpc.ipv6Cidr ? [vpc.ipv6Cidr] : [])]) routes.push({ destination: c, target: { kind: 'local', id: 'local' }, text: `${c.text} → local` });
      routes.sort((a, b) => b.destination.prefix - a.destination.prefix);
      const table: RouteTable = { id: rt.id, routes };
      tables.set(rt.id, table);
      if (rt.main) {
        if (vpc.mainRouteTable) this.fail([...rp, 'main'], `${vpc.id} already has a main route table (${vpc.mainRouteTable.id})`);
        vpc.mainRouteTable = table;
      }
    });
    if (!vpc.mainRouteTable) {
      vpc.mainRouteTable = {
        id: `rtb-${stableHex(vpc.id + ':main-rtb', 17)}`,
        routes: vpc.cidrs.map((c) => ({ destination: c, target: { kind: 'local', id: 'local' }, text: `${c.text} → local` })),
      };
    }
    v.subnets.forEach((s, si) => {
      const subnet = vpc.subnets[si];
      const sp: PathPart[] = [...p, 'subnets', si];
      if (s.routeTable !== undefined && !tables.has(s.routeTable)) this.fail([...sp, 'routeTable'], `unknown route table "${s.routeTable}" in ${vpc.id}`);
      if (s.networkAcl !== undefined && !acls.has(s.networkAcl)) this.fail([...sp, 'networkAcl'], `unknown network ACL "${s.networkAcl}" in ${vpc.id}`);
      subnet.routeTable = s.routeTable !== undefined ? tables.get(s.routeTable)! : vpc.mainRouteTable;
      subnet.nacl = s.networkAcl !== undefined ? acls.get(s.networkAcl)! : vpc.defaultNacl;
    });
  }

  private routeTarget(vpc: Vpc, target: string, p: PathPart[]): RouteTarget {
    const t = this.topo;
    if (target === 'local') return { kind: 'local', id: 'local' };
    if (target === 'blackhole') return { kind: 'blackhole', id: 'blackhole' };
    const prefix = target.split('-')[0];
    switch (prefix) {
      case 'igw':
        if (vpc.igwId !== target) this.fail(p, `"${target}" is not the internet gateway of ${vpc.id}${vpc.igwId ? ` (${vpc.igwId})` : ' (it has none)'}`);
        return { kind: 'igw', id: target };
      case 'nat': {
        const eni = t.natGateways.get(target);
        if (!eni) this.fail(p, `unknown NAT gateway "${target}" (no interface has natGateway: ${target})`);
        return { kind: 'nat', id: target, eni: eni! };
      }
      case 'vpce': {
        const ep = this.doc.vpcs.find((v) => v.id === vpc.id)!.gatewayEndpoints.find((g) => g.id === target);
        if (!ep) this.fail(p, `unknown gateway endpoint "${target}" in ${vpc.id}`);
        return { kind: 'vpce', id: target, service: ep!.service };
      }
      case 'pcx': {
        const pcx = this.doc.peeringConnections.find((x) => x.id === target);
        if (!pcx || !pcx.vpcs.includes(vpc.id)) this.fail(p, `unknown peering connection "${target}" for ${vpc.id}`);
        const peerId = pcx!.vpcs[0] === vpc.id ? pcx!.vpcs[1] : pcx!.vpcs[0];
        return { kind: 'pcx', id: target, peer: this.vpcById(peerId)!, crossRegion: pcx!.crossRegion };
      }
      case 'tgw': {
        const tgw = this.doc.transitGateways.find((x) => x.id === target);
        if (!tgw) this.fail(p, `unknown transit gateway "${target}"`);
        return { kind: 'tgw', id: target, vpcs: tgw!.vpcs.map((id) => this.vpcById(id)).filter((x): x is Vpc => x !== undefined) };
      }
      case 'vgw':
        if (vpc.vgwId !== target) this.fail(p, `"${target}" is not the virtual private gateway of ${vpc.id}`);
        return { kind: 'vgw', id: target };
      case 'eni': {
        const eni = t.enis.find((e) => e.id === target);
        if (!eni) this.fail(p, `unknown network interface "${target}"`);
        return { kind: 'eni', id: target, eni: eni! };
      }
      default:
        return this.fail(p, `unknown route target "${target}" (expected local, blackhole or an igw-, nat-, vpce-, pcx-, tgw-, vgw-, eni- id)`);
    }
  }

  private sgRuleReferences(): void {
    this.doc.vpcs.forEach((v, vi) =>
      v.securityGroups.forEach((g, gi) =>
        (['ingress', 'egress'] as const).forEach((dir) =>
          g[dir].forEach((r, ri) => {
            if (r.group !== undefined && !this.topo.securityGroups.has(r.group)) {
              this.fail(['vpcs', vi, 'securityGroups', gi, dir, ri, 'group'], `unknown security group "${r.group}"`);
            }
          }),
        ),
      ),
    );
  }

  private flowLogs(): void {
    const t = this.topo;
    const logs = this.doc.flowLogs.length > 0 ? this.doc.flowLogs : t.vpcs.map((v) => ({ resource: v.id, trafficType: 'ALL' as const, interval: 600 as const, destination: { type: 's3' as const, prefix: '', hive: false, perHourPartition: false, fileFormat: 'text' as const } }));
    logs.forEach((fl, i) => {
      const p: PathPart[] = ['flowLogs', i];
      const kind = fl.resource.startsWith('vpc-') ? 'vpc' : fl.resource.startsWith('subnet-') ? 'subnet' : fl.resource.startsWith('eni-') ? 'eni' : undefined;
      const exists = kind === 'vpc' ? t.vpcs.some((v) => v.id === fl.resource) : kind === 'subnet' ? t.subnets.some((s) => s.id === fl.resource) : kind === 'eni' ? t.enis.some((e) => e.id === fl.resource) : false;
      if (!kind || !exists) this.fail([...p, 'resource'], `unknown flow log resource "${fl.resource}" (a VPC, subnet or ENI id of this topology)`);
      let fields: string[];
      try {
        fields = parseFormatString('format' in fl && fl.format ? fl.format : DEFAULT_FORMAT);
      } catch (err) {
        if (err instanceof FormatError) this.fail([...p, 'format'], err.message);
        throw err;
      }
      const flId = ('id' in fl && fl.id) || `fl-${stableHex(`${fl.resource}:${i}`, 17)}`;
      t.flowLogs.push({ id: flId, resource: fl.resource, resourceKind: kind!, trafficType: fl.trafficType, interval: fl.interval, fields: fields!, destination: fl.destination } satisfies FlowLogSpec);
    });
  }
}
