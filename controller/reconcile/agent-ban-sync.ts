// Agents' bans → BlockEvents, both ways, without writing any status (the
// BlockEvent reconciler is the only writer of that):
//   - a ban an agent placed on its own (auto-defense, its API, the seed's
//     /trigger-defense) that no BlockEvent holds gets one: created, or, for a
//     finished one, renewed (a later floodgate.dev/ban-start);
//   - a ban an agent dropped before its expiry (an operator removed it there,
//     or the agent's own rules did) is marked on its Active BlockEvent
//     (floodgate.dev/released-at), which the reconciler then releases;
//   - a ban an agent lost without saying so (it restarted without its store)
//     is pushed again (onLost).
// The sync polls each policy's agents a few times a second.
//
// Incremental: each poll asks the agent only for what changed since the
// version its last answer gave (GET /v1/blocks?since=), instead of the whole
// list (2.5 MB of JSON with 10,000 bans, three times a second). Bans that
// could not be settled (a tombstoned BlockEvent, a failed write) are kept and
// looked at again on every poll, and the whole list is read again every
// fullResyncMs (30 s) and whenever the agent cannot answer exactly (it
// restarted; it is an older agent without versions).
import type { Logger } from 'pino';
import { MAX_BAN_SECONDS } from '../../api/ban-time.js';
import { sameBanJournal, type BanRecord } from '../../api/agent/v1/types.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';
import type { AgentResolver } from '../agents/agent-resolver.js';
import { httpAgentClients, type AgentClientFactory } from '../agents/agent-clients.js';
import type { AgentHealth } from '../agents/agent-health.js';
import { cidrContains, parseCidr } from '../../lib/cidr.js';
import { httpStatus, type NamespacedName } from '../../kube/resource-client.js';
import { findBlockEvent, newBlockEvent } from './block-event-names.js';
import { LifecycleAnnotations, rfc3339 } from './enforcement-lifecycle.js';

export interface AgentBanSyncDeps {
  blockEvents: {
    create(namespace: string, body: BlockEvent): Promise<BlockEvent>;
    patch(ref: NamespacedName, body: object): Promise<BlockEvent>;
  };
  getBlockEvent: (namespace: string, name: string) => BlockEvent | undefined;
  /** Every BlockEvent: to find the ones inside a network ban (an agent widens IPv6 addresses to a /64). */
  listBlockEvents?: () => BlockEvent[];
  listPolicies: () => DefensePolicy[];
  resolver: Pick<AgentResolver, 'resolve'>;
  logger: Logger;
  intervalMs?: number;
  /** Read an agent's whole ban list at least this often. Default 30 s. */
  fullResyncMs?: number;
  now?: () => number;
  agentClients?: AgentClientFactory;
  health?: AgentHealth;
  /** An agent lost an Active BlockEvent's ban without a removal: push it again. */
  onLost?: (be: BlockEvent) => void;
}

/** Where the sync stands with one agent of one policy. */
interface AgentCursor {
  version?: string;
  lastFullAt: number;
  /** Bans seen but not settled yet, by CIDR: looked at again on every poll. */
  pending: Map<string, BanRecord>;
  /** CIDR → expiry (ms) of every active ban the agent reported: tells a removal from an expiry. */
  known: Map<string, number>;
  /** Failed reads in a row, and when to try again: a dead or broken agent is not polled 3 times a second. */
  failures: number;
  retryAt: number;
}

type Outcome = 'settled' | 'pending';

/** A BlockEvent deleted by a user is not re-created from the agent's ban while the unblock is on its way. */
const TOMBSTONE_MS = 60_000;
/** A ban gone this close to its expiry expired; earlier, it was removed. */
const EXPIRY_SLACK_MS = 2000;

/** Backoff after failed reads of one agent: 0.5 s, 1 s, 2 s, ... up to 30 s. */
function retryDelayMs(failures: number): number {
  return Math.min(30_000, 250 * 2 ** Math.min(failures, 10));
}

/** "10.0.0.1/32" → "10.0.0.1"; networks stay CIDRs. */
function specIp(cidr: string): string {
  return cidr.endsWith('/32') || cidr.endsWith('/128') ? cidr.slice(0, cidr.lastIndexOf('/')) : cidr;
}

function seconds(ban: BanRecord): number {
  return Math.min(MAX_BAN_SECONDS, Math.max(1, Math.ceil((Date.parse(ban.expiresAt) - Date.parse(ban.createdAt)) / 1000)));
}

export class AgentBanSync {
  private timer?: NodeJS.Timeout;
  private running = false;
  private tombstones = new Map<string, number>();
  private cursors = new Map<string, AgentCursor>();
  /** Ban list reads by kind, for tests and diagnostics. */
  readonly reads = { full: 0, incremental: 0 };

  constructor(private readonly deps: AgentBanSyncDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs ?? 300);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Called when a BlockEvent is deleted: its address stays unsynced for a while. */
  noteDeleted(be: BlockEvent): void {
    this.tombstones.set(`${be.metadata.namespace}/${be.metadata.name}`, this.now() + TOMBSTONE_MS);
  }

  /** One poll of every policy. Never rejects: one policy's failure is logged and the others go on. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const now = this.now();
      for (const [k, until] of this.tombstones) if (until <= now) this.tombstones.delete(k);
      const policies = this.deps.listPolicies();
      const live = new Set(policies.map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name ?? ''}|`));
      for (const k of this.cursors.keys()) if (!live.has(k.slice(0, k.indexOf('|') + 1))) this.cursors.delete(k);
      await Promise.all(
        policies.map((p) =>
          this.syncPolicy(p).catch((err: unknown) => this.deps.logger.warn({ policy: `${p.metadata.namespace}/${p.metadata.name}`, err: (err as Error).message }, 'ban sync failed')),
        ),
      );
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
    const now = this.now();
    for (const a of agents) {
      const key = `${ns}/${name}|${a.url}`;
      const cursor = this.cursors.get(key) ?? { lastFullAt: 0, pending: new Map<string, BanRecord>(), known: new Map<string, number>(), failures: 0, retryAt: 0 };
      this.cursors.set(key, cursor);
      if (now < cursor.retryAt) continue;
      const wantFull = cursor.version === undefined || now - cursor.lastFullAt >= (this.deps.fullResyncMs ?? 30_000);
      let answer: Awaited<ReturnType<ReturnType<AgentClientFactory>['listBlocksSince']>>;
      try {
        answer = await (this.deps.agentClients ?? httpAgentClients)(a, 2000).listBlocksSince(wantFull ? undefined : cursor.version);
        this.deps.health?.report(policy, a.name, undefined);
        cursor.failures = 0;
      } catch (err) {
        // The policy reconciler reports unreachable agents; a broken answer is recorded for it here.
        this.deps.health?.report(policy, a.name, err);
        cursor.retryAt = now + retryDelayMs(++cursor.failures);
        continue;
      }
      let candidates: BanRecord[];
      if (answer.full) {
        this.reads.full++;
        const listed = new Set(answer.blocks.map((b) => b.cidr));
        // Held before, absent now: the same agent process removed it (our periodic full read came
        // before an incremental one could say so), or a restarted one lost it (no store).
        const sameProcess = sameBanJournal(cursor.version, answer.version);
        for (const [cidr, until] of cursor.known) {
          if (listed.has(cidr) || until <= now + EXPIRY_SLACK_MS) continue;
          if (sameProcess) await this.removedEarly(policy, a.name, cidr);
          else this.lost(policy, cidr);
        }
        cursor.pending.clear();
        cursor.known.clear();
        cursor.lastFullAt = now;
        candidates = answer.blocks;
      } else {
        this.reads.incremental++;
        for (const cidr of answer.removed) {
          cursor.pending.delete(cidr);
          const until = cursor.known.get(cidr);
          cursor.known.delete(cidr);
          if (until !== undefined && now < until - EXPIRY_SLACK_MS) await this.removedEarly(policy, a.name, cidr);
        }
        for (const ban of answer.blocks) cursor.pending.delete(ban.cidr);
        candidates = [...answer.blocks, ...cursor.pending.values()];
      }
      cursor.version = answer.version;
      for (const ban of candidates) {
        cursor.known.set(ban.cidr, Date.parse(ban.expiresAt));
        const { outcome, recorded: r } = await this.consider(policy, a.url, ban);
        if (r) recorded++;
        if (outcome === 'pending') cursor.pending.set(ban.cidr, ban);
        else cursor.pending.delete(ban.cidr);
      }
    }
    return recorded;
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

  private lost(policy: DefensePolicy, cidr: string): void {
    for (const be of this.heldBy(policy, cidr)) this.deps.onLost?.(be);
  }

  /** The agent dropped a ban before its expiry: mark the Active BlockEvents it held released (the reconciler acts on it). */
  private async removedEarly(policy: DefensePolicy, agent: string, cidr: string): Promise<void> {
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
  private async consider(policy: DefensePolicy, agentUrl: string, ban: BanRecord): Promise<{ outcome: Outcome; recorded: boolean }> {
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
