import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';
import { readIpRanges } from './aws-ranges.ts';
import { Enricher } from './enricher.ts';
import { GeoResolver } from './geo.ts';
import { EMPTY_INVENTORY, validateInventory, type Inventory } from './inventory.ts';
import { DEFAULT_PRICES, readPrices } from './prices.ts';

export { Enricher, EnrichSession, unattributedSql, isEnrichColumn, type AddrInfo, type Coverage } from './enricher.ts';
export { readInventory, inventoryFromTopology, parseInventoryCsv, parseInventoryYaml, mergeInventories, type Inventory, type InventoryEntry } from './inventory.ts';

/**
 * What enrichment the store uses, kept in `<db>/enrich/`: `inventory.json` (normalised),
 * `ip-ranges.json` (AWS's file, when given), `prices.json`, and `settings.json` (geo on/off,
 * user .mmdb files). Later ingests and `flowlens enrich --reenrich` read them from there.
 */
export const ENRICH_DIR = 'enrich';

const Settings = z.strictObject({
  enabled: z.boolean().default(true),
  geo: z.boolean().default(true),
  countryMmdb: z.string().optional(),
  asnMmdb: z.string().optional(),
});
export type EnrichSettings = z.output<typeof Settings>;

const file = (db: string, name: string) => join(db, ENRICH_DIR, name);

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** The store's enrichment settings (defaults when none were saved). */
export async function readSettings(db: string): Promise<EnrichSettings> {
  const p = file(db, 'settings.json');
  if (!existsSync(p)) return Settings.parse({});
  const r = Settings.safeParse(JSON.parse(await readFile(p, 'utf8')));
  if (!r.success) throw new UserError(`${p}: ${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}`);
  return r.data;
}

export async function saveSettings(db: string, s: Partial<EnrichSettings>): Promise<EnrichSettings> {
  const next = Settings.parse({ ...(await readSettings(db)), ...s });
  await writeAtomic(file(db, 'settings.json'), JSON.stringify(next, null, 2) + '\n');
  return next;
}

/** The inventory kept in the store (empty when none). */
export async function readStoredInventory(db: string): Promise<Inventory> {
  const p = file(db, 'inventory.json');
  if (!existsSync(p)) return EMPTY_INVENTORY;
  return validateInventory(JSON.parse(await readFile(p, 'utf8')), p);
}

/** Replaces the store's inventory. */
export async function saveInventory(db: string, inv: Inventory): Promise<void> {
  await writeAtomic(file(db, 'inventory.json'), JSON.stringify(inv, null, 1) + '\n');
}

/** Checks and copies an ip-ranges.json into the store. */
export async function installIpRanges(db: string, path: string): Promise<{ count: number; createDate?: string }> {
  const r = readIpRanges(path);
  await mkdir(join(db, ENRICH_DIR), { recursive: true });
  const target = file(db, 'ip-ranges.json');
  await copyFile(path, `${target}.tmp`);
  await rename(`${target}.tmp`, target);
  return { count: r.count, createDate: r.createDate };
}

/** Checks and copies a price table into the store. */
export async function installPrices(db: string, path: string): Promise<Record<string, number>> {
  const prices = readPrices(path);
  await writeAtomic(file(db, 'prices.json'), JSON.stringify(prices, null, 2) + '\n');
  return prices;
}

export async function readStoredPrices(db: string): Promise<Record<string, number>> {
  const p = file(db, 'prices.json');
  return existsSync(p) ? readPrices(p) : { ...DEFAULT_PRICES };
}

/**
 * The enricher for a store: its saved inventory, ip-ranges, prices and settings; undefined
 * when enrichment is switched off.
 * @example const e = await loadEnricher('./flowlens.duckdb')
 */
export async function loadEnricher(db: string, over: { inventory?: Inventory; geo?: boolean } = {}): Promise<Enricher | undefined> {
  const settings = await readSettings(db);
  if (!settings.enabled) return undefined;
  const inventory = over.inventory ?? (await readStoredInventory(db));
  const rangesPath = file(db, 'ip-ranges.json');
  const ipRanges = existsSync(rangesPath) ? readIpRanges(rangesPath) : undefined;
  const geoOn = over.geo ?? settings.geo;
  const geo = geoOn ? sharedGeo(settings) : null;
  return new Enricher({ inventory, ipRanges, geo, prices: await readStoredPrices(db) });
}

/**
 * What the store's enrichment was loaded from, as text that changes whenever one of its files
 * is replaced (they are written by rename): a long-lived writer reloads its enricher on a change.
 * @example if ((await enrichStamp(db)) !== kept) writer = await reopen()
 */
export async function enrichStamp(db: string): Promise<string> {
  const names = ['settings.json', 'inventory.json', 'ip-ranges.json', 'prices.json'];
  const times = await Promise.all(names.map((n) => stat(file(db, n)).then((s) => `${s.mtimeMs}:${s.ino}`, () => '-')));
  return times.join(' ');
}

let geoCache: { key: string; geo: GeoResolver } | undefined;

/** One resolver per process and settings: its tables take a moment to load. */
function sharedGeo(s: EnrichSettings): GeoResolver {
  const key = `${s.countryMmdb ?? ''}|${s.asnMmdb ?? ''}`;
  if (geoCache?.key !== key) geoCache = { key, geo: new GeoResolver({ countryMmdb: s.countryMmdb, asnMmdb: s.asnMmdb }) };
  return geoCache.geo;
}
