import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { emulate, loadTopology } from '../fabric/index.ts';
import type { TopologyDocT } from '../fabric/config.ts';
import type { Topology } from '../fabric/model.ts';
import { ingestPaths } from '../ingest/index.ts';
import { openStore } from '../store/index.ts';
import { conversationsFromStore, explainConnection, ruleUsage, whatIf, type Conversation } from './index.ts';

const DB_SG = 'sg-0a1b2c3d4e5f60004';
const DB_ACL = 'acl-0a1b2c3d4e5f60003';

/** The shipped topology with its document changed by `edit` (a copy; the original stays). */
async function changed(base: Topology, edit: (doc: TopologyDocT) => void): Promise<Topology> {
  const doc = structuredClone(base.doc);
  edit(doc);
  return loadTopology(doc);
}

/** The database subnet's ACL without its egress rule for ephemeral ports (replies to the app tier). */
function dropEphemeralEgress(doc: TopologyDocT): void {
  const acl = doc.vpcs[0].networkAcls?.find((a) => a.id === DB_ACL);
  if (!acl) throw new Error(`${DB_ACL} is not in the shipped topology`);
  acl.egress = acl.egress.filter((r) => r.rule !== 100);
}

describe('explain one connection', () => {
  let topo: Topology;
  beforeAll(async () => {
    topo = await loadTopology();
  });

  it('names every layer and rule that lets app → database through, both ways', () => {
    const e = explainConnection(topo, { src: '10.0.10.21', dst: '10.0.20.10', dstPort: 5432 });
    expect(e.verdict).toBe('ACCEPT');
    expect(e.endpoint).toBe('eni-0a1b2c3d4e5f60041');
    const rules = e.steps.flatMap((s) => s.checks.map((c) => `${s.leg} ${s.eni} ${c.ruleId}`));
    expect(rules).toContain(`request eni-0a1b2c3d4e5f60041 ${DB_SG} ingress[0]`);
    expect(rules).toContain(`request eni-0a1b2c3d4e5f60041 ${DB_ACL}#100 ingress`);
    // The reply passes the security group because it is stateful, the ACL by its ephemeral rule.
    expect(rules).toContain(`reply eni-0a1b2c3d4e5f60041 ${DB_SG} egress (tracked)`);
    expect(rules).toContain(`reply eni-0a1b2c3d4e5f60041 ${DB_ACL}#100 egress`);
  });

  it('says which security group rejects an internet RDP attempt at the bastion', () => {
    const e = explainConnection(topo, { src: '203.0.113.9', dst: '192.0.2.30', dstPort: 3389 });
    expect(e.verdict).toBe('REJECT');
    expect(e.blockedBy).toMatchObject({ leg: 'request', layer: 'sg', eni: 'eni-0a1b2c3d4e5f60003', ruleId: 'sg-0a1b2c3d4e5f60005 ingress' });
    expect(e.summary).toMatch(/rejected at eni-0a1b2c3d4e5f60003 by SG/);
  });

  it('blames the network ACL on the reply leg when its ephemeral-port rule is gone', async () => {
    const noEphemeral = await changed(topo, dropEphemeralEgress);
    const e = explainConnection(noEphemeral, { src: '10.0.10.21', dst: '10.0.20.10', dstPort: 5432 });
    expect(e.verdict).toBe('REJECT');
    expect(e.request.action).toBe('ACCEPT');
    expect(e.blockedBy).toMatchObject({ leg: 'reply', layer: 'nacl', ruleId: `${DB_ACL}#* egress`, eni: 'eni-0a1b2c3d4e5f60041' });
    expect(e.summary).toMatch(/on the way back/);
  });

  it('names the blackhole route', () => {
    const e = explainConnection(topo, { src: '10.0.10.21', dst: '10.99.0.5', dstPort: 443 });
    expect(e.verdict).toBe('REJECT');
    expect(e.blockedBy?.layer).toBe('route');
    expect(e.blockedBy?.reason).toMatch(/blackhole/);
  });

  it('refuses what is not an address, port or protocol with the flag named', () => {
    expect(() => explainConnection(topo, { src: '10.0.10.300', dst: '10.0.20.10' })).toThrow(/source: "10.0.10.300" is not an IPv4 or IPv6 address/);
    expect(() => explainConnection(topo, { src: '10.0.10.21', dst: '10.0.20.10', dstPort: 70000 })).toThrow(/--port/);
    expect(() => explainConnection(topo, { src: '10.0.10.21', dst: '10.0.20.10', protocol: 'sctpx' })).toThrow(/--protocol/);
  });
});

describe('what-if and rule usage over a stored emulated run', () => {
  let topo: Topology;
  let conversations: Conversation[];
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-explain-'));
    await emulate({ scenarios: ['web-app'], duration: 1200, out: join(dir, 'out'), seed: 3 });
    const db = join(dir, 'store');
    await ingestPaths([join(dir, 'out')], { db });
    topo = await loadTopology();
    const store = await openStore(db);
    try {
      conversations = await conversationsFromStore(store, {});
    } finally {
      await store.close();
    }
  }, 120_000);

  it('reads conversations in their client → server direction', () => {
    const db = conversations.filter((c) => c.dstaddr === '10.0.20.10' && c.dstport === 5432);
    expect(db.length).toBeGreaterThan(0);
    expect(db.every((c) => c.action === 'ACCEPT' && c.srcport >= 1024)).toBe(true);
    // No reply (server port as source) is taken for a conversation of its own.
    expect(conversations.some((c) => c.srcaddr === '10.0.20.10' && c.srcport === 5432)).toBe(false);
  });

  it('the same topology changes nothing', () => {
    expect(whatIf(topo, topo, conversations)).toEqual([]);
  });

  it('lists exactly the database conversations a removed ephemeral-port rule breaks', async () => {
    const proposed = await changed(topo, dropEphemeralEgress);
    const changes = whatIf(topo, proposed, conversations);
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.every((c) => c.change === 'breaks')).toBe(true);
    // Independently: every accepted conversation into the database subnet from another subnet
    // of the VPC (traffic inside one subnet never crosses its network ACL: the replica's stays).
    const expected = conversations.filter((c) => c.action === 'ACCEPT' && c.dstaddr.startsWith('10.0.20.') && c.srcaddr.startsWith('10.0.') && !c.srcaddr.startsWith('10.0.20.')).map((c) => `${c.srcaddr} ${c.dstaddr} ${c.dstport}`);
    expect(changes.map((c) => `${c.conversation.srcaddr} ${c.conversation.dstaddr} ${c.conversation.dstport}`).sort()).toEqual(expected.sort());
    expect(changes.every((c) => c.after.blockedBy?.ruleId === `${DB_ACL}#* egress` && c.after.blockedBy.leg === 'reply')).toBe(true);
  });

  it('counts the traffic each rule decided, and lists rules nothing used', () => {
    const usage = ruleUsage(topo, conversations);
    const byRule = new Map(usage.map((u) => [u.rule, u]));
    const dbIngress = byRule.get(`${DB_SG} ingress[0]`)!;
    // ingress[0] lets the app tier's group in; the replica comes in by the group's own rule.
    const expected = conversations.filter((c) => c.dstaddr.startsWith('10.0.20.') && c.dstport === 5432 && c.srcaddr.startsWith('10.0.1'));
    expect(expected.length).toBeGreaterThan(0);
    expect(dbIngress.conversations).toBe(expected.length);
    expect(dbIngress.records).toBe(expected.reduce((a, c) => a + c.records, 0));
    // Least used first; an RDP rule at the NACL of the public subnet sees no web-app traffic.
    expect(usage[0].records).toBe(0);
    expect(byRule.get('acl-0a1b2c3d4e5f60002#130 ingress')?.records).toBe(0);
    expect(usage.every((u, i) => i === 0 || usage[i - 1].records <= u.records)).toBe(true);
  });
});
