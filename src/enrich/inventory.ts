import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseCidr } from '../fabric/ip.ts';
import type { Topology } from '../fabric/model.ts';
import { UserError } from '../util/errors.ts';

/**
 * The inventory: what an address or block is (account, VPC, subnet, ENI, instance, name,
 * owner, environment, tags), optionally valid only for a time range so an address that changed
 * owners is attributed by record time. Read from YAML/JSON, CSV, a fabric topology or a folder of
 * `aws ec2 describe-*` outputs; stored normalised as JSON in `<db>/enrich/inventory.json`.
 */

/** Seconds since the epoch from an ISO date, a date-time or a number of seconds. */
const TimeDoc = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v) / 1000;
  if (!Number.isFinite(t)) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a time (ISO 8601 or unix seconds)` });
    return z.NEVER;
  }
  return Math.floor(t);
});

export const InventoryEntryDoc = z.strictObject({
  cidr: z.string().refine((c) => parseCidr(c) !== undefined, { message: 'not an address or CIDR block' }),
  kind: z.string().optional(),
  account: z.string().optional(),
  region: z.string().optional(),
  az: z.string().optional(),
  vpc: z.string().optional(),
  subnet: z.string().optional(),
  eni: z.string().optional(),
  instance: z.string().optional(),
  name: z.string().optional(),
  owner: z.string().optional(),
  env: z.string().optional(),
  aws_service: z.string().optional(),
  tags: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional(),
  valid_from: TimeDoc.optional(),
  valid_to: TimeDoc.optional(),
});

export const InventoryDoc = z.strictObject({
  /** Your networks beyond what the entries name (on-premises ranges, other clouds). */
  networks: z.array(z.string().refine((c) => parseCidr(c) !== undefined, { message: 'not a CIDR block' })).default([]),
  entries: z.array(InventoryEntryDoc).default([]),
});

export type InventoryEntry = z.output<typeof InventoryEntryDoc>;
export type Inventory = z.output<typeof InventoryDoc>;

export const EMPTY_INVENTORY: Inventory = { networks: [], entries: [] };

type PathPart = string | number;

function fail(file: string, path: readonly PathPart[], detail: string, line?: number): never {
  const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
  throw new UserError(`${file}: ${where || '(top level)'}${line ? ` (line ${line})` : ''}: ${detail}`);
}

/** Validates a parsed document; `lineOf` names the line of a path when the source has lines. */
export function validateInventory(input: unknown, file: string, lineOf: (p: PathPart[]) => number | undefined = () => undefined): Inventory {
  const doc = Array.isArray(input) ? { entries: input } : input;
  const r = InventoryDoc.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.filter((p): p is PathPart => typeof p !== 'symbol');
    fail(file, path, issue.message, lineOf(path));
  }
  r.data.entries.forEach((e, i) => {
    if (e.valid_from !== undefined && e.valid_to !== undefined && e.valid_to <= e.valid_from) {
      fail(file, ['entries', i, 'valid_to'], 'must be after valid_from', lineOf(['entries', i, 'valid_to']));
    }
  });
  return r.data;
}

/** Inventory YAML or JSON text (`{networks, entries}` or a bare list of entries). */
export function parseInventoryYaml(text: string, file: string): Inventory {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new UserError(`${file}: line ${e.linePos?.[0].line ?? lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`, { cause: e });
  }
  const js = doc.toJS() as unknown;
  const bare = Array.isArray(js);
  const lineOf = (p: PathPart[]) => {
    const path = bare ? p.slice(1) : p;
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return validateInventory(js, file, lineOf);
}

/** Splits one CSV line (RFC 4180 quoting). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const CSV_COLUMNS = new Set(Object.keys(InventoryEntryDoc.shape));

/**
 * Inventory CSV: a header naming entry fields (`cidr,name,owner,env,...`); `tag:KEY` columns
 * or a `tags` column of `k=v;k2=v2` become tags. Empty cells are absent values.
 * @example parseInventoryCsv('cidr,name\n10.0.1.5,payments-api\n', 'inv.csv')
 */
export function parseInventoryCsv(text: string, file: string): Inventory {
  const lines = text.split(/\r?\n/);
  const header = csvFields(lines[0] ?? '').map((h) => h.trim());
  header.forEach((h) => {
    if (!CSV_COLUMNS.has(h) && !h.startsWith('tag:')) throw new UserError(`${file}: line 1: unknown column "${h}" (known: ${[...CSV_COLUMNS].join(', ')}, tag:KEY)`);
  });
  if (!header.includes('cidr')) throw new UserError(`${file}: line 1: no "cidr" column`);
  const entries: unknown[] = [];
  const lineNos: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (!lines[i].trim() || lines[i].startsWith('#')) continue;
    const cells = csvFields(lines[i]);
    if (cells.length !== header.length) throw new UserError(`${file}: line ${i + 1}: ${cells.length} fields, the header has ${header.length}`);
    const e: Record<string, unknown> = {};
    const tags: Record<string, string> = {};
    header.forEach((h, k) => {
      const v = cells[k].trim();
      if (v === '') return;
      if (h.startsWith('tag:')) tags[h.slice(4)] = v;
      else if (h === 'tags') {
        for (const kv of v.split(';')) {
          const eq = kv.indexOf('=');
          if (eq > 0) tags[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
        }
      } else e[h] = v;
    });
    if (Object.keys(tags).length) e.tags = tags;
    entries.push(e);
    lineNos.push(i + 1);
  }
  return validateInventory({ entries }, file, (p) => (p[0] === 'entries' && typeof p[1] === 'number' ? lineNos[p[1]] : undefined));
}

/**
 * The inventory a fabric topology implies: VPC and subnet blocks, every ENI address (private,
 * secondary, IPv6, public) with its instance and name, and the AWS service ranges it declares.
 * @example inventoryFromTopology(await loadTopology())
 */
export function inventoryFromTopology(topo: Topology): Inventory {
  const entries: InventoryEntry[] = [];
  const tagOf = (role?: string) => (role ? { role } : undefined);
  for (const vpc of topo.vpcs) {
    const vpcName = (vpc as { name?: string }).name;
    for (const c of [...vpc.cidrs, ...(vpc.ipv6Cidr ? [vpc.ipv6Cidr] : [])]) {
      entries.push(clean({ cidr: c.text, kind: 'vpc', account: vpc.account, region: topo.region, vpc: vpc.id, name: vpcName ?? vpc.id }));
    }
    for (const s of vpc.subnets) {
      for (const c of [s.cidr, ...(s.ipv6Cidr ? [s.ipv6Cidr] : [])]) {
        entries.push(clean({ cidr: c.text, kind: 'subnet', account: vpc.account, region: topo.region, az: s.az, vpc: vpc.id, subnet: s.id }));
      }
      for (const eni of s.enis) {
        const base = {
          kind: eni.type,
          account: eni.account,
          region: topo.region,
          az: s.az,
          vpc: vpc.id,
          subnet: s.id,
          eni: eni.id,
          instance: eni.instanceId ?? eni.natGatewayId,
          name: eni.name ?? eni.role ?? eni.id,
          tags: tagOf(eni.role),
        };
        for (const a of eni.addrs) entries.push(clean({ ...base, cidr: typeof a === 'number' ? formatV4Host(a) : `${fmt6(a)}/128` }));
        if (eni.publicIp !== undefined) entries.push(clean({ ...base, cidr: formatV4Host(eni.publicIp) }));
      }
    }
  }
  for (const s of topo.awsServices) entries.push({ cidr: s.cidr.text, kind: 'aws-service', aws_service: s.service, region: topo.region, name: s.service });
  return { networks: [], entries };
}

function formatV4Host(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/32`;
}

function fmt6(v: bigint): string {
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  return g.join(':');
}

/** Drops undefined keys so the stored JSON stays small and stable. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Reads an inventory from a file or folder, deciding by content: a folder is `aws ec2
 * describe-*` output, YAML with `vpcs:` is a fabric topology, `.csv` is CSV, anything else is
 * inventory YAML/JSON.
 * @example const inv = await readInventory('./inventory.yaml')
 */
export async function readInventory(path: string): Promise<Inventory> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new UserError(`cannot read inventory ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (isDir) {
    const { loadTopology } = await import('../fabric/topology.ts');
    return inventoryFromTopology(await loadTopology(path));
  }
  const text = readFileSync(path, 'utf8');
  if (/\.csv$/i.test(path)) return parseInventoryCsv(text, path);
  if (/^vpcs\s*:/m.test(text) && !/^entries\s*:/m.test(text)) {
    const { loadTopology } = await import('../fabric/topology.ts');
    return inventoryFromTopology(await loadTopology(path));
  }
  return parseInventoryYaml(text, path);
}

/** Joins inventories (later ones win ties of the same prefix and time). */
export function mergeInventories(...invs: Inventory[]): Inventory {
  return { networks: invs.flatMap((i) => i.networks), entries: invs.flatMap((i) => i.entries) };
}
