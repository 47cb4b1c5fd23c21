import { parseV4, type Ip } from '../ip.ts';
import { Close } from '../traffic.ts';
import { arrivals, at, crowd, docAddress, type ScenarioDef } from './kit.ts';

const ip = (s: string) => parseV4(s);

/**
 * Normal traffic of a three-tier web application: internet users to the load balancers, the
 * load balancers to the web tier (and their health checks), web to app, app to the database and
 * cache over pooled long-lived connections, calls to outside APIs through the NAT gateway, S3
 * through the gateway endpoint, LDAP over the peering, database replication, an admin's SSH
 * session, an uptime monitor's pings, and DNS/NTP to addresses AWS never logs.
 */
export const webApp: ScenarioDef = {
  name: 'web-app',
  summary: 'normal three-tier web application traffic with internet users (no incidents)',
  create(ctx) {
    const { rng, roles, scale } = ctx;
    const albs = roles.find('alb', 'web').filter((e) => e.publicIp !== undefined);
    const webs = roles.find('web', 'app');
    const apps = roles.find('app', 'web');
    const dbs = roles.find('db');
    const replicas = roles.find('db-replica');
    const caches = roles.find('cache');
    const ldap = roles.find('ldap');
    const bastion = roles.find('bastion');
    const users = crowd(rng, 4000);
    const apis = crowd(rng, 12);
    const office = docAddress(rng);
    const monitor = docAddress(rng);
    const s3 = ctx.topo.awsServices.filter((s) => s.service === 'S3').map((s) => s.cidr.first as number);
    const resolver = (e: { vpc: { cidrs: { first: Ip }[] } }) => (e.vpc.cidrs[0].first as number) + 2;
    // Pooled connections are opened once, at the start, and stay open: records for every window.
    let pooled = false;
    const sessionRate = 4 * scale;
    return {
      labels: [],
      tick(from, to, d) {
        const span = ctx.end - ctx.start;
        if (!pooled) {
          pooled = true;
          for (const app of apps) {
            for (const db of dbs) for (let i = 0; i < 3; i++) d.tcp(from + rng.next(), app.ip, db.ip, 5432, span, Math.ceil(span * sessionRate * 2), span * sessionRate * 300, Math.ceil(span * sessionRate * 2), span * sessionRate * 2400, Close.Open);
            for (const c of caches) d.tcp(from + rng.next(), app.ip, c.ip, 6379, span, Math.ceil(span * sessionRate * 4), span * sessionRate * 400, Math.ceil(span * sessionRate * 4), span * sessionRate * 900, Close.Open);
          }
          for (const db of dbs) for (const r of replicas) d.tcp(from + rng.next(), r.ip, db.ip, 5432, span, Math.ceil(span * 2), span * 400, Math.ceil(span * 4), span * 6000, Close.Open);
        }
        if (albs.length > 0 && webs.length > 0) {
          const n = arrivals(rng, sessionRate, from, to);
          for (let i = 0; i < n.count; i++) {
            const t = at(rng, n.lo, n.hi);
            const user = users[Math.floor(rng.next() * rng.next() * users.length)];
            const alb = rng.pick(albs);
            const web = rng.pick(webs);
            const dur = 0.5 + rng.exp(6);
            const reqs = 1 + Math.floor(rng.exp(3));
            const page = 20_000 + Math.floor(rng.exp(60_000));
            if (rng.chance(0.03)) {
              // Plain HTTP gets a redirect and nothing else.
              d.tcp(t, user, alb.publicIp!, 80, 0.2, 1, 420, 1, 380);
              continue;
            }
            d.tcp(t, user, alb.publicIp!, 443, dur, 4 + reqs * 3, 1800 + reqs * 600, 4 + Math.ceil((reqs * page) / 1400), 5200 + reqs * page);
            d.tcp(t + 0.003, alb.ip, web.ip, 8080, dur, 2 + reqs * 2, reqs * 900, 2 + Math.ceil((reqs * page) / 8000), reqs * page);
            if (apps.length > 0 && apps !== webs) d.tcp(t + 0.006, web.ip, rng.pick(apps).ip, 8443, Math.min(dur, 0.3 + rng.exp(0.5)), 2 + reqs, reqs * 500, 2 + reqs, reqs * 4000);
            // DNS through the Amazon resolver is never logged.
            d.udp(t, web.ip, resolver(web), 0, 53, 0, 1, 74, 1, 160);
          }
          // Load balancer health checks: every 10 s from each load balancer to each target.
          for (const alb of albs) {
            for (const web of webs) {
              for (let t = Math.ceil(from / 10) * 10; t < to; t += 10) d.tcp(t + 0.05, alb.ip, web.ip, 8080, 0.01, 1, 160, 1, 220);
            }
          }
        }
        if (apps.length > 0) {
          const n = arrivals(rng, 0.3 * scale, from, to);
          for (let i = 0; i < n.count; i++) d.tcp(at(rng, n.lo, n.hi), rng.pick(apps).ip, rng.pick(apis), 443, 0.2 + rng.exp(1), 8, 2400, 9, 7800);
          const s = arrivals(rng, 0.1 * scale, from, to);
          for (let i = 0; i < s.count && s3.length > 0; i++) d.tcp(at(rng, s.lo, s.hi), rng.pick(apps).ip, rng.pick(s3) + rng.int(1, 60000), 443, 1 + rng.exp(2), 40, 9000, 120, 160_000);
          const l = arrivals(rng, 0.05 * scale, from, to);
          for (let i = 0; i < l.count && ldap.length > 0; i++) d.tcp(at(rng, l.lo, l.hi), rng.pick(apps).ip, rng.pick(ldap).ip, 636, 0.1, 5, 900, 5, 2100);
          // Time sync goes to the link-local NTP service, never logged.
          d.udp(from + 1, apps[0].ip, ip('169.254.169.123'), 123, 123, 0, 1, 76, 1, 76);
        }
        // An admin's SSH session through the bastion at the start of each hour.
        for (const b of bastion) {
          if (Math.floor(from / 3600) !== Math.floor((to - 1) / 3600) || from % 3600 === 0) {
            const t = Math.ceil(from / 3600) * 3600 + 120;
            if (t >= from && t < to) {
              d.tcp(t, office, b.publicIp ?? b.ip, 22, 900, 1800, 160_000, 2100, 420_000);
              if (webs.length > 0) d.tcp(t + 30, b.ip, rng.pick(webs).ip, 22, 600, 900, 80_000, 1100, 210_000);
            }
          }
          // An uptime monitor pings the bastion every minute.
          for (let t = Math.ceil(from / 60) * 60; t < to; t += 60) d.ping(t, monitor, b.publicIp ?? b.ip, 3, 84, 2);
        }
      },
    };
  },
};
