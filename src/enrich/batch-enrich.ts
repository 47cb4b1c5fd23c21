import { ENRICH_COLUMNS } from '../schema/columns.ts';
import type { BatchColumn, ColumnBatch } from '../ingest/batch.ts';
import type { AddrInfo, Enricher } from './enricher.ts';
import { portNames, PROTOCOL_NAMES, registeredPorts } from './ports.ts';

/**
 * Enrichment of a parsed batch in JS, row by row over dictionary codes: the ingest path.
 *
 * It computes exactly what `EnrichSession.select` computes in SQL (which serves re-enrich and
 * Parquet input), layer for layer: direction from both sides' facts, then the peer and its AWS
 * service, then the cost class, then the stored shape. The per-row work here is a few array
 * reads per column, where the SQL needs two joins and a stack of CASE projections: measured on
 * 1 M records, ~0.1 s against ~1.4 s. A test runs both over the same records and compares
 * every column.
 */

/** A column to stage beside the batch's own: codes into `values` (1-based, 0 = NULL) or numbers. */
export type EnrichedColumn =
  | { column: string; kind: 'dict'; codes: Int32Array; values: string[] }
  | { column: string; kind: 'int'; data: Int32Array; valid: Uint8Array }
  | { column: string; kind: 'double'; data: Float64Array; valid: Uint8Array };

/** Interns strings into 1-based codes, in order of first use. */
class Interner {
  readonly values: string[] = [];
  private codes = new Map<string, number>();
  code(v: string | undefined): number {
    if (v === undefined) return 0;
    let c = this.codes.get(v);
    if (c === undefined) {
      c = this.values.push(v);
      this.codes.set(v, c);
    }
    return c;
  }
}

// Direction, peer kind and cost class codes (1-based; 0 = NULL), in the SQL's vocabulary.
const DIRECTIONS = ['ingress', 'egress', 'internal', 'cross-vpc', 'cross-account', 'external'] as const;
const [D_INGRESS, D_EGRESS, D_INTERNAL, D_CROSS_VPC, D_CROSS_ACCOUNT, D_EXTERNAL] = [1, 2, 3, 4, 5, 6];
const KINDS = ['internet', 'aws-service', 'on-prem', 'link-local', 'internal'] as const;
const [K_INTERNET, K_AWS, K_ONPREM, K_LINKLOCAL, K_INTERNAL] = [1, 2, 3, 4, 5];
const KIND_CODE: Record<AddrInfo['kind'], number> = { internet: K_INTERNET, 'aws-service': K_AWS, 'on-prem': K_ONPREM, 'link-local': K_LINKLOCAL, internal: K_INTERNAL };

let portMap: Map<number, string> | undefined;
let knownPorts: Uint8Array | undefined;

/** (protocol << 16 | port) → IANA name, and the ports that count as services. */
function portTables(): { names: Map<number, string>; known: Uint8Array } {
  if (!portMap || !knownPorts) {
    portMap = new Map(portNames().map((p) => [(p.protocol << 16) | p.port, p.name]));
    knownPorts = new Uint8Array(65536);
    knownPorts.fill(1, 0, 1024);
    for (const p of registeredPorts()) knownPorts[p] = 1;
  }
  return { names: portMap, known: knownPorts };
}

const isValid = (c: BatchColumn | undefined, i: number) => c !== undefined && (c.valid[i >> 3] & (1 << (i & 7))) !== 0;

/** The segment of time t: how many boundaries are at or before it (as Enricher.segSql). */
function segmentOf(bounds: readonly number[], t: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Computes the enrichment columns of a batch (those the store writes for its format, in the
 * column list's order) and adds the batch to the enricher's coverage counts.
 * @example const cols = enrichBatch(enricher, batch) // [{ column: 'direction', kind: 'dict', ... }, ...]
 */
export function enrichBatch(e: Enricher, batch: ColumnBatch): EnrichedColumn[] {
  const col = (field: string) => batch.columns.find((c) => c.def.field === field);
  const src = col('srcaddr');
  const dst = col('dstaddr');
  if (!src || !dst) return [];
  const n = batch.length;
  const values = src.dict!.values;
  const nv = values.length;
  const startCol = col('start') ?? col('end');
  const bounds = e.bounds;

  // Per (segment, address): the facts the classification reads, as small numbers.
  const segs = new Map<number, number>();
  const segOfRow = new Int32Array(bounds.length ? n : 0);
  if (bounds.length) {
    for (let i = 0; i < n; i++) {
      const seg = !startCol ? segmentOf(bounds, 0) : isValid(startCol, i) ? segmentOf(bounds, startCol.i64w![2 * i] + startCol.i64w![2 * i + 1] * 4294967296) : bounds.length;
      let slot = segs.get(seg);
      if (slot === undefined) segs.set(seg, (slot = segs.size));
      segOfRow[i] = slot;
    }
  } else segs.set(0, 0);
  const slots = segs.size * (nv + 1);
  const kind = new Uint8Array(slots);
  const internal = new Uint8Array(slots);
  const nat = new Uint8Array(slots);
  const unattributed = new Uint8Array(slots);
  // Equality-only facts as interned ints (0 = NULL, which never compares equal or unequal).
  const accountI = new Interner();
  const vpcCmpI = new Interner();
  const regionI = new Interner();
  const azI = new Interner();
  const account = new Int32Array(slots);
  const vpcCmp = new Int32Array(slots);
  const region = new Int32Array(slots);
  const az = new Int32Array(slots);
  const awsRegionText: (string | undefined)[] = new Array(slots);
  const awsServiceText: (string | undefined)[] = new Array(slots);
  const infos: AddrInfo[] = new Array(slots);
  const attributedBy = (['vpc', 'name', 'owner'] as const).filter((f) => (f === 'name' ? e.uses('name') || e.uses('instance') || e.uses('eni') : e.uses(f)));
  for (const [seg, slot] of segs) {
    for (let c = 1; c <= nv; c++) {
      const info = e.resolve(values[c - 1], seg);
      const k = slot * (nv + 1) + c;
      infos[k] = info;
      kind[k] = KIND_CODE[info.kind];
      internal[k] = info.internal ? 1 : 0;
      nat[k] = info.nat ? 1 : 0;
      // As unattributedSql over the stored columns: none of vpc, name, owner that the store writes.
      unattributed[k] = attributedBy.some((f) => info[f] !== undefined) ? 0 : 1;
      account[k] = accountI.code(info.account);
      vpcCmp[k] = vpcCmpI.code(info.vpc);
      region[k] = regionI.code(info.region);
      az[k] = azI.code(info.az);
      awsRegionText[k] = info.awsRegion;
      awsServiceText[k] = info.awsService;
    }
  }
  // Each row's info slot per side (0 = no address): every later loop reads these directly.
  const srcSlot = new Int32Array(n);
  const dstSlot = new Int32Array(n);
  {
    const sc = src.i32;
    const dc = dst.i32;
    if (bounds.length) {
      for (let i = 0; i < n; i++) {
        const base = segOfRow[i] * (nv + 1);
        srcSlot[i] = sc[i] ? base + sc[i] : 0;
        dstSlot[i] = dc[i] ? base + dc[i] : 0;
      }
    } else {
      srcSlot.set(sc.subarray(0, n));
      dstSlot.set(dc.subarray(0, n));
    }
  }

  const pktSrc = col('pkt-src-aws-service');
  const pktDst = col('pkt-dst-aws-service');
  const bytes = col('bytes');
  const protocol = col('protocol');
  const sport = col('srcport');
  const dport = col('dstport');
  const ports = sport !== undefined && dport !== undefined && protocol !== undefined;
  const awsKnown = e.knowsAws || pktSrc !== undefined || pktDst !== undefined;

  const direction = new Int32Array(n);
  const peer = new Int32Array(n);
  const costClass = new Int32Array(n);
  const awsService = new Int32Array(awsKnown ? n : 0);
  const awsRegion = new Int32Array(awsKnown ? n : 0);
  const serviceI = new Interner();
  const awsRegionI = new Interner();
  const costI = new Interner();
  const costCode = (name: string) => costI.code(name);
  const C_NAT = costCode('nat-processing');
  const C_INET = costCode('internet-egress');
  const C_ONPREM = costCode('on-prem-egress');
  const C_REGION = costCode('inter-region');
  const C_AZ = costCode('inter-az');
  const C_FREE = costCode('free');
  const priceOf = new Float64Array(costI.values.length + 1).fill(NaN);
  costI.values.forEach((name, i) => {
    const p = e.prices[name];
    if (p !== undefined) priceOf[i + 1] = Number(p);
  });
  let withDirection = 0;
  let unattributedRows = 0;

  const pktSrcCodes = pktSrc?.i32;
  const pktDstCodes = pktDst?.i32;
  for (let i = 0; i < n; i++) {
    const s = srcSlot[i];
    const d = dstSlot[i];
    if (s === 0 || d === 0) continue;
    // Layer 1: direction relative to our networks.
    let dir: number;
    if (internal[s] && internal[d]) {
      dir = account[s] && account[d] && account[s] !== account[d] ? D_CROSS_ACCOUNT : vpcCmp[s] && vpcCmp[d] && vpcCmp[s] !== vpcCmp[d] ? D_CROSS_VPC : D_INTERNAL;
    } else dir = internal[s] ? D_EGRESS : internal[d] ? D_INGRESS : D_EXTERNAL;
    direction[i] = dir;
    const inside = dir === D_INTERNAL || dir === D_CROSS_VPC || dir === D_CROSS_ACCOUNT;
    const ps = pktSrcCodes !== undefined && pktSrcCodes[i] ? pktSrc!.dict!.values[pktSrcCodes[i] - 1] : undefined;
    const pd = pktDstCodes !== undefined && pktDstCodes[i] ? pktDst!.dict!.values[pktDstCodes[i] - 1] : undefined;
    // Layer 2: the peer (the side that is not ours), its AWS service and region.
    let pk: number;
    if (kind[s] === K_LINKLOCAL || kind[d] === K_LINKLOCAL) pk = K_LINKLOCAL;
    else if (dir === D_INGRESS) pk = ps !== undefined ? K_AWS : kind[s];
    else if (inside) pk = kind[s] === K_ONPREM || kind[d] === K_ONPREM ? K_ONPREM : K_INTERNAL;
    else pk = pd !== undefined ? K_AWS : kind[d];
    peer[i] = pk;
    let regionOfService: string | undefined;
    if (awsKnown) {
      if (dir === D_INGRESS) {
        awsService[i] = serviceI.code(ps ?? awsServiceText[s]);
        regionOfService = awsRegionText[s];
      } else if (!inside) {
        awsService[i] = serviceI.code(pd ?? awsServiceText[d]);
        regionOfService = awsRegionText[d];
      }
      awsRegion[i] = awsRegionI.code(regionOfService);
    } else if (dir === D_INGRESS) regionOfService = awsRegionText[s];
    else if (!inside) regionOfService = awsRegionText[d];
    // Layer 3: the cost class.
    let cc: number;
    if ((nat[s] || nat[d]) && inside) cc = C_NAT;
    else if (dir === D_EGRESS && pk === K_INTERNET) cc = C_INET;
    else if (kind[s] === K_INTERNAL && kind[d] === K_ONPREM) cc = C_ONPREM;
    else if (dir === D_EGRESS && pk === K_AWS && region[s] && regionOfService !== undefined && infos[s].region !== regionOfService) cc = C_REGION;
    else if (inside && region[s] && region[d] && region[s] !== region[d]) cc = C_REGION;
    else if (inside && az[s] && az[d] && az[s] !== az[d]) cc = C_AZ;
    else cc = C_FREE;
    costClass[i] = cc;
    withDirection++;
    if (((dir === D_EGRESS || inside) && unattributed[s]) || ((dir === D_INGRESS || inside) && unattributed[d])) unattributedRows++;
  }
  void D_EXTERNAL;

  const out: EnrichedColumn[] = [];
  const dirValues = [...DIRECTIONS];
  const kindValues = [...KINDS];
  const fieldCols = (field: keyof AddrInfo) => {
    const interner = new Interner();
    const perSlot = new Int32Array(slots);
    for (let k = 0; k < slots; k++) if (infos[k]) perSlot[k] = interner.code(infos[k][field] as string | undefined);
    const side = (slot: Int32Array) => {
      const codes = new Int32Array(n);
      for (let i = 0; i < n; i++) codes[i] = perSlot[slot[i]];
      return codes;
    };
    return { src: side(srcSlot), dst: side(dstSlot), values: interner.values };
  };
  const cache = new Map<string, { src: Int32Array; dst: Int32Array; values: string[] }>();
  const sideCol = (field: keyof AddrInfo, which: 'src' | 'dst') => {
    let f = cache.get(field);
    if (!f) cache.set(field, (f = fieldCols(field)));
    return { codes: f[which], values: f.values };
  };
  let asnSlots: { perSlot: Int32Array; has: Uint8Array } | undefined;
  const asn = (slot: Int32Array) => {
    if (!asnSlots) {
      asnSlots = { perSlot: new Int32Array(slots), has: new Uint8Array(slots) };
      for (let k = 0; k < slots; k++) {
        const v = infos[k]?.asn;
        if (v !== undefined) {
          asnSlots.perSlot[k] = v;
          asnSlots.has[k] = 1;
        }
      }
    }
    const { perSlot, has } = asnSlots;
    const data = new Int32Array(n);
    const valid = new Uint8Array(Math.ceil(n / 8) + 1);
    for (let i = 0; i < n; i++) {
      const k = slot[i];
      if (!has[k]) continue;
      data[i] = perSlot[k];
      valid[i >> 3] |= 1 << (i & 7);
    }
    return { data, valid };
  };
  const { names: portName, known } = portTables();
  // Columns without NULLs skip the per-row validity test.
  const protoAll = protocol !== undefined && !protocol.hasNull;
  let appPort: { data: Int32Array; valid: Uint8Array } | undefined;
  if (ports) {
    const data = new Int32Array(n);
    const valid = new Uint8Array(Math.ceil(n / 8) + 1);
    const portsAll = !sport.hasNull && !dport.hasNull;
    const sp = sport.i32;
    const dp = dport.i32;
    const pvs = protocol.i32;
    for (let i = 0; i < n; i++) {
      if (!portsAll && (!isValid(sport, i) || !isValid(dport, i))) continue;
      const pv = protoAll || isValid(protocol, i) ? pvs[i] : -1;
      if (pv !== -1 && pv !== 6 && pv !== 17 && pv !== 132) continue;
      const a = sp[i];
      const b = dp[i];
      const ka = a >= 0 && a < 65536 && known[a] === 1;
      const kb = b >= 0 && b < 65536 && known[b] === 1;
      data[i] = kb && !ka ? b : ka && !kb ? a : Math.min(a, b);
      valid[i >> 3] |= 1 << (i & 7);
    }
    appPort = { data, valid };
  }
  const protoName = (p: number) => (p >= 0 && p <= 255 ? (PROTOCOL_NAMES[p] ?? `proto-${p}`) : undefined);

  for (const def of ENRICH_COLUMNS) {
    const c = def.column;
    switch (c) {
      case 'direction':
        out.push({ column: c, kind: 'dict', codes: direction, values: dirValues });
        break;
      case 'peer_kind':
        out.push({ column: c, kind: 'dict', codes: peer, values: kindValues });
        break;
      case 'cost_class':
        out.push({ column: c, kind: 'dict', codes: costClass, values: costI.values });
        break;
      case 'aws_service':
        if (awsKnown) out.push({ column: c, kind: 'dict', codes: awsService, values: serviceI.values });
        break;
      case 'aws_region':
        if (awsKnown) out.push({ column: c, kind: 'dict', codes: awsRegion, values: awsRegionI.values });
        break;
      case 'cost_usd': {
        if (!bytes) break;
        const data = new Float64Array(n);
        const valid = new Uint8Array(Math.ceil(n / 8) + 1);
        const bytesAll = !bytes.hasNull;
        for (let i = 0; i < n; i++) {
          const price = priceOf[costClass[i]];
          if (costClass[i] === 0 || Number.isNaN(price) || (!bytesAll && !isValid(bytes, i))) continue;
          // Same operations in the same order as the SQL (DOUBLE), so both give the same bits.
          data[i] = ((bytes.i64w![2 * i] + bytes.i64w![2 * i + 1] * 4294967296) * price) / 1073741824;
          valid[i >> 3] |= 1 << (i & 7);
        }
        out.push({ column: c, kind: 'double', data, valid });
        break;
      }
      case 'app_port':
        if (appPort) out.push({ column: c, kind: 'int', ...appPort });
        break;
      case 'service': {
        if (!appPort) break;
        // Codes cached by number (a table of ports per protocol seen): a string lookup per
        // row would cost more than the rest.
        const interner = new Interner();
        const byPort: (Int32Array | undefined)[] = [];
        const byKey = new Map<number, number>();
        const byProto = new Int32Array(256).fill(-1);
        const codes = new Int32Array(n);
        const pvs = protocol!.i32;
        const ap = appPort.data;
        const apValid = appPort.valid;
        for (let i = 0; i < n; i++) {
          if (!protoAll && !isValid(protocol, i)) continue;
          const pv = pvs[i];
          if (apValid[i >> 3] & (1 << (i & 7))) {
            const port = ap[i];
            let code: number;
            if (pv >= 0 && pv <= 255 && port >= 0 && port <= 65535) {
              const t = (byPort[pv] ??= new Int32Array(65536).fill(-1));
              code = t[port];
              if (code < 0) code = t[port] = interner.code(portName.get((pv << 16) | port));
            } else {
              const key = pv * 65536 + port;
              const known = byKey.get(key);
              if (known === undefined) byKey.set(key, (code = interner.code(portName.get((pv << 16) | port))));
              else code = known;
            }
            codes[i] = code;
          } else if (pv >= 0 && pv <= 255) {
            if (byProto[pv] < 0) byProto[pv] = interner.code(protoName(pv));
            codes[i] = byProto[pv];
          }
        }
        out.push({ column: c, kind: 'dict', codes, values: interner.values });
        break;
      }
      case 'protocol_name': {
        if (!protocol) break;
        const interner = new Interner();
        const byProto = new Int32Array(256).fill(-1);
        const codes = new Int32Array(n);
        const pvs = protocol.i32;
        for (let i = 0; i < n; i++) {
          if (!protoAll && !isValid(protocol, i)) continue;
          const pv = pvs[i];
          if (pv < 0 || pv > 255) continue;
          if (byProto[pv] < 0) byProto[pv] = interner.code(protoName(pv));
          codes[i] = byProto[pv];
        }
        out.push({ column: c, kind: 'dict', codes, values: interner.values });
        break;
      }
      default: {
        const m = /^(src|dst)_(name|owner|env|vpc|subnet|tags|country|asn|as_name)$/.exec(c);
        if (!m) break;
        const which = m[1] as 'src' | 'dst';
        const f = m[2];
        const side = which === 'src' ? srcSlot : dstSlot;
        if (f === 'country' || f === 'as_name' || f === 'asn') {
          if (!e.config.geo) break;
          if (f === 'asn') out.push({ column: c, kind: 'int', ...asn(side) });
          else out.push({ column: c, kind: 'dict', ...sideCol(f === 'country' ? 'country' : 'asName', which) });
          break;
        }
        const used = f === 'name' ? e.uses('name') || e.uses('instance') || e.uses('eni') : e.uses(f);
        if (used) out.push({ column: c, kind: 'dict', ...sideCol(f as keyof AddrInfo, which) });
      }
    }
  }
  e.coverage.records += withDirection;
  e.coverage.unattributed += unattributedRows;
  return out;
}
