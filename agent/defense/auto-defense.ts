// Continuous detection and the optional auto-defense: on every finished slot,
// judge the last `windowSeconds` against the learned baselines and record any
// attack in the history (GET /v1/attacks); with auto-defense enabled, also ban
// each new attacker through the ban service. Slots close every 100 ms by
// default, so a flood is named and banned within a few slots of starting; the
// controller can drive the same steps through the API instead.
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { analyzeWindow } from '../../detection/analyze.js';
import type { BaselineLookup } from '../../detection/baseline.js';
import type { AttackerEvidence, DetectionThresholds } from '../../detection/types.js';
import { BanRefusedError, type BanService } from '../bans/ban-service-port.js';
import type { SlotRing } from '../traffic/slot-ring.js';
import { BlockedMatcher } from '../traffic/blocked-matcher.js';
import type { AttackHistory } from './attack-history.js';
import { planRules, type PlannedRule, type SignatureMode } from '../../mitigation/plan.js';
import type { Verdict } from '../../detection/types.js';
import type { SignatureService } from '../signatures/signature-service-port.js';

export interface AutoDefensePolicy {
  enabled: boolean;
  windowSeconds: number;
  banDurationSeconds: number;
  thresholds: Partial<DetectionThresholds>;
}

export interface AutoDefenseDeps {
  ring: SlotRing;
  bans: BanService;
  history: AttackHistory;
  logger: Logger;
  registry: Registry;
  /** The protected addresses' learned baselines (none: floors and ceilings only). */
  baselines?: BaselineLookup;
  /** Signature rules for the floods per-IP bans cannot stop (absent: none are planned). */
  signatures?: SignatureService;
  /** What the agent may do with the rules its verdicts call for, and for whom (config, or a policy that said auto). */
  signatureMode?: () => { mode: SignatureMode; policy?: string; durationSeconds: number };
  now?: () => number;
}

/** Shortest coverage judged: the first slots of a capture may cover a few ms, and a burst is not a rate. */
const MIN_COVER_SECONDS = 0.2;

/** The ban reason: rules, rate and share first (tools parse them), then the vector. */
export function autoBanReason(a: AttackerEvidence): string {
  const base = `auto-defense: ${a.rules.join('+')}, ${Math.round(a.pps)} pps, ${(a.share * 100).toFixed(1)}% of inbound`;
  return (a.vectorLabel ? `${base}; ${a.vectorLabel}` : base).slice(0, 200);
}

/** Don't retry a refused address on every slot: once per this long. */
const REFUSAL_BACKOFF_MS = 30_000;

export class AutoDefense {
  private running = false;
  private pending = false;
  private refusedUntil = new Map<string, number>();
  private signatureWarned = new Set<number>();
  private announced = new Set<number>();
  private readonly evaluations: Counter;
  private readonly autoBans: Counter;
  private readonly reaction: Histogram;
  private readonly signatureReaction: Histogram;
  private readonly autoSignatures: Counter;
  /** Plans already logged as proposals (by id), and rules refused (id -> retry after). */
  private proposed = new Set<string>();
  private signatureRefusedUntil = new Map<string, number>();

  constructor(
    private readonly deps: AutoDefenseDeps,
    private policy: AutoDefensePolicy,
  ) {
    const r = deps.registry;
    this.evaluations = new Counter({ name: 'floodgate_auto_defense_evaluations_total', help: 'Auto-defense evaluations, by result', labelNames: ['result'], registers: [r] });
    this.autoBans = new Counter({ name: 'floodgate_auto_bans_total', help: 'Bans placed by auto-defense, by outcome', labelNames: ['outcome'], registers: [r] });
    this.reaction = new Histogram({
      name: 'floodgate_auto_ban_seconds',
      help: 'From the end of the slot that showed an attacker to its ban being in place',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [r],
    });
    this.signatureReaction = new Histogram({
      name: 'floodgate_auto_signature_seconds',
      help: 'From the end of the slot that showed a flood to its signature rule being in the firewall',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [r],
    });
    this.autoSignatures = new Counter({ name: 'floodgate_auto_signatures_total', help: 'Signature rules applied by the agent from its own verdicts, by outcome', labelNames: ['outcome'], registers: [r] });
  }

  setPolicy(policy: AutoDefensePolicy): void {
    this.policy = policy;
  }

  getPolicy(): AutoDefensePolicy {
    return this.policy;
  }

  /** Called for every finished slot; evaluations never overlap, a busy loop coalesces. */
  onSlot(): void {
    if (this.running) {
      this.pending = true;
      return;
    }
    void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      do {
        this.pending = false;
        await this.evaluate();
      } while (this.pending);
    } catch (err) {
      this.deps.logger.error({ err }, 'auto-defense evaluation failed');
    } finally {
      this.running = false;
    }
  }

  /** One evaluation; exported for tests. Returns the addresses banned (none unless auto-defense is enabled). */
  async evaluate(): Promise<string[]> {
    const { ring, bans, logger, history } = this.deps;
    const now = (this.deps.now ?? Date.now)();
    // Rates divide by the time the slots cover; a few ms at the very start are no rate yet.
    if (ring.spanSeconds() < Math.min(this.policy.windowSeconds, MIN_COVER_SECONDS)) return [];
    const slots = ring.window(this.policy.windowSeconds);
    const matcher = new BlockedMatcher(bans.list().map((b) => b.cidr));
    const verdict = analyzeWindow(slots, this.policy.thresholds, { blocked: (ip) => matcher.has(ip), baselines: this.deps.baselines });
    this.evaluations.inc({ result: verdict.underAttack ? 'attack' : 'clean' });
    // Signature rules first: a spoofed flood has no attacker to ban, and every slot counts.
    if (verdict.underAttack && this.deps.signatures) await this.signatures(verdict, now, slots.at(-1)?.end);
    const banned: string[] = [];
    for (const a of this.policy.enabled ? verdict.attackers : []) {
      if ((this.refusedUntil.get(a.ip) ?? 0) > now) continue;
      try {
        await bans.block({
          cidr: a.ip,
          durationSeconds: this.policy.banDurationSeconds,
          reason: autoBanReason(a),
          policy: 'auto-defense',
          source: 'auto',
        });
        banned.push(a.ip);
        this.autoBans.inc({ outcome: 'banned' });
        this.reaction.observe(Math.max(0, (Date.now() - (slots.at(-1)?.end ?? Date.now())) / 1000));
        logger.warn({ ip: a.ip, rules: a.rules, pps: Math.round(a.pps), share: a.share, vector: a.vectorLabel }, 'auto-defense banned an attacker');
      } catch (err) {
        this.autoBans.inc({ outcome: 'refused' });
        this.refusedUntil.set(a.ip, now + REFUSAL_BACKOFF_MS);
        const msg = err instanceof BanRefusedError ? err.message : (err as Error).message;
        logger.warn({ ip: a.ip, reason: msg }, 'auto-defense could not ban');
      }
    }
    const rec = history.observe(verdict, now, banned);
    if (rec && !this.announced.has(rec.id)) {
      if (this.announced.size >= 256) this.announced.clear();
      this.announced.add(rec.id);
      logger.warn({ victims: rec.victims, vectors: rec.vectorDetails.map((x) => x.label), explanation: verdict.victims[0]?.explanation }, 'attack detected');
    }
    // Once per attack, not on every slot of a long flood.
    if (rec && rec.signatureRuleNeeded && !this.signatureWarned.has(rec.id)) {
      if (this.signatureWarned.size >= 256) this.signatureWarned.clear(); // ids only grow; old ones are done
      this.signatureWarned.add(rec.id);
      logger.warn({ victims: rec.victims, signatures: rec.signatures }, 'attack needs a signature rule: per-IP bans cannot stop it');
    }
    for (const [ip, until] of this.refusedUntil) if (until <= now) this.refusedUntil.delete(ip);
    for (const [id, until] of this.signatureRefusedUntil) if (until <= now) this.signatureRefusedUntil.delete(id);
    return banned;
  }

  /**
   * The rules this verdict calls for (mitigation/plan.ts): applied when the
   * agent's mode (or a policy's) is auto and the rule is safe to apply
   * unattended, extended while the flood lasts; otherwise logged once as
   * proposals.
   */
  private async signatures(verdict: Verdict, now: number, slotEnd: number | undefined): Promise<void> {
    const service = this.deps.signatures!;
    const mode = this.deps.signatureMode?.() ?? { mode: 'propose' as const, durationSeconds: 300 };
    if (mode.mode === 'disabled') return;
    const plans = planRules(verdict);
    const propose = (p: PlannedRule, why: string) => {
      if (this.proposed.has(p.id)) return;
      if (this.proposed.size >= 1024) this.proposed.clear();
      this.proposed.add(p.id);
      this.deps.logger.warn({ id: p.id, rule: p.match.text, action: p.action, vector: p.label, why }, 'signature rule proposed');
    };
    const due: PlannedRule[] = [];
    for (const p of plans) {
      if (mode.mode === 'propose') propose(p, 'signatures: propose');
      else if (!p.auto) propose(p, p.proposeOnly ?? 'not applied automatically');
      else if ((this.signatureRefusedUntil.get(p.id) ?? 0) > now) continue;
      else {
        // Extend a held rule once half of its time is gone, not on every slot.
        const held = service.heldUntil(p.id);
        if (held === undefined || held - now < (mode.durationSeconds * 1000) / 2) due.push(p);
      }
    }
    if (due.length === 0) return;
    const outcomes = await service.applySignatures(
      due.map((p) => ({
        match: p.match,
        action: p.action,
        durationSeconds: mode.durationSeconds,
        reason: `auto-defense: ${p.reason}`.slice(0, 200),
        vector: p.vector,
        label: p.label,
        ...(mode.policy ? { policy: mode.policy } : {}),
        source: 'auto' as const,
      })),
    );
    outcomes.forEach((o, i) => {
      const p = due[i]!;
      if (o.ok) {
        this.autoSignatures.inc({ outcome: o.action });
        if (o.action === 'added' && slotEnd !== undefined) this.signatureReaction.observe(Math.max(0, (Date.now() - slotEnd) / 1000));
        return;
      }
      this.autoSignatures.inc({ outcome: 'refused' });
      this.signatureRefusedUntil.set(p.id, now + REFUSAL_BACKOFF_MS);
      this.deps.logger.warn({ id: p.id, rule: p.match.text, code: o.code, reason: o.error }, 'auto-defense could not apply a signature rule');
    });
  }
}
