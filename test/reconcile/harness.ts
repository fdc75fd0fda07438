// One controller's reconcile parts for one kind of enforcement object (its
// reconciler, its agent sync, the defense runner) wired to the fakes, with a
// work loop standing in for the work queue: settle() reconciles every object
// until a round writes nothing. EnforcementHarness is generic over the kind,
// as enforcement-reconciler.ts is; Harness is the BlockEvent one,
// SignatureRuleHarness the SignatureRule one.
import assert from 'node:assert/strict';
import { AgentHealth } from '../../controller/agents/agent-health.js';
import type { BlockEvent, DefensePolicy, SignatureRule } from '../../api/v1alpha1/index.js';
import { AgentBanSync } from '../../controller/reconcile/agent-ban-sync.js';
import { AgentSignatureSync } from '../../controller/reconcile/agent-signature-sync.js';
import { BlockEventReconciler } from '../../controller/reconcile/block-event-reconciler.js';
import { DefenseRunner } from '../../controller/reconcile/defense-runner.js';
import { RetryableError, type EnforcementObject, type EnforcementReconciler } from '../../controller/reconcile/enforcement-reconciler.js';
import { SignatureRuleReconciler } from '../../controller/reconcile/signature-rule-reconciler.js';
import { SignatureRulesFromVerdict } from '../../controller/reconcile/signature-rules-from-verdict.js';
import { NodeReports } from '../../controller/nodes/node-reports.js';
import { Clock, FakeAgents, FakeEvents, FakeObjects, fakeResolver, policy as makePolicy, silent } from './fakes.js';
import type { MemoryMonitor } from '../../controller/memory/memory-monitor.js';

export const NS = 'shop';
export const RETENTION_MS = 3600_000;

export interface HarnessOptions {
  /**
   * The policies' agentSelector agents watch the API server (docs/fanout.md):
   * the reconciler counts the nodes' reports in `reports` instead of pushing.
   */
  selectorAgentsWatch?: boolean;
}

/** A kind's agent sync, as the harness drives it: one read of a policy's agents. */
interface PolicySync {
  syncPolicy(policy: DefensePolicy): Promise<unknown>;
}

export abstract class EnforcementHarness<T extends EnforcementObject, S extends PolicySync> {
  readonly clock = new Clock();
  readonly objects = new FakeObjects<T>(this.clock);
  readonly policyObjects = new FakeObjects<DefensePolicy>(this.clock);
  readonly agents = new FakeAgents(this.clock);
  readonly events = new FakeEvents();
  readonly policies = new Map<string, DefensePolicy>();
  /** The nodes' reports (FloodgateNodes), read only with `selectorAgentsWatch`. */
  readonly reports = new NodeReports(this.clock.now);
  /** Names of the objects the sync found lost on an agent. */
  readonly lost: string[] = [];
  /** Keys whose last reconcile threw RetryableError, with the message. */
  readonly retries = new Map<string, string>();
  readonly health = new AgentHealth(() => undefined, this.clock.now);
  abstract readonly reconciler: EnforcementReconciler<T>;
  abstract readonly sync: S;
  abstract readonly runner: DefenseRunner;

  constructor(private readonly options: HarnessOptions = {}) {}

  /** What every part takes: the fakes and the clock. */
  protected parts() {
    return { resolver: fakeResolver, events: this.events, logger: silent, now: this.clock.now, agentClients: this.agents.factory, health: this.health };
  }

  /** What the reconciler takes besides the parts and its kind's objects. */
  protected reconcilerParts() {
    return {
      getPolicy: (ns: string, name: string) => this.policies.get(`${ns}/${name}`),
      retentionMs: RETENTION_MS,
      ...(this.options.selectorAgentsWatch ? { nodes: this.reports, selectorAgentsWatch: true } : {}),
    };
  }

  /** What the agent sync takes besides the parts and its kind's objects: every policy, and onLost. */
  protected syncParts() {
    return { ...this.parts(), listPolicies: () => [...this.policies.values()], onLost: this.onLost };
  }

  /** What the defense runner takes besides the parts and what it creates: no pods, no memory readings. */
  protected runnerParts() {
    return { ...this.parts(), policies: this.policyObjects, listPods: async () => [], memory: {} as MemoryMonitor, events: this.events as never };
  }

  /** The sync's onLost: recorded, and the reconciler pushes it again. */
  protected readonly onLost = (obj: T): void => {
    this.lost.push(obj.metadata.name ?? '');
    this.reconciler.forgetPush(`${obj.metadata.namespace}/${obj.metadata.name}`);
  };

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

  /** Reconcile every object until a round writes nothing (at most `rounds`). */
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

  /** One sync poll of every policy, then settle. */
  async poll(): Promise<void> {
    for (const p of this.policies.values()) await this.sync.syncPolicy(p);
    await this.settle();
  }

  /** Create an object as a user would (kubectl apply), then settle. */
  protected async applyObject(kind: string, name: string, spec: object, annotations?: Record<string, string>): Promise<T> {
    await this.objects.create(NS, {
      apiVersion: 'floodgate.dev/v1alpha1',
      kind,
      metadata: { name, namespace: NS, ...(annotations ? { annotations } : {}) },
      spec,
    } as unknown as T);
    await this.settle();
    return this.objects.getIn(NS, name)!;
  }
}

/** The BlockEvent reconciler, the agent ban sync and the defense runner. */
export class Harness extends EnforcementHarness<BlockEvent, AgentBanSync> {
  readonly reconciler: BlockEventReconciler;
  readonly sync: AgentBanSync;
  readonly runner: DefenseRunner;

  constructor(options: HarnessOptions = {}) {
    super(options);
    this.reconciler = new BlockEventReconciler({
      ...this.parts(),
      ...this.reconcilerParts(),
      blockEvents: this.objects,
      getBlockEvent: (key) => this.objects.get(key),
    });
    this.sync = new AgentBanSync({
      ...this.syncParts(),
      blockEvents: this.objects,
      getBlockEvent: (ns, name) => this.objects.getIn(ns, name),
      listBlockEvents: () => this.objects.list(),
      fullResyncMs: 30_000,
    });
    this.runner = new DefenseRunner({ ...this.runnerParts(), blockEvents: this.objects, listBlockEvents: () => this.objects.list() });
  }

  be(name: string): BlockEvent | undefined {
    return this.objects.getIn(NS, name);
  }

  /** Create a BlockEvent as a user would (kubectl apply), then settle. */
  apply(be: { name: string; ip: string; durationSeconds: number; policy?: string; agent?: string; annotations?: Record<string, string> }): Promise<BlockEvent> {
    const spec = { ip: be.ip, durationSeconds: be.durationSeconds, ...(be.policy ? { policyRef: { name: be.policy } } : {}), ...(be.agent ? { agent: be.agent } : {}) };
    return this.applyObject('BlockEvent', be.name, spec, be.annotations);
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

/**
 * The SignatureRule reconciler, the agent signature sync and the defense
 * runner with signature rules from the verdicts (and no BlockEvents).
 */
export class SignatureRuleHarness extends EnforcementHarness<SignatureRule, AgentSignatureSync> {
  readonly reconciler: SignatureRuleReconciler;
  readonly sync: AgentSignatureSync;
  readonly runner: DefenseRunner;
  /** Names of the rules whose counters the sync asked to be written to status. */
  readonly countersAsked: string[] = [];

  constructor(options: HarnessOptions = {}) {
    super(options);
    this.sync = new AgentSignatureSync({
      ...this.syncParts(),
      signatureRules: this.objects,
      getSignatureRule: (ns, name) => this.objects.getIn(ns, name),
      listSignatureRules: () => this.objects.list(),
      countersIntervalMs: 5000,
      onCounters: (sr) => this.countersAsked.push(sr.metadata.name ?? ''),
    });
    this.reconciler = new SignatureRuleReconciler({
      ...this.parts(),
      ...this.reconcilerParts(),
      signatureRules: this.objects,
      getSignatureRule: (key) => this.objects.get(key),
      counters: (key) => this.sync.counters(key),
    });
    this.runner = new DefenseRunner({
      ...this.runnerParts(),
      blockEvents: { create: async () => assert.fail('no BlockEvent expected'), patch: async () => assert.fail('no BlockEvent expected') } as never,
      listBlockEvents: () => [],
      signatures: new SignatureRulesFromVerdict({ signatureRules: this.objects, listSignatureRules: () => this.objects.list(), events: this.events, logger: silent, now: this.clock.now }),
    });
  }

  sr(name: string): SignatureRule | undefined {
    return this.objects.getIn(NS, name);
  }

  /** Create a SignatureRule as a user would (kubectl apply), then settle. */
  apply(name: string, spec: Omit<SignatureRule['spec'], 'policyRef'> & { policy?: string }): Promise<SignatureRule> {
    const { policy, ...rest } = spec;
    return this.applyObject('SignatureRule', name, { ...rest, ...(policy ? { policyRef: { name: policy } } : {}) });
  }
}

export { RetryableError };
