// Helpers for the tests of agents that watch the API server: the real agent
// CLI with a config file, a TCP relay that can cut an agent off from the API
// server (and only that agent), kubeconfigs made by `floodgate node-identity`.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import YAML from 'yaml';
import type { BanRecord } from '../../api/agent/v1/types.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = path.join(root, 'bin', 'floodgate.js');

export interface WatchAgent {
  url: string;
  token: string;
  dir: string;
  log(): string;
  blocks(): Promise<BanRecord[]>;
  api<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * The real agent (`floodgate agent`), capturing on lo with the dry-run
 * firewall, with `config` as its YAML config (its kube: section decides how it
 * watches). `dir` keeps its ban store across restarts.
 */
export async function startWatchAgent(opts: { config: object; dir?: string; args?: string[]; env?: Record<string, string> }): Promise<WatchAgent> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fgw-agent-'));
  const port = await freePort();
  const token = `watch-agent-token-${port}-0123456789`;
  fs.writeFileSync(path.join(dir, 'token'), token);
  fs.writeFileSync(path.join(dir, 'agent.yaml'), YAML.stringify(opts.config));
  const child: ResultPromise = execa(
    process.execPath,
    [BIN, 'agent', '--config', path.join(dir, 'agent.yaml'), '-i', 'lo', '--backend', 'dry-run', '--listen', `127.0.0.1:${port}`, '--state-dir', dir, '--token-file', path.join(dir, 'token'), ...(opts.args ?? [])],
    { reject: false, all: true, env: { FLOODGATE_TOKEN: '', ...opts.env } },
  );
  let log = '';
  child.all?.on('data', (d: Buffer) => (log += String(d)));
  const url = `http://127.0.0.1:${port}`;
  const api = async <T,>(method: string, p: string, body?: unknown) => {
    const res = await fetch(url + p, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as T };
  };
  for (let i = 0; ; i++) {
    const r = await fetch(`${url}/readyz`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
    if (r?.status === 200) break;
    if (i === 150 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`agent not ready:\n${log}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    url,
    token,
    dir,
    log: () => log,
    blocks: async () => (await api<{ blocks: BanRecord[] }>('GET', '/v1/blocks')).body.blocks,
    api,
    async stop() {
      child.kill('SIGTERM');
      // An agent that does not exit must not keep the test file alive.
      const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await child;
      clearTimeout(kill);
    },
  };
}

/** A TCP relay to the API server that can be cut (every connection dropped, nothing accepted) and restored. */
export interface Relay {
  url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startRelay(target: string): Promise<Relay> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  // Cut off: the listener stays (re-listening on the same port races other
  // processes for it), but every connection is reset at once, like an API server away.
  let cutOff = false;
  const server = net.createServer((client) => {
    if (cutOff) return void client.destroy();
    const upstream = net.connect(Number(t.port), t.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const cut = async () => {
    cutOff = true;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
  };
  return {
    url: `https://127.0.0.1:${port}`,
    cut,
    restore: async () => {
      cutOff = false;
    },
    close: async () => {
      await cut();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** `floodgate node-identity <node>`: a host agent's kubeconfig, optionally pointed at another server URL. */
export async function nodeKubeconfig(adminKubeconfig: string, node: string, namespace: string, dir: string, server?: string): Promise<string> {
  const out = path.join(dir, `${node}.kubeconfig`);
  const r = await execa(process.execPath, [BIN, 'node-identity', node, '--kubeconfig', adminKubeconfig, '--namespace', namespace, '--duration', '1h', '--out', out], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`floodgate node-identity ${node}: ${String(r.all)}`);
  if (server) {
    const kc = YAML.parse(fs.readFileSync(out, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    for (const c of kc.clusters) c.cluster.server = server;
    fs.writeFileSync(out, YAML.stringify(kc), { mode: 0o600 });
  }
  return out;
}

/** The token in a kubeconfig written by nodeKubeconfig. */
export function kubeconfigToken(file: string): string {
  const kc = YAML.parse(fs.readFileSync(file, 'utf8')) as { users: { user: { token: string } }[] };
  return kc.users[0]?.user.token ?? '';
}
