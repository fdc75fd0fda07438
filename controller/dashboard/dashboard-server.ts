// Starts the dashboard on its own port (default 8080) beside the controller:
// reads the token file, wires the data sources, listens.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DashboardAuth } from './dashboard-auth.js';
import { createDashboardApp, type DashboardAppDeps } from './dashboard-app.js';
import { DashboardData, type DashboardDataDeps } from './dashboard-data.js';

export interface DashboardOptions {
  port: number;
  host?: string;
  /** File holding the dashboard token; absent: the dashboard is read-only. */
  tokenFile?: string;
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
  const auth = new DashboardAuth({ token: opts.tokenFile ? readDashboardToken(opts.tokenFile) : undefined });
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
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', resolve);
  });
  const { port } = server.address() as AddressInfo;
  deps.logger.info({ port, writable: auth.writable }, 'dashboard listening');
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
