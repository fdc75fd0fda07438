// Test helper: the real agent as a user runs it (`floodgate agent`, capturing
// on lo with the dry-run backend unless told otherwise), from a YAML config
// in a temp dir; optionally inside a network namespace (then requests go
// through `ip netns exec ... curl`). Needs root (libpcap on lo).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import YAML from 'yaml';

export const BIN = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
export const AGENT_TOKEN = 'security-test-agent-token-0123456789';

export interface RealAgent {
  url: string;
  port: number;
  dir: string;
  /** Everything the agent printed so far (pino JSON lines). */
  output(): string;
  /** Parsed log lines. */
  lines(): { level: number; msg: string; [k: string]: unknown }[];
  /** curl inside the agent's namespace (or on the host): status and body. */
  curl(args: string[]): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

export interface RealAgentOptions {
  /** Agent config keys (YAML); listen/stateDir/tokenFile are filled in. */
  config?: Record<string, unknown>;
  /** Serve with the token (default) or without one (loopback-only mode). */
  token?: boolean;
  /** Run inside this network namespace. */
  netns?: string;
  /** Reuse a state dir (a restart). */
  dir?: string;
  /** Listen address (default 127.0.0.1) and port (default a random high one). */
  listenHost?: string;
  port?: number;
  env?: Record<string, string>;
}

export async function startRealAgent(opts: RealAgentOptions = {}): Promise<RealAgent> {
  // A random port below Linux's ephemeral range (32768-60999), where outgoing
  // connections take theirs; if another process holds it anyway, try another.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? 20000 + Math.floor(Math.random() * 12000);
    try {
      return await startRealAgentOn(port, opts);
    } catch (err) {
      if (opts.port !== undefined || attempt === 5 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

async function startRealAgentOn(port: number, opts: RealAgentOptions): Promise<RealAgent> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fg-sec-agent-'));
  const listenHost = opts.listenHost ?? '127.0.0.1';
  // With tls: in the config the agent serves HTTPS; the readiness probe (like a kubelet's) does not verify it.
  const scheme = opts.config?.tls ? 'https' : 'http';
  const probeHost = listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost;
  const tokenFile = path.join(dir, 'token');
  const useToken = opts.token !== false;
  if (useToken) fs.writeFileSync(tokenFile, `${AGENT_TOKEN}\n`, { mode: 0o600 });
  const config = {
    interface: 'lo',
    backend: 'dry-run',
    ...opts.config,
    listen: `${listenHost}:${port}`,
    stateDir: path.join(dir, 'state'),
    ...(useToken ? { tokenFile } : {}),
  };
  const configFile = path.join(dir, 'agent.yaml');
  fs.writeFileSync(configFile, YAML.stringify(config));
  const argv = [process.execPath, BIN, 'agent', '--config', configFile];
  const child: ResultPromise = opts.netns
    ? execa('ip', ['netns', 'exec', opts.netns, ...argv], { reject: false, all: true, env: opts.env })
    : execa(argv[0]!, argv.slice(1), { reject: false, all: true, env: opts.env });
  let out = '';
  child.all!.on('data', (d: Buffer) => (out += String(d)));
  const url = `${scheme}://${probeHost}:${port}`;
  const curl = async (args: string[]): Promise<{ status: number; body: string }> => {
    const full = ['curl', '-s', '-m', '10', '-w', '\n%{http_code}', ...args];
    const r = opts.netns ? await execa('ip', ['netns', 'exec', opts.netns, ...full], { reject: false }) : await execa(full[0]!, full.slice(1), { reject: false });
    const text = String(r.stdout);
    const cut = text.lastIndexOf('\n');
    return { status: Number(text.slice(cut + 1)), body: text.slice(0, cut) };
  };
  let exited = false;
  void child.then(() => (exited = true));
  for (let i = 0; i < 200; i++) {
    if (exited) throw new Error(`agent exited before it was ready:\n${out}`);
    if ((await curl([...(scheme === 'https' ? ['-k'] : []), `${url}/healthz`])).status === 200) break;
    if (i === 199) {
      child.kill('SIGKILL');
      throw new Error(`agent not ready after 20 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    dir,
    output: () => out,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string }),
    curl,
    async stop() {
      child.kill('SIGTERM');
      await child;
      if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
