import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulate } from '../src/fabric/index.ts';

/**
 * Emulator throughput: records generated and written (gzip text in the S3 layout) per second,
 * at gzip levels 1 and 6, with the default topology and the web-app scenario turned up. Prints
 * records/s and the process's peak RSS. Target: >= 1,000,000 records/s on the 2-core machine.
 * Usage: npm run bench:fabric [-- --scale 400 --duration 1800 --levels 1,6 --format "${...}"]
 */
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const scale = Number(arg('scale', '400'));
const duration = Number(arg('duration', '1800'));
const levels = arg('levels', '1,6').split(',').map(Number);
const logFormat = process.argv.includes('--format') ? arg('format', '') : undefined;

for (const level of levels) {
  const out = mkdtempSync(join(tmpdir(), 'flowlens-bench-fabric-'));
  try {
    const cpu0 = process.cpuUsage();
    const r = await emulate({ scenarios: ['web-app'], scale, duration, seed: 1, out, gzipLevel: level, logFormat });
    const rss = process.resourceUsage().maxRSS / 1024;
    // CPU seconds of all threads (main + zlib's pool): the figure that other load on the machine disturbs least.
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    console.log(
      `gzip ${level}: ${r.records.toLocaleString('en-US')} records in ${r.files} files, ${r.seconds.toFixed(2)} s → ${Math.round(r.records / r.seconds).toLocaleString('en-US')} records/s; ${cpuSeconds.toFixed(1)} CPU s (${Math.round(r.records / cpuSeconds).toLocaleString('en-US')} records per CPU s); peak RSS ${rss.toFixed(0)} MB`,
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
