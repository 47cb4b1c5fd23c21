import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  installIpRanges,
  installPrices,
  loadEnricher,
  mergeInventories,
  readInventory,
  readSettings,
  readStoredInventory,
  readStoredPrices,
  saveInventory,
  saveSettings,
} from '../enrich/index.ts';
import { reenrichStore } from '../enrich/reenrich.ts';
import { STORE_MARKER, ensureStore } from '../store/layout.ts';
import { UserError } from '../util/errors.ts';
import { addCommonOptions } from './main.ts';
import { renderResult, write, type OutputFormat } from './output.ts';

interface Opts {
  db: string;
  format: OutputFormat;
  inventory?: string[];
  ipRanges?: string;
  prices?: string;
  geo?: string;
  countryMmdb?: string;
  asnMmdb?: string;
  enable?: boolean;
  disable?: boolean;
  show?: boolean;
  lookup?: string[];
  at?: string;
  reenrich?: boolean;
}

/**
 * `flowlens enrich`: manage what ingest adds to each record (inventory, ip-ranges.json, prices,
 * geo/ASN) and re-enrich stored history after a change.
 */
export function define(cmd: Command): void {
  addCommonOptions(cmd)
    .option('--inventory <path...>', 'inventory: YAML/JSON or CSV file, fabric topology YAML, or a folder of aws ec2 describe-* JSON (several are merged); replaces the stored one')
    .option('--ip-ranges <file>', "AWS's ip-ranges.json (curl -O https://ip-ranges.amazonaws.com/ip-ranges.json)")
    .option('--prices <file>', 'JSON price table in USD per GB, e.g. {"internet-egress": 0.09, "inter-az": 0.01}')
    .option('--geo <on|off>', 'country and ASN columns for public addresses')
    .option('--country-mmdb <file>', 'a MaxMind/GeoLite2 country .mmdb to use instead of the shipped data')
    .option('--asn-mmdb <file>', 'a MaxMind/GeoLite2 ASN .mmdb to use instead of the shipped data')
    .option('--enable', 'enrich records at ingest (the default)')
    .option('--disable', 'store records without enrichment columns')
    .option('--show', 'print the stored inventory')
    .option('--lookup <address...>', 'print what the enrichment knows about addresses')
    .option('--at <time>', 'with --lookup: the record time (ISO 8601 or unix seconds; default now)')
    .option('--reenrich', 'rewrite stored records with the current enrichment (the default after a change)')
    .option('--no-reenrich', 'save the change without rewriting stored records')
    .action(async (opts: Opts) => {
      // Only a change makes a store; looking (--show, --lookup, the summary) needs one there.
      const changes = !!(opts.inventory?.length || opts.ipRanges || opts.prices || opts.geo !== undefined || opts.countryMmdb || opts.asnMmdb || opts.enable || opts.disable || process.argv.includes('--reenrich'));
      if (!changes && !existsSync(join(opts.db, STORE_MARKER))) {
        throw new UserError(`${opts.db}: no flowlens store here (run \`flowlens ingest --db ${opts.db} ...\` first, or give an inventory to start one)`);
      }
      await ensureStore(opts.db);
      let changed = false;
      if (opts.inventory?.length) {
        const invs = [];
        for (const p of opts.inventory) invs.push(await readInventory(p));
        const inv = mergeInventories(...invs);
        await saveInventory(opts.db, inv);
        process.stderr.write(`inventory: ${inv.entries.length} entries, ${inv.networks.length} networks saved to ${opts.db}/enrich/inventory.json\n`);
        changed = true;
      }
      if (opts.ipRanges) {
        const r = await installIpRanges(opts.db, opts.ipRanges);
        process.stderr.write(`ip-ranges: ${r.count} prefixes (created ${r.createDate ?? 'unknown'}) saved\n`);
        changed = true;
      }
      if (opts.prices) {
        await installPrices(opts.db, opts.prices);
        changed = true;
      }
      if (opts.geo !== undefined && !['on', 'off'].includes(opts.geo)) throw new UserError(`--geo: expected on or off, got "${opts.geo}"`);
      if (opts.enable && opts.disable) throw new UserError('--enable and --disable contradict each other');
      const settings: Record<string, unknown> = {};
      if (opts.geo) settings.geo = opts.geo === 'on';
      if (opts.countryMmdb) settings.countryMmdb = opts.countryMmdb;
      if (opts.asnMmdb) settings.asnMmdb = opts.asnMmdb;
      if (opts.enable) settings.enabled = true;
      if (opts.disable) settings.enabled = false;
      if (Object.keys(settings).length) {
        await saveSettings(opts.db, settings);
        changed = true;
      }
      if (opts.show) await show(opts);
      if (opts.lookup) await lookup(opts);
      const explicit = process.argv.includes('--reenrich');
      if ((changed && opts.reenrich !== false && !opts.disable) || explicit) {
        const s = await reenrichStore(opts.db);
        await write(process.stdout, renderResult({ columns: Object.keys(s), rows: [Object.values(s)] }, opts.format));
      } else if (!opts.show && !opts.lookup && !changed) {
        await showSummary(opts);
      }
    });
}

async function showSummary(opts: Opts): Promise<void> {
  const inv = await readStoredInventory(opts.db);
  const s = await readSettings(opts.db);
  const prices = await readStoredPrices(opts.db);
  const rows = [
    ['enabled', s.enabled],
    ['inventory entries', inv.entries.length],
    ['networks', inv.networks.join(' ') || '-'],
    ['geo/ASN', s.geo ? (s.countryMmdb || s.asnMmdb ? `user .mmdb (${[s.countryMmdb, s.asnMmdb].filter(Boolean).join(', ')})` : 'shipped data') : 'off'],
    ['prices (USD/GB)', Object.entries(prices).map(([k, v]) => `${k}=${v}`).join(' ')],
  ];
  await write(process.stdout, renderResult({ columns: ['setting', 'value'], rows }, opts.format));
}

async function show(opts: Opts): Promise<void> {
  const inv = await readStoredInventory(opts.db);
  const cols = ['cidr', 'kind', 'name', 'owner', 'env', 'account', 'vpc', 'subnet', 'eni', 'instance', 'tags', 'valid_from', 'valid_to'] as const;
  const time = (t?: number) => (t === undefined ? null : new Date(t * 1000).toISOString());
  const rows = inv.entries.map((e) =>
    cols.map((c) => (c === 'tags' ? (e.tags ? JSON.stringify(e.tags) : null) : c === 'valid_from' || c === 'valid_to' ? time(e[c]) : (e[c] ?? null))),
  );
  await write(process.stdout, renderResult({ columns: [...cols], rows }, opts.format));
}

async function lookup(opts: Opts): Promise<void> {
  const e = await loadEnricher(opts.db);
  if (!e) throw new UserError('enrichment is switched off for this store (flowlens enrich --enable)');
  const at = opts.at === undefined ? Date.now() / 1000 : /^\d+$/.test(opts.at) ? Number(opts.at) : Date.parse(opts.at) / 1000;
  if (!Number.isFinite(at)) throw new UserError(`--at: "${opts.at}" is not a time (ISO 8601 or unix seconds)`);
  const seg = e.bounds.filter((b) => b <= at).length;
  const keys = ['kind', 'internal', 'unattributed', 'name', 'owner', 'env', 'account', 'region', 'az', 'vpc', 'subnet', 'tags', 'awsService', 'awsRegion', 'country', 'asn', 'asName'] as const;
  const rows = (opts.lookup ?? []).map((a) => {
    const info = e.resolve(a, seg);
    return [a, ...keys.map((k) => info[k] ?? null)];
  });
  await write(process.stdout, renderResult({ columns: ['address', ...keys], rows }, opts.format));
}
