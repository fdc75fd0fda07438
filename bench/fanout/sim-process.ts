// The simulated nodes' process (simulated-nodes.ts), forked by bench:fanout
// so that their CPU is not the controller's nor the bench's. Driven over IPC:
//   start {mode, nodes, ...} → {started, urls}   (push: each node's API URL)
//   times {cidr}             → {applied, removed} (per node, epoch ms)
//   forget {cidr}; stop.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { BanTimes, pushNode, sharedState, watchNode, type ApiServerAccess, type SimulatedNode } from './simulated-nodes.js';

export type SimCommand =
  | {
      cmd: 'start';
      mode: 'watch' | 'push';
      /** push: host and port each node's API listens on (default 127.0.0.1 and a free port). */
      nodes: { name: string; token: string; host?: string; port?: number }[];
      api?: ApiServerAccess;
      readerToken?: string;
      labels?: Record<string, string>;
      namespace?: string;
      heartbeatSeconds?: number;
      reportsPerSecond?: number;
      /** How many nodes start at once. */
      startConcurrency?: number;
    }
  | { cmd: 'times'; cidr: string }
  | { cmd: 'forget'; cidr: string }
  | { cmd: 'stop' };

export type SimReply =
  | { reply: 'started'; started: number; urls: string[]; ms: number }
  | { reply: 'times'; applied: Record<string, number>; removed: Record<string, number> }
  | { reply: 'ok' }
  | { reply: 'error'; message: string };

const times = new BanTimes();
const nodes: SimulatedNode[] = [];
const stateRoot = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'fg-sim-nodes-'));

function send(r: SimReply): void {
  process.send?.(r);
}

async function start(c: Extract<SimCommand, { cmd: 'start' }>): Promise<void> {
  const t0 = Date.now();
  const shared = await sharedState(stateRoot, times);
  const queue = [...c.nodes];
  const started: SimulatedNode[] = new Array(c.nodes.length);
  const order = new Map(c.nodes.map((n, i) => [n.name, i]));
  const worker = async () => {
    for (let n = queue.shift(); n; n = queue.shift()) {
      const node =
        c.mode === 'watch'
          ? await watchNode(
              { name: n.name, api: c.api as ApiServerAccess, readerToken: c.readerToken ?? '', nodeToken: n.token, labels: c.labels ?? {}, namespace: c.namespace ?? 'default', heartbeatSeconds: c.heartbeatSeconds ?? 60, reportsPerSecond: c.reportsPerSecond ?? 20 },
              shared,
            )
          : await pushNode({ name: n.name, token: n.token, host: n.host, port: n.port }, shared);
      started[order.get(n.name) as number] = node;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, c.startConcurrency ?? 20) }, worker));
  nodes.push(...started);
  send({ reply: 'started', started: started.length, urls: started.map((n) => n.url ?? ''), ms: Date.now() - t0 });
}

async function stop(): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
  fs.rmSync(stateRoot, { recursive: true, force: true });
}

process.on('message', (m: SimCommand) => {
  void (async () => {
    try {
      switch (m.cmd) {
        case 'start':
          await start(m);
          break;
        case 'times':
          send({ reply: 'times', ...times.of(m.cidr) });
          break;
        case 'forget':
          times.forget(m.cidr);
          send({ reply: 'ok' });
          break;
        case 'stop':
          await stop();
          send({ reply: 'ok' });
          process.exit(0);
      }
    } catch (err) {
      send({ reply: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
process.on('disconnect', () => void stop().then(() => process.exit(0)));
