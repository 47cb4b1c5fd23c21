import { parentPort, workerData } from 'node:worker_threads';
import { EmulateOptions, type Delivery, type EmulateOptionsIn } from './config.ts';
import { overrideFlowLogs, sinkFor } from './emulate.ts';
import { AddrTable, FlowTable, HopClasses } from './flow-table.ts';
import type { RenderReply, SlotBuffers, WindowMessage } from './render-threads.ts';
import { LineRenderer } from './render.ts';
import type { Sink } from './sinks/index.ts';
import { loadTopology } from './topology.ts';

/**
 * A render thread (see RenderThreads): keeps copies of the generating thread's hop classes,
 * templates, IPv6 addresses and service names, renders each window it is handed and writes
 * its S3 objects, one window after another in the order they come.
 */
const port = parentPort!;
const send = (m: RenderReply) => port.postMessage(m);
const fail = (err: unknown) => {
  const e = err instanceof Error ? err : new Error(String(err));
  send({ kind: 'error', error: { name: e.name, message: e.message, stack: e.stack } });
};

try {
  const o = EmulateOptions.parse((workerData as { input: EmulateOptionsIn }).input);
  const topo = await loadTopology(o.topology as string | object | undefined);
  const flowLogs = overrideFlowLogs(topo, o.logFormat, o.interval);
  const classes = new HopClasses();
  const addrs = new AddrTable();
  const services: string[] = [];
  const renderers = flowLogs.map((fl) => new LineRenderer(fl.fields, topo, addrs, services, classes));
  const sinks = new Map<Delivery, Sink>();
  const slots: SlotBuffers[] = [];
  let chain = Promise.resolve();
  let failed = false;
  const window = async (m: WindowMessage) => {
    classes.apply(m.classes);
    addrs.addV6(m.v6);
    services.push(...m.services);
    if (m.buffers) slots[m.slot] = m.buffers;
    const b = slots[m.slot];
    const t = FlowTable.view(classes, b.table, m.size);
    for (const l of m.lists) {
      const fl = flowLogs[l.flowLog];
      await sinkFor(o, topo, fl, sinks).write({ flowLog: fl, renderer: renderers[l.flowLog], table: t, rows: b.rows[l.flowLog], count: l.count, windowStart: m.windowStart, windowEnd: m.windowEnd });
    }
    send({ kind: 'done', id: m.id, slot: m.slot });
  };
  const close = async () => {
    const paths: string[] = [];
    for (const s of sinks.values()) paths.push(...(await s.close()));
    send({ kind: 'closed', paths });
  };
  port.on('message', (m: WindowMessage | { kind: 'close' }) => {
    // Windows are written in the order they come, each after the one before.
    chain = chain.then(() => (failed ? undefined : m.kind === 'window' ? window(m) : close())).catch((err: unknown) => {
      failed = true;
      fail(err);
    });
  });
  send({ kind: 'ready' });
} catch (err) {
  fail(err);
}
