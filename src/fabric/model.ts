import type { Cidr, Ip } from './ip.ts';
import type { FlowLogDocT, TopologyDocT } from './config.ts';

/**
 * The resolved topology the policy engine and the traffic driver work on: ids are resolved to
 * objects, CIDRs to numeric ranges, rules sorted. Built from a validated document by
 * `buildTopology`; never mutated (a scheduled change builds a new one from a changed document).
 */
export interface Topology {
  account: string;
  region: string;
  vpcs: Vpc[];
  subnets: Subnet[];
  /** Every ENI; `eni.index` is its position here and stays the same across topology versions. */
  enis: Eni[];
  securityGroups: Map<string, SecurityGroup>;
  prefixLists: Map<string, Cidr[]>;
  awsServices: { service: string; cidr: Cidr }[];
  peerings: Map<string, Peering>;
  enisByPublicIp: Map<number, Eni>;
  natGateways: Map<string, Eni>;
  flowLogs: FlowLogSpec[];
  /** The validated document this was built from (scenarios change a copy of it). */
  doc: TopologyDocT;
}

export type BpaMode = 'off' | 'block-bidirectional' | 'block-ingress';

export interface Vpc {
  id: string;
  account: string;
  cidrs: Cidr[];
  ipv6Cidr?: Cidr;
  igwId?: string;
  vgwId?: string;
  bpa: BpaMode;
  subnets: Subnet[];
  /** Private addresses (primary, secondary, IPv6) of the VPC's ENIs. */
  enisByIp: Map<Ip, Eni>;
  mainRouteTable: RouteTable;
  defaultNacl: Nacl;
  /** Addresses AWS never logs traffic to or from in this VPC (router, DNS resolver). */
  reservedIps: Set<Ip>;
}

export interface Subnet {
  id: string;
  vpc: Vpc;
  cidr: Cidr;
  ipv6Cidr?: Cidr;
  az: string;
  azId: string;
  routeTable: RouteTable;
  nacl: Nacl;
  bpaExclusion?: 'allow-bidirectional' | 'allow-egress';
  enis: Eni[];
}

export type InterfaceType =
  | 'interface'
  | 'nat_gateway'
  | 'network_load_balancer'
  | 'application_load_balancer'
  | 'gateway_load_balancer'
  | 'vpc_endpoint'
  | 'transit_gateway'
  | 'lambda';

export interface Eni {
  index: number;
  id: string;
  vpc: Vpc;
  subnet: Subnet;
  /** Primary private IPv4 (what srcaddr/dstaddr show for traffic to any of its addresses). */
  ip: number;
  /** All private addresses, primary first. */
  addrs: Ip[];
  publicIp?: number;
  type: InterfaceType;
  instanceId?: string;
  natGatewayId?: string;
  /** Requester-managed (NAT gateway, endpoints, TGW, load balancer): instance-id is `-`. */
  managed: boolean;
  securityGroups: SecurityGroup[];
  nitro: boolean;
  role?: string;
  name?: string;
  account: string;
  maxRecordsPerWindow?: number;
}

export interface SecurityGroup {
  id: string;
  name: string;
  vpcId: string;
  ingress: SgRule[];
  egress: SgRule[];
}

/** Protocol -1 means all; ports are an inclusive range (ICMP rules use type/code instead). */
export interface SgRule {
  index: number;
  protocol: number;
  from: number;
  to: number;
  icmpType: number;
  icmpCode: number;
  cidr?: Cidr;
  prefixList?: { id: string; cidrs: Cidr[] };
  group?: string;
  text: string;
}

export interface NaclRule {
  number: number;
  allow: boolean;
  protocol: number;
  from: number;
  to: number;
  icmpType: number;
  icmpCode: number;
  cidr: Cidr;
  text: string;
}

export interface Nacl {
  id: string;
  /** Sorted by rule number; the final `*` deny is implicit. */
  ingress: NaclRule[];
  egress: NaclRule[];
}

export type RouteTarget =
  | { kind: 'local'; id: 'local' }
  | { kind: 'igw'; id: string }
  | { kind: 'nat'; id: string; eni: Eni }
  | { kind: 'vpce'; id: string; service: string }
  | { kind: 'pcx'; id: string; peer: Vpc; crossRegion: boolean }
  | { kind: 'tgw'; id: string; vpcs: Vpc[] }
  | { kind: 'vgw'; id: string }
  | { kind: 'eni'; id: string; eni: Eni }
  | { kind: 'blackhole'; id: 'blackhole' };

export interface Route {
  destination: Cidr;
  /** The prefix list the route came from, when it did. */
  prefixListId?: string;
  target: RouteTarget;
  text: string;
}

export interface RouteTable {
  id: string;
  /** Longest prefix first, so the first match is the winner. */
  routes: Route[];
}

export interface Peering {
  id: string;
  a: Vpc;
  b: Vpc;
  crossRegion: boolean;
}

export interface FlowLogSpec {
  id: string;
  resource: string;
  resourceKind: 'vpc' | 'subnet' | 'eni';
  trafficType: 'ACCEPT' | 'REJECT' | 'ALL';
  interval: 60 | 600;
  fields: string[];
  destination: FlowLogDocT['destination'];
}
