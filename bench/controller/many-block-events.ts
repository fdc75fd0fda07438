// Section 3: create N BlockEvents (10,000 by default) through the API with
// bounded concurrency, let the controller reconcile them all (finalizer,
// POST /v1/blocks to the agent, status Active), and follow the controller
// process's memory (/proc/<pid>/status VmRSS every second, VmHWM at the end).
// A watch on the namespace (started before the first create) tells when each
// object turned Active; nothing lists 10,000 objects in a loop.
import type { BlockEvent } from '../../api/v1alpha1/index.js';
import { blockEventName } from '../../controller/reconcile/block-event-names.js';
import type { BenchAgent, BenchController } from './env.js';
import type { KubeApi } from './kube-api.js';
import { API } from './policies.js';
import { log, procCpuMs, procMemory, sleep } from './util.js';

export interface CpuSplit {
  controller?: number;
  apiserver?: number;
  etcd?: number;
  agent?: number;
  bench?: number;
}

export interface ManyResult {
  requested: number;
  created: number;
  createFailures: number;
  firstCreateError?: string;
  /** Creation stopped early: the budget ran out. */
  cutShort: boolean;
  createMs: number;
  /** From the first create until the last of the created objects was Active (or the timeout). */
  allActiveMs?: number;
  active: number;
  failedPhase: number;
  /** create → Active per object (ms). */
  latencies: number[];
  baselineRss: number;
  samples: { t: number; rss: number; active: number; created: number }[];
  peakSampledRss: number;
  hwm: number;
  rssAfterSettle: number;
  settleSeconds: number;
  /** Controller CPU while idle with all N Active, % of one core. */
  settleCpuPct?: number;
  /** CPU ms per process over the create+reconcile phase. */
  cpu: CpuSplit;
  wallMs: number;
  /** Objects in the namespace at the end, and bans on the agent. */
  totalBlockEvents?: number;
  unexpectedNames: number;
  agentBans?: number;
  metrics: Record<string, number>;
  timedOut: boolean;
}

const pidsCpu = (pids: Record<keyof CpuSplit, number | undefined>): CpuSplit => {
  const out: CpuSplit = {};
  for (const [k, pid] of Object.entries(pids)) if (pid) out[k as keyof CpuSplit] = procCpuMs(pid);
  return out;
};

const diffCpu = (a: CpuSplit, b: CpuSplit): CpuSplit => {
  const out: CpuSplit = {};
  for (const k of Object.keys(b) as (keyof CpuSplit)[]) if (a[k] !== undefined && b[k] !== undefined) out[k] = b[k]! - a[k]!;
  return out;
};

/** A few figures from the controller's /metrics (prom text format). */
async function scrapeMetrics(url: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const text = await fetch(`${url}/metrics`).then((r) => r.text(), () => '');
  const want = [
    /^floodgate_workqueue_handler_seconds_(sum|count)\{queue="(blockevents|defensepolicies)"\}/,
    /^floodgate_workqueue_(adds|retries|handler_errors)_total\{queue="(blockevents|defensepolicies)"\}/,
    /^floodgate_controller_nodejs_heap_size_(used|total)_bytes /,
    /^floodgate_controller_nodejs_external_memory_bytes /,
    /^floodgate_controller_nodejs_gc_duration_seconds_sum/,
    /^floodgate_informer_events_total\{informer="blockevents"/,
  ];
  for (const line of text.split('\n')) {
    if (!want.some((re) => re.test(line))) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** Live figures of a section 3 in progress (for a report after an interruption). */
export interface ManyProgress {
  startedAt?: number;
  created: number;
  active: number;
  peakRss: number;
  hwm: number;
}

export async function measureManyBlockEvents(o: {
  progress?: ManyProgress;
  api: KubeApi;
  ns: string;
  policy: string;
  agent: BenchAgent;
  controller: BenchController;
  pids: { apiserver?: number; etcd?: number };
  count: number;
  concurrency: number;
  createBudgetMs: number;
  activeTimeoutMs: number;
  settleMs: number;
}): Promise<ManyResult> {
  const { api, ns, controller } = o;
  const pids = { controller: controller.pid, apiserver: o.pids.apiserver, etcd: o.pids.etcd, agent: o.agent.pid, bench: process.pid };
  const baselineRss = procMemory(controller.pid)?.rss ?? NaN;
  const names: string[] = [];
  const ips: string[] = [];
  for (let i = 0; i < o.count; i++) {
    const ip = `100.64.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    ips.push(ip);
    names.push(blockEventName(o.policy, ip));
  }
  const ours = new Map(names.map((n, i) => [n, i]));
  const createdAt = new Array<number>(o.count).fill(NaN);
  const activeAt = new Array<number>(o.count).fill(NaN);
  let active = 0;
  let failedPhase = 0;
  const failedSeen = new Set<string>();

  const start = await api.json<{ metadata: { resourceVersion: string } }>('GET', `${API}/namespaces/${ns}/blockevents?limit=1`);
  let lastActiveAt = NaN;
  const seen = (type: string, obj: unknown, at: number) => {
    const be = obj as BlockEvent;
    const i = ours.get(be.metadata?.name ?? '');
    if (i === undefined || type === 'DELETED') return;
    if (be.status?.phase === 'Active' && Number.isNaN(activeAt[i]!)) {
      activeAt[i] = at;
      active++;
      lastActiveAt = at;
    }
    if (be.status?.phase === 'Failed' && !failedSeen.has(be.metadata.name!)) {
      failedSeen.add(be.metadata.name!);
      failedPhase++;
    }
  };
  const watch = api.watch(`${API}/namespaces/${ns}/blockevents`, start.metadata.resourceVersion, seen, async () => {
    // The watch fell out of the server's window: re-list (times of this batch are the list's).
    log('watch: 410 Gone, re-listing');
    const all = await api.listAll<BlockEvent>(`${API}/namespaces/${ns}/blockevents`);
    const at = performance.now();
    for (const b of all.items) seen('ADDED', b, at);
    return all.resourceVersion;
  });

  const t0 = performance.now();
  const cpu0 = pidsCpu(pids);
  const samples: ManyResult['samples'] = [];
  let created = 0;
  let createFailures = 0;
  let firstCreateError: string | undefined;
  if (o.progress) o.progress.startedAt = t0;
  const sampler = setInterval(() => {
    const m = procMemory(controller.pid);
    if (m) samples.push({ t: performance.now() - t0, rss: m.rss, active, created });
    if (m && o.progress) Object.assign(o.progress, { created, active, peakRss: Math.max(o.progress.peakRss, m.rss), hwm: m.hwm });
  }, 1000);

  let next = 0;
  let cutShort = false;
  let issued = 0;
  const worker = async () => {
    for (;;) {
      if (performance.now() - t0 > o.createBudgetMs) {
        if (!cutShort && next < o.count) {
          cutShort = true;
          log(`creation budget of ${o.createBudgetMs / 1000} s used up at ${next} objects: the rest is not created`);
        }
        return;
      }
      const i = next++;
      if (i >= o.count) return;
      issued++;
      const body: BlockEvent = {
        apiVersion: 'floodgate.dev/v1alpha1',
        kind: 'BlockEvent',
        // The controller's own deterministic name for (policy, ip): the agent-ban sync
        // then recognises the ban the reconciler places as this object's.
        metadata: { name: names[i], namespace: ns, labels: { 'floodgate.dev/policy': o.policy, 'app.kubernetes.io/created-by': 'controller-bench' } },
        spec: { ip: ips[i]!, policyRef: { name: o.policy }, durationSeconds: 3600, reason: 'controller-bench' },
      };
      for (let attempt = 0; ; attempt++) {
        const r = await api.request('POST', `${API}/namespaces/${ns}/blockevents`, body).catch((err: Error) => ({ status: 0, body: err.message }));
        if (r.status === 201 || r.status === 409) {
          createdAt[i] = performance.now();
          created++;
          if (created % 1000 === 0) {
            const s = (performance.now() - t0) / 1000;
            log(`created ${created}/${o.count} in ${s.toFixed(1)} s (${(created / s).toFixed(0)}/s); Active so far ${active}; controller RSS ${((procMemory(controller.pid)?.rss ?? NaN) / 1048576).toFixed(0)} MB`);
          }
          break;
        }
        if (attempt >= 3) {
          createFailures++;
          firstCreateError ??= `HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`;
          break;
        }
        await sleep(200 * (attempt + 1));
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const createMs = performance.now() - t0;
  log(`creation done: ${created} objects in ${(createMs / 1000).toFixed(1)} s (${(created / (createMs / 1000)).toFixed(0)}/s)${createFailures ? `, ${createFailures} failed (${firstCreateError})` : ''}; Active so far ${active}`);
  void issued;

  // Until every created object is Active (or Failed), or the timeout.
  let lastLog = performance.now();
  let timedOut = false;
  while (active + failedPhase < created) {
    if (performance.now() - t0 > o.activeTimeoutMs) {
      timedOut = true;
      log(`timeout: ${active}/${created} Active after ${(o.activeTimeoutMs / 1000).toFixed(0)} s`);
      break;
    }
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      const s = (performance.now() - t0) / 1000;
      log(`Active ${active}/${created} at ${s.toFixed(0)} s; controller RSS ${((procMemory(controller.pid)?.rss ?? NaN) / 1048576).toFixed(0)} MB`);
    }
    await sleep(100);
  }
  const allActiveMs = timedOut ? undefined : (Number.isNaN(lastActiveAt) ? performance.now() : lastActiveAt) - t0;
  const cpu1 = pidsCpu(pids);
  const wallMs = performance.now() - t0;
  if (!timedOut) log(`all ${active} Active ${((allActiveMs ?? 0) / 1000).toFixed(1)} s after the first create${failedPhase ? ` (${failedPhase} Failed)` : ''}`);

  // Settle: the controller idles with N Active objects (its ban sync still lists the agent's bans).
  log(`settling ${o.settleMs / 1000} s (controller RSS and CPU at rest)`);
  const cpuSettle0 = procCpuMs(controller.pid);
  const settleT0 = performance.now();
  await sleep(o.settleMs);
  const cpuSettle1 = procCpuMs(controller.pid);
  const settleCpuPct = cpuSettle0 !== undefined && cpuSettle1 !== undefined ? ((cpuSettle1 - cpuSettle0) / (performance.now() - settleT0)) * 100 : undefined;
  clearInterval(sampler);
  watch.stop();
  const mem = procMemory(controller.pid);
  const metrics = await scrapeMetrics(controller.probeUrl);

  let totalBlockEvents: number | undefined;
  let unexpectedNames = 0;
  try {
    const all = await api.listAll<BlockEvent>(`${API}/namespaces/${ns}/blockevents`);
    totalBlockEvents = all.items.length;
    // Every object should be one of ours, or one of section 1's 198.51.100.x records.
    unexpectedNames = all.items.filter((b) => !ours.has(b.metadata.name ?? '') && !b.spec.ip.startsWith('198.51.100.')).length;
  } catch (err) {
    log(`final list failed: ${(err as Error).message}`);
  }
  const agentBans = await o.agent.count().catch(() => undefined);

  const latencies: number[] = [];
  for (let i = 0; i < o.count; i++) if (!Number.isNaN(createdAt[i]!) && !Number.isNaN(activeAt[i]!)) latencies.push(Math.max(0, activeAt[i]! - createdAt[i]!));
  return {
    requested: o.count,
    created,
    createFailures,
    firstCreateError,
    cutShort,
    createMs,
    allActiveMs,
    active,
    failedPhase,
    latencies,
    baselineRss,
    samples,
    peakSampledRss: samples.reduce((m, s) => Math.max(m, s.rss), 0),
    hwm: mem?.hwm ?? NaN,
    rssAfterSettle: mem?.rss ?? NaN,
    settleSeconds: o.settleMs / 1000,
    settleCpuPct,
    cpu: diffCpu(cpu0, cpu1),
    wallMs,
    totalBlockEvents,
    unexpectedNames,
    agentBans,
    metrics,
    timedOut,
  };
}
