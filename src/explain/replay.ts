import { parseIp } from '../fabric/ip.ts';
import type { Nacl, Topology } from '../fabric/model.ts';
import { traceConnection, type Packet } from '../fabric/policy.ts';
import type { TimeRange } from '../query/compiler.ts';
import type { Store } from '../store/index.ts';
import { explainTrace, packetFor, type Explanation } from './explain.ts';

/**
 * What the stored records say the network carries, replayed through the policy engine:
 * what-if (which of today's conversations a changed topology would block or newly allow) and
 * rule usage (which security group and network ACL rules no traffic needed).
 */

/** A conversation seen in the store, in its client → server direction. */
export interface Conversation {
  srcaddr: string;
  dstaddr: string;
  protocol: number;
  dstport: number;
  /** The lowest client port seen (network ACL ephemeral ranges are judged on it). */
  srcport: number;
  records: number;
  bytes: number;
  /** What the records said: ACCEPT if any record accepted it. */
  action: 'ACCEPT' | 'REJECT';
  first: number;
  last: number;
}

const utcDay = (s: number) => new Date(s * 1000).toISOString().slice(0, 10);

/**
 * The store's conversations within a range, busiest first. Replies are left out: for TCP and
 * UDP the record whose source port is the lower one is the server answering (both ends of
 * a flow between two interfaces log it, and each logs both directions).
 */
export async function conversationsFromStore(store: Store, range: TimeRange, limit = 100_000): Promise<Conversation[]> {
  const where = ["log_status = 'OK'", 'srcaddr IS NOT NULL', 'dstaddr IS NOT NULL', 'protocol IS NOT NULL', '(protocol NOT IN (6, 17) OR srcport >= dstport)'];
  const params: unknown[] = [];
  const param = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (range.from !== undefined) where.push(`start >= ${param(range.from)}`, `date >= CAST(${param(utcDay(range.from))} AS DATE)`);
  if (range.to !== undefined) where.push(`start <= ${param(range.to)}`, `date <= CAST(${param(utcDay(range.to))} AS DATE)`);
  const sql =
    'SELECT CAST(srcaddr AS VARCHAR), CAST(dstaddr AS VARCHAR), protocol, coalesce(dstport, 0), coalesce(min(srcport), 0), count(*), ' +
    "coalesce(sum(bytes), 0), bool_or(action = 'ACCEPT'), min(start), max(\"end\") FROM flows " +
    `WHERE ${where.join(' AND ')} GROUP BY 1, 2, 3, 4 ORDER BY 6 DESC, 1, 2, 3, 4 LIMIT ${param(limit)}`;
  const rs = await store.query(sql, params);
  return rs.rows.map((r) => ({
    srcaddr: String(r[0]),
    dstaddr: String(r[1]),
    protocol: Number(r[2]),
    dstport: Number(r[3]),
    srcport: Number(r[4]),
    records: Number(r[5]),
    bytes: Number(r[6]),
    action: r[7] ? 'ACCEPT' : 'REJECT',
    first: Number(r[8]),
    last: Number(r[9]),
  }));
}

function packetOfConversation(c: Conversation): Packet | undefined {
  const src = parseIp(c.srcaddr);
  const dst = parseIp(c.dstaddr);
  return src === undefined || dst === undefined ? undefined : packetFor(src, dst, c.protocol, c.srcport, c.dstport);
}

export interface WhatIfChange {
  conversation: Conversation;
  /** `breaks` (accepted before, rejected after) or `opens` (the reverse). */
  change: 'breaks' | 'opens';
  before: Explanation;
  after: Explanation;
}

/**
 * The conversations whose fate differs between two topologies, busiest first.
 * @example whatIf(current, proposed, await conversationsFromStore(store, {})).filter((c) => c.change === 'breaks')
 */
export function whatIf(before: Topology, after: Topology, conversations: readonly Conversation[]): WhatIfChange[] {
  const out: WhatIfChange[] = [];
  for (const c of conversations) {
    const p = packetOfConversation(c);
    if (!p) continue;
    const b = explainTrace(p, traceConnection(before, p));
    const a = explainTrace(p, traceConnection(after, p));
    if (b.verdict === a.verdict) continue;
    out.push({ conversation: c, change: a.verdict === 'REJECT' ? 'breaks' : 'opens', before: b, after: a });
  }
  return out;
}

export interface RuleUsage {
  /** As the engine names rules: `sg-1 ingress[0]`, `acl-1#100 egress`, `acl-1#* ingress`. */
  rule: string;
  kind: 'security-group' | 'network-acl';
  /** The group or ACL id. */
  owner: string;
  direction: 'ingress' | 'egress';
  text: string;
  /** Conversations and records whose decision this rule made (request and reply). */
  conversations: number;
  records: number;
  lastSeen?: number;
}

function nacls(topo: Topology): Nacl[] {
  const seen = new Map<string, Nacl>();
  for (const v of topo.vpcs) seen.set(v.defaultNacl.id, v.defaultNacl);
  for (const s of topo.subnets) seen.set(s.nacl.id, s.nacl);
  return [...seen.values()];
}

/**
 * Every security group and network ACL rule of a topology with the traffic it decided, least
 * used first. Security groups decide by the first rule that allows (AWS evaluates them as one
 * set, so a rule shadowed by a broader one counts as unused: it could go without changing
 * anything). A network ACL's final `*` deny is listed too.
 */
export function ruleUsage(topo: Topology, conversations: readonly Conversation[]): RuleUsage[] {
  const rules = new Map<string, RuleUsage>();
  const add = (r: Omit<RuleUsage, 'conversations' | 'records'>) => rules.set(r.rule, { ...r, conversations: 0, records: 0 });
  for (const g of topo.securityGroups.values()) {
    for (const direction of ['ingress', 'egress'] as const) {
      for (const r of g[direction]) add({ rule: `${g.id} ${direction}[${r.index}]`, kind: 'security-group', owner: g.id, direction, text: r.text });
    }
  }
  for (const n of nacls(topo)) {
    for (const direction of ['ingress', 'egress'] as const) {
      for (const r of n[direction]) add({ rule: `${n.id}#${r.number} ${direction}`, kind: 'network-acl', owner: n.id, direction, text: r.text });
      add({ rule: `${n.id}#* ${direction}`, kind: 'network-acl', owner: n.id, direction, text: 'deny all (final rule)' });
    }
  }
  for (const c of conversations) {
    const p = packetOfConversation(c);
    if (!p) continue;
    const e = explainTrace(p, traceConnection(topo, p));
    const hit = new Set<string>();
    for (const s of e.steps) for (const d of s.checks) hit.add(d.ruleId);
    for (const id of hit) {
      const u = rules.get(id);
      if (!u) continue;
      u.conversations += 1;
      u.records += c.records;
      u.lastSeen = Math.max(u.lastSeen ?? 0, c.last);
    }
  }
  return [...rules.values()].sort((a, b) => a.records - b.records || a.rule.localeCompare(b.rule));
}
