// Runs the real floodgate agent (bin/floodgate.js agent) inside a lab
// namespace, with a token, its own state dir and an API reachable through
// `ip netns exec <ns> curl`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import type { Lab } from './lab-network.js';

const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));

export interface LabAgentOptions {
  ns: string;
  dev: string;
  backend?: 'nft' | 'iptables' | 'dry-run';
  stateDir?: string;
  autoDefense?: boolean;
  /** Extra YAML config merged into the generated file. */
  config?: Record<string, unknown>;
  port?: number;
  /** Extra node flags for the agent process, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: string[];
  /** The API token (default: a new random one); a restart that keeps its callers passes the old one. */
  token?: string;
}

export interface LabAgent {
  token: string;
  stateDir: string;
  port: number;
  pid(): number | undefined;
  /** Everything the agent logged so far (pino JSON lines). */
  logs(): string[];
  /** curl the agent API from inside its namespace. */
  api<T = unknown>(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: T }>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startLabAgent(lab: Lab, opts: LabAgentOptions): Promise<LabAgent> {
  const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fglab-state-'));
  const token = opts.token ?? 'lab-token-' + Math.random().toString(36).slice(2).padEnd(16, 'x');
  const tokenFile = path.join(stateDir, 'token');
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const port = opts.port ?? 12345;
  const configFile = path.join(stateDir, 'agent.yaml');
  const config = {
    interface: opts.dev,
    backend: opts.backend ?? 'nft',
    listen: `127.0.0.1:${port}`,
    tokenFile,
    stateDir,
    autoDefense: { enabled: opts.autoDefense ?? true, windowSeconds: 1, banDurationSeconds: 60 },
    ...opts.config,
  };
  fs.writeFileSync(configFile, JSON.stringify(config)); // JSON is valid YAML
  const lines: string[] = [];
  const child: ResultPromise = execa('ip', ['netns', 'exec', opts.ns, process.execPath, ...(opts.nodeArgs ?? []), bin, 'agent', '--config', configFile], {
    reject: false,
    all: true,
    buffer: false,
  });
  // A pipe chunk can end mid-line: keep the unfinished tail for the next chunk.
  let partial = '';
  child.all?.on('data', (d: Buffer) => {
    const parts = (partial + String(d)).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  child.all?.on('end', () => {
    if (partial) lines.push(partial);
    partial = '';
  });

  const api: LabAgent['api'] = async (method, urlPath, body) => {
    const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, '-H', `Authorization: Bearer ${token}`];
    if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
    args.push(`http://127.0.0.1:${port}${urlPath}`);
    const r = await lab.exec(opts.ns, 'curl', args, { reject: false });
    const idx = r.stdout.lastIndexOf('\n');
    const status = Number(r.stdout.slice(idx + 1));
    const text = r.stdout.slice(0, idx);
    return { status, body: (text ? JSON.parse(text) : undefined) as never };
  };

  // Ready when /readyz answers 200 (the capture has delivered a slot).
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null && child.exitCode !== undefined) {
      throw new Error(`agent exited with ${child.exitCode}:\n${lines.slice(-20).join('\n')}`);
    }
    const r = await api('GET', '/readyz').catch(() => ({ status: 0, body: undefined }));
    if (r.status === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`agent not ready after 15 s:\n${lines.slice(-20).join('\n')}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }

  return {
    token,
    stateDir,
    port,
    pid: () => child.pid,
    logs: () => [...lines],
    api,
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      await child;
    },
  };
}
