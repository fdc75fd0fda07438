// Reads a pod's memory from the configured sources in order (metrics API,
// kubelet, cgroup by default) and reports the first that answers, with why
// the others did not.
import type { V1Pod } from '@kubernetes/client-node';
import { MemorySourceUnavailable, type MemoryReading } from './memory-reading.js';

export type MemorySourceName = MemoryReading['source'];

export type MemorySourceFn = (pod: V1Pod) => Promise<MemoryReading>;

export interface MemoryResult {
  reading?: MemoryReading;
  /** Source → why it could not answer. */
  unavailable: Partial<Record<MemorySourceName, string>>;
}

export class MemoryMonitor {
  constructor(private readonly sources: [MemorySourceName, MemorySourceFn][]) {}

  async read(pod: V1Pod): Promise<MemoryResult> {
    const unavailable: MemoryResult['unavailable'] = {};
    for (const [name, fn] of this.sources) {
      try {
        return { reading: await fn(pod), unavailable };
      } catch (err) {
        if (!(err instanceof MemorySourceUnavailable)) unavailable[name] = `error: ${(err as Error).message.split('\n')[0]}`;
        else unavailable[name] = err.message;
      }
    }
    return { unavailable };
  }
}

/** Above the threshold only when a percentage exists: no limit never triggers. */
export function aboveThreshold(r: MemoryReading | undefined, thresholdPercent: number): boolean {
  return r?.percent !== null && r?.percent !== undefined && r.percent >= thresholdPercent;
}
