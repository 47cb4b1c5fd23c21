import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { BUILTIN_QUERIES, type SavedQuery } from './builtins.ts';
import { parseQuery } from './parser.ts';

/** Saved queries live in the store folder, beside the data they query. */
export const SAVED_FILE = 'saved-queries.json';

interface SavedFile {
  version: 1;
  queries: Record<string, { query: string; description?: string; savedAt: string }>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

async function load(db: string): Promise<SavedFile> {
  let text: string;
  try {
    text = await readFile(join(db, SAVED_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, queries: {} };
    throw new UserError(`cannot read ${join(db, SAVED_FILE)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as SavedFile;
    if (parsed?.version !== 1 || typeof parsed.queries !== 'object') throw new Error('not a saved-queries file (version 1)');
    return parsed;
  } catch (err) {
    throw new UserError(`${join(db, SAVED_FILE)} is damaged: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Every query `--run` can name: the builtins, then the user's (a user's query of the same
 * name replaces the builtin).
 * @example (await listSaved('./flowlens.duckdb')).map((q) => q.name)
 */
export async function listSaved(db: string): Promise<SavedQuery[]> {
  const file = await load(db);
  const mine = Object.entries(file.queries).map(([name, q]) => ({ name, query: q.query, description: q.description ?? `saved ${q.savedAt}` }));
  const names = new Set(mine.map((q) => q.name));
  return [...BUILTIN_QUERIES.filter((b) => !names.has(b.name)), ...mine];
}

/** The query saved under `name`. @example await getSaved(db, 'top-talkers') */
export async function getSaved(db: string, name: string): Promise<SavedQuery> {
  const all = await listSaved(db);
  const q = all.find((x) => x.name === name) ?? all.find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (!q) throw new UserError(`no saved query named "${name}"; see flowlens query --list-saved`);
  return q;
}

/**
 * Checks and saves a query under a name (written whole, then renamed, so a crash leaves the
 * old file intact).
 * @example await saveQuery('./flowlens.duckdb', 'ssh', 'filter dstPort = 22 | stats count(*) by srcAddr')
 */
export async function saveQuery(db: string, name: string, query: string, description?: string): Promise<void> {
  if (!NAME.test(name)) throw new UserError(`--save: "${name}" is not a usable name (letters, digits, . _ -; up to 64)`);
  parseQuery(query);
  const file = await load(db);
  file.queries[name] = { query, ...(description ? { description } : {}), savedAt: new Date().toISOString() };
  await mkdir(db, { recursive: true });
  const tmp = join(db, `${SAVED_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(file, null, 2) + '\n');
  await rename(tmp, join(db, SAVED_FILE));
}
