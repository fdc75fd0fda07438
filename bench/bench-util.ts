// Helpers every benchmark shares: progress lines on stderr, env knobs,
// statistics, formatting, and a seeded random source.

export function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

/** Run one bench section: a failure is logged and recorded in errors, and the other sections still run. */
export async function runSection<T>(name: string, errors: string[], fn: () => Promise<T>): Promise<T | undefined> {
  log(`=== ${name}`);
  try {
    return await fn();
  } catch (err) {
    const msg = `${name}: ${(err as Error).message}`;
    log(`FAILED ${msg}`);
    errors.push(msg);
    return undefined;
  }
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

export const max = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => (b > a ? b : a), -Infinity) : NaN);
export const min = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => (b < a ? b : a), Infinity) : NaN);

export const fmtS = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(3)} s` : 'n/a');
export const met = (ok: boolean) => (ok ? 'MET' : 'MISSED');

/** mulberry32: reproducible delays from a seed. */
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
