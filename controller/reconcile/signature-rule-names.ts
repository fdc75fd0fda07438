// SignatureRules the controller creates (from a verdict, or recorded from an
// agent's own rule): one object per (policy, rule id), named
// "<policy>-sig-<id>", where the id is the hash of the normalised match
// (api/signature-rule.ts). The agent uses the same id, so the controller's
// rule, an agent's rule for the same match, and a restarted controller all
// meet on one object. Owned by the policy: deleting it garbage-collects them.
import { API_VERSION, type DefensePolicy, type SignatureRule, type SignatureRuleSpec } from '../../api/v1alpha1/index.js';
import { normalizeMatch, signatureId } from '../../api/signature-rule.js';

/** The SignatureRule name of rule `id` under `policy`. */
export function signatureRuleName(policy: string, id: string): string {
  return `${policy.slice(0, 253 - 21).replace(/[-.]+$/, '')}-sig-${id}`;
}

/** The rule id of a SignatureRule: the hash of its normalised match. */
export function ruleIdOf(sr: Pick<SignatureRule, 'spec'>): string {
  return signatureId(sr.spec.signature);
}

/** A new SignatureRule under `policy`, owned by it. */
export function newSignatureRule(
  policy: DefensePolicy,
  spec: Omit<SignatureRuleSpec, 'policyRef'>,
  meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): SignatureRule {
  const policyName = policy.metadata.name ?? '';
  const signature = normalizeMatch(spec.signature);
  return {
    apiVersion: API_VERSION,
    kind: 'SignatureRule',
    metadata: {
      name: signatureRuleName(policyName, signatureId(signature)),
      namespace: policy.metadata.namespace ?? 'default',
      labels: { 'floodgate.dev/policy': policyName, ...meta.labels },
      annotations: { ...meta.annotations },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'DefensePolicy', name: policyName, uid: policy.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: { ...spec, signature, policyRef: { name: policyName } },
  };
}

/**
 * The policy's SignatureRule of rule `id`: the one under its own name, else
 * any of the policy's (a hand-made one has a name of its own) whose match has
 * that id. A deleting object counts: its removal is on its way.
 */
export function findSignatureRule(
  get: (namespace: string, name: string) => SignatureRule | undefined,
  list: () => SignatureRule[],
  namespace: string,
  policy: string,
  id: string,
): SignatureRule | undefined {
  const named = get(namespace, signatureRuleName(policy, id));
  if (named) return named;
  return list().find((r) => r.metadata.namespace === namespace && r.spec.policyRef?.name === policy && ruleIdOf(r) === id);
}
