import type { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.ts';
import { startWorker } from '../util/runtime.ts';
import type { EmulateOptionsIn } from './config.ts';
import { ACC_STRIDE, type ClassesDelta, type FlowTable, type TableParts } from './flow-table.ts';
import { batchOf } from './sinks/types.ts';
import type { TrafficDriver } from './traffic.ts';

/**
 * A closed window for a render thread: which of its shared slots holds the rows (and the
 * slot's buffers when they are new), what its copy of the classes lacks, and how many rows
 * each flow log writes.
 */
export interface WindowMessage {
  kind: 'window';
  id: number;
  slot: number;
  /** Sent once per slot and size: after that the thread keeps its views of the shared memory. */
  buffers?: SlotBuffers;
  size: number;
  windowStart: number;
  windowEnd: number;
  classes: ClassesDelta;
  v6: string[];
  services: string[];
  lists: { flowLog: number; count: number }[];
}

/** A slot's shared memory: a window's rows and each flow log's row list. */
export interface SlotBuffers {
  table: TableParts;
  /** Per flow log. */
  rows: Int32Array[];
}

/** A flow log's rows of a window (the first `count` of `rows`; the array is reused). */
export interface RowList {
  flowLog: number;
  rows: Int32Array;
  count: number;
}

/** What a render thread answers. */
export type RenderReply = { kind: 'ready' } | { kind: 'done'; id: number; slot: number } | { kind: 'closed'; paths: string[] } | { kind: 'error'; error: { name: string; message: string; stack?: string } };

/** Windows a thread may have waiting (the generating thread fills its own table meanwhile: double buffering). */
const MAX_QUEUED = 1;
/** Seconds of delivery batches a thread owns in turn when there are several. */
const TURN_SECONDS = 600;

/** Where a window waits for its thread: shared memory written here, read there (no copies per message, no buffers for V8 to collect). */
interface Slot {
  busy: boolean;
  cap: number;
  buffers?: SlotBuffers;
}

interface Thread {
  worker: Worker;
  slots: Slot[];
  /** Set once this side stops the worker (its exit is then expected). */
  stopping?: boolean;
  queued: number;
  /** Resolves when `queued` drops (a window was written). */
  wake?: () => void;
  /** How much of the driver's tables this thread's copies have. */
  epoch: number;
  classes: number;
  templates: number;
  v6: number;
  services: number;
  /** Resolves once the thread has loaded (rejects with why it could not). */
  ready: Promise<void>;
  closed?: (paths: string[]) => void;
}

/**
 * Render threads: the generating thread hands each closed window (its rows copied, the new
 * hop classes, templates and IPv6 addresses) to a worker thread, which renders it and writes
 * its S3 objects while the next window is generated; gzip blocks are compressed on libuv's
 * pool as in one thread. With several threads, each owns every n-th 10 minutes of delivery
 * batches, so an object is written by one thread, in window order: the bytes are those one
 * thread writes.
 * @example const t = await RenderThreads.start(options, 1); await t.window(table, driver, 0, 600, lists); await t.close();
 */
export class RenderThreads {
  private failure?: Error;
  private nextId = 0;

  private constructor(
    private readonly threads: Thread[],
    private readonly flowLogs: number,
  ) {
    for (const t of threads) {
      // The first message (ready or error) is the start's (see start()).
      void t.ready.then(
        () => t.worker.on('message', (m: RenderReply) => this.onReply(t, m)),
        (err: Error) => this.fail(err),
      );
      t.worker.on('error', (err) => this.fail(err));
      t.worker.on('exit', (code) => {
        if (!t.stopping) this.fail(new Error(`render thread exited with code ${code} before it closed`));
      });
    }
  }

  /**
   * Starts `count` threads for a run with these options (they load the topology and make the
   * renderers and sinks). It does not wait for them: they load (~0.75 CPU s each) while the
   * first window is generated; window() waits for its thread to be ready.
   */
  static start(input: EmulateOptionsIn, count: number, flowLogs: number): RenderThreads {
    const threads: Thread[] = Array.from({ length: count }, () => {
      const worker = startWorker('fabric/render-worker.ts', { input });
      const t: Thread = { worker, slots: Array.from({ length: MAX_QUEUED }, () => ({ busy: false, cap: 0 })), queued: 0, epoch: -1, classes: 0, templates: 0, v6: 0, services: 0, ready: Promise.resolve() };
      // A thread says when it is ready, or why it cannot be (its own error message).
      t.ready = new Promise<void>((resolve, reject) => {
        worker.once('message', (m: RenderReply) => (m.kind === 'error' ? reject(toError(m.error)) : resolve()));
        worker.once('error', reject);
      });
      t.ready.catch(() => {});
      return t;
    });
    return new RenderThreads(threads, flowLogs);
  }

  /** Hands a closed window to its thread; waits while that thread has too many queued. */
  async window(t: FlowTable, d: TrafficDriver, windowStart: number, windowEnd: number, lists: RowList[]): Promise<void> {
    this.check();
    const th = this.threads[Math.floor(batchOf(windowEnd) / TURN_SECONDS) % this.threads.length];
    await th.ready;
    let slot = th.slots.findIndex((x) => !x.busy);
    while (slot < 0) {
      await new Promise<void>((resolve) => (th.wake = resolve));
      this.check();
      slot = th.slots.findIndex((x) => !x.busy);
    }
    const sl = th.slots[slot];
    const n = t.size;
    let fresh: SlotBuffers | undefined;
    if (sl.cap < n || !sl.buffers) {
      sl.cap = Math.ceil(n * 1.25) + 1024;
      fresh = sharedSlot(sl.cap, this.flowLogs);
      sl.buffers = fresh;
    }
    const b = sl.buffers;
    t.parts(b.table);
    for (const l of lists) b.rows[l.flowLog].set(l.rows.subarray(0, l.count));
    const classes = d.classes.since(th.epoch, th.classes, th.templates);
    th.epoch = d.classes.epoch;
    th.classes = d.classes.size;
    th.templates = d.classes.templates;
    const v6 = d.addrs.v6Since(th.v6);
    th.v6 = d.addrs.v6Count;
    const services = d.serviceNames.slice(th.services);
    th.services = d.serviceNames.length;
    const m: WindowMessage = { kind: 'window', id: this.nextId++, slot, buffers: fresh, size: n, windowStart, windowEnd, classes, v6, services, lists: lists.map((l) => ({ flowLog: l.flowLog, count: l.count })) };
    sl.busy = true;
    th.queued++;
    th.worker.postMessage(m, [classes.data.buffer as ArrayBuffer]);
  }

  /** Waits for every window to be written and every object closed; returns the files. */
  async close(): Promise<string[]> {
    await Promise.all(this.threads.map((t) => t.ready));
    this.check();
    const paths = await Promise.all(
      this.threads.map(
        (t) =>
          new Promise<string[]>((resolve) => {
            t.closed = resolve;
            t.worker.postMessage({ kind: 'close' });
          }),
      ),
    );
    this.check();
    await this.destroy();
    return paths.flat();
  }

  /** Stops the threads (after an error elsewhere, or once closed). */
  async destroy(): Promise<void> {
    for (const t of this.threads) t.stopping = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private onReply(t: Thread, m: RenderReply): void {
    if (m.kind === 'done') {
      t.slots[m.slot].busy = false;
      t.queued--;
      const wake = t.wake;
      t.wake = undefined;
      wake?.();
    } else if (m.kind === 'closed') t.closed?.(m.paths);
    else if (m.kind === 'error') this.fail(toError(m.error));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    // Whoever waits gets to see it.
    for (const t of this.threads) {
      const wake = t.wake;
      t.wake = undefined;
      wake?.();
      t.closed?.([]);
    }
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}

/** A slot's shared buffers for windows of up to `cap` rows. */
function sharedSlot(cap: number, flowLogs: number): SlotBuffers {
  const sab = (bytes: number) => new SharedArrayBuffer(bytes);
  return {
    table: { size: 0, hc: new Int32Array(sab(cap * 4)), eni: new Int32Array(sab(cap * 4)), ports: new Int32Array(sab(cap * 4)), status: new Uint8Array(sab(cap)), acc: new Float64Array(sab(cap * 8 * ACC_STRIDE)) },
    rows: Array.from({ length: flowLogs }, () => new Int32Array(sab(cap * 4))),
  };
}

function toError(e: { name: string; message: string; stack?: string }): Error {
  const err = e.name === 'UserError' ? new UserError(e.message) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}
