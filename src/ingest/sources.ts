import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../util/errors.ts';

/** What a file holds, decided by its first bytes (names lie; S3 keys often lack extensions). */
export type SourceKind = 'text' | 'gzip' | 'parquet' | 'json' | 'json-gzip' | 'binary';

export interface SourceFile {
  path: string;
  size: number;
  mtimeMs: number;
}

const SKIP = /(^\.|~$|\.(md|yaml|yml|csv|tmp|crc)$)/i;

/**
 * Expands files and folders (recursively, in name order) into the files to ingest. Hidden
 * files, editor backups and the store's own folder are skipped.
 * @example await discover(['AWSLogs/'], './flowlens.duckdb')
 */
export async function discover(paths: readonly string[], storePath: string): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  const store = resolve(storePath);
  const walk = async (p: string, explicit: boolean): Promise<void> => {
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      throw new UserError(`${p}: no such file or folder`, { cause: err });
    }
    if (st.isDirectory()) {
      if (resolve(p) === store) return;
      const names = (await readdir(p)).sort();
      for (const n of names) if (!SKIP.test(n)) await walk(join(p, n), false);
    } else if (st.isFile() && (explicit || !SKIP.test(basename(p)))) {
      out.push({ path: p, size: st.size, mtimeMs: st.mtimeMs });
    }
  };
  for (const p of paths) await walk(p, true);
  return out;
}

/** Reads the first bytes and says what the file is. */
export async function sniff(path: string): Promise<SourceKind> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return sniffBytes(head.subarray(0, bytesRead), path);
  } finally {
    await fh.close();
  }
}

/** Decides the kind from leading bytes (and, for gzip, the name: JSON inside gzip is named so). */
export function sniffBytes(head: Uint8Array, name = ''): SourceKind {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return /\.json(\.gz)?$|\.ndjson(\.gz)?$/i.test(name) ? 'json-gzip' : 'gzip';
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x41 && head[2] === 0x52 && head[3] === 0x31) return 'parquet';
  if (isBinary(head)) return 'binary';
  for (const c of head) {
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xef || c === 0xbb || c === 0xbf) continue;
    return c === 0x7b || c === 0x5b ? 'json' : 'text';
  }
  return 'text';
}

/**
 * Identifies a file by its content, cheaply: size plus a hash of its first and last MiB. A copy
 * under another name is the same source; an appended-to file is a new one.
 */
export async function fingerprint(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  h.update(String(size));
  const fh = await open(path, 'r');
  try {
    const span = 1 << 20;
    const buf = Buffer.alloc(Math.min(span, size));
    let r = await fh.read(buf, 0, buf.length, 0);
    h.update(buf.subarray(0, r.bytesRead));
    if (size > span) {
      r = await fh.read(buf, 0, buf.length, Math.max(span, size - span));
      h.update(buf.subarray(0, r.bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex').slice(0, 24);
}

/**
 * Whether leading bytes are binary, not text: over 30% of them control bytes (but tab, CR, LF)
 * or non-ASCII (flow log text is ASCII; random or compressed bytes are ~60% so). A text file
 * with a few stray NULs (a crash's padding) is still text: its lines are kept. A binary file is
 * quarantined whole, not line by line as garbage.
 * @example isBinary(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) // false (2 of 8)
 */
export function isBinary(head: Uint8Array): boolean {
  let odd = 0;
  for (const c of head) if (c >= 0x7f || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) odd++;
  return odd * 10 > head.length * 3;
}
