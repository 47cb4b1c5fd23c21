import { Option, type Command } from 'commander';
import { UserError } from '../util/errors.ts';
import { addCommonOptions } from './main.ts';

/**
 * `flowlens serve`: the HTTP API, live ingest (Firehose, text lines), /metrics and the
 * dashboard, over the store, until interrupted.
 */
export function define(cmd: Command): void {
  addCommonOptions(cmd, { format: false })
    .option('--host <host>', 'address to listen on (anything but loopback needs a token)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8080')
    .addOption(new Option('--token <token>', 'bearer token every route but /healthz requires').env('FLOWLENS_TOKEN'))
    .option('--rules <dir>', 'detection rules folder for streaming detection')
    .option('--max-rows <n>', 'rows a JSON answer may carry (NDJSON answers may carry 100 times more)', '10000')
    .option('--query-timeout <ms>', 'interrupt queries running longer than this', '30000')
    .option('--topology <path>', 'topology /api/explain answers over (YAML or a describe-* folder; default: the shipped VPC)')
    .option('--log', 'log every request (JSON lines on stdout)')
    .action(async (opts: { db: string; host: string; port: string; token?: string; rules?: string; maxRows: string; queryTimeout: string; topology?: string; log?: boolean }) => {
      const { startServer } = await import('../server/index.ts');
      const num = (v: string, flag: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new UserError(`${flag}: expected a whole number, got "${v}"`);
        return n;
      };
      const maxRows = num(opts.maxRows, '--max-rows');
      let server;
      try {
        server = await startServer({
          db: opts.db,
          host: opts.host,
          port: num(opts.port, '--port'),
          token: opts.token,
          rulesDir: opts.rules,
          maxRows,
          maxStreamRows: maxRows * 100,
          queryTimeoutMs: num(opts.queryTimeout, '--query-timeout'),
          topology: opts.topology,
          logRequests: Boolean(opts.log),
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { issues?: { path: PropertyKey[]; message: string }[] };
        if (e.code === 'EADDRINUSE') throw new UserError(`port ${opts.port} on ${opts.host} is in use; pass another --port (0 picks a free one)`, { cause: err });
        if (e.issues) throw new UserError(e.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; '), { cause: err });
        throw err;
      }
      process.stdout.write(`flowlens serving ${opts.db} at ${server.url}/ (API: ${server.url}/api/openapi.json, metrics: ${server.url}/metrics)\n`);
      if (opts.token) process.stdout.write(`open ${server.url}/?token=<your token> once in a browser; API callers send Authorization: Bearer <token>\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          // Accepted ingest requests finish committing before the store closes.
          void server.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
