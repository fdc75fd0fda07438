// Limits every floodgate HTTP server sets (the agent API, the dashboard): how
// long a client may take to send its headers and its whole request, how long
// an idle keep-alive connection stays open, and how many connections may be
// open at once, so that slow or many clients cannot hold the process's
// sockets and memory. Node's own defaults (60 s headers, 300 s request, no
// connection cap, timeouts checked every 30 s) are made explicit and tighter.
// None of these bound how long the server may take to answer (an analysis
// over a window waits for the window).

import type http from 'node:http';
import type { Logger } from 'pino';
import { LogThrottle } from './log-throttle.js';

export interface HttpLimits {
  /** Open connections; more are closed on accept. */
  maxConnections: number;
  /** Time to receive the request headers. */
  headersTimeoutMs: number;
  /** Time to receive the whole request (headers and body). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

/** Options for http(s).createServer: the timeouts, and how often Node checks them. */
export function serverTimeouts(limits: HttpLimits): Pick<http.ServerOptions, 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout' | 'connectionsCheckingInterval'> {
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return {
    headersTimeout,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node looks for expired requests this often (default 30 s, which would
    // let a slow client hold its socket 30 s past the timeout).
    connectionsCheckingInterval: Math.max(250, Math.min(1000, Math.floor(headersTimeout / 2))),
  };
}

/** Cap the server's connections, with one throttled warning line about the ones refused. */
export function capConnections(server: http.Server, limits: HttpLimits, logger: Logger, what: string): void {
  server.maxConnections = limits.maxConnections;
  const throttle = new LogThrottle();
  server.on('drop', (data?: { remoteAddress?: string }) => {
    throttle.hit((suppressed) =>
      logger.warn({ remoteAddress: data?.remoteAddress, maxConnections: limits.maxConnections, alsoRefused: suppressed }, `${what}: connection refused, too many open connections`),
    );
  });
}

/** Validate limits from configuration or options (all positive integers). */
export function checkLimits(limits: HttpLimits): HttpLimits {
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`HTTP limit ${key} must be a positive integer, got ${String(value)}`);
  }
  return limits;
}
