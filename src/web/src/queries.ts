import type { Route, TimeWindow } from './state.ts';

/** The columns of `flows` this store has (enrichment columns appear once the enrich step ran). */
export class Columns {
  private readonly names: Set<string>;
  /** The store has rollups, so panels can read `flows_summary(lo, hi)` (see the store README). */
  readonly rollups: boolean;
  constructor(names: readonly string[], rollups = false) {
    this.names = new Set(names);
    this.rollups = rollups;
  }
  has(...cols: string[]): boolean {
    return cols.every((c) => this.names.has(c));
  }
  /** The first of `cols` the store has. */
  pick(...cols: string[]): string | undefined {
    return cols.find((c) => this.names.has(c));
  }
  get enriched(): boolean {
    return this.has('src_owner', 'dst_owner');
  }
}

/** A SQL text literal. @example lit("o'hara") // 'o''hara' */
export const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const day = (t: number) => new Date(t * 1000).toISOString().slice(0, 10);

/**
 * The WHERE clause every panel shares: the time window on `start` (plus the `date` partitions
 * it can touch, so other days' files are not opened) and the filters of the route.
 * (One day before `from` is kept for stores written before records were filed by their own day.)
 */
export function where(w: TimeWindow, route: Route, cols: Columns, extra: string[] = []): string {
  const parts = [`start >= ${Math.floor(w.from)}`, `start < ${Math.ceil(w.to)}`, `"date" >= DATE ${lit(day(w.from - 86400))}`, `"date" <= DATE ${lit(day(w.to))}`];
  return `WHERE ${[...parts, ...routeFilters(route, cols), ...extra].join(' AND ')}`;
}

/** The route's filters (VPC, subnet, ENI, IP, port, action) as SQL conditions. */
function routeFilters(route: Route, cols: Columns): string[] {
  const parts: string[] = [];
  const p = route.params;
  const vpc = p.get('vpc');
  if (vpc) parts.push(cols.has('src_vpc') ? `(vpc_id = ${lit(vpc)} OR src_vpc = ${lit(vpc)} OR dst_vpc = ${lit(vpc)})` : `vpc_id = ${lit(vpc)}`);
  const subnet = p.get('subnet');
  if (subnet) parts.push(cols.has('src_subnet') ? `(subnet_id = ${lit(subnet)} OR src_subnet = ${lit(subnet)} OR dst_subnet = ${lit(subnet)})` : `subnet_id = ${lit(subnet)}`);
  const eni = p.get('eni');
  if (eni) parts.push(`interface_id = ${lit(eni)}`);
  const ip = p.get('ip');
  if (ip) parts.push(`(srcaddr = ${lit(ip)} OR dstaddr = ${lit(ip)})`);
  const port = Number(p.get('port'));
  if (Number.isInteger(port) && port >= 0 && p.get('port')) parts.push(`(dstport = ${port} OR srcport = ${port})`);
  const action = p.get('action');
  if (action === 'ACCEPT' || action === 'REJECT') parts.push(`action = ${lit(action)}`);
  return parts;
}

/**
 * The rollup-or-records relation for a panel, `flows_summary(lo, hi) WHERE <route filters>`,
 * or undefined when the store has no rollups or the route filters by port (ports are not kept
 * in rollups). Each row stands for `__records` records: panels sum `__records`,
 * `__bytes_sum`, `__cost_usd_sum` where they would count records or sum bytes.
 */
export function summary(w: TimeWindow, route: Route, cols: Columns, extra: string[] = []): string | undefined {
  if (!cols.rollups || route.params.get('port')) return undefined;
  const filters = [...routeFilters(route, cols), ...extra];
  const from = `flows_summary(${Math.floor(w.from)}, ${Math.ceil(w.to) - 1})`;
  return filters.length ? `${from} WHERE ${filters.join(' AND ')}` : from;
}

/** A bin width giving ~60 points over the window, rounded to a width people read easily. */
export function binSeconds(w: TimeWindow): number {
  const target = (w.to - w.from) / 60;
  return [60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400].find((b) => b >= target) ?? 86400;
}

/**
 * What a panel groups "subnet" by: the logging interface's subnet (subnet-id, v3), else the
 * enriched source subnet, else the interface itself (default-format logs name no subnet).
 */
export function subnetExpr(cols: Columns): string {
  const have = ['subnet_id', 'src_subnet'].filter((c) => cols.has(c));
  return `coalesce(${[...have, 'interface_id'].join(', ')})`;
}

/**
 * The service port of a flow: the enriched `app_port`, else the lower of the two ports (the
 * ephemeral side is the high one), and which side is the client, so panels read
 * client → service port → server whichever direction the record was logged in.
 */
export function servicePort(cols: Columns): { port: string; client: string; server: string } {
  const port = cols.has('app_port') ? 'coalesce(app_port, least(srcport, dstport))' : 'least(srcport, dstport)';
  const forward = `dstport = ${port}`;
  return { port, client: `CASE WHEN ${forward} THEN srcaddr ELSE dstaddr END`, server: `CASE WHEN ${forward} THEN dstaddr ELSE srcaddr END` };
}

/** "Owner" for top talkers: the enriched owner, else the instance, else the interface. */
export function ownerExpr(cols: Columns): { expr: string; label: string } {
  if (cols.has('src_owner')) return { expr: "coalesce(src_owner, '(unattributed)')", label: 'owner' };
  if (cols.has('instance_id')) return { expr: "coalesce(instance_id, interface_id)", label: 'instance (no owner enrichment in this store)' };
  return { expr: 'interface_id', label: 'interface (no owner enrichment in this store)' };
}

/**
 * The panels' SQL. Each reads `flows_summary(lo, hi)` (rollups where fresh, records elsewhere)
 * when the store has rollups and the panel needs nothing a rollup drops (ports, exact times,
 * 1-minute bins), else the records.
 */
export const Q = {
  totals: (w: TimeWindow, r: Route, c: Columns) => {
    const s = summary(w, r, c);
    if (s) return `SELECT coalesce(sum(__records), 0) AS flows, coalesce(sum(__bytes_sum), 0) AS bytes, coalesce(sum(__records) FILTER (WHERE action = 'REJECT'), 0) AS rejects, count(DISTINCT interface_id) AS interfaces FROM ${s}`;
    return `SELECT count(*) AS flows, coalesce(sum(bytes), 0) AS bytes, count(*) FILTER (WHERE action = 'REJECT') AS rejects, count(DISTINCT interface_id) AS interfaces FROM flows ${where(w, r, c)}`;
  },

  topRejectSources: (w: TimeWindow, r: Route, c: Columns) =>
    `SELECT srcaddr AS source, count(*) AS rejects, count(DISTINCT dstport) AS ports, count(DISTINCT dstaddr) AS targets FROM flows ${where(w, r, c, ["action = 'REJECT'", 'srcaddr IS NOT NULL'])} GROUP BY 1 ORDER BY rejects DESC LIMIT 10`,

  volumeBySubnet: (w: TimeWindow, r: Route, c: Columns) => {
    const sub = subnetExpr(c);
    const b = binSeconds(w);
    const s = b % 300 === 0 ? summary(w, r, c, ["log_status = 'OK'"]) : undefined;
    const rows = s
      ? `SELECT start - start % ${b} AS t, coalesce(${sub}, '(none)') AS subnet, __bytes_sum AS bytes FROM ${s}`
      : `SELECT start - start % ${b} AS t, coalesce(${sub}, '(none)') AS subnet, bytes FROM flows ${where(w, r, c, ["log_status = 'OK'"])}`;
    return `WITH f AS (${rows}),
      top AS (SELECT subnet FROM f GROUP BY 1 ORDER BY sum(bytes) DESC LIMIT 8)
      SELECT t, CASE WHEN subnet IN (SELECT subnet FROM top) THEN subnet ELSE 'other' END AS subnet, sum(bytes) AS bytes FROM f GROUP BY ALL ORDER BY t`;
  },

  topTalkersIp: (w: TimeWindow, r: Route, c: Columns) => {
    const s = summary(w, r, c, ['srcaddr IS NOT NULL']);
    if (s) return `SELECT srcaddr AS ip, sum(__bytes_sum) AS bytes, sum(__records) AS flows, coalesce(sum(__records) FILTER (WHERE action = 'REJECT'), 0) AS rejects FROM ${s} GROUP BY 1 ORDER BY bytes DESC LIMIT 15`;
    return `SELECT srcaddr AS ip, sum(bytes) AS bytes, count(*) AS flows, count(*) FILTER (WHERE action = 'REJECT') AS rejects FROM flows ${where(w, r, c, ['srcaddr IS NOT NULL'])} GROUP BY 1 ORDER BY bytes DESC LIMIT 15`;
  },

  topPorts: (w: TimeWindow, r: Route, c: Columns) => {
    // Rollups keep app_port, not the ports: enriched stores only.
    const s = c.has('app_port') ? summary(w, r, c, ["log_status = 'OK'"]) : undefined;
    if (s) return `SELECT coalesce(app_port, 0) AS port, protocol, sum(__bytes_sum) AS bytes, sum(__records) AS flows, coalesce(sum(__records) FILTER (WHERE action = 'REJECT'), 0) AS rejects FROM ${s} GROUP BY 1, 2 ORDER BY flows DESC LIMIT 15`;
    return `SELECT ${servicePort(c).port} AS port, protocol, sum(bytes) AS bytes, count(*) AS flows, count(*) FILTER (WHERE action = 'REJECT') AS rejects FROM flows ${where(w, r, c, ['dstport IS NOT NULL'])} GROUP BY 1, 2 ORDER BY flows DESC LIMIT 15`;
  },

  topOwners: (w: TimeWindow, r: Route, c: Columns) => {
    const s = summary(w, r, c, ["log_status = 'OK'"]);
    if (s) return `SELECT ${ownerExpr(c).expr} AS owner, sum(__bytes_sum) AS bytes, sum(__records) AS flows FROM ${s} GROUP BY 1 ORDER BY bytes DESC LIMIT 15`;
    return `SELECT ${ownerExpr(c).expr} AS owner, sum(bytes) AS bytes, count(*) AS flows FROM flows ${where(w, r, c, ["log_status = 'OK'"])} GROUP BY 1 ORDER BY bytes DESC LIMIT 15`;
  },

  timeline: (w: TimeWindow, r: Route, c: Columns, focus: string) => {
    const b = binSeconds(w);
    const cond = focus.startsWith('eni-') ? `interface_id = ${lit(focus)}` : `(srcaddr = ${lit(focus)} OR dstaddr = ${lit(focus)})`;
    const s = b % 300 === 0 ? summary(w, r, c, [cond]) : undefined;
    if (s) return `SELECT start - start % ${b} AS t, sum(__bytes_sum) FILTER (WHERE action = 'ACCEPT') AS accepted, sum(__bytes_sum) FILTER (WHERE action = 'REJECT') AS rejected, coalesce(sum(__records) FILTER (WHERE action = 'REJECT'), 0) AS reject_flows FROM ${s} GROUP BY 1 ORDER BY 1`;
    return `SELECT start - start % ${b} AS t, sum(bytes) FILTER (WHERE action = 'ACCEPT') AS accepted, sum(bytes) FILTER (WHERE action = 'REJECT') AS rejected, count(*) FILTER (WHERE action = 'REJECT') AS reject_flows FROM flows ${where(w, r, c, [cond])} GROUP BY 1 ORDER BY 1`;
  },

  timelineFlows: (w: TimeWindow, r: Route, c: Columns, focus: string) => {
    const cond = focus.startsWith('eni-') ? `interface_id = ${lit(focus)}` : `(srcaddr = ${lit(focus)} OR dstaddr = ${lit(focus)})`;
    return `SELECT start, interface_id, srcaddr, srcport, dstaddr, dstport, protocol, packets, bytes, action FROM flows ${where(w, r, c, [cond, "log_status = 'OK'"])} ORDER BY start DESC LIMIT 100`;
  },

  sankey: (w: TimeWindow, r: Route, c: Columns) => {
    // service_side (in rollups of enriched stores) says which end's port was app_port.
    const s = c.has('app_port') ? summary(w, r, c, ["log_status = 'OK'"]) : undefined;
    if (s) {
      const fwd = "coalesce(service_side, 'dst') = 'dst'";
      return `SELECT CASE WHEN ${fwd} THEN srcaddr ELSE dstaddr END AS src, coalesce(app_port, 0) AS port, protocol, CASE WHEN ${fwd} THEN dstaddr ELSE srcaddr END AS dst, sum(__bytes_sum) AS bytes FROM ${s} GROUP BY ALL ORDER BY bytes DESC LIMIT 25`;
    }
    const sp = servicePort(c);
    return `SELECT ${sp.client} AS src, ${sp.port} AS port, protocol, ${sp.server} AS dst, sum(bytes) AS bytes FROM flows ${where(w, r, c, ["log_status = 'OK'"])} GROUP BY ALL ORDER BY bytes DESC LIMIT 25`;
  },

  egress: (w: TimeWindow, r: Route, c: Columns) => {
    if (c.has('cost_class')) {
      const vpc = c.has('src_vpc') ? 'coalesce(src_vpc, vpc_id)' : 'vpc_id';
      const dir = c.has('direction') ? "direction IN ('egress', 'cross-vpc', 'cross-account', 'external')" : "flow_direction = 'egress'";
      const s = summary(w, r, c, [dir]);
      if (s) return `SELECT coalesce(${vpc}, '(unknown VPC)') AS vpc, coalesce(cost_class, '(unclassified)') AS class, sum(__bytes_sum) AS bytes, sum(__cost_usd_sum) AS usd FROM ${s} GROUP BY ALL ORDER BY bytes DESC LIMIT 60`;
      const usd = c.has('cost_usd') ? 'sum(cost_usd)' : 'NULL';
      return `SELECT coalesce(${vpc}, '(unknown VPC)') AS vpc, coalesce(cost_class, '(unclassified)') AS class, sum(bytes) AS bytes, ${usd} AS usd FROM flows ${where(w, r, c, [dir])} GROUP BY ALL ORDER BY bytes DESC LIMIT 60`;
    }
    // Without enrichment: egress records by the path AWS says they took (traffic-path, v5).
    const path = `CASE traffic_path WHEN 1 THEN 'same VPC' WHEN 2 THEN 'internet / gateway endpoint' WHEN 3 THEN 'VPN (virtual private gateway)' WHEN 4 THEN 'intra-region peering' WHEN 5 THEN 'inter-region peering' WHEN 6 THEN 'local gateway' WHEN 7 THEN 'gateway endpoint' WHEN 8 THEN 'internet gateway' ELSE '(path not logged)' END`;
    const s = summary(w, r, c, ["flow_direction = 'egress'"]);
    if (s) return `SELECT coalesce(vpc_id, '(unknown VPC)') AS vpc, ${path} AS class, sum(__bytes_sum) AS bytes, NULL AS usd FROM ${s} GROUP BY ALL ORDER BY bytes DESC LIMIT 60`;
    return `SELECT coalesce(vpc_id, '(unknown VPC)') AS vpc, ${path} AS class, sum(bytes) AS bytes, NULL AS usd FROM flows ${where(w, r, c, ["flow_direction = 'egress'"])} GROUP BY ALL ORDER BY bytes DESC LIMIT 60`;
  },

  coverage: (w: TimeWindow, r: Route, c: Columns) => {
    const s = summary(w, r, c);
    if (s)
      return c.enriched
        ? `SELECT coalesce(sum(__records), 0) AS flows, coalesce(sum(__records) FILTER (WHERE src_owner IS NULL AND dst_owner IS NULL), 0) AS unattributed, count(DISTINCT interface_id) AS interfaces, coalesce(sum(__records) FILTER (WHERE log_status <> 'OK'), 0) AS gaps FROM ${s}`
        : `SELECT coalesce(sum(__records), 0) AS flows, NULL AS unattributed, count(DISTINCT interface_id) AS interfaces, coalesce(sum(__records) FILTER (WHERE log_status <> 'OK'), 0) AS gaps FROM ${s}`;
    return c.enriched
      ? `SELECT count(*) AS flows, count(*) FILTER (WHERE src_owner IS NULL AND dst_owner IS NULL) AS unattributed, count(DISTINCT interface_id) AS interfaces, count(*) FILTER (WHERE log_status <> 'OK') AS gaps FROM flows ${where(w, r, c)}`
      : `SELECT count(*) AS flows, NULL AS unattributed, count(DISTINCT interface_id) AS interfaces, count(*) FILTER (WHERE log_status <> 'OK') AS gaps FROM flows ${where(w, r, c)}`;
  },

};

/** Human names of IP protocols. */
export function protoName(p: unknown): string {
  const n = Number(p);
  return ({ 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 47: 'gre', 50: 'esp' } as Record<number, string>)[n] ?? String(p);
}

