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
// The sync polls each policy's agents a few times a second; what a ban means
// for its BlockEvent is ban-recorder.ts's, shared with the FloodgateNode
// reports of the agents that watch the API server (those are not polled).
//
// Incremental: each poll asks the agent only for what changed since the
// version its last answer gave (GET /v1/blocks?since=), instead of the whole
// list (2.5 MB of JSON with 10,000 bans, three times a second). Bans that
// could not be settled (a tombstoned BlockEvent, a failed write) are kept and
// looked at again on every poll, and the whole list is read again every
// fullResyncMs (30 s) and whenever the agent cannot answer exactly (it
// restarted; it is an older agent without versions).
import type { Logger } from 'pino';
import { sameBanJournal, type BanRecord } from '../../api/agent/v1/types.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';
import type { AgentResolver } from '../agents/agent-resolver.js';
import { agentRetryDelayMs, httpAgentClients, type AgentClientFactory } from '../agents/agent-clients.js';
import type { AgentHealth } from '../agents/agent-health.js';
import type { NamespacedName } from '../../kube/resource-client.js';
import type { NodeReports } from '../nodes/node-reports.js';
import { BanRecorder, EXPIRY_SLACK_MS } from './ban-recorder.js';

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
  /** Agents that watch the API server report their own bans in their FloodgateNode (node-bans.ts): not polled. */
  nodes?: Pick<NodeReports, 'watcherOf'>;
  /** agentSelector agents all watch (the chart's agent.sync: watch): such policies are not polled at all. */
  selectorAgentsWatch?: boolean;
  /** The recorder to share (its tombstones) with the FloodgateNode reports' one; default its own. */
  recorder?: BanRecorder;
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

export class AgentBanSync {
  private timer?: NodeJS.Timeout;
  private running = false;
  private readonly recorder: BanRecorder;
  private cursors = new Map<string, AgentCursor>();
  /** Ban list reads by kind, for tests and diagnostics. */
  readonly reads = { full: 0, incremental: 0 };

  constructor(private readonly deps: AgentBanSyncDeps) {
    this.recorder = deps.recorder ?? new BanRecorder(deps);
  }

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
    this.recorder.noteDeleted(be);
  }

  /** One poll of every policy. Never rejects: one policy's failure is logged and the others go on. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      this.recorder.sweep();
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
    if (this.deps.selectorAgentsWatch && policy.spec.agentSelector) return 0;
    const resolved = await this.deps.resolver.resolve(policy).catch(() => ({ agents: [] }));
    const nodes = this.deps.nodes;
    const agents = nodes ? resolved.agents.filter((a) => !nodes.watcherOf(a)) : resolved.agents;
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
        cursor.retryAt = now + agentRetryDelayMs(++cursor.failures);
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
          if (sameProcess) await this.recorder.removedEarly(policy, a.name, cidr);
          else this.recorder.lost(policy, cidr);
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
          if (until !== undefined && now < until - EXPIRY_SLACK_MS) await this.recorder.removedEarly(policy, a.name, cidr);
        }
        for (const ban of answer.blocks) cursor.pending.delete(ban.cidr);
        candidates = [...answer.blocks, ...cursor.pending.values()];
      }
      cursor.version = answer.version;
      for (const ban of candidates) {
        cursor.known.set(ban.cidr, Date.parse(ban.expiresAt));
        const { outcome, recorded: r } = await this.recorder.consider(policy, a.url, ban);
        if (r) recorded++;
        if (outcome === 'pending') cursor.pending.set(ban.cidr, ban);
        else cursor.pending.delete(ban.cidr);
      }
    }
    return recorded;
  }
}
