import type { Command } from 'commander';
import { Option } from 'commander';
import { UserError } from '../util/errors.ts';
import { addCommonOptions } from './main.ts';
import { renderResult, write, type OutputFormat } from './output.ts';

/** Parses `--start`: an ISO date/time or Unix seconds. */
export function parseStart(s: string): number {
  if (/^\d+$/.test(s)) return Number(s);
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) throw new UserError(`--start: "${s}" is neither an ISO date/time nor Unix seconds`);
  return Math.floor(ms / 1000);
}

/** Parses `--duration`: seconds, or a number with s, m, h or d. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(s.trim());
  if (!m) throw new UserError(`--duration: "${s}" is not a duration (e.g. 90, 30m, 2h, 1d)`);
  const n = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as const)[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  if (n < 1) throw new UserError(`--duration: "${s}" is shorter than a second`);
  return Math.round(n);
}

function parseInt10(name: string) {
  return (s: string) => {
    if (!/^-?\d+$/.test(s)) throw new UserError(`${name}: "${s}" is not an integer`);
    return Number(s);
  };
}

function positive(name: string, n: number): number {
  if (n < 1) throw new UserError(`${name}: "${n}" must be at least 1`);
  return n;
}

/** `flowlens emulate`: writes an emulated VPC's flow logs and the ground truth of its incidents. */
export function define(cmd: Command): void {
  addCommonOptions(cmd)
    .option('--topology <path>', 'YAML topology, or a folder of `aws ec2 describe-*` JSON outputs (default: the shipped three-tier VPC)')
    .option('--scenario <name...>', 'scenarios to run (repeatable; "all" and "attacks" are groups)', ['web-app'])
    .option('--duration <d>', 'emulated time: seconds or 30m, 2h, 1d', '1h')
    .addOption(new Option('--interval <s>', 'aggregation interval (Nitro interfaces always use 60)').choices(['60', '600']))
    .option('--seed <n>', 'seed of the random generators', '1')
    .option('--start <time>', 'first second: ISO date/time or Unix seconds (default 2024-01-15T00:00:00Z, fixed so runs repeat)')
    .option('--log-format <fmt>', 'AWS format string for every flow log, e.g. "${version} ${srcaddr} ..."')
    .option('--out <dir>', 'where to write (an S3 bucket\'s layout)', './flowlogs')
    .option('--labels <file>', 'write the ground truth here, one JSON object per incident')
    .addOption(new Option('--delivery <shape>', 'delivery shape (default: each flow log\'s destination)').choices(['s3', 's3-hive', 'parquet', 'cloudwatch', 'cloudwatch-subscription', 'firehose']))
    .option('--firehose-url <url>', 'POST Firehose HTTP endpoint requests here (with --delivery firehose)')
    .option('--pcap <file>', 'turn a pcap/pcapng capture into records instead of running scenarios')
    .option('--scale <x>', 'traffic multiplier for the scenarios', '1')
    .option('--gzip-level <n>', 'gzip level of .log.gz objects (1-9; 6 writes a third fewer bytes at ~0.6x the speed)', '1')
    .option('--workers <n>', 'threads in all, the generating one included (default: one per core for large S3 text runs)')
    .option('--list-scenarios', 'list the scenarios and exit')
    .action(async (opts: Record<string, string | string[] | boolean | undefined>) => {
      const format = opts.format as OutputFormat;
      if (opts.listScenarios) {
        const { SCENARIOS } = await import('../fabric/scenarios/index.ts');
        const rows = [...SCENARIOS.values()].map((s) => [s.name, s.summary]);
        await write(process.stdout, renderResult({ columns: ['scenario', 'summary'], rows }, format));
        return;
      }
      const { emulate } = await import('../fabric/index.ts');
      const scale = Number(opts.scale);
      if (!(scale > 0)) throw new UserError(`--scale: "${opts.scale}" is not a positive number`);
      if (opts.firehoseUrl && opts.delivery !== 'firehose') throw new UserError('--firehose-url needs --delivery firehose');
      const r = await emulate({
        topology: opts.topology as string | undefined,
        scenarios: opts.scenario as string[],
        duration: parseDuration(opts.duration as string),
        interval: opts.interval ? (Number(opts.interval) as 60 | 600) : undefined,
        seed: parseInt10('--seed')(opts.seed as string),
        start: opts.start ? parseStart(opts.start as string) : undefined,
        logFormat: opts.logFormat as string | undefined,
        out: opts.out as string,
        labels: opts.labels as string | undefined,
        delivery: opts.delivery as never,
        firehoseUrl: opts.firehoseUrl as string | undefined,
        pcap: opts.pcap as string | undefined,
        scale,
        gzipLevel: parseInt10('--gzip-level')(opts.gzipLevel as string),
        workers: opts.workers === undefined ? undefined : positive('--workers', parseInt10('--workers')(opts.workers as string)),
      });
      const summary = { records: r.records, files: r.files, seconds: r.seconds, connections: r.connections, labels: r.labels.length, out: r.out, delivery: r.delivery, start: r.start, end: r.end, interval: r.interval };
      if (format === 'table') {
        const rate = r.seconds > 0 ? `, ${Math.round(r.records / r.seconds).toLocaleString('en-US')} records/s` : '';
        await write(process.stdout, `wrote ${r.records} records in ${r.files} files to ${r.out} (${r.seconds} s${rate}); ${r.labels.length} labelled incidents${opts.labels ? ` in ${opts.labels}` : ''}\n`);
      } else if (format === 'json') await write(process.stdout, JSON.stringify(summary) + '\n');
      else await write(process.stdout, renderResult({ columns: Object.keys(summary), rows: [Object.values(summary)] }, format));
    });
}
