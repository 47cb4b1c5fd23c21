import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddrTable, FlowTable, HopClasses } from './flow-table.ts';
import { formatIp } from './ip.ts';
import { ByteBuf, LineRenderer } from './render.ts';
import { ip, tiny } from './test-helpers.ts';

const FIELDS = ['version', 'interface-id', 'srcaddr', 'dstaddr', 'srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end', 'action', 'log-status', 'tcp-flags', 'type', 'pkt-srcaddr', 'pkt-dstaddr', 'flow-direction', 'traffic-path'];

describe('line renderer', () => {
  it('writes numbers and addresses exactly as their decimal and dotted text, at any size', () => {
    const topo = tiny();
    const classes = new HopClasses();
    const addrs = new AddrTable();
    const r = new LineRenderer(FIELDS, topo, addrs, [''], classes);
    const buf = new ByteBuf(64);
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 32 - 1 }),
        fc.nat({ max: 2 ** 32 - 1 }),
        fc.nat({ max: 65535 }),
        fc.nat({ max: 65535 }),
        fc.oneof(fc.nat({ max: 999 }), fc.nat({ max: 2 ** 40 + 5 }), fc.nat({ max: Number.MAX_SAFE_INTEGER })),
        fc.oneof(fc.nat({ max: 99 }), fc.nat({ max: 2 ** 53 - 1 })),
        fc.nat({ max: 2 ** 32 - 1 }),
        (src, dst, sport, dport, packets, bytes, start) => {
          const t = new FlowTable(classes, 4);
          const hc = classes.intern(0, src, dst, dst, src, 6, 1, 1, 2, 0, 0, 0, false);
          t.add(hc, classes.key(hc), 0, sport, dport, packets, bytes, start, start + 1, 19);
          const line = r.line(t, 0, buf);
          const v4 = (n: number) => formatIp(n);
          expect(line).toBe(`5 ${topo.enis[0].id} ${v4(src)} ${v4(dst)} ${sport} ${dport} 6 ${packets} ${bytes} ${start} ${start + 1} REJECT OK 19 IPv4 ${v4(dst)} ${v4(src)} egress 2`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('writes IPv6 addresses and the type field for them', () => {
    const classes = new HopClasses();
    const addrs = new AddrTable();
    const r = new LineRenderer(FIELDS, tiny(), addrs, [''], classes);
    const a = ip('2001:db8::1');
    const b = ip('2001:db8:0:1::ff');
    const hc = classes.intern(0, addrs.id(a), addrs.id(b), addrs.id(a), addrs.id(b), 58, 0, 0, 0, 0, 0, 0, true);
    const t = new FlowTable(classes, 4);
    t.add(hc, classes.key(hc), 0, 0, 0, 1, 64, 1705276800, 1705276800, 0);
    expect(r.line(t, 0, new ByteBuf(16))).toBe(`5 ${tiny().enis[0].id} ${formatIp(a)} ${formatIp(b)} 0 0 58 1 64 1705276800 1705276800 ACCEPT OK 0 IPv6 ${formatIp(a)} ${formatIp(b)} ingress -`);
  });
});
