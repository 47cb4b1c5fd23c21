import type { Command } from 'commander';
import { timeRange } from '../query/index.ts';
import { UserError } from '../util/errors.ts';
import { addCommonOptions } from './main.ts';
import { renderResult, write, type OutputFormat } from './output.ts';

interface Opts {
  db: string;
  format: OutputFormat;
  rules?: string;
  builtins?: boolean;
  rule?: string[];
  since?: string;
  from?: string;
  to?: string;
  validate?: boolean;
  listRules?: boolean;
  list?: boolean;
  state?: string;
  severity?: string;
  ack?: string;
  resolve?: string;
  note?: string;
  config?: string;
  notify?: string[];
  suppressed?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const iso = (t: unknown) => (typeof t === 'number' ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : '-');

/**
 * `flowlens detect [--rules DIR] [--since D | --from T --to T]`: runs the rules over the store
 * and prints the alerts; `--validate`, `--list-rules`, `--list`, `--ack`/`--resolve` manage
 * rules and alerts without a run.
 */
export function define(cmd: Command): void {
  addCommonOptions(cmd)
    .option('--rules <dir>', 'a folder (or file) of YAML rules, added to the built-ins (same id replaces one)')
    .option('--no-builtins', 'only the rules of --rules')
    .option('--rule <id>', 'run only this rule (repeatable)', collect)
    .option('--since <duration>', 'only records within this long before now (30m, 6h, 7d)')
    .option('--from <time>', 'only records at or after this time (ISO 8601 or unix seconds)')
    .option('--to <time>', 'only records at or before this time')
    .option('--validate', 'check the rules (built-ins and --rules) and exit; errors name file, line and column')
    .option('--list-rules', 'list the rules and exit')
    .option('--list', 'list stored alerts without running detection')
    .option('--state <state>', 'with --list: open, acknowledged or resolved')
    .option('--severity <severity>', 'with --list: at least this severity (low, medium, high, critical)')
    .option('--suppressed', 'with --list: the suppressed alerts instead')
    .option('--ack <id>', 'acknowledge an alert')
    .option('--resolve <id>', 'resolve an alert')
    .option('--note <text>', 'a note for --ack / --resolve')
    .option('--config <file>', 'detection settings (default <db>/detect.yaml): dedupe, suppression, routing, threat list, notifiers')
    .option('--notify <target>', 'also notify: stdout, file:PATH, webhook:URL, slack:URL, or a notifier name from the config (repeatable)', collect)
    .addHelpText(
      'after',
      '\nAlerts are kept in <db>/alerts/ (open → acknowledged → resolved). Every alert carries an evidence\n' +
        'query: paste it into `flowlens query` to see the records behind it.',
    )
    .action(async (opts: Opts) => {
      await run(opts);
    });
}

async function run(opts: Opts): Promise<void> {
  const api = await import('../detect/index.ts');
  if (opts.validate || opts.listRules) {
    const rules = await api.rulesFor(opts.rules, { builtins: opts.builtins !== false });
    const config = await api.loadConfig(opts.config, opts.db);
    if (config.threatList) rules.push(...(await (await import('../detect/threat-list.ts')).threatListRules(config.threatList)));
    if (opts.validate) {
      process.stderr.write(`${rules.length} rule(s) valid${opts.rules ? ` (${opts.rules} and the built-ins)` : ''}\n`);
      return;
    }
    const rows = rules.map((r) => [r.id, r.family, r.severity, r.window, r.baseline ? r.baseline.kind : 'threshold', r.enabled, r.source, r.title]);
    await write(process.stdout, renderResult({ columns: ['id', 'family', 'severity', 'window_s', 'kind', 'enabled', 'source', 'title'], rows }, opts.format));
    return;
  }
  if (opts.ack || opts.resolve) {
    const id = (opts.ack ?? opts.resolve)!;
    const a = await api.setAlertState(opts.db, id, opts.ack ? 'acknowledged' : 'resolved', opts.note);
    if (!a) throw new UserError(`no alert "${id}" in ${opts.db} (flowlens detect --list shows them)`);
    await print([a], opts.format);
    return;
  }
  if (opts.list) {
    const alerts = await api.listAlerts(opts.db, { state: opts.state, severity: opts.severity, suppressed: opts.suppressed });
    await print(alerts, opts.format);
    return;
  }
  const range = timeRange(opts);
  const config = await api.loadConfig(opts.config, opts.db);
  const notify = (opts.notify ?? []).map((spec) => {
    const named = config.notify.find((n) => n.name === spec);
    if (named) return named;
    const n = api.notifierFromFlag(spec);
    if (!n) throw new UserError(`--notify ${spec}: expected stdout, file:PATH, webhook:URL, slack:URL or a notifier name from the config`);
    return n;
  });
  // Named notifiers run when asked for; the rest of the config's run always.
  const always = config.notify.filter((n) => !n.name || !(opts.notify ?? []).includes(n.name));
  const alerts = await api.runDetection({
    db: opts.db,
    rulesDir: opts.rules,
    noBuiltins: opts.builtins === false,
    ruleIds: opts.rule,
    ...range,
    config: { ...config, notify: always },
    notify,
  });
  await print(alerts, opts.format);
}

async function print(alerts: Awaited<ReturnType<typeof import('../detect/index.ts').listAlerts>>, format: OutputFormat): Promise<void> {
  if (format === 'ndjson' || format === 'json') {
    await write(process.stdout, format === 'json' ? JSON.stringify(alerts) + '\n' : alerts.map((a) => JSON.stringify(a) + '\n').join(''));
    return;
  }
  const columns = ['id', 'severity', 'state', 'rule_id', 'title', 'actors', 'targets', 'first_seen', 'last_seen', 'count', 'incident_id', 'route'];
  const rows = alerts.map((a) => [a.id, a.severity, a.state, a.rule_id, a.title, a.actors.join(' '), a.targets.join(' '), iso(a.first_seen), iso(a.last_seen), a.count, a.incident_id ?? '', a.route]);
  await write(process.stdout, renderResult({ columns, rows }, format));
}
