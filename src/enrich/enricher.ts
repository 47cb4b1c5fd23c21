import type { DuckDBConnection } from '@duckdb/node-api';
import { ENRICH_COLUMNS } from '../schema/columns.ts';
import { sqlIdent, sqlString } from '../store/sql-text.ts';
import type { AwsRanges } from './aws-ranges.ts';
import type { GeoResolver } from './geo.ts';
import type { Inventory, InventoryEntry } from './inventory.ts';
import { appPortSql, portNames, PROTOCOL_NAMES, protocolNameSql } from './ports.ts';
import { DEFAULT_PRICES, type Prices } from './prices.ts';
import { PrefixTable } from './prefix-table.ts';

/**
 * Enrichment at ingest. Per chunk, the distinct addresses (a few thousand among a million
 * records) are looked up in JS — inventory, ip-ranges, geo/ASN — into a small `addr_info` table
 * in the writer's DuckDB; the chunk's COPY then joins it twice (source, destination) and
 * classifies each row in SQL, vectorised. The same SQL serves the DuckDB fast path, the JS
 * parser path, Parquet input and re-enrich, so they cannot disagree.
 */

export interface EnricherConfig {
  inventory: Inventory;
  ipRanges?: AwsRanges;
  /** null: no geo/ASN columns. */
  geo?: GeoResolver | null;
  prices?: Prices;
}

/** What one address is, at one time segment. */
export interface AddrInfo {
  kind: 'internal' | 'on-prem' | 'aws-service' | 'link-local' | 'internet';
  /** Inside your networks (counts for direction). */
  internal: boolean;
  /** Internal but matched by no inventory entry. */
  unattributed: boolean;
  nat: boolean;
  account?: string;
  region?: string;
  az?: string;
  vpc?: string;
  subnet?: string;
  name?: string;
  owner?: string;
  env?: string;
  tags?: string;
  awsService?: string;
  awsRegion?: string;
  country?: string;
  asn?: number;
  asName?: string;
}

const INFO_COLUMNS: readonly [keyof AddrInfo, string][] = [
  ['kind', 'VARCHAR'],
  ['internal', 'BOOLEAN'],
  ['unattributed', 'BOOLEAN'],
  ['nat', 'BOOLEAN'],
  ['account', 'VARCHAR'],
  ['region', 'VARCHAR'],
  ['az', 'VARCHAR'],
  ['vpc', 'VARCHAR'],
  ['subnet', 'VARCHAR'],
  ['name', 'VARCHAR'],
  ['owner', 'VARCHAR'],
  ['env', 'VARCHAR'],
  ['tags', 'VARCHAR'],
  ['awsService', 'VARCHAR'],
  ['awsRegion', 'VARCHAR'],
  ['country', 'VARCHAR'],
  ['asn', 'INTEGER'],
  ['asName', 'VARCHAR'],
];

/** Info columns written to records as they are: stored as ENUMs in addr_enum. */
const ENUM_INFO = new Set<keyof AddrInfo>(['name', 'owner', 'env', 'vpc', 'subnet', 'tags', 'country', 'asName']);

const DIRECTIONS = ['ingress', 'egress', 'internal', 'cross-vpc', 'cross-account', 'external'];
const PEER_KINDS = ['internet', 'aws-service', 'on-prem', 'link-local', 'internal'];

/** An ENUM type literal over fixed values. */
function enumOf(values: Iterable<string>): string {
  return `ENUM(${[...new Set(values)].map(sqlString).join(', ')})`;
}

const PRIVATE = new PrefixTable([
  { cidr: '10.0.0.0/8', value: 'private' },
  { cidr: '172.16.0.0/12', value: 'private' },
  { cidr: '192.168.0.0/16', value: 'private' },
  { cidr: '100.64.0.0/10', value: 'private' },
  { cidr: 'fc00::/7', value: 'private' },
  { cidr: '169.254.0.0/16', value: 'link-local' },
  { cidr: 'fe80::/10', value: 'link-local' },
  { cidr: '127.0.0.0/8', value: 'reserved' },
  { cidr: '0.0.0.0/8', value: 'reserved' },
  { cidr: '224.0.0.0/3', value: 'reserved' },
  { cidr: '::1/128', value: 'reserved' },
  { cidr: 'ff00::/8', value: 'reserved' },
]);

/** AWS "services" in ip-ranges.json that are customers' addresses, not a service endpoint. */
const CUSTOMER_RANGES = new Set(['AMAZON', 'EC2']);

const ENRICH_NAMES = new Set(ENRICH_COLUMNS.map((c) => c.column));

/** True when a column is one enrichment writes. */
export function isEnrichColumn(name: string): boolean {
  return ENRICH_NAMES.has(name);
}

/** Records and records with an unattributed internal address, over a run. */
export interface Coverage {
  records: number;
  unattributed: number;
}

/**
 * The shared, read-only part of enrichment for one run; each DuckDB connection gets its own
 * `EnrichSession` (the addr_info table lives in that connection).
 * @example const e = new Enricher({inventory}); const s = e.session(conn); const sql = await s.select('(SELECT ...)', cols)
 */
export class Enricher {
  readonly inventory: Inventory;
  private readonly entries: PrefixTable<InventoryEntry>;
  private readonly networks: PrefixTable<true>;
  private readonly hasVpcs: boolean;
  readonly prices: Prices;
  /** Time boundaries where some inventory answer changes; segment i starts at bounds[i-1]. */
  readonly bounds: number[];
  private cache = new Map<string, AddrInfo>();
  readonly coverage: Coverage = { records: 0, unattributed: 0 };
  /** Inventory fields some entry sets: the others are not written (all-NULL columns cost). */
  private readonly fieldsUsed: Set<string>;

  constructor(readonly config: EnricherConfig) {
    this.inventory = config.inventory;
    this.entries = new PrefixTable(config.inventory.entries.map((e) => ({ cidr: e.cidr, value: e, from: e.valid_from, to: e.valid_to })));
    this.networks = new PrefixTable(config.inventory.networks.map((cidr) => ({ cidr, value: true as const })));
    this.hasVpcs = config.inventory.entries.some((e) => e.vpc || e.kind === 'vpc' || e.kind === 'subnet');
    this.prices = config.prices ?? { ...DEFAULT_PRICES };
    this.bounds = this.entries.boundaries();
    this.fieldsUsed = new Set(config.inventory.entries.flatMap((e) => Object.keys(e).filter((k) => e[k as keyof InventoryEntry] !== undefined)));
  }

  /** The time at which segment `seg` starts (any time inside it answers the same). */
  private segTime(seg: number): number {
    return seg === 0 ? (this.bounds.length ? this.bounds[0] - 1 : 0) : this.bounds[seg - 1];
  }

  /** SQL: the segment number of a record from its start time. */
  segSql(start: string): string {
    if (!this.bounds.length) return '0';
    return `CASE ${this.bounds.map((b, i) => `WHEN ${start} < ${b} THEN ${i}`).join(' ')} ELSE ${this.bounds.length} END`;
  }

  /**
   * What an address is during segment `seg`.
   * @example enricher.resolve('10.0.1.5', 0).owner // 'payments'
   */
  resolve(addr: string, seg: number): AddrInfo {
    // Without time boundaries there is one segment: the address alone is the key (no string
    // built per lookup, and ingest looks every distinct address of every batch up).
    const key = this.bounds.length ? `${seg}|${addr}` : addr;
    let info = this.cache.get(key);
    if (info) return info;
    info = this.compute(addr, this.segTime(seg));
    if (this.cache.size > 500_000) this.cache.clear();
    this.cache.set(key, info);
    return info;
  }

  private compute(addr: string, t: number): AddrInfo {
    const e = this.entries.lookup(addr, t);
    const special = PRIVATE.lookup(addr, 0);
    const range = this.config.ipRanges?.table.lookup(addr, 0);
    let info: AddrInfo;
    if (e) {
      const aws = e.kind === 'aws-service' || e.aws_service !== undefined;
      const onPrem = e.kind === 'on-prem';
      info = {
        kind: aws ? 'aws-service' : onPrem ? 'on-prem' : 'internal',
        internal: !aws,
        unattributed: false,
        nat: e.kind === 'nat_gateway',
        account: e.account,
        region: e.region,
        az: e.az,
        vpc: e.vpc,
        subnet: e.subnet,
        name: e.name ?? e.instance ?? e.eni,
        owner: e.owner,
        env: e.env,
        tags: e.tags && Object.keys(e.tags).length ? JSON.stringify(e.tags) : undefined,
        awsService: e.aws_service ?? range?.service,
        awsRegion: aws ? (e.region ?? range?.region) : undefined,
      };
    } else if (this.networks.lookup(addr, 0)) {
      info = { kind: 'on-prem', internal: true, unattributed: true, nat: false };
    } else if (special === 'link-local') {
      info = { kind: 'link-local', internal: false, unattributed: false, nat: false };
    } else if (special === 'private') {
      // A private address outside every VPC the inventory knows is on-premises (or unknown).
      info = { kind: this.hasVpcs ? 'on-prem' : 'internal', internal: true, unattributed: true, nat: false };
    } else if (special === 'reserved') {
      info = { kind: 'internet', internal: false, unattributed: false, nat: false };
    } else {
      const service = range && !CUSTOMER_RANGES.has(range.service);
      info = { kind: service ? 'aws-service' : 'internet', internal: false, unattributed: false, nat: false, awsService: range?.service, awsRegion: range?.region };
    }
    if (!info.internal && special === undefined && this.config.geo) {
      const g = this.config.geo.lookup(addr);
      info.country = g.country;
      info.asn = g.asn;
      info.asName = g.asName;
    }
    return info;
  }

  /** Whether some source can name AWS services (ip-ranges.json or inventory entries). */
  get knowsAws(): boolean {
    return this.config.ipRanges !== undefined || this.uses('aws_service') || this.inventory.entries.some((x) => x.kind === 'aws-service');
  }

  /** Whether records need the inventory field written (some entry sets it). */
  uses(field: string): boolean {
    return this.fieldsUsed.has(field);
  }

  session(conn: DuckDBConnection): EnrichSession {
    return new EnrichSession(this, conn);
  }
}

/** Enrichment inside one DuckDB connection. */
export class EnrichSession {
  private created = false;

  constructor(
    readonly enricher: Enricher,
    private readonly conn: DuckDBConnection,
  ) {}

  private async ensureTables(): Promise<void> {
    if (this.created) return;
    const cols = INFO_COLUMNS.map(([k, t]) => `${sqlIdent(k)} ${t}`).join(', ');
    await this.conn.run(`CREATE OR REPLACE TABLE addr_info (seg INTEGER, addr VARCHAR, ${cols})`);
    await this.conn.run('CREATE OR REPLACE TABLE port_names (protocol INTEGER, port INTEGER, name VARCHAR)');
    const app = await this.conn.createAppender('port_names');
    for (const p of portNames()) {
      app.appendInteger(p.protocol);
      app.appendInteger(p.port);
      app.appendVarchar(p.name);
      app.endRow();
    }
    app.flushSync();
    app.closeSync();
    this.created = true;
  }

  /**
   * Fills addr_info with what the distinct (segment, address) pairs `pairsSql` yields (columns
   * seg, a) are. It holds one chunk's addresses only: the ENUM types built from it become the
   * Parquet dictionaries of that chunk's file, which must not carry other chunks' values.
   */
  private async fill(pairsSql: string, params?: Record<string, string>): Promise<void> {
    await this.ensureTables();
    await this.conn.run('DELETE FROM addr_info');
    const app = await this.conn.createAppender('addr_info');
    const add = (seg: number, addr: string) => {
      const info = this.enricher.resolve(addr, seg);
      app.appendInteger(seg);
      app.appendVarchar(addr);
      for (const [k, t] of INFO_COLUMNS) {
        const v = info[k];
        if (v === undefined || v === null) app.appendNull();
        else if (t === 'BOOLEAN') app.appendBoolean(v as boolean);
        else if (t === 'INTEGER') app.appendInteger(v as number);
        else app.appendVarchar(String(v));
      }
      app.endRow();
    };
    let reader;
    if (params) {
      const p = await this.conn.prepare(pairsSql);
      p.bind(params);
      reader = await p.runAndReadAll();
    } else reader = await this.conn.runAndReadAll(pairsSql);
    for (const [seg, a] of reader.getRows()) if (a !== null) add(Number(seg), String(a));
    app.flushSync();
    app.closeSync();
    await this.retype();
  }

  private typed = 0;

  /**
   * Rebuilds `addr_enum`: addr_info with its text columns as ENUMs over the values present, and
   * the address itself as an ENUM too (`addr_e`, written as the record's srcaddr/dstaddr).
   * Parquet writes an ENUM as a ready-made dictionary, measured at under half the cost of
   * writing the same strings as VARCHAR; readers see VARCHAR either way.
   */
  private async retype(): Promise<void> {
    const n = ++this.typed;
    const cols: string[] = ['seg', 'addr'];
    const enumCol = async (k: string, as: string) => {
      const type = `enum_${k}_${n}`;
      const [[count]] = (await this.conn.runAndReadAll(`SELECT count(DISTINCT ${sqlIdent(k)}) FROM addr_info`)).getRows();
      if (Number(count) === 0) return `${sqlIdent(k)}${as === k ? '' : ` AS ${sqlIdent(as)}`}`;
      await this.conn.run(`CREATE TYPE ${type} AS ENUM (SELECT DISTINCT ${sqlIdent(k)} FROM addr_info WHERE ${sqlIdent(k)} IS NOT NULL)`);
      return `${sqlIdent(k)}::${type} AS ${sqlIdent(as)}`;
    };
    cols.push(await enumCol('addr', 'addr_e'));
    for (const [k, t] of INFO_COLUMNS) cols.push(t !== 'VARCHAR' || !ENUM_INFO.has(k) ? sqlIdent(k) : await enumCol(k, k));
    await this.conn.run(`CREATE OR REPLACE TABLE addr_enum AS SELECT ${cols.join(', ')} FROM addr_info`);
    // The previous generation's types are free now that its table is gone.
    for (const k of ['addr', ...INFO_COLUMNS.map(([k]) => k)]) if (k === 'addr' || ENUM_INFO.has(k as keyof AddrInfo)) await this.conn.run(`DROP TYPE IF EXISTS enum_${k}_${n - 1}`);
  }

  /**
   * Prepares enrichment of the relation `rel` (a parenthesised SELECT or a table function)
   * whose columns are `columns`; returns the SELECT that yields its rows plus the enrichment
   * columns. `params` bind `$name` parameters `rel` uses.
   * @example const sql = await session.select(`read_parquet('x.parquet')`, ['srcaddr', ...])
   */
  async select(rel: string, columns: readonly string[], params?: Record<string, string>): Promise<string> {
    const has = new Set(columns);
    const base = columns.filter((c) => !isEnrichColumn(c));
    if (!has.has('srcaddr') || !has.has('dstaddr')) return `SELECT ${base.map((c) => `b.${sqlIdent(c)}`).join(', ')} FROM ${rel} b`;
    // Addresses come back from the joins as ENUMs over the chunk's addresses (cheaper to write).
    const keep = base.map((c) => (c === 'srcaddr' ? 's.addr_e AS srcaddr' : c === 'dstaddr' ? 'd.addr_e AS dstaddr' : `b.${sqlIdent(c)}`));
    const e = this.enricher;
    const time = (p: string) => (has.has('start') ? `${p}"start"` : has.has('end') ? `${p}"end"` : '0');
    await this.fill(
      `SELECT DISTINCT seg, a FROM (UNPIVOT (SELECT ${e.segSql(time(''))} AS seg, srcaddr, dstaddr FROM ${rel}) ON srcaddr, dstaddr INTO NAME side VALUE a)`,
      params,
    );
    // Layer 1 (FROM rel b + joins): the record, both sides' facts, direction and app_port.
    const l1 = [
      ...keep,
      `CASE WHEN b.srcaddr IS NULL OR b.dstaddr IS NULL THEN NULL ` +
        `WHEN s.internal AND d.internal THEN CASE WHEN s.account <> d.account THEN 'cross-account' WHEN s.vpc <> d.vpc THEN 'cross-vpc' ELSE 'internal' END ` +
        `WHEN s.internal THEN 'egress' WHEN d.internal THEN 'ingress' ELSE 'external' END AS __direction`,
      `${has.has('pkt_src_aws_service') ? 'b.pkt_src_aws_service' : 'NULL'} AS __pkt_src`,
      `${has.has('pkt_dst_aws_service') ? 'b.pkt_dst_aws_service' : 'NULL'} AS __pkt_dst`,
      `${has.has('bytes') ? 'b.bytes' : 'NULL::BIGINT'} AS __bytes`,
      `${has.has('protocol') ? 'b.protocol' : 'NULL::INTEGER'} AS __protocol`,
    ];
    for (const [t, p] of [['s', 'src'], ['d', 'dst']] as const) {
      for (const k of ['kind', 'nat', 'region', 'az', 'awsService', 'awsRegion']) l1.push(`${t}.${sqlIdent(k)} AS __${t}_${k}`);
      for (const f of ['name', 'owner', 'env', 'vpc', 'subnet', 'tags']) {
        // A name can also come from instance and ENI ids.
        const used = f === 'name' ? e.uses('name') || e.uses('instance') || e.uses('eni') : e.uses(f);
        if (used) l1.push(`${t}.${sqlIdent(f)} AS ${p}_${f}`);
      }
      if (e.config.geo) l1.push(`${t}.country AS ${p}_country`, `${t}.asn AS ${p}_asn`, `${t}."asName" AS ${p}_as_name`);
    }
    const ports = has.has('srcport') && has.has('dstport') && has.has('protocol');
    l1.push(`${ports ? appPortSql('b.srcport', 'b.dstport', 'b.protocol') : 'NULL::INTEGER'} AS app_port`);
    const segCond = (t: string) => (e.bounds.length ? `${t}.seg = ${e.segSql(time('b.'))} AND ` : '');
    const q1 =
      `SELECT ${l1.join(', ')} FROM ${rel} b ` +
      `LEFT JOIN addr_enum s ON ${segCond('s')}s.addr = b.srcaddr LEFT JOIN addr_enum d ON ${segCond('d')}d.addr = b.dstaddr`;
    // Layer 2: the peer (the side that is not ours) and what it is.
    const inside = `__direction IN ('internal', 'cross-vpc', 'cross-account')`;
    const q2 =
      `SELECT *, ` +
      `CASE WHEN __direction IS NULL THEN NULL WHEN __s_kind = 'link-local' OR __d_kind = 'link-local' THEN 'link-local' ` +
      `WHEN __direction = 'ingress' THEN CASE WHEN __pkt_src IS NOT NULL THEN 'aws-service' ELSE __s_kind END ` +
      `WHEN ${inside} THEN CASE WHEN __s_kind = 'on-prem' OR __d_kind = 'on-prem' THEN 'on-prem' ELSE 'internal' END ` +
      `ELSE CASE WHEN __pkt_dst IS NOT NULL THEN 'aws-service' ELSE __d_kind END END AS __peer_kind, ` +
      `CASE WHEN __direction = 'ingress' THEN coalesce(__pkt_src, "__s_awsService") WHEN ${inside} OR __direction IS NULL THEN NULL ELSE coalesce(__pkt_dst, "__d_awsService") END AS __aws_service, ` +
      `CASE WHEN __direction = 'ingress' THEN "__s_awsRegion" WHEN ${inside} OR __direction IS NULL THEN NULL ELSE "__d_awsRegion" END AS __aws_region ` +
      `FROM (${q1})`;
    // Layer 3: the cost class.
    const q3 =
      `SELECT *, CASE WHEN __direction IS NULL THEN NULL ` +
      `WHEN (__s_nat OR __d_nat) AND ${inside} THEN 'nat-processing' ` +
      `WHEN __direction = 'egress' AND __peer_kind = 'internet' THEN 'internet-egress' ` +
      `WHEN __s_kind = 'internal' AND __d_kind = 'on-prem' THEN 'on-prem-egress' ` +
      `WHEN __direction = 'egress' AND __peer_kind = 'aws-service' AND __s_region <> __aws_region THEN 'inter-region' ` +
      `WHEN ${inside} AND __s_region <> __d_region THEN 'inter-region' ` +
      `WHEN ${inside} AND __s_az <> __d_az THEN 'inter-az' ELSE 'free' END AS __cost_class FROM (${q2})`;
    // Layer 4: the stored shape, with the service name joined.
    const price = `CASE z.__cost_class ${Object.entries(e.prices).map(([k, p]) => `WHEN ${sqlString(k)} THEN ${Number(p)}`).join(' ')} END`;
    const proto = protocolNameSql('z.__protocol');
    const awsKnown = e.knowsAws || has.has('pkt_src_aws_service') || has.has('pkt_dst_aws_service');
    const l1Names = new Set(l1.map((x) => /AS (\w+)$/.exec(x)?.[1]));
    const expr = (name: string): string | undefined => {
      switch (name) {
        case 'direction':
        case 'peer_kind':
        case 'cost_class':
          return `z.__${name}`;
        case 'aws_service':
        case 'aws_region':
          // All-NULL columns still cost a write: only when something can name a service.
          return awsKnown ? `z.__${name}` : undefined;
        case 'cost_usd':
          // DOUBLE arithmetic, as the batch path computes it (the same bits on both paths).
          return has.has('bytes') ? `z.__bytes::DOUBLE * (${price})::DOUBLE / 1073741824.0` : undefined;
        case 'app_port':
          return ports ? 'z.app_port' : undefined;
        case 'service':
          return ports ? `CASE WHEN z.app_port IS NULL THEN ${proto} ELSE pn.name END` : undefined;
        case 'protocol_name':
          return has.has('protocol') ? proto : undefined;
        default:
          return l1Names.has(name) ? `z.${sqlIdent(name)}` : undefined;
      }
    };
    const outer = base.map((c) => `z.${sqlIdent(c)}`);
    // Fixed vocabularies go out as ENUMs (cheap to write, read back as VARCHAR); columns from
    // addr_enum keep their ENUM type; the rest get their declared type.
    const names = portNames().map((p) => p.name);
    const protoNames = Array.from({ length: 256 }, (_, i) => PROTOCOL_NAMES[i] ?? `proto-${i}`);
    const enums: Record<string, string> = {
      direction: enumOf(DIRECTIONS),
      peer_kind: enumOf(PEER_KINDS),
      cost_class: enumOf(['free', ...Object.keys(e.prices), 'internet-egress', 'on-prem-egress', 'inter-region', 'inter-az', 'nat-processing']),
      service: enumOf([...names, ...protoNames]),
      protocol_name: enumOf(protoNames),
    };
    for (const c of ENRICH_COLUMNS) {
      const x = expr(c.column);
      if (!x) continue;
      const fromInfo = l1Names.has(c.column) && c.duckType === 'VARCHAR';
      outer.push(fromInfo ? `${x} AS ${sqlIdent(c.column)}` : `(${x})::${enums[c.column] ?? c.duckType} AS ${sqlIdent(c.column)}`);
    }
    return `SELECT ${outer.join(', ')} FROM (${q3}) z` + (ports ? ` LEFT JOIN port_names pn ON pn.protocol = z.__protocol AND pn.port = z.app_port` : '');
  }

  /** SQL over a stored file: records with addresses, and those with an unattributed internal address. */
  static coverageSql(file: string, columns: ReadonlySet<string>): string {
    return `SELECT count(direction), count(*) FILTER (WHERE ${unattributedSql(columns)}) FROM read_parquet(${sqlString(file)})`;
  }
}

/**
 * SQL over stored columns: the record has an internal address no inventory entry names (the
 * side direction says is internal has no VPC, name or owner).
 */
export function unattributedSql(columns: ReadonlySet<string> = ENRICH_NAMES): string {
  const side = (p: string) => {
    const cols = ['vpc', 'name', 'owner'].filter((c) => columns.has(`${p}_${c}`)).map((c) => `${p}_${c} IS NULL`);
    return cols.length ? cols.join(' AND ') : 'true';
  };
  return (
    `((direction IN ('egress', 'internal', 'cross-vpc', 'cross-account') AND ${side('src')}) OR ` +
    `(direction IN ('ingress', 'internal', 'cross-vpc', 'cross-account') AND ${side('dst')}))`
  );
}
