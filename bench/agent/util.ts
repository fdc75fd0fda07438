// Small helpers shared by the agent bench: progress lines, statistics, a
// seeded random source for the per-run delays, and a registry of child
// processes so teardown can end exactly the ones this bench started.
export { envNumber, fmtS, log, max, median, met, percentile, seededRandom, sleep } from '../bench-util.js';
import { log } from '../bench-util.js';
import type { ResultPromise } from 'execa';


/**
 * Children started by the bench (hping3 under `timeout`, fastnetmon). Each
 * entry knows how to stop its own process; nothing is ever killed by name.
 */
const children = new Map<number, { label: string; stop: () => Promise<void> }>();

export function track(label: string, child: ResultPromise, stop: () => Promise<void>): void {
  const pid = child.pid;
  if (pid === undefined) return;
  children.set(pid, { label, stop });
  void child.finally(() => children.delete(pid)).catch(() => undefined);
}

/** Same registry for things that are not a single execa child (the lab agent). */
export function register(label: string, pid: number, stop: () => Promise<void>): () => void {
  children.set(pid, { label, stop });
  return () => children.delete(pid);
}

export async function stopAllChildren(): Promise<void> {
  for (const [pid, c] of [...children]) {
    log(`teardown: stopping ${c.label} (pid ${pid})`);
    await c.stop().catch(() => undefined);
    children.delete(pid);
  }
}

