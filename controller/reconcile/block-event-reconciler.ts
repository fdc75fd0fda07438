// Reconciles one BlockEvent, level-triggered and idempotent: make every agent
// of its policy hold the ban until status.expiresAt (= blockedAt +
// spec.durationSeconds), then mark it Expired; on deletion, unblock through
// the finalizer before the object goes; delete Expired/Released/Failed ones
// after the retention period. Safe to run again at any time: agents treat a
// repeated ban as "keep", so a restarted controller re-pushes without duplicates.
import type { Logger } from 'pino';
import { AgentApiClient, AgentApiError } from '../../api/agent/v1/client.js';
import type { BanRecord } from '../../api/agent/v1/types.js';
import { setCondition, toRfc3339 } from '../../api/v1alpha1/conditions.js';
import { BlockEventConditions, UNBLOCK_FINALIZER, type BlockEvent, type BlockEventStatus, type DefensePolicy } from '../../api/v1alpha1/index.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import { involvedObjectOf } from '../kube/event-recorder.js';
import type { ResourceClient } from '../resources/resource-client.js';
import { httpStatus } from '../resources/resource-client.js';
import type { AgentResolver, AgentTarget } from '../agents/agent-resolver.js';

export interface BlockEventReconcilerDeps {
  blockEvents: ResourceClient<BlockEvent>;
  getBlockEvent: (key: string) => BlockEvent | undefined;
  getPolicy: (namespace: string, name: string) => DefensePolicy | undefined;
  resolver: AgentResolver;
  events: EventRecorder;
  logger: Logger;
  retentionMs: number;
  now?: () => number;
  agentTimeoutMs?: number;
}

export type ReconcileResult = void | { requeueAfterMs?: number };

/** Thrown when agents could not be reached: the work queue retries with backoff. */
export class RetryableError extends Error {}

export class BlockEventReconciler {
  /**
   * Key → "<resourceVersion>|<agents>" of the object our own last status
   * write produced after every agent took the ban. When that write brings
   * the BlockEvent back to the queue unchanged (same resourceVersion, same
   * agents), pushing the ban again would be a no-op: it is skipped. Any other
   * change (spec, someone else's write, another agent set) pushes again.
   */
  private readonly pushed = new Map<string, string>();
  /** Agent pushes skipped because nothing changed since the last one (tests, diagnostics). */
  skippedPushes = 0;

  constructor(private readonly deps: BlockEventReconcilerDeps) {}

  /** Forget what was pushed (on gaining leadership: push everything once). */
  forgetPushes(): void {
    this.pushed.clear();
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** The agents that hold (or should hold) this ban. */
  private async targets(be: BlockEvent): Promise<{ agents: AgentTarget[]; problems: string[]; policy?: DefensePolicy }> {
    const ns = be.metadata.namespace ?? 'default';
    const policyName = be.spec.policyRef?.name;
    const policy = policyName ? this.deps.getPolicy(ns, policyName) : undefined;
    if (policyName && !policy) return { agents: [], problems: [`DefensePolicy ${ns}/${policyName} not found`] };
    if (policy) {
      const r = await this.deps.resolver.resolve(policy);
      // A BlockEvent bound to one agent (spec.agent) stays on that one, with the policy's token.
      const agents = be.spec.agent ? r.agents.filter((a) => a.url === be.spec.agent || a.name === be.spec.agent) : r.agents;
      return { agents: agents.length ? agents : r.agents, problems: r.problems, policy };
    }
    if (be.spec.agent) return { agents: [{ name: be.spec.agent, url: be.spec.agent }], problems: [] };
    return { agents: [], problems: ['no agent: set spec.policyRef (to use the policy\'s agents) or spec.agent'] };
  }

  private client(a: AgentTarget): AgentApiClient {
    return new AgentApiClient({ url: a.url, token: a.token, timeoutMs: this.deps.agentTimeoutMs ?? 5000 });
  }

  private eventTarget(be: BlockEvent, policy?: DefensePolicy) {
    return involvedObjectOf(policy ?? be);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const be = this.deps.getBlockEvent(key);
    if (!be) {
      this.pushed.delete(key);
      return;
    }
    const ref = { namespace: be.metadata.namespace ?? 'default', name: be.metadata.name ?? '' };
    const finalizers = be.metadata.finalizers ?? [];

    const pushedAs = this.pushed.get(key);
    this.pushed.delete(key);
    if (be.metadata.deletionTimestamp) {
      if (!finalizers.includes(UNBLOCK_FINALIZER)) return;
      const { agents, policy } = await this.targets(be);
      const failures: string[] = [];
      for (const a of agents) {
        try {
          await this.client(a).unblock(be.spec.ip);
        } catch (err) {
          if (err instanceof AgentApiError && err.kind === 'refused') continue; // nothing to remove there
          failures.push(`${a.name}: ${(err as Error).message}`);
        }
      }
      if (failures.length > 0) {
        await this.patchStatus(be, { message: `unblock pending: ${failures.join('; ')}` });
        throw new RetryableError(`cannot unblock ${be.spec.ip} yet: ${failures.join('; ')}`);
      }
      await this.deps.blockEvents.patch(ref, {
        metadata: { finalizers: finalizers.filter((f) => f !== UNBLOCK_FINALIZER), resourceVersion: be.metadata.resourceVersion },
      });
      if (be.status?.phase === 'Active') {
        void this.deps.events.event(this.eventTarget(be, policy), 'Normal', 'Unblocked', `unblocked ${be.spec.ip} (BlockEvent ${ref.name} deleted)`);
      }
      return;
    }

    if (!finalizers.includes(UNBLOCK_FINALIZER)) {
      await this.deps.blockEvents.patch(ref, {
        metadata: { finalizers: [...finalizers, UNBLOCK_FINALIZER], resourceVersion: be.metadata.resourceVersion },
      });
      return; // the update brings us back with the finalizer in place
    }

    const now = this.now();
    const phase = be.status?.phase ?? 'Pending';
    if (phase === 'Expired' || phase === 'Released' || phase === 'Failed') {
      const since = Date.parse(be.status?.expiresAt ?? '') || Date.parse(be.metadata.creationTimestamp as unknown as string) || now;
      const left = since + this.deps.retentionMs - now;
      if (left <= 0) {
        await this.deps.blockEvents.delete(ref).catch((err) => {
          if (httpStatus(err) !== 404) throw err;
        });
        return;
      }
      return { requeueAfterMs: left };
    }

    const blockedAt = Date.parse(be.status?.blockedAt ?? '') || now;
    const expiresAt = blockedAt + be.spec.durationSeconds * 1000;
    const { agents, problems, policy } = await this.targets(be);

    if (now >= expiresAt) {
      for (const a of agents) await this.client(a).unblock(be.spec.ip).catch(() => undefined); // the agent expired it too
      await this.patchStatus(be, {
        phase: 'Expired',
        expiresAt: toRfc3339(new Date(expiresAt)),
        message: `expired at ${toRfc3339(new Date(expiresAt))}`,
        conditions: setCondition(be.status?.conditions, { type: BlockEventConditions.Blocked, status: 'False', reason: 'Expired', message: 'the ban expired' }, be.metadata.generation, new Date(now)),
      });
      return { requeueAfterMs: this.deps.retentionMs };
    }

    if (agents.length === 0) {
      await this.patchStatus(be, {
        phase: problems.some((p) => /not found|no agent/.test(p)) ? 'Failed' : 'Pending',
        message: problems.join('; ') || 'no agents',
        conditions: setCondition(be.status?.conditions, { type: BlockEventConditions.Blocked, status: 'False', reason: 'NoAgents', message: problems.join('; ') }, be.metadata.generation, new Date(now)),
      });
      if (problems.some((p) => /not found|no agent/.test(p))) return;
      throw new RetryableError(`no agents for ${key}: ${problems.join('; ')}`);
    }

    const agentsKey = agents.map((a) => a.url).sort().join(' ');
    if (phase === 'Active' && pushedAs !== undefined && pushedAs === `${be.metadata.resourceVersion}|${agentsKey}`) {
      // Our own status write after a complete push, seen again: nothing to push.
      this.pushed.set(key, pushedAs);
      this.skippedPushes++;
      return { requeueAfterMs: expiresAt - now + 100 };
    }

    const remaining = Math.max(1, Math.ceil((expiresAt - now) / 1000));
    const target = be.spec.ip.includes('/') ? { cidr: be.spec.ip } : { ip: be.spec.ip };
    const refused: string[] = [];
    const unreachable: string[] = [];
    let record: BanRecord | undefined;
    for (const a of agents) {
      try {
        record = await this.client(a).block({
          ...target,
          durationSeconds: remaining,
          reason: (be.spec.reason || `BlockEvent ${ref.name}`).replace(/[\r\n\t]/g, ' ').slice(0, 200),
          ...(policy ? { policy: policy.metadata.name } : {}),
        });
      } catch (err) {
        if (err instanceof AgentApiError && err.kind === 'refused') refused.push(`${a.name}: ${err.message}`);
        else unreachable.push(`${a.name}: ${(err as Error).message}`);
      }
    }

    if (!record && refused.length > 0 && unreachable.length === 0) {
      const message = refused.join('; ');
      await this.patchStatus(be, {
        phase: 'Failed',
        message,
        conditions: setCondition(be.status?.conditions, { type: BlockEventConditions.Blocked, status: 'False', reason: 'Refused', message }, be.metadata.generation, new Date(now)),
      });
      void this.deps.events.event(this.eventTarget(be, policy), 'Warning', 'BlockRefused', `agent refused to block ${be.spec.ip}: ${message}`);
      return;
    }

    if (!record) {
      const message = `agents unreachable: ${unreachable.join('; ')}`;
      await this.patchStatus(be, {
        message,
        conditions: setCondition(be.status?.conditions, { type: BlockEventConditions.Blocked, status: 'Unknown', reason: 'AgentUnreachable', message }, be.metadata.generation, new Date(now)),
      });
      throw new RetryableError(message);
    }

    const wasActive = phase === 'Active';
    const partial = [...refused, ...unreachable];
    const status: Partial<BlockEventStatus> = {
      phase: 'Active',
      blockedAt: toRfc3339(new Date(blockedAt)),
      expiresAt: toRfc3339(new Date(expiresAt)),
      backend: record.backend,
      offenceCount: Number(be.metadata.annotations?.['floodgate.dev/offences'] ?? record.offenceCount ?? 1),
      message: partial.length ? `blocked on ${agents.length - partial.length} of ${agents.length} agents; ${partial.join('; ')}` : `blocked on ${agents.length} agent(s)`,
      conditions: setCondition(be.status?.conditions, { type: BlockEventConditions.Blocked, status: 'True', reason: 'Blocked', message: `held by ${agents.map((a) => a.name).join(', ')}` }, be.metadata.generation, new Date(now)),
    };
    const writtenAs = await this.patchStatus(be, status);
    if (unreachable.length === 0 && refused.length === 0 && writtenAs) this.pushed.set(key, `${writtenAs}|${agentsKey}`);
    if (!wasActive) {
      void this.deps.events.event(this.eventTarget(be, policy), 'Normal', 'Blocked', `blocked ${be.spec.ip} for ${be.spec.durationSeconds}s${be.spec.reason ? `: ${be.spec.reason}` : ''}`);
    }
    if (unreachable.length > 0) throw new RetryableError(`some agents unreachable: ${unreachable.join('; ')}`);
    return { requeueAfterMs: expiresAt - now + 100 };
  }

  /**
   * Merge-patch status, skipping the write when nothing would change.
   * Resolves with the resourceVersion the object has afterwards.
   */
  private async patchStatus(be: BlockEvent, patch: Partial<BlockEventStatus>): Promise<string | undefined> {
    const current = be.status ?? {};
    const next = { ...current, ...patch, observedGeneration: be.metadata.generation };
    if (JSON.stringify(next) === JSON.stringify({ ...current, observedGeneration: current.observedGeneration })) return be.metadata.resourceVersion;
    const written = await this.deps.blockEvents.patchStatus({ namespace: be.metadata.namespace ?? 'default', name: be.metadata.name ?? '' }, next);
    return written?.metadata?.resourceVersion;
  }
}
