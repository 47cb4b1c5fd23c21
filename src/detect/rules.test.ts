import { describe, expect, it } from 'vitest';
import { parseRuleFile, rulesFor, RuleError } from './rules.ts';

const rule = (threshold: string, extra = '') => `id: my-rule
family: custom
severity: high
title: "x {actor}"
query: |
  filter dstPort = 22
window: 10m
actor: srcAddr
measures:
  ports: count_distinct(dstPort)
threshold: ${threshold}
${extra}`;

function errorOf(text: string): RuleError {
  try {
    parseRuleFile(text, 'r.yaml');
  } catch (err) {
    if (err instanceof RuleError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('rule files', () => {
  it('accepts a valid rule and every built-in', async () => {
    expect(parseRuleFile(rule('ports >= 3'), 'r.yaml')[0].window).toBe(600);
    const builtins = await rulesFor();
    expect(builtins.length).toBeGreaterThan(20);
    expect(new Set(builtins.map((r) => r.id)).size).toBe(builtins.length);
  });

  it('points at a query error inside the threshold', () => {
    const e = errorOf(rule('prots >= 3'));
    expect([e.line, e.column]).toEqual([11, 12]);
    expect(e.message).toMatch(/^r\.yaml:11:12: threshold: unknown field `prots`/);
  });

  it('points at a query error inside a literal block', () => {
    const e = errorOf(rule('ports >= 3').replace('filter dstPort = 22', 'filter dstPort = = 22'));
    expect(e.line).toBe(6);
    expect(e.message).toMatch(/^r\.yaml:6:\d+: query:/);
  });

  it('names unknown keys, bad values and YAML syntax errors with their place', () => {
    expect(errorOf(rule('ports >= 3', 'treshold: 4')).message).toMatch(/^r\.yaml:12:1: unknown key "treshold"/);
    expect(errorOf(rule('ports >= 3').replace('severity: high', 'severity: huge')).message).toMatch(/^r\.yaml:3:11: severity:/);
    expect(errorOf('id: [x\n').message).toMatch(/^r\.yaml:\d+:\d+: YAML:/);
  });
});
