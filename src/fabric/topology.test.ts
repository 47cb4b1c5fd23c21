import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { TINY, tiny, tinyDoc } from './test-helpers.ts';
import { azIdFor, loadTopology, TopologyError } from './topology.ts';

const dir = mkdtempSync(join(tmpdir(), 'flowlens-topo-'));

async function loadError(change: (doc: ReturnType<typeof tinyDoc>) => void): Promise<string> {
  const doc = tinyDoc();
  change(doc);
  const file = join(dir, `t${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(doc));
  try {
    await loadTopology(file);
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message.replace(file, 'FILE');
  }
  throw new Error('expected a topology error');
}

describe('topology', () => {
  it('loads the shipped default topology', async () => {
    const t = await loadTopology();
    expect(t.vpcs.length).toBe(2);
    expect(t.enis.length).toBeGreaterThan(10);
    expect(t.flowLogs.map((f) => f.id)).toEqual(['fl-0a1b2c3d4e5f60001', 'fl-0f1e2d3c4b5a60002']);
  });

  it('resolves defaults: main route table, default NACL, AZ id, local routes', async () => {
    const t = await loadTopology(TINY);
    const pub = t.subnets.find((s) => s.id === 'subnet-pub')!;
    expect(pub.routeTable.id).toBe('rtb-pub');
    expect(pub.routeTable.routes.some((r) => r.target.kind === 'local')).toBe(true);
    expect(pub.nacl.ingress[0].allow).toBe(true);
    expect(pub.azId).toBe('euw1-az1');
    expect(azIdFor('us-east-1b')).toBe('use1-az2');
  });

  it('names file, path and line for a bad CIDR', async () => {
    const msg = await loadError((d) => (d.vpcs[0].subnets[2].cidr = '10.1.300.0/24'));
    expect(msg).toMatch(/^FILE: vpcs\[0\]\.subnets\[2\]\.cidr \(line \d+\): "10\.1\.300\.0\/24" is not a network CIDR block/);
  });

  it('rejects overlapping subnets', async () => {
    const msg = await loadError((d) => (d.vpcs[0].subnets[1].cidr = '10.1.0.0/23'));
    expect(msg).toMatch(/vpcs\[0\]\.subnets\[1\]\.cidr.*overlaps subnet subnet-pub/);
  });

  it('rejects an unknown security group', async () => {
    const msg = await loadError((d) => (d.vpcs[0].subnets[1].enis[0].securityGroups = ['sg-nope']));
    expect(msg).toMatch(/vpcs\[0\]\.subnets\[1\]\.enis\[0\]\.securityGroups\[0\].*unknown security group "sg-nope"/);
  });

  it('rejects an unknown group in a rule, an unknown key, a subnet outside its VPC', async () => {
    expect(await loadError((d) => (d.vpcs[0].securityGroups[1].ingress[0].group = 'sg-gone'))).toMatch(/securityGroups\[1\]\.ingress\[0\]\.group.*unknown security group "sg-gone"/);
    expect(await loadError((d) => Object.assign(d.vpcs[0], { cidrs: ['x'] }))).toMatch(/^FILE: vpcs\[0\].*cidrs/);
    expect(await loadError((d) => (d.vpcs[0].subnets[0].cidr = '10.2.0.0/24'))).toMatch(/not inside the VPC's blocks/);
  });

  it('rejects reserved and duplicate addresses, unknown route targets', async () => {
    expect(await loadError((d) => (d.vpcs[0].subnets[1].enis[0].ip = '10.1.1.2'))).toMatch(/reserved by AWS/);
    expect(await loadError((d) => (d.vpcs[0].subnets[1].enis[1].ip = '10.1.1.10'))).toMatch(/already the address of eni-web/);
    expect(await loadError((d) => (d.vpcs[0].routeTables[1].routes[0].target = 'nat-99999999'))).toMatch(/routeTables\[1\]\.routes\[0\]\.target.*unknown NAT gateway/);
  });

  it('builds from an object too (programmatic use)', () => {
    expect(tiny().enis.map((e) => e.id)).toContain('eni-peer');
  });
});
