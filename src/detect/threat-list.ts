import { readFile } from 'node:fs/promises';
import { parseCidr } from '../util/ip.ts';
import { UserError } from '../util/errors.ts';
import { lit } from './rule-query.ts';
import { RuleDoc, type Rule } from './rule-schema.ts';

/**
 * Reads a threat list: one address or CIDR block a line; `#` starts a comment, and anything
 * after the first space or comma (a label) is ignored. Errors name the line.
 * @example parseThreatList('198.51.100.7\n203.0.113.0/24  # botnet C2\n', 'threats.txt')
 */
export function parseThreatList(text: string, file: string): { addresses: string[]; cidrs: string[] } {
  const addresses: string[] = [];
  const cidrs: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const entry = raw.replace(/#.*/, '').trim().split(/[\s,;]+/)[0];
    if (!entry) return;
    const c = parseCidr(entry);
    if (!c) throw new UserError(`${file}:${i + 1}:1: expected an IP address or CIDR block, got "${entry}"`);
    const full = (c.family === 4 && c.prefix === 32) || (c.family === 6 && c.prefix === 128);
    if (full) addresses.push(entry.split('/')[0]);
    else cidrs.push(c.text);
  });
  return { addresses, cidrs };
}

/** An Insights condition: the field holds a listed address or falls in a listed block. */
function listed(field: string, l: { addresses: string[]; cidrs: string[] }): string {
  const parts: string[] = [];
  if (l.addresses.length) parts.push(`${field} in [${l.addresses.map(lit).join(', ')}]`);
  for (const c of l.cidrs) parts.push(`isIpInSubnet(${field}, ${lit(c)})`);
  return `(${parts.join(' or ')})`;
}

/**
 * Two rules from a threat list (GuardDuty's custom threat list): a listed address reaching in,
 * and an instance reaching out to one. Every record counts (one packet to a C2 is enough).
 * @example await threatListRules('./threats.txt')
 */
export async function threatListRules(file: string): Promise<Rule[]> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new UserError(`threat list ${file}: ${(err as Error).message}`, { cause: err });
  });
  const l = parseThreatList(text, file);
  if (!l.addresses.length && !l.cidrs.length) return [];
  const common = { family: 'threat-list', window: 600, measures: { bytes: 'sum(bytes)', accepted: 'sum(action = "ACCEPT")' }, threshold: 'records >= 1', tags: ['threat-list'] };
  const inbound = RuleDoc.parse({
    ...common,
    id: 'threat-list-inbound',
    severity: 'medium',
    title: 'Traffic from threat-listed {actor} to {target}',
    description: `An address on the threat list (${file}) sent traffic to your network.`,
    query: `filter ${listed('srcAddr', l)}`,
    actor: 'srcAddr',
    target: 'dstAddr',
  });
  const outbound = RuleDoc.parse({
    ...common,
    id: 'threat-list-outbound',
    severity: 'high',
    title: '{actor} talks to threat-listed {target}',
    description: `An instance sent traffic to an address on the threat list (${file}): a compromised host calling home, or a user reaching a malicious site.`,
    query: `filter ${listed('coalesce(pkt_dstaddr, dstAddr)', l)}`,
    actor: 'coalesce(pkt_srcaddr, srcAddr)',
    target: 'coalesce(pkt_dstaddr, dstAddr)',
  });
  return [
    { ...inbound, source: file },
    { ...outbound, source: file },
  ];
}
