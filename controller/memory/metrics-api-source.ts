// Source 1: metrics.k8s.io PodMetrics (metrics-server; k3d ships it).
import type { V1Pod } from '@kubernetes/client-node';
import type { CustomObjectsSubset } from '../../kube/kube-apis.js';
import { MemorySourceUnavailable, percentOf, type MemoryReading } from './memory-reading.js';
import { podMemoryLimit, quantityBytes } from './pod-memory-limit.js';

export interface PodMetrics {
  metadata: { name: string; namespace: string };
  timestamp?: string;
  containers: { name: string; usage: { memory?: string; cpu?: string } }[];
}

/** Sum of the containers' working-set memory in a PodMetrics object. */
export function podMetricsUsage(m: PodMetrics): number {
  return m.containers.reduce((sum, c) => sum + (c.usage.memory ? quantityBytes(c.usage.memory) : 0), 0);
}

export function readingFromPodMetrics(m: PodMetrics, pod: V1Pod): MemoryReading {
  const usage = podMetricsUsage(m);
  const limit = podMemoryLimit(pod);
  return {
    pod: `${m.metadata.namespace}/${m.metadata.name}`,
    usageBytes: usage,
    limitBytes: limit,
    percent: percentOf(usage, limit),
    source: 'metrics-api',
    at: m.timestamp ?? new Date().toISOString(),
  };
}

export async function metricsApiReading(api: CustomObjectsSubset, pod: V1Pod): Promise<MemoryReading> {
  const ns = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  let m: PodMetrics;
  try {
    m = (await api.getNamespacedCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', namespace: ns, plural: 'pods', name })) as PodMetrics;
  } catch (err) {
    const code = (err as { code?: number }).code;
    throw new MemorySourceUnavailable(`metrics.k8s.io has no PodMetrics for ${ns}/${name}${code ? ` (HTTP ${code})` : ''}: is metrics-server installed?`);
  }
  return readingFromPodMetrics(m, pod);
}
