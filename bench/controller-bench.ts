// npm run bench:controller — the operator (`floodgate controller`, its own
// process) against our own kube-apiserver + etcd and a real agent:
//   1. a ban made on the agent (POST /v1/blocks) → its BlockEvent visible through the API;
//   2. `kubectl apply` of a DefensePolicy → status Ready=True;
//   3. 10,000 BlockEvents reconciled to Active: time, and the controller's RSS.
// Progress on stderr, the report on stdout. Figures only: nothing here asserts timings.
//
// Env: BENCH_RUNS (10), BENCH_POLICIES (5), BENCH_OBJECTS (10000), BENCH_CONCURRENCY (16),
// BENCH_CREATE_BUDGET_SECONDS (300: stop creating after this, report the rate),
// BENCH_ACTIVE_TIMEOUT_SECONDS (2400), BENCH_SETTLE_SECONDS (15), BENCH_POLL_MS (20),
// BENCH_SECTIONS (1,2,3), BENCH_SEED, BENCH_CPU_PROF=1 (run the controller and the
// agent under node --cpu-prof and summarise where their CPU went in section 3),
// BENCH_CONTROLLER_NODE_ARGS (extra node flags for the controller process, default none; the
// flags of the controller image's ENTRYPOINT, images/Dockerfile's controller stage, always apply),
// BENCH_CONTROLLER_MEMORY_LIMIT_MIB (256: the controller runs in a memory cgroup with this
// limit, as in its pod; 0 = none),
// BENCH_CP_STATE_DIR (/tmp/floodgate-cp-bench), BENCH_NS (fgcbench), BENCH_KEEP_TMP=1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measureBanToBlockEvent, type BanResult } from './controller/ban-to-block-event.js';
import { summariseProfile, formatProfile } from './controller/cpu-profile.js';
import { controllerImageNodeFlags, kubectl, startBenchAgent, startControlPlane, startControllerProcess, type BenchAgent, type BenchControlPlane, type BenchController } from './controller/env.js';
import { KubeApi } from './controller/kube-api.js';
import { measureManyBlockEvents, type ManyProgress, type ManyResult } from './controller/many-block-events.js';
import { policyManifest, waitPolicyReady } from './controller/policies.js';
import { measurePolicyReady, type ReadyRun } from './controller/policy-ready.js';
import { envNumber, fmtMB, fmtS, loadAvg, log, max, median, met, onTeardown, percentile, runTeardown, seededRandom, sleep } from './controller/util.js';
import { runSection } from './bench-util.js';

const RUNS = envNumber('BENCH_RUNS', 10, 1);
const POLICIES = envNumber('BENCH_POLICIES', 5, 1);
const OBJECTS = envNumber('BENCH_OBJECTS', 10_000, 1);
const CONCURRENCY = envNumber('BENCH_CONCURRENCY', 16, 1);
const CREATE_BUDGET_S = envNumber('BENCH_CREATE_BUDGET_SECONDS', 300, 1);
const ACTIVE_TIMEOUT_S = envNumber('BENCH_ACTIVE_TIMEOUT_SECONDS', 2400, 1);
const SETTLE_S = envNumber('BENCH_SETTLE_SECONDS', 15, 0);
const POLL_MS = envNumber('BENCH_POLL_MS', 20, 1);
const SEED = envNumber('BENCH_SEED', Date.now() % 2 ** 31);
const CPU_PROF = process.env.BENCH_CPU_PROF === '1';
/** Extra node flags for the controller process only, e.g. "--max-old-space-size=128" (default none). */
const NODE_ARGS = [...controllerImageNodeFlags(), ...(process.env.BENCH_CONTROLLER_NODE_ARGS || '').split(/\s+/).filter(Boolean)];
/** The controller's memory limit, as its Deployment's resources.limits.memory (0: none). */
const MEMORY_LIMIT_MIB = envNumber('BENCH_CONTROLLER_MEMORY_LIMIT_MIB', 256, 0);
const SECTIONS = new Set((process.env.BENCH_SECTIONS || '1,2,3').split(',').map((x) => x.trim()));
const STATE_DIR = process.env.BENCH_CP_STATE_DIR || '/tmp/floodgate-cp-bench';
const NS = process.env.BENCH_NS || 'fgcbench';
const POLICY = 'bench';
const SECRET = 'agent-token';

const TARGET_BAN_MS = 1000;
const TARGET_READY_MS = 1000;
const TARGET_RSS_BYTES = 150 * 1048576;

interface Results {
  ban?: BanResult;
  ready?: ReadyRun[];
  many?: ManyResult;
  manyProgress?: ManyProgress;
  profile?: string[];
  controllerLogWarnings?: string[];
  /** How the controller's memory was limited (its cgroup), short form for the summary. */
  controllerMemory?: string;
  env: string[];
  errors: string[];
}

let tornDown = false;
async function teardown(): Promise<void> {
  if (tornDown) return;
  tornDown = true;
  await runTeardown();
}

/** The results so far, printed also when the run is interrupted. */
const results: Results = { env: [], errors: [] };
let interruptedBy: string | undefined;
let printed = false;
function printReport(): void {
  if (printed) return;
  printed = true;
  console.log(report(results));
}

function interrupted(why: string, code: number): void {
  if (interruptedBy !== undefined) return;
  interruptedBy = why;
  log(`${why}: tearing down`);
  results.errors.push(`interrupted (${why}): the section in progress and those after it are missing`);
  void teardown().finally(() => {
    printReport();
    process.exit(code);
  });
}

// process.on, not once: execa's signal-exit re-raises the signal (killing us mid-teardown)
// when it finds itself the only listener left.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => interrupted(sig, 130));

process.on('uncaughtException', (err) => {
  log(`uncaught: ${err.stack ?? err.message}`);
  interrupted(`uncaught exception: ${err.message}`, 1);
});

function section<T>(name: string, r: Results, fn: () => Promise<T>): Promise<T | undefined> {
  return runSection(name, r.errors, fn);
}

const pct = (x: number, of: number) => (of > 0 ? `${((x / of) * 100).toFixed(0)}%` : 'n/a');
const ratio = (x: number, target: number) => (Number.isFinite(x) ? `${(x / target).toFixed(2)}× of target` : 'n/a');
const notMeasured = (s: string) => (SECTIONS.has(s) ? 'not measured (see Errors)  MISSED' : 'skipped (BENCH_SECTIONS)');

function report(r: Results): string {
  const out: string[] = [];
  const summary: string[] = [];
  out.push(`## bench:controller — floodgate controller (CLI process) vs its own kube-apiserver 1.20 + etcd, one real agent (dry-run)`, '', ...r.env, '');

  // 1
  out.push('### 1. Ban on the agent (POST /v1/blocks) → BlockEvent visible through the API');
  if (r.ban) {
    const ok = r.ban.runs.filter((x) => x.visibleMs !== undefined);
    const vis = ok.map((x) => x.visibleMs!);
    const act = r.ban.runs.filter((x) => x.activeMs !== undefined).map((x) => x.activeMs!);
    out.push(
      '',
      `The controller's agent-ban sync polls each policy's agents every 300 ms (its default; the CLI has no flag for it) and records a ban it has no BlockEvent for.`,
      `Clock: from right before the POST to the first ${POLL_MS} ms list of blockevents in ${NS} that holds spec.ip (and then status.phase Active). ${r.ban.listsPerRun.toFixed(0)} lists per run on average.`,
      '',
      '| run | ip | POST answered | visible | Active | BlockEvent |',
      '|---:|---|---:|---:|---:|---|',
      ...r.ban.runs.map((x) => `| ${x.run} | ${x.ip} | ${fmtS(x.postMs)} | ${x.visibleMs !== undefined ? fmtS(x.visibleMs) : x.error ?? ''} | ${x.activeMs !== undefined ? fmtS(x.activeMs) : ''} | ${x.name ?? ''} |`),
      '',
      `visible (${ok.length}/${r.ban.runs.length}): median ${fmtS(median(vis))}, p90 ${fmtS(percentile(vis, 90))}, max ${fmtS(max(vis))}`,
      `Active:  median ${fmtS(median(act))}, p90 ${fmtS(percentile(act, 90))}, max ${fmtS(max(act))}`,
      `kubectl get be -n ${NS} at the end lists ${r.ban.kubectlRows}/${r.ban.runs.length} of the IPs:`,
      '```',
      r.ban.kubectlTable,
      '```',
    );
    const all = ok.length === r.ban.runs.length && r.ban.kubectlRows === r.ban.runs.length;
    summary.push(
      `1. agent ban → BlockEvent visible, median  ${fmtS(median(vis)).padEnd(10)} target ≤ ${fmtS(TARGET_BAN_MS)} (${ratio(median(vis), TARGET_BAN_MS)})${all ? '' : ' — NOT all recorded/listed'}  ${met(median(vis) <= TARGET_BAN_MS && all)}`,
      `   p90 / max                               ${fmtS(percentile(vis, 90))} / ${fmtS(max(vis))}; Active median ${fmtS(median(act))}; kubectl lists ${r.ban.kubectlRows}/${r.ban.runs.length}`,
    );
  } else {
    out.push('', notMeasured('1'));
    summary.push(`1. agent ban → BlockEvent                   ${notMeasured('1')}`);
  }
  out.push('');

  // 2
  out.push('### 2. `kubectl apply` of a DefensePolicy → Ready=True');
  if (r.ready) {
    const ok = r.ready.filter((x) => x.readyMs !== undefined);
    const ms = ok.map((x) => x.readyMs!);
    const kc = r.ready.map((x) => x.kubectlMs).filter(Number.isFinite);
    out.push(
      '',
      `Each a new policy (one agent: the real one, token from a Secret). Clock from right before kubectl is spawned; a GET every ${POLL_MS} ms runs alongside.`,
      'kubectl itself (a Go binary starting, reading the kubeconfig, discovery, a server-side dry compare and the create) is part of the figure.',
      '',
      '| run | policy | kubectl apply exited | object first seen | Ready=True | AgentsReachable too |',
      '|---:|---|---:|---:|---:|---|',
      ...r.ready.map((x) => `| ${x.run} | ${x.name} | ${fmtS(x.kubectlMs)} | ${x.seenMs !== undefined ? fmtS(x.seenMs) : ''} | ${x.readyMs !== undefined ? fmtS(x.readyMs) : x.error ?? ''} | ${x.readyMs !== undefined ? (x.reachableAlso ? 'yes' : 'no') : ''} |`),
      '',
      `Ready (${ok.length}/${r.ready.length}): median ${fmtS(median(ms))}, max ${fmtS(max(ms))}; kubectl alone median ${fmtS(median(kc))}; seen→Ready median ${fmtS(median(ok.filter((x) => x.seenMs !== undefined).map((x) => x.readyMs! - x.seenMs!)))}`,
    );
    const all = ok.length === r.ready.length;
    summary.push(
      `2. kubectl apply → Ready=True, median      ${fmtS(median(ms)).padEnd(10)} target ≤ ${fmtS(TARGET_READY_MS)} (${ratio(median(ms), TARGET_READY_MS)})${all ? '' : ' — NOT all Ready'}  ${met(median(ms) <= TARGET_READY_MS && all)}`,
      `   max                                     ${fmtS(max(ms)).padEnd(10)} target ≤ ${fmtS(TARGET_READY_MS)}  ${met(max(ms) <= TARGET_READY_MS && all)}`,
    );
  } else {
    out.push('', notMeasured('2'));
    summary.push(`2. kubectl apply → Ready                    ${notMeasured('2')}`);
  }
  out.push('');

  // 3
  out.push(`### 3. Controller RSS with ${OBJECTS.toLocaleString()} BlockEvents`);
  const m = r.many;
  if (m) {
    const lat = m.latencies;
    const s = (x: number) => `${(x / 1000).toFixed(1)} s`;
    out.push(
      '',
      `BlockEvents 100.64.x.y (policyRef ${POLICY}, durationSeconds 3600, the controller's own deterministic names) created with POST, ${CONCURRENCY} in flight; a watch records when each turns Active.`,
      '',
      `created ${m.created.toLocaleString()}/${m.requested.toLocaleString()} in ${s(m.createMs)} (${(m.created / (m.createMs / 1000)).toFixed(0)}/s)${m.createFailures ? `; ${m.createFailures} creates failed (${m.firstCreateError})` : ''}`,
      m.cutShort ? `**creation was cut short by the ${CREATE_BUDGET_S} s budget (BENCH_CREATE_BUDGET_SECONDS): ${m.created.toLocaleString()} objects, not ${m.requested.toLocaleString()}**` : '',
      m.timedOut
        ? `**NOT all Active: ${m.active.toLocaleString()}/${m.created.toLocaleString()} after ${s(m.wallMs)} (BENCH_ACTIVE_TIMEOUT_SECONDS ${ACTIVE_TIMEOUT_S})**, ${(m.active / (m.wallMs / 1000)).toFixed(0)} Active/s`
        : `all ${m.active.toLocaleString()} Active ${s(m.allActiveMs!)} after the first create (${(m.active / (m.allActiveMs! / 1000)).toFixed(0)} Active/s overall)${m.failedPhase ? `; ${m.failedPhase} Failed` : ''}`,
      `create → Active per object: median ${fmtS(median(lat))}, p90 ${fmtS(percentile(lat, 90))}, max ${fmtS(max(lat))}`,
      `BlockEvents in ${NS} at the end: ${m.totalBlockEvents ?? '?'} (expected ${m.created + (r.ban?.runs.length ?? 0)}; ${m.unexpectedNames} unexpected); bans on the agent: ${m.agentBans ?? '?'}`,
      '',
      `controller memory: ${r.controllerMemory ?? 'n/a'}`,
      `controller RSS: before ${fmtMB(m.baselineRss)}; peak of the 1 s samples ${fmtMB(m.peakSampledRss)}; **VmHWM ${fmtMB(m.hwm)}**; ${m.settleSeconds} s later ${fmtMB(m.rssAfterSettle)}`,
      `controller CPU over the ${m.settleSeconds} s after that (${m.timedOut ? 'still reconciling' : `at rest, ${m.active.toLocaleString()} Active; its ban sync still asks the agent for changes every 300 ms and reads the whole list every 30 s`}): ${m.settleCpuPct !== undefined ? `${m.settleCpuPct.toFixed(0)}% of a core` : 'n/a'}`,
      `CPU time during create+reconcile (${s(m.wallMs)} wall, 2 cores): ` +
        (['controller', 'apiserver', 'etcd', 'agent', 'bench'] as const).map((k) => `${k} ${m.cpu[k] !== undefined ? `${s(m.cpu[k]!)} (${pct(m.cpu[k]!, m.wallMs)})` : 'n/a'}`).join(', '),
      `RSS samples (MB, every ${Math.max(1, Math.ceil(m.samples.length / 40))} s): ${m.samples
        .filter((_, i) => i % Math.max(1, Math.ceil(m.samples.length / 40)) === 0)
        .map((x) => (x.rss / 1048576).toFixed(0))
        .join(' ')}`,
      `Active over time (every ${Math.max(1, Math.ceil(m.samples.length / 40))} s): ${m.samples
        .filter((_, i) => i % Math.max(1, Math.ceil(m.samples.length / 40)) === 0)
        .map((x) => x.active)
        .join(' ')}`,
    );
    const q = (name: string) => {
      const sum = m.metrics[`floodgate_workqueue_handler_seconds_sum{queue="${name}"}`];
      const count = m.metrics[`floodgate_workqueue_handler_seconds_count{queue="${name}"}`];
      const errors = m.metrics[`floodgate_workqueue_handler_errors_total{queue="${name}"}`] ?? 0;
      return sum !== undefined && count ? `${count.toLocaleString()} handler runs (${errors} threw), mean ${((sum / count) * 1000).toFixed(1)} ms, total ${sum.toFixed(1)} s` : 'n/a';
    };
    out.push(
      `controller /metrics: blockevents queue ${q('blockevents')}; defensepolicies queue ${q('defensepolicies')}; ` +
        `heap used ${fmtMB(m.metrics['floodgate_controller_nodejs_heap_size_used_bytes'] ?? NaN)} of ${fmtMB(m.metrics['floodgate_controller_nodejs_heap_size_total_bytes'] ?? NaN)}, external ${fmtMB(m.metrics['floodgate_controller_nodejs_external_memory_bytes'] ?? NaN)}`,
    );
    const full = m.created === m.requested;
    summary.push(
      `3. controller peak RSS (VmHWM), ${m.created.toLocaleString()} BEs`.padEnd(42) +
        ` ${fmtMB(m.hwm).padEnd(10)} target ≤ 150 MB (${ratio(m.hwm, TARGET_RSS_BYTES)}); ${r.controllerMemory ?? ''}; now ${fmtMB(m.rssAfterSettle)}${full ? '' : ` — only ${m.created.toLocaleString()} of ${m.requested.toLocaleString()} created`}${m.timedOut ? ' — not all Active' : ''}  ${met(m.hwm <= TARGET_RSS_BYTES && full && !m.timedOut)}`,
      `   all Active after                        ${m.timedOut ? `not within ${ACTIVE_TIMEOUT_S} s (${m.active}/${m.created})` : fmtS(m.allActiveMs!)}; creating took ${fmtS(m.createMs)} (${(m.created / (m.createMs / 1000)).toFixed(0)}/s)`,
    );
  } else if (r.manyProgress?.startedAt !== undefined) {
    const p = r.manyProgress;
    const secs = (performance.now() - p.startedAt!) / 1000;
    out.push('', `**interrupted after ${secs.toFixed(0)} s**: created ${p.created.toLocaleString()}, Active ${p.active.toLocaleString()}; controller RSS peak so far ${fmtMB(p.peakRss)}, VmHWM ${fmtMB(p.hwm)}`);
    summary.push(`3. controller peak RSS (VmHWM) so far`.padEnd(42) + ` ${fmtMB(p.hwm).padEnd(10)} target ≤ 150 MB — interrupted after ${secs.toFixed(0)} s at ${p.active.toLocaleString()}/${p.created.toLocaleString()} Active  ${met(false)}`);
  } else {
    out.push('', notMeasured('3'));
    summary.push(`3. controller RSS, ${OBJECTS.toLocaleString()} BlockEvents`.padEnd(44) + notMeasured('3'));
  }
  out.push('');
  if (r.profile) out.push('### CPU profile', '', '```', ...r.profile, '```', '');
  if (r.controllerLogWarnings?.length) out.push('### Controller log: warnings/errors (first 10 of each kind)', '', '```', ...r.controllerLogWarnings, '```', '');
  if (r.errors.length) out.push('### Errors', '', ...r.errors.map((e) => `- ${e}`), '');
  out.push('### Summary', '', '```', ...summary, '```');
  return out.filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n');
}

/** Group the controller's warn/error log lines by message. */
function controllerWarnings(logFile: string): string[] {
  if (!fs.existsSync(logFile)) return [];
  const by = new Map<string, { n: number; sample: string }>();
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { level?: number; msg?: string; err?: unknown };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if ((rec.level ?? 0) < 40) continue;
    const k = `${rec.level === 40 ? 'WARN' : 'ERROR'} ${rec.msg}`;
    const e = by.get(k) ?? { n: 0, sample: line.slice(0, 400) };
    e.n++;
    by.set(k, e);
  }
  return [...by].slice(0, 10).map(([k, v]) => `${v.n}× ${k} — e.g. ${v.sample}`);
}

async function main(): Promise<void> {
  const r = results;
  let cp: BenchControlPlane | undefined;
  let api: KubeApi | undefined;
  let agent: BenchAgent | undefined;
  let ctl: BenchController | undefined;
  let s3Window: { from: number; to: number } | undefined;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fgcbench-'));
  if (process.env.BENCH_KEEP_TMP !== '1') onTeardown(`remove ${work}`, async () => fs.rmSync(work, { recursive: true, force: true }));
  try {
    r.env.push(
      `machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}; load average at start ${loadAvg()} (other work on the machine skews timings)`,
      `runs: ${RUNS} bans, ${POLICIES} policies, ${OBJECTS.toLocaleString()} BlockEvents (${CONCURRENCY} creates in flight), poll every ${POLL_MS} ms, seed ${SEED}${CPU_PROF ? ', controller and agent under --cpu-prof' : ''}`,
      'run order: 2, then 1, then 3 — the agent-ban sync mirrors every ban of an agent into a BlockEvent of EVERY policy naming that agent (it does not look at the ban\'s policy), so section 2\'s policies are deleted before any ban exists.',
    );
    log(`control plane in ${STATE_DIR} (first start may build kube-apiserver)`);
    cp = await startControlPlane(STATE_DIR);
    api = new KubeApi(cp.kubeconfig);
    const a0 = api;
    onTeardown('close API connections', async () => a0.close());
    const kc = cp.kubeconfig;
    const ok = async (args: string[], input?: string) => {
      const x = await kubectl(kc, args, input);
      if (x.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${x.stderr.trim()}`);
      return x.stdout;
    };
    await ok(['create', 'namespace', NS]);
    log('starting the agent (dry-run backend)');
    agent = await startBenchAgent(`${NS.replace(/[^a-z0-9]/g, '').slice(0, 12)}0`, CPU_PROF ? { cpuProfileDir: path.join(work, 'agent-cpu-profile') } : {});
    r.env.push(`agent: ${agent.url}, pid ${agent.pid}, capture on ${agent.iface}, maxActiveBans raised to 100000 (default 10000), state on ${fs.existsSync('/dev/shm') ? 'tmpfs' : 'disk'}`);
    await ok(['-n', NS, 'create', 'secret', 'generic', SECRET, `--from-literal=token=${agent.token}`]);
    await ok(['-n', NS, 'label', 'secret', SECRET, 'floodgate.dev/agent-token=true']);
    log('starting the controller: node bin/floodgate.js controller');
    ctl = await startControllerProcess({ kubeconfig: kc, leaseNamespace: NS, workDir: work, cpuProfile: CPU_PROF, nodeArgs: NODE_ARGS, memoryLimitBytes: MEMORY_LIMIT_MIB * 1048576, cgroupName: `${NS}-controller-${process.pid}` });
    r.env.push(
      `controller: pid ${ctl.pid}, \`node ${NODE_ARGS.length ? `${NODE_ARGS.join(' ')} ` : ''}bin/floodgate.js controller --kubeconfig … --lease-namespace ${NS} --probe-port <free> --memory-sources cgroup\`, log level info`,
      `controller memory: ${ctl.memoryNote}`,
    );
    r.controllerMemory = ctl.cgroup && !ctl.memoryNote.startsWith('NOT') ? `in a ${MEMORY_LIMIT_MIB} MiB memory cgroup` : 'no memory limit';
    await ok(['apply', '-f', '-'], policyManifest(NS, POLICY, agent.url, SECRET));
    await waitPolicyReady(api, NS, POLICY, { reachable: true, timeoutMs: 60_000 });
    log(`policy ${NS}/${POLICY} Ready and its agent reachable`);

    const rng = seededRandom(SEED);
    const c = ctl;
    const ag = agent;
    const a = api;
    if (SECTIONS.has('2')) {
      r.ready = await section('2. kubectl apply → Ready', r, () =>
        measurePolicyReady({ api: a, kubeconfig: kc, ns: NS, agentUrl: ag.url, secret: SECRET, runs: POLICIES, prefix: 'bench-ready', pollMs: POLL_MS, timeoutMs: 60_000, rng }),
      );
      if (r.ready?.length) {
        await kubectl(kc, ['-n', NS, 'delete', 'dp', ...r.ready.map((x) => x.name), '--ignore-not-found']);
        await sleep(1000); // the controller's informer drops them; its ban sync then polls only "bench"
      }
    }
    if (SECTIONS.has('1')) {
      r.ban = await section('1. agent ban → BlockEvent', r, () => measureBanToBlockEvent({ api: a, agent: ag, kubeconfig: kc, ns: NS, runs: RUNS, rng, pollMs: POLL_MS, timeoutMs: 30_000 }));
    }
    if (SECTIONS.has('3')) {
      const from = Date.now();
      r.manyProgress = { created: 0, active: 0, peakRss: 0, hwm: NaN };
      const progress = r.manyProgress;
      r.many = await section(`3. ${OBJECTS} BlockEvents`, r, () =>
        measureManyBlockEvents({
          progress,
          api: a,
          ns: NS,
          policy: POLICY,
          agent: ag,
          controller: c,
          pids: { apiserver: cp!.apiserverPid, etcd: cp!.etcdPid },
          count: OBJECTS,
          concurrency: CONCURRENCY,
          createBudgetMs: CREATE_BUDGET_S * 1000,
          activeTimeoutMs: ACTIVE_TIMEOUT_S * 1000,
          settleMs: SETTLE_S * 1000,
        }),
      );
      s3Window = { from, to: Date.now() };
    }
  } catch (err) {
    r.errors.push((err as Error).message);
    log(`FAILED: ${(err as Error).message}`);
  } finally {
    const profiles: { who: string; dir?: string; exitWall: number }[] = [];
    if (ctl) {
      log('stopping the controller');
      await ctl.stop();
      profiles.push({ who: 'controller', dir: ctl.profileDir, exitWall: Date.now() });
      r.controllerLogWarnings = controllerWarnings(ctl.logFile);
    }
    if (agent?.profileDir) {
      log('stopping the agent');
      await agent.stop();
      profiles.push({ who: 'agent', dir: agent.profileDir, exitWall: Date.now() });
    }
    for (const p of profiles) {
      if (!p.dir) continue;
      const files = fs.existsSync(p.dir) ? fs.readdirSync(p.dir).filter((f) => f.endsWith('.cpuprofile')) : [];
      if (!files[0]) {
        r.errors.push(`cpu profile: the ${p.who} wrote none (killed?)`);
        continue;
      }
      const file = path.join(p.dir, files[0]);
      try {
        r.profile ??= [];
        r.profile.push(
          ...(s3Window ? formatProfile(summariseProfile(file, p.exitWall, s3Window), p.who, 'section 3 only') : formatProfile(summariseProfile(file, p.exitWall), p.who, 'whole run')),
          '',
        );
        if (process.env.BENCH_KEEP_TMP === '1') r.profile.push(`profile kept at ${file}`, '');
      } catch (err) {
        r.errors.push(`cpu profile (${p.who}): ${(err as Error).message}`);
      }
    }
    await teardown();
  }
  if (interruptedBy !== undefined) return; // the signal handler prints once teardown is done
  printReport();
  if (r.errors.length) process.exitCode = 1;
}

void main();
