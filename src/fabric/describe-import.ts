import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, jsonError } from '../util/errors.ts';
import { INTERFACE_TYPES, type TopologyDocIn } from './config.ts';

/**
 * Imports a topology from the JSON that `aws ec2 describe-vpcs / describe-subnets /
 * describe-network-interfaces / describe-security-groups / describe-network-acls /
 * describe-route-tables --output json` print (any file names; each file is recognised by its
 * top-level key). What the six calls do not say (prefix list contents, the far side of a
 * peering the folder does not hold) is left out rather than guessed.
 */

type Json = Record<string, unknown>;
type VpcIn = NonNullable<TopologyDocIn['vpcs']>[number];
type SubnetIn = NonNullable<VpcIn['subnets']>[number];
type EniIn = NonNullable<SubnetIn['enis']>[number];
type SgRuleIn = NonNullable<NonNullable<VpcIn['securityGroups']>[number]['ingress']>[number];
type NaclRuleIn = NonNullable<NonNullable<VpcIn['networkAcls']>[number]['ingress']>[number];
type RouteIn = NonNullable<NonNullable<VpcIn['routeTables']>[number]['routes']>[number];

const KEYS = ['Vpcs', 'Subnets', 'NetworkInterfaces', 'SecurityGroups', 'NetworkAcls', 'RouteTables'] as const;
type Key = (typeof KEYS)[number];

/** Where a piece of the converted document came from, for error messages. */
export type Locate = (path: readonly (string | number)[]) => string | undefined;

const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const tag = (tags: unknown, key: string) => arr(tags).find((t) => String(t.Key).toLowerCase() === key.toLowerCase())?.Value as string | undefined;

function protocolOf(p: unknown): SgRuleIn['protocol'] {
  const s = String(p ?? '-1').toLowerCase();
  if (s === '-1' || s === 'all') return 'all';
  if (s === 'tcp' || s === 'udp' || s === 'icmp' || s === 'icmpv6') return s;
  const n = Number(s);
  if (Number.isInteger(n)) return n === 6 ? 'tcp' : n === 17 ? 'udp' : n === 1 ? 'icmp' : n === 58 ? 'icmpv6' : n;
  return 'all';
}

function portsOf(proto: SgRuleIn['protocol'], from: unknown, to: unknown): Pick<SgRuleIn, 'ports' | 'icmpType' | 'icmpCode'> {
  if (proto === 'icmp' || proto === 'icmpv6') return { icmpType: typeof from === 'number' ? from : -1, icmpCode: typeof to === 'number' ? to : -1 };
  if (proto !== 'tcp' && proto !== 'udp') return {};
  if (typeof from !== 'number' || typeof to !== 'number' || from === -1) return { ports: 'all' };
  return { ports: from === to ? from : `${from}-${to}` };
}

/**
 * Reads a folder of describe-* outputs into a topology document.
 * @example const { doc } = importDescribeDir('./my-vpc/') // then buildTopology(doc, ...)
 */
export function importDescribeDir(dir: string): { doc: TopologyDocIn; file: string; locate: Locate } {
  const found = new Map<Key, { file: string; items: Json[] }>();
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const file = join(dir, name);
    let json: Json;
    const text = readFileSync(file, 'utf8');
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw jsonError(file, text, err);
    }
    for (const k of KEYS) {
      if (!Array.isArray(json[k])) continue;
      const prev = found.get(k);
      found.set(k, { file: prev ? `${prev.file}, ${name}` : file, items: [...(prev?.items ?? []), ...arr(json[k])] });
    }
  }
  for (const k of ['Vpcs', 'Subnets'] as const) {
    if (!found.has(k)) throw new UserError(`${dir}: no describe-${k === 'Vpcs' ? 'vpcs' : 'subnets'} output (a JSON file with a top-level "${k}" array)`);
  }
  const get = (k: Key) => found.get(k)?.items ?? [];
  const origins = new Map<object, string>();
  const from = <T extends object>(o: T, k: Key, i: number): T => {
    origins.set(o, `${found.get(k)!.file}: ${k}[${i}]`);
    return o;
  };

  const vpcsJ = get('Vpcs');
  const subnetsJ = get('Subnets');
  const enisJ = get('NetworkInterfaces');
  const rtsJ = get('RouteTables');
  const account = str(vpcsJ[0]?.OwnerId) ?? '123456789012';
  const az = str(subnetsJ[0]?.AvailabilityZone);
  const region = az ? az.replace(/[a-z]$/, '') : 'us-east-1';
  const prefixLists = new Set<string>();
  const pcxVpcs = new Map<string, Set<string>>();
  const tgwVpcs = new Map<string, Set<string>>();
  const instanceEni = new Map<string, string>();
  for (const e of enisJ) {
    const inst = str((e.Attachment as Json | undefined)?.InstanceId);
    if (inst && !instanceEni.has(inst)) instanceEni.set(inst, String(e.NetworkInterfaceId));
  }

  const vpcs: VpcIn[] = vpcsJ.map((v, vi) => {
    const id = String(v.VpcId);
    const cidrs = arr(v.CidrBlockAssociationSet).map((c) => str(c.CidrBlock)).filter((c): c is string => !!c && c !== v.CidrBlock);
    const routeTables = rtsJ.map((rt, i) => [rt, i] as const).filter(([rt]) => rt.VpcId === id);
    const gateways = new Set<string>();
    for (const [rt] of routeTables) for (const r of arr(rt.Routes)) if (str(r.GatewayId)) gateways.add(String(r.GatewayId));
    const igw = [...gateways].find((g) => g.startsWith('igw-'));
    const vgw = [...gateways].find((g) => g.startsWith('vgw-'));
    const endpoints = new Map<string, string>();
    for (const [rt] of routeTables) for (const r of arr(rt.Routes)) if (String(r.GatewayId ?? '').startsWith('vpce-') && str(r.DestinationPrefixListId)) endpoints.set(String(r.GatewayId), String(r.DestinationPrefixListId));
    return from(
      {
        id,
        cidr: String(v.CidrBlock),
        secondaryCidrs: cidrs,
        ipv6Cidr: str(arr(v.Ipv6CidrBlockAssociationSet)[0]?.Ipv6CidrBlock),
        account: str(v.OwnerId),
        internetGateway: igw,
        virtualPrivateGateway: vgw,
        gatewayEndpoints: [...endpoints].map(([eid, pl]) => {
          prefixLists.add(pl);
          return { id: eid, service: 'AMAZON', prefixList: pl };
        }),
        subnets: [],
        securityGroups: get('SecurityGroups')
          .map((g, gi) => [g, gi] as const)
          .filter(([g]) => g.VpcId === id)
          .map(([g, gi]) => from({ id: String(g.GroupId), name: str(g.GroupName), ingress: sgRules(g.IpPermissions, prefixLists), egress: sgRules(g.IpPermissionsEgress, prefixLists) }, 'SecurityGroups', gi)),
        networkAcls: get('NetworkAcls')
          .map((a, ai) => [a, ai] as const)
          .filter(([a]) => a.VpcId === id)
          .map(([a, ai]) => from({ id: String(a.NetworkAclId), default: a.IsDefault === true, ingress: naclRules(a.Entries, false), egress: naclRules(a.Entries, true) }, 'NetworkAcls', ai)),
        routeTables: routeTables.map(([rt, ri]) =>
          from(
            {
              id: String(rt.RouteTableId),
              main: arr(rt.Associations).some((x) => x.Main === true),
              routes: arr(rt.Routes)
                .map((r) => route(r, id, instanceEni, prefixLists, pcxVpcs, tgwVpcs))
                .filter((r): r is RouteIn => r !== undefined),
            },
            'RouteTables',
            ri,
          ),
        ),
      },
      'Vpcs',
      vi,
    );
  });

  const byVpc = new Map(vpcs.map((v) => [v.id, v]));
  subnetsJ.forEach((s, si) => {
    const vpc = byVpc.get(String(s.VpcId));
    if (!vpc) throw new UserError(`${found.get('Subnets')!.file}: Subnets[${si}].VpcId: "${s.VpcId}" is not in the describe-vpcs output`);
    const id = String(s.SubnetId);
    const rt = rtsJ.find((x) => arr(x.Associations).some((a) => a.SubnetId === id));
    const acl = get('NetworkAcls').find((x) => arr(x.Associations).some((a) => a.SubnetId === id));
    const subnet: SubnetIn = from(
      {
        id,
        cidr: String(s.CidrBlock),
        ipv6Cidr: str(arr(s.Ipv6CidrBlockAssociationSet)[0]?.Ipv6CidrBlock),
        az: String(s.AvailabilityZone),
        azId: str(s.AvailabilityZoneId),
        routeTable: rt ? String(rt.RouteTableId) : undefined,
        networkAcl: acl ? String(acl.NetworkAclId) : undefined,
        enis: [],
      },
      'Subnets',
      si,
    );
    vpc.subnets!.push(subnet);
  });
  const bySubnet = new Map(vpcs.flatMap((v) => v.subnets!.map((s) => [s.id, s] as const)));
  enisJ.forEach((e, ei) => {
    const subnet = bySubnet.get(String(e.SubnetId));
    if (!subnet) return; // an interface of a subnet the folder does not describe
    subnet.enis!.push(from(eni(e), 'NetworkInterfaces', ei));
  });

  const doc: TopologyDocIn = {
    account,
    region,
    vpcs,
    prefixLists: [...prefixLists].sort().map((id) => ({ id, cidrs: [] })),
    peeringConnections: [...pcxVpcs].filter(([, v]) => v.size === 2).map(([id, v]) => ({ id, vpcs: [...v] as [string, string] })),
    transitGateways: [...tgwVpcs].map(([id, v]) => ({ id, vpcs: [...v] })),
  };
  // Routes over a peering whose other side is not in the folder go nowhere we can model.
  const knownPcx = new Set(doc.peeringConnections!.map((p) => p.id));
  for (const v of vpcs) for (const rt of v.routeTables!) rt.routes = rt.routes!.filter((r) => !r.target.startsWith('pcx-') || knownPcx.has(r.target));

  const locate: Locate = (path) => {
    let node: unknown = doc;
    let where: string | undefined;
    for (const p of path) {
      if (node === null || typeof node !== 'object') break;
      node = (node as Record<string | number, unknown>)[p];
      if (node && typeof node === 'object' && origins.has(node)) where = origins.get(node);
    }
    return where;
  };
  return { doc, file: dir, locate };
}

function sgRules(perms: unknown, prefixLists: Set<string>): SgRuleIn[] {
  const out: SgRuleIn[] = [];
  for (const p of arr(perms)) {
    const protocol = protocolOf(p.IpProtocol);
    const ports = portsOf(protocol, p.FromPort, p.ToPort);
    for (const r of arr(p.IpRanges)) out.push({ protocol, ...ports, cidr: String(r.CidrIp), description: str(r.Description) });
    for (const r of arr(p.Ipv6Ranges)) out.push({ protocol, ...ports, cidr: String(r.CidrIpv6), description: str(r.Description) });
    for (const r of arr(p.PrefixListIds)) {
      prefixLists.add(String(r.PrefixListId));
      out.push({ protocol, ...ports, prefixList: String(r.PrefixListId) });
    }
    for (const r of arr(p.UserIdGroupPairs)) out.push({ protocol, ...ports, group: String(r.GroupId) });
  }
  return out;
}

function naclRules(entries: unknown, egress: boolean): NaclRuleIn[] {
  return arr(entries)
    .filter((e) => e.Egress === egress && Number(e.RuleNumber) < 32767)
    .map((e) => {
      const protocol = protocolOf(e.Protocol);
      const pr = e.PortRange as Json | undefined;
      const icmp = e.IcmpTypeCode as Json | undefined;
      const ports = protocol === 'icmp' || protocol === 'icmpv6' ? { icmpType: (icmp?.Type as number) ?? -1, icmpCode: (icmp?.Code as number) ?? -1 } : portsOf(protocol, pr?.From, pr?.To);
      return { rule: Number(e.RuleNumber), action: e.RuleAction === 'deny' ? 'deny' : 'allow', protocol, ...ports, cidr: String(e.CidrBlock ?? e.Ipv6CidrBlock) } as NaclRuleIn;
    });
}

function route(r: Json, vpcId: string, instanceEni: Map<string, string>, prefixLists: Set<string>, pcx: Map<string, Set<string>>, tgw: Map<string, Set<string>>): RouteIn | undefined {
  const destination = str(r.DestinationCidrBlock) ?? str(r.DestinationIpv6CidrBlock) ?? str(r.DestinationPrefixListId);
  if (!destination) return undefined;
  if (destination.startsWith('pl-')) prefixLists.add(destination);
  if (r.State === 'blackhole') return { destination, target: 'blackhole' };
  const add = (m: Map<string, Set<string>>, id: string) => m.set(id, (m.get(id) ?? new Set()).add(vpcId));
  const peering = str(r.VpcPeeringConnectionId);
  if (peering) add(pcx, peering);
  const transit = str(r.TransitGatewayId);
  if (transit) add(tgw, transit);
  const inst = str(r.InstanceId);
  const target = str(r.GatewayId) ?? str(r.NatGatewayId) ?? peering ?? transit ?? str(r.NetworkInterfaceId) ?? (inst ? instanceEni.get(inst) : undefined);
  // Egress-only, carrier and local gateways are not modelled; their routes are left out.
  if (!target || !/^(local|igw-|nat-|vpce-|pcx-|tgw-|vgw-|eni-)/.test(target)) return undefined;
  return { destination, target };
}

function eni(e: Json): EniIn {
  const addrs = arr(e.PrivateIpAddresses);
  const primary = addrs.find((a) => a.Primary === true);
  const publicIp = str((primary?.Association as Json | undefined)?.PublicIp) ?? str((e.Association as Json | undefined)?.PublicIp);
  const raw = String(e.InterfaceType ?? 'interface');
  const description = String(e.Description ?? '');
  const instance = str((e.Attachment as Json | undefined)?.InstanceId);
  let type: EniIn['type'] = (INTERFACE_TYPES as readonly string[]).includes(raw) ? (raw as EniIn['type']) : instance ? 'interface' : 'vpc_endpoint';
  // Application load balancers' interfaces say "interface"; their description gives them away.
  if (type === 'interface' && e.RequesterManaged === true && description.startsWith('ELB app/')) type = 'application_load_balancer';
  else if (type === 'interface' && e.RequesterManaged === true && !instance) type = 'vpc_endpoint';
  return {
    id: String(e.NetworkInterfaceId),
    ip: String(e.PrivateIpAddress),
    secondaryIps: addrs.filter((a) => a.Primary !== true).map((a) => String(a.PrivateIpAddress)),
    publicIp,
    ipv6: arr(e.Ipv6Addresses).map((a) => String(a.Ipv6Address)),
    type,
    instance: type === 'interface' ? instance : undefined,
    natGateway: type === 'nat_gateway' ? /nat-[0-9a-f]+/.exec(description)?.[0] : undefined,
    securityGroups: arr(e.Groups).map((g) => String(g.GroupId)),
    role: tag(e.TagSet, 'role'),
    name: tag(e.TagSet, 'Name'),
    account: str(e.OwnerId),
  };
}
