import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { UserError } from '../util/errors.ts';
import { FormatError, parseFormatString } from '../schema/format.ts';
import { availableParallelism } from 'node:os';
import { EmulateOptions, type Delivery, type EmulateOptionsIn, type EmulateOptionsT } from './config.ts';
import { STATUS_NODATA, STATUS_SKIPDATA, type FlowTable } from './flow-table.ts';
import type { FlowLogSpec, Topology } from './model.ts';
import { Rng } from './prng.ts';
import { LineRenderer } from './render.ts';
import { resolveScenarios, type Label, type ScenarioRun } from './scenarios/index.ts';
import { Roles } from './scenarios/kit.ts';
import { createSink, type Sink } from './sinks/index.ts';
import { batchOf } from './sinks/types.ts';
import { TopologyTimeline, type TopologyChange } from './timeline.ts';
import { loadTopology } from './topology.ts';
import { TrafficDriver } from './traffic.ts';

/** What a run wrote. */
export interface EmulateResult {
  records: number;
  files: number;
  seconds: number;
  connections: number;
  windows: number;
  labels: Label[];
  paths: string[];
  out: string;
  delivery: Delivery | 'per-flow-log';
  start: number;
  end: number;
  interval: 60 | 600;
}

/** The tick the driver advances by: the shortest window AWS uses. */
const TICK = 60;

/**
 * Emulates a VPC and writes its flow logs. Deterministic: the same options and seed give the
 * same bytes.
 * @example await emulate({ scenarios: ['web-app', 'ssh-brute-force'], duration: 3600, out: './flowlogs', seed: 7 })
 */
export async function emulate(input: EmulateOptionsIn = {}): Promise<EmulateResult> {
  const o = parseOptions(input);
  const began = performance.now();
  const topo = await loadTopology(o.topology as string | object | undefined);
  const workers = shardCount(o, topo);
  if (workers > 1) {
    const { emulateInShards } = await import('./shards.ts');
    const run = await emulateInShards({ ...input, labels: undefined }, o, topo, workers);
    await writeLabels(o.labels, run.labels);
    return { ...run, seconds: Math.round(performance.now() - began) / 1000, out: o.out, delivery: o.delivery ?? 'per-flow-log', start: o.start, end: o.start + o.duration };
  }
  const run = await emulateShard(o, topo);
  await writeLabels(o.labels, run.labels);
  return { ...run, seconds: Math.round(performance.now() - began) / 1000, out: o.out, delivery: o.delivery ?? 'per-flow-log', start: o.start, end: o.start + o.duration };
}

function parseOptions(input: EmulateOptionsIn): EmulateOptionsT {
  const parsed = EmulateOptions.safeParse(input);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new UserError(`emulate: ${i.path.join('.') || 'options'}: ${i.message}`);
  }
  return parsed.data;
}

async function writeLabels(path: string | undefined, labels: Label[]): Promise<void> {
  if (!path) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, labels.map((l) => JSON.stringify(l) + '\n').join(''));
}

/** A run's part: every shard sees the whole traffic and writes the delivery batches it owns. */
export interface Shard {
  index: number;
  count: number;
}

/** Seconds of delivery batches a shard owns in turn (two 5-minute batches, one 600 s window). */
const SHARD_SECONDS = 600;

/** Whether a shard writes the window ending at `windowEnd` (by its delivery batch). */
function ownsWindow(shard: Shard, windowEnd: number): boolean {
  return Math.floor(batchOf(windowEnd) / SHARD_SECONDS) % shard.count === shard.index;
}

/**
 * How many shards (worker threads) a run uses: `workers` when given, else one per core for a
 * run long and large enough to pay for starting them, and only when every flow log goes to S3
 * as text (each object then comes from one shard; CloudWatch streams, Firehose requests and
 * Parquet conversion span batches or need DuckDB, so they stay in one thread).
 */
function shardCount(o: EmulateOptionsT, topo: Topology): number {
  const text = topo.flowLogs.every((fl) => {
    const d = o.delivery ?? (fl.destination.type === 's3' ? (fl.destination.fileFormat === 'parquet' ? 'parquet' : 's3') : fl.destination.type);
    return d === 's3' || d === 's3-hive';
  });
  if (!text) return 1;
  if (o.workers !== undefined) return o.workers;
  if (o.pcap || o.duration < 2 * SHARD_SECONDS || o.scale * o.duration < 20_000) return 1;
  return Math.max(1, Math.min(availableParallelism(), Math.ceil(o.duration / SHARD_SECONDS)));
}

/**
 * One shard of a run (the whole run without `shard`): scenarios, traffic and the windows the
 * shard owns. Labels come from every shard alike.
 */
export async function emulateShard(o: EmulateOptionsT, topo: Topology, shard?: Shard): Promise<Omit<EmulateResult, 'seconds' | 'out' | 'delivery' | 'start' | 'end'>> {
  const end = o.start + o.duration;
  const runs: ScenarioRun[] = [];
  if (!o.pcap) {
    const roles = new Roles(topo);
    for (const def of resolveScenarios(o.scenarios)) {
      runs.push(def.create({ topo, rng: new Rng(o.seed, def.name), start: o.start, end, scale: o.scale, roles }));
    }
  }
  const pcap = o.pcap;
  const run = await runFabric(
    { ...o, topo, end, changes: runs.flatMap((r) => r.changes ?? []), shard },
    pcap
      ? {
          async replay(driver, step, tick) {
            const { replayCapture } = await import('./pcap/replay.ts');
            await replayCapture(pcap, driver, step, tick);
          },
        }
      : {
          tick(from, to, d) {
            for (const r of runs) r.tick(from, to, d);
          },
        },
  );
  return { ...run, labels: runs.flatMap((r) => r.labels) };
}

/** What drives a run: a function opening the connections of each tick, or a whole replay. */
export type Traffic =
  | { tick(from: number, to: number, d: TrafficDriver): void }
  | { replay(d: TrafficDriver, step: (tick: number, final?: boolean) => Promise<void>, tick: number): Promise<unknown> };

export interface FabricRunOptions {
  topo: Topology;
  changes?: TopologyChange[];
  start: number;
  end: number;
  interval?: 60 | 600;
  logFormat?: string;
  out: string;
  seed: number;
  gzipLevel: number;
  maxObjectBytes: number;
  delivery?: Delivery;
  firehoseUrl?: string;
  /** Only the windows of this shard are recorded and written (see emulateShard). */
  shard?: Shard;
}

/**
 * Runs the fabric over [start, end): the traffic opens connections tick by tick (or replays a
 * capture), windows close, sinks write. `emulate()` is this plus scenarios and labels.
 * @example await runFabric({topo, start, end, out, seed: 1, gzipLevel: 6, maxObjectBytes: 75e6}, { tick: (from, to, d) => d.tcp(from, a, b, 443, 1, 4, 400, 4, 4000) })
 */
export async function runFabric(o: FabricRunOptions, traffic: Traffic): Promise<{ records: number; files: number; connections: number; windows: number; paths: string[]; interval: 60 | 600 }> {
  const topo = o.topo;
  const flowLogs = overrideFlowLogs(topo, o.logFormat, o.interval);
  const interval = flowLogs[0].interval;
  const start = Math.floor(o.start / TICK) * TICK;
  const end = o.end;
  const timeline = TopologyTimeline.build(topo, o.changes ?? []);
  const driver = new TrafficDriver(timeline, interval);
  const shard = o.shard;
  if (shard) driver.shard((windowEnd) => ownsWindow(shard, windowEnd));
  const writer = new WindowWriter(topo, flowLogs, driver, o);
  const step = async (tick: number, final = false) => {
    await writer.flush(0, tick, tick + TICK);
    const next = tick + TICK;
    if (interval === 600 && (next % 600 === 0 || final)) await writer.flush(1, Math.floor(tick / 600) * 600, Math.floor(tick / 600) * 600 + 600);
    driver.compact();
  };
  if ('replay' in traffic) await traffic.replay(driver, step, TICK);
  else {
    for (let tick = start; tick < end; tick += TICK) {
      driver.beginTick(tick, tick + TICK);
      traffic.tick(Math.max(tick, o.start), Math.min(tick + TICK, end), driver);
      await step(tick, tick + TICK >= end);
    }
  }
  const paths = await writer.close();
  return { records: writer.records, files: paths.length, connections: driver.connections, windows: writer.windows, paths, interval };
}

/** Applies --log-format and --interval to every flow log; all flow logs must share one interval. */
function overrideFlowLogs(topo: Topology, logFormat: string | undefined, interval: 60 | 600 | undefined): FlowLogSpec[] {
  let fields: string[] | undefined;
  if (logFormat !== undefined) {
    try {
      fields = parseFormatString(logFormat);
    } catch (err) {
      if (err instanceof FormatError) throw new UserError(`--log-format: ${err.message}`, { cause: err });
      throw err;
    }
  }
  const logs = topo.flowLogs.map((fl) => ({ ...fl, fields: fields ?? fl.fields, interval: interval ?? fl.interval }));
  const intervals = new Set(logs.map((l) => l.interval));
  if (intervals.size > 1) throw new UserError(`the topology's flow logs use different intervals (${[...intervals].join(', ')} s); the emulator runs one: pass --interval`);
  topo.flowLogs = logs;
  return logs;
}

type WriterOptions = Pick<FabricRunOptions, 'out' | 'seed' | 'gzipLevel' | 'maxObjectBytes' | 'delivery' | 'firehoseUrl' | 'shard'>;

/**
 * Closes windows: adds NODATA for silent interfaces and SKIPDATA where an interface went over
 * its capacity, filters rows per flow log (resource, traffic type) and hands them to sinks.
 */
class WindowWriter {
  records = 0;
  windows = 0;
  private sinks = new Map<Delivery, Sink>();
  private renderers: LineRenderer[];
  private covers: Uint8Array[];
  private logged: Uint8Array;
  private counts: Int32Array;
  private rows = new Int32Array(1024);

  constructor(
    private readonly topo: Topology,
    private readonly flowLogs: FlowLogSpec[],
    private readonly driver: TrafficDriver,
    private readonly o: WriterOptions,
  ) {
    this.renderers = flowLogs.map((fl) => new LineRenderer(fl.fields, topo, driver.addrs, driver.serviceNames, driver.classes));
    this.covers = flowLogs.map((fl) => Uint8Array.from(topo.enis.map((e) => (fl.resource === e.vpc.id || fl.resource === e.subnet.id || fl.resource === e.id ? 1 : 0))));
    this.logged = Uint8Array.from(topo.enis.map((_, i) => (this.covers.some((c) => c[i]) ? 1 : 0)));
    this.counts = new Int32Array(topo.enis.length);
  }

  private sinkFor(fl: FlowLogSpec): Sink {
    const d: Delivery = this.o.delivery ?? (fl.destination.type === 's3' ? (fl.destination.fileFormat === 'parquet' ? 'parquet' : 's3') : fl.destination.type);
    let s = this.sinks.get(d);
    if (!s) {
      // Without --delivery, a flow log's own Hive and Parquet settings apply.
      const explicit = this.o.delivery !== undefined;
      s = createSink(d, { out: this.o.out, topo: this.topo, seed: this.o.seed, gzipLevel: this.o.gzipLevel, maxObjectBytes: this.o.maxObjectBytes, firehoseUrl: this.o.firehoseUrl, hive: explicit ? d === 's3-hive' : undefined, parquet: explicit ? d === 'parquet' : undefined });
      this.sinks.set(d, s);
    }
    return s;
  }

  async flush(cls: number, windowStart: number, windowEnd: number): Promise<void> {
    const t: FlowTable = this.driver.tables[cls];
    t.drain();
    // Another shard writes this window (this one recorded nothing of it).
    if (this.o.shard && !ownsWindow(this.o.shard, windowEnd)) return;
    const n0 = t.size;
    const counts = this.counts;
    counts.fill(0);
    const enis = this.topo.enis;
    let skipping = false;
    for (let r = 0; r < n0; r++) {
      const c = ++counts[t.eni[r]];
      const cap = enis[t.eni[r]].maxRecordsPerWindow;
      if (cap !== undefined && c > cap) skipping = true;
    }
    let keep: Uint8Array | undefined;
    if (skipping) {
      // Past its capacity an interface's further flows are lost; one SKIPDATA record says so.
      keep = new Uint8Array(n0).fill(1);
      const seen = new Int32Array(enis.length);
      for (let r = 0; r < n0; r++) {
        const cap = enis[t.eni[r]].maxRecordsPerWindow;
        if (cap !== undefined && ++seen[t.eni[r]] > cap) keep[r] = 0;
      }
    }
    for (let i = 0; i < enis.length; i++) {
      if (!this.logged[i] || this.driver.eniClass[i] !== cls) continue;
      if (counts[i] === 0) t.addStatus(i, STATUS_NODATA, windowStart, windowEnd);
      else if (enis[i].maxRecordsPerWindow !== undefined && counts[i] > enis[i].maxRecordsPerWindow!) t.addStatus(i, STATUS_SKIPDATA, windowStart, windowEnd);
    }
    const n = t.size;
    if (this.rows.length < n) this.rows = new Int32Array(n * 2);
    for (let f = 0; f < this.flowLogs.length; f++) {
      const fl = this.flowLogs[f];
      const cover = this.covers[f];
      const want = fl.trafficType === 'ALL' ? -1 : fl.trafficType === 'ACCEPT' ? 0 : 1;
      const rows = this.rows;
      let k = 0;
      for (let r = 0; r < n; r++) {
        if (!cover[t.eni[r]] || (keep && r < n0 && !keep[r])) continue;
        if (want >= 0 && t.status[r] === 0 && t.action(r) !== want) continue;
        rows[k++] = r;
      }
      if (k === 0) continue;
      this.records += k;
      await this.sinkFor(fl).write({ flowLog: fl, renderer: this.renderers[f], table: t, rows, count: k, windowStart, windowEnd });
    }
    this.windows++;
    t.clear();
  }

  async close(): Promise<string[]> {
    const all: string[] = [];
    for (const s of this.sinks.values()) all.push(...(await s.close()));
    return all;
  }
}
