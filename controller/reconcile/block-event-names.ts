// BlockEvents the controller creates: deterministic names, one object per
// (policy, address), so a repeated attack extends the existing BlockEvent
// instead of duplicating it, also across controller restarts; owned by their
// policy so deleting the policy garbage-collects them.
import { createHash } from 'node:crypto';
import { API_VERSION, type BlockEvent, type BlockEventSpec, type DefensePolicy } from '../../api/v1alpha1/index.js';

export function blockEventName(policy: string, ip: string): string {
  const slug = ip.toLowerCase().replace(/[^0-9a-z]+/g, '-').replace(/^-|-$/g, '');
  const base = `${policy}-${slug}`;
  if (base.length <= 253 - 9) return base;
  const hash = createHash('sha256').update(`${policy}/${ip}`).digest('hex').slice(0, 8);
  return `${base.slice(0, 240)}-${hash}`;
}

/** A new BlockEvent for `spec.ip` under `policy`, owned by it. */
export function newBlockEvent(policy: DefensePolicy, spec: Omit<BlockEventSpec, 'policyRef'>, meta: { offences: number; labels?: Record<string, string> }): BlockEvent {
  const name = policy.metadata.name ?? '';
  return {
    apiVersion: API_VERSION,
    kind: 'BlockEvent',
    metadata: {
      name: blockEventName(name, spec.ip),
      namespace: policy.metadata.namespace ?? 'default',
      labels: { 'floodgate.dev/policy': name, ...meta.labels },
      annotations: { 'floodgate.dev/offences': String(meta.offences) },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'DefensePolicy', name, uid: policy.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: { ...spec, policyRef: { name } },
  };
}
