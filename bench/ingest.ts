/**
 * bench:ingest — N million synthetic v2 records as .log.gz (default 5 M) → `flowlens ingest`,
 * against DuckDB's own read_csv of the same file into a table, in the same run.
 * Prints records/s, peak RSS of the ingest process, and the ratios.
 *   npm run bench:ingest -- --millions 5
 * Enrichment: by default the store's defaults (classification, geo/ASN, no inventory);
 * `--no-enrich` stores records as parsed; `--inventory synthetic` adds an inventory of the
 * synthetic VPCs (20 VPC blocks and 5,000 named hosts), `--inventory FILE` any inventory.
 * `--no-baseline` skips the DuckDB read_csv runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { writeSyntheticV2 } from '../src/ingest/sample.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const millions = Number(arg('millions', '5'));
const records = Math.round(millions * 1_000_000);
// AWS delivers at most 75 MB per object; by default the records come as objects of 1 M
// records (~27 MB gzip), as a busy VPC's 5-minute objects do. --objects 1 makes one file.
const objects = Number(arg('objects', String(Math.max(1, Math.ceil(records / 1_000_000)))));
const work = join(process.cwd(), '.bench');
const enrichOff = args.includes('--no-enrich');
let inventory = arg('inventory', '');
if (inventory === 'synthetic') {
  // The generator's internal hosts: 10.<i>>8>.<i&255>.<(i*7)%250+4> for i < 5000.
  const lines = ['cidr,vpc,subnet,name,owner,env'];
  for (let v = 0; v < 20; v++) lines.push(`10.${v}.0.0/16,vpc-${v},,,,`);
  for (let i = 0; i < 5000; i++) lines.push(`10.${(i >> 8) & 255}.${i & 255}.${((i * 7) % 250) + 4},vpc-${(i >> 8) & 255},subnet-${i & 255},host-${i},team-${i % 40},${i % 3 ? 'prod' : 'staging'}`);
  mkdirSync(work, { recursive: true });
  inventory = join(work, 'synthetic-inventory.csv');
  writeFileSync(inventory, lines.join('\n') + '\n');
}
const dataDir = join(work, `synthetic-v2-${records}-in-${objects}`);
mkdirSync(dataDir, { recursive: true });
const files: string[] = [];
for (let k = 0; k < objects; k++) {
  const n = Math.floor(records / objects) + (k < records % objects ? 1 : 0);
  const file = join(dataDir, `123456789012_vpcflowlogs_us-east-1_fl-bench_20231114T${String(k).padStart(4, '0')}Z_${k}.log.gz`);
  files.push(file);
  if (existsSync(file)) continue;
  const t = performance.now();
  await writeSyntheticV2(file, n, 42 + k, 1_700_000_000 + k * 300);
  console.log(`generated ${n} records in ${((performance.now() - t) / 1000).toFixed(1)} s → ${file} (${(statSync(file).size / 1e6).toFixed(0)} MB)`);
}
const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
const file = join(dataDir, '*.log.gz');

/** Runs a command, sampling its resident memory; returns wall seconds, peak RSS and stdout. */
async function measure(cmd: string, argv: string[]): Promise<{ seconds: number; peakMb: number; stdout: string }> {
  const t = performance.now();
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch {
      // the process has exited between samples
    }
  }, 50);
  const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
  clearInterval(timer);
  if (code !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited with ${code}`);
  return { seconds: (performance.now() - t) / 1000, peakMb: peak, stdout };
}

// 1. flowlens ingest (the real CLI, in its own process so its memory is its own).
const db = join(work, 'bench-store');
rmSync(db, { recursive: true, force: true });
if (enrichOff || inventory) {
  mkdirSync(db, { recursive: true });
  const setup = ['bin/flowlens.js', 'enrich', '--db', db, '--no-reenrich', ...(enrichOff ? ['--disable'] : []), ...(inventory ? ['--inventory', inventory] : [])];
  await measure(process.execPath, setup);
}
// Run as a user runs it (`npx flowlens` executes the bin): its #! line sets the allocator's settings.
const ours = await measure(join(process.cwd(), 'bin', 'flowlens.js'), ['ingest', dataDir, '--db', db, '--format', 'json', '--no-progress']);
const summary = JSON.parse(ours.stdout);
if (summary.records + summary.quarantined !== records) throw new Error(`expected ${records} records, got ${JSON.stringify(summary)}`);

// 2. DuckDB's own read_csv of the same file, into an in-memory table and into a database file.
async function baseline(target: string): Promise<number> {
  rmSync(target, { force: true });
  rmSync(`${target}.wal`, { force: true });
  const inst = await DuckDBInstance.create(target, { threads: '2' });
  const conn = await inst.connect();
  const t = performance.now();
  await conn.run(`CREATE TABLE t AS SELECT * FROM read_csv('${file}', delim = ' ', header = true, nullstr = '-')`);
  if (target !== ':memory:') await conn.run('CHECKPOINT');
  const seconds = (performance.now() - t) / 1000;
  conn.closeSync();
  inst.closeSync();
  return seconds;
}
const skipBaseline = args.includes('--no-baseline');
const inMemory = skipBaseline ? NaN : await baseline(':memory:');
const dbFile = join(work, 'bench-baseline.duckdb');
const onDisk = skipBaseline ? NaN : await baseline(dbFile);
rmSync(dbFile, { force: true });

const rate = (s: number) => Math.round(records / s).toLocaleString('en-US');
console.log(`\ningest of ${records.toLocaleString('en-US')} gzip v2 records in ${objects} .log.gz object(s) (${(bytes / 1e6).toFixed(0)} MB), 2-core machine`);
console.log(`  flowlens ingest (process wall, incl. startup) ${ours.seconds.toFixed(2)} s   ${rate(ours.seconds)} records/s   peak RSS ${ours.peakMb.toFixed(0)} MB`);
console.log(`  flowlens ingest (its own clock)               ${summary.seconds.toFixed(2)} s   ${rate(summary.seconds)} records/s`);
console.log(`  enrichment: ${enrichOff ? 'off' : inventory ? `on, inventory ${inventory}` : 'on, no inventory'}; unattributed_ratio ${summary.unattributed_ratio}`);
// Without the baseline runs there is nothing to compare with: no read_csv lines at all.
if (!skipBaseline) {
  console.log(`  DuckDB read_csv → in-memory table             ${inMemory.toFixed(2)} s   ${rate(inMemory)} records/s`);
  console.log(`  DuckDB read_csv → table in a database file    ${onDisk.toFixed(2)} s   ${rate(onDisk)} records/s`);
  console.log(`  ratio vs read_csv → database file (target >= 1): ${(onDisk / ours.seconds).toFixed(2)}`);
  // read_csv is timed inside a running process; ingest's own clock likewise leaves out the
  // process start, and the rollup build that follows the ingest (rollup_seconds).
  console.log(`  the same, by ingest's own clock (no process start, no rollup build, ${summary.rollup_seconds} s): ${(onDisk / summary.seconds).toFixed(2)}`);
  console.log(`  ratio vs read_csv → in-memory table:             ${(inMemory / ours.seconds).toFixed(2)}`);
}
console.log(`  targets: >= 1,000,000 records/s: ${records / ours.seconds >= 1e6 ? 'met' : 'NOT met'}; <= 1 GB RSS: ${ours.peakMb <= 1024 ? 'met' : 'NOT met'}`);
rmSync(db, { recursive: true, force: true });
