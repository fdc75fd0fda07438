// Reconciles BlockEvents: the BlockEvent adapter of the enforcement lifecycle
// (enforcement-lifecycle.ts decides, enforcement-reconciler.ts acts). A
// BlockEvent's ban is one address or CIDR on every agent of its policy (or on
// its spec.agent), pushed for the rest of its window; agents treat a repeat
// as "keep", so a restarted controller re-pushes without duplicates.
import { UNBLOCK_FINALIZER, BlockEventConditions, type BlockEvent } from '../../api/v1alpha1/index.js';
import {
  EnforcementReconciler,
  type EnforcementAdapter,
  type EnforcementReconcilerDeps,
} from './enforcement-reconciler.js';

export { RetryableError, type ReconcileResult } from './enforcement-reconciler.js';

/** Ban reasons are one printable line of at most 200 characters on the agent. */
function agentReason(be: BlockEvent): string {
  return (be.spec.reason || `BlockEvent ${be.metadata.name}`).replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').trim().slice(0, 200) || `BlockEvent ${be.metadata.name}`;
}

export const blockEventAdapter: EnforcementAdapter<BlockEvent> = {
  kind: 'BlockEvent',
  finalizer: UNBLOCK_FINALIZER,
  conditionType: BlockEventConditions.Blocked,
  describe: (be) => be.spec.ip,
  async apply(agent, be, seconds, policy) {
    const target = be.spec.ip.includes('/') ? { cidr: be.spec.ip } : { ip: be.spec.ip };
    const ban = await agent.block({
      ...target,
      durationSeconds: seconds,
      reason: agentReason(be),
      ...(policy?.metadata.name ? { policy: policy.metadata.name } : {}),
    });
    return { expiresAt: Date.parse(ban.expiresAt), backend: ban.backend, offenceCount: ban.offenceCount };
  },
  async remove(agent, be) {
    await agent.unblock(be.spec.ip);
  },
  extraStatus(be, held) {
    // The policy counts offences (it escalates); an agent's count is the fallback for hand-made ones.
    const counted = Number(be.metadata.annotations?.['floodgate.dev/offences']);
    const offenceCount = Number.isInteger(counted) && counted > 0 ? counted : held?.offenceCount;
    return { ...(held?.backend ? { backend: held.backend } : {}), ...(offenceCount ? { offenceCount } : {}) };
  },
};

export type BlockEventReconcilerDeps = Omit<EnforcementReconcilerDeps<BlockEvent>, 'objects' | 'get'> & {
  blockEvents: EnforcementReconcilerDeps<BlockEvent>['objects'];
  getBlockEvent: (key: string) => BlockEvent | undefined;
};

export class BlockEventReconciler extends EnforcementReconciler<BlockEvent> {
  constructor(deps: BlockEventReconcilerDeps) {
    super({ ...deps, objects: deps.blockEvents, get: deps.getBlockEvent }, blockEventAdapter);
  }
}
