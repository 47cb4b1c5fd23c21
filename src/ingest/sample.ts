import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { DEFAULT_FIELDS } from '../schema/columns.ts';

/**
 * Writes N synthetic default-format (v2) records as one .log.gz with AWS's header line, shaped
 * like a real VPC: a few thousand ENIs, a pool of internal hosts and internet peers, mostly
 * ACCEPT TCP, some REJECTs, a sprinkle of NODATA. Deterministic for a given seed.
 * @example await writeSyntheticV2('/tmp/x.log.gz', 5_000_000)
 */
export async function writeSyntheticV2(path: string, records: number, seed = 42, startEpoch = 1_700_000_000): Promise<void> {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    // xorshift32: fast and deterministic; quality does not matter for load shape.
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const enis = Array.from({ length: 2000 }, (_, i) => `eni-${(0x1000000000000000n + BigInt(i) * 7919n).toString(16).slice(0, 17)}`);
  const internal = Array.from({ length: 5000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) % 250 + 4}`);
  const external = Array.from({ length: 20000 }, (_, i) => `${(i % 200) + 20}.${(i * 13) % 256}.${(i * 7) % 256}.${(i * 3) % 254 + 1}`);
  const ports = [443, 80, 22, 3306, 5432, 53, 123, 8080, 6379, 3389];
  const gz = createGzip({ level: 6 });
  const out = createWriteStream(path);
  gz.pipe(out);
  gz.write(DEFAULT_FIELDS.join(' ') + '\n');
  const lines: string[] = [];
  for (let i = 0; i < records; i++) {
    const t = startEpoch + Math.floor((i / records) * 86400 * 2);
    const eni = enis[Math.floor(rnd() * enis.length)];
    const r = rnd();
    let line: string;
    if (r < 0.01) {
      line = `2 123456789012 ${eni} - - - - - - - ${t} ${t + 60} - NODATA`;
    } else {
      const a = internal[Math.floor(rnd() * internal.length)];
      const b = rnd() < 0.5 ? internal[Math.floor(rnd() * internal.length)] : external[Math.floor(rnd() * external.length)];
      const dport = ports[Math.floor(rnd() * ports.length)];
      const sport = 1024 + Math.floor(rnd() * 64000);
      const proto = dport === 53 || dport === 123 ? 17 : 6;
      const packets = 1 + Math.floor(rnd() * 200);
      const bytes = packets * (40 + Math.floor(rnd() * 1400));
      const action = rnd() < 0.08 ? 'REJECT' : 'ACCEPT';
      line = `2 123456789012 ${eni} ${b} ${a} ${sport} ${dport} ${proto} ${packets} ${bytes} ${t} ${t + 59} ${action} OK`;
    }
    lines.push(line);
    if (lines.length === 4096) {
      if (!gz.write(lines.join('\n') + '\n')) await once(gz, 'drain');
      lines.length = 0;
    }
  }
  if (lines.length) gz.write(lines.join('\n') + '\n');
  gz.end();
  await once(out, 'close');
}
