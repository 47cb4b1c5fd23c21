import type { Eni } from '../model.ts';
import type { TopologyChange } from '../timeline.ts';
import { Close } from '../traffic.ts';
import { arrivals, at, crowd, docAddress, incidentWindow, label, reachable, type ScenarioContext, type ScenarioDef, type ScenarioRun } from './kit.ts';

/** What a brute-force scenario guesses on and against whom. */
interface BruteForceSpec {
  name: string;
  kind: string;
  /** The service's ports: the first takes most attempts, the others the rest. */
  ports: number[];
  targetRoles: string[];
  summary: string;
  /**
   * The victim's security groups open the ports to the internet only shortly before the
   * attack (an admin's change, a scheduled topology change), so the base topology keeps them closed.
   */
  exposeFirst?: boolean;
}

/** Password guessing from a few internet addresses against one exposed port. */
function bruteForce(spec: BruteForceSpec): ScenarioDef {
  const { name, kind, ports, targetRoles } = spec;
  return {
    name,
    summary: spec.summary,
    create(ctx): ScenarioRun {
      const { rng } = ctx;
      const targets = ctx.roles.find(...targetRoles).filter((e) => e.publicIp !== undefined);
      const victim = targets[0] ?? ctx.roles.need(name, ...targetRoles)[0];
      const attackers = [docAddress(rng), docAddress(rng), docAddress(rng)];
      const [s, e] = incidentWindow(ctx, 0.1, 0.7, 600, 1800);
      // Other public hosts get the same guesses; their security groups reject them.
      const others = ctx.roles.public().filter((x) => x !== victim).slice(0, 3);
      const portText = ports.length === 1 ? `port ${ports[0]}` : `ports ${ports.join('/')}`;
      const changes: TopologyChange[] = [];
      if (spec.exposeFirst) {
        const at = Math.max(ctx.start, Math.floor((s - rng.int(300, 1200)) / 60) * 60);
        const range = ports.length === 1 ? ports[0] : `${Math.min(...ports)}-${Math.max(...ports)}`;
        changes.push({
          at,
          description: `open tcp/${range} of ${victim.securityGroups.map((g) => g.id).join(',')} to 0.0.0.0/0`,
          apply(doc) {
            for (const v of doc.vpcs) for (const g of v.securityGroups) if (victim.securityGroups.some((x) => x.id === g.id)) g.ingress.push({ protocol: 'tcp', ports: range, cidr: '0.0.0.0/0', description: 'remote management (temporary)' });
          },
        });
      }
      return {
        changes,
        labels: [label(name, kind, attackers, [reachable(victim)], [victim, ...others], s, e, `${attackers.length} addresses guess passwords on ${victim.id} ${portText}`)],
        tick(from, to, d) {
          for (const a of attackers) {
            const n = arrivals(rng, 0.8 * ctx.scale, from, to, s, e);
            for (let i = 0; i < n.count; i++) {
              const t = at(rng, n.lo, n.hi);
              const port = ports.length === 1 ? ports[0] : rng.chance(0.8) ? ports[0] : rng.pick(ports.slice(1));
              // A failed login: handshake, key exchange, a few guesses, then the server closes.
              d.tcp(t, a, reachable(victim), port, 2 + rng.exp(2), 12 + rng.int(0, 8), 2600 + rng.int(0, 1500), 11 + rng.int(0, 6), 3300 + rng.int(0, 900), rng.chance(0.3) ? Close.ServerRst : Close.Fin);
              if (others.length > 0 && rng.chance(0.2)) d.tcp(t + 0.5, a, reachable(rng.pick(others)), port, 0, 0, 0, 0, 0, Close.Fin, 1);
            }
          }
        },
      };
    },
  };
}

const remoteLogin = (proto: string, port: string) => `${proto} brute force from the internet against an exposed host (${port})`;

export const sshBruteForce = bruteForce({ name: 'ssh-brute-force', kind: 'ssh-brute-force', ports: [22], targetRoles: ['bastion'], summary: remoteLogin('SSH', 'port 22') });
export const rdpBruteForce = bruteForce({ name: 'rdp-brute-force', kind: 'rdp-brute-force', ports: [3389], targetRoles: ['rdp', 'bastion'], summary: remoteLogin('RDP', 'port 3389') });
/**
 * WinRM (HTTP 5985, HTTPS 5986) on the Windows host, opened to the internet for remote
 * management minutes before scanners find it. Each guess is an NTLM exchange the server
 * answers 401 and closes, much like a failed SSH login on the wire.
 */
export const winrmBruteForce = bruteForce({
  name: 'winrm-brute-force',
  kind: 'winrm-brute-force',
  ports: [5985, 5986],
  targetRoles: ['windows', 'rdp', 'bastion'],
  summary: 'WinRM brute force from the internet against a Windows host whose security group was just opened to 5985-5986',
  exposeFirst: true,
});

/** Scanners send one SYN per port and never retry; an open port answers and gets a RST. */
function scanProbe(d: Parameters<ScenarioRun['tick']>[2], t: number, src: number, dst: number | bigint, port: number): void {
  d.tcp(t, src, dst, port, 0.05, 0, 0, 0, 0, Close.ClientRst, 0);
}

const SCAN_PORTS = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1433, 1723, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200, 9300, 27017];

export const portScanVertical: ScenarioDef = {
  name: 'port-scan-vertical',
  summary: 'one internet address scans many ports of one exposed host',
  create(ctx) {
    const { rng } = ctx;
    const victim = ctx.roles.public().find((e) => e.role === 'bastion') ?? ctx.roles.public()[0] ?? ctx.roles.need('port-scan-vertical', 'bastion')[0];
    const scanner = docAddress(rng);
    const ports = [...new Set([...SCAN_PORTS, ...Array.from({ length: 1024 }, (_, i) => i + 1)])];
    const [s, e] = incidentWindow(ctx, 0.05, 0.9, 120, 300);
    const step = (e - s) / ports.length;
    return {
      labels: [label('port-scan-vertical', 'port-scan', [scanner], [reachable(victim)], [victim], s, e, `${ports.length} ports of ${victim.id} probed`)],
      tick(from, to, d) {
        ports.forEach((p, i) => {
          const t = s + i * step;
          if (t >= from && t < to) scanProbe(d, t, scanner, reachable(victim), p);
        });
      },
    };
  },
};

export const portScanHorizontal: ScenarioDef = {
  name: 'port-scan-horizontal',
  summary: 'a compromised instance sweeps the VPC for SSH, SMB and RDP (port sweep)',
  create(ctx) {
    const { rng } = ctx;
    const attacker = ctx.roles.find('worker', 'app', 'web')[1] ?? ctx.roles.need('port-scan-horizontal', 'worker', 'app', 'web')[0];
    const vpcBase = attacker.vpc.cidrs[0].first as number;
    // Every interface of the VPC plus addresses nobody holds (no record on a receiving side).
    const targets: number[] = [...ctx.topo.enis.filter((x) => x.vpc === attacker.vpc && x !== attacker).map((x) => x.ip)];
    for (let i = 0; i < 40; i++) targets.push(vpcBase + rng.int(256 * 40, 256 * 48));
    const ports = [22, 445, 3389];
    const [s, e] = incidentWindow(ctx, 0.2, 0.8, 300, 600);
    const probes = targets.flatMap((t) => ports.map((p) => [t, p] as const));
    const step = (e - s) / probes.length;
    const hit = ctx.topo.enis.filter((x) => targets.includes(x.ip));
    return {
      labels: [label('port-scan-horizontal', 'port-sweep', [attacker.ip], targets, [attacker, ...hit], s, e, `${attacker.id} sweeps ${targets.length} addresses on ports ${ports.join(', ')}`)],
      tick(from, to, d) {
        probes.forEach(([dst, p], i) => {
          const t = s + i * step;
          if (t >= from && t < to) d.tcp(t, attacker.ip, dst, p, 0.05, 0, 0, 0, 0, Close.ClientRst, 1);
        });
      },
    };
  },
};

export const slowScan: ScenarioDef = {
  name: 'slow-scan',
  summary: 'one address probes a port every few minutes across the exposed hosts (under rate thresholds)',
  create(ctx) {
    const { rng } = ctx;
    const victims: Eni[] = ctx.roles.public();
    if (victims.length === 0) ctx.roles.need('slow-scan', 'bastion');
    const scanner = docAddress(rng);
    const times: { t: number; v: Eni; p: number }[] = [];
    for (let t = ctx.start + rng.int(30, 300); t < ctx.end; t += rng.int(180, 420)) times.push({ t, v: rng.pick(victims), p: rng.pick(SCAN_PORTS) });
    const first = times[0]?.t ?? ctx.start;
    const last = times[times.length - 1]?.t ?? ctx.start;
    return {
      labels: times.length ? [label('slow-scan', 'slow-scan', [scanner], [...new Set(times.map((x) => reachable(x.v)))], [...new Set(times.map((x) => x.v))], first, last + 1, `${times.length} probes, minutes apart`)] : [],
      tick(from, to, d) {
        for (const x of times) if (x.t >= from && x.t < to) scanProbe(d, x.t, scanner, reachable(x.v), x.p);
      },
    };
  },
};

export const ddos: ScenarioDef = {
  name: 'ddos',
  summary: 'a botnet floods the load balancers (HTTPS) and a public host (UDP) from many addresses',
  create(ctx: ScenarioContext) {
    const { rng } = ctx;
    const albs = ctx.roles.find('alb').filter((e) => e.publicIp !== undefined);
    const pub = ctx.roles.public();
    const targets = albs.length > 0 ? albs : pub;
    if (targets.length === 0) ctx.roles.need('ddos', 'alb');
    const udpVictim = pub.find((e) => !albs.includes(e)) ?? targets[0];
    const bots = crowd(rng, Math.round(1500 * Math.min(4, ctx.scale)));
    const [s, e] = incidentWindow(ctx, 0.3, 0.8, 300, 900);
    return {
      labels: [label('ddos', 'ddos', bots, [...targets.map(reachable), reachable(udpVictim)], [...targets, udpVictim], s, e, `${bots.length} sources flood ${targets.length} load balancer interface(s) and ${udpVictim.id}`)],
      tick(from, to, d) {
        const lo = Math.max(from, s);
        const hi = Math.min(to, e);
        if (hi <= lo) return;
        for (const b of bots) {
          const k = rng.poisson(0.15 * (hi - lo));
          for (let i = 0; i < k; i++) d.tcp(at(rng, lo, hi), b, reachable(rng.pick(targets)), 443, 0.3, 3, 600, 2, 300, Close.ClientRst);
          // Reflection-style UDP junk the security group rejects.
          if (rng.chance(0.5)) d.udp(at(rng, lo, hi), b, reachable(udpVictim), rng.int(1024, 65535), rng.pick([53, 123, 1900, 11211]), hi - lo, 40 + rng.int(0, 400), 48_000 + rng.int(0, 400_000), 0, 0);
        }
      },
    };
  },
};
