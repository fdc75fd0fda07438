// Agents' own bans → BlockEvents, without writing any status (the BlockEvent
// reconciler is the only writer of that). One recorder for both ways the
// controller learns of them: polling an agent's ban list over HTTP
// (agent-ban-sync.ts) and the FloodgateNode reports of the agents that watch
// the API server (controller/nodes/node-bans.ts):
//   - a ban no BlockEvent holds gets one: created, or, for a finished one,
//     renewed (a later floodgate.dev/ban-start) or extended;
//   - a ban dropped on the agent before its expiry marks its Active
//     BlockEvents released (floodgate.dev/released-at);
//   - a ban an agent lost is pushed again (onLost).
import type { Logger } from 'pino';
import { MAX_BAN_SECONDS } from '../../api/ban-time.js';
import type { BanRecord } from '../../api/agent/v1/types.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';
import { cidrContains, parseCidr } from '../../lib/cidr.js';
import { httpStatus, type NamespacedName } from '../../kube/resource-client.js';
import { findBlockEvent, newBlockEvent } from './block-event-names.js';
import { LifecycleAnnotations, rfc3339 } from './enforcement-lifecycle.js';

export interface BanRecorderDeps {
  blockEvents: {
    create(namespace: string, body: BlockEvent): Promise<BlockEvent>;
    patch(ref: NamespacedName, body: object): Promise<BlockEvent>;
  };
  getBlockEvent: (namespace: string, name: string) => BlockEvent | undefined;
  /** Every BlockEvent: to find the ones inside a network ban (an agent widens IPv6 addresses to a /64). */
  listBlockEvents?: () => BlockEvent[];
  logger: Logger;
  now?: () => number;
  /** An agent lost an Active BlockEvent's ban without a removal: push it again. */
  onLost?: (be: BlockEvent) => void;
}

export type Outcome = 'settled' | 'pending';

/** A BlockEvent deleted by a user is not re-created from the agent's ban while the unblock is on its way. */
const TOMBSTONE_MS = 60_000;
/** A ban gone this close to its expiry expired; earlier, it was removed. */
export const EXPIRY_SLACK_MS = 2000;

/** "10.0.0.1/32" → "10.0.0.1"; networks stay CIDRs. */
export function specIp(cidr: string): string {
  return cidr.endsWith('/32') || cidr.endsWith('/128') ? cidr.slice(0, cidr.lastIndexOf('/')) : cidr;
}

function seconds(ban: BanRecord): number {
  return Math.min(MAX_BAN_SECONDS, Math.max(1, Math.ceil((Date.parse(ban.expiresAt) - Date.parse(ban.createdAt)) / 1000)));
}

export class BanRecorder {
  private tombstones = new Map<string, number>();

  constructor(private readonly deps: BanRecorderDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Called when a BlockEvent is deleted: its address stays unsynced for a while. */
  noteDeleted(be: BlockEvent): void {
    this.tombstones.set(`${be.metadata.namespace}/${be.metadata.name}`, this.now() + TOMBSTONE_MS);
  }

  /** Forget tombstones that ran out. */
  sweep(): void {
    const now = this.now();
    for (const [k, until] of this.tombstones) if (until <= now) this.tombstones.delete(k);
  }

  private find(policy: DefensePolicy, cidr: string) {
    return findBlockEvent(this.deps.getBlockEvent, policy.metadata.namespace ?? 'default', policy.metadata.name ?? '', specIp(cidr));
  }

  /**
   * The policy's Active BlockEvents an agent ban of `cidr` holds: the one of
   * that address, and, for a network, the ones inside it (an agent bans an
   * IPv6 address as its /64, so the ban the controller pushed comes back wider).
   */
  private heldBy(policy: DefensePolicy, cidr: string): BlockEvent[] {
    const active = (b: BlockEvent | undefined): b is BlockEvent => b?.status?.phase === 'Active' && !b.metadata.deletionTimestamp;
    const { existing } = this.find(policy, cidr);
    if (active(existing)) return [existing];
    const network = parseCidr(cidr);
    if (!network || network.prefix === (network.family === 4 ? 32 : 128) || !this.deps.listBlockEvents) return [];
    const ns = policy.metadata.namespace ?? 'default';
    return this.deps.listBlockEvents().filter((b) => {
      if (b.metadata.namespace !== ns || b.spec.policyRef?.name !== policy.metadata.name || !active(b)) return false;
      const target = parseCidr(b.spec.ip);
      return target !== undefined && cidrContains(network, target);
    });
  }

  lost(policy: DefensePolicy, cidr: string): void {
    for (const be of this.heldBy(policy, cidr)) this.deps.onLost?.(be);
  }

  /** The agent dropped a ban before its expiry: mark the Active BlockEvents it held released (the reconciler acts on it). */
  async removedEarly(policy: DefensePolicy, agent: string, cidr: string): Promise<void> {
    const ns = policy.metadata.namespace ?? 'default';
    for (const existing of this.heldBy(policy, cidr)) {
      if ((this.tombstones.get(`${ns}/${existing.metadata.name}`) ?? 0) > this.now()) continue;
      try {
        await this.deps.blockEvents.patch(
          { namespace: ns, name: existing.metadata.name ?? '' },
          { metadata: { annotations: { [LifecycleAnnotations.releasedAt]: rfc3339(this.now()), [LifecycleAnnotations.releasedBy]: agent } } },
        );
        this.deps.logger.info({ policy: `${ns}/${policy.metadata.name}`, cidr, agent }, 'an agent dropped a ban before its expiry: releasing its BlockEvent');
      } catch (err) {
        if (httpStatus(err) !== 404) this.deps.logger.warn({ cidr, err: (err as Error).message }, 'cannot mark a released ban');
      }
    }
  }

  /** Record one ban of the agent's as a BlockEvent when none holds it. */
  async consider(policy: DefensePolicy, agentUrl: string, ban: BanRecord): Promise<{ outcome: Outcome; recorded: boolean }> {
    const ns = policy.metadata.namespace ?? 'default';
    const ip = specIp(ban.cidr);
    if (Date.parse(ban.expiresAt) <= this.now()) return { outcome: 'settled', recorded: false };
    // This policy's own pushes come back in the list: their BlockEvents exist already (or were just deleted).
    if (ban.source === 'api' && ban.policy === policy.metadata.name) return { outcome: 'settled', recorded: false };
    const { existing, name } = this.find(policy, ban.cidr);
    if (!name) {
      this.deps.logger.warn({ ip }, 'both BlockEvent names of this address are taken by other addresses: not recorded');
      return { outcome: 'settled', recorded: false };
    }
    if ((this.tombstones.get(`${ns}/${name}`) ?? 0) > this.now()) return { outcome: 'pending', recorded: false };
    if (existing?.metadata.deletionTimestamp) return { outcome: 'settled', recorded: false };
    const change = existing ? this.changeFor(existing, ban) : 'create';
    if (change === undefined) return { outcome: 'settled', recorded: false };
    const ok = await this.record(policy, agentUrl, ban, name, change, existing);
    return { outcome: ok === 'failed' ? 'pending' : 'settled', recorded: ok === 'recorded' };
  }

  /** What an existing BlockEvent needs so that it holds `ban`: nothing, a new window, or a longer one. */
  private changeFor(be: BlockEvent, ban: BanRecord): 'renew' | 'extend' | undefined {
    const phase = be.status?.phase;
    if (phase !== 'Expired' && phase !== 'Released' && phase !== 'Failed') return undefined; // it holds the address already
    const createdAt = Math.floor(Date.parse(ban.createdAt) / 1000) * 1000;
    const boundary = phase === 'Released' ? Date.parse(be.metadata.annotations?.[LifecycleAnnotations.releasedAt] ?? '') : Date.parse(be.status?.blockedAt ?? '');
    if (!Number.isFinite(boundary) || createdAt > boundary) return 'renew';
    if (phase === 'Expired' && Date.parse(ban.expiresAt) > (Date.parse(be.status?.expiresAt ?? '') || 0) + EXPIRY_SLACK_MS) return 'extend';
    return undefined;
  }

  private async record(policy: DefensePolicy, agentUrl: string, ban: BanRecord, beName: string, change: 'create' | 'renew' | 'extend', existing?: BlockEvent): Promise<'recorded' | 'conflict' | 'failed'> {
    const ns = policy.metadata.namespace ?? 'default';
    const ip = specIp(ban.cidr);
    const reason = ban.reason.replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').slice(0, 256).trim() || `${ban.source} ban`;
    const start = rfc3339(Date.parse(ban.createdAt));
    try {
      if (change === 'create') {
        const be = newBlockEvent(policy, beName, { ip, durationSeconds: seconds(ban), reason, agent: agentUrl }, {
          offences: ban.offenceCount,
          labels: { 'floodgate.dev/source': ban.source },
          annotations: { [LifecycleAnnotations.banStart]: start },
        });
        await this.deps.blockEvents.create(ns, be);
      } else if (change === 'renew') {
        const offences = Number(existing?.metadata.annotations?.['floodgate.dev/offences'] ?? 0) + 1;
        await this.deps.blockEvents.patch(
          { namespace: ns, name: beName },
          { metadata: { annotations: { [LifecycleAnnotations.banStart]: start, 'floodgate.dev/offences': String(Math.max(offences, ban.offenceCount)) } }, spec: { durationSeconds: seconds(ban), reason } }, // its agents stay as they were
        );
      } else {
        const from = Date.parse(existing?.status?.blockedAt ?? '') || Date.parse(ban.createdAt);
        const durationSeconds = Math.min(MAX_BAN_SECONDS, Math.ceil((Date.parse(ban.expiresAt) - from) / 1000));
        await this.deps.blockEvents.patch({ namespace: ns, name: beName }, { spec: { durationSeconds } });
      }
      this.deps.logger.info({ policy: `${ns}/${policy.metadata.name}`, ip, agent: agentUrl, source: ban.source, change }, 'recorded an agent ban as a BlockEvent');
      return 'recorded';
    } catch (err) {
      // 409: someone (another writer, or our own earlier try) got there first; the informer brings it.
      if (httpStatus(err) === 409) return 'conflict';
      this.deps.logger.warn({ ip, err: (err as Error).message }, 'cannot record agent ban');
      return 'failed';
    }
  }
}
