import { Option, type Command } from 'commander';
import { openStore } from '../store/index.ts';
import { compileInsights, describeFlows, runInsights, timeRange, type Dialect } from '../query/index.ts';
import { QueryError } from '../query/errors.ts';
import { getSaved, listSaved, saveQuery } from '../query/saved.ts';
import { UserError } from '../util/errors.ts';
import { addCommonOptions } from './main.ts';
import { renderResult, write, type OutputFormat } from './output.ts';

interface Opts {
  db: string;
  format: OutputFormat;
  since?: string;
  from?: string;
  to?: string;
  save?: string;
  run?: string;
  listSaved?: boolean;
  sql?: boolean;
  dialect: Dialect;
}

/**
 * `flowlens query "<Logs Insights query>" [--since 1h | --from T --to T]`, plus saved queries
 * (`--save`, `--run`, `--list-saved`) and `--sql` to see the SQL it runs.
 */
export function define(cmd: Command): void {
  addCommonOptions(cmd)
    .argument('[query]', 'a CloudWatch Logs Insights query, e.g. \'filter action="REJECT" | stats count(*) by srcAddr\'')
    .option('--since <duration>', 'only records that started within this long before now (30m, 6h, 7d)')
    .option('--from <time>', 'only records that started at or after this time (ISO 8601 or unix seconds)')
    .option('--to <time>', 'only records that started at or before this time (ISO 8601 or unix seconds)')
    .option('--save <name>', 'save the query under a name in the store folder (and do not run it)')
    .option('--run <name>', 'run a saved or built-in query')
    .option('--list-saved', 'list saved and built-in queries')
    .option('--sql', 'print the SQL the query compiles to instead of running it')
    .addOption(new Option('--dialect <dialect>', 'SQL dialect for --sql').choices(['duckdb', 'clickhouse']).default('duckdb'))
    .addHelpText(
      'after',
      '\nWithout --since or --from/--to the query covers all time. Without `limit`, at most 10,000 rows are returned.\n' +
        'Field names: Insights (srcAddr, dstPort, logStatus, @timestamp, @message, @logStream) or Athena (srcaddr, log_status).',
    )
    .action(async (query: string | undefined, opts: Opts) => {
      try {
        await run(query, opts);
      } catch (err) {
        if (!(err instanceof QueryError)) throw err;
        // The caret display needs several lines; main() would fold it into one.
        process.stderr.write(opts.format === 'json' ? JSON.stringify(err.toJSON()) + '\n' : `flowlens: ${err.render()}\n`);
        process.exitCode = 2;
      }
    });
}

async function run(query: string | undefined, opts: Opts): Promise<void> {
  if (opts.listSaved) {
    const rows = (await listSaved(opts.db)).map((q) => [q.name, q.builtin ? 'builtin' : 'saved', q.description, q.query]);
    await write(process.stdout, renderResult({ columns: ['name', 'kind', 'description', 'query'], rows }, opts.format));
    return;
  }
  if (opts.save) {
    if (!query) throw new UserError('--save needs the query to save');
    await saveQuery(opts.db, opts.save, query);
    process.stderr.write(`saved "${opts.save}" in ${opts.db}\n`);
    return;
  }
  if (opts.run) {
    if (query) throw new UserError('give either a query or --run NAME, not both');
    query = (await getSaved(opts.db, opts.run)).query;
  }
  if (!query) throw new UserError('missing the query (or --run NAME); try flowlens query --help');
  const range = timeRange(opts);
  if (opts.sql) {
    const c = compileInsights(query, { dialect: opts.dialect, ...range });
    const rows = [[c.sql, JSON.stringify(c.params), JSON.stringify(c.columns)]];
    await write(process.stdout, opts.format === 'table' ? `${c.sql}\n-- params: ${JSON.stringify(c.params)}\n` : renderResult({ columns: ['sql', 'params', 'columns'], rows }, opts.format));
    return;
  }
  const store = await openStore(opts.db);
  try {
    const rs = await runInsights(store, query, { ...range, columns: await describeFlows(store) });
    await write(process.stdout, renderResult(rs, opts.format));
  } finally {
    await store.close();
  }
}
