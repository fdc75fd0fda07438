// A pod's memory limit from its spec: the sum of its containers' limits, or
// null when any container has none (then the pod as a whole is unbounded).
import type { V1Pod } from '@kubernetes/client-node';

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity ("512Mi", "1.5G", "100m", "1e3") as a number; throws on anything else. */
export function quantityBytes(q: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(q.trim());
  if (!m) throw new Error(`Unknown quantity ${q}`);
  const n = Number(m[1] + (m[2] ?? ''));
  return Math.round(n * SUFFIX[m[3] ?? '']! * 1e9) / 1e9;
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
