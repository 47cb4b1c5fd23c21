import type { Eni } from '../model.ts';
import { UserError } from '../../util/errors.ts';
import { arrivals, at, crowd, docAddress, incidentWindow, ipText, label, type ScenarioContext, type ScenarioDef } from './kit.ts';

/**
 * Incidents nobody attacks with: a job that sends far too much, an instance that stops
 * talking, an interface busier than the flow log can record.
 */

const HOUR = 3600;

/** The batch host a scenario runs its job on: a worker when there is one. */
function batchHost(ctx: ScenarioContext, name: string, which: number): Eni {
  const pool = ctx.roles.find('worker', 'app', 'web');
  return pool[which % Math.max(1, pool.length)] ?? ctx.roles.need(name, 'worker', 'app', 'web')[0];
}

/** `n` addresses of the topology's S3 ranges (a bucket endpoint as DNS hands it out), else internet peers. */
function bucketAddresses(ctx: ScenarioContext, n: number): number[] {
  const s3 = ctx.topo.awsServices.filter((s) => s.service === 'S3' && s.cidr.family === 4);
  const out = new Set<number>();
  while (out.size < n) {
    if (s3.length === 0) out.add(docAddress(ctx.rng));
    else {
      const c = ctx.rng.pick(s3).cidr;
      const size = Number(c.last) - Number(c.first) + 1;
      out.add(Number(c.first) + ctx.rng.int(1, Math.max(1, Math.min(size - 2, 60_000))));
    }
  }
  return [...out];
}

export const backupRunaway: ScenarioDef = {
  name: 'backup-runaway',
  summary: "a batch worker's archive job to S3 goes wrong after hours of small uploads and re-sends the whole archive: over a gigabyte in an hour to its usual bucket",
  // The unusual-volume rule learns two hours of the host's volume before it judges one.
  minDuration: 3 * HOUR,
  create(ctx) {
    const { rng } = ctx;
    const host = batchHost(ctx, 'backup-runaway', 1);
    // The bucket's endpoint addresses, reused by the SDK's connection pool from the first upload on.
    const bucket = bucketAddresses(ctx, 2);
    const span = ctx.end - ctx.start;
    // The runaway hour: a whole clock hour after at least two hours of normal uploads.
    const first = Math.ceil((ctx.start + 2 * HOUR) / HOUR) * HOUR;
    const hours = Math.floor((ctx.end - first) / HOUR);
    const hourStart = hours > 0 ? first + HOUR * rng.int(0, hours - 1) : ctx.start + Math.floor(span * 0.6);
    const s = Math.min(ctx.end - 60, hourStart + rng.int(120, 480));
    const e = Math.min(ctx.end, hourStart + HOUR - 60, s + rng.int(2400, 3000));
    // 1.0-1.3 GB over 40-50 minutes on four parallel streams: at most ~160 MB per 5 minutes.
    const total = 1_000_000_000 + rng.int(0, 300_000_000);
    const streams = 4;
    // The regular job: an archive of 6-12 MB every 10 minutes.
    const uploads: number[] = [];
    for (let t = ctx.start + rng.int(30, 300); t < ctx.end; t += 600 + rng.int(-20, 20)) uploads.push(t);
    let next = 0;
    return {
      labels: [label('backup-runaway', 'unusual-volume', [host.ip], bucket, [host], s, e, `${host.id} re-uploads ~${(total / 1e9).toFixed(1)} GB to its usual bucket (${bucket.map(ipText).join(', ')}) in under an hour, against ~50 MB an hour before`)],
      tick(from, to, d) {
        while (next < uploads.length && uploads[next] < to) {
          const t = uploads[next++];
          if (t < from) continue;
          const bytes = 6_000_000 + rng.int(0, 6_000_000);
          d.tcp(t, host.ip, rng.pick(bucket), 443, 20 + rng.exp(20), Math.ceil(bytes / 1400), bytes, Math.ceil(bytes / 2800), Math.ceil(bytes / 2800) * 52 + 4000);
        }
        for (let i = 0; i < streams; i++) {
          const t = s + i * 2;
          if (t >= from && t < to) {
            const bytes = Math.round(total / streams);
            d.tcp(t, host.ip, bucket[i % bucket.length], 443, e - t, Math.ceil(bytes / 1400), bytes, Math.ceil(bytes / 2800), Math.ceil(bytes / 2800) * 52);
          }
        }
      },
    };
  },
};

export const workerCrash: ScenarioDef = {
  name: 'worker-crash',
  summary: 'a batch worker that processed jobs steadily for three hours crashes: its interface logs NODATA from then on',
  // The nodata-gap rule wants three hours of steady traffic, then a whole silent clock hour.
  minDuration: 5 * HOUR,
  create(ctx) {
    const { rng } = ctx;
    const host = batchHost(ctx, 'worker-crash', 0);
    const db = ctx.roles.find('db')[0];
    const queue = crowd(rng, 2);
    const span = ctx.end - ctx.start;
    const crash = span >= 4 * HOUR ? ctx.start + 3 * HOUR + rng.int(60, 1200) : ctx.start + Math.floor(span * 0.6);
    return {
      labels: [label('worker-crash', 'nodata-gap', [host.ip], [], [host], crash, ctx.end, `${host.id}'s job process dies at ${crash}; its interface carries nothing after (NODATA)`)],
      tick(from, to, d) {
        // A job every 30 s: take it from the queue (an internet API through the NAT gateway), store the result.
        const n = arrivals(rng, ctx.scale / 30, from, Math.min(to, crash));
        for (let i = 0; i < n.count; i++) {
          const t = at(rng, n.lo, n.hi);
          d.tcp(t, host.ip, rng.pick(queue), 443, 0.3 + rng.exp(0.5), 7, 1800, 8, 5200 + rng.int(0, 4000));
          if (db) d.tcp(t + 1, host.ip, db.ip, 5432, 0.1 + rng.exp(0.2), 6, 2400 + rng.int(0, 2000), 5, 900);
        }
      },
    };
  },
};

export const flowLogOverload: ScenarioDef = {
  name: 'flow-log-overload',
  summary: 'a feed poller starts a crawl of thousands of sites: more flows than the flow log records for its interface (SKIPDATA)',
  create(ctx) {
    const { rng } = ctx;
    const host = ctx.topo.enis.find((e) => !e.managed && e.maxRecordsPerWindow !== undefined);
    if (!host) throw new UserError('scenario flow-log-overload needs an instance interface with maxRecordsPerWindow (its flow-log capacity); none in this topology');
    const cap = host.maxRecordsPerWindow!;
    const window = host.nitro ? 60 : ctx.interval;
    const feeds = crowd(rng, 6);
    const sites = crowd(rng, 4000);
    const [start, end] = incidentWindow(ctx, 0.2, 0.8, 1800, 3600);
    // Two records a connection (out and back): about 2.5 times the interface's capacity a window.
    const rate = (1.25 * cap) / window;
    return {
      labels: [label('flow-log-overload', 'skipdata', [host.ip], [], [host], start, end, `${host.id} opens ~${Math.round(rate * window)} connections per ${window} s window (twice as many records), over its capacity of ${cap} records: SKIPDATA`)],
      tick(from, to, d) {
        // The poller's normal work: a feed every 30 s.
        const p = arrivals(rng, 1 / 30, from, to);
        for (let i = 0; i < p.count; i++) d.tcp(at(rng, p.lo, p.hi), host.ip, rng.pick(feeds), 443, 0.2 + rng.exp(0.4), 6, 1400, 9, 9000 + rng.int(0, 20_000));
        // The crawl: one short HTTPS fetch per site visit, every site answers.
        const c = arrivals(rng, rate, from, to, start, end);
        for (let i = 0; i < c.count; i++) d.tcp(at(rng, c.lo, c.hi), host.ip, rng.pick(sites), 443, 0.2 + rng.exp(0.5), 6, 1200, 8, 6000 + rng.int(0, 30_000));
      },
    };
  },
};
