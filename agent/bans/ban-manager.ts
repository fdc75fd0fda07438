// The one place bans happen. It orders two parts: the decision core
// (ban-decisions.ts: validation by the address policy, escalation, caps,
// applied to the in-memory store) and the firewall synchronizer
// (firewall-sync.ts: what the firewall should hold, pushes, the store write,
// reconcile). All operations run one at a time through a promise queue, so
// concurrent API calls, the expiry sweep and reconcile never interleave, and
// bans requested while one runs are coalesced into the next batch.

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { FirewallBackend } from '../firewall/types.js';
import type { AddressPolicy } from './address-policy.js';
import { BanDecisions, type BlockOutcome, type BlockRequest } from './ban-decisions.js';
import { banMetrics, type BanMetrics } from './ban-metrics.js';
import type { BanRecord, BanStore } from './ban-store.js';
import { type BatchPush, FirewallSync, type ReconcileReport } from './firewall-sync.js';

export { blockRequestSchema, type BlockOutcome, type BlockRequest, type RefusalReason } from './ban-decisions.js';
export type { ReconcileReport } from './firewall-sync.js';

export type UnblockOutcome = { ok: true; cidr: string; removed: boolean } | { ok: false; code: 'invalid'; reason: string };

export interface BanManagerOptions {
  backend: FirewallBackend;
  store: BanStore;
  policy: AddressPolicy;
  logger: Logger;
  registry: Registry;
  limits?: { maxActiveBans?: number; maxNewBansPerMinute?: number };
  /** Like fail2ban's bantime.increment: duration × factor^(offences−1), capped. */
  escalation?: { factor?: number; maxDurationSeconds?: number; findTimeSeconds?: number };
  reconcileIntervalSeconds?: number;
  sweepIntervalSeconds?: number;
  now?: () => number;
}

export class BanManager {
  private readonly backend: FirewallBackend;
  private readonly store: BanStore;
  private readonly policy: AddressPolicy;
  private readonly logger: Logger;
  private readonly metrics: BanMetrics;
  private readonly now: () => number;
  private readonly decisions: BanDecisions;
  private readonly sync: FirewallSync;
  private readonly reconcileIntervalMs: number;
  private readonly sweepIntervalMs: number;
  private queue: Promise<unknown> = Promise.resolve();
  /** block() calls waiting for the next coalesced batch. */
  private pendingBlocks: { request: BlockRequest; resolve: (o: BlockOutcome) => void; reject: (e: unknown) => void }[] = [];
  private drainQueued = false;
  private timers: NodeJS.Timeout[] = [];
  private started = false;

  constructor(options: BanManagerOptions) {
    this.backend = options.backend;
    this.store = options.store;
    this.policy = options.policy;
    this.logger = options.logger.child({ component: 'ban-manager', backend: options.backend.name });
    this.metrics = banMetrics(options.registry);
    this.now = options.now ?? Date.now;
    this.decisions = new BanDecisions({
      store: this.store,
      policy: this.policy,
      logger: this.logger,
      metrics: this.metrics,
      backendName: this.backend.name,
      limits: {
        maxActiveBans: options.limits?.maxActiveBans ?? 10_000,
        maxNewBansPerMinute: options.limits?.maxNewBansPerMinute ?? 600,
      },
      escalation: {
        factor: options.escalation?.factor ?? 2,
        maxDurationSeconds: options.escalation?.maxDurationSeconds ?? 7 * 86_400,
        findTimeSeconds: options.escalation?.findTimeSeconds ?? 86_400,
      },
    });
    this.sync = new FirewallSync({ backend: this.backend, store: this.store, logger: this.logger, metrics: this.metrics });
    this.reconcileIntervalMs = (options.reconcileIntervalSeconds ?? 30) * 1000;
    this.sweepIntervalMs = (options.sweepIntervalSeconds ?? 5) * 1000;
  }

  /**
   * Runs `task` after every earlier operation has finished. Refused before
   * start(): saving an unloaded store would overwrite the bans on disk.
   */
  private serial<T>(task: () => Promise<T>, options: { beforeStart?: boolean } = {}): Promise<T> {
    if (!this.started && !options.beforeStart) return Promise.reject(new Error('BanManager.start() has not completed'));
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Load state, create firewall objects, re-apply stored bans, drop leftovers, start timers. */
  async start(options: { timers?: boolean } = {}): Promise<ReconcileReport> {
    const report = await this.serial(async () => {
      await this.store.load();
      this.started = true;
      await this.policy.refresh();
      await this.sync.init();
      let changed = this.decisions.dropExpired(this.now());
      // The allowlist or the host's addresses may have changed since the ban was made.
      if (this.liftNowRefused('the address policy changed while the agent was down')) changed = true;
      if (changed) await this.store.save();
      this.sync.forget();
      return this.sync.reconcile(this.now());
    }, { beforeStart: true });
    if (options.timers !== false && this.timers.length === 0) this.startTimers();
    return report;
  }

  private startTimers(): void {
    const every = (ms: number, name: string, task: () => Promise<unknown>) => {
      let running = false; // a slow run is not queued up behind itself
      const timer = setInterval(() => {
        if (running) return;
        running = true;
        task()
          .catch((err: unknown) => this.logger.error({ err }, `${name} failed`))
          .finally(() => (running = false));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.sweepIntervalMs, 'sweep', () => this.sweep());
    every(this.reconcileIntervalMs, 'reconcile', () => this.reconcile());
  }

  /** Stop the timers and wait for the operation in flight. Firewall entries stay. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.queue;
  }

  /**
   * One ban. Bans requested while an operation is in flight are coalesced into
   * the next batch: one store write and one firewall transaction for all of
   * them, so many concurrent callers (a controller re-pushing BlockEvents)
   * do not each pay for an fsync.
   */
  block(request: BlockRequest): Promise<BlockOutcome> {
    return new Promise<BlockOutcome>((resolve, reject) => {
      this.pendingBlocks.push({ request, resolve, reject });
      if (this.drainQueued) return;
      this.drainQueued = true;
      this.serial(async () => {
        this.drainQueued = false;
        const batch = this.pendingBlocks.splice(0);
        try {
          const outcomes = await this.applyBatch(batch.map((b) => b.request));
          batch.forEach((b, i) => b.resolve(outcomes[i] as BlockOutcome));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }).catch((err: unknown) => {
        // serial() refused (before start): fail everything that was waiting.
        this.drainQueued = false;
        for (const b of this.pendingBlocks.splice(0)) b.reject(err);
      });
    });
  }

  /** Many bans, one store write and one firewall batch. Outcomes are in request order. */
  async blockMany(requests: readonly BlockRequest[]): Promise<BlockOutcome[]> {
    const { outcomes, applied } = await this.blockManyStaged(requests);
    await applied;
    return outcomes;
  }

  /**
   * blockMany in two steps: the outcomes as soon as they are decided, and
   * `applied`, which settles once they are in the firewall and on disk (and
   * rejects if either failed). The next operation waits for `applied`, so
   * nothing changes under the firewall push; the caller can use the wait,
   * as the API does to serialise its answer while nft works.
   */
  blockManyStaged(requests: readonly BlockRequest[]): Promise<{ outcomes: BlockOutcome[]; applied: Promise<void> }> {
    return new Promise((resolve, reject) => {
      this.serial(async () => {
        const { outcomes, changed, now, push } = this.decideBatch(requests);
        const applied = changed ? this.sync.saveAndPush(now, push) : Promise.resolve();
        resolve({ outcomes, applied });
        await applied;
      }).catch(reject); // before resolve: refused or failed deciding; after it, `applied` carries the error
    });
  }

  private async applyBatch(requests: readonly BlockRequest[]): Promise<BlockOutcome[]> {
    const { outcomes, changed, now, push } = this.decideBatch(requests);
    if (changed) await this.sync.saveAndPush(now, push);
    return outcomes;
  }

  /** Decide a batch, and how to push it: just its additions when that is enough, else the full diff. */
  private decideBatch(requests: readonly BlockRequest[]): { outcomes: BlockOutcome[]; changed: boolean; now: number; push: BatchPush } {
    const now = this.now();
    const decided = this.decisions.decideBatch(requests, now);
    // Nothing left the store and the new bans cover nothing: the cover only
    // gains this batch's uncovered bans, so push those without diffing all bans.
    const push: BatchPush =
      this.sync.holdsCover && !decided.expired && decided.onlyAddresses ? { kind: 'adds', entries: decided.uncoveredChanges } : { kind: 'diff' };
    return { outcomes: decided.outcomes, changed: decided.changed, now, push };
  }

  /** Remove a ban (the exact normalised CIDR). Unknown addresses are not an error. */
  unblock(input: string): Promise<UnblockOutcome> {
    return this.serial(async () => {
      const normal = this.policy.normalise(input);
      if (!normal.ok) return { ok: false, code: 'invalid', reason: normal.reason.replace('refusing to block', 'cannot unblock') };
      const { cidr } = normal.target;
      const removed = this.store.delete(cidr);
      this.metrics.activeBans.set({ backend: this.backend.name }, this.store.size);
      if (removed) {
        await this.store.save();
        await this.sync.pushDesired(this.now());
        this.logger.info({ cidr }, 'unbanned');
      }
      return { ok: true, cidr, removed };
    });
  }

  /**
   * Remove every ban (an operator's "unban all"). Offence history stays, so a
   * source banned again still escalates. Returns how many bans were removed.
   */
  unblockAll(): Promise<number> {
    return this.serial(async () => {
      const cidrs = [...this.store.cidrs()];
      for (const cidr of cidrs) this.store.delete(cidr);
      this.metrics.activeBans.set({ backend: this.backend.name }, 0);
      if (cidrs.length > 0) {
        const now = this.now();
        await this.sync.saveAndPush(now);
        this.logger.warn({ count: cidrs.length }, 'unbanned every address');
      }
      return cidrs.length;
    });
  }

  /** Active bans, oldest first. */
  list(): BanRecord[] {
    const now = this.now();
    return this.store
      .all()
      .filter((b) => Date.parse(b.expiresAt) > now)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Drop expired bans from the store and from firewalls that do not expire entries themselves. */
  sweep(): Promise<number> {
    return this.serial(async () => {
      const now = this.now();
      const before = this.store.size;
      if (!this.decisions.dropExpired(now)) return 0;
      await this.store.save();
      await this.sync.pushDesired(now);
      return before - this.store.size;
    });
  }

  /**
   * Lift every stored ban the never-block rules now refuse (one warning line
   * per ban, naming the protected address it covers, and
   * floodgate_bans_lifted_total). The caller saves and reconciles.
   */
  private liftNowRefused(why: string): boolean {
    const lifted = this.decisions.dropNowRefused();
    for (const ban of lifted) {
      this.metrics.liftedBans.inc({ reason: ban.code });
      // The policy says "refusing to block X: <rule>"; the rule is what the line needs.
      const rule = ban.reason.slice(ban.reason.indexOf(': ') + 2);
      this.logger.warn({ cidr: ban.cidr, code: ban.code }, `lifting ban ${ban.cidr}: ${rule} (${why})`);
    }
    return lifted.length > 0;
  }

  /** Compare the store with what the firewall really holds and repair the difference. */
  reconcile(): Promise<ReconcileReport> {
    return this.serial(async () => {
      // Addresses and routes change (DHCP, failover); new bans must see the
      // current ones, and a stored ban that now covers the new gateway, a
      // resolver or one of our own addresses is lifted at once.
      let changed = false;
      try {
        await this.policy.refresh();
        changed = this.liftNowRefused('the protected addresses changed');
      } catch (err) {
        this.logger.warn({ err }, 'could not refresh protected addresses');
      }
      if (this.decisions.dropExpired(this.now())) changed = true;
      if (changed) await this.store.save();
      return this.sync.reconcile(this.now());
    });
  }
}
