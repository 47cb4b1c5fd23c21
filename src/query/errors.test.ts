import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileInsights } from './index.ts';
import { QueryError } from './errors.ts';

/** Queries that must fail, each with the message, line, column and caret users see. */
const BAD = [
  'stats sumn(bytes) by srcAddr',
  'filtr action = "REJECT"',
  'filter srcAdr = "10.0.0.1"',
  'stats count(*) by srcAddr | filter bytes > 10',
  'filter action =',
  'stats count(* by srcAddr',
  'filter isIpv4InSubnet(srcAddr, "10.0.0.0/33")',
  'filter isIpv6InSubnet(srcAddr, "10.0.0.0/8")',
  'filter isIpInSubnet(srcAddr, dstAddr)',
  'filter sum(bytes) > 10',
  'stats bytes by srcAddr',
  'stats count(*) + bytes by srcAddr',
  'stats max(count(*))',
  'filter @message like /(?<=eni-)\\w+/',
  'filter @message =~ /(a)\\1/',
  'parse @message "* *" as a',
  'parse @message /(\\w+)/',
  'stats count(*) by bin(5)',
  'stats count(*) by bin(2mo)',
  'filter action',
  'fields substr(action)',
  'limit -1',
  "filter action = 'unterminated",
  'stats pct(bytes, 150)',
  'fields 5m',
  'stats count(*) as n, sum(bytes) as n',
  'filter action ~ "x"',
  'filter dstPort in 22',
  'fields count(*)',
  'sort bytes desc | limit 10 | foo',
  '# first line is a comment\nfilter action = "REJECT"\n  | stats count(*) by srcAdr',
  'fields `odd name`',
  'filter bytes > 99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999e999',
];

function render(q: string): string {
  try {
    compileInsights(q);
    return 'NO ERROR';
  } catch (e) {
    if (!(e instanceof QueryError)) throw e;
    return `${e.render()}\n${JSON.stringify(e.toJSON())}`;
  }
}

describe('query errors', () => {
  it('match the golden file (UPDATE_GOLDENS=1 rewrites it)', () => {
    const text = BAD.map((q) => `### ${JSON.stringify(q)}\n${render(q)}\n`).join('\n');
    const file = new URL('./testdata/errors.golden', import.meta.url);
    if (process.env.UPDATE_GOLDENS === '1') writeFileSync(file, text);
    if (!existsSync(file)) throw new Error('src/query/testdata/errors.golden is missing; create it with UPDATE_GOLDENS=1 and review it');
    expect(text).toBe(readFileSync(file, 'utf8'));
  });

  it('every bad query fails with a QueryError, never another error', () => {
    for (const q of BAD) expect(render(q), q).not.toBe('NO ERROR');
  });

  it('carries line, column and a one-line JSON form', () => {
    try {
      compileInsights('filter action = "REJECT"\n| stats sumn(bytes)');
      expect.unreachable();
    } catch (e) {
      const err = e as QueryError;
      expect(err.toJSON()).toEqual({ error: 'unknown function `sumn`, did you mean `sum`?', line: 2, column: 9 });
      expect(err.render().split('\n')).toEqual([
        'query error at line 2, column 9: unknown function `sumn`, did you mean `sum`?',
        '  | stats sumn(bytes)',
        '          ^^^^',
      ]);
      expect(err.exitCode).toBe(2);
    }
  });
});
