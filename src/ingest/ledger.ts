import { mkdir, readFile, rename, writeFile, appendFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * What the store knows about one ingested source: how far it got and what it counted. Written
 * atomically (temp file + rename) after every committed chunk, so a killed ingest resumes at
 * the first chunk that did not commit.
 */
export interface LedgerEntry {
  fingerprint: string;
  source: string;
  bytes: number;
  /** Chunks committed so far; chunk ids are `<fingerprint>-<n>`. */
  chunks: number;
  /** Last input line (or event) the committed chunks cover. */
  lines: number;
  done: boolean;
  records: number;
  ok: number;
  nodata: number;
  skipdata: number;
  quarantined: number;
  startedAt: string;
  finishedAt?: string;
}

function entryPath(root: string, fp: string): string {
  return join(root, 'ledger', `${fp}.json`);
}

/** @example await readLedger('./flowlens.duckdb', 'a1b2c3') // undefined when never seen */
export async function readLedger(root: string, fp: string): Promise<LedgerEntry | undefined> {
  try {
    return JSON.parse(await readFile(entryPath(root, fp), 'utf8')) as LedgerEntry;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // A torn ledger file cannot happen (rename is atomic); anything else is worth surfacing.
    throw new Error(`cannot read ledger entry ${fp}`, { cause: err });
  }
}

export async function writeLedger(root: string, entry: LedgerEntry): Promise<void> {
  const p = entryPath(root, entry.fingerprint);
  await mkdir(dirname(p), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(entry));
  await rename(tmp, p);
}

/** One refused line, as written to the quarantine file. */
export interface QuarantineEntry {
  source: string;
  line: number;
  column?: number;
  reason: string;
  text?: string;
}

/**
 * Writes a chunk's refused lines to `quarantine/<chunk>.jsonl` (one file per chunk, so a redone
 * chunk replaces its own entries instead of repeating them).
 */
export async function writeQuarantine(root: string, chunkId: string, entries: readonly QuarantineEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const p = join(root, 'quarantine', `${chunkId}.jsonl`);
  await mkdir(dirname(p), { recursive: true });
  const tmp = `${p}.tmp`;
  await writeFile(tmp, '');
  // Appending in slices keeps memory flat even for a file of nothing but bad lines.
  for (let i = 0; i < entries.length; i += 1000) {
    await appendFile(tmp, entries.slice(i, i + 1000).map((e) => JSON.stringify(e) + '\n').join(''));
  }
  await rename(tmp, p);
}
