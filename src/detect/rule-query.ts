import type { Rule } from './rule-schema.ts';

/**
 * The Logs Insights text a rule runs. Everything a finding shows (its evidence query too) is
 * built here, so what the engine ran and what a user pastes into `flowlens query` are the same.
 */

const PRIVATE_V4 = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'];

/** An Insights condition true when the address is private (RFC 1918, CGNAT, IPv6 ULA/link-local). */
export function privateCondition(field: string): string {
  const v4 = PRIVATE_V4.map((c) => `isIpv4InSubnet(${field}, "${c}")`);
  return `(${[...v4, `isIpv6InSubnet(${field}, "fc00::/7")`, `isIpv6InSubnet(${field}, "fe80::/10")`].join(' or ')})`;
}

/** The filter a rule's `scope` adds in front of its query (empty for `any`). */
export function scopeFilter(scope: Rule['scope']): string {
  const src = privateCondition('srcAddr');
  const dst = privateCondition('dstAddr');
  switch (scope) {
    case 'inbound':
      return `filter not ${src} and ${dst}`;
    case 'outbound':
      return `filter ${src} and not ${dst}`;
    case 'internal':
      return `filter ${src} and ${dst}`;
    default:
      return '';
  }
}

/** The rule's selection: scope filter, then its own commands. */
export function selection(rule: Pick<Rule, 'scope' | 'query'>): string {
  const scope = scopeFilter(rule.scope);
  const q = rule.query.trim();
  return scope ? `${scope}\n| ${q}` : q;
}

export function groupKeys(rule: Rule): ('actor' | 'target')[] {
  return rule.groupBy ?? (rule.target ? ['actor', 'target'] : ['actor']);
}

/** Names the engine adds to every stats; measures may not reuse them. */
export const RESERVED_MEASURES = ['records', 'first_seen', 'last_seen', 'actor', 'target', 'window'];

/**
 * The stats query of a rule: records grouped by window and key, with the rule's measures and
 * the bookkeeping columns (records, first/last seen). The ENIs of a firing group come from its
 * detail query: a distinct count per group here cost every rule a second distinct aggregate.
 * @example statsQuery(rule, true) // 'filter ... | stats count(*) as records, ... by srcAddr as actor, floor(startTime / 600) * 600 as window | filter ports >= 100 | limit 1000000'
 */
export function statsQuery(rule: Rule, withThreshold: boolean): string {
  const keys = groupKeys(rule).map((k) => `${k === 'actor' ? rule.actor : rule.target} as ${k}`);
  const measures = Object.entries(rule.measures).map(([name, expr]) => `${expr} as ${name}`);
  const stats = ['count(*) as records', 'min(startTime) as first_seen', 'max(endTime) as last_seen', ...measures];
  const by = [...keys, `floor(startTime / ${rule.window}) * ${rule.window} as window`];
  let q = `${selection(rule)}\n| stats ${stats.join(', ')} by ${by.join(', ')}`;
  if (withThreshold) q += `\n| filter ${rule.threshold}`;
  return `${q}\n| limit 1000000`;
}

/** Insights string literal. */
export function lit(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Who/what/where of the findings' groups: one row per (actor, target, ENI, window), for the
 * given actors (or targets) only. The engine folds these rows per group in SQL (detailSql), so
 * a flood's thousands of sources never travel to JavaScript.
 */
export function detailQuery(rule: Rule, by: 'actor' | 'target', values: readonly string[]): string {
  const target = rule.target ? `, ${rule.target} as target` : '';
  const list = values.map(lit).join(', ');
  return `${selection(rule)}\n| filter ${by === 'actor' ? rule.actor : rule.target} in [${list}]\n| stats count(*) as n by ${rule.actor} as actor${target}, interfaceId as eni, floor(startTime / ${rule.window}) * ${rule.window} as window\n| limit 2147483647`;
}

/**
 * The records behind one finding, as a query to paste into `flowlens query`.
 * @example evidenceQuery(rule, {actor: '203.0.113.5'}, 1700000000, 1700000600)
 */
export function evidenceQuery(rule: Rule, key: { actor?: string; target?: string }, from: number, to: number): string {
  const conds: string[] = [];
  if (key.actor !== undefined) conds.push(`${rule.actor} = ${lit(key.actor)}`);
  if (key.target !== undefined && rule.target) conds.push(`${rule.target} = ${lit(key.target)}`);
  conds.push(`startTime >= ${from} and startTime < ${to}`);
  return `${selection(rule)}\n| filter ${conds.join(' and ')}\n| fields @timestamp, interfaceId, srcAddr, dstAddr, srcPort, dstPort, protocol, packets, bytes, action, logStatus\n| sort @timestamp asc\n| limit 1000`;
}
