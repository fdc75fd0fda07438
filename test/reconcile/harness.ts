// One controller's reconcile parts (BlockEvent reconciler, agent ban sync,
// defense runner) wired to the fakes, with a work loop standing in for the
// work queue: settle() reconciles every object until a round writes nothing.
import { AgentHealth } from '../../controller/agents/agent-health.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';
import { AgentBanSync } from '../../controller/reconcile/agent-ban-sync.js';
import { BlockEventReconciler, RetryableError } from '../../controller/reconcile/block-event-reconciler.js';
import { DefenseRunner } from '../../controller/reconcile/defense-runner.js';
import { Clock, FakeAgents, FakeEvents, FakeObjects, fakeResolver, policy as makePolicy, silent } from './fakes.js';
import type { MemoryMonitor } from '../../controller/memory/memory-monitor.js';

export const NS = 'shop';
export const RETENTION_MS = 3600_000;

export class Harness {
  readonly clock = new Clock();
  readonly objects = new FakeObjects<BlockEvent>(this.clock);
  readonly policyObjects = new FakeObjects<DefensePolicy>(this.clock);
  readonly agents = new FakeAgents(this.clock);
  readonly events = new FakeEvents();
  readonly policies = new Map<string, DefensePolicy>();
  readonly lost: string[] = [];
  /** Keys whose last reconcile threw RetryableError, with the message. */
  readonly retries = new Map<string, string>();
  readonly health = new AgentHealth(() => undefined, this.clock.now);
  readonly reconciler: BlockEventReconciler;
  readonly sync: AgentBanSync;
  readonly runner: DefenseRunner;

  constructor() {
    const deps = {
      resolver: fakeResolver,
      events: this.events,
      logger: silent,
      now: this.clock.now,
      agentClients: this.agents.factory,
      health: this.health,
    };
    this.reconciler = new BlockEventReconciler({
      ...deps,
      blockEvents: this.objects,
      getBlockEvent: (key) => this.objects.get(key),
      getPolicy: (ns, name) => this.policies.get(`${ns}/${name}`),
      retentionMs: RETENTION_MS,
    });
    this.sync = new AgentBanSync({
      ...deps,
      blockEvents: this.objects,
      getBlockEvent: (ns, name) => this.objects.getIn(ns, name),
      listBlockEvents: () => this.objects.list(),
      listPolicies: () => [...this.policies.values()],
      fullResyncMs: 30_000,
      onLost: (be) => {
        this.lost.push(be.metadata.name ?? '');
        this.reconciler.forgetPush(`${be.metadata.namespace}/${be.metadata.name}`);
      },
    });
    this.runner = new DefenseRunner({
      ...deps,
      policies: this.policyObjects,
      blockEvents: this.objects,
      listBlockEvents: () => this.objects.list(),
      listPods: async () => [],
      memory: {} as MemoryMonitor,
      events: this.events as never,
    });
  }

  /** A policy with fake agents at these URLs. */
  policy(name: string, urls: string[], spec: Parameters<typeof makePolicy>[2] = {}): DefensePolicy {
    for (const u of urls) if (!this.agents.byUrl.has(u)) this.agents.add(u);
    const p = makePolicy(name, urls, spec, NS);
    this.policies.set(`${NS}/${name}`, p);
    void this.policyObjects.create(NS, structuredClone(p)).catch(() => undefined);
    return p;
  }

  agent(url: string) {
    return this.agents.byUrl.get(url)!;
  }

  be(name: string): BlockEvent | undefined {
    return this.objects.getIn(NS, name);
  }

  /** Reconcile every BlockEvent until a round writes nothing (at most `rounds`). */
  async settle(rounds = 10): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const before = this.objects.writes.length;
      for (const key of this.objects.keys()) {
        try {
          await this.reconciler.reconcile(key);
          this.retries.delete(key);
        } catch (err) {
          if (!(err instanceof RetryableError)) throw err;
          this.retries.set(key, err.message);
        }
      }
      if (this.objects.writes.length === before) return;
    }
  }

  /** One ban-sync poll, then settle. */
  async poll(): Promise<void> {
    for (const p of this.policies.values()) await this.sync.syncPolicy(p);
    await this.settle();
  }

  /** Create a BlockEvent as a user would (kubectl apply), then settle. */
  async apply(be: { name: string; ip: string; durationSeconds: number; policy?: string; agent?: string; annotations?: Record<string, string> }): Promise<BlockEvent> {
    await this.objects.create(NS, {
      apiVersion: 'floodgate.dev/v1alpha1',
      kind: 'BlockEvent',
      metadata: { name: be.name, namespace: NS, ...(be.annotations ? { annotations: be.annotations } : {}) },
      spec: { ip: be.ip, durationSeconds: be.durationSeconds, ...(be.policy ? { policyRef: { name: be.policy } } : {}), ...(be.agent ? { agent: be.agent } : {}) },
    } as BlockEvent);
    await this.settle();
    return this.be(be.name)!;
  }

  /** One defense of `policy` (as a trigger would run it), then settle. */
  async defend(policy: string) {
    const outcome = await this.runner.defend(this.policies.get(`${NS}/${policy}`)!, { reason: 'manual' });
    await this.settle();
    return outcome;
  }

  async deleteBe(name: string): Promise<void> {
    await this.objects.delete({ namespace: NS, name });
    await this.settle();
  }
}

export { RetryableError };
