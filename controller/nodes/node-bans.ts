// What the FloodgateNode reports say the controller must record, for the
// agents that watch the API server (their bans are not polled over HTTP):
//   - an own ban (auto-defense, the agent's API) becomes a BlockEvent of each
//     policy that selects the node, bound to the node (spec.agent
//     "node/<node>"), through the same recorder as the HTTP ban sync
//     (reconcile/ban-recorder.ts);
//   - an own ban that leaves the report before its expiry marks its Active
//     BlockEvents released;
//   - a ban the node held for a BlockEvent and lost before its end (an
//     operator removed it there) marks that BlockEvent released, for the
//     window the node names; the reconciler then releases it everywhere.
// Bans that could not be settled yet (a BlockEvent just deleted, a failed
// write) are looked at again every retryMs.
import type { Logger } from 'pino';
import type { BanRecord } from '../../api/agent/v1/types.js';
import { LifecycleAnnotations, banWindow } from '../../api/ban-window.js';
import type { BlockEvent, DefensePolicy, ReportedOwnBan } from '../../api/v1alpha1/index.js';
import { httpStatus, type NamespacedName } from '../../kube/resource-client.js';
import type { BanRecorder } from '../reconcile/ban-recorder.js';
import { EXPIRY_SLACK_MS } from '../reconcile/ban-recorder.js';
import type { NodeEntry } from './node-reports.js';

export interface NodeBansDeps {
  recorder: Pick<BanRecorder, 'consider' | 'removedEarly'>;
  getPolicy: (namespace: string, name: string) => DefensePolicy | undefined;
  getBlockEvent: (namespace: string, name: string) => BlockEvent | undefined;
  blockEvents: { patch(ref: NamespacedName, body: object): Promise<BlockEvent> };
  logger: Logger;
  now?: () => number;
}

function toBanRecord(ban: ReportedOwnBan, backend: string): BanRecord {
  return {
    cidr: ban.cidr,
    family: ban.cidr.includes(':') ? 6 : 4,
    reason: ban.reason,
    policy: '',
    source: ban.source,
    createdAt: ban.createdAt,
    expiresAt: ban.expiresAt,
    offenceCount: ban.offenceCount,
    durationSeconds: Math.max(1, Math.round((Date.parse(ban.expiresAt) - Date.parse(ban.createdAt)) / 1000)),
    backend,
  };
}

export class NodeBans {
  /** Node → CIDR → expiry of the own bans its last processed report listed. */
  private readonly known = new Map<string, Map<string, number>>();
  /** Nodes with bans not settled yet. */
  readonly unsettled = new Set<string>();

  constructor(private readonly deps: NodeBansDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  forget(node: string): void {
    this.known.delete(node);
    this.unsettled.delete(node);
  }

  /** Settle one node's report; resolves with the number of BlockEvents created or renewed. */
  async sync(entry: NodeEntry): Promise<number> {
    const now = this.now();
    const agent = `node/${entry.name}`;
    const policies = [...entry.policies]
      .map((key) => {
        const i = key.indexOf('/');
        return this.deps.getPolicy(key.slice(0, i), key.slice(i + 1));
      })
      .filter((p): p is DefensePolicy => p !== undefined && !p.metadata.deletionTimestamp);
    let recorded = 0;
    let pending = false;

    const listed = new Map<string, number>();
    for (const ban of entry.status.ownBans ?? []) {
      listed.set(ban.cidr, Date.parse(ban.expiresAt));
      for (const policy of policies) {
        const r = await this.deps.recorder.consider(policy, agent, toBanRecord(ban, entry.status.agent?.backend ?? ''));
        if (r.recorded) recorded++;
        if (r.outcome === 'pending') pending = true;
      }
    }
    // Own bans gone before their expiry: removed on the agent. Only the newest are listed, so a
    // report that hit the cap says nothing about the ones it left out.
    const complete = (entry.status.ownBansTotal ?? listed.size) <= listed.size;
    const before = this.known.get(entry.name);
    if (before && complete) {
      for (const [cidr, until] of before) {
        if (listed.has(cidr) || now >= until - EXPIRY_SLACK_MS) continue;
        for (const policy of policies) await this.deps.recorder.removedEarly(policy, agent, cidr);
      }
    }
    this.known.set(entry.name, listed);

    for (const r of entry.status.released ?? []) {
      if (r.kind !== 'BlockEvent') continue;
      const be = this.deps.getBlockEvent(r.namespace, r.name);
      if (!be || be.metadata.deletionTimestamp || be.metadata.annotations?.[LifecycleAnnotations.releasedAt]) continue;
      const window = banWindow({ creationTimestamp: be.metadata.creationTimestamp, annotations: be.metadata.annotations, durationSeconds: be.spec.durationSeconds }, now);
      if (Math.floor(window.start / 1000) * 1000 !== Date.parse(r.window)) continue; // a release of an earlier window
      try {
        await this.deps.blockEvents.patch(
          { namespace: r.namespace, name: r.name },
          { metadata: { annotations: { [LifecycleAnnotations.releasedAt]: r.at, [LifecycleAnnotations.releasedBy]: agent } } },
        );
        this.deps.logger.info({ blockEvent: `${r.namespace}/${r.name}`, node: entry.name }, 'a node dropped a ban before its expiry: releasing its BlockEvent');
      } catch (err) {
        if (httpStatus(err) !== 404) {
          pending = true;
          this.deps.logger.warn({ blockEvent: `${r.namespace}/${r.name}`, err: (err as Error).message }, 'cannot mark a released ban');
        }
      }
    }
    if (pending) this.unsettled.add(entry.name);
    else this.unsettled.delete(entry.name);
    return recorded;
  }
}
