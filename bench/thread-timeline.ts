/**
 * thread-timeline — runs a command and prints, every interval, how many cores its threads kept
 * busy and which threads did (from /proc/<pid>/task/<tid>/stat, Linux only). Shows where a run
 * leaves a core idle: its start, a lone lane at the end, a thread waiting on another.
 *   npx tsx bench/thread-timeline.ts [--every 0.25] -- node bin/flowlens.js ingest .bench/synthetic-v2-5000000-in-5 --db /tmp/t --no-progress
 * Not a benchmark with a target: a tool for looking (its own sampling costs ~1% of a core).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const dash = args.indexOf('--');
const every = Number(args[args.indexOf('--every') + 1] ?? 0.25) || 0.25;
const command = dash >= 0 ? args.slice(dash + 1) : [];
if (!command.length) {
  console.error('usage: tsx bench/thread-timeline.ts [--every SECONDS] -- COMMAND ARGS...');
  process.exit(2);
}
/** Clock ticks per second of /proc's utime and stime (USER_HZ; 100 on Linux). */
const HZ = 100;

const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
const seen = new Map<string, number>();
const t0 = performance.now();

/** Ticks each thread used since the last sample, and the total. */
function sample(pid: number): { total: number; threads: [string, number][] } {
  const threads: [string, number][] = [];
  let total = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { total, threads };
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // Fields after the name: state is the first, utime the 12th, stime the 13th.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]);
      const d = ticks - (seen.get(tid) ?? 0);
      seen.set(tid, ticks);
      total += d;
      if (d > 0) threads.push([`${name}/${tid}`, d]);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return { total, threads: threads.sort((a, b) => b[1] - a[1]) };
}

const timer = setInterval(() => {
  const { total, threads } = sample(child.pid!);
  const t = ((performance.now() - t0) / 1000).toFixed(2).padStart(6);
  const busy = (total / HZ / every).toFixed(2);
  console.error(`${t} s  ${busy} cores  ${threads.slice(0, 6).map(([n, d]) => `${n}:${(d / HZ / every).toFixed(2)}`).join(' ')}`);
}, every * 1000);

child.on('exit', (code) => {
  clearInterval(timer);
  process.exit(code ?? 1);
});
