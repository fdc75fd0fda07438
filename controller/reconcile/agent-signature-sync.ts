// Agents' signature rules -> SignatureRules, both ways, without writing any
// status (the SignatureRule reconciler is the only writer of that), as
// agent-ban-sync.ts does for bans:
//   - a rule an agent applied on its own (auto-defense: its verdict within a
//     slot of the flood's start) that no SignatureRule holds gets one:
//     created (for every agent of the policy, so a flood spread over nodes is
//     stopped on all of them), or, for a finished one, renewed;
//   - a rule an agent dropped before its expiry is marked on its Active
//     SignatureRule (floodgate.dev/released-at), which the reconciler then
//     releases everywhere;
//   - a rule an agent lost without saying so (a restart without its store)
//     is pushed again (onLost);
//   - the agents' counters of each rule are summed (counters()), and the
//     reconciler is asked to write them to status when they change (onCounters),
//     at most every countersIntervalMs per rule.
// Rule lists are short (an agent holds at most a few dozen), so each poll
// reads the whole list.
import type { Logger } from 'pino';
import { MAX_BAN_SECONDS } from '../../api/ban-time.js';
import type { SignatureRecord } from '../../api/agent/v1/types.js';
import type { DefensePolicy, SignatureRule } from '../../api/v1alpha1/index.js';
import type { AgentResolver } from '../agents/agent-resolver.js';
import { agentRetryDelayMs, httpAgentClients, type AgentClientFactory } from '../agents/agent-clients.js';
import type { AgentHealth } from '../agents/agent-health.js';
import { httpStatus, type NamespacedName } from '../../kube/resource-client.js';
import { LifecycleAnnotations, rfc3339 } from './enforcement-lifecycle.js';
import { findSignatureRule, newSignatureRule } from './signature-rule-names.js';
import type { ObservedCounters } from './signature-rule-reconciler.js';

export interface AgentSignatureSyncDeps {
  signatureRules: {
    create(namespace: string, body: SignatureRule): Promise<SignatureRule>;
    patch(ref: NamespacedName, body: object): Promise<SignatureRule>;
  };
  getSignatureRule: (namespace: string, name: string) => SignatureRule | undefined;
  /** Every SignatureRule: to find a hand-made one (a name of its own) by its rule id. */
  listSignatureRules: () => SignatureRule[];
  listPolicies: () => DefensePolicy[];
  resolver: Pick<AgentResolver, 'resolve'>;
  logger: Logger;
  intervalMs?: number;
  /** A rule's counters reach status at most this often. Default 5 s. */
  countersIntervalMs?: number;
  now?: () => number;
  agentClients?: AgentClientFactory;
  health?: AgentHealth;
  /** An agent lost an Active SignatureRule's rule without a removal: push it again. */
  onLost?: (sr: SignatureRule) => void;
  /** A rule's counters changed: reconcile it so they reach its status. */
  onCounters?: (sr: SignatureRule) => void;
}

interface AgentCursor {
  epoch?: string;
  /** Rule id -> expiry (ms) of what the agent listed last time. */
  held: Map<string, number>;
  failures: number;
  retryAt: number;
}

const TOMBSTONE_MS = 60_000;
const EXPIRY_SLACK_MS = 2000;

function seconds(r: SignatureRecord): number {
  return Math.min(MAX_BAN_SECONDS, Math.max(1, Math.ceil((Date.parse(r.expiresAt) - Date.parse(r.createdAt)) / 1000)));
}

function oneLine(s: string, max: number): string {
  return s.replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').trim().slice(0, max);
}

export class AgentSignatureSync {
  private timer?: NodeJS.Timeout;
  private running = false;
  private tombstones = new Map<string, number>();
  private cursors = new Map<string, AgentCursor>();
  /** Object key -> agent url -> what its counter said. */
  private perAgent = new Map<string, Map<string, { packets: number; pps: number; applied: string }>>();
  private notified = new Map<string, { at: number; packets: number }>();

  constructor(private readonly deps: AgentSignatureSyncDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs ?? 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A SignatureRule was deleted: its rule is not recorded again while the removal is on its way. */
  noteDeleted(sr: SignatureRule): void {
    const key = `${sr.metadata.namespace}/${sr.metadata.name}`;
    this.tombstones.set(key, this.now() + TOMBSTONE_MS);
    this.perAgent.delete(key);
    this.notified.delete(key);
  }

  private find(ns: string, policy: string, id: string): SignatureRule | undefined {
    return findSignatureRule(this.deps.getSignatureRule, this.deps.listSignatureRules, ns, policy, id);
  }

  /** The agents' counters of a SignatureRule, summed (undefined: no agent listed it yet). */
  counters(key: string): ObservedCounters | undefined {
    const agents = this.perAgent.get(key);
    if (!agents || agents.size === 0) return undefined;
    let packets = 0;
    let pps = 0;
    const applied = new Set<string>();
    for (const c of agents.values()) {
      packets += c.packets;
      pps += c.pps;
      applied.add(c.applied);
    }
    return { packets, pps, agents: agents.size, ...(applied.size === 1 ? { applied: [...applied][0] } : { applied: [...applied].join(' | ').slice(0, 300) }) };
  }

  /** One poll of every policy. Never rejects. */
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
          this.syncPolicy(p).catch((err: unknown) => this.deps.logger.warn({ policy: `${p.metadata.namespace}/${p.metadata.name}`, err: (err as Error).message }, 'signature sync failed')),
        ),
      );
    } finally {
      this.running = false;
    }
  }

  async syncPolicy(policy: DefensePolicy): Promise<number> {
    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    if (policy.metadata.deletionTimestamp || policy.spec.mitigation.signatures === 'disabled') return 0;
    const { agents } = await this.deps.resolver.resolve(policy).catch(() => ({ agents: [] }));
    let recorded = 0;
    const now = this.now();
    const seenKeys = new Set<string>();
    for (const a of agents) {
      const ckey = `${ns}/${name}|${a.url}`;
      const cursor = this.cursors.get(ckey) ?? { held: new Map<string, number>(), failures: 0, retryAt: 0 };
      this.cursors.set(ckey, cursor);
      if (now < cursor.retryAt) continue;
      let list: Awaited<ReturnType<ReturnType<AgentClientFactory>['signatures']>>;
      try {
        list = await (this.deps.agentClients ?? httpAgentClients)(a, 2000).signatures();
        this.deps.health?.report(policy, a.name, undefined);
        cursor.failures = 0;
      } catch (err) {
        // An agent without signature rules (an older one: 404) is simply not polled for a while.
        if (!(err instanceof Error && /no such route/.test(err.message))) this.deps.health?.report(policy, a.name, err);
        cursor.retryAt = now + agentRetryDelayMs(++cursor.failures);
        continue;
      }
      const listed = new Map(list.signatures.map((r) => [r.id, r]));
      const sameProcess = cursor.epoch !== undefined && cursor.epoch === list.epoch;
      for (const [id, until] of cursor.held) {
        if (listed.has(id) || until <= now + EXPIRY_SLACK_MS) continue;
        const sr = this.find(ns, name, id);
        if (!sr || sr.status?.phase !== 'Active' || sr.metadata.deletionTimestamp) continue;
        if (sameProcess) await this.releasedEarly(sr, a.name);
        else this.deps.onLost?.(sr);
      }
      cursor.epoch = list.epoch;
      cursor.held = new Map(list.signatures.map((r) => [r.id, Date.parse(r.expiresAt)]));
      const listedKeys = new Set<string>();
      for (const r of list.signatures) {
        const key = `${ns}/${this.find(ns, name, r.id)?.metadata.name ?? `${name}-sig-${r.id}`}`;
        seenKeys.add(key);
        listedKeys.add(key);
        let agentsOf = this.perAgent.get(key);
        if (!agentsOf) this.perAgent.set(key, (agentsOf = new Map()));
        agentsOf.set(a.url, { packets: r.packets, pps: r.packetsPerSecond, applied: r.applied });
        if (await this.consider(policy, a.name, r)) recorded++;
      }
      // Rules this agent no longer lists: its counters no longer count.
      for (const [key, byAgent] of this.perAgent) {
        if (!key.startsWith(`${ns}/`) || listedKeys.has(key)) continue;
        byAgent.delete(a.url);
      }
    }
    this.notifyCounters(ns, seenKeys);
    return recorded;
  }

  /** Ask for a status write of the rules whose counters moved, at most every countersIntervalMs each. */
  private notifyCounters(ns: string, keys: Set<string>): void {
    const now = this.now();
    for (const key of keys) {
      const c = this.counters(key);
      const last = this.notified.get(key);
      if (!c || (last && (last.packets === c.packets || now - last.at < (this.deps.countersIntervalMs ?? 5000)))) continue;
      const sr = this.deps.getSignatureRule(ns, key.slice(ns.length + 1));
      if (!sr || sr.status?.phase !== 'Active') continue;
      this.notified.set(key, { at: now, packets: c.packets });
      this.deps.onCounters?.(sr);
    }
  }

  private async releasedEarly(sr: SignatureRule, agent: string): Promise<void> {
    const key = `${sr.metadata.namespace}/${sr.metadata.name}`;
    if ((this.tombstones.get(key) ?? 0) > this.now()) return;
    try {
      await this.deps.signatureRules.patch(
        { namespace: sr.metadata.namespace ?? 'default', name: sr.metadata.name ?? '' },
        { metadata: { annotations: { [LifecycleAnnotations.releasedAt]: rfc3339(this.now()), [LifecycleAnnotations.releasedBy]: agent } } },
      );
      this.deps.logger.info({ signatureRule: key, agent }, 'an agent dropped a signature rule before its expiry: releasing it');
    } catch (err) {
      if (httpStatus(err) !== 404) this.deps.logger.warn({ signatureRule: key, err: (err as Error).message }, 'cannot mark a released signature rule');
    }
  }

  /** Record an agent's own rule as a SignatureRule when none holds it. True when one was written. */
  private async consider(policy: DefensePolicy, agent: string, r: SignatureRecord): Promise<boolean> {
    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    if (Date.parse(r.expiresAt) <= this.now()) return false;
    // Rules pushed from a SignatureRule come back in the list: their object exists already (or was just deleted).
    if (r.source !== 'auto' && r.policy === name) return false;
    if (r.source === 'auto' && r.policy !== undefined && r.policy !== name) return false; // another policy's auto rule
    const existing = this.find(ns, name, r.id);
    const srName = existing?.metadata.name ?? `${name}-sig-${r.id}`;
    if ((this.tombstones.get(`${ns}/${srName}`) ?? 0) > this.now()) return false;
    if (existing?.metadata.deletionTimestamp) return false;
    const start = rfc3339(Date.parse(r.createdAt));
    const spec = {
      durationSeconds: seconds(r),
      reason: oneLine(r.reason, 256),
      ...(r.vector ? { vector: r.vector } : {}),
      ...(r.label ? { label: oneLine(r.label, 200) } : {}),
    };
    try {
      if (!existing) {
        await this.deps.signatureRules.create(
          ns,
          newSignatureRule(policy, { signature: r.match, action: r.action, ...spec }, {
            labels: { 'floodgate.dev/source': r.source },
            annotations: { [LifecycleAnnotations.banStart]: start, 'floodgate.dev/found-by': agent },
          }),
        );
        this.deps.logger.info({ policy: `${ns}/${name}`, rule: r.match.text, agent }, 'recorded an agent signature rule as a SignatureRule');
        return true;
      }
      const phase = existing.status?.phase;
      if (phase !== 'Expired' && phase !== 'Released') return false; // it holds the rule already (or was refused)
      const boundary = phase === 'Released' ? Date.parse(existing.metadata.annotations?.[LifecycleAnnotations.releasedAt] ?? '') : Date.parse(existing.status?.blockedAt ?? '');
      if (Number.isFinite(boundary) && Math.floor(Date.parse(r.createdAt) / 1000) * 1000 <= boundary) return false;
      await this.deps.signatureRules.patch({ namespace: ns, name: srName }, { metadata: { annotations: { [LifecycleAnnotations.banStart]: start } }, spec });
      return true;
    } catch (err) {
      if (httpStatus(err) === 409) return false;
      this.deps.logger.warn({ rule: r.match.text, err: (err as Error).message }, 'cannot record an agent signature rule');
      return false;
    }
  }
}
