// Section 1: a ban made directly on the agent (POST /v1/blocks) until its
// BlockEvent is visible through the API. The controller's agent-ban sync
// polls each policy's agents (every 300 ms by default; the CLI has no flag
// for it) and creates a BlockEvent, then sets its status to Active.
import type { BlockEvent } from '../../api/v1alpha1/index.js';
import type { BenchAgent } from './env.js';
import { kubectl } from './env.js';
import type { KubeApi } from './kube-api.js';
import { API } from './policies.js';
import { log, sleep } from './util.js';

export interface BanRun {
  run: number;
  ip: string;
  /** POST /v1/blocks answered. */
  postMs: number;
  /** First 20 ms list that holds a BlockEvent with spec.ip. */
  visibleMs?: number;
  /** First list that shows it with status.phase Active. */
  activeMs?: number;
  name?: string;
  error?: string;
}

export interface BanResult {
  runs: BanRun[];
  /** `kubectl get be -n NS` at the end: rows found for our IPs. */
  kubectlRows: number;
  kubectlTable: string;
  listsPerRun: number;
}

export async function measureBanToBlockEvent(o: { api: KubeApi; agent: BenchAgent; kubeconfig: string; ns: string; runs: number; rng: () => number; pollMs: number; timeoutMs: number }): Promise<BanResult> {
  const runs: BanRun[] = [];
  let lists = 0;
  for (let i = 1; i <= o.runs; i++) {
    // A random pause so that the bans do not land at one fixed phase of the sync's 300 ms tick.
    await sleep(200 + Math.floor(o.rng() * 400));
    const ip = `198.51.100.${i}`;
    const t0 = performance.now();
    const r = await o.agent.block(ip, 600, `controller-bench run ${i}`);
    const run: BanRun = { run: i, ip, postMs: performance.now() - t0 };
    runs.push(run);
    if (r.status !== 200 && r.status !== 201) {
      run.error = `agent answered HTTP ${r.status}: ${JSON.stringify(r.body)}`;
      log(`run ${i}: ${run.error}`);
      continue;
    }
    for (;;) {
      const list = await o.api.json<{ items: BlockEvent[] }>('GET', `${API}/namespaces/${o.ns}/blockevents`);
      lists++;
      const now = performance.now() - t0;
      const be = list.items.find((b) => b.spec.ip === ip);
      if (be && run.visibleMs === undefined) {
        run.visibleMs = now;
        run.name = be.metadata.name;
      }
      if (be?.status?.phase === 'Active') {
        run.activeMs = now;
        break;
      }
      if (now > o.timeoutMs) {
        run.error = `no ${run.visibleMs === undefined ? '' : 'Active '}BlockEvent for ${ip} within ${o.timeoutMs / 1000} s`;
        break;
      }
      await sleep(o.pollMs);
    }
    log(`run ${i}: ${ip} visible after ${run.visibleMs?.toFixed(0) ?? '-'} ms, Active after ${run.activeMs?.toFixed(0) ?? '-'} ms${run.error ? ` (${run.error})` : ''}`);
  }
  const table = await kubectl(o.kubeconfig, ['get', 'be', '-n', o.ns]);
  const rows = runs.filter((r) => new RegExp(`\\s${r.ip.replace(/\./g, '\\.')}\\s`).test(table.stdout)).length;
  log(`kubectl get be -n ${o.ns}: ${rows}/${runs.length} of the IPs listed`);
  return { runs, kubectlRows: rows, kubectlTable: table.exitCode === 0 ? table.stdout.trimEnd() : `kubectl failed: ${table.stderr}`, listsPerRun: lists / Math.max(1, runs.length) };
}
