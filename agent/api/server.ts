// Listening for the agent API: HTTP or HTTPS, 127.0.0.1:12345 by default.
// Without a token the API is unauthenticated, so it may only listen on
// loopback; anything else is refused before a socket is opened, and the bound
// address is checked again afterwards (a "localhost" that resolves elsewhere).
// (The app itself then answers only loopback Host names: see host-guard.ts.)
// Every server gets the timeouts and connection cap of lib/http-limits.ts.
//
// HTTPS (docs/tls.md): the certificate, key and client CA are files, checked
// before the socket opens (TlsFileError, one line) and looked at again every
// reloadSeconds: a rotated set is swapped in with setSecureContext, without
// a restart and without dropping open connections; a bad new set is logged
// and the old one kept. With a client CA the server asks every client for a
// certificate (mutual TLS; client-cert.ts refuses requests without a good one).
// Plain HTTP beyond loopback still works, with a warning: the token then
// crosses the network in clear.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Application } from 'express';
import pino, { type Logger } from 'pino';
import { capConnections, checkLimits, DEFAULT_HTTP_LIMITS, type HttpLimits, serverTimeouts } from '../../lib/http-limits.js';
import { ReloadingTlsFiles } from '../../lib/tls-files.js';
import { REQUIRES_CLIENT_CERT, REQUIRES_TOKEN } from './app.js';
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
  /** Serve HTTPS with these files; clientCaFile turns on mutual TLS (the app must be built with clientCert). */
  tls?: AgentServerTls;
  /** Timeouts and connection cap; default DEFAULT_HTTP_LIMITS. */
  limits?: Partial<HttpLimits>;
  /** For the refused-connection warnings. */
  logger?: Logger;
}

export interface AgentServerTls {
  certFile: string;
  keyFile: string;
  /** CA bundle client certificates must chain to (mutual TLS). */
  clientCaFile?: string;
  /** How often the files are looked at again for a rotation. Default 10. */
  reloadSeconds?: number;
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

/** The TLS files, read and checked (TlsFileError), and re-read on rotation. */
export function agentTlsFiles(tls: AgentServerTls, logger?: Logger): ReloadingTlsFiles {
  return new ReloadingTlsFiles(
    { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.clientCaFile },
    { checkEveryMs: (tls.reloadSeconds ?? 10) * 1000, onError: (err) => logger?.error({ err: err.message }, 'agent API: new TLS files refused, still serving the previous certificate') },
  );
}

function secureContext(files: ReloadingTlsFiles): { cert?: Buffer; key?: Buffer; ca?: Buffer } {
  const m = files.current();
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
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

  const wantsClientCert = opts.app.locals[REQUIRES_CLIENT_CERT] === true;
  if (wantsClientCert && !opts.tls?.clientCaFile) {
    throw new InsecureBindError('the agent API app requires client certificates, but the server has no TLS client CA (tls.clientCaFile)');
  }
  const logger = opts.logger ?? pino({ level: 'silent' });
  const limits = checkLimits({ ...DEFAULT_HTTP_LIMITS, ...opts.limits });
  const timeouts = serverTimeouts(limits);
  const files = opts.tls ? agentTlsFiles(opts.tls, logger) : undefined;
  const server = files
    ? https.createServer(
        {
          ...secureContext(files),
          ...timeouts,
          minVersion: 'TLSv1.2',
          // Ask for a client certificate, but let the app answer a request
          // without one (403; /healthz for the kubelet's probe): client-cert.ts.
          ...(opts.tls?.clientCaFile ? { requestCert: true, rejectUnauthorized: false } : {}),
        },
        opts.app,
      )
    : http.createServer(timeouts, opts.app);
  capConnections(server, limits, logger, 'agent API');
  const bound = await listen(server, host, port);
  if (!authenticated && !isLoopbackHost(bound.address)) {
    await closeServer(server);
    throw new InsecureBindError(`refusing to serve the agent API without a token on ${bound.address} (${host} is not loopback)`);
  }
  if (!files && !isLoopbackHost(bound.address)) {
    logger.warn(
      { address: bound.address, port: bound.port },
      'agent API served over plain HTTP beyond loopback: the token crosses the network in clear; configure tls (--tls-cert, --tls-key, --tls-client-ca; docs/tls.md)',
    );
  }
  let reload: NodeJS.Timeout | undefined;
  if (files && opts.tls) {
    const describe = () => {
      const leaf = files.current().leaf;
      return { subject: leaf?.subject.replace(/\n/g, ', '), validTo: leaf ? new Date(leaf.validTo).toISOString() : undefined, fingerprint256: leaf?.fingerprint256 };
    };
    logger.info({ ...describe(), mutualTls: Boolean(opts.tls.clientCaFile) }, 'agent API serves HTTPS');
    reload = setInterval(() => {
      if (!files.check()) return;
      (server as https.Server).setSecureContext(secureContext(files));
      logger.info(describe(), 'agent API: TLS files changed, new certificate in use');
    }, (opts.tls.reloadSeconds ?? 10) * 1000);
    reload.unref();
  }

  const scheme = opts.tls ? 'https' : 'http';
  const urlHost = bound.family === 'IPv6' || net.isIPv6(bound.address) ? `[${bound.address}]` : bound.address;
  return {
    address: bound.address,
    port: bound.port,
    url: `${scheme}://${urlHost}:${bound.port}`,
    close: () => {
      clearInterval(reload);
      return closeServer(server);
    },
  };
}
