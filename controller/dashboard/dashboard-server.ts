// Starts the dashboard on its own port (default 8080) beside the controller:
// reads the token file, wires the data sources, listens with the timeouts and
// connection cap of lib/http-limits.ts.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { capConnections, checkLimits, DEFAULT_HTTP_LIMITS, type HttpLimits, serverTimeouts } from '../../lib/http-limits.js';
import { DashboardAuth } from './dashboard-auth.js';
import { createDashboardApp, type DashboardAppDeps } from './dashboard-app.js';
import { DashboardData, type DashboardDataDeps } from './dashboard-data.js';

export interface DashboardOptions {
  port: number;
  host?: string;
  /** File holding the dashboard token; absent: the API answers 401 (the page is still served). */
  tokenFile?: string;
  /** Host names it answers besides loopback names and IP addresses (its Service's names, an Ingress host). */
  allowedHosts?: readonly string[];
  /** Timeouts and connection cap; default DEFAULT_HTTP_LIMITS. */
  limits?: Partial<HttpLimits>;
}

export interface RunningDashboard {
  url: string;
  close(): Promise<void>;
}

export function readDashboardToken(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`--dashboard-token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  if (token.length < 16) throw new Error(`--dashboard-token-file: ${file} must hold a token of at least 16 characters`);
  return token;
}

export async function startDashboard(
  opts: DashboardOptions,
  deps: DashboardDataDeps & Pick<DashboardAppDeps, 'listBlockEvents' | 'listSignatureRules' | 'patchPolicy' | 'deleteBlockEvent' | 'deleteSignatureRule'>,
): Promise<RunningDashboard> {
  const auth = new DashboardAuth({ token: opts.tokenFile ? readDashboardToken(opts.tokenFile) : undefined, logger: deps.logger });
  const app = createDashboardApp({
    auth,
    data: new DashboardData(deps),
    listPolicies: deps.listPolicies,
    listBlockEvents: deps.listBlockEvents,
    listSignatureRules: deps.listSignatureRules,
    patchPolicy: deps.patchPolicy,
    deleteBlockEvent: deps.deleteBlockEvent,
    deleteSignatureRule: deps.deleteSignatureRule,
    logger: deps.logger,
    allowedHosts: opts.allowedHosts,
  });
  const limits = checkLimits({ ...DEFAULT_HTTP_LIMITS, ...opts.limits });
  const server = http.createServer(serverTimeouts(limits), app);
  capConnections(server, limits, deps.logger, 'dashboard');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', resolve);
  });
  const { port } = server.address() as AddressInfo;
  deps.logger.info({ port, tokenConfigured: auth.writable, allowedHosts: opts.allowedHosts ?? [] }, 'dashboard listening');
  if (!auth.writable) deps.logger.warn('dashboard: no --dashboard-token-file: its API answers 401 to everyone (the page is still served)');
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
