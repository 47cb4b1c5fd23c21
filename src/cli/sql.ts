import type { Command } from 'commander';
import { openStore } from '../store/index.ts';
import { addCommonOptions } from './main.ts';
import { renderResult, write, type OutputFormat } from './output.ts';

/** `flowlens sql "<SQL>"`: read-only SQL over flows, vpc_flow_logs and quarantine. */
export function define(cmd: Command): void {
  addCommonOptions(cmd)
    .argument('<sql>', 'one SELECT statement (tables: flows, vpc_flow_logs, quarantine)')
    .action(async (sql: string, opts: { db: string; format: OutputFormat }) => {
      const store = await openStore(opts.db);
      try {
        const rs = await store.query(sql);
        await write(process.stdout, renderResult(rs, opts.format));
      } finally {
        await store.close();
      }
    });
}
