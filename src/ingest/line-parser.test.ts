import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_FIELDS, FIELDS } from '../schema/columns.ts';
import { rowValues } from './batch.ts';
import { compileFastLine } from './fast-line.ts';
import { LineParser, type LineError } from './line-parser.ts';

const here = import.meta.dirname;

/** Parses every line of a text with a fresh parser, applying header lines as the ingestor does. */
function parseAll(text: string, fields: readonly string[] = DEFAULT_FIELDS) {
  const p = new LineParser(fields, 1024);
  const rows: Record<string, unknown>[] = [];
  const errors: (LineError & { line: number })[] = [];
  const headers: string[][] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const buf = Buffer.from(line, 'latin1');
    const out = p.parse(buf, 0, buf.length, i + 1);
    if (out === 'record') rows.push(rowValues(p.batch, p.batch.length - 1));
    else if (out === 'blank') return;
    else if ('header' in out) {
      headers.push(out.header);
      if (p.batch.length) {
        p.batch.reset();
      }
      p.setFormat(out.header);
    } else errors.push({ ...out, line: i + 1 });
  });
  return { rows, errors, headers };
}

describe('the default (v2) format', () => {
  it('parses the AWS documentation examples, header included', () => {
    const { rows, errors, headers } = parseAll(readFileSync(join(here, 'testdata/aws-doc-examples.log'), 'latin1'));
    expect(errors).toEqual([]);
    expect(headers).toEqual([DEFAULT_FIELDS]);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual({
      version: 2,
      'account-id': '123456789010',
      'interface-id': 'eni-1235b8ca123456789',
      srcaddr: '172.31.16.139',
      dstaddr: '172.31.16.21',
      srcport: 20641,
      dstport: 22,
      protocol: 6,
      packets: 20,
      bytes: 4249,
      start: 1418530010,
      end: 1418530070,
      action: 'ACCEPT',
      'log-status': 'OK',
    });
    expect(rows[1]).toMatchObject({ srcaddr: '172.31.9.69', dstport: 3389, action: 'REJECT' });
  });

  it('keeps NODATA and SKIPDATA records: status, interface and window present, the rest NULL', () => {
    const { rows } = parseAll(readFileSync(join(here, 'testdata/aws-doc-examples.log'), 'latin1'));
    for (const [row, status] of [
      [rows[2], 'NODATA'],
      [rows[3], 'SKIPDATA'],
    ] as const) {
      expect(row['log-status']).toBe(status);
      expect(row['interface-id']).toMatch(/^eni-/);
      expect(row.start).toBe(1431280876);
      expect(row.end).toBe(1431280934);
      for (const f of ['srcaddr', 'dstaddr', 'srcport', 'dstport', 'protocol', 'packets', 'bytes', 'action']) expect(row[f]).toBeNull();
    }
  });

  it('reads "-" as NULL, not as text', () => {
    const { rows } = parseAll('2 unknown eni-1 - 10.0.0.1 - 443 6 1 40 100 160 ACCEPT OK');
    expect(rows[0]).toMatchObject({ 'account-id': 'unknown', srcaddr: null, srcport: null, dstport: 443 });
  });

  it('accepts IPv6 and stores it in canonical form', () => {
    const { rows } = parseAll('2 1 eni-1 2001:0DB8:0000:0000:0000:0000:0000:0001 ::ffff:10.0.0.1 1 2 6 1 1 1 2 ACCEPT OK');
    expect(rows[0].srcaddr).toBe('2001:db8::1');
    expect(rows[0].dstaddr).toBe('::ffff:a00:1');
  });

  it('tolerates CRLF line ends and runs of blanks', () => {
    const { rows, errors } = parseAll('2  1\teni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK\r');
    expect(errors).toEqual([]);
    expect(rows[0]['log-status']).toBe('OK');
  });
});

describe('custom formats', () => {
  it('takes the format from the header line (v5 fields, mixed order, IPv6, NAT pkt addresses)', () => {
    const { rows, errors } = parseAll(readFileSync(join(here, 'testdata/custom-v5.log'), 'latin1'));
    expect(errors).toEqual([]);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({ version: 5, 'vpc-id': 'vpc-0a1b2c3d', 'tcp-flags': 19, 'flow-direction': 'egress', 'traffic-path': 7, 'pkt-dst-aws-service': 'S3', 'pkt-src-aws-service': null });
    expect(rows[1]).toMatchObject({ 'instance-id': null, srcaddr: '10.0.1.200', 'pkt-srcaddr': '10.0.2.17', 'tcp-flags': 3 });
    expect(rows[2]).toMatchObject({ type: 'IPv6', srcaddr: '2001:db8:1::10', 'traffic-path': null });
  });

  it('recognises a header line that reappears mid-file with another format', () => {
    const text = ['version srcaddr action', '2 10.0.0.1 ACCEPT', 'version dstaddr dstport log-status', '2 10.0.0.9 443 OK'].join('\n');
    const { rows, headers } = parseAll(text);
    expect(headers).toHaveLength(2);
    expect(rows).toEqual([
      { version: 2, srcaddr: '10.0.0.1', action: 'ACCEPT' },
      { version: 2, dstaddr: '10.0.0.9', dstport: 443, 'log-status': 'OK' },
    ]);
  });

  it('covers every field of versions 2 to 8 (transit gateway, ECS, reject-reason)', () => {
    const known = FIELDS.map((f) => f.field);
    const values = FIELDS.map((f) => (f.kind === 'int' ? '7' : f.kind === 'bigint' ? '9000000000' : f.kind === 'addr' ? '10.1.2.3' : f.kind === 'action' ? 'REJECT' : f.kind === 'status' ? 'OK' : `v-${f.field}`));
    const { rows, errors } = parseAll(values.join(' '), known);
    expect(errors).toEqual([]);
    const row = rows[0];
    expect(Object.keys(row)).toHaveLength(FIELDS.length);
    expect(row['tgw-attachment-id']).toBe('v-tgw-attachment-id');
    expect(row['packets-lost-blackhole']).toBe(9000000000);
    expect(row['ecs-task-id']).toBe('v-ecs-task-id');
    expect(row['reject-reason']).toBe('v-reject-reason');
  });

  it('keeps unknown but well-formed fields instead of rejecting them', () => {
    const { rows, errors } = parseAll('version resource-id some-future-field srcaddr\n8 vpc-123 yes 10.0.0.1');
    expect(errors).toEqual([]);
    expect(rows[0]).toEqual({ version: 8, 'resource-id': 'vpc-123', 'some-future-field': 'yes', srcaddr: '10.0.0.1' });
  });
});

describe('refused lines say where and why', () => {
  // [name, line, the token the column must point at (undefined: the end of the line), reason]
  const cases: [string, string, string | undefined, RegExp][] = [
    ['too few fields', '2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT', undefined, /expected 14 fields .* found 13/],
    ['too many fields', '2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK extra', 'extra', /expected 14 fields .* found 15/],
    ['a bad number', '2 123 eni-1 10.0.0.1 10.0.0.2 1 2x 6 1 1 1 2 ACCEPT OK', '2x', /dstport: expected a number or "-", found "2x"/],
    ['a port out of range', '2 123 eni-1 10.0.0.1 10.0.0.2 70000 2 6 1 1 1 2 ACCEPT OK', '70000', /srcport: expected a number <= 65535/],
    ['a negative number', '2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 -1 1 1 2 ACCEPT OK', '-1', /packets: expected a number/],
    ['a bad address', '2 123 eni-1 10.0.0.256 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK', '10.0.0.256', /srcaddr: expected an IPv4 or IPv6 address/],
    ['a bad IPv6 address', '2 123 eni-1 10.0.0.1 2001:db8:::1 1 2 6 1 1 1 2 ACCEPT OK', '2001:db8:::1', /dstaddr: expected an IPv4 or IPv6 address/],
    ['a bad action', '2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ALLOW OK', 'ALLOW', /action: expected ACCEPT, REJECT/],
    ['a bad log-status', '2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT FINE', 'FINE', /log-status: expected OK, NODATA, SKIPDATA/],
  ];
  it.each(cases)('%s', (_name, line, token, reason) => {
    const { errors, rows } = parseAll(line);
    expect(rows).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0].column).toBe(token === undefined ? line.length + 1 : line.indexOf(' ' + token) + 2);
    expect(errors[0].reason).toMatch(reason);
  });

  it('a refused line leaves no trace in the next record', () => {
    const { rows } = parseAll(['2 1 eni-1 - - - - - - - 1 2 - NODATA x', '2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK'].join('\n'));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ srcaddr: '10.0.0.1', srcport: 1, action: 'ACCEPT', packets: 1 });
  });
});

describe('properties', () => {
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null, freq: 4 });
  const record = fc.record({
    version: fc.constant(2),
    'account-id': nullable(fc.stringMatching(/^[0-9]{12}$/)),
    'interface-id': nullable(fc.stringMatching(/^eni-[0-9a-f]{17}$/)),
    srcaddr: nullable(ipv4),
    dstaddr: nullable(ipv4),
    srcport: nullable(fc.nat(65535)),
    dstport: nullable(fc.nat(65535)),
    protocol: nullable(fc.nat(255)),
    packets: nullable(fc.nat(Number.MAX_SAFE_INTEGER)),
    bytes: nullable(fc.nat(Number.MAX_SAFE_INTEGER)),
    start: nullable(fc.nat(2 ** 33)),
    end: nullable(fc.nat(2 ** 33)),
    action: nullable(fc.constantFrom('ACCEPT', 'REJECT')),
    'log-status': nullable(fc.constantFrom('OK', 'NODATA', 'SKIPDATA')),
  });

  it('random records → text → parse → the same values', () => {
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 40 }), (recs) => {
        const text = recs.map((r) => DEFAULT_FIELDS.map((f) => (r[f as keyof typeof r] === null ? '-' : String(r[f as keyof typeof r]))).join(' ')).join('\n');
        const { rows, errors } = parseAll(text);
        expect(errors).toEqual([]);
        expect(rows).toEqual(recs);
      }),
      { numRuns: 300 },
    );
  });

  it('no input crashes the parser: every line is a record, a header, blank, or a located error', () => {
    const bytes = fc.uint8Array({ maxLength: 300 });
    const tokens = fc.array(fc.constantFrom('2', '-', 'ACCEPT', 'OK', '10.0.0.1', '::1', 'version', 'srcaddr', '99999999999999999999', ' ', '\t', 'eni-1', '1.2.3', 'é', '\r'), { maxLength: 20 });
    fc.assert(
      fc.property(fc.oneof(bytes, tokens.map((t) => Buffer.from(t.join(' '), 'latin1'))), (raw) => {
        const p = new LineParser(DEFAULT_FIELDS, 4);
        const buf = Buffer.from(raw);
        const out = p.parse(buf, 0, buf.length, 1);
        if (typeof out === 'object' && 'reason' in out) {
          expect(out.column).toBeGreaterThanOrEqual(1);
          expect(out.reason.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the generated fast path', () => {
  // Tokens near every edge the fast path gives up on: IPv6, leading zeros, 16+ digits, limits.
  const token = fc.constantFrom(
    '2', '0', '-', '--', '-1', '65535', '65536', '255', '256', '2147483647', '2147483648', '999999999999999', '1000000000000000', '9007199254740993', '99999999999999999999',
    '10.0.0.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '::1', '2001:DB8::1', 'fe80::0:1',
    'ACCEPT', 'REJECT', 'accept', 'OK', 'NODATA', 'SKIPDATA', 'SKIP', 'eni-1', '123456789012', 'é', 'version', 'x',
  );
  const sep = fc.constantFrom(' ', ' ', ' ', '  ', '\t');
  const line = fc.tuple(fc.array(fc.tuple(token, sep), { minLength: 0, maxLength: 16 }), fc.constantFrom('', '\r', ' ')).map(([ts, tail]) => ts.map(([t, s]) => t + s).join('').trimEnd() + tail);
  // Mostly well-formed lines of a format, a token here and there replaced, a field added or lost.
  const valid: Record<string, fc.Arbitrary<string>> = {
    int: fc.oneof(fc.nat(255).map(String), fc.constant('-')),
    bigint: fc.oneof(fc.nat(Number.MAX_SAFE_INTEGER).map(String), fc.nat(2 ** 31).map(String), fc.constant('-')),
    addr: fc.oneof(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.')), fc.constant('-'), fc.constant('::1')),
    action: fc.constantFrom('ACCEPT', 'REJECT', '-'),
    status: fc.constantFrom('OK', 'NODATA', 'SKIPDATA', '-'),
    string: fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,12}$/), fc.constant('-')),
  };
  const nearlyValid = (fields: readonly string[]) =>
    fc
      .tuple(fc.tuple(...fields.map((f) => fc.oneof({ weight: 12, arbitrary: valid[FIELDS.find((d) => d.field === f)!.kind] }, { weight: 1, arbitrary: token }))), fc.nat(20), sep)
      .map(([ts, drop, s]) => (drop === 0 ? ts.slice(1) : drop === 1 ? [...ts, 'x'] : ts).join(s));
  const fieldSets = [DEFAULT_FIELDS, ['version', 'srcaddr', 'pkt-srcaddr', 'dstport', 'action', 'bytes', 'end', 'type'], ['interface-id', 'start', 'log-status', 'tcp-flags']];

  it('stores exactly what the generic parser stores, for every line, good or bad', () => {
    for (const fields of fieldSets) {
      fc.assert(
        fc.property(fc.array(fc.oneof(line, nearlyValid(fields), nearlyValid(fields)), { minLength: 1, maxLength: 30 }), (lines) => {
          const run = (fast: boolean) => {
            const p = new LineParser(fields, 64, fast);
            const outs = lines.map((l, i) => {
              const buf = Buffer.from(l, 'latin1');
              return p.parse(buf, 0, buf.length, i + 1);
            });
            const b = p.batch;
            const rows = Array.from({ length: b.length }, (_, i) => ({ ...rowValues(b, i), day: b.day[i], line: b.lineNo[i] }));
            const valid = b.columns.map((c) => [...c.valid.subarray(0, Math.ceil(b.length / 8))]);
            return { outs, rows, valid, dicts: b.columns.map((c) => c.dict?.values.slice()) };
          };
          const fast = run(true);
          const generic = run(false);
          expect(fast.outs).toEqual(generic.outs);
          expect(fast.rows).toEqual(generic.rows);
          expect(fast.valid).toEqual(generic.valid);
        }),
        { numRuns: 400 },
      );
    }
  });

  it('is generated once per format, each parser still filling its own batch', () => {
    // A new function per file would be new code to V8, optimised again from scratch each time.
    const maxes = new Float64Array(DEFAULT_FIELDS.length).fill(Number.MAX_SAFE_INTEGER);
    expect(compileFastLine([...DEFAULT_FIELDS], maxes)).toBe(compileFastLine([...DEFAULT_FIELDS], maxes.slice()));
    const a = new LineParser(DEFAULT_FIELDS, 8);
    const b = new LineParser([...DEFAULT_FIELDS], 8);
    const line = (port: number) => Buffer.from(`2 123456789012 eni-1 10.0.0.1 10.0.0.2 ${port} 443 6 1 40 1700000000 1700000060 ACCEPT OK`);
    expect(a.parse(line(1111), 0, line(1111).length, 1)).toBe('record');
    expect(b.parse(line(2222), 0, line(2222).length, 1)).toBe('record');
    expect(b.parse(line(3333), 0, line(3333).length, 2)).toBe('record');
    expect([a.batch.length, b.batch.length]).toEqual([1, 2]);
    expect(rowValues(a.batch, 0).srcport).toBe(1111);
    expect([rowValues(b.batch, 0).srcport, rowValues(b.batch, 1).srcport]).toEqual([2222, 3333]);
  });
});
