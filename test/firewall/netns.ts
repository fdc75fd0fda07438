// Test helper: throw-away network namespaces so real nft/iptables/ipset
// commands never touch the host's firewall. Every namespace is deleted in
// the test's after() hook.

import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { type CommandExecutor, createExecutor } from '../../agent/firewall/exec.js';

export interface TestNetns {
  name: string;
  prefix: string[];
  /** Executor that runs every command inside the namespace. */
  exec: CommandExecutor;
  /** Run one command in the namespace and return its stdout (throws on failure). */
  sh(...argv: string[]): Promise<string>;
  destroy(): Promise<void>;
}

export async function createNetns(tag: string): Promise<TestNetns> {
  const name = `fgtest-${tag}-${randomBytes(3).toString('hex')}`;
  await execa('ip', ['netns', 'add', name]);
  const prefix = ['ip', 'netns', 'exec', name];
  await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    prefix,
    exec: createExecutor({ prefix }),
    async sh(...argv: string[]) {
      const result = await execa(prefix[0] ?? 'ip', [...prefix.slice(1), ...argv]);
      return result.stdout;
    },
    async destroy() {
      await execa('ip', ['netns', 'delete', name], { reject: false });
    },
  };
}

/** A veth link between two namespaces with IPv4 and IPv6 (no DAD wait) on each end. */
export async function connect(
  a: TestNetns,
  b: TestNetns,
  addresses: { a4: string; b4: string; a6: string; b6: string },
): Promise<void> {
  await execa('ip', ['-n', a.name, 'link', 'add', 'fga', 'type', 'veth', 'peer', 'name', 'fgb', 'netns', b.name]);
  for (const [ns, dev, v4, v6] of [
    [a, 'fga', addresses.a4, addresses.a6],
    [b, 'fgb', addresses.b4, addresses.b6],
  ] as const) {
    await execa('ip', ['-n', ns.name, 'addr', 'add', `${v4}/24`, 'dev', dev]);
    await execa('ip', ['-n', ns.name, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
    await execa('ip', ['-n', ns.name, 'link', 'set', dev, 'up']);
  }
}

/**
 * A TCP server in the namespace that answers "ok" to every connection;
 * resolves once listening. (Wrapped: execa's subprocess is a thenable, so
 * returning it bare would wait for the server to exit.)
 */
export async function startTcpServer(ns: TestNetns, port: number): Promise<{ stop(): void }> {
  const script = `require('net').createServer((s) => s.end('ok')).listen(${port}, '::', () => console.log('listening'));`;
  const server = execa('ip', ['netns', 'exec', ns.name, process.execPath, '-e', script], { reject: false, buffer: false });
  await new Promise<void>((resolve, reject) => {
    server.stdout?.once('data', () => resolve());
    server.once('exit', () => reject(new Error('test TCP server exited early')));
  });
  return { stop: () => server.kill() };
}

/** Can `from` complete a TCP handshake with host:port within timeoutMs? */
export async function canConnect(from: TestNetns, host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  const script = `
    const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port} });
    s.setTimeout(${timeoutMs}, () => process.exit(1));
    s.on('data', () => process.exit(0));
    s.on('error', () => process.exit(2));`;
  const result = await execa('ip', ['netns', 'exec', from.name, process.execPath, '-e', script], { reject: false });
  return result.exitCode === 0;
}
