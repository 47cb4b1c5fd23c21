import { parseCidr, parseIp, type Ip } from '../fabric/ip.ts';

/**
 * Longest-prefix lookup over CIDR blocks of both families, with optional validity times: a
 * block applies to a record whose time t satisfies valid_from <= t < valid_to. Lookups are per
 * distinct address (a chunk has thousands, not millions), so a map per prefix length is enough.
 * @example new PrefixTable([{cidr: '10.0.0.0/16', value: 'a'}]).lookup('10.0.3.4', 0) // 'a'
 */
export class PrefixTable<T> {
  /** Per family, prefix lengths present, longest first; per length, network → candidates. */
  private v4 = new Map<number, Map<number, Item<T>[]>>();
  private v6 = new Map<number, Map<bigint, Item<T>[]>>();
  private lengths4: number[] = [];
  private lengths6: number[] = [];
  readonly size: number;

  constructor(items: readonly { cidr: string; value: T; from?: number; to?: number }[]) {
    items.forEach((it, order) => {
      const c = parseCidr(it.cidr);
      if (!c) return;
      const item: Item<T> = { value: it.value, from: it.from ?? -Infinity, to: it.to ?? Infinity, order };
      if (c.family === 4) push(this.v4, c.prefix, c.first as number, item);
      else push(this.v6, c.prefix, c.first as bigint, item);
    });
    this.lengths4 = [...this.v4.keys()].sort((a, b) => b - a);
    this.lengths6 = [...this.v6.keys()].sort((a, b) => b - a);
    this.size = items.length;
  }

  /** The value of the longest block containing `address` valid at time `t` (unix seconds). */
  lookup(address: string, t: number): T | undefined {
    const ip = parseIp(address);
    return ip === undefined ? undefined : this.lookupIp(ip, t);
  }

  lookupIp(ip: Ip, t: number): T | undefined {
    if (typeof ip === 'number') {
      for (const len of this.lengths4) {
        const size = 2 ** (32 - len);
        const hit = pick(this.v4.get(len)!.get(Math.floor(ip / size) * size), t);
        if (hit) return hit.value;
      }
      return undefined;
    }
    for (const len of this.lengths6) {
      const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
      const hit = pick(this.v6.get(len)!.get(ip & mask), t);
      if (hit) return hit.value;
    }
    return undefined;
  }

  /** Every validity boundary (valid_from and valid_to values), sorted: where answers may change. */
  boundaries(): number[] {
    const s = new Set<number>();
    for (const m of [...this.v4.values(), ...this.v6.values()]) {
      for (const list of m.values()) for (const it of list) for (const b of [it.from, it.to]) if (Number.isFinite(b)) s.add(b);
    }
    return [...s].sort((a, b) => a - b);
  }
}

interface Item<T> {
  value: T;
  from: number;
  to: number;
  order: number;
}

function push<K>(m: Map<number, Map<K, Item<unknown>[]>>, len: number, key: K, item: Item<unknown>): void {
  let byKey = m.get(len);
  if (!byKey) m.set(len, (byKey = new Map()));
  const list = byKey.get(key);
  if (list) list.push(item);
  else byKey.set(key, [item]);
}

/** Among blocks of one length and network, the one valid at t (the later-listed wins a tie). */
function pick<T>(list: Item<T>[] | undefined, t: number): Item<T> | undefined {
  if (!list) return undefined;
  let best: Item<T> | undefined;
  for (const it of list) if (t >= it.from && t < it.to && (!best || it.order > best.order)) best = it;
  return best;
}
