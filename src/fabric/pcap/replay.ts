import type { TrafficDriver } from '../traffic.ts';
import { decodeFrame } from './decode.ts';
import { readCapture } from './reader.ts';

/**
 * Feeds a capture through the fabric: each packet is judged with its connection and recorded
 * on the interfaces the topology maps its addresses to; windows close as capture time passes.
 * @example await replayCapture('trace.pcap', driver, step, 60)
 */
export async function replayCapture(path: string, d: TrafficDriver, step: (tick: number, final?: boolean) => Promise<void>, tickSeconds: number): Promise<{ frames: number; decoded: number }> {
  let tick = -1;
  let frames = 0;
  let decoded = 0;
  for await (const f of readCapture(path)) {
    frames++;
    const p = decodeFrame(f.linkType, f.data);
    if (!p) continue;
    decoded++;
    const t = Math.max(f.ts, tick);
    if (tick < 0) {
      tick = Math.floor(t / tickSeconds) * tickSeconds;
      d.beginTick(tick, tick + tickSeconds);
    }
    while (t >= tick + tickSeconds) {
      await step(tick);
      tick += tickSeconds;
      d.beginTick(tick, tick + tickSeconds);
    }
    d.packet(t, p.src, p.dst, p.protocol, p.srcPort, p.dstPort, p.icmpType, p.bytes, p.tcpFlags);
  }
  if (tick >= 0) await step(tick, true);
  return { frames, decoded };
}
