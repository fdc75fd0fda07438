// Without a token the agent API is loopback-only, but a browser can still be
// made to call it: a page on evil.example whose name is rebound to 127.0.0.1
// (DNS rebinding) is, to the browser, same-origin with the agent and may read
// the answers. Such a request carries the page's own name in Host, so without
// a token only literal loopback Host names are answered. With a token the
// check is not needed (a page cannot know the token) and not made: a node's
// API is reached by its IP or a DNS name.

import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { isLoopbackAddress } from '../../lib/cidr-match.js';
import { LogThrottle } from '../../lib/log-throttle.js';
import { sendError } from './errors.js';

/** 127.0.0.0/8, ::1 (also IPv4-mapped and bracketed forms) or "localhost". */
export function isLoopbackHost(host: string): boolean {
  return host.toLowerCase() === 'localhost' || isLoopbackAddress(host);
}

/** The host part of a Host header ("[::1]:8080" → "[::1]", "a:1" → "a"), undefined when malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/.exec(header);
  return m?.[1];
}

export function loopbackHostOnly(logger: Logger): RequestHandler {
  const throttle = new LogThrottle();
  return (req, res, next) => {
    const name = hostName(req.headers.host);
    if (name !== undefined && isLoopbackHost(name)) return void next();
    throttle.hit((suppressed) =>
      logger.warn({ host: String(req.headers.host ?? '').slice(0, 100), remoteAddress: req.socket.remoteAddress, alsoRefused: suppressed }, 'agent API: refused a request for a non-loopback Host (no token configured)'),
    );
    res.locals.securityLogged = true;
    sendError(res, 403, 'Host refused: without a token the agent answers only loopback Host names (127.0.0.1, [::1], localhost); configure a token (--token-file) to reach it by another name');
  };
}
