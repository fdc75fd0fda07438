// One memory reading of a pod, whatever the source.

export interface MemoryReading {
  /** namespace/name of the pod. */
  pod: string;
  usageBytes: number;
  /** null when the pod (or cgroup) has no memory limit: then there is no percentage. */
  limitBytes: number | null;
  /** usage / limit × 100, or null without a limit — never a silent 0, unlike the seed. */
  percent: number | null;
  source: 'metrics-api' | 'kubelet' | 'cgroup';
  at: string;
}

export function percentOf(usage: number, limit: number | null): number | null {
  return limit !== null && limit > 0 ? (usage / limit) * 100 : null;
}

/** Thrown when a source cannot answer (not installed, forbidden, pod not found there). */
export class MemorySourceUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemorySourceUnavailable';
  }
}
