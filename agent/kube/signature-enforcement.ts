// SignatureRules → this agent's signature rules: the signature sink of the
// enforcement (enforcement.ts), through the signature domain's one entry point
// (SignatureService.applySignatures, which the HTTP API and auto-defense use
// too). A rule that would hurt the service (api/signature-rule.ts's
// signatureProblems) is refused here as the controller refuses it; the
// policy's signatureLimits.maxDurationSeconds caps the window.
import type { Logger } from 'pino';
import type { SignatureRequest, SignatureSource } from '../../api/agent/v1/types.js';
import { normalizeMatch, signatureProblems } from '../../api/signature-rule.js';
import type { SignatureRule } from '../../api/v1alpha1/index.js';
import type { AttackVector } from '../../detection/types.js';
import type { SignatureService } from '../signatures/signature-service-port.js';
import type { AgentSelf } from './agent-self.js';
import { Enforcement, type Applied, type EnforcementSink } from './enforcement.js';

export type SignatureSink = Pick<SignatureService, 'applySignatures' | 'remove' | 'list'>;

type RuleAsk = Omit<SignatureRequest, 'durationSeconds'> & { source: SignatureSource };

function oneLine(s: string | undefined, max: number): string | undefined {
  const t = s?.replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').trim();
  return t ? t.slice(0, max) : undefined;
}

export function signatureSink(signatures: SignatureSink): EnforcementSink<SignatureRule, RuleAsk> {
  return {
    kind: 'SignatureRule',
    until: (_sr, policy, w) => {
      const cap = policy?.spec.mitigation.signatureLimits?.maxDurationSeconds;
      return cap !== undefined ? w.start + cap * 1000 : w.end;
    },
    request(sr, policy) {
      const match = normalizeMatch(sr.spec.signature);
      const problems = signatureProblems(match, sr.spec.action);
      if (problems.length) return `refusing signature ${match.text}: ${problems.join('; ')}`;
      return {
        match: sr.spec.signature,
        action: sr.spec.action,
        reason: oneLine(sr.spec.reason, 200) ?? `SignatureRule ${sr.metadata.namespace}/${sr.metadata.name}`.slice(0, 200),
        ...(policy?.metadata.name ? { policy: policy.metadata.name } : {}),
        ...(sr.spec.vector ? { vector: sr.spec.vector as AttackVector } : {}),
        ...(oneLine(sr.spec.label, 200) ? { label: oneLine(sr.spec.label, 200) } : {}),
        source: 'controller',
      };
    },
    async apply(asked) {
      const outcomes = await signatures.applySignatures(asked.map((a) => ({ ...a.request, durationSeconds: a.seconds })));
      return outcomes.map((o): Applied => (o.ok ? { ok: true, id: o.rule.id } : { ok: false, message: o.error }));
    },
    async remove(id) {
      await signatures.remove(id);
    },
    current: () => new Map(signatures.list().map((r) => [r.id, { source: r.source }])),
  };
}

export class SignatureEnforcement extends Enforcement<SignatureRule, RuleAsk> {
  constructor(deps: { self: AgentSelf; signatures: SignatureSink; logger: Logger; now?: () => number }) {
    super(signatureSink(deps.signatures), deps);
  }
}
