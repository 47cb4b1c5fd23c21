import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emulate } from './emulate.ts';
import { traceConnection } from './policy.ts';
import { ip } from './test-helpers.ts';
import { loadTopology } from './topology.ts';

const DIR = new URL('./testdata/describe/', import.meta.url).pathname;

describe('aws ec2 describe-* import', () => {
  it('builds the topology a folder of describe-* outputs describes', async () => {
    const t = await loadTopology(DIR);
    expect(t.account).toBe('444455556666');
    expect(t.region).toBe('ap-southeast-2');
    const byId = new Map(t.enis.map((e) => [e.id, e]));
    expect(byId.get('eni-0aaaaaaaaaaaaaaa1')).toMatchObject({ type: 'nat_gateway', natGatewayId: 'nat-0123456789abcdef0', managed: true });
    expect(byId.get('eni-0aaaaaaaaaaaaaaa2')).toMatchObject({ type: 'application_load_balancer', instanceId: undefined });
    expect(byId.get('eni-0aaaaaaaaaaaaaaa3')).toMatchObject({ instanceId: 'i-0ccccccccccccccc1', name: 'app-1', role: 'app' });
    expect(byId.get('eni-0aaaaaaaaaaaaaaa3')!.addrs).toHaveLength(2);
    const priv = t.subnets.find((s) => s.id === 'subnet-0b0b0b0b0b0b0b0b2')!;
    expect(priv.azId).toBe('apse2-az3');
    expect(priv.nacl.id).toBe('acl-0e0e0e0e0e0e0e0e2');
    expect(priv.routeTable.routes.map((r) => r.target.kind)).toEqual(['local', 'blackhole', 'nat']);
    expect(t.subnets[0].routeTable.id).toBe('rtb-0f0f0f0f0f0f0f0f1');
  });

  it('the imported rules behave: the load balancer reaches the app, the app reaches the database, the NACL passes replies', async () => {
    const t = await loadTopology(DIR);
    const alb = traceConnection(t, { src: ip('10.20.0.60'), dst: ip('10.20.1.10'), protocol: 6, srcPort: 40000, dstPort: 8080 });
    expect(alb.reverse?.delivered).toBe(true);
    const db = traceConnection(t, { src: ip('10.20.1.11'), dst: ip('10.20.1.20'), protocol: 6, srcPort: 40000, dstPort: 5432 });
    expect(db.forward.verdict).toMatchObject({ action: 'ACCEPT', layer: 'sg', ruleId: 'sg-0a0a0a0a0a0a0a0a3 ingress[0]' });
    const out = traceConnection(t, { src: ip('10.20.1.10'), dst: ip('203.0.113.9'), protocol: 6, srcPort: 40000, dstPort: 443 }, 30000);
    expect(out.reverse?.delivered).toBe(true);
    // The NAT gateway picked a port outside the NACL's 32768-60999: its reply is refused.
    const bad = traceConnection(t, { src: ip('10.20.1.10'), dst: ip('203.0.113.9'), protocol: 6, srcPort: 1200, dstPort: 443 }, 30000);
    expect(bad.reverse?.verdict).toMatchObject({ action: 'REJECT', ruleId: 'acl-0e0e0e0e0e0e0e0e2#* ingress' });
  });

  it('emulates the imported VPC (scenarios find roles by tags and open ports)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'flowlens-desc-'));
    const r = await emulate({ topology: DIR, scenarios: ['web-app', 'sg-change-breaks-db'], duration: 300, out });
    expect(r.records).toBeGreaterThan(20);
    expect(r.labels[0]).toMatchObject({ kind: 'sg-change-breaks-app-db', victims: ['10.20.1.20'] });
  });

  it('names the describe-* file and item of a mistake', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-desc-bad-'));
    cpSync(DIR, dir, { recursive: true });
    const subnets = JSON.parse(readFileSync(join(dir, 'subnets.json'), 'utf8'));
    subnets.Subnets[1].CidrBlock = '10.20.0.0/23';
    writeFileSync(join(dir, 'subnets.json'), JSON.stringify(subnets));
    await expect(loadTopology(dir)).rejects.toThrow(/subnets\.json: Subnets\[1\]: vpcs\[0\]\.subnets\[1\]\.cidr: 10\.20\.0\.0\/23 overlaps subnet subnet-0a0a0a0a0a0a0a0a1/);
  });

  it('names the line and column of broken JSON in a describe-* file, and of broken topology YAML', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-desc-json-'));
    cpSync(DIR, dir, { recursive: true });
    writeFileSync(join(dir, 'subnets.json'), '{\n  "Subnets": [\n    { "SubnetId": "subnet-1", }\n  ]\n}\n');
    await expect(loadTopology(dir)).rejects.toThrow(/subnets\.json:3:\d+: not JSON \(/);
    writeFileSync(join(dir, 'subnets.json'), '{\n  "Subnets": [\n');
    await expect(loadTopology(dir)).rejects.toThrow(/subnets\.json:2:\d+: not JSON \(Unexpected end of JSON input\)/);
    const yaml = join(dir, 'bad.yaml');
    writeFileSync(yaml, 'account: "111111111111"\nregion: us-east-1\nvpcs:\n  - id: vpc-1\n     cidr: 10.0.0.0/16\n');
    await expect(loadTopology(yaml)).rejects.toThrow(/bad\.yaml:4:9: Nested mappings/);
  });
});
