import { describe, expect, it } from 'vitest';
import { formatIp } from './ip.ts';
import { isNeverLogged, lookupRoute, traceConnection, type Hop } from './policy.ts';
import { ip, tiny } from './test-helpers.ts';

const topo = tiny();
const tcp = (src: string, dst: string, dport: number, sport = 40000) => ({ src: ip(src), dst: ip(dst), protocol: 6, srcPort: sport, dstPort: dport });
const show = (h: Hop) => `${h.eni.id} ${h.direction} ${h.decision.action} ${formatIp(h.srcaddr)}:${h.srcport} > ${formatIp(h.dstaddr)}:${h.dstport} pkt ${formatIp(h.pktSrcaddr)} > ${formatIp(h.pktDstaddr)} path ${h.trafficPath}`;

describe('policy engine', () => {
  it('security groups are stateful: return traffic of an accepted connection passes', () => {
    const t = traceConnection(topo, tcp('10.1.1.20', '10.1.2.10', 5432));
    expect(t.forward.delivered).toBe(true);
    expect(t.forward.hops.map(show)).toEqual([
      'eni-app egress ACCEPT 10.1.1.20:40000 > 10.1.2.10:5432 pkt 10.1.1.20 > 10.1.2.10 path 1',
      'eni-db ingress ACCEPT 10.1.1.20:40000 > 10.1.2.10:5432 pkt 10.1.1.20 > 10.1.2.10 path 0',
    ]);
    // sg-app has no ingress rule for 5432 replies; tracking lets them in.
    expect(t.reverse!.delivered).toBe(true);
    const back = t.reverse!.hops.find((h) => h.eni.id === 'eni-app')!;
    expect(back.decision).toMatchObject({ action: 'ACCEPT', layer: 'sg', ruleId: 'sg-app ingress (tracked)' });
  });

  it('a security group without a matching rule rejects, naming the groups', () => {
    const t = traceConnection(topo, tcp('10.1.1.10', '10.1.2.10', 5432));
    expect(t.forward.delivered).toBe(false);
    expect(t.forward.verdict).toMatchObject({ action: 'REJECT', layer: 'sg', ruleId: 'sg-db ingress' });
    expect(t.forward.hops.map((h) => `${h.eni.id} ${h.decision.action}`)).toEqual(['eni-web ACCEPT', 'eni-db REJECT']);
    expect(t.reverse).toBeUndefined();
  });

  it('NACL ephemeral ports: a stateless ACL that forgot them rejects the return traffic', () => {
    // eni-batch calls the internet through the NAT gateway; acl-batch allows only tcp/22 inbound.
    const t = traceConnection(topo, tcp('10.1.3.10', '203.0.113.5', 443, 50000), 3000);
    expect(t.forward.delivered).toBe(true);
    expect(t.reverse!.delivered).toBe(false);
    expect(t.reverse!.verdict).toMatchObject({ action: 'REJECT', layer: 'nacl', ruleId: 'acl-batch#* ingress' });
    const last = t.reverse!.hops[t.reverse!.hops.length - 1];
    expect(show(last)).toBe('eni-batch ingress REJECT 203.0.113.5:443 > 10.1.3.10:50000 pkt 203.0.113.5 > 10.1.3.10 path 0');
  });

  it('NACL rules apply in number order, first match wins, final * denies', () => {
    // acl-db: 100 allows tcp/5432 from 10.1.0.0/16 before 200 denies it from 10.1.1.0/24.
    const ok = traceConnection(topo, tcp('10.1.1.20', '10.1.2.10', 5432));
    expect(ok.forward.hops[1].checks[0].ruleId).toBe('acl-db#100 ingress');
    const t = traceConnection(tiny((d) => (d.vpcs[0].networkAcls[1].ingress[1].rule = 50)), tcp('10.1.1.20', '10.1.2.10', 5432));
    expect(t.forward.verdict).toMatchObject({ action: 'REJECT', layer: 'nacl', ruleId: 'acl-db#50 ingress' });
  });

  it('ping allowed inbound whose reply an outbound NACL blocks: ACCEPT request, REJECT reply', () => {
    const t2 = tiny((d) => {
      d.vpcs[0].networkAcls.push({ id: 'acl-noicmp', default: false, ingress: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }], egress: [{ rule: 100, action: 'allow', protocol: 'tcp', cidr: '0.0.0.0/0' }] });
      d.vpcs[0].subnets[0].networkAcl = 'acl-noicmp';
    });
    const t = traceConnection(t2, { src: ip('198.51.100.9'), dst: ip('192.0.2.130'), protocol: 1, srcPort: 0, dstPort: 0, icmpType: 8, icmpCode: 0 });
    expect(t.forward.hops.map(show)).toEqual(['eni-bastion ingress ACCEPT 198.51.100.9:0 > 10.1.0.30:0 pkt 198.51.100.9 > 10.1.0.30 path 0']);
    expect(t.reverse!.hops.map(show)).toEqual(['eni-bastion egress REJECT 10.1.0.30:0 > 198.51.100.9:0 pkt 10.1.0.30 > 198.51.100.9 path 8']);
    expect(t.reverse!.verdict.ruleId).toBe('acl-noicmp#* egress');
  });

  it('traffic inside one subnet never meets the NACL', () => {
    const t = traceConnection(topo, tcp('10.1.1.10', '10.1.1.20', 8443));
    expect(t.forward.hops.flatMap((h) => h.checks.map((c) => c.layer))).toEqual(['sg', 'sg']);
  });

  it('longest prefix wins', () => {
    const rt = topo.subnets.find((s) => s.id === 'subnet-app')!.routeTable;
    expect(lookupRoute(rt, ip('198.51.100.70'))!.target.kind).toBe('nat');
    expect(lookupRoute(rt, ip('198.51.100.10'))!.target.kind).toBe('blackhole');
    expect(lookupRoute(rt, ip('8.8.8.8'))!.target.kind).toBe('nat');
    expect(lookupRoute(rt, ip('10.1.2.10'))!.target.kind).toBe('local');
  });

  it('blackhole: the sender logs ACCEPT, nothing arrives, the verdict names the route', () => {
    const t = traceConnection(topo, tcp('10.1.1.20', '10.99.4.20', 9092));
    expect(t.forward.delivered).toBe(false);
    expect(t.forward.hops.map((h) => `${h.eni.id} ${h.direction} ${h.decision.action} ${h.trafficPath}`)).toEqual(['eni-app egress ACCEPT 0']);
    expect(t.forward.verdict).toMatchObject({ action: 'REJECT', layer: 'route', ruleId: 'rtb-priv 10.99.0.0/16 → blackhole' });
  });

  it('NAT rewriting: the NAT interface logs its own address with pkt-srcaddr/pkt-dstaddr holding the real ones', () => {
    const t = traceConnection(topo, tcp('10.1.1.20', '203.0.113.5', 443, 40001), 7000);
    expect(t.forward.hops.map(show)).toEqual([
      'eni-app egress ACCEPT 10.1.1.20:40001 > 203.0.113.5:443 pkt 10.1.1.20 > 203.0.113.5 path 1',
      'eni-nat ingress ACCEPT 10.1.1.20:40001 > 10.1.0.20:443 pkt 10.1.1.20 > 203.0.113.5 path 0',
      'eni-nat egress ACCEPT 10.1.0.20:7000 > 203.0.113.5:443 pkt 10.1.0.20 > 203.0.113.5 path 2',
    ]);
    expect(t.reverse!.hops.map(show)).toEqual([
      'eni-nat ingress ACCEPT 203.0.113.5:443 > 10.1.0.20:7000 pkt 203.0.113.5 > 10.1.0.20 path 0',
      'eni-nat egress ACCEPT 10.1.0.20:443 > 10.1.1.20:40001 pkt 203.0.113.5 > 10.1.1.20 path 1',
      'eni-app ingress ACCEPT 203.0.113.5:443 > 10.1.1.20:40001 pkt 203.0.113.5 > 10.1.1.20 path 0',
    ]);
  });

  it('a secondary address shows as the primary in srcaddr, as itself in pkt-srcaddr', () => {
    const h = traceConnection(topo, tcp('10.1.1.120', '10.1.2.10', 5432)).forward.hops[0];
    expect([formatIp(h.srcaddr), formatIp(h.pktSrcaddr)]).toEqual(['10.1.1.20', '10.1.1.120']);
  });

  it('traffic-path codes: 1 VPC, 2 IGW (non-Nitro), 3 VGW, 4 peering, 5 inter-region peering, 7 gateway endpoint, 8 IGW (Nitro)', () => {
    const path = (t: ReturnType<typeof traceConnection>, eni: string) => t.forward.hops.find((h) => h.eni.id === eni && h.direction === 'egress')!.trafficPath;
    expect(path(traceConnection(topo, tcp('10.1.1.10', '10.1.1.20', 8443)), 'eni-web')).toBe(1);
    expect(path(traceConnection(topo, tcp('10.1.1.20', '192.168.1.1', 443)), 'eni-app')).toBe(3);
    expect(path(traceConnection(topo, tcp('10.1.1.20', '172.16.0.10', 636)), 'eni-app')).toBe(4);
    const cross = tiny((d) => (d.peeringConnections[0].crossRegion = true));
    expect(path(traceConnection(cross, tcp('10.1.1.20', '172.16.0.10', 636)), 'eni-app')).toBe(5);
    const s3 = traceConnection(topo, tcp('10.1.1.20', '52.218.1.1', 443));
    expect(path(s3, 'eni-app')).toBe(7);
    expect(s3.forward.hops[0].pktDstService).toBe('S3');
    expect(path(traceConnection(topo, tcp('10.1.0.30', '203.0.113.5', 443)), 'eni-bastion')).toBe(8);
    const nonNitro = tiny((d) => (d.vpcs[0].subnets[0].enis[2].nitro = false));
    expect(path(traceConnection(nonNitro, tcp('10.1.0.30', '203.0.113.5', 443)), 'eni-bastion')).toBe(2);
    // Ingress records have no traffic path.
    expect(traceConnection(topo, tcp('10.1.1.10', '10.1.1.20', 8443)).forward.hops[1].trafficPath).toBe(0);
  });

  it('BPA reject-reason: Block Public Access rejects internet traffic with reject-reason BPA', () => {
    const bi = tiny((d) => (d.vpcs[0].blockPublicAccess = 'block-bidirectional'));
    const inbound = traceConnection(bi, tcp('198.51.100.9', '192.0.2.130', 22));
    expect(inbound.forward.verdict).toMatchObject({ action: 'REJECT', layer: 'bpa', rejectReason: 'BPA' });
    expect(inbound.forward.hops[0].decision.rejectReason).toBe('BPA');
    const out = traceConnection(bi, tcp('10.1.1.20', '203.0.113.5', 443));
    expect(out.forward.hops.map((h) => `${h.eni.id} ${h.direction} ${h.decision.action} ${h.decision.rejectReason ?? '-'}`)).toEqual(['eni-app egress ACCEPT -', 'eni-nat ingress ACCEPT -', 'eni-nat egress REJECT BPA']);
    // block-ingress keeps NAT gateways' outbound connections (and their replies) working.
    const ing = tiny((d) => (d.vpcs[0].blockPublicAccess = 'block-ingress'));
    expect(traceConnection(ing, tcp('10.1.1.20', '203.0.113.5', 443)).reverse!.delivered).toBe(true);
    expect(traceConnection(ing, tcp('198.51.100.9', '192.0.2.130', 22)).forward.verdict.rejectReason).toBe('BPA');
    // A subnet exclusion lets its interfaces through.
    const ex = tiny((d) => {
      d.vpcs[0].blockPublicAccess = 'block-bidirectional';
      d.vpcs[0].subnets[0].bpaExclusion = 'allow-bidirectional';
    });
    expect(traceConnection(ex, tcp('198.51.100.9', '192.0.2.130', 22)).forward.delivered).toBe(true);
  });

  it('never logged: the DNS resolver, instance metadata, time sync, DHCP', () => {
    const dns = { src: ip('10.1.1.20'), dst: ip('10.1.0.2'), protocol: 17, srcPort: 40000, dstPort: 53 };
    expect(isNeverLogged(topo, dns)).toBe(true);
    expect(traceConnection(topo, dns).forward).toMatchObject({ unlogged: true, hops: [] });
    expect(isNeverLogged(topo, { ...dns, dst: ip('169.254.169.254'), protocol: 6, dstPort: 80 })).toBe(true);
    expect(isNeverLogged(topo, { ...dns, dst: ip('169.254.169.123'), dstPort: 123 })).toBe(true);
    expect(isNeverLogged(topo, { ...dns, dst: ip('255.255.255.255'), srcPort: 68, dstPort: 67 })).toBe(true);
    expect(isNeverLogged(topo, { ...dns, dst: ip('8.8.8.8') })).toBe(false);
  });

  it('an interface without a public address cannot use the internet gateway directly', () => {
    const t = traceConnection(tiny((d) => (d.vpcs[0].subnets[1].routeTable = 'rtb-pub')), tcp('10.1.1.20', '203.0.113.5', 443));
    expect(t.forward.verdict).toMatchObject({ layer: 'route', ruleId: expect.stringContaining('igw-11111111') });
    expect(t.forward.hops[0].decision.action).toBe('ACCEPT');
  });
});
