import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { runFabric } from './emulate.ts';
import { ip, tiny } from './test-helpers.ts';
import { Close, type TrafficDriver } from './traffic.ts';

const T0 = 1705276800;

/** Every object's text, by key, for a run of this traffic. */
async function texts(classLimit: number | undefined): Promise<Record<string, string>> {
  const out = mkdtempSync(join(tmpdir(), 'flowlens-compact-'));
  const traffic = (from: number, _to: number, d: TrafficDriver) => {
    if (from === T0) {
      // Open across many windows: their compiled hops must survive each compaction.
      d.tcp(T0 + 3, ip('10.1.1.20'), ip('10.1.2.10'), 5432, 3000, 3000, 300_000, 3000, 900_000, Close.Open, 6, 41000);
      d.tcp(T0 + 4, ip('10.1.1.20'), ip('203.0.113.5'), 443, 2500, 900, 90_000, 900, 800_000, Close.Fin, 6, 41001);
    }
    for (let i = 0; i < 20; i++) d.tcp(from + i, ip('198.51.100.9'), ip('192.0.2.130'), 22, 1, 4, 400, 4, 900, Close.Fin, 6, 50000 + ((from / 60 + i) % 900));
    d.ping(from + 30, ip('203.0.113.77'), ip('192.0.2.130'), 2);
  };
  const r = await runFabric({ topo: tiny(), start: T0, end: T0 + 3600, out, seed: 2, gzipLevel: 1, maxObjectBytes: 75 << 20, classLimit }, { tick: traffic });
  return Object.fromEntries(r.paths.map((p) => [relative(out, p), gunzipSync(readFileSync(p)).toString('latin1')]));
}

describe('hop class compaction', () => {
  it('changes no record: classes dropped after every window give the same objects', async () => {
    const whole = await texts(undefined);
    expect(Object.keys(whole).length).toBeGreaterThan(10);
    expect(await texts(1)).toEqual(whole);
  });
});
