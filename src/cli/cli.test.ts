import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'flowlens.js');

function flowlens(args: string[], input?: string | Buffer) {
  const r = spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', cwd: root, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(n: number): string {
  const out = ['version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'];
  for (let i = 0; i < n; i++) out.push(`2 123456789012 eni-0123456789abcdef0 10.0.${(i >> 8) & 255}.${i & 255} 10.1.0.1 ${1024 + (i % 60000)} 443 6 1 ${100 + i} ${1_700_000_000 + i} ${1_700_000_060 + i} ACCEPT OK`);
  return out.join('\n') + '\n';
}

describe('flowlens ingest / sql on the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowlens-cli-'));
  const db = join(dir, 'store');
  writeFileSync(join(dir, 'a.log'), lines(50) + '2 123 eni-1 10.0.0.1 10.0.0.2 1 notaport 6 1 1 1 2 ACCEPT OK\n');

  it('prints the JSON summary named in DESIGN.md', () => {
    const r = flowlens(['ingest', join(dir, 'a.log'), '--db', db, '--format', 'json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    for (const k of ['files', 'records', 'ok', 'nodata', 'skipdata', 'quarantined', 'duplicates', 'seconds']) expect(s).toHaveProperty(k);
    expect(s).toMatchObject({ files: 1, records: 50, ok: 50, quarantined: 1, duplicates: 0 });
  });

  it('writes refused lines to the quarantine with source, line, column and reason', () => {
    const files = readdirSync(join(db, 'quarantine'));
    const entry = JSON.parse(readFileSync(join(db, 'quarantine', files[0]), 'utf8').trim());
    expect(entry).toMatchObject({ source: join(dir, 'a.log'), line: 52, column: 33, reason: 'dstport: expected a number or "-", found "notaport"' });
  });

  it('is idempotent: the same file again adds nothing', () => {
    const r = flowlens(['ingest', join(dir, 'a.log'), '--db', db, '--format', 'json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ records: 0, duplicates: 50 });
    const c = flowlens(['sql', 'SELECT count(*) AS n FROM flows', '--db', db, '--format', 'json']);
    expect(JSON.parse(c.stdout)).toEqual([{ n: 50 }]);
  });

  it('reads stdin with -', () => {
    const r = flowlens(['ingest', '-', '--db', join(dir, 'stdin-store'), '--format', 'json'], gzipSync(lines(20)));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ records: 20 });
  });

  it('reads stdin with - beside files and folders, and sums both in one summary', () => {
    const store = join(dir, 'mixed-store');
    const r = flowlens(['ingest', join(dir, 'a.log'), '-', '--db', store, '--format', 'json'], gzipSync(lines(20).replace(/10\.1\.0\.1/g, '10.2.0.2')));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ files: 2, records: 70, ok: 70, quarantined: 1, duplicates: 0 });
    const c = flowlens(['sql', "SELECT count(*) FILTER (WHERE dstaddr = '10.2.0.2') AS stdin, count(*) AS n FROM flows", '--db', store, '--format', 'json']);
    expect(JSON.parse(c.stdout)).toEqual([{ stdin: 20, n: 70 }]);
  });

  it.each([
    ['table', /^\s*n\n-+\n\s*50\n\(1 row\)\n$/],
    ['csv', /^n\n50\n$/],
    ['ndjson', /^\{"n":50\}\n$/],
    ['json', /^\[\{"n":50\}\]\n$/],
  ])('sql prints --format %s', (format, expected) => {
    const r = flowlens(['sql', 'SELECT count(*) AS n FROM vpc_flow_logs', '--db', db, '--format', format]);
    expect(r.stdout).toMatch(expected);
  });

  it.each([
    ["COPY flows TO '/tmp/flowlens-x.csv'", /read-only/],
    ["SELECT * FROM read_csv('/etc/passwd')", /read-only|disabled by configuration/],
    ["SELECT * FROM '/etc/passwd'", /does not exist|read-only/],
    ["ATTACH '/tmp/flowlens-y.duckdb'", /read-only: only SELECT/],
    ['INSERT INTO flows SELECT * FROM flows', /read-only: only SELECT/],
    ['CREATE TABLE t AS SELECT 1', /read-only: only SELECT/],
    ['SET enable_external_access = true', /read-only: only SELECT/],
    ['SELECT 1; DROP VIEW flows', /exactly one SQL statement/],
    ["SELECT * FROM read_parquet('x.parquet')", /table function read_parquet\(\) is not allowed|read-only: Cannot access file/],
    [`SELECT * FROM read_parquet('${db}/flows/*/*.parquet')`, /table function read_parquet\(\) is not allowed/],
    ['WITH x AS (SELECT * FROM flows) INSERT INTO flows SELECT * FROM x', /read-only: only SELECT queries are allowed here \(this is an INSERT statement\)/],
    ['', /no SQL given/],
    // EXPLAIN ANALYZE runs what it explains: the statement explained is checked as a query.
    [`EXPLAIN ANALYZE COPY (SELECT 42) TO '${db}/flows/pwn.csv'`, /read-only: only SELECT queries are allowed here \(this is a COPY statement\)/],
    ['EXPLAIN ANALYZE CREATE OR REPLACE VIEW flows AS SELECT 1 AS x', /this is a CREATE statement/],
    [`EXPLAIN (FORMAT json) COPY (SELECT 1) TO '${db}/flows/pwn.csv'`, /this is a COPY statement/],
    [`EXPLAIN /* x */ ANALYZE SELECT * FROM read_text('${db}/*')`, /read-only/],
    ['selec count(*) from flows', /^flowlens: SQL syntax: syntax error at or near "selec"$/m],
  ])('refuses %s with a one-line error and exit code 2', (sql, message) => {
    const r = flowlens(['sql', sql, '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync('/tmp/flowlens-x.csv')).toBe(false);
    expect(existsSync(join(db, 'flows', 'pwn.csv'))).toBe(false);
  });

  it('explains a query, with ANALYZE too, and the views are intact after the refusals', () => {
    const r = flowlens(['sql', 'EXPLAIN ANALYZE SELECT count(*) FROM flows', '--db', db, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toHaveProperty('explain_value');
    const c = flowlens(['sql', 'SELECT count(*) AS n FROM flows', '--db', db, '--format', 'json']);
    expect(JSON.parse(c.stdout)).toEqual([{ n: 50 }]);
  });

  it('keeps every column of a result in JSON, repeated names included', () => {
    const r = flowlens(['sql', 'SELECT 1 AS a, 2 AS a, 3 AS a_1', '--db', db, '--format', 'json']);
    expect(JSON.parse(r.stdout)).toEqual([{ a: 1, a_1: 2, a_1_1: 3 }]);
  });

  it('ends quietly when its reader stops early (| head)', () => {
    const r = spawnSync('/bin/sh', ['-c', `"${process.execPath}" "${bin}" sql "SELECT * FROM range(300000)" --db "${db}" --format csv | head -1`], { encoding: 'utf8', cwd: root });
    expect(r.stdout).toBe('range\n');
    expect(r.stderr).toBe('');
  });

  it('reports a command-line mistake on one line', () => {
    const r = flowlens(['sql', 'SELECT 1', '--db', db, '--fromat', 'json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^flowlens: unknown option '--fromat' \(Did you mean --format\?\) \(run with --help for usage\)\n$/);
  });

  it('enrich --show and --lookup need a store, and make none', () => {
    const none = join(dir, 'no-store-here');
    for (const args of [['--show'], ['--lookup', '8.8.8.8'], []]) {
      const r = flowlens(['enrich', ...args, '--db', none]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no flowlens store here/);
    }
    expect(existsSync(none)).toBe(false);
  });

  it('says what to do when there is no store', () => {
    const r = flowlens(['sql', 'SELECT 1', '--db', join(dir, 'nothing-here')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no flowlens store here/);
  });

  it('names a missing input path', () => {
    const r = flowlens(['ingest', join(dir, 'missing.log'), '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.log: no such file or folder/);
  });
});

describe('flowlens emulate --workers', () => {
  it('writes the same objects with one thread or two, and refuses fewer than one', { timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-emulate-'));
    const files = (out: string) => {
      const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
      return walk(out).map((f) => [f.slice(out.length), readFileSync(f).toString('base64')]).sort();
    };
    for (const w of ['1', '2']) {
      const r = flowlens(['emulate', '--duration', '20m', '--workers', w, '--out', join(dir, `w${w}`), '--format', 'json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).records).toBeGreaterThan(0);
    }
    expect(files(join(dir, 'w2'))).toEqual(files(join(dir, 'w1')));
    const bad = flowlens(['emulate', '--workers', '0', '--out', join(dir, 'w0')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--workers: "0" must be at least 1/);
  });
});

describe('flowlens explain', () => {
  it('explains a rejected connection as JSON and refuses bad input in one line', () => {
    const r = flowlens(['explain', '203.0.113.9', '192.0.2.30', '--port', '3389', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.verdict).toBe('REJECT');
    expect(e.blockedBy).toMatchObject({ layer: 'sg', ruleId: 'sg-0a1b2c3d4e5f60005 ingress' });
    const table = flowlens(['explain', '10.0.10.21', '10.0.20.10', '--port', '5432']);
    expect(table.stdout).toMatch(/^ACCEPT: tcp\/5432 10\.0\.10\.21 → 10\.0\.20\.10 is accepted/);
    expect(table.stdout).toMatch(/sg-0a1b2c3d4e5f60004 ingress\[0\]/);
    // Every format carries the verdict: ndjson the whole explanation, csv a verdict column.
    const nd = flowlens(['explain', '203.0.113.9', '192.0.2.30', '--port', '3389', '--format', 'ndjson']);
    expect(nd.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(nd.stdout)).toMatchObject({ verdict: 'REJECT' });
    const csv = flowlens(['explain', '203.0.113.9', '192.0.2.30', '--port', '3389', '--format', 'csv']).stdout.trim().split('\n');
    expect(csv[0]).toMatch(/^verdict,leg,interface,/);
    expect(csv.slice(1).every((l) => l.startsWith('REJECT,'))).toBe(true);
    const bad = flowlens(['explain', '10.0.0', '10.0.20.10']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/source: "10\.0\.0" is not an IPv4 or IPv6 address/);
    const noStore = flowlens(['explain', '--rule-usage', '--db', join(tmpdir(), 'flowlens-no-store-here')]);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toMatch(/no flowlens store here/);
  });
});

describe('an ingest killed with SIGKILL resumes without loss or duplicates', () => {
  it('over several files, skips the finished ones and resumes the one cut off', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-kill-files-'));
    const db = join(dir, 'store');
    const files = 8;
    // Big enough for the writer thread (batches of 32,768 rows and more), small enough to be quick.
    const per = 40_000;
    const text = lines(per * files).split('\n');
    const header = text[0];
    for (let f = 0; f < files; f++) writeFileSync(join(dir, `part-${f}.log.gz`), gzipSync([header, ...text.slice(1 + f * per, 1 + (f + 1) * per)].join('\n') + '\n'));
    const child = spawn(process.execPath, [bin, 'ingest', dir, '--db', db, '--format', 'json'], { cwd: root, stdio: 'ignore' });
    let killed = false;
    for (let i = 0; i < 3000 && !killed; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const ledger = join(db, 'ledger');
      if (!existsSync(ledger)) continue;
      // Kill once two files are finished: others are then half-done or not started.
      const done = readdirSync(ledger)
        .filter((f) => f.endsWith('.json'))
        .filter((f) => {
          try {
            return JSON.parse(readFileSync(join(ledger, f), 'utf8')).done === true;
          } catch {
            return false; // replaced atomically; a read between rename steps just retries
          }
        }).length;
      if (done >= 2) {
        child.kill('SIGKILL');
        killed = true;
      }
    }
    await new Promise((r) => child.on('exit', r));
    expect(killed).toBe(true);
    const r = flowlens(['ingest', dir, '--db', db, '--format', 'json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.records + s.duplicates).toBe(per * files);
    expect(s.skipped_files).toBeGreaterThanOrEqual(2);
    const c = flowlens(['sql', 'SELECT count(*) AS n, count(DISTINCT start) AS d FROM flows', '--db', db, '--format', 'json']);
    expect(JSON.parse(c.stdout)).toEqual([{ n: per * files, d: per * files }]);
  });

  it('in one big file, resumes after the last committed chunk', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-kill-'));
    const db = join(dir, 'store');
    const n = 400_000;
    // Line 2 is longer than 1 MiB: quarantined in the first chunk, and not again on resume.
    writeFileSync(join(dir, 'big.log.gz'), gzipSync(lines(n).replace('\n', '\n' + 'x'.repeat(2 << 20) + '\n')));
    const child = spawn(process.execPath, [bin, 'ingest', join(dir, 'big.log.gz'), '--db', db, '--batch-rows', '2000', '--format', 'json'], { cwd: root, stdio: 'ignore' });
    const ledgerDir = join(db, 'ledger');
    // Kill as soon as a few chunks have committed: mid-file, mid-chunk most likely.
    let killedAt = -1;
    for (let i = 0; i < 2000 && killedAt < 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      if (!existsSync(ledgerDir)) continue;
      const files = readdirSync(ledgerDir).filter((f) => f.endsWith('.json'));
      if (!files.length) continue;
      try {
        const entry = JSON.parse(readFileSync(join(ledgerDir, files[0]), 'utf8'));
        if (entry.chunks >= 3) {
          child.kill('SIGKILL');
          killedAt = entry.lines;
        }
      } catch {
        // the ledger file is replaced atomically; a read between rename steps just retries
      }
    }
    await new Promise((r) => child.on('exit', r));
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(n);
    const r = flowlens(['ingest', join(dir, 'big.log.gz'), '--db', db, '--format', 'json', '--batch-rows', '2000']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ resumed_files: 1, records: n, quarantined: 1 });
    const c = flowlens(['sql', 'SELECT count(*) AS n, count(DISTINCT start) AS d, (SELECT count(*) FROM quarantine) AS q FROM flows', '--db', db, '--format', 'json']);
    expect(JSON.parse(c.stdout)).toEqual([{ n, d: n, q: 1 }]);
  });
});

describe('flowlens demo', () => {
  it('emulates, ingests, answers, detects, then serves the dashboard and prints its URL', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-demo-'));
    const child = spawn(process.execPath, [bin, 'demo', '--dir', dir, '--duration', '20m', '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /Dashboard: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
        if (m) {
          clearInterval(timer);
          resolve(m[1]);
        }
      }, 100);
      child.on('exit', (code) => {
        clearInterval(timer);
        reject(new Error(`demo exited (${code}) before serving:\n${out}`));
      });
    });
    try {
      expect(out).toMatch(/1\/4 emulating/);
      expect(out).toMatch(/numRejections/);
      expect(out).toMatch(/4\/4 detecting/);
      expect(out).toMatch(/\d+ alerts;/);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const page = await fetch(`${url}/`);
      expect(await page.text()).toMatch(/<div id="root">|<script/);
      const q = await fetch(`${url}/api/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'stats count(*) as n' }) });
      expect(((await q.json()) as { rows: unknown[][] }).rows[0][0]).toBeGreaterThan(0);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
  });
});

describe('flowlens demo --db --format json', () => {
  it('puts its store where --db says (new or empty only) and prints its answers as one JSON object', { timeout: 240_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-demo-json-'));
    const db = join(dir, 'mystore');
    const r = flowlens(['demo', '--dir', join(dir, 'work'), '--db', db, '--duration', '10m', '--no-serve', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.store).toBe(db);
    expect(o.records).toBeGreaterThan(0);
    expect(o.answers.map((a: { title: string }) => a.title)).toContain('Alerts by rule');
    expect(o.answers[0].rows[0]).toHaveProperty('numRejections');
    expect(r.stderr).toMatch(/1\/4 emulating/);
    expect(existsSync(join(db, 'flows'))).toBe(true);
    // A store with data is never the demo's to fill.
    const again = flowlens(['demo', '--dir', join(dir, 'work'), '--db', db, '--no-serve']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^flowlens: --db .* is not empty/);
  });
});

describe('the build (scripts/build-cli.mjs)', () => {
  it('runs the CLI and every worker entry as the sources do: emulator render threads, ingest worker threads, the Parquet writer thread', () => {
    const name = `dist-test-${process.pid}`;
    const out = join(root, name);
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-build-'));
    try {
      const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-cli.mjs'), '--outdir', name], { encoding: 'utf8', cwd: root });
      expect(built.stderr).toBe('');
      expect(built.status).toBe(0);
      // What bin/flowlens.js does with a fresh build, without the freshness check.
      writeFileSync(join(out, 'run.mjs'), "import { main } from './main.mjs';\nprocess.exitCode = await main(process.argv);\n");
      const run = (args: string[]) => spawnSync(process.execPath, [join(out, 'run.mjs'), ...args], { encoding: 'utf8', cwd: root, timeout: 120_000 });
      const em = run(['emulate', '--duration', '20m', '--workers', '2', '--out', join(dir, 'bucket'), '--format', 'json']);
      expect(em.stderr).toBe('');
      const emulated = JSON.parse(em.stdout) as { records: number };
      // Two files of 9 MB: ingest parses them in worker threads (16 MB or more in all).
      const big = lines(80_000);
      mkdirSync(join(dir, 'logs'));
      writeFileSync(join(dir, 'logs', 'x.log'), big);
      writeFileSync(join(dir, 'logs', 'y.log'), big.replace(/eni-0123456789abcdef0/g, 'eni-0123456789abcdef1'));
      // One file alone: a single lane, whose 80,000-row batches go to the Parquet writer thread.
      for (const [input, db] of [[join(dir, 'bucket'), 'a'], [join(dir, 'logs'), 'b'], [join(dir, 'logs', 'x.log'), 'c']] as const) {
        const r = run(['ingest', input, '--db', join(dir, db), '--format', 'json', '--no-progress']);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
      }
      const count = (db: string) => JSON.parse(run(['sql', '--db', join(dir, db), 'SELECT count(*) AS n FROM flows', '--format', 'json']).stdout)[0].n;
      expect(count('a')).toBe(emulated.records);
      expect(count('b')).toBe(160_000);
      expect(count('c')).toBe(80_000);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);
});
