/**
 * The one column list. Every AWS VPC flow log field (versions 2 to 8), its Athena column name
 * and type, its Parquet delivery type, the name Logs Insights discovers for it, and how
 * flowlens stores it. Parsing, table creation, the `vpc_flow_logs` view, query field names
 * and the dashboard all read this list; nothing else names columns.
 */

/** How a field's text is parsed and stored. */
export type FieldKind =
  /** 32-bit integer (ports, protocol, version, tcp-flags, traffic-path). */
  | 'int'
  /** 64-bit integer (packets, bytes, start, end, packets-lost-*). */
  | 'bigint'
  /** IPv4 or IPv6 address, stored as canonical text plus a numeric IPv4 shadow. */
  | 'addr'
  /** ACCEPT | REJECT. */
  | 'action'
  /** OK | NODATA | SKIPDATA. */
  | 'status'
  /** Free text (ids, names, ARNs, enumerations AWS may extend). */
  | 'string';

export interface FieldDef {
  /** AWS field name as written in format strings and header lines, e.g. `account-id`. */
  readonly field: string;
  /** Column name in Athena, the `flows` table and the `vpc_flow_logs` view, e.g. `account_id`. */
  readonly column: string;
  /** The flow log version that introduced the field (0: seen in the wild, not yet versioned). */
  readonly version: number;
  readonly kind: FieldKind;
  /** Athena's type for the column (the `vpc_flow_logs` view casts to the DuckDB equivalent). */
  readonly athenaType: 'int' | 'bigint' | 'string';
  /** The name CloudWatch Logs Insights discovers for the default format, where it has one. */
  readonly insightsName?: string;
  readonly description: string;
}

const f = (
  field: string,
  version: number,
  kind: FieldKind,
  athenaType: FieldDef['athenaType'],
  description: string,
  insightsName?: string,
): FieldDef => ({ field, column: field.replace(/-/g, '_'), version, kind, athenaType, description, insightsName });

/** All known fields, in AWS documentation order. */
export const FIELDS: readonly FieldDef[] = Object.freeze([
  // version 2: the default format
  f('version', 2, 'int', 'int', 'Highest flow log version among the fields of the format', 'version'),
  f('account-id', 2, 'string', 'string', 'AWS account that owns the interface (may be "unknown")', 'accountId'),
  f('interface-id', 2, 'string', 'string', 'Network interface (ENI) id', 'interfaceId'),
  f('srcaddr', 2, 'addr', 'string', 'Source address (the ENI primary IP for traffic to a secondary IP)', 'srcAddr'),
  f('dstaddr', 2, 'addr', 'string', 'Destination address', 'dstAddr'),
  f('srcport', 2, 'int', 'int', 'Source port', 'srcPort'),
  f('dstport', 2, 'int', 'int', 'Destination port', 'dstPort'),
  f('protocol', 2, 'int', 'bigint', 'IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)', 'protocol'),
  f('packets', 2, 'bigint', 'bigint', 'Packets transferred during the window', 'packets'),
  f('bytes', 2, 'bigint', 'bigint', 'Bytes transferred during the window', 'bytes'),
  f('start', 2, 'bigint', 'bigint', 'Unix seconds of the first packet in the window', 'startTime'),
  f('end', 2, 'bigint', 'bigint', 'Unix seconds of the last packet in the window', 'endTime'),
  f('action', 2, 'action', 'string', 'ACCEPT or REJECT (security groups and network ACLs)', 'action'),
  f('log-status', 2, 'status', 'string', 'OK, NODATA or SKIPDATA', 'logStatus'),
  // version 3
  f('vpc-id', 3, 'string', 'string', 'VPC id of the interface'),
  f('subnet-id', 3, 'string', 'string', 'Subnet id of the interface'),
  f('instance-id', 3, 'string', 'string', 'Instance id ("-" for requester-managed interfaces)'),
  f('tcp-flags', 3, 'int', 'int', 'OR of TCP flags seen: FIN 1, SYN 2, RST 4, SYN-ACK 18'),
  f('type', 3, 'string', 'string', 'Traffic type: IPv4, IPv6 or EFA'),
  f('pkt-srcaddr', 3, 'addr', 'string', 'Packet-level source address (before NAT)'),
  f('pkt-dstaddr', 3, 'addr', 'string', 'Packet-level destination address'),
  // version 4
  f('region', 4, 'string', 'string', 'Region of the interface'),
  f('az-id', 4, 'string', 'string', 'Availability Zone id'),
  f('sublocation-type', 4, 'string', 'string', 'wavelength, outpost or localzone'),
  f('sublocation-id', 4, 'string', 'string', 'Id of the sublocation'),
  // version 5
  f('pkt-src-aws-service', 5, 'string', 'string', 'AWS service of pkt-srcaddr (S3, DYNAMODB, EC2, ...)'),
  f('pkt-dst-aws-service', 5, 'string', 'string', 'AWS service of pkt-dstaddr'),
  f('flow-direction', 5, 'string', 'string', 'ingress or egress relative to the interface'),
  f('traffic-path', 5, 'int', 'int', 'Egress path: 1 VPC, 2 IGW/gateway endpoint, 3 VGW, 4/5 peering, 6 LGW, 7 GW endpoint (Nitro), 8 IGW (Nitro)'),
  // version 6: transit gateway flow logs
  f('resource-type', 6, 'string', 'string', 'Resource type of the flow log (TransitGateway)'),
  f('tgw-id', 6, 'string', 'string', 'Transit gateway id'),
  f('tgw-attachment-id', 6, 'string', 'string', 'Transit gateway attachment id'),
  f('tgw-src-vpc-account-id', 6, 'string', 'string', 'Account of the source VPC'),
  f('tgw-dst-vpc-account-id', 6, 'string', 'string', 'Account of the destination VPC'),
  f('tgw-src-vpc-id', 6, 'string', 'string', 'Source VPC id'),
  f('tgw-dst-vpc-id', 6, 'string', 'string', 'Destination VPC id'),
  f('tgw-src-subnet-id', 6, 'string', 'string', 'Source subnet id'),
  f('tgw-dst-subnet-id', 6, 'string', 'string', 'Destination subnet id'),
  f('tgw-src-eni', 6, 'string', 'string', 'Source ENI of the transit gateway attachment'),
  f('tgw-dst-eni', 6, 'string', 'string', 'Destination ENI of the transit gateway attachment'),
  f('tgw-src-az-id', 6, 'string', 'string', 'Source Availability Zone id'),
  f('tgw-dst-az-id', 6, 'string', 'string', 'Destination Availability Zone id'),
  f('tgw-pair-attachment-id', 6, 'string', 'string', 'The other attachment of the flow'),
  f('packets-lost-no-route', 6, 'bigint', 'bigint', 'Packets lost: no route'),
  f('packets-lost-blackhole', 6, 'bigint', 'bigint', 'Packets lost: blackhole route'),
  f('packets-lost-mtu-exceeded', 6, 'bigint', 'bigint', 'Packets lost: MTU exceeded'),
  f('packets-lost-ttl-expired', 6, 'bigint', 'bigint', 'Packets lost: TTL expired'),
  // version 7: ECS
  f('ecs-cluster-arn', 7, 'string', 'string', 'ECS cluster ARN'),
  f('ecs-cluster-name', 7, 'string', 'string', 'ECS cluster name'),
  f('ecs-container-instance-arn', 7, 'string', 'string', 'ECS container instance ARN'),
  f('ecs-container-instance-id', 7, 'string', 'string', 'ECS container instance id'),
  f('ecs-container-id', 7, 'string', 'string', 'Docker id of the container'),
  f('ecs-second-container-id', 7, 'string', 'string', 'Docker id of a second container of the task'),
  f('ecs-service-name', 7, 'string', 'string', 'ECS service name'),
  f('ecs-task-definition-arn', 7, 'string', 'string', 'ECS task definition ARN'),
  f('ecs-task-arn', 7, 'string', 'string', 'ECS task ARN'),
  f('ecs-task-id', 7, 'string', 'string', 'ECS task id'),
  // version 8
  f('reject-reason', 8, 'string', 'string', 'Why the flow was rejected (BPA: VPC Block Public Access)'),
  // seen in newer documentation, unversioned here: accepted and stored as text
  f('resource-id', 0, 'string', 'string', 'Resource id of the flow log source (unverified field)'),
  f('encryption-status', 0, 'string', 'string', 'Encryption status of the flow (unverified field)'),
]);

const BY_FIELD = new Map(FIELDS.map((d) => [d.field, d]));
const BY_COLUMN = new Map(FIELDS.map((d) => [d.column, d]));

/** Looks a field up by its AWS name (`log-status`) or its column name (`log_status`). */
export function fieldByName(name: string): FieldDef | undefined {
  return BY_FIELD.get(name) ?? BY_COLUMN.get(name);
}

/** The 14 fields of the default (version 2) format, in order. */
export const DEFAULT_FIELDS: readonly string[] = FIELDS.filter((d) => d.version === 2).map((d) => d.field);

/** The default format as an AWS format string. */
export const DEFAULT_FORMAT = DEFAULT_FIELDS.map((n) => '${' + n + '}').join(' ');

/**
 * Columns flowlens adds to every stored row (beyond the AWS fields): `extra` keeps fields no
 * version names yet, as JSON; `source_id` names the ingested object the row came from.
 */
export interface StoredColumnDef {
  readonly column: string;
  readonly duckType: string;
  readonly description: string;
}

export const DERIVED_COLUMNS: readonly StoredColumnDef[] = Object.freeze([
  { column: 'extra', duckType: 'VARCHAR', description: 'JSON object of fields not in the column list (kept, not rejected)' },
  { column: 'source_id', duckType: 'VARCHAR', description: 'Fingerprint of the ingested object the row came from' },
]);

/** The DuckDB type flowlens stores a field as. */
export function storedType(d: FieldDef): string {
  switch (d.kind) {
    case 'int':
      return 'INTEGER';
    case 'bigint':
      return 'BIGINT';
    default:
      return 'VARCHAR';
  }
}

/** Athena's type as DuckDB spells it, for the `vpc_flow_logs` view. */
export function athenaDuckType(d: FieldDef): string {
  return d.athenaType === 'int' ? 'INTEGER' : d.athenaType === 'bigint' ? 'BIGINT' : 'VARCHAR';
}

/** Parquet physical type in AWS's Parquet delivery (INT32, INT64 or STRING). */
export function awsParquetType(d: FieldDef): 'INT32' | 'INT64' | 'STRING' {
  return d.kind === 'int' ? 'INT32' : d.kind === 'bigint' ? 'INT64' : 'STRING';
}

/** The version a format declares: the highest version among its known fields (at least 2). */
export function formatVersion(fields: readonly string[]): number {
  let v = 2;
  for (const name of fields) {
    const d = BY_FIELD.get(name);
    if (d && d.version > v) v = d.version;
  }
  return v;
}


/**
 * Columns the `flows` view computes from stored ones (not stored: computing them at query time
 * costs less than writing them at ingest).
 */
export const VIEW_COLUMNS: readonly StoredColumnDef[] = Object.freeze([
  { column: 'srcaddr_v4', duckType: 'UINTEGER', description: 'srcaddr as an unsigned 32-bit integer when it is IPv4, else NULL' },
  { column: 'dstaddr_v4', duckType: 'UINTEGER', description: 'dstaddr as an unsigned 32-bit integer when it is IPv4, else NULL' },
]);

/** A stored column that enrichment fills at ingest (NULL when unknown). */
export interface EnrichColumnDef extends StoredColumnDef {
  /** The Insights name: camelCase of the column (`src_owner` → `srcOwner`). */
  readonly insightsName: string;
}

const e = (column: string, duckType: string, description: string): EnrichColumnDef => ({
  column,
  duckType,
  description,
  insightsName: column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
});

/**
 * Enrichment columns (src/enrich), stored per record. A file written without enrichment lacks
 * them; the schema anchor file keeps them visible as NULL.
 */
export const ENRICH_COLUMNS: readonly EnrichColumnDef[] = Object.freeze([
  e('direction', 'VARCHAR', 'ingress, egress, internal, cross-vpc, cross-account or external, relative to your networks'),
  e('peer_kind', 'VARCHAR', 'What the other side is: internet, aws-service, on-prem, link-local or internal'),
  e('src_name', 'VARCHAR', 'Inventory name of the source (instance, ENI or network)'),
  e('dst_name', 'VARCHAR', 'Inventory name of the destination'),
  e('src_owner', 'VARCHAR', 'Owner or team of the source'),
  e('dst_owner', 'VARCHAR', 'Owner or team of the destination'),
  e('src_env', 'VARCHAR', 'Environment of the source (prod, staging, ...)'),
  e('dst_env', 'VARCHAR', 'Environment of the destination'),
  e('src_vpc', 'VARCHAR', 'VPC of the source address'),
  e('dst_vpc', 'VARCHAR', 'VPC of the destination address'),
  e('src_subnet', 'VARCHAR', 'Subnet of the source address'),
  e('dst_subnet', 'VARCHAR', 'Subnet of the destination address'),
  e('src_tags', 'VARCHAR', 'Free inventory tags of the source, as a JSON object'),
  e('dst_tags', 'VARCHAR', 'Free inventory tags of the destination, as a JSON object'),
  e('aws_service', 'VARCHAR', 'AWS service of the peer (pkt-*-aws-service, ip-ranges.json or inventory)'),
  e('aws_region', 'VARCHAR', 'AWS region of the peer address (ip-ranges.json or inventory)'),
  e('src_country', 'VARCHAR', 'ISO country code of a public source address'),
  e('dst_country', 'VARCHAR', 'ISO country code of a public destination address'),
  e('src_asn', 'INTEGER', 'Autonomous system number of a public source address'),
  e('dst_asn', 'INTEGER', 'Autonomous system number of a public destination address'),
  e('src_as_name', 'VARCHAR', 'Autonomous system name of a public source address'),
  e('dst_as_name', 'VARCHAR', 'Autonomous system name of a public destination address'),
  e('app_port', 'INTEGER', 'Service port of the connection (the ephemeral client port normalised away)'),
  e('service', 'VARCHAR', 'IANA service name of app_port, or the protocol name when it has no ports'),
  e('protocol_name', 'VARCHAR', 'IANA protocol keyword (tcp, udp, icmp, ...)'),
  e('cost_class', 'VARCHAR', 'Data transfer class: free, internet-egress, inter-az, inter-region, nat-processing, on-prem-egress'),
  e('cost_usd', 'DOUBLE', 'Estimated data transfer cost of the record in USD (bytes × the price of its class)'),
]);

const BY_ENRICH_INSIGHTS = new Map(ENRICH_COLUMNS.map((d) => [d.insightsName.toLowerCase(), d]));

/** An enrichment column by column name or Insights name (case-insensitive for the latter). */
export function enrichColumnByName(name: string): EnrichColumnDef | undefined {
  return ENRICH_COLUMNS.find((d) => d.column === name) ?? BY_ENRICH_INSIGHTS.get(name.toLowerCase());
}

/** Logs Insights field name → column, for names Insights discovers (case-insensitive lookup). */
export const INSIGHTS_NAMES: ReadonlyMap<string, string> = new Map([
  ...FIELDS.filter((d) => d.insightsName).map((d): [string, string] => [d.insightsName!.toLowerCase(), d.column]),
  ...ENRICH_COLUMNS.map((d): [string, string] => [d.insightsName.toLowerCase(), d.column]),
]);
