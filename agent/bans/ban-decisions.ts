// The ban decision core: given the bans in memory and a clock, decide what
// each request does (validated by the address policy, escalated for repeat
// offenders, checked against the caps) and apply that to the in-memory
// store. No firewall, no disk, no timers: firewall-sync.ts pushes and saves
// what was decided, and ban-manager.ts orders the two.

import type { Logger } from 'pino';
import { z } from 'zod';
import type { AddressPolicy, RefusalCode } from './address-policy.js';
import { expiry } from '../../api/ban-time.js';
import { banSeconds, type EscalationRule } from './ban-escalation.js';
import type { BanMetrics } from './ban-metrics.js';
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

/** The store as the decisions see it: in memory only (load and save are not theirs). */
export type BanState = Pick<BanStore, 'get' | 'put' | 'delete' | 'size' | 'cidrs' | 'all' | 'offenceTimes' | 'setOffenceTimes' | 'pruneOffences'>;

export interface BanLimits {
  maxActiveBans: number;
  maxNewBansPerMinute: number;
}

export interface BanDecisionsOptions {
  store: BanState;
  policy: AddressPolicy;
  logger: Logger;
  metrics: BanMetrics;
  /** Label of the ban metrics. */
  backendName: string;
  limits: BanLimits;
  escalation: EscalationRule & { findTimeSeconds: number };
}

/** What a decided batch asks of the firewall. */
export interface DecidedBatch {
  outcomes: BlockOutcome[];
  /** Anything in the store changed (bans expired, added or extended). */
  changed: boolean;
  /** Some bans expired before the batch was decided. */
  expired: boolean;
  /** Added or extended bans the firewall must hold (not covered by a broader ban): CIDR → expiry. */
  uncoveredChanges: [string, number][];
  /** Every added or extended ban is a single address, which can cover no other ban. */
  onlyAddresses: boolean;
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
  uncoveredChanges: [string, number][];
  onlyAddresses: boolean;
}

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

export class BanDecisions {
  private readonly store: BanState;
  private readonly policy: AddressPolicy;
  private readonly logger: Logger;
  private readonly metrics: BanMetrics;
  private readonly backendName: string;
  private readonly limits: BanLimits;
  private readonly escalation: EscalationRule;
  private readonly findTimeMs: number;
  /** Times of recent new bans, for maxNewBansPerMinute. */
  private newBanTimes: number[] = [];

  constructor(options: BanDecisionsOptions) {
    this.store = options.store;
    this.policy = options.policy;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.backendName = options.backendName;
    this.limits = options.limits;
    this.escalation = { factor: options.escalation.factor, maxDurationSeconds: options.escalation.maxDurationSeconds };
    this.findTimeMs = options.escalation.findTimeSeconds * 1000;
  }

  /** Decide every request against the in-memory store, at `now`. */
  decideBatch(requests: readonly BlockRequest[], now: number): DecidedBatch {
    const expired = this.dropExpired(now);
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
    for (const [source, count] of batch.bansBySource) this.metrics.bansTotal.inc({ backend: this.backendName, source }, count);
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
    const changed = expired || outcomes.some((o) => o.ok && o.action !== 'unchanged');
    this.metrics.activeBans.set({ backend: this.backendName }, this.store.size);
    return { outcomes, changed, expired, uncoveredChanges: batch.uncoveredChanges, onlyAddresses: batch.onlyAddresses };
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
      const duration = banSeconds(request, existing.offenceCount, this.escalation);
      const wanted = expiry(now, duration);
      const current = Date.parse(existing.expiresAt);
      if (wanted - current <= Math.max(1000, duration * 100)) return accepted('unchanged', existing);
      const ban = { ...existing, expiresAt: expiryText(batch, wanted) };
      this.store.put(ban);
      noteChange(batch, cidr, family, wanted, coveredBy);
      return accepted('extended', ban);
    }

    if (this.store.size >= this.limits.maxActiveBans) {
      return this.refuse('max_active_bans', `refusing to block ${cidr}: ${this.limits.maxActiveBans} bans are active (maxActiveBans)`, request.source);
    }
    if (this.newBanTimes.length >= this.limits.maxNewBansPerMinute) {
      return this.refuse(
        'rate_limited',
        `refusing to block ${cidr}: ${this.limits.maxNewBansPerMinute} new bans in the last minute (maxNewBansPerMinute)`,
        request.source,
      );
    }
    const history = this.store.offenceTimes(cidr);
    const offences = history.length === 0 ? [now] : [...history.filter((t) => t > now - this.findTimeMs), now];
    const duration = banSeconds(request, offences.length, this.escalation);
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

  /** Drop expired bans and stale offence history from the in-memory store. */
  dropExpired(now: number): boolean {
    let changed = false;
    const epochMs = isoTimeParser();
    for (const ban of this.store.all()) {
      if (epochMs(ban.expiresAt) > now) continue;
      this.store.delete(ban.cidr);
      changed = true;
      this.logger.info({ cidr: ban.cidr }, 'ban expired');
    }
    this.store.pruneOffences(now - this.findTimeMs);
    this.metrics.activeBans.set({ backend: this.backendName }, this.store.size);
    return changed;
  }

  /**
   * Drop stored bans the address policy now refuses: the allowlist changed,
   * or the host's addresses, gateway or resolvers moved into a banned range.
   * Returns the bans dropped, with why.
   */
  dropNowRefused(): { cidr: string; code: RefusalCode | 'invalid'; reason: string }[] {
    const dropped: { cidr: string; code: RefusalCode | 'invalid'; reason: string }[] = [];
    for (const ban of this.store.all()) {
      const decision = this.policy.check(ban.cidr);
      if (decision.ok) continue;
      this.store.delete(ban.cidr);
      dropped.push({ cidr: ban.cidr, code: decision.code, reason: decision.reason });
    }
    if (dropped.length > 0) this.metrics.activeBans.set({ backend: this.backendName }, this.store.size);
    return dropped;
  }
}
