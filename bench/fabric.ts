import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulate } from '../src/fabric/index.ts';

/**
 * Emulator throughput: records generated and written (gzip text in the S3 layout) per second,
 * at the gzip levels asked for, with the default topology and the web-app scenario turned up.
 * Prints records/s (wall), the CPU seconds of all threads and of the main thread alone, records
 * per CPU second and the process's peak RSS. Target: >= 1,000,000 records/s on the 2-core machine.
 * Usage: npm run bench:fabric [-- --scale 200 --duration 7200 --levels 1,6 --format "${...}"]
 * The default run is 2 h of traffic, twelve 600 s windows: a window is generated on one thread
 * and rendered on another, so the first and last windows of a run keep one core idle, and a
 * short run (three windows) measures that more than the emulator's throughput.
 */
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const scale = Number(arg('scale', '200'));
const duration = Number(arg('duration', '7200'));
const levels = arg('levels', '1,6').split(',').map(Number);
const logFormat = process.argv.includes('--format') ? arg('format', '') : undefined;
const workers = process.argv.includes('--workers') ? Number(arg('workers', '1')) : undefined;

/** CPU seconds of this process's main thread (Linux; the shared machine's other load does not count). */
function mainThreadCpu(): number {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

for (const level of levels) {
  const out = mkdtempSync(join(tmpdir(), 'flowlens-bench-fabric-'));
  try {
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpu();
    const r = await emulate({ scenarios: ['web-app'], scale, duration, seed: 1, out, gzipLevel: level, logFormat, workers });
    const rss = process.resourceUsage().maxRSS / 1024;
    // CPU seconds of all threads (main + compression): the figure that other load on the machine disturbs least.
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const main = mainThreadCpu() - main0;
    const n = (x: number) => Math.round(x).toLocaleString('en-US');
    console.log(
      `gzip ${level}: ${r.records.toLocaleString('en-US')} records in ${r.files} files, ${r.seconds.toFixed(2)} s → ${n(r.records / r.seconds)} records/s; ${cpuSeconds.toFixed(1)} CPU s (${n(r.records / cpuSeconds)} records per CPU s; main thread ${main.toFixed(1)} s); peak RSS ${rss.toFixed(0)} MB`,
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
