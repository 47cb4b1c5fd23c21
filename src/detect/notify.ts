import { appendFile, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Alert, AlertEvent } from './alerts.ts';
import { alertsDir, writeAtomic } from './alerts.ts';
import type { NotifierDocT } from './config.ts';
import { SEVERITIES } from './rule-schema.ts';

/**
 * Notification targets. stdout and file write at once; webhook and Slack go through a durable
 * queue on disk (`<db>/alerts/outbox/<name>/`): an event is a file before anyone tries to send
 * it, a failed POST is retried with exponential backoff, and a dead endpoint loses nothing
 * (after the last attempt the file moves to `dead/`, still there to replay). Sending never
 * blocks the caller: `notify` returns once the events are queued.
 */

export interface Notifier {
  readonly name: string;
  notify(events: readonly AlertEvent[]): Promise<void>;
  /** Waits until the queue is empty or `timeoutMs` passed; true when empty. */
  flush(timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
}

interface Queued {
  attempts: number;
  next_at: number;
  payload: unknown;
  last_error?: string;
}

const wanted = (n: NotifierDocT, a: Alert) =>
  !a.suppressed && (!n.minSeverity || SEVERITIES.indexOf(a.severity) >= SEVERITIES.indexOf(n.minSeverity)) && (!n.route || a.route === n.route);

/** One event as webhooks receive it. */
export function webhookPayload(e: AlertEvent): unknown {
  return { type: `alert.${e.type}`, alert: e.alert };
}

const COLORS: Record<string, string> = { low: '#439FE0', medium: '#E8A317', high: '#E01E5A', critical: '#8B0000' };

/** A Slack incoming-webhook message (text for notifications, blocks for the details). */
export function slackPayload(e: AlertEvent): unknown {
  const a = e.alert;
  const who = a.actors.slice(0, 5).join(', ') + (a.actors.length > 5 ? ', …' : '');
  const what = a.targets.slice(0, 5).join(', ') + (a.targets.length > 5 ? ', …' : '');
  const when = `${new Date(a.first_seen * 1000).toISOString()} – ${new Date(a.last_seen * 1000).toISOString()}`;
  const text = `[${a.severity.toUpperCase()}] ${a.title}`;
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${text}*${e.type === 'opened' ? '' : ` (${e.type})`}` } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Rule*\n${a.rule_id}` },
          { type: 'mrkdwn', text: `*Route*\n${a.route}` },
          { type: 'mrkdwn', text: `*Actors*\n${who || '-'}` },
          { type: 'mrkdwn', text: `*Targets*\n${what || '-'}` },
          { type: 'mrkdwn', text: `*When*\n${when}` },
          { type: 'mrkdwn', text: `*Records*\n${a.count}` },
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: `*Evidence*\n\`\`\`${a.evidence_query}\`\`\`` } },
    ],
    attachments: [{ color: COLORS[a.severity], fallback: text }],
  };
}

/** Backoff before attempt n+1: 0.5 s doubling, at most 5 minutes, with ±20 % jitter. */
export function backoffMs(attempts: number, base = 500): number {
  const d = Math.min(300_000, base * 2 ** Math.max(0, attempts - 1));
  return Math.round(d * (0.8 + Math.random() * 0.4));
}

class HttpNotifier implements Notifier {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private seq = 0;
  readonly dir: string;

  constructor(
    readonly name: string,
    private readonly cfg: Extract<NotifierDocT, { type: 'webhook' | 'slack' }>,
    db: string,
    private readonly baseBackoffMs: number,
  ) {
    this.dir = join(alertsDir(db), 'outbox', name.replace(/[^A-Za-z0-9_.-]/g, '_'));
  }

  async notify(events: readonly AlertEvent[]): Promise<void> {
    const picked = events.filter((e) => wanted(this.cfg, e.alert));
    if (!picked.length) return;
    await mkdir(this.dir, { recursive: true });
    for (const e of picked) {
      const payload = this.cfg.type === 'slack' ? slackPayload(e) : webhookPayload(e);
      const file = join(this.dir, `${Date.now().toString().padStart(14, '0')}-${process.pid}-${String(++this.seq).padStart(6, '0')}.json`);
      await writeAtomic(file, JSON.stringify({ attempts: 0, next_at: 0, payload } satisfies Queued));
    }
    this.kick();
  }

  /** Starts a send pass unless one is running; never awaited by producers. */
  kick(): void {
    if (this.stopped || this.running) return;
    this.running = this.drain()
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
      });
  }

  private async pending(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json')).sort();
  }

  private async drain(): Promise<void> {
    let nextDue = Infinity;
    for (const n of await this.pending()) {
      if (this.stopped) return;
      const path = join(this.dir, n);
      const q = JSON.parse(await readFile(path, 'utf8').catch(() => 'null')) as Queued | null;
      if (!q) continue;
      if (q.next_at > Date.now()) {
        // The oldest event is waiting out its backoff; later ones wait behind it (order kept).
        nextDue = Math.min(nextDue, q.next_at);
        break;
      }
      const err = await this.post(q.payload);
      if (!err) {
        await rm(path, { force: true });
        continue;
      }
      q.attempts++;
      q.last_error = err;
      if (q.attempts >= this.cfg.maxAttempts) {
        await mkdir(join(this.dir, 'dead'), { recursive: true });
        await writeAtomic(path, JSON.stringify(q));
        await rename(path, join(this.dir, 'dead', n));
        continue;
      }
      q.next_at = Date.now() + backoffMs(q.attempts, this.baseBackoffMs);
      await writeAtomic(path, JSON.stringify(q));
      nextDue = Math.min(nextDue, q.next_at);
      // Events keep their order: later ones wait for the one that failed.
      break;
    }
    if (Number.isFinite(nextDue) && !this.stopped) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.kick(), Math.max(10, nextDue - Date.now()));
      this.timer.unref();
    }
  }

  private async post(payload: unknown): Promise<string | undefined> {
    try {
      const res = await fetch(this.cfg.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.cfg.type === 'webhook' ? this.cfg.headers : {}) },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  async flush(timeoutMs = 10_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const left = await this.pending();
      if (left.length === 0) return true;
      if (Date.now() >= until || this.stopped) return false;
      this.kick();
      await (this.running ?? new Promise((r) => setTimeout(r, 25)));
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

class LineNotifier implements Notifier {
  constructor(
    readonly name: string,
    private readonly cfg: NotifierDocT,
    private readonly write: (line: string) => Promise<void>,
  ) {}
  async notify(events: readonly AlertEvent[]): Promise<void> {
    const lines = events.filter((e) => wanted(this.cfg, e.alert)).map((e) => JSON.stringify(webhookPayload(e)) + '\n');
    if (lines.length) await this.write(lines.join(''));
  }
  async flush(): Promise<boolean> {
    return true;
  }
  async stop(): Promise<void> {}
}

/**
 * Builds the configured notifiers; webhook queues left by an earlier run start sending again.
 * @example const ns = createNotifiers([{type: 'webhook', url: 'http://127.0.0.1:9000/hook'}], './flowlens.duckdb')
 */
export function createNotifiers(docs: readonly NotifierDocT[], db: string, opts: { baseBackoffMs?: number; stdout?: (s: string) => void } = {}): Notifier[] {
  return docs.map((d, i) => {
    const name = d.name ?? `${d.type}-${i + 1}`;
    switch (d.type) {
      case 'stdout':
        return new LineNotifier(name, d, async (s) => void (opts.stdout ?? ((x: string) => process.stdout.write(x)))(s));
      case 'file':
        return new LineNotifier(name, d, async (s) => {
          await mkdir(dirname(d.path), { recursive: true });
          await appendFile(d.path, s);
        });
      default: {
        const n = new HttpNotifier(name, d, db, opts.baseBackoffMs ?? 500);
        n.kick();
        return n;
      }
    }
  });
}

/** Parses `--notify` shorthands: `stdout`, `file:PATH`, `webhook:URL`, `slack:URL`. */
export function notifierFromFlag(spec: string): NotifierDocT | undefined {
  if (spec === 'stdout') return { type: 'stdout' };
  const m = /^(file|webhook|slack):(.+)$/.exec(spec);
  if (!m) return undefined;
  if (m[1] === 'file') return { type: 'file', path: m[2] };
  return { type: m[1] as 'webhook' | 'slack', url: m[2], headers: {}, timeoutMs: 5000, maxAttempts: 12 } as NotifierDocT;
}
