// The controller's side of "stop what is detected": from the agents'
// verdicts of one defense run, the signature rules the attack calls for
// (mitigation/plan.ts, the same planner the agents run), turned into
// SignatureRules when the policy says auto and the rule is safe to apply
// unattended, extended while the attack lasts, and otherwise proposed
// (status.lastAnalysis.signatures and a SignatureProposed Event). Writes
// spec and annotations only; the SignatureRule reconciler does the rest.
import type { Logger } from 'pino';
import { expiry, MAX_BAN_SECONDS } from '../../api/ban-time.js';
import { actionText } from '../../api/signature-rule.js';
import type { DefensePolicy, DefensePolicyLastAnalysis, SignatureRule } from '../../api/v1alpha1/index.js';
import type { Verdict } from '../../detection/types.js';
import { planRules, type PlannedRule } from '../../mitigation/plan.js';
import type { EventRecorder } from '../../kube/event-recorder.js';
import { httpStatus, type NamespacedName } from '../../kube/resource-client.js';
import { banWindow, LifecycleAnnotations, rfc3339 } from './enforcement-lifecycle.js';
import { lifecycleViewOf } from './enforcement-reconciler.js';
import { findSignatureRule, newSignatureRule, signatureRuleName } from './signature-rule-names.js';

export type SignatureEntry = NonNullable<DefensePolicyLastAnalysis['signatures']>[number];

export interface SignatureRulesFromVerdictDeps {
  signatureRules: {
    create(namespace: string, body: SignatureRule): Promise<SignatureRule>;
    patch(ref: NamespacedName, body: object): Promise<SignatureRule>;
  };
  listSignatureRules: () => SignatureRule[];
  events: Pick<EventRecorder, 'event' | 'warning'>;
  logger: Logger;
  now?: () => number;
}

/** A proposal is announced (Event) at most once per this long per policy and rule. */
const PROPOSAL_EVENT_MS = 10 * 60_000;

export class SignatureRulesFromVerdict {
  private announced = new Map<string, number>();

  constructor(private readonly deps: SignatureRulesFromVerdictDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Plan, then create/extend or propose. Returns the entries for status and the rules created or extended. */
  async record(policy: DefensePolicy, verdicts: readonly Verdict[]): Promise<{ entries: SignatureEntry[]; created: string[]; extended: string[]; errors: string[] }> {
    const out = { entries: [] as SignatureEntry[], created: [] as string[], extended: [] as string[], errors: [] as string[] };
    const { mitigation } = policy.spec;
    if (mitigation.signatures === 'disabled') return out;
    // observe blocks nothing: its auto only proposes.
    const mode = mitigation.mode === 'observe' ? 'propose' : mitigation.signatures;
    const plans = new Map<string, PlannedRule>();
    for (const v of verdicts) for (const p of planRules(v)) if (!plans.has(p.id)) plans.set(p.id, p);
    if (plans.size === 0) return out;

    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    const mine = this.deps.listSignatureRules().filter((r) => r.metadata.namespace === ns && r.spec.policyRef?.name === name);
    let active = mine.filter((r) => !r.metadata.deletionTimestamp && (!r.status?.phase || r.status.phase === 'Active' || r.status.phase === 'Pending')).length;
    const limits = mitigation.signatureLimits;
    const duration = Math.min(limits.durationSeconds, limits.maxDurationSeconds);
    const now = this.now();

    for (const p of [...plans.values()].slice(0, 32)) {
      const entry: SignatureEntry = { rule: `${p.match.text}: ${actionText(p.action)}`.slice(0, 400), vector: p.label.slice(0, 200), applied: false };
      out.entries.push(entry);
      if (mode !== 'auto' || !p.auto) {
        entry.why = (mode !== 'auto' ? `signatures: ${mode}` : (p.proposeOnly ?? 'not applied automatically')).slice(0, 400);
        this.propose(policy, p, entry.why);
        continue;
      }
      const existing = findSignatureRule((_ns, n) => mine.find((r) => r.metadata.name === n), () => mine, ns, name, p.id);
      const srName = existing?.metadata.name ?? signatureRuleName(name, p.id);
      const ref = { namespace: ns, name: srName };
      const spec = { durationSeconds: duration, reason: p.reason, vector: p.vector, label: p.label };
      try {
        if (!existing) {
          if (active >= limits.maxActive) {
            entry.why = `signatureLimits.maxActive ${limits.maxActive} reached`;
            void this.deps.events.warning(policy, 'MaxSignatureRules', `not applying ${entry.rule}: ${entry.why}`);
            continue;
          }
          await this.deps.signatureRules.create(ns, newSignatureRule(policy, { signature: p.match, action: p.action, ...spec }, { labels: { 'floodgate.dev/source': 'controller' } }));
          active++;
          out.created.push(srName);
          entry.applied = true;
          continue;
        }
        if (existing.metadata.deletionTimestamp) {
          entry.why = 'its SignatureRule is being deleted';
          continue;
        }
        const phase = existing.status?.phase;
        if (phase === 'Failed') {
          entry.why = `its agents refused it: ${existing.status?.message ?? ''}`.slice(0, 400);
          continue;
        }
        entry.applied = true;
        if (phase === 'Expired' || phase === 'Released') {
          if (active >= limits.maxActive) {
            entry.applied = false;
            entry.why = `signatureLimits.maxActive ${limits.maxActive} reached`;
            continue;
          }
          // The attack is back: a new window on the same object.
          await this.deps.signatureRules.patch(ref, { metadata: { annotations: { [LifecycleAnnotations.banStart]: rfc3339(now) } }, spec });
          active++;
          out.extended.push(srName);
          continue;
        }
        // Held (or on its way): make it last `duration` from now once half of it is gone.
        const window = banWindow(lifecycleViewOf(existing, now));
        if (window.heldUntil - now > (duration * 1000) / 2) continue;
        const wantEnd = expiry(now, duration);
        const seconds = Math.ceil((wantEnd - window.start) / 1000);
        await this.deps.signatureRules.patch(
          ref,
          seconds <= Math.min(MAX_BAN_SECONDS, limits.maxDurationSeconds)
            ? { spec: { durationSeconds: seconds } }
            : { metadata: { annotations: { [LifecycleAnnotations.banStart]: rfc3339(now) } }, spec: { durationSeconds: duration } },
        );
        out.extended.push(srName);
      } catch (err) {
        if (httpStatus(err) === 409) continue; // an agent's own rule was recorded meanwhile: the same object
        out.errors.push(`${srName}: ${(err as Error).message}`);
      }
    }
    return out;
  }

  /** One Event per rule and policy per ten minutes: the rule, its action, and why it is not applied. */
  private propose(policy: DefensePolicy, p: PlannedRule, why: string): void {
    const key = `${policy.metadata.namespace}/${policy.metadata.name}/${p.id}`;
    const now = this.now();
    if ((this.announced.get(key) ?? 0) > now) return;
    if (this.announced.size > 4096) this.announced.clear();
    this.announced.set(key, now + PROPOSAL_EVENT_MS);
    void this.deps.events.event(
      policy,
      'Normal',
      'SignatureProposed',
      `${p.label}: ${p.match.text}: ${actionText(p.action)} (${why})`.slice(0, 1000),
    );
  }
}
