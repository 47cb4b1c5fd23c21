import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.ts';
import { emulatedStore, type Fixture } from '../../server/test-fixture.ts';

/** Debian's Chromium; CI installs it (.ci/run). Never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
const WEB = fileURLToPath(new URL('..', import.meta.url));
const SHOTS = fileURLToPath(new URL('../../../.ci/out/screenshots', import.meta.url));
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

/** Newest modification time under a folder. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** The tests drive the built dashboard; build it when missing or older than its sources. */
async function ensureBuilt(): Promise<void> {
  const index = join(WEB, 'dist', 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= Math.max(newest(join(WEB, 'src')), statSync(join(WEB, 'index.html')).mtimeMs)) return;
  const { build } = await import('vite');
  await build({ configFile: join(WEB, 'vite.config.ts'), logLevel: 'error' });
}

describe.skipIf(!hasChromium)('dashboard in Chromium', () => {
  let fx: Fixture;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await ensureBuilt();
    fx = await emulatedStore();
    server = await startServer({ db: fx.db, port: 0, detect: false });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (e) => console.error('page error:', e.message));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    fx?.cleanup();
  });

  const panel = (id: string) => page.locator(`[data-panel="${id}"]`);
  /** Waits for a panel's query to finish with data (not loading, not empty, not an error). */
  const done = async (id: string) => {
    await page.waitForSelector(`[data-panel="${id}"][data-state="done"]`, { timeout: 30_000 });
  };
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  it('on-call view renders ingest health, rejects, volume and open alerts', async () => {
    await page.goto(`${server.url}/#/oncall?range=1h&theme=light`);
    for (const id of ['ingest-health', 'top-rejects', 'volume-by-subnet', 'open-alerts']) await done(id);
    expect(await panel('ingest-health').innerText()).toMatch(/Records stored\s+\d/);
    expect(await panel('top-rejects').locator('canvas').count()).toBeGreaterThan(0);
    expect(await panel('volume-by-subnet').locator('canvas').count()).toBeGreaterThan(0);
    const alerts = panel('open-alerts').locator('tbody tr');
    expect(await alerts.count()).toBeGreaterThan(0);
    await page.waitForTimeout(600); // let chart animations finish before the picture
    await shot('oncall');
    // Acknowledge the first open alert: its row says so and the Ack button goes away.
    const first = alerts.first();
    await first.getByRole('button', { name: 'Ack' }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid="alerts"] tbody tr')?.textContent?.includes('acknowledged'), null, { timeout: 15_000 });
  });

  it('debug view: clicking a top talker opens its timeline', async () => {
    await page.goto(`${server.url}/#/debug?range=1h`);
    for (const id of ['top-talkers', 'top-ports', 'top-owners', 'sankey']) await done(id);
    expect(await panel('sankey').locator('canvas').count()).toBeGreaterThan(0);
    const row = page.locator('[data-testid="top-talkers"] tbody tr').first();
    const ip = (await row.locator('td').first().innerText()).trim();
    expect(ip).toMatch(/^[0-9a-f.:]+$/);
    await row.click();
    await done('timeline');
    expect(page.url()).toContain(`focus=${encodeURIComponent(ip)}`);
    expect(await panel('timeline').locator('h2').innerText()).toContain(ip);
    expect(await panel('timeline').locator('canvas').count()).toBeGreaterThan(0);
    const flows = await panel('timeline').locator('[data-testid="timeline-flows"] tbody tr').allInnerTexts();
    expect(flows.length).toBeGreaterThan(0);
    expect(flows.every((t) => t.includes(ip))).toBe(true);
    // A click on a flow asks the policy engine which rules decide it.
    await panel('timeline').locator('[data-testid="timeline-flows"] tbody tr').first().click();
    await page.waitForSelector('[data-testid="why"].accept, [data-testid="why"].reject', { timeout: 15_000 });
    const why = await page.locator('[data-testid="why"]').innerText();
    expect(why).toMatch(/^(ACCEPT|REJECT) (tcp|udp|icmp|protocol)/);
    expect(why).toMatch(/(sg|nacl|route|bpa) (ACCEPT|REJECT) \S+/);
    await page.waitForTimeout(600);
    await shot('debug-timeline');
  });

  it('a query typed in the Logs Insights editor shows its results, as a table and as a chart', async () => {
    await page.goto(`${server.url}/#/debug?range=1h`);
    const input = page.locator('[data-testid="query-input"]');
    await input.fill('stats count(*) as flows by action | sort flows desc');
    await page.locator('[data-testid="run-query"]').click();
    await page.waitForSelector('[data-testid="result-table"] tbody tr', { timeout: 30_000 });
    const table = await page.locator('[data-testid="result-table"]').innerText();
    expect(table).toContain('flows');
    expect(table).toContain('ACCEPT');
    expect(page.url()).toContain('q=stats');
    await page.locator('[data-testid="as-chart"]').click();
    await page.waitForSelector('[data-testid="result-chart"] canvas');
    // A mistake shows where it is.
    await input.fill('stats sumn(bytes) by srcAddr');
    await input.press('Control+Enter');
    await page.waitForSelector('[data-testid="query-error"]');
    expect(await page.locator('[data-testid="query-error"]').innerText()).toMatch(/did you mean `sum`[\s\S]*\^\^\^\^/);
    await shot('debug-editor');
  });

  it('executive view renders egress, alerts this week and coverage', async () => {
    await page.goto(`${server.url}/#/executive?range=1h`);
    for (const id of ['totals', 'egress', 'alerts-week', 'coverage']) await done(id);
    expect(await panel('egress').locator('canvas').count()).toBeGreaterThan(0);
    expect(await panel('alerts-week').locator('canvas').count()).toBeGreaterThan(0);
    expect(await panel('totals').innerText()).toMatch(/Flows\s+[\d.]+k?/);
    await page.waitForTimeout(600);
    await shot('executive');
  });

  it('filters and theme carry across views in the URL (deep links)', async () => {
    await page.goto(`${server.url}/#/debug?range=1h&port=22&theme=dark`);
    await done('top-talkers');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    expect(await page.locator('[data-filter="port"]').innerText()).toContain('port = 22');
    await page.locator('nav a[data-view="oncall"]').click();
    await done('volume-by-subnet');
    expect(page.url()).toMatch(/#\/oncall\?.*port=22/);
    expect(await page.locator('[data-filter="port"]').count()).toBe(1);
    await page.waitForTimeout(600);
    await shot('oncall-dark-port-22');
    await page.locator('[data-filter="port"] button').click();
    expect(page.url()).not.toContain('port=22');
  });

  it('an empty store says how to fill it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-empty-'));
    const empty = await startServer({ db: join(dir, 'store'), port: 0, detect: false });
    try {
      await page.goto(`${empty.url}/#/oncall`);
      await page.waitForSelector('[data-testid="empty-store"]');
      expect(await page.locator('[data-testid="empty-store"]').innerText()).toContain('flowlens ingest');
      await shot('empty-store');
    } finally {
      await empty.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
