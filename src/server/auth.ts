import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { UserError } from '../util/errors.ts';
import { LOOPBACK_HOSTS } from './config.ts';

/** The cookie a browser gets after opening `/?token=...` once, so the dashboard needs no prompt. */
export const TOKEN_COOKIE = 'flowlens_token';

/**
 * Refuses to expose the store beyond this machine without a token.
 * @example checkBind('0.0.0.0', undefined) // throws UserError
 */
export function checkBind(host: string, token: string | undefined): void {
  if (!LOOPBACK_HOSTS.has(host) && !token) {
    throw new UserError(`refusing to listen on ${host} without a token: pass --token <secret> or set FLOWLENS_TOKEN (or bind 127.0.0.1)`);
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time comparison (hashing first makes the lengths equal). */
export function sameToken(given: string | undefined, token: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

function cookieToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/**
 * An onRequest hook: every route but /healthz needs the token, as `Authorization: Bearer`,
 * Firehose's `X-Amz-Firehose-Access-Key` (on /ingest/firehose), or the dashboard's cookie.
 * `/?token=...` sets the cookie and redirects to a URL without the token.
 */
export function authHook(token: string) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = req.url.split('?', 1)[0];
    if (path === '/healthz') return;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const firehoseKey = path === '/ingest/firehose' ? (req.headers['x-amz-firehose-access-key'] as string | undefined) : undefined;
    if (sameToken(bearer, token) || sameToken(firehoseKey, token) || sameToken(cookieToken(req.headers.cookie), token)) return;
    const queryToken = new URL(req.url, 'http://x').searchParams.get('token') ?? undefined;
    if (req.method === 'GET' && path === '/' && sameToken(queryToken, token)) {
      // SameSite=Strict: other sites cannot make the browser send it (no cross-site requests).
      reply.header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`);
      await reply.redirect('/', 303);
      return;
    }
    reply.header('www-authenticate', 'Bearer realm="flowlens"');
    if (path === '/ingest/firehose') {
      await reply.code(401).send({ requestId: req.headers['x-amz-firehose-request-id'] ?? '', timestamp: Date.now(), errorMessage: 'missing or wrong access key' });
      return;
    }
    await reply.code(401).send({ error: 'missing or wrong token: send Authorization: Bearer <token> (or open /?token=<token> in a browser)' });
  };
}
