import { describe, expect, it } from 'vitest';
import { parseQuery } from './parser.ts';
import { QueryError } from './errors.ts';
import { AWS_SAMPLE_QUERIES } from './builtins.ts';

describe('parseQuery', () => {
  it('parses all 7 AWS sample queries', () => {
    expect(AWS_SAMPLE_QUERIES).toHaveLength(7);
    for (const q of AWS_SAMPLE_QUERIES) expect(parseQuery(q.query).commands.length).toBeGreaterThan(0);
  });

  it('builds a frozen tree tagged by kind', () => {
    const q = parseQuery('filter action="REJECT" | stats count(*) as numRejections by srcAddr | sort numRejections desc | limit 20');
    expect(q.commands.map((c) => c.kind)).toEqual(['filter', 'stats', 'sort', 'limit']);
    expect(Object.isFrozen(q)).toBe(true);
    expect(Object.isFrozen(q.commands[0])).toBe(true);
    const stats = q.commands[1];
    if (stats.kind !== 'stats') throw new Error('expected stats');
    expect(stats.aggs[0]).toMatchObject({ alias: 'numRejections', text: 'count(*)', expr: { kind: 'call', name: 'count', star: true } });
    expect(stats.by[0].expr).toMatchObject({ kind: 'field', name: 'srcAddr' });
    expect(q.commands[2]).toMatchObject({ kind: 'sort', keys: [{ desc: true }] });
    expect(q.commands[3]).toMatchObject({ kind: 'limit', count: 20 });
  });

  it('tells division from a regex by position', () => {
    const q = parseQuery('filter bytes / packets > 2 and @message like /a\\/b/ | parse @message /(?<eni>eni-\\w+)/');
    const f = q.commands[0];
    if (f.kind !== 'filter' || f.expr.kind !== 'binary') throw new Error('expected and');
    expect(f.expr.left).toMatchObject({ kind: 'binary', op: '>', left: { kind: 'binary', op: '/' } });
    expect(f.expr.right).toMatchObject({ kind: 'match', op: 'like', pattern: { kind: 'regex', pattern: 'a/b' } });
    expect(q.commands[1]).toMatchObject({ kind: 'parse', pattern: { kind: 'regex', pattern: '(?<eni>eni-\\w+)' } });
  });

  it('respects precedence: not > and > or, ^ right-associative, unary minus', () => {
    const f = parseQuery('filter not a = 1 or b = 2 and c = 3 | fields -2 ^ 3 ^ 2 as x').commands;
    expect(f[0]).toMatchObject({ expr: { op: 'or', left: { kind: 'unary', op: 'not' }, right: { op: 'and' } } });
    expect(f[1]).toMatchObject({ items: [{ alias: 'x', expr: { kind: 'unary', op: '-', operand: { op: '^', right: { op: '^' } } } }] });
  });

  it('reads comments, back-quoted names, both quote styles, in/not in, not like, =~, durations', () => {
    const q = parseQuery(
      ['# top rejects', 'filter `log-status` = \'OK\' # trailing', '| filter dstPort not in [22, 3389] and action in ["REJECT"]', '| filter @message not like "x" and srcAddr =~ /^10\\./', '| stats count() by bin(5m)'].join('\n'),
    );
    expect(q.commands.map((c) => c.kind)).toEqual(['filter', 'filter', 'filter', 'stats']);
    expect(q.commands[0]).toMatchObject({ expr: { left: { kind: 'field', name: 'log-status' }, right: { kind: 'string', value: 'OK' } } });
    expect(q.commands[1]).toMatchObject({ expr: { left: { kind: 'in', negated: true }, right: { kind: 'in', negated: false } } });
    expect(q.commands[2]).toMatchObject({ expr: { left: { kind: 'match', negated: true, op: 'like' }, right: { kind: 'match', op: '=~' } } });
    expect(q.commands[3]).toMatchObject({ by: [{ expr: { kind: 'call', name: 'bin', args: [{ kind: 'duration', amount: 5, unit: 'm' }] } }] });
  });

  it('parses glob parse with names, dedup, display and case-insensitive commands', () => {
    const q = parseQuery('PARSE @message "* * *" as a, b, c | Dedup a, b | DISPLAY a, c');
    expect(q.commands[0]).toMatchObject({ kind: 'parse', names: ['a', 'b', 'c'], pattern: { kind: 'string', value: '* * *' } });
    expect(q.commands[1]).toMatchObject({ kind: 'dedup', fields: [{ name: 'a' }, { name: 'b' }] });
    expect(q.commands[2]).toMatchObject({ kind: 'display' });
  });

  it.each([
    ['', 1, 1],
    ['filtr action = 1', 1, 1],
    ['filter action =', 1, 16],
    ['stats count(* by x', 1, 15],
    ['filter a = "open', 1, 12],
    ['limit 0', 1, 7],
    ['fields a |\n  sort b asc c', 2, 14],
  ])('reports %j at line %i, column %i', (q, line, column) => {
    try {
      parseQuery(q);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(QueryError);
      expect((e as QueryError).line).toBe(line);
      expect((e as QueryError).column).toBe(column);
    }
  });
});
