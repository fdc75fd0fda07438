// npm run bench:fanout — how fast one BlockEvent reaches every node, and what
// that costs, with agents that watch the API server (docs/fanout.md) beside
// today's push and poll, on the real test API server (test/control-plane).
//
// For each N: a fresh controller process (the real CLI), N simulated nodes in
// one forked process (bench/fanout/sim-process.ts: the agent's own watch,
// report and ban manager per node, dry-run firewall), then
//   - idle: a heartbeat (60 s) with nothing happening (heartbeats; for push, the polling);
//   - rounds, at a fixed pace whatever N (one every BENCH_FANOUT_ROUND_SECONDS,
//     so that every N does the same work in the same time): a BlockEvent is
//     created; the time until each node's firewall holds it (p50, p99, all
//     nodes); deleted half a round later; the time until each has lifted it
//     (all nodes); the controller's and the API server's CPU and RSS, and the
//     API server's requests per second (apiserver_request_total);
//   - then, outside the measured window, one more BlockEvent: the time until
//     its status counts every node ("applied on N/N nodes").
// Targets: 1,000 nodes hold a ban 2 s after the BlockEvent is created (p99);
// the controller's CPU and memory within 20% from 10 to 1,000 nodes.
//
// Knobs: BENCH_FANOUT_NODES (10,100,1000), BENCH_FANOUT_PUSH_NODES (10,100),
// BENCH_FANOUT_ROUNDS (5), BENCH_FANOUT_ROUND_SECONDS (10), BENCH_FANOUT_WAVE (BlockEvents
// per round, 1), BENCH_FANOUT_IDLE_SECONDS (a heartbeat, at least 15),
// BENCH_FANOUT_HEARTBEAT_SECONDS (60, the agent's default), BENCH_CP_STATE_DIR; to see
// where the controller's CPU goes, BENCH_FANOUT_CPU_PROFILE=1, BENCH_FANOUT_TRACE_GC=1
// (node --trace-gc, in its log) and BENCH_FANOUT_KEEP_LOGS=1.
// Run it alone on the machine (it starts an API server: under the shared lock).
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_PORT } from '../api/v1alpha1/index.js';
import { ensureNodeIdentity, issueToken } from '../controller/nodes/node-identity.js';
import { loadKubeConfig } from '../kube/kube-config.js';
import { RestClient } from '../kube/rest-client.js';
import { envNumber, log, percentile, sleep } from './bench-util.js';
import { controllerImageNodeFlags, startControlPlane, startControllerProcess, type BenchControlPlane } from './controller/env.js';
import { KubeApi } from './controller/kube-api.js';
import { fmtMB, loadAvg, onTeardown, procCpuMs, procMemory, runTeardown } from './controller/util.js';
import type { SimCommand, SimReply } from './fanout/sim-process.js';

const NS = 'fanout';
const LABELS = { app: 'fanout-agent' };
const HERE = path.dirname(fileURLToPath(import.meta.url));

function list(env: string, fallback: string): number[] {
  return (process.env[env] ?? fallback)
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

interface Usage {
  cpuPercent: number;
  rssMax: number;
}

/** CPU (% of one core) and peak RSS of a process over a window, sampled every 250 ms. */
function watchUsage(pid: number | undefined): { stop(): Usage } {
  if (!pid) return { stop: () => ({ cpuPercent: NaN, rssMax: NaN }) };
  const cpu0 = procCpuMs(pid) ?? NaN;
  const t0 = performance.now();
  let rssMax = procMemory(pid)?.rss ?? NaN;
  const timer = setInterval(() => {
    const m = procMemory(pid)?.rss;
    if (m !== undefined && !(m <= rssMax)) rssMax = m;
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      const cpu1 = procCpuMs(pid) ?? NaN;
      return { cpuPercent: ((cpu1 - cpu0) / (performance.now() - t0)) * 100, rssMax };
    },
  };
}

/** apiserver_request_total, summed, and by verb. */
async function requestCounts(api: KubeApi): Promise<Map<string, number>> {
  const r = await api.request<string>('GET', '/metrics');
  const by = new Map<string, number>();
  for (const line of String(r.body).split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = `${/verb="([A-Z]+)"/.exec(line)?.[1] ?? '?'} ${/resource="([a-z]+)"/.exec(line)?.[1] ?? ''}${/subresource="([a-z]+)"/.exec(line)?.[1] ? `/${/subresource="([a-z]+)"/.exec(line)?.[1]}` : ''}`.trim();
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    by.set(verb, (by.get(verb) ?? 0) + v);
    by.set('ALL', (by.get('ALL') ?? 0) + v);
  }
  return by;
}

interface Window {
  seconds: number;
  controller: Usage;
  apiserver: Usage;
  sim: Usage;
  requestsPerSecond: number;
  byVerb: Record<string, number>;
}

async function measure<T>(cp: BenchControlPlane, api: KubeApi, controllerPid: number, simPid: number | undefined, body: () => Promise<T>): Promise<{ result: T; window: Window }> {
  const before = await requestCounts(api);
  const t0 = performance.now();
  const c = watchUsage(controllerPid);
  const a = watchUsage(cp.apiserverPid);
  const s = watchUsage(simPid);
  const result = await body();
  const window = { controller: c.stop(), apiserver: a.stop(), sim: s.stop(), seconds: (performance.now() - t0) / 1000 } as Window;
  const after = await requestCounts(api);
  window.requestsPerSecond = ((after.get('ALL') ?? 0) - (before.get('ALL') ?? 0)) / window.seconds;
  window.byVerb = Object.fromEntries([...after].filter(([k]) => k !== 'ALL').map(([k, v]) => [k, Math.round(((v - (before.get(k) ?? 0)) / window.seconds) * 10) / 10]).filter(([, v]) => (v as number) > 0));
  return { result, window };
}

class Sim {
  private readonly child: ChildProcess;
  private readonly waiting: ((r: SimReply) => void)[] = [];

  constructor() {
    this.child = fork(path.join(HERE, 'fanout', 'sim-process.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (r: SimReply) => this.waiting.shift()?.(r));
    onTeardown(`stop the simulated nodes (pid ${this.child.pid})`, () => this.stop());
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  ask(c: SimCommand): Promise<SimReply> {
    return new Promise((resolve, reject) => {
      this.waiting.push((r) => (r.reply === 'error' ? reject(new Error(`simulated nodes: ${r.message}`)) : resolve(r)));
      this.child.send(c);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'stop' } satisfies SimCommand);
    await Promise.race([exited, sleep(30_000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

async function pool<T, R>(concurrency: number, items: readonly T[], fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T, i);
    }),
  );
  return out;
}

async function until<T>(what: string, timeoutMs: number, everyMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface Round {
  appliedMs: number[];
  allAppliedMs: number;
  allRemovedMs: number;
}

interface Row {
  mode: 'watch' | 'push';
  nodes: number;
  startSeconds: number;
  rounds: Round[];
  /** One BlockEvent, after the rounds: created → its status counts every node. */
  statusMs: number;
  idle: Window;
  busy: Window;
  controllerRssAfter: number;
  /** V8 heap in use after the rounds (the controller's /metrics). */
  controllerHeapUsed?: number;
  error?: string;
}

let ipSeq = 0;

/** What the bench sees of its BlockEvents through one watch (so that its own polling costs the API server nothing). */
class BlockEventWatch {
  private readonly statusAt = new Map<string, number>();
  private handle?: { stop(): void };

  constructor(private readonly want: (name: string, status: { phase?: string; message?: string }) => boolean) {}

  async start(api: KubeApi): Promise<void> {
    const path0 = `/apis/floodgate.dev/v1alpha1/namespaces/${NS}/blockevents`;
    const { resourceVersion } = await api.listAll(path0);
    this.handle = api.watch(path0, resourceVersion, (type, obj) => {
      const o = obj as { metadata?: { name?: string }; status?: { phase?: string; message?: string } };
      const name = o.metadata?.name ?? '';
      if (type !== 'DELETED' && !this.statusAt.has(name) && o.status && this.want(name, o.status)) this.statusAt.set(name, Date.now());
    });
    onTeardown('stop the BlockEvent watch', async () => this.stop());
  }

  status(name: string): number | undefined {
    return this.statusAt.get(name);
  }

  stop(): void {
    this.handle?.stop();
  }
}

/** BlockEvents (one, or a wave of them) through the nodes: created, held everywhere, deleted, lifted everywhere. */
async function banWave(n: number, policy: string, api: KubeApi, sim: Sim, name: string, deleteAt: () => number, seen?: { watch: BlockEventWatch; timeoutMs: number }, wave = 1): Promise<Round & { statusMs?: number }> {
  const bans = Array.from({ length: wave }, (_, i) => {
    const seq = ++ipSeq;
    const ip = `198.18.${Math.floor(seq / 250)}.${(seq % 250) + 1}`;
    return { ip, cidr: `${ip}/32`, name: wave === 1 ? name : `${name}-${i}` };
  });
  const path0 = `/apis/floodgate.dev/v1alpha1/namespaces/${NS}/blockevents`;
  const t0 = Date.now();
  await Promise.all(bans.map((b) => api.json('POST', path0, { apiVersion: 'floodgate.dev/v1alpha1', kind: 'BlockEvent', metadata: { name: b.name, namespace: NS }, spec: { ip: b.ip, policyRef: { name: policy }, durationSeconds: 3600, reason: 'bench:fanout' } })));
  const times = async (cidr: string) => (await sim.ask({ cmd: 'times', cidr })) as Extract<SimReply, { reply: 'times' }>;
  const appliedMs: number[] = [];
  for (const b of bans) {
    const applied = await until(`${b.cidr} on all ${n} nodes`, 180_000, 20, async () => {
      const t = await times(b.cidr);
      return Object.keys(t.applied).length >= n ? Object.values(t.applied) : undefined;
    });
    appliedMs.push(...applied.map((at) => at - t0));
  }
  const first = bans[0] as (typeof bans)[number];
  const statusAt = seen ? await until(`status of ${first.name} counting all ${n} nodes`, seen.timeoutMs, 20, async () => seen.watch.status(first.name)) : undefined;
  await sleep(Math.max(0, deleteAt() - Date.now()));
  const t1 = Date.now();
  await Promise.all(bans.map((b) => api.json('DELETE', `${path0}/${b.name}`)));
  let allRemovedMs = 0;
  for (const b of bans) {
    const removed = await until(`${b.cidr} lifted on all ${n} nodes`, 180_000, 20, async () => {
      const t = await times(b.cidr);
      return Object.keys(t.removed).length >= n ? Object.values(t.removed) : undefined;
    });
    allRemovedMs = Math.max(allRemovedMs, ...removed.map((at) => at - t1));
    await sim.ask({ cmd: 'forget', cidr: b.cidr });
  }
  return { appliedMs, allAppliedMs: Math.max(...appliedMs), allRemovedMs, ...(statusAt !== undefined ? { statusMs: statusAt - t0 } : {}) };
}

/**
 * The measured rounds, at a fixed pace whatever N: one BlockEvent created every
 * roundSeconds and deleted half a round later (or once every node holds it),
 * so that the CPU and requests of different N are the same work over the same
 * time. The status count is not waited for here (see statusRound).
 */
async function rounds(mode: 'watch' | 'push', n: number, policy: string, api: KubeApi, sim: Sim, count: number, roundMs: number, wave: number): Promise<Round[]> {
  const out: Round[] = [];
  const start = Date.now();
  for (let r = 0; r < count; r++) {
    await sleep(Math.max(0, start + r * roundMs - Date.now()));
    const at = start + r * roundMs;
    const round = await banWave(n, policy, api, sim, `fanout-${mode}-${n}-${r}`, () => at + roundMs / 2, undefined, wave);
    out.push(round);
    log(`${mode} N=${n} round ${r + 1}: all nodes hold it after ${round.allAppliedMs} ms (p50 ${percentile(round.appliedMs, 50)} ms), lifted everywhere ${round.allRemovedMs} ms after the delete`);
  }
  await sleep(Math.max(0, start + count * roundMs - Date.now()));
  return out;
}

/** After the measured window: how long one BlockEvent's status takes to count every node. */
async function statusRound(mode: 'watch' | 'push', n: number, policy: string, api: KubeApi, sim: Sim, heartbeat: number): Promise<number> {
  const want = mode === 'watch' ? new RegExp(`applied on ${n}/${n} nodes`) : new RegExp(`held by ${n} agent`);
  const watch = new BlockEventWatch((_name, st) => st.phase === 'Active' && want.test(st.message ?? ''));
  await watch.start(api);
  try {
    const round = await banWave(n, policy, api, sim, `fanout-${mode}-${n}-status`, () => 0, { watch, timeoutMs: (heartbeat * 3 + 60) * 1000 });
    log(`${mode} N=${n} status: ${n}/${n} after ${round.statusMs} ms (all nodes held it after ${round.allAppliedMs} ms)`);
    return round.statusMs ?? NaN;
  } finally {
    watch.stop();
  }
}

async function main(): Promise<void> {
  const watchNs = list('BENCH_FANOUT_NODES', '10,100,1000');
  const pushNs = list('BENCH_FANOUT_PUSH_NODES', '10,100');
  const roundCount = envNumber('BENCH_FANOUT_ROUNDS', 5, 1);
  const heartbeat = envNumber('BENCH_FANOUT_HEARTBEAT_SECONDS', 60, 1);
  // Idle: at least one heartbeat, so that every node's heartbeat falls in it (they are what idle costs).
  const idleSeconds = envNumber('BENCH_FANOUT_IDLE_SECONDS', Math.max(15, heartbeat), 1);
  const roundSeconds = envNumber('BENCH_FANOUT_ROUND_SECONDS', 10, 2);
  // BlockEvents per round: 1, a ban now and then; more, an attack's wave of them.
  const wave = envNumber('BENCH_FANOUT_WAVE', 1, 1);
  const stateDir = process.env.BENCH_CP_STATE_DIR || '/tmp/floodgate-cp-fanout';
  log(`bench:fanout: watch N=${watchNs.join(',')}, push N=${pushNs.join(',')}, ${roundCount} rounds of ${roundSeconds} s with ${wave} BlockEvent(s) each, heartbeat ${heartbeat} s; ${os.cpus().length} cores, load ${loadAvg()}`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-fanout-'));
  if (process.env.BENCH_FANOUT_KEEP_LOGS === '1') log(`controller logs stay in ${workDir}`);
  else onTeardown(`remove ${workDir}`, async () => fs.rmSync(workDir, { recursive: true, force: true }));

  const cp = await startControlPlane(stateDir);
  const api = new KubeApi(cp.kubeconfig, 64);
  onTeardown('close the bench client', async () => api.close());
  const rest = new RestClient(loadKubeConfig({ kubeconfig: cp.kubeconfig }));
  onTeardown('close the REST client', async () => rest.close());
  const kc = loadKubeConfig({ kubeconfig: cp.kubeconfig });
  const caData = kc.getCurrentCluster()?.caData;
  await until('the FloodgateNode CRD', 60_000, 200, async () => ((await api.request('GET', '/apis/floodgate.dev/v1alpha1/floodgatenodes')).status === 200 ? true : undefined));

  await api.json('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await api.json('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'floodgate-agent' } });
  // The agents' own read-only role, as the chart gives the DaemonSet's ServiceAccount.
  await api.json('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'fanout-agent' },
    rules: [{ apiGroups: ['floodgate.dev'], resources: ['blockevents', 'signaturerules', 'defensepolicies'], verbs: ['get', 'list', 'watch'] }],
  });
  await api.json('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'fanout-agent' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'fanout-agent' },
    subjects: [{ kind: 'ServiceAccount', name: 'floodgate-agent', namespace: NS }],
  });
  const readerToken = (await issueToken(rest, { namespace: NS, name: 'floodgate-agent' }, 6 * 3600)).token;
  await api.json('POST', `/apis/floodgate.dev/v1alpha1/namespaces/${NS}/defensepolicies`, {
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'DefensePolicy',
    metadata: { name: 'watched', namespace: NS },
    spec: { agentSelector: { matchLabels: LABELS }, mitigation: { banDurationSeconds: 600 } },
  });
  const pushToken = `fanout-push-token-${Math.random().toString(36).slice(2)}`;
  await api.json('POST', `/api/v1/namespaces/${NS}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'push-token', labels: { 'floodgate.dev/agent-token': 'true' } },
    stringData: { token: pushToken },
  });

  const rows: Row[] = [];
  const phase = async (mode: 'watch' | 'push', n: number): Promise<void> => {
    log(`=== ${mode}, ${n} nodes (load ${loadAvg()})`);
    const names = Array.from({ length: n }, (_, i) => `sim-${mode}-${String(i).padStart(4, '0')}`);
    const started = Date.now();
    let tokens: string[] = names.map(() => pushToken);
    if (mode === 'watch') {
      log(`creating ${n} node identities (FloodgateNode, ServiceAccount, ClusterRole, ClusterRoleBinding, Lease, Role, RoleBinding, token)`);
      tokens = await pool(16, names, async (name) => {
        const id = await ensureNodeIdentity(rest, name, NS);
        return (await issueToken(rest, id.serviceAccount, 6 * 3600)).token;
      });
    }
    const controller = await startControllerProcess({ kubeconfig: cp.kubeconfig, leaseNamespace: NS, workDir: fs.mkdtempSync(path.join(workDir, `${mode}-${n}-`)), cpuProfile: process.env.BENCH_FANOUT_CPU_PROFILE === '1', nodeArgs: [...controllerImageNodeFlags(), ...(process.env.BENCH_FANOUT_TRACE_GC ? ['--trace-gc'] : [])], extraArgs: ['--dashboard-port', '0', ...(mode === 'watch' ? ['--selector-agents-watch'] : [])] });
    const sim = new Sim();
    try {
      // Today's push and poll: agentSelector agents at http://<podIP>:12345, each simulated node on a loopback address of its own.
      const hostOf = (i: number) => `127.77.${Math.floor(i / 250)}.${(i % 250) + 1}`;
      const s = (await sim.ask({
        cmd: 'start',
        mode,
        nodes: names.map((name, i) => ({ name, token: tokens[i] as string, ...(mode === 'push' ? { host: hostOf(i), port: AGENT_PORT } : {}) })),
        api: { server: cp.server, caData },
        readerToken,
        labels: LABELS,
        namespace: NS,
        heartbeatSeconds: heartbeat,
        startConcurrency: 25,
      })) as Extract<SimReply, { reply: 'started' }>;
      log(`${n} simulated nodes started in ${s.ms} ms`);
      let policy = 'watched';
      if (mode === 'watch') {
        await until(`all ${n} nodes reporting`, 600_000, 1000, async () => {
          const { items } = await api.listAll<{ metadata: { name: string }; status?: { heartbeatTime?: string; policies?: string[] } }>('/apis/floodgate.dev/v1alpha1/floodgatenodes');
          const ready = items.filter((i) => i.metadata.name.startsWith(`sim-${mode}-`) && i.status?.heartbeatTime && i.status.policies?.includes(`${NS}/watched`)).length;
          return ready >= n ? true : undefined;
        });
      } else {
        // The DaemonSet's pods as the controller finds them (no kubelet here: objects with a pod IP).
        log(`creating ${n} agent pods with their addresses`);
        await pool(16, names, async (name, i) => {
          await api.json('POST', `/api/v1/namespaces/${NS}/pods`, {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name, labels: { app: 'fanout-push' } },
            spec: { containers: [{ name: 'agent', image: 'floodgate-agent:bench' }] },
          });
          await api.json('PATCH', `/api/v1/namespaces/${NS}/pods/${name}/status`, { status: { phase: 'Running', podIP: hostOf(i), podIPs: [{ ip: hostOf(i) }] } }, 'application/merge-patch+json');
        });
        policy = `pushed-${n}`;
        await api.json('POST', `/apis/floodgate.dev/v1alpha1/namespaces/${NS}/defensepolicies`, {
          apiVersion: 'floodgate.dev/v1alpha1',
          kind: 'DefensePolicy',
          metadata: { name: policy, namespace: NS },
          spec: { agentSelector: { matchLabels: { app: 'fanout-push' } }, agentTokenSecretRef: { name: 'push-token', key: 'token' }, mitigation: { banDurationSeconds: 600 } },
        });
        await until(`policy ${policy}: all ${n} agents reachable`, 300_000, 500, async () => {
          const p = await api.json<{ status?: { conditions?: { type: string; status: string; message: string }[] } }>('GET', `/apis/floodgate.dev/v1alpha1/namespaces/${NS}/defensepolicies/${policy}`);
          const c = p.status?.conditions?.find((x) => x.type === 'AgentsReachable');
          return c?.status === 'True' && c.message.startsWith(`${n} agent`) ? true : undefined;
        });
      }
      const startSeconds = (Date.now() - started) / 1000;
      log(`${mode} N=${n}: ready after ${startSeconds.toFixed(1)} s; settling 5 s`);
      await sleep(5000);
      const idle = (await measure(cp, api, controller.pid, sim.pid, () => sleep(idleSeconds * 1000))).window;
      const busy = await measure(cp, api, controller.pid, sim.pid, () => rounds(mode, n, policy, api, sim, roundCount, roundSeconds * 1000, wave));
      const rssAfter = procMemory(controller.pid)?.rss ?? NaN;
      const metrics = await fetch(`${controller.probeUrl}/metrics`).then((r) => r.text(), () => '');
      const heap = Number(/^floodgate_controller_nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1] ?? NaN);
      const statusMs = await statusRound(mode, n, policy, api, sim, heartbeat);
      rows.push({ mode, nodes: n, startSeconds, rounds: busy.result, statusMs, idle, busy: busy.window, controllerRssAfter: rssAfter, controllerHeapUsed: heap });
      if (mode === 'push') {
        await api.json('DELETE', `/apis/floodgate.dev/v1alpha1/namespaces/${NS}/defensepolicies/${policy}`);
        await api.request('DELETE', `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent('app=fanout-push')}`);
      }
    } catch (err) {
      log(`${mode} N=${n} FAILED: ${(err as Error).message}`);
      rows.push({ mode, nodes: n, startSeconds: NaN, rounds: [], statusMs: NaN, idle: {} as Window, busy: {} as Window, controllerRssAfter: NaN, error: (err as Error).message.split('\n')[0] });
    } finally {
      await sim.stop();
      await controller.stop();
      if (mode === 'watch') {
        log(`removing the ${n} node identities`);
        const sel = encodeURIComponent('app.kubernetes.io/component=node-identity');
        await api.request('DELETE', `/apis/floodgate.dev/v1alpha1/floodgatenodes?labelSelector=${sel}`);
        await api.request('DELETE', `/api/v1/namespaces/${NS}/serviceaccounts?labelSelector=${sel}`);
        await api.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?labelSelector=${sel}`);
        await api.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles?labelSelector=${sel}`);
      }
    }
  };

  const plan: ['watch' | 'push', number][] = [...watchNs.map((n) => ['watch', n] as ['watch', number]), ...pushNs.map((n) => ['push', n] as ['push', number])];
  for (const [i, [mode, n]] of plan.entries()) {
    await phase(mode, n);
    // The table so far: a long run that is cut short still leaves its figures.
    if (i < plan.length - 1) report(rows, heartbeat, `${roundCount} rounds of ${roundSeconds} s, ${wave} BlockEvent(s) each`);
  }
  report(rows, heartbeat, `${roundCount} rounds of ${roundSeconds} s, ${wave} BlockEvent(s) each`);
}

function report(rows: Row[], heartbeat: number, workload: string): void {
  const pct = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)}%` : 'n/a');
  const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');
  const lines: string[] = [];
  lines.push(`bench:fanout — ${new Date().toISOString()}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, load ${loadAvg()}, heartbeat ${heartbeat} s, ${workload}`);
  lines.push('');
  lines.push('| mode | nodes | apply p50 | apply p99 | all hold it | status N/N | delete: all lifted | controller CPU idle / rounds | controller RSS (heap used) | API server CPU idle / rounds | API server RSS | API req/s idle / rounds | sim CPU rounds |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.error) {
      lines.push(`| ${r.mode} | ${r.nodes} | failed: ${r.error} |||||||||||`);
      continue;
    }
    const all = r.rounds.flatMap((x) => x.appliedMs);
    lines.push(
      `| ${r.mode} | ${r.nodes} | ${ms(percentile(all, 50))} | ${ms(percentile(all, 99))} | ${ms(percentile(r.rounds.map((x) => x.allAppliedMs), 50))} (worst ${ms(Math.max(...r.rounds.map((x) => x.allAppliedMs)))}) | ${ms(r.statusMs)} | ${ms(percentile(r.rounds.map((x) => x.allRemovedMs), 50))} | ${pct(r.idle.controller.cpuPercent)} / ${pct(r.busy.controller.cpuPercent)} | ${fmtMB(r.busy.controller.rssMax)} (${fmtMB(r.controllerHeapUsed ?? NaN)}) | ${pct(r.idle.apiserver.cpuPercent)} / ${pct(r.busy.apiserver.cpuPercent)} | ${fmtMB(r.busy.apiserver.rssMax)} | ${r.idle.requestsPerSecond.toFixed(1)} / ${r.busy.requestsPerSecond.toFixed(1)} | ${pct(r.busy.sim.cpuPercent)} |`,
    );
  }
  lines.push('');
  for (const r of rows.filter((x) => !x.error)) {
    lines.push(`${r.mode} N=${r.nodes}: requests/s by verb idle ${JSON.stringify(r.idle.byVerb)}, rounds ${JSON.stringify(r.busy.byVerb)}; ready after ${r.startSeconds.toFixed(1)} s`);
  }
  const watch = rows.filter((r) => r.mode === 'watch' && !r.error);
  const small = watch.find((r) => r.nodes === Math.min(...watch.map((x) => x.nodes)));
  const big = watch.find((r) => r.nodes === Math.max(...watch.map((x) => x.nodes)));
  if (small && big && small !== big) {
    const p99 = percentile(big.rounds.flatMap((x) => x.appliedMs), 99);
    const ratio = (a: number, b: number) => b / a;
    const cpuRatio = ratio(small.busy.controller.cpuPercent, big.busy.controller.cpuPercent);
    const rssRatio = ratio(small.busy.controller.rssMax, big.busy.controller.rssMax);
    lines.push('');
    lines.push(`target: ${big.nodes} nodes hold a ban ≤ 2 s after creation (p99): ${ms(p99)} — ${p99 <= 2000 ? 'MET' : 'MISSED'}`);
    lines.push(`target: controller CPU within 20% from ${small.nodes} to ${big.nodes} nodes: ${pct(small.busy.controller.cpuPercent)} → ${pct(big.busy.controller.cpuPercent)} (×${cpuRatio.toFixed(2)}) — ${cpuRatio <= 1.2 ? 'MET' : 'MISSED'}`);
    lines.push(`target: controller RSS within 20% from ${small.nodes} to ${big.nodes} nodes: ${fmtMB(small.busy.controller.rssMax)} → ${fmtMB(big.busy.controller.rssMax)} (×${rssRatio.toFixed(2)}) — ${rssRatio <= 1.2 ? 'MET' : 'MISSED'}`);
    const per = (f: (r: Row) => number) => (f(big) - f(small)) / (big.nodes - small.nodes);
    lines.push(
      `API server cost per node (from ${small.nodes} to ${big.nodes}): idle ${per((r) => r.idle.apiserver.cpuPercent).toFixed(4)}% CPU, ${fmtMB(per((r) => r.busy.apiserver.rssMax))} RSS, ${per((r) => r.idle.requestsPerSecond).toFixed(4)} req/s; per ban round ${per((r) => r.busy.apiserver.cpuPercent).toFixed(4)}% CPU`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main()
  .catch((err: unknown) => {
    log(`bench:fanout failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => runTeardown());
