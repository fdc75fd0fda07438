// Source 2: the kubelet Summary API through the API server's node proxy
// (GET /api/v1/nodes/NODE/proxy/stats/summary; needs nodes/proxy RBAC).
import type { V1Pod } from '@kubernetes/client-node';
import { MemorySourceUnavailable, percentOf, type MemoryReading } from './memory-reading.js';
import { podMemoryLimit } from './pod-memory-limit.js';

export interface KubeletSummary {
  pods?: { podRef: { name: string; namespace: string; uid?: string }; memory?: { workingSetBytes?: number; time?: string } }[];
}

export function readingFromSummary(summary: KubeletSummary, pod: V1Pod): MemoryReading {
  const ns = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  const entry = summary.pods?.find((p) => p.podRef.namespace === ns && p.podRef.name === name);
  const usage = entry?.memory?.workingSetBytes;
  if (usage === undefined) throw new MemorySourceUnavailable(`kubelet summary has no memory for ${ns}/${name}`);
  const limit = podMemoryLimit(pod);
  return { pod: `${ns}/${name}`, usageBytes: usage, limitBytes: limit, percent: percentOf(usage, limit), source: 'kubelet', at: entry?.memory?.time ?? new Date().toISOString() };
}

/** fetchSummary(node) performs the proxied GET; injected so it can use the controller's authenticated client. */
export async function kubeletReading(fetchSummary: (node: string) => Promise<KubeletSummary>, pod: V1Pod): Promise<MemoryReading> {
  const node = pod.spec?.nodeName;
  if (!node) throw new MemorySourceUnavailable(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} is not scheduled on a node`);
  let summary: KubeletSummary;
  try {
    summary = await fetchSummary(node);
  } catch (err) {
    throw new MemorySourceUnavailable(`kubelet summary for node ${node} failed: ${(err as Error).message.split('\n')[0]}`);
  }
  return readingFromSummary(summary, pod);
}
