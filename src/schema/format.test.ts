import { describe, expect, it } from 'vitest';
import { DEFAULT_FIELDS, DEFAULT_FORMAT, FIELDS, formatVersion } from './columns.ts';
import { FormatError, parseFormatString, parseHeaderLine, toFormatString } from './format.ts';

describe('the column list', () => {
  it('has every AWS field of versions 2 to 8 with Athena names', () => {
    const byVersion = (v: number) => FIELDS.filter((f) => f.version === v).length;
    expect([2, 3, 4, 5, 6, 7, 8].map(byVersion)).toEqual([14, 7, 4, 4, 18, 10, 1]);
    expect(FIELDS.find((f) => f.field === 'log-status')?.column).toBe('log_status');
    expect(FIELDS.find((f) => f.field === 'protocol')?.athenaType).toBe('bigint');
    expect(new Set(FIELDS.map((f) => f.column)).size).toBe(FIELDS.length);
  });
  it('says a format is the version of its newest field', () => {
    expect(formatVersion(DEFAULT_FIELDS)).toBe(2);
    expect(formatVersion(['srcaddr', 'tcp-flags'])).toBe(3);
    expect(formatVersion(['version', 'ecs-task-id', 'srcaddr'])).toBe(7);
    expect(formatVersion(['reject-reason', 'resource-id'])).toBe(8);
  });
});

describe('format strings', () => {
  it('round-trips the default format', () => {
    expect(parseFormatString(DEFAULT_FORMAT)).toEqual(DEFAULT_FIELDS);
    expect(toFormatString(DEFAULT_FIELDS)).toBe(DEFAULT_FORMAT);
  });
  it('keeps unknown but well-formed names', () => expect(parseFormatString('${version} ${encryption-status} ${new-field-9}')).toEqual(['version', 'encryption-status', 'new-field-9']));
  it.each([
    ['${version} srcaddr', /expected \$\{field-name\} at column 12, found "srcaddr"/],
    ['${version} ${Src_Addr}', /"Src_Addr" at column 14 is not a field name/],
    ['${srcaddr} ${srcaddr}', /field "srcaddr" appears twice/],
    ['   ', /names no fields/],
  ])('refuses %j', (fmt, message) => {
    expect(() => parseFormatString(fmt)).toThrow(FormatError);
    expect(() => parseFormatString(fmt)).toThrow(message);
  });
});

describe('header lines', () => {
  it('recognises AWS header lines, known or not', () => {
    expect(parseHeaderLine(DEFAULT_FIELDS.join(' '))).toEqual(DEFAULT_FIELDS);
    expect(parseHeaderLine('version vpc-id resource-id')).toEqual(['version', 'vpc-id', 'resource-id']);
  });
  it.each([
    '2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA',
    'vpc-0a1b2c3d subnet-0aaa1111',
    'egress ingress',
    'version version',
    '',
  ])('does not take a record for a header: %j', (line) => expect(parseHeaderLine(line)).toBeUndefined());
});
