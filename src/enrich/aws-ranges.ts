import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError, jsonError } from '../util/errors.ts';
import { PrefixTable } from './prefix-table.ts';

/**
 * AWS's published address ranges (`https://ip-ranges.amazonaws.com/ip-ranges.json`): service
 * and region of an AWS address. No npm package ships a dated copy, so the user fetches it
 * (`curl -O https://ip-ranges.amazonaws.com/ip-ranges.json`) and passes `--ip-ranges FILE`;
 * the file is then kept in the store folder.
 */

const IpRangesDoc = z.object({
  syncToken: z.string().optional(),
  createDate: z.string().optional(),
  prefixes: z.array(z.object({ ip_prefix: z.string(), region: z.string(), service: z.string() })),
  ipv6_prefixes: z.array(z.object({ ipv6_prefix: z.string(), region: z.string(), service: z.string() })).default([]),
});

export interface AwsRange {
  service: string;
  region: string;
}

export interface AwsRanges {
  createDate?: string;
  table: PrefixTable<AwsRange>;
  count: number;
}

/**
 * Parses ip-ranges.json. The file lists a block under `AMAZON` and again under its specific
 * service; the specific one is listed last per block so it wins the longest-prefix tie.
 * @example parseIpRanges(readFileSync('ip-ranges.json', 'utf8'), 'ip-ranges.json')
 */
export function parseIpRanges(text: string, file: string): AwsRanges {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw jsonError(file, text, err);
  }
  const r = IpRangesDoc.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new UserError(`${file}: ${i.path.join('.') || '(top level)'}: ${i.message} (expected AWS's ip-ranges.json)`);
  }
  const items = [
    ...r.data.prefixes.map((p) => ({ cidr: p.ip_prefix, value: { service: p.service, region: p.region } })),
    ...r.data.ipv6_prefixes.map((p) => ({ cidr: p.ipv6_prefix, value: { service: p.service, region: p.region } })),
  ];
  // AMAZON is the umbrella entry: sorting it first lets a specific service win the tie.
  items.sort((a, b) => Number(b.value.service === 'AMAZON') - Number(a.value.service === 'AMAZON'));
  return { createDate: r.data.createDate, table: new PrefixTable(items), count: items.length };
}

/** Reads an ip-ranges.json file. */
export function readIpRanges(path: string): AwsRanges {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseIpRanges(text, path);
}
