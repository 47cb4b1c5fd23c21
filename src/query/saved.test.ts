import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONSOLE_QUERIES } from './builtins.ts';
import { QueryError } from './errors.ts';
import { compileInsights } from './index.ts';
import { getSaved, listSaved, saveQuery, SAVED_FILE } from './saved.ts';
import { parseSince, parseTime, timeRange } from './time-range.ts';

describe('saved queries', () => {
  const db = mkdtempSync(join(tmpdir(), 'flowlens-saved-'));
  afterAll(() => rmSync(db, { recursive: true, force: true }));

  it('lists the builtins when nothing is saved, and every builtin compiles', async () => {
    const all = await listSaved(db);
    expect(all.map((q) => q.name)).toEqual(expect.arrayContaining(['aws-top-rejected-sources', 'top-talkers', 'ssh-rdp-rejects', 'traffic-by-protocol']));
    for (const q of [...all, ...CONSOLE_QUERIES]) expect(() => compileInsights(q.query), q.name).not.toThrow();
  });

  it('saves into <db>/saved-queries.json, runs by name, and overrides a builtin of the same name', async () => {
    await saveQuery(db, 'ssh', 'filter dstPort = 22 | stats count(*) by srcAddr');
    await saveQuery(db, 'top-talkers', 'stats sum(bytes) as b by srcAddr');
    expect(JSON.parse(readFileSync(join(db, SAVED_FILE), 'utf8')).queries.ssh.query).toBe('filter dstPort = 22 | stats count(*) by srcAddr');
    expect((await getSaved(db, 'ssh')).query).toBe('filter dstPort = 22 | stats count(*) by srcAddr');
    expect((await getSaved(db, 'top-talkers')).query).toBe('stats sum(bytes) as b by srcAddr');
    expect((await listSaved(db)).filter((q) => q.name === 'top-talkers')).toHaveLength(1);
  });

  it('refuses bad names, bad queries and unknown names', async () => {
    await expect(saveQuery(db, '../x', 'stats count(*)')).rejects.toThrow(/not a usable name/);
    await expect(saveQuery(db, 'bad', 'stats count(*) by')).rejects.toBeInstanceOf(QueryError);
    await expect(getSaved(db, 'nope')).rejects.toThrow(/no saved query named "nope"/);
  });
});

describe('time range options', () => {
  it('reads ISO, dates and epoch seconds or milliseconds as UTC', () => {
    expect(parseTime('2024-05-01T00:00:00Z')).toBe(1714521600);
    expect(parseTime('2024-05-01')).toBe(1714521600);
    expect(parseTime('2024-05-01 01:00')).toBe(1714525200);
    expect(parseTime('1714521600')).toBe(1714521600);
    expect(parseTime('1714521600123')).toBe(1714521600);
    expect(() => parseTime('yesterday')).toThrow(/expected an ISO date/);
  });

  it('turns --since into a range ending now, and refuses mixing it with --from', () => {
    expect(parseSince('30m')).toBe(1800);
    expect(timeRange({ since: '7d' }, 1_000_000)).toEqual({ from: 1_000_000 - 7 * 86400, to: 1_000_000 });
    expect(timeRange({})).toEqual({ from: undefined, to: undefined });
    expect(() => timeRange({ since: '1h', from: '0' })).toThrow(/either --since or --from/);
    expect(() => timeRange({ from: '10', to: '5' })).toThrow(/after --to/);
    expect(() => parseSince('1 fortnight')).toThrow(/expected a duration/);
  });
});
