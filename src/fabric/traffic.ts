import { AddrTable, FlowTable, HopClasses } from './flow-table.ts';
import type { Ip } from './ip.ts';
import type { Topology } from './model.ts';
import { PortRole, traceConnection, type Hop, type Trace } from './policy.ts';
import { hashString } from './prng.ts';
import type { TopologyTimeline } from './timeline.ts';

/** How a TCP connection ends. */
export const enum Close {
  /** Both sides send FIN (tcp-flags 1). */
  Fin = 0,
  /** The client aborts with RST (4). */
  ClientRst = 1,
  /** The server answers or aborts with RST (4). */
  ServerRst = 2,
  /** Still open when the emulation ends (no FIN). */
  Open = 3,
  /** The far end never answers (a dead host, a filtered port): SYN retries only. */
  NoAnswer = 4,
}

/** A hop compiled for the hot loop: ids and codes instead of objects. */
interface CHop {
  /** Window class: 0 = the 60 s table, 1 = the 600 s table. */
  cls: number;
  /** Hop class (what the record shows besides ports and counts), its key class and interface. */
  hc: number;
  kc: number;
  eni: number;
  srcRole: PortRole;
  dstRole: PortRole;
  /** The classes' epoch `hc` belongs to. */
  epoch: number;
  /** What the class is made of, to intern the hop again after the classes were cleared. */
  v: Parameters<HopClasses['intern']>;
}

interface Compiled {
  unlogged: boolean;
  fwd: CHop[];
  rev: CHop[];
  fwdDelivered: boolean;
  revDelivered: boolean;
}

// Header sizes of the packets the driver adds around the payload (IPv4 + TCP with options).
const SYN_BYTES = 60;
const ACK_BYTES = 52;

/** A connection still sending in a later tick. */
interface Conn {
  c: Compiled;
  /** Topology version the trace was made with. */
  vi: number;
  src: Ip;
  dst: Ip;
  icmpType: number;
  proto: number;
  clientPort: number;
  serverPort: number;
  natPort: number;
  t0: number;
  t1: number;
  /** 0 full exchange, 1 SYNs only (no reply), 2 SYNs and SYN-ACKs (reply rejected). */
  mode: number;
  up: number;
  upBytes: number;
  down: number;
  downBytes: number;
  close: Close;
  retries: number;
}

/**
 * The traffic driver: scenarios open connections, the driver asks the policy engine what each
 * interface sees and decides, and aggregates packets into per-interface records, one 60 s tick
 * at a time. Interfaces of Nitro instances always aggregate over 60 s (as AWS does); others use
 * the flow log's interval.
 * @example d.tcp(t, client, server, 443, 2.5, 10, 1200, 12, 48000)
 */
export class TrafficDriver {
  readonly addrs = new AddrTable();
  /** [60 s table, interval table]. */
  readonly classes = new HopClasses();
  readonly tables: [FlowTable, FlowTable] = [new FlowTable(this.classes, 1 << 14), new FlowTable(this.classes, 1 << 14)];
  readonly serviceNames: string[] = [''];
  /** Window class of each interface. */
  readonly eniClass: Uint8Array;
  tickStart = 0;
  tickEnd = 0;
  connections = 0;
  private cache = new CompileCache();
  /** Reused for connections that end inside the current tick (no allocation for most). */
  private scratch: Conn = { c: undefined as unknown as Compiled, vi: 0, src: 0, dst: 0, icmpType: 0, proto: 0, clientPort: 0, serverPort: 0, natPort: 0, t0: 0, t1: 0, mode: 0, up: 0, upBytes: 0, down: 0, downBytes: 0, close: Close.Fin, retries: 0 };
  private pending: Conn[] = [];
  private ephemeral = new EphemeralPorts();
  private natCounter = 0;
  /** Per topology version, each port's class: ports between two network ACL boundaries are judged alike. */
  private portClasses: Uint16Array[];

  constructor(
    readonly timeline: TopologyTimeline,
    readonly interval: 60 | 600,
  ) {
    const base = timeline.base;
    this.eniClass = Uint8Array.from(base.enis.map((e) => (interval === 60 || e.nitro ? 0 : 1)));
    for (const s of base.awsServices) this.serviceIndex(s.service);
    this.portClasses = timeline.versions.map((v) => portClasses(portBreakpoints(v.topo)));
  }

  private serviceIndex(name: string | undefined): number {
    if (name === undefined) return 0;
    let i = this.serviceNames.indexOf(name);
    if (i < 0) {
      i = this.serviceNames.length;
      this.serviceNames.push(name);
    }
    return i;
  }

  get topology(): Topology {
    return this.timeline.base;
  }

  /** Starts a tick: replays connections carried over from earlier ticks. */
  beginTick(start: number, end: number): void {
    this.tickStart = start;
    this.tickEnd = end;
    const carried = this.pending;
    this.pending = [];
    for (const c of carried) this.emit(c);
  }

  /** An ephemeral source port, in Linux's range, per client address. */
  ephemeralPort(src: Ip): number {
    let p = this.ephemeral.get(src);
    if (p === undefined) p = 32768 + (hashString(String(src))[0] % 28232);
    p = p >= 60999 ? 32768 : p + 1;
    this.ephemeral.set(src, p);
    return p;
  }

  private compile(vi: number, src: Ip, dst: Ip, proto: number, sport: number, dport: number, icmpType: number, natPort: number, tracked = false): Compiled {
    const pc = this.portClasses[vi];
    // Ports between two network ACL boundaries are judged alike, so they share one trace.
    const ports = (((vi * 2 + (tracked ? 1 : 0)) * 65536 + pc[sport]) * 65536 + pc[natPort]) * 256 + icmpType;
    const pd = proto * 65536 + dport;
    let c = this.cache.get(src, dst, pd, ports);
    if (c) return c;
    const topo = this.timeline.versions[vi].topo;
    const icmp = proto === 1 || proto === 58;
    const t = traceConnection(topo, { src, dst, protocol: proto, srcPort: sport, dstPort: dport, icmpType: icmp ? icmpType : undefined, icmpCode: icmp ? 0 : undefined }, natPort, tracked);
    c = {
      unlogged: t.forward.unlogged,
      fwd: this.compileHops(t.forward, proto),
      rev: t.reverse ? this.compileHops(t.reverse, proto) : [],
      fwdDelivered: t.forward.delivered,
      revDelivered: t.reverse?.delivered ?? false,
    };
    this.cache.set(src, dst, pd, ports, c);
    return c;
  }

  private compileHops(t: Trace, proto: number): CHop[] {
    const addrs = this.addrs;
    return t.hops.map((h: Hop) => {
      const c: CHop = {
        cls: this.eniClass[h.eni.index],
        hc: 0,
        kc: 0,
        eni: h.eni.index,
        srcRole: h.srcPortRole,
        dstRole: h.dstPortRole,
        epoch: -1,
        v: [
          h.eni.index,
          addrs.id(h.srcaddr),
          addrs.id(h.dstaddr),
          addrs.id(h.pktSrcaddr),
          addrs.id(h.pktDstaddr),
          proto,
          h.decision.action === 'ACCEPT' ? 0 : 1,
          h.direction === 'egress' ? 1 : 0,
          h.trafficPath,
          this.serviceIndex(h.pktSrcService),
          this.serviceIndex(h.pktDstService),
          h.decision.rejectReason === 'BPA' ? 1 : 0,
          typeof h.srcaddr === 'bigint',
        ],
      };
      this.intern(c);
      return c;
    });
  }

  private intern(c: CHop): void {
    c.hc = this.classes.intern(...c.v);
    c.kc = this.classes.key(c.hc);
    c.epoch = this.classes.epoch;
  }

  /**
   * Bounds the hop classes over a long run: once past a limit, and only while both tables are
   * empty (right after windows closed), classes and compiled traces are dropped and the traces
   * of connections still open are interned again.
   */
  compact(limit = 1 << 18): void {
    const busy = (t: FlowTable) => t.size > 0 || t.queued > 0;
    if (this.classes.size < limit || busy(this.tables[0]) || busy(this.tables[1])) return;
    this.classes.clear();
    this.cache.clear();
    const again = (c: Compiled) => {
      for (const h of c.fwd) if (h.epoch !== this.classes.epoch) this.intern(h);
      for (const h of c.rev) if (h.epoch !== this.classes.epoch) this.intern(h);
    };
    for (const k of this.pending) again(k.c);
    for (const e of this.tracked.values()) again(e.c);
  }

  /**
   * A TCP connection: handshake, `up`/`down` payload packets spread over `dur` seconds, then
   * FIN or RST. A rejected SYN is retried `retries` times (1, 2, 4, ... s apart) and never answered.
   * @example d.tcp(t, ip('198.51.100.7'), ip('192.0.2.10'), 443, 3, 8, 900, 10, 24000)
   */
  tcp(t0: number, src: Ip, dst: Ip, dport: number, dur: number, up: number, upBytes: number, down: number, downBytes: number, close: Close = Close.Fin, retries = 6, sport = 0): void {
    this.open(t0, src, dst, 6, sport, dport, 0, dur, up, upBytes, down, downBytes, close, retries);
  }

  /** A UDP exchange: `up` request packets and, when the reply gets through, `down` replies. */
  udp(t0: number, src: Ip, dst: Ip, sport: number, dport: number, dur: number, up: number, upBytes: number, down: number, downBytes: number): void {
    this.open(t0, src, dst, 17, sport, dport, 0, dur, up, upBytes, down, downBytes, Close.Fin, 0);
  }

  /** ICMP echo: `count` requests of `size` bytes and their replies. */
  ping(t0: number, src: Ip, dst: Ip, count: number, size = 84, dur = count - 1): void {
    const v6 = typeof src === 'bigint';
    this.open(t0, src, dst, v6 ? 58 : 1, 0, 0, v6 ? 128 : 8, dur, count, count * size, count, count * size, Close.Fin, 0);
  }

  /** Any protocol number without ports (GRE, ESP, ...), one way. */
  other(t0: number, src: Ip, dst: Ip, proto: number, dur: number, packets: number, bytes: number): void {
    this.open(t0, src, dst, proto, 0, 0, 0, dur, packets, bytes, 0, 0, Close.Fin, 0);
  }

  private open(t0: number, src: Ip, dst: Ip, proto: number, sport: number, dport: number, icmpType: number, dur: number, up: number, upBytes: number, down: number, downBytes: number, close: Close, retries: number): void {
    this.connections++;
    const ported = proto === 6 || proto === 17;
    if (ported && sport === 0) sport = this.ephemeralPort(src);
    const natPort = 1024 + (this.natCounter++ % 64512);
    const vi = this.timeline.indexAt(t0);
    const c = this.compile(vi, src, dst, proto, ported ? sport : 0, ported ? dport : 0, icmpType, natPort);
    if (c.unlogged) return;
    let mode = 0;
    let t1 = t0 + Math.max(0, dur);
    if (proto === 6 && (!c.fwdDelivered || !c.revDelivered || close === Close.NoAnswer)) {
      mode = c.fwdDelivered && c.revDelivered ? 1 : c.fwdDelivered ? 2 : 1;
      t1 = t0 + 2 ** retries - 1;
    }
    if (t0 >= this.tickEnd || t1 >= this.tickEnd) {
      this.emit({ c, vi, src, dst, icmpType, proto, clientPort: sport, serverPort: dport, natPort, t0, t1, mode, up, upBytes, down, downBytes, close, retries });
      return;
    }
    const k = this.scratch;
    k.c = c;
    k.vi = vi;
    k.src = src;
    k.dst = dst;
    k.icmpType = icmpType;
    k.proto = proto;
    k.clientPort = sport;
    k.serverPort = dport;
    k.natPort = natPort;
    k.t0 = t0;
    k.t1 = t1;
    k.mode = mode;
    k.up = up;
    k.upBytes = upBytes;
    k.down = down;
    k.downBytes = downBytes;
    k.close = close;
    k.retries = retries;
    this.emit(k);
  }

  /** Adds the part of a connection inside the current tick; keeps it for later ticks if it goes on. */
  private emit(k: Conn): void {
    const a = this.tickStart;
    const b = this.tickEnd;
    if (k.t0 >= b) {
      this.pending.push(k);
      return;
    }
    if (k.t1 >= b) this.pending.push(k);
    if (k.t0 < a && k.mode === 0) {
      // Network ACLs are stateless: a change judges packets of open connections too, while
      // security groups keep tracking them.
      const vi = this.timeline.indexAt(a);
      if (vi !== k.vi) {
        const ported = k.proto === 6 || k.proto === 17;
        k.c = this.compile(vi, k.src, k.dst, k.proto, ported ? k.clientPort : 0, ported ? k.serverPort : 0, k.icmpType, k.natPort, true);
        k.vi = vi;
      }
    }
    const c = k.c;
    if (k.mode !== 0) {
      // SYN retransmissions at t0, t0+1, t0+3, t0+7, ... (doubling back-off).
      let n = 0;
      let first = -1;
      let last = 0;
      for (let i = 0; i <= k.retries; i++) {
        const t = k.t0 + 2 ** i - 1;
        if (t >= a && t < b) {
          if (first < 0) first = t;
          last = t;
          n++;
        }
      }
      if (n === 0) return;
      // start and end are whole Unix seconds, as for the data path (Math.floor below).
      first = Math.floor(first);
      last = Math.floor(last);
      this.hops(c.fwd, k, n, n * SYN_BYTES, first, last, 2);
      if (k.mode === 2) this.hops(c.rev, k, n, n * SYN_BYTES, first, last, 18);
      return;
    }
    const dur = k.t1 - k.t0;
    const lo = Math.max(a, k.t0);
    const hi = Math.min(b, k.t1);
    const startsHere = k.t0 >= a;
    const endsHere = k.t1 < b;
    const f0 = dur > 0 ? (lo - k.t0) / dur : 0;
    const f1 = endsHere ? 1 : dur > 0 ? (hi - k.t0) / dur : 1;
    let upN = Math.round(k.up * f1) - Math.round(k.up * f0);
    let upB = Math.round(k.upBytes * f1) - Math.round(k.upBytes * f0);
    let downN = Math.round(k.down * f1) - Math.round(k.down * f0);
    let downB = Math.round(k.downBytes * f1) - Math.round(k.downBytes * f0);
    let upFlags = 0;
    let downFlags = 0;
    if (k.proto === 6) {
      if (startsHere) {
        upN += 2;
        upB += SYN_BYTES + ACK_BYTES;
        upFlags |= 2;
        downN += 1;
        downB += SYN_BYTES;
        downFlags |= 18;
      }
      if (endsHere) {
        if (k.close === Close.Fin) {
          upN += 2;
          upB += 2 * ACK_BYTES;
          upFlags |= 1;
          downN += 1;
          downB += ACK_BYTES;
          downFlags |= 1;
        } else if (k.close === Close.ClientRst) {
          upN += 1;
          upB += 40;
          upFlags |= 4;
        } else if (k.close === Close.ServerRst) {
          downN += 1;
          downB += 40;
          downFlags |= 4;
        }
      }
    }
    const first = Math.floor(lo);
    const last = Math.floor(endsHere ? k.t1 : Math.min(hi, b - 1));
    if (upN > 0) this.hops(c.fwd, k, upN, upB, first, last, upFlags);
    if (downN > 0 && c.fwdDelivered) this.hops(c.rev, k, downN, downB, first, last, downFlags);
  }

  private hops(hops: CHop[], k: Conn, packets: number, bytes: number, first: number, last: number, flags: number): void {
    this.addHops(hops, k.proto, k.clientPort, k.serverPort, k.natPort, packets, bytes, first, last, flags);
  }

  private addHops(hops: CHop[], proto: number, clientPort: number, serverPort: number, natPort: number, packets: number, bytes: number, first: number, last: number, flags: number): void {
    const ported = proto === 6 || proto === 17;
    for (let i = 0; i < hops.length; i++) {
      const h = hops[i];
      const sport = ported ? (h.srcRole === PortRole.Client ? clientPort : h.srcRole === PortRole.Server ? serverPort : natPort) : 0;
      const dport = ported ? (h.dstRole === PortRole.Client ? clientPort : h.dstRole === PortRole.Server ? serverPort : natPort) : 0;
      this.tables[h.cls].queue(h.hc, h.kc, h.eni, sport, dport, packets, bytes, first, last, flags);
    }
  }

  /**
   * One captured packet (pcap): judged as part of its connection (the first packet seen opens
   * it; a SYN-ACK names the server), recorded on the interfaces it crosses.
   */
  packet(t: number, src: Ip, dst: Ip, proto: number, sport: number, dport: number, icmpType: number, bytes: number, tcpFlags: number): void {
    const ported = proto === 6 || proto === 17;
    const fkey = `${src}|${dst}|${proto}|${sport}|${dport}`;
    let entry = this.tracked.get(fkey);
    let forward = true;
    if (!entry) {
      const rkey = `${dst}|${src}|${proto}|${dport}|${sport}`;
      entry = this.tracked.get(rkey);
      forward = false;
      if (!entry) {
        const serverFirst = proto === 6 && (tcpFlags & 0x12) === 0x12;
        const [cs, cd, cp, sp] = serverFirst ? [dst, src, dport, sport] : [src, dst, sport, dport];
        const natPort = 1024 + (this.natCounter++ % 64512);
        const isReply = (proto === 1 && icmpType === 0) || (proto === 58 && icmpType === 129);
        const c = this.compile(this.timeline.indexAt(t), cs, cd, proto, ported ? cp : 0, ported ? sp : 0, isReply ? (proto === 1 ? 8 : 128) : icmpType, natPort);
        entry = { c, clientPort: cp, serverPort: sp, natPort };
        this.tracked.set(serverFirst ? rkey : fkey, entry);
        forward = !serverFirst;
        this.connections++;
      }
    }
    const c = entry.c;
    if (c.unlogged) return;
    const hops = forward ? c.fwd : c.fwdDelivered ? c.rev : [];
    // Flow logs report FIN, SYN, RST and SYN-ACK; ACK, PSH and URG alone are not reported.
    const flags = proto === 6 ? (tcpFlags & 7) | ((tcpFlags & 0x12) === 0x12 ? 16 : 0) : 0;
    const sec = Math.floor(t);
    this.addHops(hops, proto, entry.clientPort, entry.serverPort, entry.natPort, 1, bytes, sec, sec, flags);
  }

  private tracked = new Map<string, { c: Compiled; clientPort: number; serverPort: number; natPort: number }>();

  /** True when connections are still carried into later ticks. */
  get busy(): boolean {
    return this.pending.length > 0;
  }
}

/**
 * Compiled traces by (source, destination, protocol and port, the rest packed in one number),
 * open addressing over typed arrays: a lookup per connection builds no string. IPv6 keys
 * (bigints) go to a Map. Emptied past 200,000 entries (open connections keep their traces).
 */
class CompileCache {
  private static readonly MAX_SLOTS = 1 << 19;
  private static readonly LIMIT = 200_000;
  /**
   * Per slot: source, destination, protocol and port, the rest, and the value's index + 1 (0 =
   * empty). It starts small and doubles at half full: a run with few distinct flows keeps its
   * slots in cache (a lookup per connection).
   */
  private slots = new Float64Array((1 << 12) * 5);
  private mask = (1 << 12) - 1;
  private values: Compiled[] = [];
  private big = new Map<string, Compiled>();

  get(src: Ip, dst: Ip, pd: number, rest: number): Compiled | undefined {
    if (typeof src === 'bigint' || typeof dst === 'bigint') return this.big.get(`${src}|${dst}|${pd}|${rest}`);
    const mask = this.mask;
    const t = this.slots;
    for (let s = slotOf(src, dst, pd, rest) & mask; ; s = (s + 1) & mask) {
      const at = s * 5;
      const v = t[at + 4];
      if (v === 0) return undefined;
      if (t[at] === src && t[at + 1] === dst && t[at + 2] === pd && t[at + 3] === rest) return this.values[v - 1];
    }
  }

  clear(): void {
    this.slots.fill(0);
    this.values = [];
    this.big.clear();
  }

  set(src: Ip, dst: Ip, pd: number, rest: number, c: Compiled): void {
    if (typeof src === 'bigint' || typeof dst === 'bigint') {
      if (this.big.size > CompileCache.LIMIT) this.big.clear();
      this.big.set(`${src}|${dst}|${pd}|${rest}`, c);
      return;
    }
    if (this.values.length >= CompileCache.LIMIT) this.clear();
    else if ((this.values.length + 1) * 2 > this.mask && this.mask + 1 < CompileCache.MAX_SLOTS) this.grow();
    this.put(src, dst, pd, rest, this.values.push(c));
  }

  private put(src: number, dst: number, pd: number, rest: number, v: number): void {
    const mask = this.mask;
    const t = this.slots;
    let s = slotOf(src, dst, pd, rest) & mask;
    while (t[s * 5 + 4] !== 0) s = (s + 1) & mask;
    const at = s * 5;
    t[at] = src;
    t[at + 1] = dst;
    t[at + 2] = pd;
    t[at + 3] = rest;
    t[at + 4] = v;
  }

  private grow(): void {
    const old = this.slots;
    this.mask = this.mask * 2 + 1;
    this.slots = new Float64Array((this.mask + 1) * 5);
    for (let at = 0; at < old.length; at += 5) if (old[at + 4] !== 0) this.put(old[at], old[at + 1], old[at + 2], old[at + 3], old[at + 4]);
  }
}

/**
 * The next ephemeral port of each client address: open addressing over one Float64Array
 * (address, port); IPv6 addresses (bigints) go to a Map.
 */
class EphemeralPorts {
  private slots = new Float64Array(1 << 17).fill(-1);
  private mask = (1 << 16) - 1;
  private size = 0;
  private big = new Map<bigint, number>();

  get(a: Ip): number | undefined {
    if (typeof a === 'bigint') return this.big.get(a);
    for (let s = ephemeralSlot(a) & this.mask; ; s = (s + 1) & this.mask) {
      const k = this.slots[s * 2];
      if (k === a) return this.slots[s * 2 + 1];
      if (k < 0) return undefined;
    }
  }

  set(a: Ip, port: number): void {
    if (typeof a === 'bigint') {
      this.big.set(a, port);
      return;
    }
    let s = ephemeralSlot(a) & this.mask;
    for (; ; s = (s + 1) & this.mask) {
      const k = this.slots[s * 2];
      if (k === a) break;
      if (k < 0) {
        if (++this.size * 2 > this.mask) {
          this.grow();
          this.set(a, port);
          return;
        }
        break;
      }
    }
    this.slots[s * 2] = a;
    this.slots[s * 2 + 1] = port;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2).fill(-1);
    this.mask = this.mask * 2 + 1;
    this.size = 0;
    for (let at = 0; at < old.length; at += 2) if (old[at] >= 0) this.set(old[at], old[at + 1]);
  }
}

function ephemeralSlot(a: number): number {
  const h = Math.imul((a | 0) ^ 0x9e3779b9, 0x85ebca6b);
  return (h ^ (h >>> 15)) >>> 0;
}

function slotOf(src: number, dst: number, pd: number, rest: number): number {
  let h = Math.imul((src | 0) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (dst | 0), 0xc2b2ae35);
  h = Math.imul(h ^ (pd | 0), 0x27d4eb2f);
  h = Math.imul(h ^ (rest | 0) ^ ((rest / 4294967296) | 0), 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Port-range boundaries of every network ACL rule: ports between two boundaries behave alike. */
function portBreakpoints(topo: Topology): Int32Array {
  const s = new Set<number>();
  for (const v of topo.vpcs) {
    for (const n of [v.defaultNacl, ...v.subnets.map((x) => x.nacl)]) {
      for (const r of [...n.ingress, ...n.egress]) {
        s.add(r.from);
        s.add(r.to + 1);
      }
    }
  }
  return Int32Array.from([...s].sort((a, b) => a - b));
}

function portClass(bp: Int32Array, port: number): number {
  let lo = 0;
  let hi = bp.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bp[mid] <= port) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** portClass for every port at once (a lookup per connection instead of a binary search). */
function portClasses(bp: Int32Array): Uint16Array {
  const t = new Uint16Array(65536);
  for (let p = 0; p < 65536; p++) t[p] = portClass(bp, p);
  return t;
}
