// Section 2: `kubectl apply -f -` of a new DefensePolicy until its
// status.conditions[Ready] is True. The clock starts right before kubectl is
// spawned (so kubectl's own start-up is in the figure, as for a user) and a
// GET every 20 ms runs alongside kubectl, so a Ready that lands before
// kubectl has even exited is seen when it lands.
import { execa } from 'execa';
import type { DefensePolicy } from '../../api/v1alpha1/index.js';
import { KUBECTL } from './env.js';
import type { KubeApi } from './kube-api.js';
import { API, condition, policyManifest } from './policies.js';
import { log, sleep } from './util.js';

export interface ReadyRun {
  run: number;
  name: string;
  /** kubectl apply exited (0). */
  kubectlMs: number;
  /** First GET that returned the object. */
  seenMs?: number;
  readyMs?: number;
  reachableAlso: boolean;
  error?: string;
}

export async function measurePolicyReady(o: { api: KubeApi; kubeconfig: string; ns: string; agentUrl: string; secret: string; runs: number; prefix: string; pollMs: number; timeoutMs: number; rng: () => number }): Promise<ReadyRun[]> {
  const out: ReadyRun[] = [];
  for (let i = 1; i <= o.runs; i++) {
    await sleep(200 + Math.floor(o.rng() * 400));
    const name = `${o.prefix}-${i}-${Date.now().toString(36)}`;
    const run: ReadyRun = { run: i, name, kubectlMs: NaN, reachableAlso: false };
    out.push(run);
    const t0 = performance.now();
    const apply = execa(KUBECTL, ['--kubeconfig', o.kubeconfig, 'apply', '-f', '-'], { input: policyManifest(o.ns, name, o.agentUrl, o.secret), reject: false, timeout: 60_000 }).then((r) => {
      run.kubectlMs = performance.now() - t0;
      if (r.exitCode !== 0) run.error = `kubectl apply: ${String(r.stderr).trim()}`;
      return r;
    });
    let applyDone = false;
    void apply.finally(() => (applyDone = true));
    for (;;) {
      const r = await o.api.request<DefensePolicy>('GET', `${API}/namespaces/${o.ns}/defensepolicies/${name}`);
      const now = performance.now() - t0;
      if (r.status === 200) {
        run.seenMs ??= now;
        if (condition(r.body, 'Ready') === 'True') {
          run.readyMs = now;
          run.reachableAlso = condition(r.body, 'AgentsReachable') === 'True';
          break;
        }
      }
      if (applyDone && run.error) break;
      if (now > o.timeoutMs) {
        run.error = `not Ready within ${o.timeoutMs / 1000} s`;
        break;
      }
      await sleep(o.pollMs);
    }
    await apply;
    log(`policy ${name}: kubectl ${run.kubectlMs.toFixed(0)} ms, Ready=True after ${run.readyMs?.toFixed(0) ?? '-'} ms${run.error ? ` (${run.error})` : ''}`);
  }
  return out;
}
