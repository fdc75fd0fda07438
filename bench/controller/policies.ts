// DefensePolicy helpers shared by the sections: the manifest, reading a
// policy's Ready condition, and waiting for it.
import type { DefensePolicy } from '../../api/v1alpha1/index.js';
import type { KubeApi } from './kube-api.js';
import { sleep } from './util.js';

export const API = '/apis/floodgate.dev/v1alpha1';

/** A policy that drives the given agent; no targetSelector, so no memory trigger fires. */
export function policyManifest(ns: string, name: string, agentUrl: string, secret: string): string {
  return `apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: ${name}, namespace: ${ns}, labels: {app.kubernetes.io/created-by: controller-bench}}
spec:
  detection: {windowSeconds: 2}
  mitigation: {banDurationSeconds: 600}
  agents:
  - url: ${agentUrl}
    tokenSecretRef: {name: ${secret}, key: token}
`;
}

export function condition(p: DefensePolicy | undefined, type: string): string | undefined {
  return p?.status?.conditions?.find((c) => c.type === type)?.status;
}

/** Poll GET every everyMs until Ready=True (and, if asked, AgentsReachable=True). */
export async function waitPolicyReady(api: KubeApi, ns: string, name: string, opts: { everyMs?: number; timeoutMs?: number; reachable?: boolean } = {}): Promise<{ at: number; policy: DefensePolicy }> {
  const deadline = performance.now() + (opts.timeoutMs ?? 60_000);
  let last: DefensePolicy | undefined;
  for (;;) {
    const r = await api.request<DefensePolicy>('GET', `${API}/namespaces/${ns}/defensepolicies/${name}`);
    const at = performance.now();
    if (r.status === 200) {
      last = r.body;
      if (condition(last, 'Ready') === 'True' && (!opts.reachable || condition(last, 'AgentsReachable') === 'True')) return { at, policy: last };
    }
    if (at > deadline) throw new Error(`policy ${ns}/${name} not Ready within ${(opts.timeoutMs ?? 60_000) / 1000} s; last status ${JSON.stringify(last?.status ?? r.status)}`);
    await sleep(opts.everyMs ?? 20);
  }
}
