import { UserError } from '../../util/errors.ts';
import type { TopologyDocT } from '../config.ts';
import { cidrContains, parseCidr } from '../ip.ts';
import type { Eni } from '../model.ts';
import { Close } from '../traffic.ts';
import { arrivals, at, crowd, incidentWindow, label, type ScenarioContext, type ScenarioDef } from './kit.ts';

function findSg(doc: TopologyDocT, id: string) {
  for (const v of doc.vpcs) for (const g of v.securityGroups) if (g.id === id) return g;
  return undefined;
}

/** The minute a change happens: somewhere in the first half of the run, on a minute boundary. */
function changeTime(ctx: ScenarioContext): number {
  const [s] = incidentWindow(ctx, 0.25, 0.5, 60, 60);
  return Math.floor(s / 60) * 60;
}

/** Clients that open fresh connections to a server every few seconds (a churning pool). */
function churn(ctx: ScenarioContext, from: number, to: number, d: Parameters<ReturnType<ScenarioDef['create']>['tick']>[2], clients: Eni[], server: Eni, port: number, perSecond: number): void {
  const n = arrivals(ctx.rng, perSecond, from, to);
  for (let i = 0; i < n.count; i++) d.tcp(at(ctx.rng, n.lo, n.hi), ctx.rng.pick(clients).ip, server.ip, port, 0.05 + ctx.rng.exp(0.2), 4, 900, 5, 3800);
}

export const sgChangeBreaksDb: ScenarioDef = {
  name: 'sg-change-breaks-db',
  summary: "a security group edit removes the app tier's access to the database at a given minute",
  create(ctx) {
    const apps = ctx.roles.need('sg-change-breaks-db', 'app');
    const db = ctx.roles.need('sg-change-breaks-db', 'db')[0];
    const appSgs = new Set(apps.flatMap((a) => a.securityGroups.map((g) => g.id)));
    const t = changeTime(ctx);
    return {
      changes: [
        {
          at: t,
          description: `revoke ${db.securityGroups.map((g) => g.id).join(',')} ingress tcp/5432 from the app tier`,
          apply(doc) {
            for (const g of db.securityGroups) {
              const sg = findSg(doc, g.id);
              if (!sg) continue;
              sg.ingress = sg.ingress.filter((r) => {
                const covers5432 = r.ports === undefined || r.ports === 'all' || r.ports === 5432 || (typeof r.ports === 'string' && r.ports.includes('-') && Number(r.ports.split('-')[0]) <= 5432 && Number(r.ports.split('-')[1]) >= 5432);
                const fromApp = (r.group !== undefined && appSgs.has(r.group)) || (r.cidr !== undefined && apps.some((a) => cidrContains(parseCidr(r.cidr!)!, a.ip)));
                return !(covers5432 && fromApp);
              });
            }
          },
        },
      ],
      labels: [label('sg-change-breaks-db', 'sg-change-breaks-app-db', apps.map((a) => a.ip), [db.ip], [...apps, db], t, ctx.end, `from ${t} the database's security group no longer lets the app tier in: new connections are rejected`)],
      tick(from, to, d) {
        churn(ctx, from, to, d, apps, db, 5432, 0.5 * ctx.scale);
      },
    };
  },
};

export const naclBlocksReturn: ScenarioDef = {
  name: 'nacl-blocks-return',
  summary: "a new network ACL on the app subnet forgets the ephemeral ports: replies to the app's own calls are rejected",
  create(ctx) {
    const apps = ctx.roles.need('nacl-blocks-return', 'app');
    const subnet = apps[0].subnet;
    const inSubnet = apps.filter((a) => a.subnet === subnet);
    const subnetEnis = ctx.topo.enis.filter((e) => e.subnet === subnet);
    const db = ctx.roles.find('db')[0];
    const vpcCidr = subnet.vpc.cidrs[0].text;
    const t = changeTime(ctx);
    const aclId = `acl-${subnet.id.slice(7, 24).padEnd(8, '0')}f`;
    const apis = crowd(ctx.rng, 5);
    return {
      changes: [
        {
          at: t,
          description: `associate ${aclId} (no ephemeral-port rule) with ${subnet.id}`,
          apply(doc) {
            const v = doc.vpcs.find((x) => x.id === subnet.vpc.id)!;
            v.networkAcls.push({
              id: aclId,
              default: false,
              ingress: [
                { rule: 100, action: 'allow', protocol: 'tcp', ports: 8443, cidr: vpcCidr },
                { rule: 110, action: 'allow', protocol: 'tcp', ports: 8080, cidr: vpcCidr },
                { rule: 120, action: 'allow', protocol: 'tcp', ports: 22, cidr: vpcCidr },
              ],
              egress: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }],
            });
            for (const s of v.subnets) if (s.id === subnet.id) s.networkAcl = aclId;
          },
        },
      ],
      // Every interface of the subnet loses its replies (the web tier's calls to apps in other
      // subnets too), not only the apps whose traffic the scenario adds.
      labels: [label('nacl-blocks-return', 'nacl-blocks-return', subnetEnis.map((a) => a.ip), db ? [db.ip] : [], subnetEnis, t, ctx.end, `from ${t} ${subnet.id}'s network ACL drops replies to ephemeral ports`)],
      tick(from, to, d) {
        if (db) churn(ctx, from, to, d, inSubnet, db, 5432, 0.5 * ctx.scale);
        const n = arrivals(ctx.rng, 0.3 * ctx.scale, from, to);
        for (let i = 0; i < n.count; i++) d.tcp(at(ctx.rng, n.lo, n.hi), ctx.rng.pick(inSubnet).ip, ctx.rng.pick(apis), 443, 0.3, 6, 1400, 8, 9000);
      },
    };
  },
};

export const blockPublicAccess: ScenarioDef = {
  name: 'block-public-access',
  summary: 'VPC Block Public Access is switched on (bidirectional): internet traffic is rejected with reject-reason BPA',
  create(ctx) {
    const pub = ctx.roles.public();
    if (pub.length === 0) ctx.roles.need('block-public-access', 'alb', 'bastion');
    const vpc = pub[0].vpc;
    const users = crowd(ctx.rng, 200);
    const t = changeTime(ctx);
    return {
      changes: [
        {
          at: t,
          description: `turn on Block Public Access (block-bidirectional) for ${vpc.id}`,
          apply(doc) {
            doc.vpcs.find((v) => v.id === vpc.id)!.blockPublicAccess = 'block-bidirectional';
          },
        },
      ],
      labels: [label('block-public-access', 'bpa-enabled', users, pub.filter((e) => e.vpc === vpc).map((e) => e.publicIp!), pub.filter((e) => e.vpc === vpc), t, ctx.end, `from ${t} ${vpc.id} blocks internet traffic (reject-reason BPA)`)],
      tick(from, to, d) {
        const targets = pub.filter((e) => e.vpc === vpc);
        const n = arrivals(ctx.rng, 1 * ctx.scale, from, to);
        for (let i = 0; i < n.count; i++) d.tcp(at(ctx.rng, n.lo, n.hi), ctx.rng.pick(users), ctx.rng.pick(targets).publicIp!, 443, 1, 6, 1400, 8, 9000, Close.Fin, 2);
      },
    };
  },
};

export const peerRouteRemoved: ScenarioDef = {
  name: 'peer-route-removed',
  summary: "the peered VPC loses its route back: the app tier's calls to a service there are accepted, delivered and never answered (connect timeouts)",
  create(ctx) {
    const apps = ctx.roles.need('peer-route-removed', 'app');
    // A peering route from the apps' subnet, and a service behind it.
    const pcx = apps[0].subnet.routeTable.routes.map((r) => r.target).find((t) => t.kind === 'pcx');
    if (!pcx || pcx.kind !== 'pcx') throw new UserError("scenario peer-route-removed needs a peering route in the app subnet's route table; none in this topology");
    const peerEnis = ctx.topo.enis.filter((e) => e.vpc === pcx.peer && !e.managed);
    const svc = peerEnis.find((e) => e.role === 'ldap') ?? peerEnis[0];
    if (!svc) throw new UserError(`scenario peer-route-removed needs an instance in ${pcx.peer.id}, the peered VPC; none in this topology`);
    const callers = apps.filter((a) => a.subnet.routeTable.routes.some((r) => r.target.kind === 'pcx' && r.target.id === pcx.id && cidrContains(r.destination, svc.ip)));
    if (callers.length === 0) throw new UserError(`scenario peer-route-removed: no app interface routes ${svc.id}'s address through ${pcx.id}`);
    const t = changeTime(ctx);
    return {
      changes: [
        {
          at: t,
          description: `delete ${pcx.peer.id}'s routes to the app VPC through ${pcx.id}`,
          apply(doc) {
            const v = doc.vpcs.find((x) => x.id === pcx.peer.id)!;
            for (const rt of v.routeTables) {
              rt.routes = rt.routes.filter((r) => {
                const c = parseCidr(r.destination);
                return !(r.target === pcx.id && c && callers.some((a) => cidrContains(c, a.ip)));
              });
            }
          },
        },
      ],
      // Everything the app VPC sends the service goes unanswered from then on, the normal
      // web traffic's LDAP calls too.
      labels: [label('peer-route-removed', 'connect-timeouts', callers.map((a) => a.ip), [svc.ip], [...callers, svc], t, ctx.end, `from ${t} ${pcx.peer.id} has no route back to the app VPC: ${svc.id} gets the SYNs, its SYN-ACKs go nowhere`)],
      tick(from, to, d) {
        // Each app pushes metrics every 10 s with a 2 s connect timeout (two SYNs, then it gives up).
        const n = arrivals(ctx.rng, 0.1 * callers.length * ctx.scale, from, to);
        for (let i = 0; i < n.count; i++) d.tcp(at(ctx.rng, n.lo, n.hi), ctx.rng.pick(callers).ip, svc.ip, 9100, 0.05 + ctx.rng.exp(0.05), 5, 2400 + ctx.rng.int(0, 1200), 3, 280, Close.Fin, 1);
      },
    };
  },
};
