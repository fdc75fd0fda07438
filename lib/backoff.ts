// Jittered exponential backoff: the one definition, for the informer's
// re-list/re-watch loop and the work queue's per-key retries.

export interface BackoffOptions {
  /** First delay. Default 200 ms. */
  initialMs?: number;
  /** Ceiling. Default 30 s. */
  maxMs?: number;
  /** Growth per consecutive failure. Default 2. */
  factor?: number;
  /** Relative jitter, 0..1: the delay is spread uniformly over ±jitter. Default 0.2. */
  jitter?: number;
  /** For tests. */
  random?: () => number;
}

interface ResolvedBackoff {
  initialMs: number;
  maxMs: number;
  factor: number;
  jitter: number;
  random: () => number;
}

function resolve(opts: BackoffOptions): ResolvedBackoff {
  const initialMs = Math.max(1, opts.initialMs ?? 200);
  return {
    initialMs,
    maxMs: Math.max(initialMs, opts.maxMs ?? 30_000),
    factor: Math.max(1, opts.factor ?? 2),
    jitter: Math.min(1, Math.max(0, opts.jitter ?? 0.2)),
    random: opts.random ?? Math.random,
  };
}

/** The un-jittered delay after `failures` earlier failures: initial × factor^failures, capped. */
function baseDelay(o: ResolvedBackoff, failures: number): number {
  // The exponent is capped so that a long failure streak never overflows to Infinity.
  return Math.min(o.maxMs, o.initialMs * o.factor ** Math.min(failures, 1000));
}

/** Spread a delay over ±jitter, never beyond the ceiling and never below 1 ms. */
function jittered(o: ResolvedBackoff, base: number): number {
  const spread = 1 + o.jitter * (o.random() * 2 - 1);
  return Math.round(Math.min(o.maxMs, Math.max(1, base * spread)));
}

/** The delay before the next attempt after `failures` consecutive failures (0: the first retry). */
export function backoffDelay(failures: number, opts: BackoffOptions = {}): number {
  const o = resolve(opts);
  return jittered(o, baseDelay(o, failures));
}

/** Bounded exponential backoff with jitter; next() grows, reset() starts over. */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  private readonly options: ResolvedBackoff;
  private attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.options = resolve(opts);
    ({ initialMs: this.initialMs, maxMs: this.maxMs, factor: this.factor, jitter: this.jitter } = this.options);
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = baseDelay(this.options, this.attempt);
    if (base < this.maxMs) this.attempt++;
    return jittered(this.options, base);
  }

  /** Consecutive failures counted so far (stops growing at the ceiling). */
  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
