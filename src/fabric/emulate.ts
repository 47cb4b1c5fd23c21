import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { UserError } from '../util/errors.ts';
import { FormatError, parseFormatString } from '../schema/format.ts';
import { fieldByName } from '../schema/columns.ts';
import { availableParallelism } from 'node:os';
import { EmulateOptions, type Delivery, type EmulateOptionsIn, type EmulateOptionsT } from './config.ts';
import { STATUS_NODATA, STATUS_SKIPDATA, type FlowTable } from './flow-table.ts';
import type { FlowLogSpec, Topology } from './model.ts';
import { Rng } from './prng.ts';
import { LineRenderer } from './render.ts';
import { resolveScenarios, type Label, type ScenarioRun } from './scenarios/index.ts';
import { Roles } from './scenarios/kit.ts';
import { createSink, type Sink } from './sinks/index.ts';
import { RenderThreads, type RowList } from './render-threads.ts';
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
  const threads = renderThreadCount(o, topo);
  const end = o.start + o.duration;
  const runs: ScenarioRun[] = [];
  if (!o.pcap) {
    const roles = new Roles(topo);
    for (const def of resolveScenarios(o.scenarios)) {
      runs.push(def.create({ topo, rng: new Rng(o.seed, def.name), start: o.start, end, scale: o.scale, roles, interval: o.interval ?? topo.flowLogs[0]?.interval ?? 600 }));
    }
  }
  const pcap = o.pcap;
  const run = await runFabric(
    { ...o, topo, end, changes: runs.flatMap((r) => r.changes ?? []), renderThreads: threads > 0 ? { input: { ...input, labels: undefined }, count: threads } : undefined },
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
  const labels = runs.flatMap((r) => r.labels);
  await writeLabels(o.labels, labels);
  return { ...run, seconds: Math.round(performance.now() - began) / 1000, labels, out: o.out, delivery: o.delivery ?? 'per-flow-log', start: o.start, end };
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

/**
 * How many render threads a run uses besides the one generating traffic: `workers - 1` when
 * `workers` is given, else one per further core for a run large enough to pay for starting
 * them (a thread takes about a CPU second to load its modules), and only when every flow log
 * goes to S3 as text: those objects are written where they are rendered, one window after
 * another, while CloudWatch streams, Firehose requests and Parquet conversion stay in the
 * generating thread.
 */
function renderThreadCount(o: EmulateOptionsT, topo: Topology): number {
  const text = topo.flowLogs.every((fl) => {
    const d = o.delivery ?? (fl.destination.type === 's3' ? (fl.destination.fileFormat === 'parquet' ? 'parquet' : 's3') : fl.destination.type);
    return d === 's3' || d === 's3-hive';
  });
  if (!text) return 0;
  if (o.workers !== undefined) return o.workers - 1;
  if (o.pcap || o.scale * o.duration < 20_000) return 0;
  return Math.max(0, availableParallelism() - 1);
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
  /** Render windows on this many worker threads (see RenderThreads); the options go to them. */
  renderThreads?: { input: EmulateOptionsIn; count: number };
  /** Hop classes kept before they are compacted between windows (tests make it small). */
  classLimit?: number;
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
  const threads = o.renderThreads ? RenderThreads.start(o.renderThreads.input, o.renderThreads.count, flowLogs.length) : undefined;
  const writer = new WindowWriter(topo, flowLogs, driver, o, threads);
  const step = async (tick: number, final = false) => {
    await writer.flush(0, tick, tick + TICK);
    const next = tick + TICK;
    if (interval === 600 && (next % 600 === 0 || final)) await writer.flush(1, Math.floor(tick / 600) * 600, Math.floor(tick / 600) * 600 + 600);
    driver.compact(o.classLimit);
  };
  let paths: string[];
  try {
    if ('replay' in traffic) await traffic.replay(driver, step, TICK);
    else {
      for (let tick = start; tick < end; tick += TICK) {
        driver.beginTick(tick, tick + TICK);
        traffic.tick(Math.max(tick, o.start), Math.min(tick + TICK, end), driver);
        await step(tick, tick + TICK >= end);
      }
    }
    paths = await writer.close();
  } catch (err) {
    // No render thread is left running (the process would not exit).
    await threads?.destroy();
    throw err;
  }
  return { records: writer.records, files: paths.length, connections: driver.connections, windows: writer.windows, paths, interval };
}

/** Applies --log-format and --interval to every flow log; all flow logs must share one interval. */
export function overrideFlowLogs(topo: Topology, logFormat: string | undefined, interval: 60 | 600 | undefined): FlowLogSpec[] {
  let fields: string[] | undefined;
  if (logFormat !== undefined) {
    try {
      fields = parseFormatString(logFormat);
    } catch (err) {
      if (err instanceof FormatError) throw new UserError(`--log-format: ${err.message}`, { cause: err });
      throw err;
    }
    // Parsing keeps unknown field names (a newer AWS field), but the emulator cannot make up
    // their values, and AWS refuses a flow log whose format names a field it does not know.
    const unknown = fields.filter((f) => !fieldByName(f));
    if (unknown.length) throw new UserError(`--log-format: unknown field ${unknown.map((f) => `\${${f}}`).join(', ')}; the fields are those of versions 2 to 8 (the README's Columns lists them)`);
  }
  const logs = topo.flowLogs.map((fl) => ({ ...fl, fields: fields ?? fl.fields, interval: interval ?? fl.interval }));
  const intervals = new Set(logs.map((l) => l.interval));
  if (intervals.size > 1) throw new UserError(`the topology's flow logs use different intervals (${[...intervals].join(', ')} s); the emulator runs one: pass --interval`);
  topo.flowLogs = logs;
  return logs;
}

export type WriterOptions = Pick<FabricRunOptions, 'out' | 'seed' | 'gzipLevel' | 'maxObjectBytes' | 'delivery' | 'firehoseUrl'>;

/**
 * The sink a flow log's records go to (one per delivery shape, made on first use).
 * @example sinkFor(o, topo, fl, new Map())
 */
export function sinkFor(o: WriterOptions, topo: Topology, fl: FlowLogSpec, sinks: Map<Delivery, Sink>): Sink {
  const d: Delivery = o.delivery ?? (fl.destination.type === 's3' ? (fl.destination.fileFormat === 'parquet' ? 'parquet' : 's3') : fl.destination.type);
  let s = sinks.get(d);
  if (!s) {
    // Without --delivery, a flow log's own Hive and Parquet settings apply.
    const explicit = o.delivery !== undefined;
    s = createSink(d, { out: o.out, topo, seed: o.seed, gzipLevel: o.gzipLevel, maxObjectBytes: o.maxObjectBytes, firehoseUrl: o.firehoseUrl, hive: explicit ? d === 's3-hive' : undefined, parquet: explicit ? d === 'parquet' : undefined });
    sinks.set(d, s);
  }
  return s;
}

/**
 * Closes windows: adds NODATA for silent interfaces and SKIPDATA where an interface went over
 * its capacity, filters rows per flow log (resource, traffic type) and hands them to sinks,
 * here or on render threads.
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
  private listRows: Int32Array[] = [];

  constructor(
    private readonly topo: Topology,
    private readonly flowLogs: FlowLogSpec[],
    private readonly driver: TrafficDriver,
    private readonly o: WriterOptions,
    private readonly threads?: RenderThreads,
  ) {
    this.renderers = flowLogs.map((fl) => new LineRenderer(fl.fields, topo, driver.addrs, driver.serviceNames, driver.classes));
    this.covers = flowLogs.map((fl) => Uint8Array.from(topo.enis.map((e) => (fl.resource === e.vpc.id || fl.resource === e.subnet.id || fl.resource === e.id ? 1 : 0))));
    this.logged = Uint8Array.from(topo.enis.map((_, i) => (this.covers.some((c) => c[i]) ? 1 : 0)));
    this.counts = new Int32Array(topo.enis.length);
  }

  async flush(cls: number, windowStart: number, windowEnd: number): Promise<void> {
    const t: FlowTable = this.driver.tables[cls];
    t.drain();
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
    const lists: RowList[] = [];
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
      if (this.threads) {
        // Each flow log's rows apart (the loop reuses `rows`); the threads copy them to a slot.
        if ((this.listRows[f]?.length ?? 0) < k) this.listRows[f] = new Int32Array(k * 2);
        this.listRows[f].set(rows.subarray(0, k));
        lists.push({ flowLog: f, rows: this.listRows[f], count: k });
      }
      else await sinkFor(this.o, this.topo, fl, this.sinks).write({ flowLog: fl, renderer: this.renderers[f], table: t, rows, count: k, windowStart, windowEnd });
    }
    if (this.threads && lists.length > 0) await this.threads.window(t, this.driver, windowStart, windowEnd, lists);
    this.windows++;
    t.clear();
  }

  async close(): Promise<string[]> {
    const all: string[] = [];
    if (this.threads) all.push(...(await this.threads.close()));
    for (const s of this.sinks.values()) all.push(...(await s.close()));
    return all.sort();
  }
}
