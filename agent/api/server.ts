// Listening for the agent API: HTTP or HTTPS, 127.0.0.1:12345 by default.
// Without a token the API is unauthenticated, so it may only listen on
// loopback; anything else is refused before a socket is opened, and the bound
// address is checked again afterwards (a "localhost" that resolves elsewhere).
// (The app itself then answers only loopback Host names: see host-guard.ts.)
// Every server gets the timeouts and connection cap of lib/http-limits.ts.

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Application } from 'express';
import pino, { type Logger } from 'pino';
import { capConnections, checkLimits, DEFAULT_HTTP_LIMITS, type HttpLimits, serverTimeouts } from '../../lib/http-limits.js';
import { REQUIRES_TOKEN } from './app.js';
import { isLoopbackHost } from './host-guard.js';

export const DEFAULT_API_HOST = '127.0.0.1';
export const DEFAULT_API_PORT = 12345;

export interface AgentServerOptions {
  app: Application;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 12345; 0 picks a free port. */
  port?: number;
  /** The API token the app was built with; without one only loopback is allowed. */
  token?: string;
  tls?: { certFile: string; keyFile: string };
  /** Timeouts and connection cap; default DEFAULT_HTTP_LIMITS. */
  limits?: Partial<HttpLimits>;
  /** For the refused-connection warnings. */
  logger?: Logger;
}

export interface AgentServer {
  /** Bound address, e.g. "127.0.0.1" or "::1". */
  address: string;
  port: number;
  /** Base URL, e.g. "https://127.0.0.1:12345". */
  url: string;
  close(): Promise<void>;
}

/** Refusal to serve an unauthenticated API beyond loopback. */
export class InsecureBindError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InsecureBindError';
  }
}

export { isLoopbackHost };

async function readTls(tls: { certFile: string; keyFile: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (file: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  return { cert: await read(tls.certFile, 'certificate'), key: await read(tls.keyFile, 'private key') };
}

function listen(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`agent API cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    // Keep-alive sockets would otherwise hold close() open until they time out.
    server.closeIdleConnections();
  });
}

export async function startAgentServer(opts: AgentServerOptions): Promise<AgentServer> {
  const host = opts.host ?? DEFAULT_API_HOST;
  const port = opts.port ?? DEFAULT_API_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`agent API port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  const hasToken = opts.token !== undefined && opts.token !== '';
  const authenticated = hasToken && opts.app.locals[REQUIRES_TOKEN] !== false;
  if (!authenticated && !isLoopbackHost(host)) {
    const why = hasToken ? 'the API app was created without a token' : 'no API token is configured';
    throw new InsecureBindError(
      `refusing to serve the agent API on ${host}: ${why}, so it may only listen on loopback (127.0.0.1, ::1, localhost); configure a token to listen elsewhere`,
    );
  }

  const limits = checkLimits({ ...DEFAULT_HTTP_LIMITS, ...opts.limits });
  const timeouts = serverTimeouts(limits);
  const server = opts.tls
    ? https.createServer({ ...(await readTls(opts.tls)), ...timeouts }, opts.app)
    : http.createServer(timeouts, opts.app);
  capConnections(server, limits, opts.logger ?? pino({ level: 'silent' }), 'agent API');
  const bound = await listen(server, host, port);
  if (!authenticated && !isLoopbackHost(bound.address)) {
    await closeServer(server);
    throw new InsecureBindError(`refusing to serve the agent API without a token on ${bound.address} (${host} is not loopback)`);
  }

  const scheme = opts.tls ? 'https' : 'http';
  const urlHost = bound.family === 'IPv6' || net.isIPv6(bound.address) ? `[${bound.address}]` : bound.address;
  return {
    address: bound.address,
    port: bound.port,
    url: `${scheme}://${urlHost}:${bound.port}`,
    close: () => closeServer(server),
  };
}
