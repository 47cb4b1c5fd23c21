import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';

/**
 * USD per GB (2^30 bytes) per cost class, from AWS's public on-demand prices for us-east-1
 * as of 2026-06: first-tier internet egress, inter-AZ (charged in each direction), inter-region,
 * NAT gateway data processing, and egress over Direct Connect/VPN to on-premises. Edit with
 * `flowlens enrich --prices FILE`; the table in use is kept in `<db>/enrich/prices.json`.
 */
export const DEFAULT_PRICES = Object.freeze({
  free: 0,
  'internet-egress': 0.09,
  'inter-az': 0.01,
  'inter-region': 0.02,
  'nat-processing': 0.045,
  'on-prem-egress': 0.02,
});

export const PricesDoc = z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'cost classes are lower-case words joined by "-"'), z.number().min(0));
export type Prices = Record<string, number>;

/** Reads a price table (JSON `{"internet-egress": 0.09, ...}`), over the defaults. */
export function readPrices(path: string): Prices {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError(`${path}: cannot read a JSON price table (${(err as Error).message})`, { cause: err });
  }
  const r = PricesDoc.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new UserError(`${path}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
  }
  return { ...DEFAULT_PRICES, ...r.data };
}
