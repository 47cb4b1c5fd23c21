import { Command, CommanderError, Option } from 'commander';
import { UserError, oneLine } from '../util/errors.ts';
import { OUTPUT_FORMATS } from './output.ts';

/**
 * Every command, one file each under src/cli, loaded only when it runs (startup stays fast).
 * A command module exports `define(cmd: Command): void` that adds its options and action.
 */
const COMMANDS: ReadonlyArray<{ name: string; summary: string; load: () => Promise<{ define: (cmd: Command) => void }> }> = [
  { name: 'emulate', summary: 'emulate a VPC and write the flow logs AWS would deliver', load: () => import('./emulate.ts') },
  { name: 'ingest', summary: 'ingest flow log files, folders or stdin into the store', load: () => import('./ingest.ts') },
  { name: 'enrich', summary: 'manage the inventory, ip-ranges, prices and geo data; re-enrich stored records', load: () => import('./enrich.ts') },
  { name: 'sql', summary: 'run read-only SQL over the store', load: () => import('./sql.ts') },
  { name: 'query', summary: 'run a CloudWatch Logs Insights query over the store', load: () => import('./query.ts') },
  { name: 'detect', summary: 'run detection rules over the store and manage alerts', load: () => import('./detect.ts') },
  { name: 'explain', summary: 'why a connection is accepted or rejected; what a policy change would break; unused rules', load: () => import('./explain.ts') },
  { name: 'serve', summary: 'serve the HTTP API, live ingest, metrics and the dashboard', load: () => import('./serve.ts') },
  { name: 'demo', summary: 'generate a sample, ingest it and show what flowlens answers', load: () => import('./demo.ts') },
];

/** Options every command takes. */
export function addCommonOptions(cmd: Command, opts: { format?: boolean } = {}): Command {
  cmd.addOption(new Option('--db <path>', 'the store (a folder)').env('FLOWLENS_DB').default('./flowlens.duckdb'));
  cmd.option('--debug', 'show stack traces');
  if (opts.format !== false) {
    cmd.addOption(new Option('--format <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'));
  }
  return cmd;
}

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`flowlens sql ... | head -1`) is not an error of ours: end
  // quietly, as Unix tools do, instead of a stack trace from the next write.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = new Command('flowlens')
    .description('VPC Flow Logs end to end: emulate, ingest, store, query, detect, explain')
    // Argument mistakes are one line too, like every other error: commander's own text ("error:
    // ...", a suggestion on the next line) joined after the program's name, with the hint.
    .configureOutput({
      outputError: (str, write) => write(`flowlens: ${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (run with --help for usage)\n`),
    })
    .exitOverride();
  const wanted = argv[2];
  for (const c of COMMANDS) {
    const cmd = program.command(c.name).description(c.summary);
    // Only the command being run (or all of them, for help) pays for its imports.
    if (c.name === wanted || wanted === undefined || wanted === 'help' || wanted.startsWith('-')) {
      (await c.load()).define(cmd);
    }
  }
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UserError) {
      process.stderr.write(`flowlens: ${oneLine(err)}\n`);
      if (debug) process.stderr.write(`${err.stack}\n`);
      return 2;
    }
    process.stderr.write(`flowlens: ${oneLine(err)}\n`);
    if (debug) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    else process.stderr.write('(run again with --debug for details)\n');
    return 1;
  }
}
