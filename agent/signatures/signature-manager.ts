// The one place signature rules happen on an agent: it decides (is the rule
// safe, is its victim protected here, does it fit the caps), keeps the store
// (signatures.json) and makes the firewall hold exactly the stored rules. All
// changes run one at a time. The firewall is changed first and the store
// saved after, so a rule the firewall refused is never recorded; a restart
// re-applies the store until each rule's expiry, which this manager enforces
// itself (firewall rules have no timeouts).
//
// applySignatures() is the one entry point for "hold these rules", whoever
// asks: the HTTP API (POST /v1/signatures), the agent's own detection
// (auto-defense), and a watch of SignatureRule objects (issue 15).

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { MAX_BAN_SECONDS, expiry } from '../../api/ban-time.js';
import {
  actionText,
  defaultBurst,
  normalizeMatch,
  signatureId,
  signatureProblems,
  type SignatureAction,
} from '../../api/signature-rule.js';
import type { SignaturePolicySettings, SignatureRecord, SignatureRefusalCode, SignatureRequest, SignatureSource } from '../../api/agent/v1/types.js';
import { cidrContains, cidrOverlaps, formatCidr, parseCidr, type Cidr } from '../../lib/cidr.js';
import { counter, gauge, histogram } from '../../lib/metrics.js';
import { CidrIndex } from '../bans/cover.js';
import type { FirewallSignature, FirewallSignatureAction, SignatureFirewall } from '../firewall/signature-types.js';
import type { DropCounters } from '../firewall/types.js';
import type { SignatureStore, StoredSignature } from './signature-store.js';
import type { SynproxySettings } from './synproxy-settings.js';

export interface SignatureLimits {
  /** Rules at once on this agent, all policies together. */
  maxActiveRules: number;
  /** The longest any rule lasts here, seconds. */
  maxDurationSeconds: number;
}

/** What the never-block list and the protected addresses are right now. */
export interface HostAddresses {
  /** Sources no rule may ever match (allowlist, the host's own, gateways, resolvers, loopback, ...), as CIDRs. */
  neverBlock(): { cidr: string; label: string }[];
  /** The destinations this agent protects (its interface addresses and its protect list), as CIDRs. */
  protectedDestinations(): string[];
}

export class SignatureRefusedError extends Error {
  constructor(
    message: string,
    readonly code: SignatureRefusalCode,
  ) {
    super(message);
    this.name = 'SignatureRefusedError';
  }
}

export type SignatureOutcome =
  | { ok: true; action: 'added' | 'extended' | 'updated' | 'unchanged'; rule: SignatureRecord }
  | { ok: false; code: SignatureRefusalCode; error: string };

export interface SignatureManagerOptions {
  firewall: SignatureFirewall;
  backendName: string;
  store: SignatureStore;
  host: HostAddresses;
  synproxy: SynproxySettings;
  limits: SignatureLimits;
  logger: Logger;
  registry: Registry;
  now?: () => number;
  /** How often counters are read for the drop rates (default 2 s). */
  sampleIntervalMs?: number;
  /** How often the firewall is compared with the store (default 30 s). */
  reconcileIntervalMs?: number;
}

interface Applied {
  action: FirewallSignatureAction;
  /** In words, with the reason of a fallback. */
  text: string;
}

const PRINTABLE_LINE = /[\p{C}\p{Zl}\p{Zp}]+/gu;

export class SignatureManager {
  /** This process's list epoch (SignatureList.epoch). */
  readonly epoch = randomBytes(4).toString('hex');
  private queue: Promise<unknown> = Promise.resolve();
  private started = false;
  private timers: NodeJS.Timeout[] = [];
  private expiryTimer?: NodeJS.Timeout;
  /** What the firewall holds for each rule, as applied at the last sync. */
  private applied = new Map<string, Applied>();
  private lastExclude = '';
  private counters = new Map<string, DropCounters & { at: number; pps: number }>();
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly metrics;

  constructor(private readonly o: SignatureManagerOptions) {
    this.now = o.now ?? Date.now;
    this.logger = o.logger.child({ component: 'signatures', backend: o.backendName });
    this.metrics = {
      active: gauge(o.registry, { name: 'floodgate_signature_rules_active', help: 'Signature rules the firewall holds' }),
      decisions: counter(o.registry, { name: 'floodgate_signature_requests_total', help: 'Signature rule requests, by source and outcome', labelNames: ['source', 'outcome'] }),
      packets: gauge(o.registry, { name: 'floodgate_signature_rule_packets', help: 'Packets matched (dropped, limited or proxied) by each signature rule', labelNames: ['rule'] }),
      sync: histogram(o.registry, { name: 'floodgate_signature_sync_seconds', help: 'Time to make the firewall hold the signature rules', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] }),
    };
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    if (!this.started) return Promise.reject(new Error('SignatureManager.start() has not completed'));
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Load the store, drop what expired while the agent was down, make the firewall hold the rest. */
  async start(options: { timers?: boolean } = {}): Promise<void> {
    await this.o.store.load();
    this.started = true;
    await this.serial(async () => {
      const dropped = this.dropExpired();
      const kept = this.o.store.all();
      await this.sync();
      if (dropped > 0) await this.o.store.save();
      if (kept.length > 0) this.logger.info({ restored: kept.length, expired: dropped }, 'signature rules restored');
    });
    if (options.timers !== false) {
      const every = (ms: number, task: () => Promise<unknown>) => {
        let running = false;
        const t = setInterval(() => {
          if (running) return;
          running = true;
          void task()
            .catch((err: unknown) => this.logger.error({ err }, 'signature task failed'))
            .finally(() => (running = false));
        }, ms);
        t.unref();
        this.timers.push(t);
      };
      every(this.o.sampleIntervalMs ?? 2000, () => this.sample());
      every(this.o.reconcileIntervalMs ?? 30_000, () => this.reconcile());
      this.armExpiry();
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    await this.queue;
  }

  /**
   * Hold these rules: each is added, or extended (the later expiry wins), or
   * updated (another action for the same match), or refused with a reason.
   * One firewall change and one store write for all of them. Outcomes are in
   * request order.
   */
  applySignatures(requests: readonly (SignatureRequest & { source: SignatureSource })[]): Promise<SignatureOutcome[]> {
    return this.serial(async () => {
      const before = this.o.store.snapshot();
      const outcomes: (SignatureOutcome | { pending: StoredSignature; action: 'added' | 'extended' | 'updated' | 'unchanged' })[] = [];
      for (const req of requests) {
        try {
          outcomes.push(await this.decide(req));
        } catch (err) {
          if (!(err instanceof SignatureRefusedError)) throw err;
          outcomes.push({ ok: false, code: err.code, error: err.message });
          this.metrics.decisions.inc({ source: req.source, outcome: err.code });
        }
      }
      const changed = outcomes.some((o) => 'pending' in o && o.action !== 'unchanged');
      if (changed) {
        const started = process.hrtime.bigint();
        try {
          await this.sync();
        } catch (err) {
          this.o.store.restore(before);
          await this.sync().catch(() => undefined);
          throw err;
        }
        this.metrics.sync.observe(Number(process.hrtime.bigint() - started) / 1e9);
      }
      // Said when the rules are in the firewall: the store is written after.
      const results = outcomes.map((o): SignatureOutcome => {
        if (!('pending' in o)) return o;
        this.metrics.decisions.inc({ source: o.pending.source, outcome: o.action });
        if (o.action === 'added' || o.action === 'updated') {
          this.logger.warn({ id: o.pending.id, rule: o.pending.match.text, action: this.applied.get(o.pending.id)?.text, source: o.pending.source, policy: o.pending.policy, expiresAt: o.pending.expiresAt }, `signature rule ${o.action}`);
        }
        return { ok: true, action: o.action, rule: this.record(o.pending) };
      });
      if (changed) {
        await this.o.store.save();
        this.armExpiry();
      }
      return results;
    });
  }

  /** One rule; throws SignatureRefusedError. */
  async add(req: SignatureRequest & { source: SignatureSource }): Promise<SignatureOutcome & { ok: true }> {
    const [outcome] = await this.applySignatures([req]);
    if (!outcome?.ok) throw new SignatureRefusedError(outcome?.error ?? 'refused', outcome?.code ?? 'invalid');
    return outcome;
  }

  /** Decide one request against the store as it is now (earlier requests of the batch included). */
  private async decide(req: SignatureRequest & { source: SignatureSource }): Promise<{ pending: StoredSignature; action: 'added' | 'extended' | 'updated' | 'unchanged' }> {
    const match = normalizeMatch(req.match);
    const id = signatureId(match);
    const problems = signatureProblems(match, req.action);
    if (problems.length > 0) throw new SignatureRefusedError(`refusing signature ${match.text}: ${problems.join('; ')}`, 'unsafe');
    this.checkHost(match.text!, match.destination, match.source);

    const existing = this.o.store.get(id);
    const settings = req.policy ? this.o.store.policy(req.policy) : undefined;
    if (!existing) {
      if (this.o.store.size >= this.o.limits.maxActiveRules) {
        throw new SignatureRefusedError(`refusing signature ${match.text}: this agent holds ${this.o.store.size} rules, its limit (signatures.maxActiveRules ${this.o.limits.maxActiveRules})`, 'max_rules');
      }
      if (settings && req.policy && this.o.store.all().filter((r) => r.policy === req.policy).length >= settings.maxRules) {
        throw new SignatureRefusedError(`refusing signature ${match.text}: policy ${req.policy} holds its limit of ${settings.maxRules} rules on this agent`, 'max_rules');
      }
    }
    const action = { ...req.action, ...(req.action.type === 'limit' && req.action.burst === undefined && req.action.ratePerSecond ? { burst: defaultBurst(req.action.ratePerSecond) } : {}) };
    const resolved = await this.resolve(id, match, action);
    const why = this.o.firewall.unsupported({ id, match, action: resolved.action, expiresAt: this.now() + 1000 });
    if (why) throw new SignatureRefusedError(`refusing signature ${match.text}: ${why}`, 'unsupported');

    const now = this.now();
    const seconds = Math.min(req.durationSeconds, this.o.limits.maxDurationSeconds, settings?.maxDurationSeconds ?? MAX_BAN_SECONDS);
    const wantUntil = expiry(now, seconds);
    const sameAction = existing && JSON.stringify(existing.action) === JSON.stringify(action);
    const until = existing ? Math.max(Date.parse(existing.expiresAt), wantUntil) : wantUntil;
    const pending: StoredSignature = {
      id,
      match,
      action,
      ...(req.vector ?? existing?.vector ? { vector: req.vector ?? existing?.vector } : {}),
      ...(req.label ?? existing?.label ? { label: (req.label ?? existing?.label)!.replace(PRINTABLE_LINE, ' ') } : {}),
      reason: (existing?.reason ?? req.reason).replace(PRINTABLE_LINE, ' ').slice(0, 1000),
      ...(existing?.policy ?? req.policy ? { policy: existing?.policy ?? req.policy } : {}),
      source: existing?.source ?? req.source,
      createdAt: existing && Date.parse(existing.expiresAt) > now ? existing.createdAt : new Date(now).toISOString(),
      expiresAt: new Date(until).toISOString(),
    };
    if (existing && Date.parse(existing.expiresAt) <= now) pending.reason = req.reason;
    const kind = !existing ? 'added' : !sameAction ? 'updated' : until > Date.parse(existing.expiresAt) + 500 ? 'extended' : 'unchanged';
    // Unchanged: the store, its file and the firewall's expiry stay as they are (an extension under half a second is none).
    if (kind === 'unchanged') return { pending: existing!, action: kind };
    this.o.store.put(pending);
    return { pending, action: kind };
  }

  /** The host's refusals: a victim this agent does not protect, a source on the never-block list. */
  private checkHost(text: string, destination: string, source: string | undefined): void {
    const dst = parseCidr(destination);
    const protectedHere = this.o.host.protectedDestinations().flatMap((c) => parseCidr(c) ?? []);
    if (!dst || !protectedHere.some((p) => cidrContains(p, dst))) {
      throw new SignatureRefusedError(
        `refusing signature ${text}: ${destination} is not an address this agent protects (${protectedHere.map(formatCidr).slice(0, 8).join(', ') || 'none'}${protectedHere.length > 8 ? ', ...' : ''})`,
        'not_protected',
      );
    }
    if (source === undefined) return;
    const src = parseCidr(source);
    if (!src) throw new SignatureRefusedError(`refusing signature ${text}: source is not an address or CIDR`, 'invalid');
    for (const nb of this.o.host.neverBlock()) {
      const c = parseCidr(nb.cidr);
      if (c && cidrOverlaps(c, src)) throw new SignatureRefusedError(`refusing signature ${text}: its source ${source} overlaps ${nb.label} ${nb.cidr} (never blocked)`, 'never_block');
    }
  }

  /** What the firewall can hold for this action here: synproxy needs a ready host, else its fallback limit. */
  private async resolve(id: string, match: StoredSignature['match'], action: SignatureAction): Promise<Applied> {
    switch (action.type) {
      case 'drop':
      case 'drop-invalid':
        return { action: { type: action.type }, text: actionText(action) };
      case 'limit': {
        const rate = action.ratePerSecond ?? 1;
        const burst = action.burst ?? defaultBurst(rate);
        return { action: { type: 'limit', ratePerSecond: rate, burst }, text: `limit ${rate}/s burst ${burst}` };
      }
      case 'synproxy': {
        if (this.o.backendName === 'pf') return { action: { type: 'synproxy', mss: 1460, wscale: 7, timestamp: true, sackPerm: true }, text: 'pf synproxy state' };
        const ready = await this.o.synproxy.readiness(match.destination);
        if (ready.ready) {
          const o = ready.options;
          return { action: { type: 'synproxy', ...o }, text: `synproxy mss ${o.mss} wscale ${o.wscale}${o.timestamp ? ' timestamp' : ''}${o.sackPerm ? ' sack-perm' : ''}` };
        }
        if (!action.ratePerSecond) throw new SignatureRefusedError(`refusing signature ${match.text}: synproxy is not ready here (${ready.reason}) and no fallback ratePerSecond was given`, 'unsupported');
        if (!this.applied.has(id)) this.logger.warn({ id, reason: ready.reason }, 'synproxy not ready: applying its fallback limit');
        const burst = defaultBurst(action.ratePerSecond);
        return { action: { type: 'limit', ratePerSecond: action.ratePerSecond, burst }, text: `limit ${action.ratePerSecond}/s burst ${burst} (synproxy not ready: ${ready.reason})` };
      }
    }
  }

  /** Remove one rule (and its helpers) by id; false when there was none. */
  remove(id: string, why = 'removed'): Promise<boolean> {
    return this.serial(async () => {
      const before = this.o.store.snapshot();
      const rule = this.o.store.get(id);
      if (!this.o.store.delete(id)) return false;
      try {
        await this.sync();
      } catch (err) {
        this.o.store.restore(before);
        throw err;
      }
      await this.o.store.save();
      this.logger.warn({ id, rule: rule?.match.text }, `signature rule ${why}`);
      return true;
    });
  }

  /** Set what a policy lets this agent do with its own verdicts (and its caps). */
  setPolicy(name: string, settings: SignaturePolicySettings): Promise<SignaturePolicySettings> {
    return this.serial(async () => {
      const before = JSON.stringify(this.o.store.policy(name));
      this.o.store.setPolicy(name, settings);
      if (before !== JSON.stringify(settings)) {
        await this.o.store.save();
        this.logger.info({ policy: name, ...settings }, 'signature settings of a policy');
      }
      return settings;
    });
  }

  policies(): Record<string, SignaturePolicySettings> {
    return this.o.store.policies();
  }

  /** Is the rule held, and until when (ms)? */
  heldUntil(id: string): number | undefined {
    const r = this.o.store.get(id);
    return r ? Date.parse(r.expiresAt) : undefined;
  }

  /** Active rules, oldest first, with their counters. */
  list(): SignatureRecord[] {
    const now = this.now();
    return this.o.store
      .all()
      .filter((r) => Date.parse(r.expiresAt) > now)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map((r) => this.record(r));
  }

  private record(r: StoredSignature): SignatureRecord {
    const c = this.counters.get(r.id);
    return {
      id: r.id,
      match: r.match,
      action: r.action,
      applied: this.applied.get(r.id)?.text ?? actionText(r.action),
      ...(r.vector ? { vector: r.vector } : {}),
      ...(r.label ? { label: r.label } : {}),
      reason: r.reason,
      ...(r.policy ? { policy: r.policy } : {}),
      source: r.source,
      createdAt: r.createdAt,
      expiresAt: r.expiresAt,
      durationSeconds: Math.max(0, Math.round((Date.parse(r.expiresAt) - Date.parse(r.createdAt)) / 1000)),
      backend: this.o.backendName,
      packets: c?.packets ?? 0,
      bytes: c?.bytes ?? 0,
      packetsPerSecond: Math.round((c?.pps ?? 0) * 10) / 10,
    };
  }

  /** Drop expired rules from the store (the caller syncs and saves). */
  private dropExpired(): number {
    const now = this.now();
    let n = 0;
    for (const r of this.o.store.all()) {
      if (Date.parse(r.expiresAt) > now) continue;
      this.o.store.delete(r.id);
      this.logger.info({ id: r.id, rule: r.match.text }, 'signature rule expired');
      n++;
    }
    return n;
  }

  /** Expire what is due, then wait for the next expiry (at most a minute, so a clock jump is caught). */
  private armExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const next = Math.min(...this.o.store.all().map((r) => Date.parse(r.expiresAt)));
    const delay = Number.isFinite(next) ? Math.max(50, Math.min(60_000, next - this.now() + 20)) : 60_000;
    this.expiryTimer = setTimeout(() => {
      void this.sweep()
        .catch((err: unknown) => this.logger.error({ err }, 'signature expiry failed'))
        .finally(() => this.armExpiry());
    }, delay);
    this.expiryTimer.unref();
  }

  /** Remove expired rules from the firewall and the store. */
  sweep(): Promise<number> {
    return this.serial(async () => {
      const n = this.dropExpired();
      if (n === 0) return 0;
      await this.sync();
      await this.o.store.save();
      return n;
    });
  }

  /** The never-block sources as a minimal cover (no entry inside another), canonical. */
  private exclusions(): string[] {
    const cidrs = [...new Set(this.o.host.neverBlock().flatMap((e) => {
      const c = parseCidr(e.cidr);
      return c ? [formatCidr(c)] : [];
    }))];
    const index = new CidrIndex(cidrs);
    return cidrs.filter((c) => index.coveredBy(c) === undefined).sort();
  }

  /** Make the firewall hold exactly the stored rules. */
  private async sync(): Promise<void> {
    const rules: FirewallSignature[] = [];
    const applied = new Map<string, Applied>();
    for (const r of this.o.store.all()) {
      const a = await this.resolve(r.id, r.match, r.action).catch((err: unknown) => {
        // A rule the host can no longer hold (synproxy off without fallback): dropped with a warning.
        this.logger.warn({ id: r.id, err: (err as Error).message }, 'signature rule cannot be held any more');
        return undefined;
      });
      if (!a) continue;
      rules.push({ id: r.id, match: r.match, action: a.action, expiresAt: Date.parse(r.expiresAt) });
      applied.set(r.id, a);
    }
    const exclude = this.exclusions();
    await this.o.firewall.sync(rules, exclude);
    this.applied = applied;
    this.lastExclude = exclude.join(',');
    this.metrics.active.set(rules.length);
    for (const id of this.counters.keys()) {
      if (applied.has(id)) continue;
      this.counters.delete(id);
      this.metrics.packets.remove({ rule: id });
    }
  }

  /** Compare the firewall with the store (and the never-block list with the host's) and repair. */
  reconcile(): Promise<boolean> {
    return this.serial(async () => {
      let changed = this.dropExpired() > 0;
      const held = new Set(await this.o.firewall.list());
      const want = this.o.store.all().map((r) => r.id);
      if (want.some((id) => !held.has(id)) || held.size !== want.length) changed = true;
      if (this.exclusions().join(',') !== this.lastExclude) changed = true;
      if (!changed) {
        // A fallback limit becomes synproxy once the host is ready (and back).
        for (const r of this.o.store.all()) {
          if (r.action.type !== 'synproxy') continue;
          const now = await this.resolve(r.id, r.match, r.action).catch(() => undefined);
          if (now?.text !== this.applied.get(r.id)?.text) changed = true;
        }
      }
      if (!changed) return false;
      await this.sync();
      await this.o.store.save();
      this.logger.info({ rules: want.length }, 'signature rules repaired in the firewall');
      return true;
    });
  }

  /** Read the counters: packets, and packets per second since the last reading. */
  async sample(): Promise<void> {
    if (this.o.store.size === 0) return;
    const read = await this.o.firewall.counters();
    const at = this.now();
    for (const [id, c] of read) {
      const prev = this.counters.get(id);
      const dt = prev ? (at - prev.at) / 1000 : 0;
      const pps = prev && dt > 0 && c.packets >= prev.packets ? (c.packets - prev.packets) / dt : (prev?.pps ?? 0);
      this.counters.set(id, { ...c, at, pps });
      if (this.o.store.get(id)) this.metrics.packets.set({ rule: id }, c.packets);
    }
  }
}

/**
 * Ranges the address policy never bans that are no packet's legitimate source
 * towards a protected address (RFC 1122: the unspecified address, multicast,
 * broadcast and class E are not source addresses; Linux drops most as
 * martians, after the rules). Signature rules do not spare them: a
 * random-source flood draws an eighth of its sources from 224.0.0.0/3, and
 * the bench measured ~12% of such floods getting past rules that spared them.
 * Loopback stays spared: a local process may use it to reach the host.
 */
const NEVER_A_SOURCE = new Set(['unspecified', 'multicast', 'broadcast', 'reserved']);

/** The never-block list and protected destinations from the agent's address policy and protect list. */
export function hostAddresses(policy: { protectedEntries(): { cidr: string; code: string; label: string }[] }, protect: readonly string[]): HostAddresses {
  return {
    neverBlock: () => policy.protectedEntries().filter((e) => !NEVER_A_SOURCE.has(e.code)).map((e) => ({ cidr: e.cidr, label: e.label })),
    protectedDestinations: () =>
      protect.flatMap((p) => {
        const c: Cidr | undefined = parseCidr(p);
        return c ? [formatCidr(c)] : [];
      }),
  };
}
