// A pod's memory limit from its spec: the sum of its containers' limits, or
// null when any container has none (then the pod as a whole is unbounded).
import type { V1Pod } from '@kubernetes/client-node';
// 1.4 does not re-export its quantity parser from the package index.
import { quantityToScalar } from '@kubernetes/client-node/dist/util.js';

export function quantityBytes(q: string): number {
  const v = quantityToScalar(q);
  return typeof v === 'bigint' ? Number(v) : v;
}

export function podMemoryLimit(pod: V1Pod): number | null {
  const containers = pod.spec?.containers ?? [];
  if (containers.length === 0) return null;
  let total = 0;
  for (const c of containers) {
    const limit = c.resources?.limits?.memory;
    if (limit === undefined) return null;
    total += quantityBytes(String(limit));
  }
  return total;
}
