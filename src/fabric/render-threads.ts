import { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.ts';
import type { EmulateOptionsIn } from './config.ts';
import type { ClassesDelta, FlowTable, TableParts } from './flow-table.ts';
import { batchOf } from './sinks/types.ts';
import type { TrafficDriver } from './traffic.ts';

/** A closed window for a render thread: its rows, what its copy of the classes lacks, and which rows each flow log writes. */
export interface WindowMessage {
  kind: 'window';
  id: number;
  windowStart: number;
  windowEnd: number;
  table: TableParts;
  classes: ClassesDelta;
  v6: string[];
  services: string[];
  lists: { flowLog: number; rows: Int32Array }[];
}

/** What a render thread answers. */
export type RenderReply = { kind: 'ready' } | { kind: 'done'; id: number } | { kind: 'closed'; paths: string[] } | { kind: 'error'; error: { name: string; message: string; stack?: string } };

/** Windows a thread may have queued before the generating thread waits (bounds memory). */
const MAX_QUEUED = 2;
/** Seconds of delivery batches a thread owns in turn when there are several. */
const TURN_SECONDS = 600;

interface Thread {
  worker: Worker;
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

  private constructor(private readonly threads: Thread[]) {
    for (const t of threads) {
      t.worker.on('message', (m: RenderReply) => this.onReply(t, m));
      t.worker.on('error', (err) => this.fail(err));
      t.worker.on('exit', (code) => {
        if (!t.stopping) this.fail(new Error(`render thread exited with code ${code} before it closed`));
      });
    }
  }

  /** Starts `count` threads for a run with these options (they load the topology and make the renderers and sinks). */
  static async start(input: EmulateOptionsIn, count: number): Promise<RenderThreads> {
    const boot = new URL('./render-worker-boot.mjs', import.meta.url);
    const threads = Array.from({ length: count }, () => ({ worker: new Worker(boot, { workerData: { input } }), queued: 0, epoch: -1, classes: 0, templates: 0, v6: 0, services: 0 }));
    // Each thread says when it is ready, so a bad option fails here with its own message.
    await Promise.all(
      threads.map(
        (t) =>
          new Promise<void>((resolve, reject) => {
            const onMessage = (m: RenderReply) => {
              t.worker.off('error', reject);
              if (m.kind === 'error') reject(toError(m.error));
              else resolve();
            };
            t.worker.once('message', onMessage);
            t.worker.once('error', reject);
          }),
      ),
    ).catch(async (err: unknown) => {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      throw err;
    });
    // From here on, an exit the run did not ask for is a failure (see the constructor).
    return new RenderThreads(threads);
  }

  /** Hands a closed window to its thread; waits while that thread has too many queued. */
  async window(t: FlowTable, d: TrafficDriver, windowStart: number, windowEnd: number, lists: { flowLog: number; rows: Int32Array }[]): Promise<void> {
    this.check();
    const th = this.threads[Math.floor(batchOf(windowEnd) / TURN_SECONDS) % this.threads.length];
    while (th.queued >= MAX_QUEUED) {
      await new Promise<void>((resolve) => (th.wake = resolve));
      this.check();
    }
    const classes = d.classes.since(th.epoch, th.classes, th.templates);
    th.epoch = d.classes.epoch;
    th.classes = d.classes.size;
    th.templates = d.classes.templates;
    const v6 = d.addrs.v6Since(th.v6);
    th.v6 = d.addrs.v6Count;
    const services = d.serviceNames.slice(th.services);
    th.services = d.serviceNames.length;
    const table = t.parts();
    const m: WindowMessage = { kind: 'window', id: this.nextId++, windowStart, windowEnd, table, classes, v6, services, lists };
    const transfer = [table.hc.buffer, table.eni.buffer, table.ports.buffer, table.status.buffer, table.acc.buffer, classes.data.buffer, ...lists.map((l) => l.rows.buffer)];
    th.queued++;
    th.worker.postMessage(m, transfer as ArrayBuffer[]);
  }

  /** Waits for every window to be written and every object closed; returns the files. */
  async close(): Promise<string[]> {
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

function toError(e: { name: string; message: string; stack?: string }): Error {
  const err = e.name === 'UserError' ? new UserError(e.message) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}
