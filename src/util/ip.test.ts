import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIpv6, formatIpv4, formatIpv6, inCidr, parseCidr, parseIpv4, parseIpv6 } from './ip.ts';

describe('IPv4', () => {
  it.each([
    ['0.0.0.0', 0],
    ['10.0.0.1', 167772161],
    ['255.255.255.255', 4294967295],
  ])('%s is %d', (text, n) => {
    expect(parseIpv4(text)).toBe(n);
    expect(formatIpv4(n)).toBe(text);
  });
  it.each(['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '', 'a.b.c.d', '1.2.3.4 '])('refuses %j', (text) => expect(parseIpv4(text)).toBe(-1));
  it('round-trips every integer', () => fc.assert(fc.property(fc.nat(4294967295), (n) => parseIpv4(formatIpv4(n)) === n)));
});

describe('IPv6', () => {
  it.each([
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
  ])('%s is canonically %s (RFC 5952)', (text, canonical) => expect(canonicalIpv6(text)).toBe(canonical));
  it.each(['2001:db8:::1', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1', ':1'])('refuses %j', (text) => expect(parseIpv6(text)).toBeUndefined());
  it('round-trips random addresses', () =>
    fc.assert(
      fc.property(fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }), (g) => {
        expect(parseIpv6(formatIpv6(g))).toEqual(g);
      }),
    ));
});

describe('CIDR blocks', () => {
  it('normalises the network address and tests membership', () => {
    const c = parseCidr('10.0.5.7/16')!;
    expect(c.text).toBe('10.0.0.0/16');
    expect(inCidr('10.0.255.1', c)).toBe(true);
    expect(inCidr('10.1.0.0', c)).toBe(false);
    expect(inCidr('2001:db8::1', c)).toBe(false);
  });
  it('handles IPv6 prefixes that do not fall on a group boundary', () => {
    const c = parseCidr('2001:db8:abcd:12ff::/52')!;
    expect(c.text).toBe('2001:db8:abcd:1000::/52');
    expect(inCidr('2001:db8:abcd:1fff::1', c)).toBe(true);
    expect(inCidr('2001:db8:abcd:2000::1', c)).toBe(false);
  });
  it('takes a bare address as a host route and refuses bad prefixes', () => {
    expect(parseCidr('192.0.2.1')).toMatchObject({ family: 4, prefix: 32, first: 3221225985, last: 3221225985 });
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0/x')).toBeUndefined();
  });
});
