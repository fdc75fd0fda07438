// Bearer-token authentication. Tokens are compared as SHA-256 digests with
// timingSafeEqual: equal-length inputs, so neither the token's content nor its
// length leaks through response timing.

import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { LogThrottle } from '../../lib/log-throttle.js';
import { sendError } from './errors.js';

/** Paths answered without a token: liveness probes carry no credentials. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz']);

function digest(text: string): Buffer {
  return crypto.createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string, expected: string): boolean {
  return crypto.timingSafeEqual(digest(presented), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235). */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}

const REALM = 'Bearer realm="floodgate"';

/**
 * With a token: every request but OPEN_PATHS must present it. Without one the
 * server is loopback-only (server.ts enforces that) and requests pass, with a
 * single warning so the mode is visible in the log.
 */
export function bearerAuth(token: string | undefined, logger: Logger): RequestHandler {
  if (token === undefined) {
    let warned = false;
    return (_req, _res, next) => {
      if (!warned) {
        warned = true;
        logger.warn('agent API has no token configured: serving unauthenticated requests (loopback only)');
      }
      next();
    };
  }
  // A guesser can send thousands of wrong tokens: one warning line a minute, with the count.
  const throttle = new LogThrottle();
  return (req, res, next) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && OPEN_PATHS.has(req.path)) {
      next();
      return;
    }
    const presented = bearerToken(req.headers.authorization);
    if (presented === undefined) {
      sendError(res, 401, 'missing bearer token (Authorization: Bearer <token>)', { 'WWW-Authenticate': REALM });
      return;
    }
    if (!tokenMatches(presented, token)) {
      throttle.hit((suppressed) => logger.warn({ remoteAddress: req.socket.remoteAddress, alsoRefused: suppressed }, 'agent API: invalid bearer token'));
      res.locals.securityLogged = true;
      sendError(res, 401, 'invalid bearer token', { 'WWW-Authenticate': `${REALM}, error="invalid_token"` });
      return;
    }
    next();
  };
}
