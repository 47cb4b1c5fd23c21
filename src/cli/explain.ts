import type { Command } from 'commander';
import type { Topology } from '../fabric/model.ts';
import { UserError } from '../util/errors.ts';
import { addCommonOptions } from './main.ts';
import { renderResult, write, type OutputFormat } from './output.ts';

interface Opts {
  db: string;
  format: OutputFormat;
  topology?: string;
  port?: string;
  srcPort?: string;
  protocol?: string;
  whatIf?: string;
  ruleUsage?: boolean;
  unused?: boolean;
  since?: string;
  from?: string;
  to?: string;
  limit: string;
}

function integer(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UserError(`${flag}: "${text}" is not a whole number`);
  return Number(text);
}

const iso = (s: number | undefined) => (s === undefined ? null : new Date(s * 1000).toISOString().replace('.000Z', 'Z'));

/**
 * `flowlens explain`: why a connection is accepted or rejected (every interface and layer it
 * crosses, and the rule that decided), what a changed topology would break among the stored
 * conversations (`--what-if`), and which rules no stored traffic used (`--rule-usage`).
 */
export function define(cmd: Command): void {
  addCommonOptions(cmd)
    .argument('[src]', 'source address')
    .argument('[dst]', 'destination address')
    .option('--port <n>', 'destination port', '443')
    .option('--src-port <n>', 'source (client) port; network ACLs judge the reply on it', '49152')
    .option('--protocol <p>', 'tcp, udp, icmp, icmpv6 or a number', 'tcp')
    .option('--topology <path>', 'YAML topology or a folder of `aws ec2 describe-*` JSON (default: the shipped three-tier VPC)')
    .option('--what-if <path>', 'a changed topology: list the stored conversations it would break or open')
    .option('--rule-usage', 'every security group and network ACL rule with the stored traffic it decided, least used first')
    .option('--unused', 'with --rule-usage: only rules no stored traffic used')
    .option('--since <duration>', 'with --what-if/--rule-usage: conversations of this long before now (30m, 6h, 7d)')
    .option('--from <time>', 'with --what-if/--rule-usage: start (ISO or Unix seconds)')
    .option('--to <time>', 'with --what-if/--rule-usage: end (ISO or Unix seconds)')
    .option('--limit <n>', 'with --what-if/--rule-usage: the busiest N conversations of the store', '100000')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  flowlens explain 10.0.10.21 10.0.20.10 --port 5432          # app → database: which rules let it through\n' +
        '  flowlens explain 203.0.113.9 192.0.2.30 --port 3389          # why is this REJECTed, and by which rule\n' +
        '  flowlens explain --what-if proposed.yaml --since 7d          # what would break with this NACL/SG change\n' +
        '  flowlens explain --rule-usage --unused --since 30d           # rules no traffic needs\n',
    )
    .action(async (src: string | undefined, dst: string | undefined, opts: Opts) => {
      const { loadTopology } = await import('../fabric/index.ts');
      const topo = await loadTopology(opts.topology);
      if (opts.whatIf || opts.ruleUsage) {
        if (src || dst) throw new UserError('--what-if and --rule-usage replay the store; give no addresses with them');
        if (opts.whatIf && opts.ruleUsage) throw new UserError('give either --what-if or --rule-usage, not both');
        await replay(topo, opts);
        return;
      }
      if (opts.unused) throw new UserError('--unused goes with --rule-usage');
      if (!src || !dst) throw new UserError('give a source and a destination address (or --what-if FILE, or --rule-usage); try flowlens explain --help');
      const { explainConnection } = await import('../explain/index.ts');
      const e = explainConnection(topo, { src, dst, protocol: opts.protocol, dstPort: integer(opts.port, '--port'), srcPort: integer(opts.srcPort, '--src-port') });
      // One explanation is one object: json and ndjson print it whole (verdict, summary, steps).
      if (opts.format === 'json' || opts.format === 'ndjson') {
        await write(process.stdout, JSON.stringify(e) + '\n');
        return;
      }
      // One row per layer judged at each interface: the rule is what people look for.
      const rows = e.steps.flatMap((s) => s.checks.map((c) => [s.leg, s.eni, s.name ?? null, s.direction, s.srcaddr, s.dstaddr, c.layer, c.action, c.ruleId]));
      if (e.blockedBy?.layer === 'route') rows.push([e.blockedBy.leg, e.blockedBy.eni ?? null, null, null, null, null, 'route', 'REJECT', e.blockedBy.ruleId]);
      const rs = { columns: ['leg', 'interface', 'name', 'direction', 'srcaddr', 'dstaddr', 'layer', 'action', 'rule'], rows };
      if (opts.format === 'table') await write(process.stdout, `${e.verdict}: ${e.summary}\n\n${renderResult(rs, 'table')}`);
      // CSV: the verdict on every row, so the file alone says whether the path is open.
      else await write(process.stdout, renderResult({ columns: ['verdict', ...rs.columns], rows: rs.rows.map((r) => [e.verdict, ...r]) }, opts.format));
    });
}

async function replay(topo: Topology, opts: Opts): Promise<void> {
  const [{ loadTopology }, { openStore }, { timeRange }, { conversationsFromStore, ruleUsage, whatIf }] = await Promise.all([
    import('../fabric/index.ts'),
    import('../store/index.ts'),
    import('../query/time-range.ts'),
    import('../explain/index.ts'),
  ]);
  const range = timeRange(opts);
  const limit = integer(opts.limit, '--limit') ?? 100_000;
  const proposed = opts.whatIf ? await loadTopology(opts.whatIf) : undefined;
  const store = await openStore(opts.db);
  let conversations;
  try {
    conversations = await conversationsFromStore(store, range, limit);
  } finally {
    await store.close();
  }
  if (proposed) {
    const changes = whatIf(topo, proposed, conversations);
    const rows = changes.map((c) => [
      c.change,
      c.conversation.srcaddr,
      c.conversation.dstaddr,
      c.conversation.protocol,
      c.conversation.dstport,
      c.conversation.records,
      c.conversation.bytes,
      iso(c.conversation.last),
      (c.change === 'breaks' ? c.after : c.before).blockedBy?.ruleId ?? null,
      c.change === 'breaks' ? c.after.summary : c.before.summary,
    ]);
    const rs = { columns: ['change', 'srcaddr', 'dstaddr', 'protocol', 'dstport', 'records', 'bytes', 'last_seen', 'rule', 'why'], rows };
    if (opts.format === 'table') {
      const breaks = changes.filter((c) => c.change === 'breaks').length;
      await write(process.stdout, `${conversations.length} stored conversation(s) replayed: ${breaks} would break, ${changes.length - breaks} would open\n${rows.length ? '\n' + renderResult(rs, 'table') : ''}`);
    } else await write(process.stdout, renderResult(rs, opts.format));
    return;
  }
  const usage = ruleUsage(topo, conversations).filter((u) => !opts.unused || u.records === 0);
  const rows = usage.map((u) => [u.rule, u.kind, u.direction, u.text, u.conversations, u.records, iso(u.lastSeen)]);
  const rs = { columns: ['rule', 'kind', 'direction', 'text', 'conversations', 'records', 'last_seen'], rows };
  if (opts.format === 'table') await write(process.stdout, `${conversations.length} stored conversation(s) replayed over ${usage.length} rule(s)\n\n${renderResult(rs, 'table')}`);
  else await write(process.stdout, renderResult(rs, opts.format));
}
