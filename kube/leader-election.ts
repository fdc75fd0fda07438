// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
// semantics (leaderelection.LeaderElector, ReleaseOnCancel):
//
// - candidates poll the Lease every retryPeriod (+ up to 20 % jitter) and
//   take it when it is absent, released (empty holder) or expired;
// - "expired" is judged on OUR clock: a lease is expired when its record
//   (holder, renewTime, ...) has not changed for leaseDuration since we first
//   saw it that way. Clocks of different nodes are never compared;
// - every write is a PUT carrying the resourceVersion we read (or a create):
//   a 409 Conflict means someone wrote the Lease in between, so this attempt
//   lost (a leader retries its renew, and the next read shows who holds it);
// - the leader renews every retryPeriod; when no renew has succeeded for
//   renewDeadline (< leaseDuration, so we step down before anyone else may
//   take over) or the Lease shows another holder, it stops leading;
// - stop() aborts the leader's signal, waits (bounded) for the leader's work,
//   calls onStoppedLeading and releases the Lease (empty holder,
//   leaseDurationSeconds 1) so a peer takes over at its next poll;
// - after losing leadership (not stop()) the elector is a candidate again.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { LeaseApi } from './kube-apis.js';
import type { Logger } from 'pino';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Counter, Gauge } from 'prom-client';
import { counter, gauge } from '../lib/metrics.js';
import { errorMessage, sleep, statusCodeOf, withDeadline } from './util.js';

export interface LeaderElectorOptions {
  /** kc.makeApiClient(CoordinationV1Api) */
  coordination: LeaseApi;
  namespace: string;
  /** Lease name, e.g. "floodgate-controller". */
  name: string;
  /** Default: hostname + "_" + 8 random hex digits. */
  identity?: string;
  /** Default 15 s (whole seconds on the Lease). */
  leaseDurationMs?: number;
  /** Default 10 s. */
  renewDeadlineMs?: number;
  /** Default 2 s. */
  retryPeriodMs?: number;
  /** Release the Lease on stop() (default true). */
  releaseOnStop?: boolean;
  /** How long stop()/losing waits for onStartedLeading's promise after aborting its signal. Default 5 s. */
  stopGraceMs?: number;
  /** Called when we become leader; `signal` aborts when we stop leading. May return a promise (awaited on stop). */
  onStartedLeading?: (signal: AbortSignal) => void | Promise<void>;
  onStoppedLeading?: () => void;
  /** Called when the observed leader changes (including to ourselves). */
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
  registry?: Registry;
}

interface ObservedRecord {
  holder: string;
  renewTime: string;
  leaseDurationSeconds: number;
  resourceVersion: string;
  /** Our clock when we first saw this record. */
  observedAt: number;
}

/** ok: we hold it now; held: another holder's lease is valid; conflict: our write lost a race (409). */
type TryResult = 'ok' | 'held' | 'conflict';

interface LeaderMetrics {
  isLeader: Gauge<'lease'>;
  transitions: Counter<'lease' | 'transition'>;
  errors: Counter<'lease'>;
}

function leaderMetrics(registry: Registry): LeaderMetrics {
  return {
    isLeader:
      gauge(registry, { name: 'floodgate_leader_election_is_leader', help: '1 while this process leads', labelNames: ['lease'] }),
    transitions:
      counter(registry, {
        name: 'floodgate_leader_election_transitions_total',
        help: 'Leadership acquired, lost (renew failed or taken over) and released (stop)',
        labelNames: ['lease', 'transition'],
      }),
    errors:
      counter(registry, { name: 'floodgate_leader_election_errors_total', help: 'Failed Lease reads/writes', labelNames: ['lease'] }),
  };
}

export function defaultIdentity(): string {
  return `${os.hostname()}_${randomBytes(4).toString('hex')}`;
}

/** A metav1.MicroTime: RFC 3339 with microseconds (as client-node's V1MicroTime serialises). */
class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().slice(0, -1) + '000Z';
  }
}

function microTime(ms: number): V1MicroTime {
  return new MicroTime(ms);
}

/** Lease times come back as strings (client-node passes V1MicroTime through unparsed). */
function timeString(t: unknown): string {
  if (t instanceof Date) return t.toISOString();
  return typeof t === 'string' ? t : '';
}

export class LeaderElector {
  readonly identity: string;
  readonly leaseName: string;
  readonly namespace: string;
  private readonly api: LeaseApi;
  private readonly leaseDurationMs: number;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly releaseOnStop: boolean;
  private readonly stopGraceMs: number;
  private readonly opts: LeaderElectorOptions;
  private readonly log: Logger;
  private readonly metrics: LeaderMetrics;

  private observed?: ObservedRecord;
  private reportedLeader = '';
  private leading = false;
  private leaderCtl?: AbortController;
  private leaderWork?: Promise<void>;
  private stopped = false;
  private readonly stopCtl = new AbortController();
  private running?: Promise<void>;
  /** Consecutive failed API calls, to keep an outage from flooding the log. */
  private failStreak = 0;

  constructor(opts: LeaderElectorOptions) {
    this.opts = opts;
    this.api = opts.coordination;
    this.namespace = opts.namespace;
    this.leaseName = opts.name;
    this.identity = opts.identity ?? defaultIdentity();
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.releaseOnStop = opts.releaseOnStop ?? true;
    this.stopGraceMs = opts.stopGraceMs ?? 5_000;
    this.leaseDurationSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    if (!(this.leaseDurationMs > this.renewDeadlineMs)) throw new Error('leaseDurationMs must be greater than renewDeadlineMs');
    if (!(this.renewDeadlineMs > this.retryPeriodMs * 1.2)) throw new Error('renewDeadlineMs must be greater than 1.2 x retryPeriodMs');
    if (!this.identity) throw new Error('identity must not be empty');
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ lease: `${this.namespace}/${this.leaseName}`, identity: this.identity });
    this.metrics = leaderMetrics(opts.registry ?? new Registry());
    this.metrics.isLeader.set({ lease: this.leaseName }, 0);
  }

  /** Start campaigning in the background (idempotent). */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = this.run().catch((err: unknown) => {
      this.log.error({ err: errorMessage(err) }, 'leader election loop crashed');
    });
  }

  /** Stop campaigning/leading; releases the Lease if we hold it. Resolves when done. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.stopCtl.abort();
    }
    await this.running;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder we last observed ('' if none / unknown). */
  getLeader(): string {
    return this.observed?.holder ?? '';
  }

  // ---- loop ---------------------------------------------------------------

  private async run(): Promise<void> {
    const signal = this.stopCtl.signal;
    while (!this.stopped) {
      // Candidate: poll until we hold the Lease.
      let acquired = false;
      while (!this.stopped && !acquired) {
        acquired = (await this.attempt('acquire')) === 'ok';
        if (!acquired) await sleep(this.retryPeriodMs * (1 + 0.2 * Math.random()), signal);
      }
      if (!acquired) break;
      if (this.stopped) {
        // stop() came while our acquire was in flight and it won.
        if (this.releaseOnStop) await this.release();
        break;
      }

      this.startLeading();
      const why = await this.renewLoop();
      await this.stopLeading(why);
      if (why === 'stopped' && this.releaseOnStop) await this.release();
    }
  }

  /** Renew until we lose the Lease or stop() is called. */
  private async renewLoop(): Promise<'lost' | 'stopped'> {
    const signal = this.stopCtl.signal;
    let lastRenew = Date.now();
    while (!this.stopped) {
      await sleep(this.retryPeriodMs, signal);
      if (this.stopped) break;
      const left = lastRenew + this.renewDeadlineMs - Date.now();
      let result: TryResult | 'error' = 'error';
      if (left > 0) {
        try {
          result = await withDeadline(this.tryAcquireOrRenew(), left, 'lease renew');
          this.failStreak = 0;
        } catch (err) {
          this.apiFailed(err, 'lease renew failed');
        }
      }
      if (result === 'ok') {
        lastRenew = Date.now();
        continue;
      }
      // 'conflict': someone wrote the Lease since we read it (maybe our own
      // late write); retry, and the next read tells whether it is still ours.
      if (result === 'held') {
        this.log.warn({ holder: this.observed?.holder }, 'lease taken by another candidate');
        return 'lost';
      }
      if (Date.now() - lastRenew >= this.renewDeadlineMs) {
        this.log.error({ renewDeadlineMs: this.renewDeadlineMs }, 'could not renew the lease before the renew deadline');
        return 'lost';
      }
    }
    return 'stopped';
  }

  private startLeading(): void {
    this.leading = true;
    this.metrics.isLeader.set({ lease: this.leaseName }, 1);
    this.metrics.transitions.inc({ lease: this.leaseName, transition: 'acquired' });
    this.log.info('became leader');
    const ctl = new AbortController();
    this.leaderCtl = ctl;
    const cb = this.opts.onStartedLeading;
    if (!cb) return;
    try {
      const r = cb(ctl.signal);
      this.leaderWork = Promise.resolve(r).catch((err: unknown) => {
        this.log.error({ err: errorMessage(err) }, 'onStartedLeading failed');
      });
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'onStartedLeading threw');
    }
  }

  private async stopLeading(why: 'lost' | 'stopped'): Promise<void> {
    this.leaderCtl?.abort();
    this.leaderCtl = undefined;
    const work = this.leaderWork;
    this.leaderWork = undefined;
    if (work) {
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        work.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), this.stopGraceMs);
        }),
      ]);
      clearTimeout(timer);
      if (!finished) this.log.warn({ stopGraceMs: this.stopGraceMs }, 'leader work did not finish after its signal was aborted');
    }
    this.leading = false;
    this.metrics.isLeader.set({ lease: this.leaseName }, 0);
    this.metrics.transitions.inc({ lease: this.leaseName, transition: why === 'lost' ? 'lost' : 'released' });
    this.log.info({ why }, 'stopped leading');
    try {
      this.opts.onStoppedLeading?.();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'onStoppedLeading threw');
    }
  }

  /** One acquire attempt; errors are logged and count as "not acquired". */
  private async attempt(what: string): Promise<TryResult | 'error'> {
    try {
      const r = await withDeadline(this.tryAcquireOrRenew(), this.renewDeadlineMs, `lease ${what}`);
      this.failStreak = 0;
      return r;
    } catch (err) {
      this.apiFailed(err, `lease ${what} failed`);
      return 'error';
    }
  }

  private apiFailed(err: unknown, msg: string): void {
    this.metrics.errors.inc({ lease: this.leaseName });
    this.failStreak++;
    // First failure and every 10th after it at warn, the rest at debug.
    const lvl = this.failStreak === 1 || this.failStreak % 10 === 0 ? 'warn' : 'debug';
    this.log[lvl]({ err: errorMessage(err), consecutiveFailures: this.failStreak }, msg);
  }

  // ---- the Lease ----------------------------------------------------------

  private observe(lease: V1Lease, now: number): ObservedRecord {
    const spec = lease.spec ?? {};
    const rec = {
      holder: spec.holderIdentity ?? '',
      renewTime: timeString(spec.renewTime),
      leaseDurationSeconds: spec.leaseDurationSeconds ?? this.leaseDurationSeconds,
      resourceVersion: lease.metadata?.resourceVersion ?? '',
    };
    const prev = this.observed;
    if (
      !prev ||
      prev.holder !== rec.holder ||
      prev.renewTime !== rec.renewTime ||
      prev.leaseDurationSeconds !== rec.leaseDurationSeconds
    ) {
      this.observed = { ...rec, observedAt: now };
    } else {
      this.observed = { ...prev, resourceVersion: rec.resourceVersion };
    }
    if (rec.holder && rec.holder !== this.reportedLeader) {
      this.reportedLeader = rec.holder;
      this.log.info({ leader: rec.holder }, 'new leader observed');
      try {
        this.opts.onNewLeader?.(rec.holder);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'onNewLeader threw');
      }
    }
    return this.observed;
  }

  /** Read the Lease; create it, take it over or renew it when allowed. Throws on API errors other than 409. */
  private async tryAcquireOrRenew(): Promise<TryResult> {
    const now = Date.now();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name: this.leaseName, namespace: this.namespace });
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err;
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.leaseName, namespace: this.namespace },
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: this.leaseDurationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      };
      try {
        const created = await this.api.createNamespacedLease({ namespace: this.namespace, body });
        this.observe(created, Date.now());
        return 'ok';
      } catch (e) {
        if (statusCodeOf(e) === 409) return 'conflict';
        throw e;
      }
    }

    const rec = this.observe(lease, now);
    const mine = rec.holder === this.identity;
    if (rec.holder !== '' && !mine && rec.observedAt + rec.leaseDurationSeconds * 1000 > now) {
      return 'held';
    }

    const spec = lease.spec ?? {};
    const updated: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.leaseDurationSeconds,
        renewTime: microTime(now),
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : microTime(now),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const replaced = await this.api.replaceNamespacedLease({ name: this.leaseName, namespace: this.namespace, body: updated });
      this.observe(replaced, Date.now());
      if (!mine) this.log.info({ previous: rec.holder || '(released)' }, 'lease acquired');
      return 'ok';
    } catch (e) {
      if (statusCodeOf(e) === 409) return 'conflict';
      throw e;
    }
  }

  /** Give the Lease up so a peer can take it at once (only if we still hold it). */
  private async release(): Promise<void> {
    try {
      await withDeadline(
        (async () => {
          const lease = await this.api.readNamespacedLease({ name: this.leaseName, namespace: this.namespace });
          if ((lease.spec?.holderIdentity ?? '') !== this.identity) return;
          const now = Date.now();
          const body: V1Lease = {
            ...lease,
            spec: {
              ...lease.spec,
              holderIdentity: '',
              leaseDurationSeconds: 1,
              renewTime: microTime(now),
              acquireTime: microTime(now),
            },
          };
          const released = await this.api.replaceNamespacedLease({ name: this.leaseName, namespace: this.namespace, body });
          this.observe(released, Date.now());
          this.log.info('lease released');
        })(),
        this.renewDeadlineMs,
        'lease release',
      );
    } catch (err) {
      this.metrics.errors.inc({ lease: this.leaseName });
      this.log.warn({ err: errorMessage(err) }, 'lease release failed (peers take over when it expires)');
    }
  }
}
