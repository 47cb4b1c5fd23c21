import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { ingestPaths, ingestStream, type IngestProgress, type IngestSummary } from '../ingest/index.ts';
import { addCommonOptions } from './main.ts';
import { renderResult, type OutputFormat } from './output.ts';

interface Opts {
  db: string;
  format: OutputFormat;
  logFormat?: string;
  batchRows?: string;
  progress?: boolean;
  inventory?: string;
  detect?: boolean;
}

/** `flowlens ingest PATH...`: files, folders (recursive, S3 layout) and/or `-` for stdin. */
export function define(cmd: Command): void {
  addCommonOptions(cmd)
    .argument('<paths...>', 'files (.log, .log.gz, .parquet, CloudWatch JSON), folders, or - for stdin')
    .option('--log-format <format>', 'AWS format string for files without a header line, e.g. "${version} ${vpc-id} ..."')
    .option('--batch-rows <n>', 'records per committed chunk')
    .option('--no-progress', 'no progress bar or progress lines')
    .option('--inventory <path>', 'inventory to enrich with from now on: YAML/CSV, fabric topology or describe-* folder (kept in <db>/enrich/)')
    .option('--detect', 'run detection on each committed chunk while ingesting (alerts go to <db>/alerts and the configured notifiers)')
    .action(async (paths: string[], opts: Opts) => {
      const onProgress = opts.progress === false ? undefined : progressReporter();
      const common = { db: opts.db, logFormat: opts.logFormat, batchRows: opts.batchRows ? Number(opts.batchRows) : undefined, onProgress: onProgress?.update, inventory: opts.inventory };
      // Streaming detection follows each durable chunk without holding ingest back.
      const detector = opts.detect ? (await import('../detect/index.ts')).createStreamingDetector({ db: opts.db, onError: (e) => process.stderr.write(`flowlens: detection: ${(e as Error).message}\n`) }) : undefined;
      if (detector) Object.assign(common, { onCommit: detector.onCommit });
      let summary: IngestSummary;
      try {
        // `-` (stdin) may come with files and folders: those first, then stdin (read once).
        const files = paths.filter((p) => p !== '-');
        const fromFiles = files.length ? await ingestPaths(files, common) : undefined;
        const fromStdin = paths.includes('-') ? await ingestStream(process.stdin, 'stdin', common) : undefined;
        summary = fromFiles && fromStdin ? addSummaries(fromFiles, fromStdin) : (fromFiles ?? fromStdin)!;
      } finally {
        onProgress?.stop();
        await detector?.stop();
      }
      printSummary(summary, opts.format);
    });
}

/** Two runs' summaries as one (files and stdin in one command). */
export function addSummaries(a: IngestSummary, b: IngestSummary): IngestSummary {
  const sum = (k: 'files' | 'duplicates' | 'skipped_files' | 'resumed_files' | 'records' | 'ok' | 'nodata' | 'skipdata' | 'quarantined') => a[k] + b[k];
  const round = (x: number) => Math.round(x * 1000) / 1000;
  // The unattributed share of both, weighted by each run's records.
  const ratio =
    a.unattributed_ratio === null || b.unattributed_ratio === null
      ? (a.unattributed_ratio ?? b.unattributed_ratio)
      : a.records + b.records
        ? round((a.unattributed_ratio * a.records + b.unattributed_ratio * b.records) / (a.records + b.records))
        : 0;
  return {
    ...a,
    files: sum('files'),
    duplicates: sum('duplicates'),
    skipped_files: sum('skipped_files'),
    resumed_files: sum('resumed_files'),
    records: sum('records'),
    ok: sum('ok'),
    nodata: sum('nodata'),
    skipdata: sum('skipdata'),
    quarantined: sum('quarantined'),
    seconds: round(a.seconds + b.seconds),
    rollup_seconds: round(a.rollup_seconds + b.rollup_seconds),
    unattributed_ratio: ratio,
  };
}

function printSummary(s: IngestSummary, format: OutputFormat): void {
  if (format === 'json') {
    process.stdout.write(JSON.stringify(s) + '\n');
    return;
  }
  if (format === 'table') {
    const rate = s.seconds > 0 ? Math.round(s.records / s.seconds) : s.records;
    process.stdout.write(
      `ingested ${s.records} records from ${s.files} file(s) in ${s.seconds}s (${rate}/s): ` +
        `${s.ok} OK, ${s.nodata} NODATA, ${s.skipdata} SKIPDATA; ${s.quarantined} quarantined, ` +
        `${s.duplicates} duplicate records skipped (${s.skipped_files} file(s) already stored)` +
        (s.resumed_files ? `, ${s.resumed_files} file(s) resumed` : '') +
        '\n',
    );
    if (s.quarantined) process.stdout.write(`quarantined lines: ${s.quarantine_dir} (or: flowlens sql "SELECT * FROM quarantine")\n`);
    return;
  }
  const { quarantine_dir, ...rest } = s;
  void quarantine_dir;
  process.stdout.write(renderResult({ columns: Object.keys(rest), rows: [Object.values(rest)] }, format));
}

/** A progress bar on a terminal; plain lines every few seconds otherwise (logs, CI). */
function progressReporter(): { update: (p: IngestProgress) => void; stop: () => void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'ingest [{bar}] {percentage}% | {records} records | {file}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (p) => {
        if (!started) {
          bar.start(Math.max(1, p.bytesTotal), 0, { records: 0, file: '' });
          started = true;
        }
        bar.update(p.bytesDone, { records: p.records, file: p.file.slice(-40) });
      },
      stop: () => started && bar.stop(),
    };
  }
  // First line after 5 s: short runs print only their summary.
  let last = Date.now();
  return {
    update: (p) => {
      const now = Date.now();
      if (now - last < 5000) return;
      last = now;
      const pct = p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
      process.stderr.write(`ingest: ${pct}% files ${p.filesDone}/${p.filesTotal} records ${p.records} (${p.file})\n`);
    },
    stop: () => {},
  };
}
