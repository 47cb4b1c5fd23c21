import type { Eni } from '../model.ts';
import { Close } from '../traffic.ts';
import { arrivals, at, crowd, docAddress, incidentWindow, ipText, label, type ScenarioContext, type ScenarioDef } from './kit.ts';

/** The instance a scenario compromises: a worker when there is one. */
function compromised(ctx: ScenarioContext, name: string, which = 0): Eni {
  const pool = ctx.roles.find('worker', 'app', 'web');
  return pool[which % Math.max(1, pool.length)] ?? ctx.roles.need(name, 'worker', 'app', 'web')[0];
}

/** The interfaces outbound traffic of an instance crosses (itself and its NAT gateway). */
function egressEnis(ctx: ScenarioContext, e: Eni): Eni[] {
  const nat = e.subnet.routeTable.routes.find((r) => r.target.kind === 'nat')?.target;
  return nat && nat.kind === 'nat' ? [e, nat.eni] : [e];
}

export const outboundBruteForce: ScenarioDef = {
  name: 'outbound-brute-force',
  summary: 'a compromised instance brute-forces SSH on internet hosts',
  create(ctx) {
    const { rng } = ctx;
    const bot = compromised(ctx, 'outbound-brute-force');
    const victims = crowd(rng, 60);
    const [s, e] = incidentWindow(ctx, 0.2, 0.8, 900, 2400);
    return {
      labels: [label('outbound-brute-force', 'ssh-brute-force-outbound', [bot.ip], victims, egressEnis(ctx, bot), s, e, `${bot.id} guesses SSH passwords on ${victims.length} internet hosts`)],
      tick(from, to, d) {
        const n = arrivals(rng, 3 * ctx.scale, from, to, s, e);
        for (let i = 0; i < n.count; i++) {
          const v = rng.pick(victims);
          const r = rng.next();
          // Many hosts do not answer, some refuse, the rest let it try a password or two.
          if (r < 0.4) d.tcp(at(rng, n.lo, n.hi), bot.ip, v, 22, 0, 0, 0, 0, 0, Close.NoAnswer, 2);
          else if (r < 0.6) d.tcp(at(rng, n.lo, n.hi), bot.ip, v, 22, 0.05, 0, 0, 0, 0, Close.ServerRst);
          else d.tcp(at(rng, n.lo, n.hi), bot.ip, v, 22, 2 + rng.exp(2), 14, 2900, 12, 3400);
        }
      },
    };
  },
};

export const exfiltration: ScenarioDef = {
  name: 'exfiltration',
  summary: 'an app server uploads gigabytes to a rarely seen internet address over HTTPS',
  create(ctx) {
    const { rng } = ctx;
    const src = ctx.roles.find('app', 'worker', 'web')[1] ?? compromised(ctx, 'exfiltration');
    const drop = docAddress(rng);
    const [s, e] = incidentWindow(ctx, 0.3, 0.9, 1200, 2400);
    const streams = 4;
    return {
      labels: [label('exfiltration', 'data-exfiltration', [src.ip], [drop], egressEnis(ctx, src), s, e, `${src.id} uploads ~${streams * 2} GB to ${ipText(drop)}`)],
      tick(from, to, d) {
        for (let i = 0; i < streams; i++) {
          const t = s + i * 5;
          if (t >= from && t < to) {
            const bytes = 2_000_000_000 + rng.int(0, 500_000_000);
            d.tcp(t, src.ip, drop, 443, e - t - 5, Math.ceil(bytes / 1400), bytes, Math.ceil(bytes / 2800), Math.ceil(bytes / 2800) * 52);
          }
        }
      },
    };
  },
};

export const outboundDos: ScenarioDef = {
  name: 'outbound-dos',
  summary: 'a compromised instance floods an internet host with UDP',
  create(ctx) {
    const { rng } = ctx;
    const bot = compromised(ctx, 'outbound-dos', 1);
    const victim = docAddress(rng);
    const [s, e] = incidentWindow(ctx, 0.2, 0.9, 300, 900);
    return {
      labels: [label('outbound-dos', 'dos-outbound', [bot.ip], [victim], egressEnis(ctx, bot), s, e, `${bot.id} floods ${ipText(victim)} with UDP`)],
      tick(from, to, d) {
        const lo = Math.max(from, s);
        const hi = Math.min(to, e);
        if (hi <= lo) return;
        // Many source ports, one victim port: a record per flow per window, large packet counts.
        for (let i = 0; i < 40; i++) {
          const pkts = Math.round((hi - lo) * (800 + rng.int(0, 400)));
          d.udp(lo, bot.ip, victim, 20000 + i, rng.pick([53, 80, 123]), hi - lo, pkts, pkts * 512, 0, 0);
        }
      },
    };
  },
};

export const spamBot: ScenarioDef = {
  name: 'spam-bot',
  summary: 'a compromised instance sends mail to many servers on port 25',
  create(ctx) {
    const { rng } = ctx;
    const bot = compromised(ctx, 'spam-bot');
    const mx = crowd(rng, 250);
    const [s, e] = incidentWindow(ctx, 0.1, 0.9, 1200, 3000);
    return {
      labels: [label('spam-bot', 'spam-bot', [bot.ip], mx, egressEnis(ctx, bot), s, e, `${bot.id} connects to ${mx.length} mail servers on port 25`)],
      tick(from, to, d) {
        const n = arrivals(rng, 1.5 * ctx.scale, from, to, s, e);
        for (let i = 0; i < n.count; i++) {
          const t = at(rng, n.lo, n.hi);
          if (rng.chance(0.25)) d.tcp(t, bot.ip, rng.pick(mx), 25, 0, 0, 0, 0, 0, Close.NoAnswer, 3);
          else d.tcp(t, bot.ip, rng.pick(mx), 25, 1 + rng.exp(2), 12, 4200 + rng.int(0, 20_000), 10, 1100);
        }
      },
    };
  },
};

export const cryptoMining: ScenarioDef = {
  name: 'crypto-mining',
  summary: 'a compromised instance keeps stratum connections to mining pools (ports 3333, 14444)',
  create(ctx) {
    const { rng } = ctx;
    const miner = compromised(ctx, 'crypto-mining', 1);
    const pools = [docAddress(rng), docAddress(rng)];
    const ports = [3333, 14444];
    const [s] = incidentWindow(ctx, 0.1, 0.5, 60, 60);
    const e = ctx.end;
    return {
      labels: [label('crypto-mining', 'crypto-mining', [miner.ip], pools, egressEnis(ctx, miner), s, e, `${miner.id} mines through ${pools.length} pools`)],
      tick(from, to, d) {
        if (s >= from && s < to) {
          pools.forEach((p, i) => {
            const dur = e - s - i;
            // Job notifications down, shares up: small, steady, for hours.
            d.tcp(s + i, miner.ip, p, ports[i], dur, Math.ceil(dur / 8), Math.ceil(dur / 8) * 240, Math.ceil(dur / 6), Math.ceil(dur / 6) * 420, Close.Open);
          });
        }
      },
    };
  },
};

export const blackhole: ScenarioDef = {
  name: 'blackhole',
  summary: 'an app keeps calling a service behind a blackhole route (a deleted peering)',
  create(ctx) {
    const { rng } = ctx;
    const enis = ctx.roles.find('app', 'web', 'worker');
    const caller = enis.find((e) => e.subnet.routeTable.routes.some((r) => r.target.kind === 'blackhole')) ?? enis[0];
    const route = caller?.subnet.routeTable.routes.find((r) => r.target.kind === 'blackhole');
    if (!caller || !route) ctx.roles.need('blackhole', 'app (in a subnet whose route table has a blackhole route)');
    const dst = (route!.destination.first as number) + 4 * 256 + 20;
    const [s, e] = incidentWindow(ctx, 0.0, 1.0, 1800, 3600);
    return {
      labels: [label('blackhole', 'blackhole-traffic', [caller!.ip], [dst], [caller!], s, e, `${caller!.id} calls ${route!.destination.text} (blackhole) every 30 s`)],
      tick(from, to, d) {
        for (let t = s + rng.int(0, 29); t < e; t += 30) if (t >= from && t < to) d.tcp(t, caller!.ip, dst, 9092, 1, 4, 800, 4, 800, Close.Fin, 6);
      },
    };
  },
};

/**
 * A compromised instance calling home: an HTTPS beacon every minute or so (jittered) to a
 * command-and-control address, and a payload fetched once from a staging server. Both are on
 * the threat list the detection bench configures (the label's victims are the listed addresses).
 */
export const c2Beacon: ScenarioDef = {
  name: 'c2-beacon',
  summary: 'a compromised app server beacons to a command-and-control address and fetches a payload from a staging server (both threat-listed)',
  create(ctx) {
    const { rng } = ctx;
    const pool = ctx.roles.find('app', 'worker', 'web');
    const host = pool[2 % Math.max(1, pool.length)] ?? compromised(ctx, 'c2-beacon');
    const c2 = docAddress(rng);
    let staging = docAddress(rng);
    while (staging === c2) staging = docAddress(rng);
    const [s] = incidentWindow(ctx, 0.1, 0.6, 60, 60);
    const e = ctx.end;
    const beacons: number[] = [];
    for (let t = s + 20; t < e; t += 45 + rng.int(0, 30)) beacons.push(t);
    let next = 0;
    return {
      labels: [label('c2-beacon', 'threat-list-contact', [host.ip], [c2, staging], egressEnis(ctx, host), s, e, `${host.id} fetches a payload from ${ipText(staging)}, then beacons to ${ipText(c2)} every 45-75 s`)],
      tick(from, to, d) {
        if (s >= from && s < to) d.tcp(s, host.ip, staging, 443, 4 + rng.exp(2), 120, 9000, 1500, 2_100_000);
        while (next < beacons.length && beacons[next] < to) {
          const t = beacons[next++];
          if (t >= from) d.tcp(t, host.ip, c2, 443, 0.3 + rng.exp(0.3), 6, 1100 + rng.int(0, 300), 5, 900 + rng.int(0, 200));
        }
      },
    };
  },
};
