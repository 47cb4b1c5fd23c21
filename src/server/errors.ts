import { QueryError } from '../query/index.ts';
import { UserError, oneLine } from '../util/errors.ts';

/** An answer other than 200 with a one-line reason; `extra` joins the JSON body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

/**
 * The status and JSON body for anything a route throws: user mistakes are 400 (queries with
 * line/column), our limits keep their status, the rest is 500 without internals.
 * @example errorBody(new UserError('bad')) // {status: 400, body: {error: 'bad'}}
 */
export function errorBody(err: unknown): { status: number; body: Record<string, unknown> } {
  if (err instanceof HttpError) return { status: err.status, body: { error: err.message, ...err.extra } };
  if (err instanceof QueryError) return { status: 400, body: { ...err.toJSON(), message: err.message, caret: err.render() } };
  if (err instanceof UserError) return { status: 400, body: { error: oneLine(err) } };
  const e = err as { statusCode?: number; message?: string; code?: string };
  // fastify's own errors (body too large, bad JSON, unsupported media type) carry their status.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { error: oneLine(e.message ?? 'bad request'), ...(e.code ? { code: e.code } : {}) } };
  }
  return { status: 500, body: { error: 'internal error (see the server log)' } };
}
