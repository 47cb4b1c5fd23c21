import type { TrafficDriver } from '../traffic.ts';

/** Placeholder until the pcap reader lands. */
export async function replayCapture(path: string, _d: TrafficDriver, _step: (tick: number) => Promise<void>, _tick: number): Promise<void> {
  throw new Error(`pcap replay is not implemented yet (${path})`);
}
