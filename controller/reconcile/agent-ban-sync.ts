// Every ban an agent places on its own (auto-defense, its API, the seed's
// /trigger-defense) is recorded as a BlockEvent, so `kubectl get be` shows all
// of them. The sync polls each policy's agents a few times a second and
// creates (or revives) the BlockEvent for any ban that has none.
import type { Logger } from 'pino';
import { AgentApiClient } from '../../agent/api/agent-api-client.js';
import type { BanRecord } from '../../agent/api/ports.js';
import { toRfc3339 } from '../api/conditions.js';
import type { BlockEvent, DefensePolicy } from '../api/types.js';
import type { AgentResolver } from '../agents/agent-resolver.js';
import { httpStatus, type ResourceClient } from '../resources/resource-client.js';
import { blockEventName, newBlockEvent } from './block-event-names.js';

export interface AgentBanSyncDeps {
  blockEvents: ResourceClient<BlockEvent>;
  getBlockEvent: (namespace: string, name: string) => BlockEvent | undefined;
  listPolicies: () => DefensePolicy[];
  resolver: AgentResolver;
  logger: Logger;
  intervalMs?: number;
  now?: () => number;
}

/** A BlockEvent deleted by a user is not re-created from the agent's ban while the unblock is on its way. */
const TOMBSTONE_MS = 60_000;

export class AgentBanSync {
  private timer?: NodeJS.Timeout;
  private running = false;
  private tombstones = new Map<string, number>();

  constructor(private readonly deps: AgentBanSyncDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs ?? 300);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Called when a BlockEvent is deleted: its address stays unsynced for a while. */
  noteDeleted(be: BlockEvent): void {
    this.tombstones.set(`${be.metadata.namespace}/${be.metadata.name}`, (this.deps.now ?? Date.now)() + TOMBSTONE_MS);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const now = (this.deps.now ?? Date.now)();
      for (const [k, until] of this.tombstones) if (until <= now) this.tombstones.delete(k);
      await Promise.all(this.deps.listPolicies().map((p) => this.syncPolicy(p)));
    } finally {
      this.running = false;
    }
  }

  async syncPolicy(policy: DefensePolicy): Promise<number> {
    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    if (policy.metadata.deletionTimestamp) return 0;
    const { agents } = await this.deps.resolver.resolve(policy).catch(() => ({ agents: [] }));
    let recorded = 0;
    for (const a of agents) {
      let bans: BanRecord[];
      try {
        bans = (await new AgentApiClient({ url: a.url, token: a.token, timeoutMs: 2000 }).listBlocks()).blocks;
      } catch {
        continue; // the policy reconciler reports unreachable agents
      }
      for (const ban of bans) {
        const ip = ban.cidr.endsWith('/32') || ban.cidr.endsWith('/128') ? ban.cidr.split('/')[0]! : ban.cidr;
        const beName = blockEventName(name, ip);
        if (this.tombstones.has(`${ns}/${beName}`)) continue;
        const existing = this.deps.getBlockEvent(ns, beName);
        if (existing && (existing.status?.phase === 'Active' || existing.status?.phase === 'Pending' || !existing.status?.phase || existing.metadata.deletionTimestamp)) continue;
        if (Date.parse(ban.expiresAt) <= Date.now()) continue;
        if (await this.record(policy, a.url, ban, ip, beName, existing)) recorded++;
      }
    }
    return recorded;
  }

  private async record(policy: DefensePolicy, agentUrl: string, ban: BanRecord, ip: string, beName: string, existing?: BlockEvent): Promise<boolean> {
    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    const durationSeconds = Math.max(1, Math.round((Date.parse(ban.expiresAt) - Date.parse(ban.createdAt)) / 1000));
    const status = {
      phase: 'Active' as const,
      blockedAt: toRfc3339(new Date(ban.createdAt)),
      expiresAt: toRfc3339(new Date(ban.expiresAt)),
      ...(ban.backend ? { backend: ban.backend } : {}),
      offenceCount: ban.offenceCount,
      message: `recorded from ${ban.source} ban on ${agentUrl}`,
    };
    const reason = ban.reason.replace(/[\r\n\t]/g, ' ').slice(0, 256) || `${ban.source} ban`;
    try {
      if (existing) {
        // An Expired/Released/Failed record of the same address: revive it for the new ban.
        await this.deps.blockEvents.patch({ namespace: ns, name: beName }, { spec: { durationSeconds, reason, agent: agentUrl } });
        await this.deps.blockEvents.patchStatus({ namespace: ns, name: beName }, status);
      } else {
        const be = newBlockEvent(policy, { ip, durationSeconds, reason, agent: agentUrl }, { offences: ban.offenceCount, labels: { 'floodgate.dev/source': ban.source } });
        await this.deps.blockEvents.create(ns, be);
        await this.deps.blockEvents.patchStatus({ namespace: ns, name: beName }, status);
      }
      this.deps.logger.info({ policy: `${ns}/${name}`, ip, agent: agentUrl, source: ban.source }, 'recorded an agent ban as a BlockEvent');
      return true;
    } catch (err) {
      if (httpStatus(err) !== 409) this.deps.logger.warn({ ip, err: (err as Error).message }, 'cannot record agent ban');
      return false;
    }
  }
}
