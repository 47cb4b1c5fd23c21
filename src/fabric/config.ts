import { z } from 'zod';

/**
 * The topology file (YAML) and the emulator's options, as zod schemas with their defaults.
 * Unknown keys are rejected everywhere so a typo is an error, not a silently ignored line.
 */

const id = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-[0-9a-zA-Z]+$`), `expected an id like "${prefix}-0a1b2c3d"`);

/** `tcp`, `udp`, `icmp`, `icmpv6`, `all` (or `-1`), or an IANA protocol number. */
export const ProtocolDoc = z.union([z.enum(['tcp', 'udp', 'icmp', 'icmpv6', 'all', '-1']), z.number().int().min(-1).max(255)]);

/** A port, a range `"1024-65535"`, or `all`. */
export const PortsDoc = z.union([z.number().int().min(0).max(65535), z.string().regex(/^(all|\d{1,5}(-\d{1,5})?)$/, 'expected a port, "from-to" or "all"')]);

export const SgRuleDoc = z.strictObject({
  protocol: ProtocolDoc,
  ports: PortsDoc.optional(),
  icmpType: z.number().int().min(-1).max(255).optional(),
  icmpCode: z.number().int().min(-1).max(255).optional(),
  cidr: z.string().optional(),
  prefixList: z.string().optional(),
  group: z.string().optional(),
  description: z.string().optional(),
});

export const NaclRuleDoc = z.strictObject({
  rule: z.number().int().min(1).max(32766),
  action: z.enum(['allow', 'deny']),
  protocol: ProtocolDoc,
  ports: PortsDoc.optional(),
  icmpType: z.number().int().min(-1).max(255).optional(),
  icmpCode: z.number().int().min(-1).max(255).optional(),
  cidr: z.string(),
});

export const SecurityGroupDoc = z.strictObject({
  id: id('sg'),
  name: z.string().optional(),
  ingress: z.array(SgRuleDoc).default([]),
  egress: z.array(SgRuleDoc).default([{ protocol: 'all', cidr: '0.0.0.0/0' }]),
});

export const NetworkAclDoc = z.strictObject({
  id: id('acl'),
  default: z.boolean().default(false),
  ingress: z.array(NaclRuleDoc).default([]),
  egress: z.array(NaclRuleDoc).default([]),
});

export const RouteDoc = z.strictObject({
  /** A CIDR block or a prefix list id. */
  destination: z.string(),
  /** `local`, `blackhole`, or igw-, nat-, vpce-, pcx-, tgw-, vgw-, eni- ids. */
  target: z.string(),
});

export const RouteTableDoc = z.strictObject({
  id: id('rtb'),
  main: z.boolean().default(false),
  routes: z.array(RouteDoc).default([]),
});

/** AWS's InterfaceType values the fabric understands. */
export const INTERFACE_TYPES = [
  'interface',
  'nat_gateway',
  'network_load_balancer',
  'application_load_balancer',
  'gateway_load_balancer',
  'vpc_endpoint',
  'transit_gateway',
  'lambda',
] as const;

export const EniDoc = z.strictObject({
  id: id('eni'),
  ip: z.string(),
  secondaryIps: z.array(z.string()).default([]),
  publicIp: z.string().optional(),
  ipv6: z.array(z.string()).default([]),
  type: z.enum(INTERFACE_TYPES).default('interface'),
  instance: id('i').optional(),
  natGateway: id('nat').optional(),
  securityGroups: z.array(z.string()).default([]),
  /** Nitro instances report traffic-path 7/8 instead of 2 (and always use <= 60 s windows). */
  nitro: z.boolean().optional(),
  /** What scenarios call the interface (web, app, db, bastion, nat, alb, ...). */
  role: z.string().optional(),
  name: z.string().optional(),
  account: z.string().optional(),
  /** Records per window above which the interface reports SKIPDATA instead (AWS's internal capacity). */
  maxRecordsPerWindow: z.number().int().min(1).optional(),
});

export const SubnetDoc = z.strictObject({
  id: id('subnet'),
  cidr: z.string(),
  ipv6Cidr: z.string().optional(),
  az: z.string(),
  azId: z.string().optional(),
  routeTable: z.string().optional(),
  networkAcl: z.string().optional(),
  /** VPC Block Public Access exclusion for this subnet. */
  bpaExclusion: z.enum(['allow-bidirectional', 'allow-egress']).optional(),
  enis: z.array(EniDoc).default([]),
});

export const GatewayEndpointDoc = z.strictObject({
  id: id('vpce'),
  /** The AWS service name flow logs report in pkt-*-aws-service (S3, DYNAMODB). */
  service: z.string(),
  prefixList: z.string(),
});

export const VpcDoc = z.strictObject({
  id: id('vpc'),
  cidr: z.string(),
  secondaryCidrs: z.array(z.string()).default([]),
  ipv6Cidr: z.string().optional(),
  account: z.string().optional(),
  internetGateway: id('igw').optional(),
  virtualPrivateGateway: id('vgw').optional(),
  blockPublicAccess: z.enum(['off', 'block-bidirectional', 'block-ingress']).default('off'),
  gatewayEndpoints: z.array(GatewayEndpointDoc).default([]),
  subnets: z.array(SubnetDoc).default([]),
  securityGroups: z.array(SecurityGroupDoc).default([]),
  networkAcls: z.array(NetworkAclDoc).default([]),
  routeTables: z.array(RouteTableDoc).default([]),
});

export const FlowLogDoc = z.strictObject({
  id: id('fl').optional(),
  /** A VPC, subnet or ENI id. */
  resource: z.string(),
  trafficType: z.enum(['ACCEPT', 'REJECT', 'ALL']).default('ALL'),
  interval: z.union([z.literal(60), z.literal(600)]).default(600),
  format: z.string().optional(),
  destination: z
    .strictObject({
      type: z.enum(['s3', 'cloudwatch', 'firehose']).default('s3'),
      bucket: z.string().optional(),
      prefix: z.string().default(''),
      hive: z.boolean().default(false),
      perHourPartition: z.boolean().default(false),
      fileFormat: z.enum(['text', 'parquet']).default('text'),
      logGroup: z.string().optional(),
    })
    .prefault({}),
});

export const TopologyDoc = z.strictObject({
  account: z.string().regex(/^\d{12}$/, 'expected a 12-digit account id').default('123456789012'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected a region like us-east-1').default('us-east-1'),
  vpcs: z.array(VpcDoc).min(1, 'a topology needs at least one VPC'),
  prefixLists: z.array(z.strictObject({ id: id('pl'), name: z.string().optional(), cidrs: z.array(z.string()) })).default([]),
  /** Address ranges of AWS services, reported in pkt-src-aws-service / pkt-dst-aws-service. */
  awsServices: z.array(z.strictObject({ service: z.string(), cidrs: z.array(z.string()) })).default([]),
  peeringConnections: z
    .array(z.strictObject({ id: id('pcx'), vpcs: z.tuple([z.string(), z.string()]), crossRegion: z.boolean().default(false) }))
    .default([]),
  transitGateways: z.array(z.strictObject({ id: id('tgw'), vpcs: z.array(z.string()).default([]) })).default([]),
  flowLogs: z.array(FlowLogDoc).default([]),
});

export type TopologyDocIn = z.input<typeof TopologyDoc>;
export type TopologyDocT = z.output<typeof TopologyDoc>;
export type VpcDocT = z.output<typeof VpcDoc>;
export type SubnetDocT = z.output<typeof SubnetDoc>;
export type EniDocT = z.output<typeof EniDoc>;
export type SgRuleDocT = z.output<typeof SgRuleDoc>;
export type NaclRuleDocT = z.output<typeof NaclRuleDoc>;
export type FlowLogDocT = z.output<typeof FlowLogDoc>;

/** Delivery shapes `flowlens emulate --delivery` writes. */
export const DELIVERIES = ['s3', 's3-hive', 'parquet', 'cloudwatch', 'cloudwatch-subscription', 'firehose'] as const;
export type Delivery = (typeof DELIVERIES)[number];

/**
 * The default start: a fixed instant, so two runs with the same seed write the same bytes
 * (2024-01-15T00:00:00Z). Pass `start` for another.
 */
export const DEFAULT_START = 1705276800;

/** Options of `emulate()`, with their defaults. */
export const EmulateOptions = z.strictObject({
  /** A YAML topology file, a folder of `aws ec2 describe-*` JSON, or a parsed topology document. */
  topology: z.union([z.string(), z.custom<TopologyDocIn>((v) => typeof v === 'object' && v !== null)]).optional(),
  scenarios: z.array(z.string()).default(['web-app']),
  /** Seconds of traffic to emulate. */
  duration: z.number().int().min(1).default(3600),
  /** Aggregation interval; overrides the topology's flow logs when given. */
  interval: z.union([z.literal(60), z.literal(600)]).optional(),
  seed: z.number().int().default(1),
  /** Unix seconds of the first window. */
  start: z.number().int().min(0).default(DEFAULT_START),
  /** An AWS format string; overrides the topology's flow logs when given. */
  logFormat: z.string().optional(),
  out: z.string().default('./flowlogs'),
  labels: z.string().optional(),
  delivery: z.enum(DELIVERIES).optional(),
  firehoseUrl: z.string().url().optional(),
  /** A pcap or pcapng capture to turn into records instead of (or besides) the scenarios. */
  pcap: z.string().optional(),
  /** Traffic multiplier for the scenarios (the benchmark turns it up). */
  scale: z.number().positive().default(1),
  /**
   * gzip level of .log.gz objects. AWS's own level is unknown; 1 is the default because zlib is
   * most of an emulated record's cost: level 6 makes files a third smaller (18 vs 27 bytes a
   * 229-byte line) for 1.1 us more CPU a record, and caps a 2-core run near 0.7 M records/s.
   */
  gzipLevel: z.number().int().min(1).max(9).default(1),
  /** Largest object AWS writes (75 MB); smaller values make rollover testable. */
  maxObjectBytes: z.number().int().min(1024).default(75 * 1024 * 1024),
  /**
   * Worker threads, each writing every other 10 minutes of S3 text objects (same bytes as one
   * thread). Default: one per core for long, large S3 text runs, else 1.
   */
  workers: z.number().int().min(1).max(64).optional(),
});
export type EmulateOptionsIn = z.input<typeof EmulateOptions>;
export type EmulateOptionsT = z.output<typeof EmulateOptions>;
