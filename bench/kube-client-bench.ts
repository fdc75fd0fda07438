// npm run bench:kube-client — what each way of talking to the Kubernetes API
// costs the controller, measured side by side in one run (docs/adr/0001):
//   own                 the controller's own kubeconfig loader and REST client (today);
//   client-node-config  @kubernetes/client-node's KubeConfig (loaded lazily) for
//                       kubeconfig and authentication, our REST client for the calls;
//   client-node         client-node for everything (the controller before its own client).
// Each variant runs in a fresh process (node --expose-gc, with the controller
// image's node flags, inside a 256 MiB memory cgroup like the controller pod
// when cgexec is available), against our own kube-apiserver holding
// BENCH_OBJECTS BlockEvents: it loads the client, LISTs them all (pages of
// 500) BENCH_ROUNDS times and GETs 200. Figures only; nothing here asserts.
//
// Env: BENCH_OBJECTS (5000), BENCH_ROUNDS (3), BENCH_REPEATS (3: median of runs),
// BENCH_CP_STATE_DIR (/tmp/floodgate-cp-bench-kubeclient), BENCH_NS (fgkbench).
import path from 'node:path';
import { execa } from 'execa';
import { controllerImageNodeFlags, kubectl, ROOT, startControlPlane } from './controller/env.js';
import { createMemoryCgroup, inCgroup } from './controller/memory-cgroup.js';
import { envNumber, fmtMB, log, median, onTeardown, runTeardown } from './controller/util.js';
import { loadKubeConfig } from '../kube/kube-config.js';
import { RestClient } from '../kube/rest-client.js';

const OBJECTS = envNumber('BENCH_OBJECTS', 5000, 1);
const ROUNDS = envNumber('BENCH_ROUNDS', 3, 1);
const REPEATS = envNumber('BENCH_REPEATS', 3, 1);
const STATE_DIR = process.env.BENCH_CP_STATE_DIR || '/tmp/floodgate-cp-bench-kubeclient';
const NS = process.env.BENCH_NS || 'fgkbench';
const VARIANTS = ['own', 'client-node-config', 'client-node'] as const;
const MEMORY_LIMIT = 256 * 1048576;

interface Run {
  variant: string;
  moduleCount: number;
  listed: number;
  loadMs: number;
  workMs: number;
  before: { rss: number; heapUsed: number };
  loaded: { rss: number; heapUsed: number };
  after: { rss: number; heapUsed: number };
  peakRss: number;
}

async function createBlockEvents(kubeconfig: string): Promise<void> {
  const rest = new RestClient(loadKubeConfig({ kubeconfig }));
  const path_ = `/apis/floodgate.dev/v1alpha1/namespaces/${NS}/blockevents`;
  let next = 0;
  let done = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < OBJECTS) {
      const i = next++;
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      await rest.request({
        method: 'POST',
        path: path_,
        body: { apiVersion: 'floodgate.dev/v1alpha1', kind: 'BlockEvent', metadata: { name: `be-${i}` }, spec: { ip, durationSeconds: 600, reason: 'bench: one BlockEvent of many', policyRef: { name: 'bench' } } },
      });
      if (++done % 1000 === 0) log(`created ${done}/${OBJECTS} BlockEvents (${Math.round(done / ((Date.now() - started) / 1000))}/s)`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  rest.close();
}

async function runVariant(variant: string, kubeconfig: string, n: number): Promise<Run> {
  const script = path.join(ROOT, 'dist', 'bench', 'kube-client', 'variant.js');
  const args = ['--expose-gc', ...controllerImageNodeFlags(), script, variant, kubeconfig, NS, String(ROUNDS)];
  const cg = createMemoryCgroup(`floodgate-bench-kube-${process.pid}-${variant}-${n}`, MEMORY_LIMIT);
  const [file, argv] = typeof cg === 'string' ? [process.execPath, args] : inCgroup(cg, process.execPath, args);
  try {
    const r = await execa(file, argv, { cwd: ROOT });
    return JSON.parse(String(r.stdout).trim().split('\n').pop()!) as Run;
  } finally {
    if (typeof cg !== 'string') await cg.remove();
  }
}

async function main(): Promise<void> {
  const cg = createMemoryCgroup(`floodgate-bench-kube-probe-${process.pid}`, MEMORY_LIMIT);
  const limited = typeof cg !== 'string';
  if (typeof cg !== 'string') await cg.remove();
  else log(`no memory cgroup (${cg}): variants run without a memory limit`);
  const cp = await startControlPlane(STATE_DIR);
  onTeardown('done', async () => undefined);
  await kubectl(cp.kubeconfig, ['create', 'namespace', NS]);
  log(`creating ${OBJECTS} BlockEvents in ${NS}`);
  await createBlockEvents(cp.kubeconfig);

  const runs = new Map<string, Run[]>();
  for (let n = 0; n < REPEATS; n++) {
    for (const v of VARIANTS) {
      const run = await runVariant(v, cp.kubeconfig, n);
      if (run.listed !== OBJECTS) throw new Error(`${v} listed ${run.listed} of ${OBJECTS}`);
      log(`${v} #${n + 1}: ${run.moduleCount} modules, load ${run.loadMs.toFixed(0)} ms, RSS after load ${fmtMB(run.loaded.rss)}, peak ${fmtMB(run.peakRss)}, work ${run.workMs.toFixed(0)} ms`);
      runs.set(v, [...(runs.get(v) ?? []), run]);
    }
  }

  const med = (v: string, f: (r: Run) => number) => median((runs.get(v) ?? []).map(f));
  const own = {
    loadDelta: med('own', (r) => r.loaded.rss - r.before.rss),
    peak: med('own', (r) => r.peakRss),
    heap: med('own', (r) => r.after.heapUsed),
    work: med('own', (r) => r.workMs),
  };
  const lines = [
    `# bench:kube-client: ${OBJECTS} BlockEvents, ${ROUNDS} full LISTs (pages of 500) + 200 GETs per run, median of ${REPEATS} runs per variant,`,
    `# each in a fresh node ${process.version} process (${controllerImageNodeFlags().join(' ') || 'no flags'}${limited ? ', 256 MiB memory cgroup' : ', no memory limit'})`,
    '',
    '| variant | modules loaded | RSS added by loading the client | heap after the work (after GC) | peak RSS (VmHWM) | load time | work time |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const v of VARIANTS) {
    const loadDelta = med(v, (r) => r.loaded.rss - r.before.rss);
    const peak = med(v, (r) => r.peakRss);
    const heap = med(v, (r) => r.after.heapUsed);
    const work = med(v, (r) => r.workMs);
    const ratio = (x: number, base: number) => (v === 'own' ? '' : ` (${(x / base).toFixed(2)}×)`);
    lines.push(
      `| ${v} | ${med(v, (r) => r.moduleCount)} | ${fmtMB(loadDelta)}${ratio(loadDelta, own.loadDelta)} | ${fmtMB(heap)}${ratio(heap, own.heap)} | ${fmtMB(peak)}${ratio(peak, own.peak)} | ${med(v, (r) => r.loadMs).toFixed(0)} ms | ${work.toFixed(0)} ms${ratio(work, own.work)} |`,
    );
  }
  console.log(lines.join('\n'));
}

try {
  await main();
} finally {
  await runTeardown();
}
