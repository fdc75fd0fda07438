// Keeps the firewall in step with the ban store: what the firewall should hold
// is the minimal cover of the active bans (cover.ts), each element with its
// ban's remaining time as its timeout where the backend supports that
// (otherwise, pf and dry-run, the sweep removes it). Pushes are diffs against
// what was last applied, or just a batch's additions when the firewall is
// known to hold the cover already; reconcile() compares with what the
// firewall really holds and repairs drift. The store write runs beside each
// push. Every backend call is timed, counted and logged here.

import type { Logger } from 'pino';
import type { FirewallBackend, FirewallElement } from '../firewall/types.js';
import type { BanMetrics } from './ban-metrics.js';
import { type BanStore, isoTimeParser } from './ban-store.js';
import { CidrIndex } from './cover.js';

export interface ReconcileReport {
  /** Elements the firewall was missing and got back. */
  added: string[];
  /** Elements in our firewall objects that no active ban explains. */
  removed: string[];
}

/** A batch's firewall work: just these additions, or the full diff of the store against what is applied. */
export type BatchPush = { kind: 'adds'; entries: [string, number][] } | { kind: 'diff' };

/** A firewall element this close to its own expiry is left to expire, not "repaired". */
const EXPIRY_GRACE_SECONDS = 5;

export interface FirewallSyncOptions {
  backend: FirewallBackend;
  store: Pick<BanStore, 'all' | 'save' | 'size'>;
  logger: Logger;
  metrics: BanMetrics;
}

export class FirewallSync {
  private readonly backend: FirewallBackend;
  private readonly store: FirewallSyncOptions['store'];
  private readonly logger: Logger;
  private readonly metrics: BanMetrics;
  /** What we last pushed: CIDR → ban expiry (epoch ms). */
  private readonly applied = new Map<string, number>();
  /**
   * `applied` is exactly the cover of the store as of the last push: the last
   * push or reconcile succeeded and nothing was removed since. Only then can a
   * batch push just its own additions instead of diffing the whole store.
   */
  private appliedIsCover = false;

  constructor(options: FirewallSyncOptions) {
    this.backend = options.backend;
    this.store = options.store;
    this.logger = options.logger;
    this.metrics = options.metrics;
  }

  /** Whether a batch that removed nothing and added only single addresses may push just those. */
  get holdsCover(): boolean {
    return this.appliedIsCover;
  }

  /** Create the backend's objects (idempotent). */
  init(): Promise<void> {
    return this.firewall('init', () => this.backend.init());
  }

  /** What the firewall holds in our objects right now. */
  list(): Promise<FirewallElement[]> {
    return this.firewall('list', () => this.backend.list());
  }

  /** Forget what was applied: the next reconcile reads the firewall afresh. */
  forget(): void {
    this.applied.clear();
    this.appliedIsCover = false;
  }

  /**
   * Push to the firewall and write the store side by side: the firewall
   * process and the fsync both wait on something other than this thread.
   * The push goes first so the firewall process starts while the store is
   * serialised. Both finish before the caller hears back, so an answered ban
   * is in the firewall and on disk; if either fails the error propagates, and
   * the next save or reconcile brings the two back in line (as when a push
   * failed after a save before).
   */
  async saveAndPush(now: number, push: BatchPush = { kind: 'diff' }): Promise<void> {
    const pushing = push.kind === 'adds' ? this.pushAdditions(push.entries, now) : this.pushDesired(now);
    const saving = this.store.save();
    const [pushed, saved] = await Promise.allSettled([pushing, saving]);
    if (saved.status === 'rejected') throw saved.reason;
    if (pushed.status === 'rejected') throw pushed.reason;
  }

  /** Compare the store with what the firewall really holds and repair the difference. */
  async reconcile(now: number): Promise<ReconcileReport> {
    this.appliedIsCover = false; // until the repair below has fully succeeded
    const held = new Map<string, FirewallElement>();
    for (const element of await this.list()) held.set(element.cidr, element);
    const desired = this.desired(now);
    const removed = [...held.values()]
      .filter((e) => !desired.has(e.cidr))
      .filter((e) => e.expiresInSeconds === undefined || e.expiresInSeconds > EXPIRY_GRACE_SECONDS)
      .map((e) => e.cidr);
    const added = [...desired.entries()]
      .filter(([cidr, expiresAt]) => {
        const element = held.get(cidr);
        if (!element) return true;
        // A timeout that ends well before its ban is refreshed: after a restart,
        // after a push that failed to extend it, or a ban longer than the
        // firewall's longest timeout.
        const left = element.expiresInSeconds;
        return left !== undefined && left < (expiresAt - now) / 1000 - EXPIRY_GRACE_SECONDS;
      })
      .map(([cidr]) => cidr);
    const missing = added.filter((cidr) => !held.has(cidr));

    for (const cidr of removed) this.applied.delete(cidr);
    for (const [cidr, expiresAt] of desired) if (held.has(cidr)) this.applied.set(cidr, expiresAt);
    if (removed.length > 0) {
      await this.firewall('remove', () => this.backend.remove(removed));
      this.metrics.reconcileRepairs.inc({ backend: this.backend.name, kind: 'removed' }, removed.length);
      this.logger.warn({ count: removed.length, sample: removed.slice(0, 10) }, 'removed firewall entries no ban explains');
    }
    if (added.length > 0) {
      await this.addEntries(added.map((cidr) => [cidr, desired.get(cidr) ?? now]), now);
      if (missing.length > 0) {
        this.metrics.reconcileRepairs.inc({ backend: this.backend.name, kind: 'added' }, missing.length);
        this.logger.warn({ count: missing.length, sample: missing.slice(0, 10) }, 're-added bans missing from the firewall');
      }
    }
    // The firewall now holds the cover; forget entries it no longer has (they expired there).
    for (const cidr of this.applied.keys()) if (!desired.has(cidr)) this.applied.delete(cidr);
    this.appliedIsCover = true;
    this.metrics.activeBans.set({ backend: this.backend.name }, this.store.size);
    return { added: missing, removed };
  }

  /**
   * CIDR → expiry of what the firewall should hold: the minimal cover of the
   * bans active at `now`. A ban that has expired but is not swept yet neither
   * goes back in nor covers anything.
   */
  private desired(now: number): Map<string, number> {
    const epochMs = isoTimeParser();
    const active = this.store.all().filter((ban) => epochMs(ban.expiresAt) > now);
    const index = new CidrIndex(active.map((ban) => ban.cidr));
    const desired = new Map<string, number>();
    for (const ban of active) {
      if (index.coveredBy(ban.cidr) === undefined) desired.set(ban.cidr, epochMs(ban.expiresAt));
    }
    return desired;
  }

  /** Push the difference between what we applied and what the store wants. */
  async pushDesired(now: number): Promise<void> {
    this.appliedIsCover = false; // until this push has fully succeeded
    const desired = this.desired(now);
    const toRemove: string[] = [];
    for (const [cidr, expiresAt] of this.applied) {
      if (desired.has(cidr)) continue;
      // nft/ipset drop expired entries themselves; deleting them again costs time.
      if (this.backend.expiresEntries && expiresAt <= now + 1000) this.applied.delete(cidr);
      else toRemove.push(cidr);
    }
    // Remove before adding: nft refuses a /24 while one of its addresses is still in the set.
    if (toRemove.length > 0) {
      await this.firewall('remove', () => this.backend.remove(toRemove));
      for (const cidr of toRemove) this.applied.delete(cidr);
    }
    const toAdd = [...desired].filter(([cidr, expiresAt]) => this.applied.get(cidr) !== expiresAt);
    if (toAdd.length > 0) await this.addEntries(toAdd, now);
    this.appliedIsCover = true;
  }

  /** A batch's additions to a firewall that already holds the cover of every other ban. */
  private async pushAdditions(entries: readonly [string, number][], now: number): Promise<void> {
    this.appliedIsCover = false;
    if (entries.length > 0) await this.addEntries(entries, now);
    this.appliedIsCover = true;
  }

  private async addEntries(entries: readonly (readonly [string, number])[], now: number): Promise<void> {
    const family = (cidr: string) => (cidr.includes(':') ? 6 : 4);
    await this.firewall('add', () =>
      this.backend.add(
        entries.map(([cidr, expiresAt]) => ({
          cidr,
          family: family(cidr),
          timeoutSeconds: Math.max(1, Math.ceil((expiresAt - now) / 1000)),
        })),
      ),
    );
    for (const [cidr, expiresAt] of entries) this.applied.set(cidr, expiresAt);
  }

  /** Time, count and log a backend call. Errors propagate; reconcile repairs what did not land. */
  private async firewall<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const labels = { backend: this.backend.name, operation };
    const end = this.metrics.firewallSeconds.startTimer(labels);
    try {
      return await call();
    } catch (err) {
      this.metrics.firewallErrors.inc(labels);
      this.logger.error({ err, operation }, 'firewall operation failed');
      throw err;
    } finally {
      end();
    }
  }
}
