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

/*
 * Each loop over the rows is a function of its own, taking arrays, not closures or objects.
 * One function holding all of them was optimised by V8 on-stack inside its first loop, then
 * deoptimised at each later loop that had no type feedback yet, and the 262,144-row loops ran
 * in the interpreter meanwhile: measured ~0.3-0.4 s per batch for the first four batches of
 * each ingest thread, ~0.06 s after. Small functions are optimised once and stay so.
 */

/** Per row: which (segment) slot its time falls in; fills segs (segment -> slot). */
function rowSegments(bounds: readonly number[], startCol: BatchColumn | undefined, n: number, segs: Map<number, number>, segOfRow: Int32Array): void {
  const w = startCol?.i64w;
  for (let i = 0; i < n; i++) {
    const seg = !startCol ? segmentOf(bounds, 0) : isValid(startCol, i) ? segmentOf(bounds, w![2 * i] + w![2 * i + 1] * 4294967296) : bounds.length;
    let slot = segs.get(seg);
    if (slot === undefined) segs.set(seg, (slot = segs.size));
    segOfRow[i] = slot;
  }
}

/** Per row: the info slot of an address code (0 = no address) in the row's segment. */
function rowSlots(codes: Int32Array, segOfRow: Int32Array, stride: number, n: number, out: Int32Array): void {
  for (let i = 0; i < n; i++) {
    const c = codes[i];
    out[i] = c ? segOfRow[i] * stride + c : 0;
  }
}

/** The facts of each (segment, address) slot the classification reads, as small numbers. */
interface SlotFacts {
  kind: Uint8Array;
  internal: Uint8Array;
  nat: Uint8Array;
  unattributed: Uint8Array;
  account: Int32Array;
  vpcCmp: Int32Array;
  region: Int32Array;
  az: Int32Array;
  regionText: (string | undefined)[];
  awsRegionText: (string | undefined)[];
  awsServiceText: (string | undefined)[];
}

/** The classification's outputs per row, and the interners and cost codes it uses. */
interface Classified {
  direction: Int32Array;
  peer: Int32Array;
  costClass: Int32Array;
  awsService: Int32Array;
  awsRegion: Int32Array;
  serviceI: Interner;
  awsRegionI: Interner;
  withDirection: number;
  unattributedRows: number;
}

/** Cost class codes, in their interner's order. */
const [C_NAT, C_INET, C_ONPREM, C_REGION, C_AZ, C_FREE] = [1, 2, 3, 4, 5, 6];
const COST_CLASSES = ['nat-processing', 'internet-egress', 'on-prem-egress', 'inter-region', 'inter-az', 'free'];

/** Layers 1-3 for every row: direction, peer kind, AWS service and region, cost class. */
function classifyRows(
  f: SlotFacts,
  srcSlot: Int32Array,
  dstSlot: Int32Array,
  n: number,
  awsKnown: boolean,
  pktSrcCodes: Int32Array | undefined,
  pktSrcValues: readonly string[] | undefined,
  pktDstCodes: Int32Array | undefined,
  pktDstValues: readonly string[] | undefined,
  out: Classified,
): void {
  const { kind, internal, nat, unattributed, account, vpcCmp, region, az, regionText, awsRegionText, awsServiceText } = f;
  const { direction, peer, costClass, awsService, awsRegion, serviceI, awsRegionI } = out;
  let withDirection = 0;
  let unattributedRows = 0;
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
    const ps = pktSrcCodes !== undefined && pktSrcCodes[i] ? pktSrcValues![pktSrcCodes[i] - 1] : undefined;
    const pd = pktDstCodes !== undefined && pktDstCodes[i] ? pktDstValues![pktDstCodes[i] - 1] : undefined;
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
    else if (dir === D_EGRESS && pk === K_AWS && region[s] && regionOfService !== undefined && regionText[s] !== regionOfService) cc = C_REGION;
    else if (inside && region[s] && region[d] && region[s] !== region[d]) cc = C_REGION;
    else if (inside && az[s] && az[d] && az[s] !== az[d]) cc = C_AZ;
    else cc = C_FREE;
    costClass[i] = cc;
    withDirection++;
    if (((dir === D_EGRESS || inside) && unattributed[s]) || ((dir === D_INGRESS || inside) && unattributed[d])) unattributedRows++;
  }
  out.withDirection = withDirection;
  out.unattributedRows = unattributedRows;
}

/** Per row: a per-slot code through the row's slot. */
function gather(perSlot: Int32Array, slot: Int32Array, n: number): Int32Array {
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) codes[i] = perSlot[slot[i]];
  return codes;
}

/** Per row: a per-slot number through the row's slot, NULL where the slot has none. */
function gatherValid(perSlot: Int32Array, has: Uint8Array, slot: Int32Array, n: number): { data: Int32Array; valid: Uint8Array } {
  const data = new Int32Array(n);
  const valid = new Uint8Array(Math.ceil(n / 8) + 1);
  for (let i = 0; i < n; i++) {
    const k = slot[i];
    if (!has[k]) continue;
    data[i] = perSlot[k];
    valid[i >> 3] |= 1 << (i & 7);
  }
  return { data, valid };
}

/** cost_usd per row: bytes / 2^30 x the class's price. */
function costUsd(costClass: Int32Array, priceOf: Float64Array, bytes: BatchColumn, n: number): { data: Float64Array; valid: Uint8Array } {
  const data = new Float64Array(n);
  const valid = new Uint8Array(Math.ceil(n / 8) + 1);
  const bytesAll = !bytes.hasNull;
  const w = bytes.i64w!;
  for (let i = 0; i < n; i++) {
    const price = priceOf[costClass[i]];
    if (costClass[i] === 0 || Number.isNaN(price) || (!bytesAll && !isValid(bytes, i))) continue;
    // Same operations in the same order as the SQL (DOUBLE), so both give the same bits.
    data[i] = ((w[2 * i] + w[2 * i + 1] * 4294967296) * price) / 1073741824;
    valid[i >> 3] |= 1 << (i & 7);
  }
  return { data, valid };
}

/** app_port per row: a known service port wins over the other side, then the lower port. */
function appPorts(sport: BatchColumn, dport: BatchColumn, protocol: BatchColumn, known: Uint8Array, n: number): { data: Int32Array; valid: Uint8Array } {
  const data = new Int32Array(n);
  const valid = new Uint8Array(Math.ceil(n / 8) + 1);
  const portsAll = !sport.hasNull && !dport.hasNull;
  // Columns without NULLs skip the per-row validity test.
  const protoAll = !protocol.hasNull;
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
  return { data, valid };
}

const protoName = (p: number) => (p >= 0 && p <= 255 ? (PROTOCOL_NAMES[p] ?? `proto-${p}`) : undefined);

/** service per row: the IANA name of app_port, else the protocol keyword for portless protocols. */
function serviceNames(protocol: BatchColumn, appPort: { data: Int32Array; valid: Uint8Array }, portName: Map<number, string>, n: number): { codes: Int32Array; values: string[] } {
  // Codes cached by number (a table of ports per protocol seen): a string lookup per row
  // would cost more than the rest.
  const interner = new Interner();
  const byPort: (Int32Array | undefined)[] = [];
  const byKey = new Map<number, number>();
  const byProto = new Int32Array(256).fill(-1);
  const codes = new Int32Array(n);
  const protoAll = !protocol.hasNull;
  const pvs = protocol.i32;
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
  return { codes, values: interner.values };
}

/*
 * The loops over (segment, address) slots are functions of their own for the same reason as the
 * row loops: as closures made per batch they were new functions to V8 each time, and were
 * optimised anew in every batch (seen with --trace-opt: ~40 compiles each per 5 M records).
 */

/** The facts of one segment's addresses, into the slots from `base` on. */
function slotFacts(
  e: Enricher,
  values: readonly string[],
  seg: number,
  base: number,
  attributedBy: readonly ('vpc' | 'name' | 'owner')[],
  infos: AddrInfo[],
  facts: SlotFacts,
  [accountI, vpcCmpI, regionI, azI]: readonly Interner[],
): void {
  for (let c = 1; c <= values.length; c++) {
    const info = e.resolve(values[c - 1], seg);
    const k = base + c;
    infos[k] = info;
    facts.kind[k] = KIND_CODE[info.kind];
    facts.internal[k] = info.internal ? 1 : 0;
    facts.nat[k] = info.nat ? 1 : 0;
    // As unattributedSql over the stored columns: none of vpc, name, owner that the store writes.
    facts.unattributed[k] = attributedBy.some((f) => info[f] !== undefined) ? 0 : 1;
    facts.account[k] = accountI.code(info.account);
    facts.vpcCmp[k] = vpcCmpI.code(info.vpc);
    facts.region[k] = regionI.code(info.region);
    facts.az[k] = azI.code(info.az);
    facts.regionText[k] = info.region;
    facts.awsRegionText[k] = info.awsRegion;
    facts.awsServiceText[k] = info.awsService;
  }
}

/** A text fact per slot, as codes into its distinct values. */
function slotCodes(infos: readonly (AddrInfo | undefined)[], slots: number, field: keyof AddrInfo): { perSlot: Int32Array; values: string[] } {
  const interner = new Interner();
  const perSlot = new Int32Array(slots);
  for (let k = 0; k < slots; k++) {
    const info = infos[k];
    if (info) perSlot[k] = interner.code(info[field] as string | undefined);
  }
  return { perSlot, values: interner.values };
}

/** The AS number per slot, and which slots have one. */
function slotAsns(infos: readonly (AddrInfo | undefined)[], slots: number): { perSlot: Int32Array; has: Uint8Array } {
  const perSlot = new Int32Array(slots);
  const has = new Uint8Array(slots);
  for (let k = 0; k < slots; k++) {
    const v = infos[k]?.asn;
    if (v !== undefined) {
      perSlot[k] = v;
      has[k] = 1;
    }
  }
  return { perSlot, has };
}

/** protocol_name per row. */
function protocolNames(protocol: BatchColumn, n: number): { codes: Int32Array; values: string[] } {
  const interner = new Interner();
  const byProto = new Int32Array(256).fill(-1);
  const codes = new Int32Array(n);
  const protoAll = !protocol.hasNull;
  const pvs = protocol.i32;
  for (let i = 0; i < n; i++) {
    if (!protoAll && !isValid(protocol, i)) continue;
    const pv = pvs[i];
    if (pv < 0 || pv > 255) continue;
    if (byProto[pv] < 0) byProto[pv] = interner.code(protoName(pv));
    codes[i] = byProto[pv];
  }
  return { codes, values: interner.values };
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
  const stride = nv + 1;
  const bounds = e.bounds;

  // Per (segment, address): the facts the classification reads, as small numbers.
  const segs = new Map<number, number>();
  const segOfRow = new Int32Array(bounds.length ? n : 0);
  if (bounds.length) rowSegments(bounds, col('start') ?? col('end'), n, segs, segOfRow);
  else segs.set(0, 0);
  const slots = segs.size * stride;
  const facts: SlotFacts = {
    kind: new Uint8Array(slots),
    internal: new Uint8Array(slots),
    nat: new Uint8Array(slots),
    unattributed: new Uint8Array(slots),
    account: new Int32Array(slots),
    vpcCmp: new Int32Array(slots),
    region: new Int32Array(slots),
    az: new Int32Array(slots),
    regionText: new Array<string | undefined>(slots),
    awsRegionText: new Array<string | undefined>(slots),
    awsServiceText: new Array<string | undefined>(slots),
  };
  // Equality-only facts as interned ints (0 = NULL, which never compares equal or unequal).
  const accountI = new Interner();
  const vpcCmpI = new Interner();
  const regionI = new Interner();
  const azI = new Interner();
  const infos: AddrInfo[] = new Array(slots);
  const attributedBy = (['vpc', 'name', 'owner'] as const).filter((f) => (f === 'name' ? e.uses('name') || e.uses('instance') || e.uses('eni') : e.uses(f)));
  for (const [seg, slot] of segs) slotFacts(e, values, seg, slot * stride, attributedBy, infos, facts, [accountI, vpcCmpI, regionI, azI]);
  // Each row's info slot per side (0 = no address): every later loop reads these directly.
  const srcSlot = new Int32Array(n);
  const dstSlot = new Int32Array(n);
  if (bounds.length) {
    rowSlots(src.i32, segOfRow, stride, n, srcSlot);
    rowSlots(dst.i32, segOfRow, stride, n, dstSlot);
  } else {
    srcSlot.set(src.i32.subarray(0, n));
    dstSlot.set(dst.i32.subarray(0, n));
  }

  const pktSrc = col('pkt-src-aws-service');
  const pktDst = col('pkt-dst-aws-service');
  const bytes = col('bytes');
  const protocol = col('protocol');
  const sport = col('srcport');
  const dport = col('dstport');
  const awsKnown = e.knowsAws || pktSrc !== undefined || pktDst !== undefined;

  const costI = new Interner();
  for (const name of COST_CLASSES) costI.code(name);
  const priceOf = new Float64Array(costI.values.length + 1).fill(NaN);
  costI.values.forEach((name, i) => {
    const p = e.prices[name];
    if (p !== undefined) priceOf[i + 1] = Number(p);
  });
  const cls: Classified = {
    direction: new Int32Array(n),
    peer: new Int32Array(n),
    costClass: new Int32Array(n),
    awsService: new Int32Array(awsKnown ? n : 0),
    awsRegion: new Int32Array(awsKnown ? n : 0),
    serviceI: new Interner(),
    awsRegionI: new Interner(),
    withDirection: 0,
    unattributedRows: 0,
  };
  classifyRows(facts, srcSlot, dstSlot, n, awsKnown, pktSrc?.i32, pktSrc?.dict!.values, pktDst?.i32, pktDst?.dict!.values, cls);

  const out: EnrichedColumn[] = [];
  const dirValues = [...DIRECTIONS];
  const kindValues = [...KINDS];
  const cache = new Map<string, { perSlot: Int32Array; values: string[] }>();
  const sideCol = (field: keyof AddrInfo, which: 'src' | 'dst') => {
    let f = cache.get(field);
    if (!f) cache.set(field, (f = slotCodes(infos, slots, field)));
    return { codes: gather(f.perSlot, which === 'src' ? srcSlot : dstSlot, n), values: f.values };
  };
  let asnSlots: { perSlot: Int32Array; has: Uint8Array } | undefined;
  const asn = (slot: Int32Array) => {
    asnSlots ??= slotAsns(infos, slots);
    return gatherValid(asnSlots.perSlot, asnSlots.has, slot, n);
  };
  const { names: portName, known } = portTables();
  const appPort = sport !== undefined && dport !== undefined && protocol !== undefined ? appPorts(sport, dport, protocol, known, n) : undefined;

  for (const def of ENRICH_COLUMNS) {
    const c = def.column;
    switch (c) {
      case 'direction':
        out.push({ column: c, kind: 'dict', codes: cls.direction, values: dirValues });
        break;
      case 'peer_kind':
        out.push({ column: c, kind: 'dict', codes: cls.peer, values: kindValues });
        break;
      case 'cost_class':
        out.push({ column: c, kind: 'dict', codes: cls.costClass, values: costI.values });
        break;
      case 'aws_service':
        if (awsKnown) out.push({ column: c, kind: 'dict', codes: cls.awsService, values: cls.serviceI.values });
        break;
      case 'aws_region':
        if (awsKnown) out.push({ column: c, kind: 'dict', codes: cls.awsRegion, values: cls.awsRegionI.values });
        break;
      case 'cost_usd':
        if (bytes) out.push({ column: c, kind: 'double', ...costUsd(cls.costClass, priceOf, bytes, n) });
        break;
      case 'app_port':
        if (appPort) out.push({ column: c, kind: 'int', ...appPort });
        break;
      case 'service':
        if (appPort) out.push({ column: c, kind: 'dict', ...serviceNames(protocol!, appPort, portName, n) });
        break;
      case 'protocol_name':
        if (protocol) out.push({ column: c, kind: 'dict', ...protocolNames(protocol, n) });
        break;
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
  e.coverage.records += cls.withDirection;
  e.coverage.unattributed += cls.unattributedRows;
  return out;
}
