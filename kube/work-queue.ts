// A level-triggered work queue of object keys, in the spirit of client-go's
// workqueue:
//
// - a key is never handled by two workers at once;
// - adding a key that is already queued is a no-op (dedup); adding a key that
//   is being handled marks it dirty, and it is handled once more after the
//   current run (however many adds came in meanwhile);
// - up to `concurrency` keys are handled at the same time, FIFO;
// - a handler that throws is retried with per-key exponential backoff
//   (baseDelayMs * 2^failures, capped at maxDelayMs, with jitter); success
//   resets the key's failure count. While a key waits for its retry, add()
//   does not bypass the backoff (the retry reads the latest state anyway), so
//   a failing object that keeps changing cannot make a hot loop;
// - a handler can ask for a later pass by returning { requeueAfterMs }; an
//   add() before then runs the key at once;
// - shutDown() stops taking new keys and cancels pending delayed adds; with
//   drain (default) it waits for the keys already queued and in flight.
//
// The handler receives only the key and reads the current state from the
// informer cache: the queue carries no object snapshots.

import type { Logger } from 'pino';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { counter, gauge, histogram } from '../lib/metrics.js';
import { backoffDelay } from '../lib/backoff.js';
import { errorMessage, timerMs } from './util.js';

export interface HandlerContext {
  /** Consecutive failures of this key before this run (0 on a first try). */
  retries: number;
  /** Aborted when the queue shuts down without drain, or the drain timeout passes. */
  signal: AbortSignal;
}

export type HandlerResult = void | { requeueAfterMs?: number };
export type Handler = (key: string, ctx: HandlerContext) => Promise<HandlerResult> | HandlerResult;

export interface WorkQueueOptions {
  /** Names the queue in metrics (label `queue`) and logs. */
  name: string;
  handler: Handler;
  /** Workers, i.e. keys handled at once. Default 2. */
  concurrency?: number;
  /** First retry delay. Default 250 ms. */
  baseDelayMs?: number;
  /** Retry delay ceiling. Default 60 s. */
  maxDelayMs?: number;
  /** Relative jitter of retry delays (0..1). Default 0.1. */
  jitter?: number;
  /** Retries of a failing key before it is dropped (until added again). Default Infinity. */
  maxRetries?: number;
  logger?: Logger;
  registry?: Registry;
}

export interface ShutDownOptions {
  /** Wait for queued and in-flight keys (default true); false aborts handlers' signals at once. */
  drain?: boolean;
  /** Stop waiting (and abort handlers' signals) after this long. Default: no limit. */
  timeoutMs?: number;
}

interface WorkQueueMetrics {
  depth: Gauge<'queue'>;
  adds: Counter<'queue'>;
  retries: Counter<'queue'>;
  failures: Counter<'queue'>;
  duration: Histogram<'queue'>;
}

function workQueueMetrics(registry: Registry): WorkQueueMetrics {
  return {
    depth:
      gauge(registry, { name: 'floodgate_workqueue_depth', help: 'Keys waiting in the work queue', labelNames: ['queue'] }),
    adds:
      counter(registry, { name: 'floodgate_workqueue_adds_total', help: 'Keys added (after dedup)', labelNames: ['queue'] }),
    retries:
      counter(registry, { name: 'floodgate_workqueue_retries_total', help: 'Rate-limited requeues after a handler error', labelNames: ['queue'] }),
    failures:
      counter(registry, { name: 'floodgate_workqueue_handler_errors_total', help: 'Handler runs that threw', labelNames: ['queue'] }),
    duration:
      histogram(registry, {
        name: 'floodgate_workqueue_handler_seconds',
        help: 'Handler run time',
        labelNames: ['queue'],
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      }),
  };
}

export class WorkQueue {
  readonly name: string;
  private readonly handler: Handler;
  private readonly concurrency: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly jitter: number;
  private readonly maxRetries: number;
  private readonly log: Logger;
  private readonly metrics: WorkQueueMetrics;

  /** Keys waiting to be handled, FIFO. Every key here is also in `dirty`. */
  private readonly queue: string[] = [];
  private head = 0;
  /** Keys that need a run: queued, or added while being handled. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Delayed adds: key -> due time and timer (the earliest request wins); retry = backoff after a failure. */
  private readonly delayed = new Map<string, { due: number; timer: NodeJS.Timeout; retry: boolean }>();
  private readonly failures = new Map<string, number>();

  private shuttingDown = false;
  private readonly abortCtl = new AbortController();
  private idleWaiters: (() => void)[] = [];

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.handler = opts.handler;
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 2));
    this.baseDelayMs = Math.max(1, opts.baseDelayMs ?? 250);
    this.maxDelayMs = Math.max(this.baseDelayMs, opts.maxDelayMs ?? 60_000);
    this.jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.1));
    this.maxRetries = opts.maxRetries ?? Infinity;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ queue: opts.name });
    this.metrics = workQueueMetrics(opts.registry ?? new Registry());
  }

  /**
   * Queue a key now. No-op if it is already waiting, waits for a retry
   * backoff, or after shutDown().
   */
  add(key: string): void {
    if (this.shuttingDown) return;
    const d = this.delayed.get(key);
    if (d?.retry) return;
    if (d) {
      clearTimeout(d.timer);
      this.delayed.delete(key);
    }
    this.enqueue(key);
  }

  private enqueue(key: string): void {
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics.adds.inc({ queue: this.name });
    if (!this.processing.has(key)) {
      this.queue.push(key);
      this.metrics.depth.set({ queue: this.name }, this.length);
      this.pump();
    }
  }

  /** Queue a key after ms; an earlier pending request for the key wins. */
  addAfter(key: string, ms: number): void {
    this.schedule(key, ms, false);
  }

  private schedule(key: string, ms: number, retry: boolean): void {
    if (this.shuttingDown) return;
    const d = this.delayed.get(key);
    if (ms <= 0 && !d?.retry) {
      this.add(key);
      return;
    }
    const due = Date.now() + Math.max(0, ms);
    if (d && d.due <= due) {
      d.retry ||= retry;
      return;
    }
    if (d) clearTimeout(d.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.enqueue(key);
    }, timerMs(ms));
    this.delayed.set(key, { due, timer, retry: retry || (d?.retry ?? false) });
  }

  /** Queue a key after its backoff delay and count one more failure. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const ms = backoffDelay(n, { initialMs: this.baseDelayMs, maxMs: this.maxDelayMs, jitter: this.jitter });
    this.schedule(key, ms, true);
    return ms;
  }

  /** Reset a key's failure count (done automatically after a successful run). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Consecutive failures recorded for a key. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys waiting (not counting those being handled or delayed). */
  get length(): number {
    return this.queue.length - this.head;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  get pendingDelayed(): number {
    return this.delayed.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Resolves when nothing is queued or in flight (delayed adds not counted). */
  idle(): Promise<void> {
    if (this.length === 0 && this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stop accepting keys, cancel delayed adds; with drain (default) wait for
   * what is queued and in flight. Idempotent.
   */
  async shutDown(opts: ShutDownOptions = {}): Promise<void> {
    const drain = opts.drain ?? true;
    this.shuttingDown = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    if (!drain) {
      // Forget what has not started; abort what runs.
      for (const k of this.queue.slice(this.head)) this.dirty.delete(k);
      this.queue.length = 0;
      this.head = 0;
      for (const k of this.dirty) if (!this.processing.has(k)) this.dirty.delete(k);
      this.abortCtl.abort();
    }
    const done = this.idle();
    if (opts.timeoutMs === undefined) {
      await done;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      done.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), opts.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.log.warn({ inFlight: [...this.processing], queued: this.length }, 'shutdown drain timed out');
      this.abortCtl.abort();
    }
  }

  private pump(): void {
    while (this.processing.size < this.concurrency && this.length > 0) {
      const key = this.queue[this.head++] as string;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.metrics.depth.set({ queue: this.name }, this.length);
      this.dirty.delete(key);
      this.processing.add(key);
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    const retries = this.failures.get(key) ?? 0;
    const endTimer = this.metrics.duration.startTimer({ queue: this.name });
    let result: HandlerResult = undefined;
    let failed = false;
    let error: unknown;
    try {
      result = await this.handler(key, { retries, signal: this.abortCtl.signal });
    } catch (err) {
      failed = true;
      error = err;
    }
    endTimer();
    this.processing.delete(key);

    if (failed) {
      this.metrics.failures.inc({ queue: this.name });
      if (retries >= this.maxRetries) {
        this.log.error({ key, err: errorMessage(error), retries: retries + 1 }, 'handler failed; giving up on key');
        this.failures.delete(key);
      } else if (!this.shuttingDown) {
        const ms = this.addRateLimited(key);
        this.metrics.retries.inc({ queue: this.name });
        this.log.warn({ key, err: errorMessage(error), retries: retries + 1, retryInMs: ms }, 'handler failed; retrying');
      }
    } else {
      this.failures.delete(key);
      const after = result && typeof result === 'object' ? result.requeueAfterMs : undefined;
      if (after !== undefined && after >= 0) this.addAfter(key, after);
    }

    // Added while we were handling it: run it again, once (after a failure
    // the pending retry covers it).
    if (failed && this.delayed.get(key)?.retry) this.dirty.delete(key);
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.metrics.depth.set({ queue: this.name }, this.length);
    }
    this.pump();
    if (this.length === 0 && this.processing.size === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
