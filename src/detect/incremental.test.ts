import { describe, expect, it } from 'vitest';
import { compileInsights } from '../query/index.ts';
import { planGrain } from './incremental.ts';
import { rulesFor } from './rules.ts';
import type { Rule } from './rule-schema.ts';

const rule = (measures: Record<string, string>): Rule =>
  ({ id: 't', family: 't', severity: 'low', title: 't', query: 'filter protocol = 6', window: 600, actor: 'srcAddr', target: 'dstAddr', measures, threshold: 'records > 0', scope: 'any', enabled: true }) as unknown as Rule;

describe('grain plans (streaming running aggregates)', () => {
  it('every built-in rule decomposes, and its partial query compiles', async () => {
    for (const r of await rulesFor(undefined, { builtins: true })) {
      const plan = planGrain(r);
      expect(plan, r.id).toBeDefined();
      expect(() => compileInsights(plan!.partial, { dialect: 'duckdb' }), r.id).not.toThrow();
    }
  });

  it('turns aggregates into partials and their combination, sharing repeated ones', () => {
    const plan = planGrain(rule({ mb: 'floor(sum(bytes) / 1000000)', bytes: 'sum(bytes)', tiny: 'sum(packets <= 2 and (tcp_flags = 2 or not ispresent(tcp_flags)))', ports: 'count_distinct(dstPort)', n: 'count(*)', top: 'max(dstPort)' }))!;
    expect(plan.measures).toEqual({ mb: 'floor(sum(v_p1) / 1000000)', bytes: 'sum(v_p1)', tiny: 'sum(v_p2)', ports: 'count_distinct(k_d1)', n: 'sum(v_n)', top: 'max(v_p3)' });
    expect(plan.partial).toContain('sum(packets <= 2 and (tcp_flags = 2 or not ispresent(tcp_flags))) as v_p2');
    expect(plan.partial).toContain('dstPort as k_d1');
  });

  it('leaves rules with aggregates that do not decompose to the records', () => {
    expect(planGrain(rule({ p: 'pct(bytes, 95)' }))).toBeUndefined();
    expect(planGrain(rule({ a: 'avg(bytes)' }))).toBeUndefined();
  });
});
