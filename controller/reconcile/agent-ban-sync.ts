// Every ban an agent places on its own (auto-defense, its API, the seed's
// /trigger-defense) is recorded as a BlockEvent, so `kubectl get be` shows all
// of them. The sync polls each policy's agents a few times a second and
// creates (or revives) the BlockEvent for any ban that has none.
//
// Incremental: each poll asks the agent only for what changed since the
// version its last answer gave (GET /v1/blocks?since=), instead of the whole
// list (2.5 MB of JSON with 10,000 bans, three times a second). Bans that
// could not be settled (a tombstoned BlockEvent, a failed write) are kept and
// looked at again on every poll, and the whole list is read again every
// fullResyncMs (30 s) and whenever the agent cannot answer exactly (it
// restarted; it is an older agent without versions).
import type { Logger } from 'pino';
import { AgentApiClient } from '../../api/agent/v1/client.js';
import type { BanRecord } from '../../api/agent/v1/types.js';
import { toRfc3339 } from '../../api/v1alpha1/conditions.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';
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
  /** Read an agent's whole ban list at least this often. Default 30 s. */
  fullResyncMs?: number;
  now?: () => number;
}

/** Where the sync stands with one agent of one policy. */
interface AgentCursor {
  version?: string;
  lastFullAt: number;
  /** Bans seen but not settled yet, by CIDR: looked at again on every poll. */
  pending: Map<string, BanRecord>;
}

type Outcome = 'settled' | 'pending';

/** A BlockEvent deleted by a user is not re-created from the agent's ban while the unblock is on its way. */
const TOMBSTONE_MS = 60_000;

export class AgentBanSync {
  private timer?: NodeJS.Timeout;
  private running = false;
  private tombstones = new Map<string, number>();
  private cursors = new Map<string, AgentCursor>();
  /** Ban list reads by kind, for tests and diagnostics. */
  readonly reads = { full: 0, incremental: 0 };

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
      const policies = this.deps.listPolicies();
      const live = new Set(policies.map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name ?? ''}|`));
      for (const k of this.cursors.keys()) if (!live.has(k.slice(0, k.indexOf('|') + 1))) this.cursors.delete(k);
      await Promise.all(policies.map((p) => this.syncPolicy(p)));
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
    const now = (this.deps.now ?? Date.now)();
    for (const a of agents) {
      const key = `${ns}/${name}|${a.url}`;
      const cursor = this.cursors.get(key) ?? { lastFullAt: 0, pending: new Map<string, BanRecord>() };
      const wantFull = cursor.version === undefined || now - cursor.lastFullAt >= (this.deps.fullResyncMs ?? 30_000);
      let answer: Awaited<ReturnType<AgentApiClient['listBlocksSince']>>;
      try {
        answer = await new AgentApiClient({ url: a.url, token: a.token, timeoutMs: 2000 }).listBlocksSince(wantFull ? undefined : cursor.version);
      } catch {
        continue; // the policy reconciler reports unreachable agents
      }
      let candidates: BanRecord[];
      if (answer.full) {
        this.reads.full++;
        cursor.pending.clear();
        cursor.lastFullAt = now;
        candidates = answer.blocks;
      } else {
        this.reads.incremental++;
        for (const cidr of answer.removed) cursor.pending.delete(cidr);
        for (const ban of answer.blocks) cursor.pending.delete(ban.cidr);
        candidates = [...answer.blocks, ...cursor.pending.values()];
      }
      cursor.version = answer.version;
      this.cursors.set(key, cursor);
      for (const ban of candidates) {
        const { outcome, recorded: r } = await this.consider(policy, a.url, ban);
        if (r) recorded++;
        if (outcome === 'pending') cursor.pending.set(ban.cidr, ban);
        else cursor.pending.delete(ban.cidr);
      }
    }
    return recorded;
  }

  /** Record one ban of the agent's as a BlockEvent when it has none (or only a finished one). */
  private async consider(policy: DefensePolicy, agentUrl: string, ban: BanRecord): Promise<{ outcome: Outcome; recorded: boolean }> {
    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    const ip = ban.cidr.endsWith('/32') || ban.cidr.endsWith('/128') ? ban.cidr.split('/')[0]! : ban.cidr;
    const beName = blockEventName(name, ip);
    if (Date.parse(ban.expiresAt) <= Date.now()) return { outcome: 'settled', recorded: false };
    if (this.tombstones.has(`${ns}/${beName}`)) return { outcome: 'pending', recorded: false };
    const existing = this.deps.getBlockEvent(ns, beName);
    if (existing && (existing.status?.phase === 'Active' || existing.status?.phase === 'Pending' || !existing.status?.phase || existing.metadata.deletionTimestamp)) {
      return { outcome: 'settled', recorded: false };
    }
    const ok = await this.record(policy, agentUrl, ban, ip, beName, existing);
    return { outcome: ok === 'failed' ? 'pending' : 'settled', recorded: ok === 'recorded' };
  }

  private async record(policy: DefensePolicy, agentUrl: string, ban: BanRecord, ip: string, beName: string, existing?: BlockEvent): Promise<'recorded' | 'conflict' | 'failed'> {
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
      return 'recorded';
    } catch (err) {
      // 409: someone (another writer, or our own earlier try) got there first; the informer brings it.
      if (httpStatus(err) === 409) return 'conflict';
      this.deps.logger.warn({ ip, err: (err as Error).message }, 'cannot record agent ban');
      return 'failed';
    }
  }
}
