// Reconciles enforcement objects, level-triggered and idempotent, following
// enforcement-lifecycle.ts: add the finalizer, push to every agent of the
// policy until the ban's window ends, record what the agents answered, turn
// Expired or Released, keep terminal objects for the retention period; on
// deletion take the ban off every agent before the finalizer goes, at once
// when nothing is held, and never for more than UNBLOCK_GIVE_UP_MS.
//
// This is the only writer of these objects' status. What differs between
// kinds (what is pushed, how it is removed, how it reads in messages) is an
// EnforcementAdapter: block-event-reconciler.ts is the BlockEvent one; a
// signature rule (issue 11) is another adapter over the same lifecycle.
import type { Logger } from 'pino';
import { sameJson } from '../../lib/same-json.js';
import type { KubernetesObject } from '@kubernetes/client-node';
import { AgentApiError } from '../../api/agent/v1/client.js';
import { setCondition } from '../../api/v1alpha1/conditions.js';
import type { Condition, DefensePolicy } from '../../api/v1alpha1/index.js';
import type { AgentResolver, AgentTarget } from '../agents/agent-resolver.js';
import { httpAgentClients, type AgentCalls, type AgentClientFactory } from '../agents/agent-clients.js';
import type { AgentHealth } from '../agents/agent-health.js';
import type { EventRecorder } from '../../kube/event-recorder.js';
import { involvedObjectOf } from '../../kube/event-recorder.js';
import { httpStatus, type NamespacedName } from '../../kube/resource-client.js';
import { policyKey } from '../agents/agent-health.js';
import { failureKey, type EnforcedKind, type NodeReports } from '../nodes/node-reports.js';
import { describeNodes, rolloutDigest, rolloutOf, rolloutStatus, type Rollout, type RolloutStatus } from '../nodes/node-rollout.js';
import { LifecycleAnnotations } from '../../api/ban-window.js';
import {
  banWindow as banWindowOf,
  type EnforcementPhase,
  type LifecycleView,
  type PushResult,
  plan,
  rfc3339,
  settlePush,
  settleUnblock,
} from './enforcement-lifecycle.js';

export interface EnforcementStatus {
  phase?: EnforcementPhase;
  blockedAt?: string;
  expiresAt?: string;
  backend?: string;
  message?: string;
  offenceCount?: number;
  /** How far it has reached the nodes that watch the API server. */
  nodes?: RolloutStatus;
  conditions?: Condition[];
  observedGeneration?: number;
  /** Fields of one kind's status (a SignatureRule's counters, its rule in words, ...). */
  [field: string]: unknown;
}

/** What one agent answered to a push. */
export interface Held {
  expiresAt: number;
  backend?: string;
  offenceCount?: number;
  /** What the agent's firewall holds, in words (signature rules). */
  applied?: string;
}

export interface EnforcementObject extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']>;
  spec: { policyRef?: { name: string }; durationSeconds: number; agent?: string };
  status?: EnforcementStatus;
}

/** What one kind of enforcement object does on an agent. */
export interface EnforcementAdapter<T extends EnforcementObject> {
  /** The kind, as nodes name it in their reports (its revision, its failures). */
  kind: EnforcedKind;
  /** The finalizer that guards its removal from the agents. */
  finalizer: string;
  /** The condition type saying whether the agents hold it (BlockEvent: "Blocked"). */
  conditionType: string;
  /** How it reads in messages and Events, e.g. "203.0.113.7". */
  describe(obj: T): string;
  /** Put it on one agent for `seconds`. Throws AgentApiError. */
  apply(agent: AgentCalls, obj: T, seconds: number, policy: DefensePolicy | undefined): Promise<Held>;
  /** Take it off one agent; absent there is fine. Throws AgentApiError. */
  remove(agent: AgentCalls, obj: T): Promise<void>;
  /** Status fields of this kind besides the lifecycle's (e.g. offenceCount). */
  extraStatus?(obj: T, held: Omit<Held, 'expiresAt'> | undefined): Partial<EnforcementStatus>;
  /**
   * Status fields observed on the agents since (e.g. a SignatureRule's
   * counters), by object key: written whenever the object is reconciled
   * while Active and they differ from what status says.
   */
  observed?(obj: T, key: string): Partial<EnforcementStatus> | undefined;
}

/** The writes the reconciler makes (ResourceClient in production, a fake in unit tests). */
export interface EnforcementWriter<T> {
  patch(ref: NamespacedName, body: object): Promise<T>;
  patchStatus(ref: NamespacedName, status: object): Promise<T>;
  delete(ref: NamespacedName): Promise<void>;
}

export interface EnforcementReconcilerDeps<T extends EnforcementObject> {
  objects: EnforcementWriter<T>;
  get: (key: string) => T | undefined;
  getPolicy: (namespace: string, name: string) => DefensePolicy | undefined;
  resolver: Pick<AgentResolver, 'resolve' | 'checkAgentUrl' | 'explicitTarget'>;
  events: Pick<EventRecorder, 'event'>;
  logger: Logger;
  retentionMs: number;
  /** How long a deletion tries failing agents before it gives up. Default UNBLOCK_GIVE_UP_MS (2 minutes). */
  unblockGiveUpMs?: number;
  now?: () => number;
  agentTimeoutMs?: number;
  agentClients?: AgentClientFactory;
  /** Where invalid agent answers are reported for the policy's AgentsReachable condition. */
  health?: AgentHealth;
  /** The reports of the agents that watch the API server (docs/fanout.md): they are counted, never pushed to. */
  nodes?: NodeReports;
  /**
   * agentSelector agents watch the API server (the chart's agent.sync: watch): the
   * controller does not resolve their pods for bans at all, only counts their nodes.
   */
  selectorAgentsWatch?: boolean;
}

export type ReconcileResult = void | { requeueAfterMs?: number };

/** Thrown when agents could not be reached: the work queue retries with backoff. */
export class RetryableError extends Error {}

interface Targets {
  agents: AgentTarget[];
  /** Nodes whose agents watch the API server for it: counted from their reports, never called. */
  nodes: string[];
  problems: string[];
  /** The problems cannot go away by waiting (no such policy, an agent URL that is not allowed). */
  permanent: boolean;
  policy?: DefensePolicy;
}

function epochMs(t: unknown): number | undefined {
  if (t === undefined || t === null) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(String(t));
  return Number.isFinite(ms) ? ms : undefined;
}

/** What the lifecycle sees of an object at `now`. */
export function lifecycleViewOf(obj: EnforcementObject, now: number, finalizer = '', conditionType = ''): LifecycleView {
  const status = obj.status ?? {};
  const condition = status.conditions?.find((c) => c.type === conditionType);
  return {
    now,
    generation: obj.metadata.generation,
    creationTimestamp: epochMs(obj.metadata.creationTimestamp),
    deletionTimestamp: epochMs(obj.metadata.deletionTimestamp),
    hasFinalizer: (obj.metadata.finalizers ?? []).includes(finalizer),
    annotations: obj.metadata.annotations ?? {},
    durationSeconds: obj.spec.durationSeconds,
    status: { phase: status.phase, blockedAt: status.blockedAt, expiresAt: status.expiresAt, observedGeneration: status.observedGeneration, phaseSince: condition?.lastTransitionTime },
  };
}

export class EnforcementReconciler<T extends EnforcementObject> {
  /**
   * Key → "<resourceVersion>|<agents>" of the object our own last status
   * write produced after every agent took it. When that write brings the
   * object back unchanged (same resourceVersion, same agents), pushing again
   * would be a no-op: it is skipped. Any other change pushes again.
   */
  private readonly pushed = new Map<string, string>();
  /** Agent pushes skipped because nothing changed since the last one (tests, diagnostics). */
  skippedPushes = 0;
  /** Key → the content digest and the resourceVersion it was first seen at (see rollout()). */
  private readonly seenAt = new Map<string, Rollout>();

  constructor(
    private readonly deps: EnforcementReconcilerDeps<T>,
    private readonly kind: EnforcementAdapter<T>,
  ) {}

  /** Forget what was pushed (on gaining leadership: push everything once). */
  forgetPushes(): void {
    this.pushed.clear();
  }

  /** Forget what was pushed for one object (an agent lost it: the next reconcile pushes again). */
  forgetPush(key: string): void {
    this.pushed.delete(key);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  private client(a: AgentTarget): AgentCalls {
    return (this.deps.agentClients ?? httpAgentClients)(a, this.deps.agentTimeoutMs ?? 5000);
  }

  /** Its policy, if it names one that exists (for Events: they go on the policy). */
  private policyOf(obj: T): DefensePolicy | undefined {
    const name = obj.spec.policyRef?.name;
    return name ? this.deps.getPolicy(obj.metadata.namespace ?? 'default', name) : undefined;
  }

  /** The agents that hold (or should hold) it: the ones to call, and the nodes that watch for it. */
  private async targets(obj: T): Promise<Targets> {
    const ns = obj.metadata.namespace ?? 'default';
    const policyName = obj.spec.policyRef?.name;
    const policy = policyName ? this.deps.getPolicy(ns, policyName) : undefined;
    const reports = this.deps.nodes;
    // Bound to one agent that watches (its own ban, recorded for its node): that node only.
    const boundNode = obj.spec.agent && reports ? reports.boundNode(obj.spec.agent) : undefined;
    if (boundNode) return { agents: [], nodes: [boundNode.name], problems: [], permanent: false, policy };
    if (policyName && !policy) return { agents: [], nodes: [], problems: [`DefensePolicy ${ns}/${policyName} not found`], permanent: true };
    if (policy) {
      if (reports && this.deps.selectorAgentsWatch && policy.spec.agentSelector && !obj.spec.agent) {
        const nodes = reports.nodesOf(policyKey(policy));
        return { agents: [], nodes, problems: nodes.length ? [] : ['no node reports this policy yet (agents that watch the API server list the policies that select them)'], permanent: false, policy };
      }
      const r = await this.deps.resolver.resolve(policy);
      // An object bound to one agent (spec.agent) stays on that one, with the policy's token.
      const bound = obj.spec.agent ? r.agents.filter((a) => a.url === obj.spec.agent || a.name === obj.spec.agent) : r.agents;
      const agents = bound.length ? bound : r.agents;
      if (!reports) return { agents, nodes: [], problems: r.problems, permanent: false, policy };
      // Agents that watch are counted from their reports, not called.
      const nodes = obj.spec.agent ? [] : reports.nodesOf(policyKey(policy));
      return { agents: agents.filter((a) => !reports.watcherOf(a)), nodes, problems: r.problems, permanent: false, policy };
    }
    if (obj.spec.agent) {
      // No policy, so no token: the agent must be reachable under the same URL rules as a policy's.
      const problem = this.deps.resolver.checkAgentUrl(obj.spec.agent, ns);
      if (problem) return { agents: [], nodes: [], problems: [`spec.agent: ${problem}`], permanent: true };
      return { agents: [this.deps.resolver.explicitTarget(obj.spec.agent)], nodes: [], problems: [], permanent: false };
    }
    return { agents: [], nodes: [], problems: ["no agent: set spec.policyRef (to use the policy's agents) or spec.agent"], permanent: true };
  }

  /** What the nodes must hold of it now, and since which revision. */
  private rollout(obj: T, window: { start: number; end: number }): Rollout {
    const digest = this.digest(obj, window);
    // The earliest resourceVersion this controller saw this content at (before its own
    // finalizer write, say): nodes that applied it then hold it.
    const seen = this.seenAt.get(`${obj.metadata.namespace}/${obj.metadata.name}`);
    const recorded = obj.status?.nodes?.digest === digest ? obj.status.nodes : seen?.digest === digest ? seen : undefined;
    return rolloutOf(recorded, digest, obj.metadata.resourceVersion);
  }

  /** Remember when (which resourceVersion) an object's content was first seen as it is now. */
  private noteSeen(key: string, obj: T): void {
    const v = this.view(obj);
    const digest = this.digest(obj, banWindowOf(v));
    if (this.seenAt.get(key)?.digest === digest) return;
    const revision = Number(obj.metadata.resourceVersion);
    if (Number.isSafeInteger(revision)) this.seenAt.set(key, { digest, revision });
  }

  private digest(obj: T, window: { start: number; end: number }): string {
    const released = Date.parse(obj.metadata.annotations?.[LifecycleAnnotations.releasedAt] ?? '');
    const digest = rolloutDigest({
      what: this.kind.describe(obj),
      start: window.start,
      end: window.end,
      ...(Number.isFinite(released) ? { releasedAt: released } : {}),
      deleting: Boolean(obj.metadata.deletionTimestamp),
      ...(obj.spec.agent ? { agent: obj.spec.agent } : {}),
      ...(obj.spec.policyRef?.name ? { policy: obj.spec.policyRef.name } : {}),
    });
    return digest;
  }

  private view(obj: T): LifecycleView {
    return lifecycleViewOf(obj, this.now(), this.kind.finalizer, this.kind.conditionType);
  }

  private ref(obj: T): NamespacedName {
    return { namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name ?? '' };
  }

  private condition(obj: T, status: Condition['status'], reason: string, message: string): Condition[] {
    return setCondition(obj.status?.conditions, { type: this.kind.conditionType, status, reason, message: message || reason }, obj.metadata.generation, new Date(this.now()));
  }

  private event(obj: T, policy: DefensePolicy | undefined, type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.deps.events.event(involvedObjectOf(policy ?? obj), type, reason, message);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const obj = this.deps.get(key);
    if (!obj) {
      this.pushed.delete(key);
      this.seenAt.delete(key);
      return;
    }
    if (this.deps.nodes) this.noteSeen(key, obj);
    const pushedAs = this.pushed.get(key);
    this.pushed.delete(key);
    const v = this.view(obj);
    const step = plan(v, this.deps.retentionMs, this.deps.unblockGiveUpMs);
    const what = this.kind.describe(obj);
    switch (step.do) {
      case 'nothing':
        return;
      case 'addFinalizer':
        await this.deps.objects.patch(this.ref(obj), {
          metadata: { finalizers: [...(obj.metadata.finalizers ?? []), this.kind.finalizer], resourceVersion: obj.metadata.resourceVersion },
        });
        return; // the update brings us back with the finalizer in place
      case 'finalize': {
        if (step.why === 'skipped') {
          this.event(obj, this.policyOf(obj), 'Warning', 'UnblockSkipped', `${obj.metadata.name}: finalizer removed without unblocking ${what} (floodgate.dev/skip-unblock); agents may still hold it until it expires`);
        }
        await this.removeFinalizer(obj);
        return;
      }
      case 'unblock':
        return this.unblockForDeletion(obj, step.giveUpAt);
      case 'delete':
        await this.deps.objects.delete(this.ref(obj)).catch((err) => {
          if (httpStatus(err) !== 404) throw err;
        });
        return;
      case 'retain': {
        // Status written before this release may lack observedGeneration: bring it up to date once.
        if (obj.status?.observedGeneration !== obj.metadata.generation) await this.patchStatus(obj, {});
        return { requeueAfterMs: Math.max(1000, step.until - v.now) };
      }
      case 'expire': {
        const policy = this.policyOf(obj);
        const held = v.status.phase === 'Active';
        await this.patchStatus(obj, {
          phase: 'Expired',
          blockedAt: rfc3339(step.window.start),
          expiresAt: rfc3339(step.window.heldUntil),
          message: held ? `expired at ${rfc3339(step.window.heldUntil)}` : `expired at ${rfc3339(step.window.heldUntil)} before any agent held it`,
          conditions: this.condition(obj, 'False', 'Expired', held ? 'the ban expired' : 'the ban expired before any agent held it'),
        });
        if (held) this.event(obj, policy, 'Normal', 'Expired', `${what} expired (${obj.metadata.name})`);
        return { requeueAfterMs: this.deps.retentionMs };
      }
      case 'release': {
        const { agents, policy } = await this.targets(obj);
        const failures = await this.removeEverywhere(obj, agents);
        const message = `removed on ${step.by} at ${rfc3339(step.releasedAt)}, before its expiry; lifted on every agent${failures.length ? ` except ${failures.join('; ')}` : ''}`;
        await this.patchStatus(obj, {
          phase: 'Released',
          blockedAt: rfc3339(step.window.start),
          message,
          conditions: this.condition(obj, 'False', 'Released', message),
        });
        this.event(obj, policy, failures.length ? 'Warning' : 'Normal', failures.length ? 'UnblockFailed' : 'Released', `${what}: ${message}`);
        return { requeueAfterMs: this.deps.retentionMs };
      }
      case 'hold':
        return { requeueAfterMs: Math.max(100, step.window.heldUntil - v.now + 100) };
      case 'push':
        return this.push(obj, key, pushedAs, step.window, step.seconds);
    }
  }

  private async push(obj: T, key: string, pushedAs: string | undefined, window: { start: number; end: number; heldUntil: number }, seconds: number): Promise<ReconcileResult> {
    const now = this.now();
    const what = this.kind.describe(obj);
    const { agents, nodes, problems, permanent, policy } = await this.targets(obj);
    const blockedAt = rfc3339(window.start);
    if (nodes.length > 0) return this.pushWithNodes(obj, key, pushedAs, window, seconds, agents, nodes, policy);

    if (agents.length === 0) {
      const message = problems.join('; ') || 'no agents';
      await this.patchStatus(obj, {
        phase: permanent ? 'Failed' : 'Pending',
        blockedAt,
        message,
        conditions: this.condition(obj, 'False', permanent ? 'NoAgents' : 'AgentsPending', message),
      });
      if (permanent) {
        this.event(obj, policy, 'Warning', 'BlockFailed', `cannot block ${what}: ${message}`);
        return;
      }
      throw new RetryableError(`no agents for ${key}: ${message}`);
    }

    const agentsKey = agents.map((a) => a.url).sort().join(' ');
    if (obj.status?.phase === 'Active' && pushedAs !== undefined && pushedAs === `${obj.metadata.resourceVersion}|${agentsKey}`) {
      // Our own status write after a complete push, seen again: nothing to push; what the agents observed since may be new.
      const observed = this.kind.observed?.(obj, key);
      const rv = observed && this.differs(obj, observed) ? await this.patchStatus(obj, observed) : obj.metadata.resourceVersion;
      this.pushed.set(key, `${rv}|${agentsKey}`);
      this.skippedPushes++;
      return { requeueAfterMs: window.heldUntil - now + 100 };
    }

    const { results, last } = await this.applyOnAgents(agents, obj, seconds, policy);
    const outcome = settlePush(results);
    const wasActive = obj.status?.phase === 'Active';

    if (outcome.phase === 'Failed') {
      const message = outcome.refused.join('; ');
      await this.patchStatus(obj, { phase: 'Failed', blockedAt, message, conditions: this.condition(obj, 'False', 'Refused', message) });
      this.event(obj, policy, 'Warning', 'BlockRefused', `agent refused to block ${what}: ${message}`);
      return;
    }
    if (outcome.phase === 'Pending') {
      const message = `agents unreachable: ${[...outcome.failed, ...outcome.refused].join('; ')}`;
      await this.patchStatus(obj, { phase: 'Pending', blockedAt, message, conditions: this.condition(obj, 'Unknown', 'AgentUnreachable', message) });
      throw new RetryableError(message);
    }

    // What the agents hold decides how long this stays Active, not only what was asked.
    const heldUntil = Math.max(window.end, outcome.expiresAt ?? window.end);
    const partial = [...outcome.refused, ...outcome.failed];
    const shortest = results.filter((r) => r.ok).reduce((m, r) => Math.min(m, (r as { expiresAt: number }).expiresAt), Infinity);
    const notes = [
      partial.length ? `held by ${outcome.held.length} of ${agents.length} agents; ${partial.join('; ')}` : `held by ${outcome.held.length} agent(s)`,
      ...(shortest < window.end - 1000 ? [`an agent holds it only until ${rfc3339(shortest)} (its own limit)`] : []),
      ...(heldUntil > window.end + 1000 ? [`an agent holds it until ${rfc3339(heldUntil)}, past the requested ${rfc3339(window.end)}`] : []),
    ];
    const writtenAs = await this.patchStatus(obj, {
      phase: 'Active',
      blockedAt,
      expiresAt: rfc3339(heldUntil),
      message: notes.join('; '),
      conditions: this.condition(obj, 'True', 'Blocked', `held by ${outcome.held.join(', ')}`),
      ...(this.kind.extraStatus?.(obj, last) ?? {}),
      ...(this.kind.observed?.(obj, key) ?? {}),
    });
    if (!outcome.retry && partial.length === 0 && writtenAs) this.pushed.set(key, `${writtenAs}|${agentsKey}`);
    if (!wasActive) this.event(obj, policy, 'Normal', 'Blocked', `blocked ${what} for ${Math.round((heldUntil - now) / 1000)}s (until ${rfc3339(heldUntil)})`);
    if (outcome.retry) throw new RetryableError(`some agents unreachable: ${outcome.failed.join('; ')}`);
    return { requeueAfterMs: heldUntil - now + 100 };
  }

  /** Apply on each agent in turn: one result per agent (held, refused or unreachable), health reported for each. */
  private async applyOnAgents(
    agents: AgentTarget[],
    obj: T,
    seconds: number,
    policy: DefensePolicy | undefined,
  ): Promise<{ results: PushResult[]; last: Omit<Held, 'expiresAt'> | undefined }> {
    const results: PushResult[] = [];
    let last: Omit<Held, 'expiresAt'> | undefined;
    for (const a of agents) {
      try {
        const r = await this.kind.apply(this.client(a), obj, seconds, policy);
        results.push({ agent: a.name, ok: true, ...r });
        last = r;
        this.reportHealth(policy, a, undefined);
      } catch (err) {
        const refused = err instanceof AgentApiError && err.kind === 'refused';
        results.push({ agent: a.name, ok: false, refused, message: (err as Error).message });
        this.reportHealth(policy, a, err);
      }
    }
    return { results, last };
  }

  /**
   * The push when nodes that watch the API server enforce it (docs/fanout.md):
   * the agents that do not watch (host agents by URL) get it pushed as above;
   * the nodes are counted from their reports. Active once anyone holds it;
   * while none does, Pending without a retry storm: each report that moves
   * brings the object back (controller.ts), and a safety requeue after 30 s.
   */
  private async pushWithNodes(
    obj: T,
    key: string,
    pushedAs: string | undefined,
    window: { start: number; end: number; heldUntil: number },
    seconds: number,
    agents: AgentTarget[],
    nodes: string[],
    policy: DefensePolicy | undefined,
  ): Promise<ReconcileResult> {
    const now = this.now();
    const what = this.kind.describe(obj);
    const blockedAt = rfc3339(window.start);
    const reports = this.deps.nodes as NodeReports;

    // Agents called over HTTP: skipped when our own last complete push is all that changed since.
    const agentsKey = agents.map((a) => a.url).sort().join(' ');
    const alreadyPushed = agents.length > 0 && obj.status?.phase === 'Active' && pushedAs === `${obj.metadata.resourceVersion}|${agentsKey}`;
    const { results, last } = alreadyPushed
      ? { results: agents.map((a): PushResult => ({ agent: a.name, ok: true, expiresAt: window.heldUntil })), last: undefined }
      : await this.applyOnAgents(agents, obj, seconds, policy);
    if (alreadyPushed) this.skippedPushes++;

    const rollout = this.rollout(obj, window);
    const count = reports.count(nodes, this.kind.kind, rollout.revision, failureKey(this.kind.kind, obj.metadata.namespace ?? 'default', obj.metadata.name ?? ''), now);
    const nodesStatus = rolloutStatus(rollout, count);
    const http = settlePush(results);
    const held = http.held.length + count.applied;
    const refused = http.refused.length + count.failed;
    const nodeLine = describeNodes(count);
    const httpLine = agents.length ? (http.held.length === agents.length ? `held by ${http.held.length} agent(s)` : `held by ${http.held.length} of ${agents.length} agents; ${[...http.refused, ...http.failed].join('; ')}`) : '';
    const message = [nodeLine, httpLine].filter(Boolean).join('; ');

    if (held === 0 && http.failed.length === 0 && count.pending === 0 && count.notReporting === 0 && refused > 0) {
      await this.patchStatus(obj, { phase: 'Failed', blockedAt, message, nodes: nodesStatus, conditions: this.condition(obj, 'False', 'Refused', message) });
      this.event(obj, policy, 'Warning', 'BlockRefused', `refused to block ${what}: ${message}`);
      return;
    }
    if (held === 0) {
      await this.patchStatus(obj, { phase: 'Pending', blockedAt, message, nodes: nodesStatus, conditions: this.condition(obj, 'Unknown', 'NodesApplying', message) });
      if (http.failed.length) throw new RetryableError(`agents unreachable: ${http.failed.join('; ')}`);
      return { requeueAfterMs: 30_000 };
    }
    const heldUntil = Math.max(window.end, http.expiresAt ?? window.end);
    const wasActive = obj.status?.phase === 'Active';
    const writtenAs = await this.patchStatus(obj, {
      phase: 'Active',
      blockedAt,
      expiresAt: rfc3339(heldUntil),
      message,
      nodes: nodesStatus,
      conditions: this.condition(obj, 'True', 'Blocked', message),
      ...(this.kind.extraStatus?.(obj, last) ?? {}),
    });
    if (agents.length && !http.retry && http.refused.length === 0 && writtenAs) this.pushed.set(key, `${writtenAs}|${agentsKey}`);
    if (!wasActive) this.event(obj, policy, 'Normal', 'Blocked', `blocked ${what} for ${Math.round((heldUntil - now) / 1000)}s (until ${rfc3339(heldUntil)}): ${message}`);
    if (http.retry) throw new RetryableError(`some agents unreachable: ${http.failed.join('; ')}`);
    return { requeueAfterMs: heldUntil - now + 100 };
  }

  private reportHealth(policy: DefensePolicy | undefined, a: AgentTarget, err: unknown): void {
    if (!policy || !this.deps.health) return;
    this.deps.health.report(policy, a.name, err);
  }

  /** Take it off every agent; the failures, one line each (a 4xx means nothing to remove there). */
  private async removeEverywhere(obj: T, agents: readonly AgentTarget[]): Promise<string[]> {
    const failures: string[] = [];
    for (const a of agents) {
      try {
        await this.kind.remove(this.client(a), obj);
      } catch (err) {
        if (err instanceof AgentApiError && err.kind === 'refused') continue;
        failures.push(`${a.name}: ${(err as Error).message}`);
      }
    }
    return failures;
  }

  private async unblockForDeletion(obj: T, giveUpAt: number): Promise<ReconcileResult> {
    const what = this.kind.describe(obj);
    const { agents, nodes, problems, policy } = await this.targets(obj);
    const failures = [...(agents.length === 0 && nodes.length === 0 ? problems : []), ...(await this.removeEverywhere(obj, agents))];
    // Nodes that watch need nobody to wait for them: they lift it when they see the deletion, or,
    // cut off meanwhile, when they list again and no longer find it (docs/fanout.md).
    const settled = settleUnblock(failures, this.now(), giveUpAt);
    if (settled.do === 'retry') {
      const message = `unblock pending: ${settled.failures.join('; ')}; giving up at ${rfc3339(giveUpAt)}`;
      await this.patchStatus(obj, { message, conditions: this.condition(obj, 'Unknown', 'Unblocking', message) });
      return { requeueAfterMs: settled.afterMs };
    }
    if (settled.do === 'abandon') {
      const message = `gave up unblocking ${what} after ${Math.round((giveUpAt - (epochMs(obj.metadata.deletionTimestamp) ?? giveUpAt)) / 1000)}s: ${settled.failures.join('; ')}; agents may hold it until ${obj.status?.expiresAt ?? 'it expires'}`;
      // Said on the object (for whoever watches it go) and as an Event (which outlives it).
      const rv = await this.patchStatus(obj, { message, conditions: this.condition(obj, 'Unknown', 'UnblockAbandoned', message) }).catch(() => undefined);
      this.event(obj, policy, 'Warning', 'UnblockAbandoned', `${obj.metadata.name}: ${message}`);
      await this.removeFinalizer(obj, rv);
      return;
    }
    if (obj.status?.phase === 'Active') this.event(obj, policy, 'Normal', 'Unblocked', `unblocked ${what} (${obj.metadata.name} deleted)`);
    await this.removeFinalizer(obj);
  }

  /** Drop our finalizer; `resourceVersion` guards against clobbering a finalizer someone else just added. */
  private async removeFinalizer(obj: T, resourceVersion = obj.metadata.resourceVersion): Promise<void> {
    await this.deps.objects
      .patch(this.ref(obj), {
        metadata: { finalizers: (obj.metadata.finalizers ?? []).filter((f) => f !== this.kind.finalizer), resourceVersion },
      })
      .catch((err) => {
        if (httpStatus(err) !== 404) throw err;
      });
  }

  /** Would these status fields change what status says? */
  private differs(obj: T, fields: Partial<EnforcementStatus>): boolean {
    const status = (obj.status ?? {}) as Record<string, unknown>;
    return Object.entries(fields).some(([k, v]) => JSON.stringify(status[k]) !== JSON.stringify(v));
  }

  /**
   * Merge-patch status, skipping the write when nothing would change.
   * Resolves with the resourceVersion the object has afterwards.
   */
  private async patchStatus(obj: T, patch: Partial<EnforcementStatus>): Promise<string | undefined> {
    const current = obj.status ?? {};
    const next = { ...current, ...patch, observedGeneration: obj.metadata.generation };
    if (sameJson(next, { ...current, observedGeneration: current.observedGeneration })) return obj.metadata.resourceVersion;
    const written = await this.deps.objects.patchStatus(this.ref(obj), next);
    return written?.metadata?.resourceVersion;
  }
}
