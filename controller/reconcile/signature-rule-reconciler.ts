// Reconciles SignatureRules: the SignatureRule adapter of the enforcement
// lifecycle (enforcement-lifecycle.ts decides, enforcement-reconciler.ts acts,
// as for BlockEvents). A SignatureRule's rule is pushed to every agent of its
// policy (or its spec.agent) for the rest of its window, with the policy's
// cap on its duration; deleting it removes the rule, helper rules included,
// from every agent. What the agents' counters say comes in from the
// signature sync (agent-signature-sync.ts) and is written to status here,
// the one writer of status.
import { AgentApiError } from '../../api/agent/v1/client.js';
import { actionText, normalizeMatch, signatureProblems } from '../../api/signature-rule.js';
import { SignatureRuleConditions, UNBLOCK_FINALIZER, type DefensePolicy, type SignatureRule } from '../../api/v1alpha1/index.js';
import type { AttackVector } from '../../detection/types.js';
import { EnforcementReconciler, type EnforcementAdapter, type EnforcementReconcilerDeps, type EnforcementStatus } from './enforcement-reconciler.js';
import { ruleIdOf } from './signature-rule-names.js';

/** What the agents' counters said of a rule at the last read (summed over its agents). */
export interface ObservedCounters {
  packets: number;
  pps: number;
  agents: number;
  applied?: string;
}

const VECTORS = new Set<string>(['syn_flood', 'synack_reflection', 'ack_flood', 'rst_flood', 'tcp_flag_anomaly', 'tcp_flood', 'udp_amplification', 'udp_flood', 'icmp_flood', 'fragment_flood', 'ip_protocol_flood', 'generic']);

function oneLine(s: string | undefined, max: number): string | undefined {
  const t = s?.replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').trim();
  return t ? t.slice(0, max) : undefined;
}

/** The rule in words for status.rule: "udp sport 161 to 10.0.0.5: drop". */
export function ruleText(sr: SignatureRule): string {
  return `${normalizeMatch(sr.spec.signature).text}: ${actionText(sr.spec.action)}`.slice(0, 400);
}

export function signatureRuleAdapter(counters: (key: string) => ObservedCounters | undefined): EnforcementAdapter<SignatureRule> {
  return {
    kind: 'SignatureRule',
    finalizer: UNBLOCK_FINALIZER,
    conditionType: SignatureRuleConditions.Applied,
    describe: (sr) => `signature rule "${normalizeMatch(sr.spec.signature).text}"`,
    async apply(agent, sr, seconds, policy: DefensePolicy | undefined) {
      const problems = signatureProblems(normalizeMatch(sr.spec.signature), sr.spec.action);
      // Not sent anywhere: a rule that would hurt the service is refused here, for every agent alike.
      if (problems.length) throw new AgentApiError(`refusing signature ${normalizeMatch(sr.spec.signature).text}: ${problems.join('; ')}`, 'refused');
      const cap = policy?.spec.mitigation.signatureLimits.maxDurationSeconds;
      const vector = sr.spec.vector && VECTORS.has(sr.spec.vector) ? (sr.spec.vector as AttackVector) : undefined;
      const r = await agent.addSignature({
        match: sr.spec.signature,
        action: sr.spec.action,
        durationSeconds: Math.max(1, cap !== undefined ? Math.min(seconds, cap) : seconds),
        reason: oneLine(sr.spec.reason, 200) ?? `SignatureRule ${sr.metadata.name}`.slice(0, 200),
        ...(policy?.metadata.name ? { policy: policy.metadata.name } : {}),
        ...(vector ? { vector } : {}),
        ...(oneLine(sr.spec.label, 200) ? { label: oneLine(sr.spec.label, 200) } : {}),
      });
      return { expiresAt: Date.parse(r.rule.expiresAt), backend: r.rule.backend, applied: r.rule.applied };
    },
    async remove(agent, sr) {
      await agent.removeSignature(ruleIdOf(sr));
    },
    extraStatus(sr, held) {
      return { rule: ruleText(sr), ...(held?.backend ? { backend: held.backend } : {}), ...(held?.applied ? { applied: held.applied.slice(0, 300) } : {}) } as Partial<EnforcementStatus>;
    },
    observed(sr, key) {
      const c = counters(key);
      if (!c) return undefined;
      return {
        packetsDropped: Math.round(c.packets),
        dropRatePps: Math.round(c.pps * 10) / 10,
        agentsHolding: c.agents,
        ...(c.applied ? { applied: c.applied.slice(0, 300) } : {}),
        rule: ruleText(sr),
      } as Partial<EnforcementStatus>;
    },
  };
}

export type SignatureRuleReconcilerDeps = Omit<EnforcementReconcilerDeps<SignatureRule>, 'objects' | 'get'> & {
  signatureRules: EnforcementReconcilerDeps<SignatureRule>['objects'];
  getSignatureRule: (key: string) => SignatureRule | undefined;
  /** The agents' counters of a rule, by object key (from the signature sync). */
  counters: (key: string) => ObservedCounters | undefined;
};

export class SignatureRuleReconciler extends EnforcementReconciler<SignatureRule> {
  constructor(deps: SignatureRuleReconcilerDeps) {
    super({ ...deps, objects: deps.signatureRules, get: deps.getSignatureRule }, signatureRuleAdapter(deps.counters));
  }
}
