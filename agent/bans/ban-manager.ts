// The one place bans happen. Every request is validated by the address
// policy, escalated for repeat offenders, checked against caps, recorded in
// the store (the source of truth) and then pushed to the firewall backend.
// All operations run one at a time through a promise queue, so concurrent
// API calls, the expiry sweep and reconcile never interleave.
//
// What the firewall holds is the minimal cover of the active bans (see
// cover.ts). Each element carries its ban's remaining time as its timeout
// where the backend supports that; otherwise (pf, dry-run) the sweep removes
// it. reconcile() compares the store with backend.list() and repairs drift.

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { expiry } from '../../api/ban-time.js';
import type { FirewallBackend, FirewallElement } from '../firewall/types.js';
import type { AddressPolicy, RefusalCode } from './address-policy.js';
import { banMetrics, type BanMetrics } from './ban-metrics.js';
import { type BanRecord, banSourceSchema, type BanStore, isoTimeParser } from './ban-store.js';
import { CidrIndex } from './cover.js';

export const blockRequestSchema = z
  .object({
    ip: z.string().optional(),
    cidr: z.string().optional(),
    durationSeconds: z.number().finite().positive(),
    reason: z.string().max(500),
    policy: z.string().max(200),
    source: banSourceSchema,
  })
  .refine((r) => (r.ip === undefined) !== (r.cidr === undefined), { message: 'give exactly one of ip or cidr' });

export type BlockRequest = z.input<typeof blockRequestSchema>;

const BAN_SOURCES: ReadonlySet<unknown> = new Set(banSourceSchema.options);

/**
 * True only for requests blockRequestSchema accepts: the same rules as plain
 * tests. A 10,000-ban batch would otherwise pay 10,000 zod parses (~50 ms,
 * more on a cold process) for requests that the API already validated with
 * its own stricter schema. Anything this refuses goes through the schema,
 * which decides and explains, so the schema stays the one definition.
 */
function plainlyValid(r: BlockRequest): boolean {
  if (typeof r !== 'object' || r === null) return false;
  const { ip, cidr, durationSeconds, reason, policy, source } = r;
  return (
    (ip === undefined ? typeof cidr === 'string' : typeof ip === 'string' && cidr === undefined) &&
    typeof durationSeconds === 'number' &&
    Number.isFinite(durationSeconds) &&
    durationSeconds > 0 &&
    typeof reason === 'string' &&
    reason.length <= 500 &&
    typeof policy === 'string' &&
    policy.length <= 200 &&
    BAN_SOURCES.has(source)
  );
}

export type RefusalReason = RefusalCode | 'invalid_request' | 'max_active_bans' | 'rate_limited';

export type BlockOutcome =
  | {
      ok: true;
      /** added: new ban; extended: existing ban now lasts longer; unchanged: existing ban kept as is. */
      action: 'added' | 'extended' | 'unchanged';
      ban: BanRecord;
      /** Set when a broader active ban already drops this traffic. */
      coveredBy?: string;
    }
  | { ok: false; code: RefusalReason; reason: string };

export type UnblockOutcome = { ok: true; cidr: string; removed: boolean } | { ok: false; code: 'invalid'; reason: string };

export interface ReconcileReport {
  /** Elements the firewall was missing and got back. */
  added: string[];
  /** Elements in our firewall objects that no active ban explains. */
  removed: string[];
}

export interface BanManagerOptions {
  backend: FirewallBackend;
  store: BanStore;
  policy: AddressPolicy;
  logger: Logger;
  registry: Registry;
  limits?: { maxActiveBans?: number; maxNewBansPerMinute?: number };
  /**
   * Like fail2ban's bantime.increment: duration × factor^(offences−1), capped.
   * Applies only to the agent's own decisions (source "auto"): a duration
   * asked for through the API (the controller, which escalates by its
   * policy, or an operator) is kept as asked, so no ban is escalated twice.
   */
  escalation?: { factor?: number; maxDurationSeconds?: number; findTimeSeconds?: number };
  reconcileIntervalSeconds?: number;
  sweepIntervalSeconds?: number;
  now?: () => number;
}

/** What every decision of one batch shares. */
interface BatchContext {
  now: number;
  /** new Date(now).toISOString(), once. */
  createdAt: string;
  /** Expiry epoch ms → ISO text: a batch's bans mostly share one duration. */
  expiresAt: Map<number, string>;
  /** The active bans' CIDRs, grown as the batch adds bans. */
  index: CidrIndex;
  /** New bans per source, for one metrics update per batch. */
  bansBySource: Map<BlockRequest['source'], number>;
  size: number;
  /** Log one line per new ban: single bans (info) or when debug is on. */
  logEach: boolean;
  /** Added or extended bans the firewall must hold (not covered by a broader ban): CIDR → expiry. */
  uncoveredChanges: [string, number][];
  /** Every added or extended ban is a single address, which can cover no other ban. */
  onlyAddresses: boolean;
}

/** The batch's firewall work: just these additions, or the full diff of the store against what is applied. */
type BatchPush = { kind: 'adds'; entries: [string, number][] } | { kind: 'diff' };

/** Record an added or extended ban for the batch's firewall push. */
function noteChange(batch: BatchContext, cidr: string, family: 4 | 6, expiresAt: number, coveredBy: string | undefined): void {
  if (!cidr.endsWith(family === 4 ? '/32' : '/128')) batch.onlyAddresses = false;
  if (coveredBy === undefined) batch.uncoveredChanges.push([cidr, expiresAt]);
}

function expiryText(batch: BatchContext, expiresAt: number): string {
  let text = batch.expiresAt.get(expiresAt);
  if (text === undefined) {
    text = new Date(expiresAt).toISOString();
    batch.expiresAt.set(expiresAt, text);
  }
  return text;
}

/** A firewall element this close to its own expiry is left to expire, not "repaired". */
const EXPIRY_GRACE_SECONDS = 5;

export class BanManager {
  private readonly backend: FirewallBackend;
  private readonly store: BanStore;
  private readonly policy: AddressPolicy;
  private readonly logger: Logger;
  private readonly metrics: BanMetrics;
  private readonly now: () => number;
  private readonly maxActiveBans: number;
  private readonly maxNewBansPerMinute: number;
  private readonly factor: number;
  private readonly maxDurationSeconds: number;
  private readonly findTimeMs: number;
  private readonly reconcileIntervalMs: number;
  private readonly sweepIntervalMs: number;
  /** What we last pushed: CIDR → ban expiry (epoch ms). */
  private readonly applied = new Map<string, number>();
  /**
   * `applied` is exactly the cover of the store as of the last push: the last
   * push or reconcile succeeded and nothing was removed since. Only then can a
   * batch push just its own additions instead of diffing the whole store.
   */
  private appliedIsCover = false;
  /** Times of recent new bans, for maxNewBansPerMinute. */
  private newBanTimes: number[] = [];
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
    this.maxActiveBans = options.limits?.maxActiveBans ?? 10_000;
    this.maxNewBansPerMinute = options.limits?.maxNewBansPerMinute ?? 600;
    this.factor = options.escalation?.factor ?? 2;
    this.maxDurationSeconds = options.escalation?.maxDurationSeconds ?? 7 * 86_400;
    this.findTimeMs = (options.escalation?.findTimeSeconds ?? 86_400) * 1000;
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
      await this.firewall('init', () => this.backend.init());
      let changed = this.dropExpired(this.now());
      // The allowlist or the host's addresses may have changed since the ban was made.
      for (const ban of this.store.all()) {
        const decision = this.policy.check(ban.cidr);
        if (decision.ok) continue;
        this.store.delete(ban.cidr);
        changed = true;
        this.logger.warn({ cidr: ban.cidr, reason: decision.reason }, 'dropping stored ban now refused by policy');
      }
      if (changed) await this.store.save();
      this.applied.clear();
      return this.reconcileNow();
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
        const applied = changed ? this.saveAndPush(now, push) : Promise.resolve();
        resolve({ outcomes, applied });
        await applied;
      }).catch(reject); // before resolve: refused or failed deciding; after it, `applied` carries the error
    });
  }

  private async applyBatch(requests: readonly BlockRequest[]): Promise<BlockOutcome[]> {
    const { outcomes, changed, now, push } = this.decideBatch(requests);
    if (changed) await this.saveAndPush(now, push);
    return outcomes;
  }

  /** Decide every request against the in-memory store; nothing is pushed or saved yet. */
  private decideBatch(requests: readonly BlockRequest[]): { outcomes: BlockOutcome[]; changed: boolean; now: number; push: BatchPush } {
    const now = this.now();
    const expired = this.dropExpired(now);
    let changed = expired;
    // Once per batch: every decision in it shares `now` and the cover index.
    const batch: BatchContext = {
      now,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Map(),
      index: new CidrIndex(this.store.cidrs()),
      bansBySource: new Map(),
      size: requests.length,
      logEach: requests.length === 1 || this.logger.isLevelEnabled('debug'),
      uncoveredChanges: [],
      onlyAddresses: true,
    };
    this.newBanTimes = this.newBanTimes.filter((t) => t > now - 60_000);
    const outcomes = requests.map((request) => this.decide(request, batch));
    // One counter update per source, not one per ban (prom-client hashes the labels on every inc).
    for (const [source, count] of batch.bansBySource) this.metrics.bansTotal.inc({ backend: this.backend.name, source }, count);
    if (requests.length > 1) {
      let added = 0;
      let extended = 0;
      let refused = 0;
      for (const o of outcomes) {
        if (!o.ok) refused++;
        else if (o.action === 'added') added++;
        else if (o.action === 'extended') extended++;
      }
      this.logger.info({ requested: requests.length, added, extended, refused }, 'batch of bans');
    }
    changed ||= outcomes.some((o) => o.ok && o.action !== 'unchanged');
    this.metrics.activeBans.set({ backend: this.backend.name }, this.store.size);
    // Nothing left the store and the new bans cover nothing: the cover only
    // gains this batch's uncovered bans, so push those without diffing all bans.
    const push: BatchPush =
      this.appliedIsCover && !expired && batch.onlyAddresses ? { kind: 'adds', entries: batch.uncoveredChanges } : { kind: 'diff' };
    return { outcomes, changed, now, push };
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
  private async saveAndPush(now: number, push: BatchPush = { kind: 'diff' }): Promise<void> {
    const pushing = push.kind === 'adds' ? this.pushAdditions(push.entries, now) : this.pushDesired(now);
    const saving = this.store.save();
    const [pushed, saved] = await Promise.allSettled([pushing, saving]);
    if (saved.status === 'rejected') throw saved.reason;
    if (pushed.status === 'rejected') throw pushed.reason;
  }

  /** The duration of a ban: escalated when the agent decided it itself, as asked otherwise. */
  private duration(request: BlockRequest, offenceCount: number): number {
    if (request.source !== 'auto') return request.durationSeconds;
    return Math.min(request.durationSeconds * this.factor ** (offenceCount - 1), this.maxDurationSeconds);
  }

  private refuse(code: RefusalReason, reason: string, source: string): BlockOutcome {
    this.metrics.refusals.inc({ reason: code });
    this.logger[source === 'auto' ? 'debug' : 'warn']({ code, source }, reason);
    return { ok: false, code, reason };
  }

  /** Validate one request and apply it to the in-memory store. */
  private decide(raw: BlockRequest, batch: BatchContext): BlockOutcome {
    const { now, index } = batch;
    let request = raw;
    if (!plainlyValid(raw)) {
      const parsed = blockRequestSchema.safeParse(raw);
      if (!parsed.success) {
        const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
        return this.refuse('invalid_request', `invalid ban request: ${why}`, 'api');
      }
      request = parsed.data;
    }
    const decision = this.policy.check(request.ip ?? request.cidr);
    if (!decision.ok) return this.refuse(decision.code, decision.reason, request.source);
    const { cidr, family } = decision.target;
    const coveredBy = index.coveredBy(cidr);
    const covered = coveredBy === undefined ? undefined : { coveredBy };
    // An outcome, with coveredBy only when a broader ban covers it (no spread: this runs per ban).
    const accepted = (action: 'added' | 'extended' | 'unchanged', ban: BanRecord): BlockOutcome => {
      const outcome: BlockOutcome = { ok: true, action, ban };
      if (coveredBy !== undefined) outcome.coveredBy = coveredBy;
      return outcome;
    };

    const existing = this.store.get(cidr);
    if (existing) {
      // Re-flagging an active ban is not a new offence. It only extends the
      // ban when that gains more than 10% of the duration, so a source seen
      // in every detection window does not rewrite the firewall every time.
      const duration = this.duration(request, existing.offenceCount);
      const wanted = expiry(now, duration);
      const current = Date.parse(existing.expiresAt);
      if (wanted - current <= Math.max(1000, duration * 100)) return accepted('unchanged', existing);
      const ban = { ...existing, expiresAt: expiryText(batch, wanted) };
      this.store.put(ban);
      noteChange(batch, cidr, family, wanted, coveredBy);
      return accepted('extended', ban);
    }

    if (this.store.size >= this.maxActiveBans) {
      return this.refuse('max_active_bans', `refusing to block ${cidr}: ${this.maxActiveBans} bans are active (maxActiveBans)`, request.source);
    }
    if (this.newBanTimes.length >= this.maxNewBansPerMinute) {
      return this.refuse(
        'rate_limited',
        `refusing to block ${cidr}: ${this.maxNewBansPerMinute} new bans in the last minute (maxNewBansPerMinute)`,
        request.source,
      );
    }
    const history = this.store.offenceTimes(cidr);
    const offences = history.length === 0 ? [now] : [...history.filter((t) => t > now - this.findTimeMs), now];
    const duration = this.duration(request, offences.length);
    const expiresAt = expiry(now, duration);
    const ban: BanRecord = {
      cidr,
      family,
      reason: request.reason,
      policy: request.policy,
      source: request.source,
      createdAt: batch.createdAt,
      expiresAt: expiryText(batch, expiresAt),
      offenceCount: offences.length,
    };
    this.store.put(ban);
    noteChange(batch, cidr, family, expiresAt, coveredBy);
    index.add(cidr);
    this.store.setOffenceTimes(cidr, offences);
    this.newBanTimes.push(now);
    batch.bansBySource.set(request.source, (batch.bansBySource.get(request.source) ?? 0) + 1);
    // Inside a large batch one line per ban is debug; the line is not even built unless debug is on.
    if (batch.logEach) {
      this.logger[batch.size > 1 ? 'debug' : 'info'](
        { cidr, durationSeconds: duration, offenceCount: ban.offenceCount, source: ban.source, policy: ban.policy, reason: ban.reason, ...covered },
        'banned',
      );
    }
    return accepted('added', ban);
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
        await this.pushDesired(this.now());
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
        await this.saveAndPush(now);
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
      if (!this.dropExpired(now)) return 0;
      await this.store.save();
      await this.pushDesired(now);
      return before - this.store.size;
    });
  }

  /** Compare the store with what the firewall really holds and repair the difference. */
  reconcile(): Promise<ReconcileReport> {
    return this.serial(async () => {
      // Addresses and routes change (DHCP, failover); new bans must see the current ones.
      await this.policy.refresh().catch((err: unknown) => this.logger.warn({ err }, 'could not refresh protected addresses'));
      if (this.dropExpired(this.now())) await this.store.save();
      return this.reconcileNow();
    });
  }

  private async reconcileNow(): Promise<ReconcileReport> {
    this.appliedIsCover = false; // until the repair below has fully succeeded
    const now = this.now();
    const held = new Map<string, FirewallElement>();
    for (const element of await this.firewall('list', () => this.backend.list())) held.set(element.cidr, element);
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

  /** Drop expired bans and stale offence history from the in-memory store. */
  private dropExpired(now: number): boolean {
    let changed = false;
    const epochMs = isoTimeParser();
    for (const ban of this.store.all()) {
      if (epochMs(ban.expiresAt) > now) continue;
      this.store.delete(ban.cidr);
      changed = true;
      this.logger.info({ cidr: ban.cidr }, 'ban expired');
    }
    this.store.pruneOffences(now - this.findTimeMs);
    this.metrics.activeBans.set({ backend: this.backend.name }, this.store.size);
    return changed;
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
  private async pushDesired(now: number): Promise<void> {
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
