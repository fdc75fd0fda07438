// BlockEvents → this agent's bans: the ban sink of the enforcement
// (enforcement.ts). A BlockEvent's ban is its spec.ip, held through the ban
// manager (source "controller", policy the BlockEvent's policy) until its
// window ends; an IPv6 address is held as its /64, as the ban manager widens it.
import type { Logger } from 'pino';
import type { BlockEvent } from '../../api/v1alpha1/index.js';
import type { BanService, BlockRequest } from '../bans/ban-service-port.js';
import type { AgentSelf } from './agent-self.js';
import { Enforcement, type Applied, type EnforcementSink } from './enforcement.js';

export type { EnforcementState } from './enforcement.js';

/** What the enforcement needs of the ban domain. */
export type BanSink = Pick<BanService, 'blockMany' | 'unblock' | 'list'>;

function reasonOf(be: BlockEvent): string {
  return (be.spec.reason || `BlockEvent ${be.metadata.namespace}/${be.metadata.name}`).replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').trim().slice(0, 200);
}

type BanAsk = Omit<BlockRequest, 'durationSeconds'>;

export function banSink(bans: BanSink, self: AgentSelf): EnforcementSink<BlockEvent, BanAsk> {
  return {
    kind: 'BlockEvent',
    request: (be) => ({ cidr: be.spec.ip, reason: reasonOf(be), policy: (be.spec.policyRef?.name ?? `node/${self.node}`).slice(0, 200), source: 'controller' }),
    async apply(asked) {
      const { results, applied } = await bans.blockMany(asked.map((a) => ({ ...a.request, durationSeconds: a.seconds })));
      await applied; // held only once it is in the firewall and on disk
      return results.map((r): Applied => (r.ok ? { ok: true, id: r.cidr } : { ok: false, message: r.error }));
    },
    async remove(cidr) {
      await bans.unblock(cidr);
    },
    current: () => new Map(bans.list().map((b) => [b.cidr, { source: b.source }])),
  };
}

export class BanEnforcement extends Enforcement<BlockEvent, BanAsk> {
  constructor(deps: { self: AgentSelf; bans: BanSink; logger: Logger; now?: () => number }) {
    super(banSink(deps.bans, deps.self), deps);
  }
}
