// Small helpers shared by the agent bench: progress lines, statistics, a
// seeded random source for the per-run delays, and a registry of child
// processes so teardown can end exactly the ones this bench started.
import type { ResultPromise } from 'execa';

export function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

export const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

export function envNumber(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name}=${raw}: expected a number ≥ ${min}`);
  return n;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const max = (xs: readonly number[]) => (xs.length ? Math.max(...xs) : NaN);

/** mulberry32: reproducible delays from BENCH_SEED. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

export const fmtS = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(3)} s` : 'n/a');
export const met = (ok: boolean) => (ok ? 'MET' : 'MISSED');
