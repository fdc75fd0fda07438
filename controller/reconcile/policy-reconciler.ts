// Reconciles one DefensePolicy: resolve its agents and check each one answers
// with the token (AgentsReachable), accept or reject the spec (Ready), count
// its active BlockEvents and SignatureRules, tell each agent what the policy
// lets it do with its own verdicts (signature rules: auto, propose,
// disabled), keep its triggers in step with the spec, and run a defense when
// the floodgate.dev/trigger annotation changes (a manual trigger).
import type { Logger } from 'pino';
import { sameJson } from '../../lib/same-json.js';
import { AgentApiError } from '../../api/agent/v1/client.js';
import { findCondition, setCondition } from '../../api/v1alpha1/conditions.js';
import { DefensePolicyConditions, type BlockEvent, type Condition, type DefensePolicy, type DefensePolicyStatus, type SignatureRule } from '../../api/v1alpha1/index.js';
import type { SignaturePolicySettings } from '../../api/agent/v1/types.js';
import type { AgentRefusal, AgentResolver } from '../agents/agent-resolver.js';
import { httpAgentClients, type AgentClientFactory } from '../agents/agent-clients.js';
import type { AgentHealth } from '../agents/agent-health.js';
import type { EventRecorder } from '../../kube/event-recorder.js';
import { httpStatus, type ResourceClient } from '../../kube/resource-client.js';
import { TriggerScheduler } from './trigger-scheduler.js';
import type { NodeReports } from '../nodes/node-reports.js';
import type { ReconcileResult } from './block-event-reconciler.js';

export const MANUAL_TRIGGER_ANNOTATION = 'floodgate.dev/trigger';

export interface PolicyReconcilerDeps {
  policies: ResourceClient<DefensePolicy>;
  getPolicy: (key: string) => DefensePolicy | undefined;
  /** Why the cached policy does not match its schema (controller/resources/admission.ts); it is then not acted on. */
  specProblem?: (key: string) => string | undefined;
  listBlockEvents: () => BlockEvent[];
  /** The SignatureRules (activeSignatureRules); absent: not counted. */
  listSignatureRules?: () => SignatureRule[];
  resolver: AgentResolver;
  events: EventRecorder;
  triggers: TriggerScheduler;
  logger: Logger;
  now?: () => number;
  /** How often agents are re-checked while all is well. */
  recheckMs?: number;
  agentClients?: AgentClientFactory;
  /** Broken answers the other parts of the controller got from this policy's agents. */
  health?: AgentHealth;
  /** The reports of the agents that watch the API server. */
  nodes?: NodeReports;
  /** agentSelector agents watch (the chart's agent.sync: watch): their reports say whether they are there, not HTTP probes. */
  selectorAgentsWatch?: boolean;
}

/**
 * Why AgentsReachable is False, most actionable first: what the rules refused
 * (no waiting makes it work, the policy must change), then agents that break
 * the wire contract, fail TLS verification, reject the token (or the client
 * certificate), or do not answer.
 */
export function unreachableReason(refusals: readonly AgentRefusal[], kinds: ReadonlySet<string>, agents: number): string {
  if (refusals.some((r) => r.reason === 'SecretRefused')) return 'SecretRefused';
  if (refusals.length > 0) return 'AgentUrlNotAllowed';
  if (kinds.has('invalid') || kinds.has('forbidden')) return 'InvalidResponse';
  if (kinds.has('untrusted')) return 'AgentNotTrusted';
  if (kinds.has('unauthorized')) return 'AgentUnauthorized';
  return agents === 0 ? 'NoAgents' : 'AgentUnreachable';
}

/** What a policy tells its agents about signature rules from their own verdicts. */
export function signatureSettings(policy: DefensePolicy): SignaturePolicySettings {
  const m = policy.spec.mitigation;
  return {
    // observe blocks nothing: the agents only propose.
    mode: m.signatures === 'auto' && m.mode === 'observe' ? 'propose' : m.signatures,
    durationSeconds: Math.min(m.signatureLimits.durationSeconds, m.signatureLimits.maxDurationSeconds),
    maxRules: m.signatureLimits.maxActive,
    maxDurationSeconds: m.signatureLimits.maxDurationSeconds,
  };
}

export class PolicyReconciler {
  private manualSeen = new Map<string, string>();

  constructor(private readonly deps: PolicyReconcilerDeps) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    const { deps } = this;
    const policy = deps.getPolicy(key);
    if (!policy || policy.metadata.deletionTimestamp) {
      deps.triggers.remove(key);
      this.manualSeen.delete(key);
      deps.health?.forget(key);
      return;
    }
    const now = new Date((deps.now ?? Date.now)());
    const gen = policy.metadata.generation;
    let conditions: Condition[] = policy.status?.conditions ?? [];

    const watching = Boolean(deps.nodes && deps.selectorAgentsWatch && policy.spec.agentSelector);
    // The nodes whose reports list this policy: the Ready message, AgentsReachable, and
    // status.enforcingNodes, which the agents that watch read to spread their progress reports.
    const policyNodes = deps.nodes?.policyNodes(key);
    const { agents, problems, refusals = [] } = watching ? { agents: [], problems: [], refusals: [] } : await deps.resolver.resolve(policy);
    const failures: { name: string; err: AgentApiError | Error }[] = [];
    const settings = signatureSettings(policy);
    await Promise.all(
      agents.map(async (a) => {
        const client = (deps.agentClients ?? httpAgentClients)(a, 3000);
        try {
          await client.readyz();
        } catch (err) {
          failures.push({ name: a.name, err: err as Error });
          return;
        }
        // Idempotent; an agent without signature rules (an older one) answers 404 and is left alone.
        await client.setSignaturePolicy(policy.metadata.name ?? '', settings).catch((err: unknown) => {
          if (!(err instanceof AgentApiError && err.status === 404)) deps.logger.warn({ agent: a.name, err: (err as Error).message }, 'cannot tell an agent the policy\'s signature settings');
        });
      }),
    );

    const invalidSpec = deps.specProblem?.(key);
    const scheduleOk = TriggerScheduler.validSchedule(policy.spec.trigger.schedule);
    const noAgents = !policy.spec.agents?.length && !policy.spec.agentSelector;
    conditions = setCondition(
      conditions,
      invalidSpec
        ? { type: DefensePolicyConditions.Ready, status: 'False', reason: 'InvalidSpec', message: invalidSpec.slice(0, 2000) }
        : !scheduleOk
        ? { type: DefensePolicyConditions.Ready, status: 'False', reason: 'InvalidSchedule', message: `trigger.schedule "${policy.spec.trigger.schedule}" is not a valid cron expression` }
        : noAgents
          ? { type: DefensePolicyConditions.Ready, status: 'False', reason: 'NoAgents', message: 'set spec.agents or spec.agentSelector' }
          : { type: DefensePolicyConditions.Ready, status: 'True', reason: 'Reconciled', message: watching ? `policy accepted; ${policyNodes?.count ?? 0} node(s) watching` : `policy accepted; ${agents.length} agent(s)` },
      gen,
      now,
    );
    // The readiness checks above, and what the ban sync, the pushes and the analyses met since.
    const seen = (deps.health?.problems(policy) ?? []).filter((p) => !failures.some((f) => f.name === p.agent));
    const allProblems = [...problems, ...failures.map((f) => `${f.name}: ${f.err.message}`), ...seen.map((p) => `${p.agent}: ${p.message}`)];
    const kinds = new Set([...failures.map((f) => (f.err instanceof AgentApiError ? f.err.kind : 'unreachable')), ...seen.map((p) => p.kind)]);
    let reachable = allProblems.length === 0 && agents.length > 0;
    let reason = unreachableReason(refusals, kinds, agents.length);
    const before = findCondition(conditions, DefensePolicyConditions.AgentsReachable);
    if (watching) {
      // The agents watch the API server: they are there when their FloodgateNode reports say so.
      const { count, silent } = policyNodes ?? { count: 0, silent: [] };
      reachable = count > 0 && silent.length === 0;
      reason = count === 0 ? 'NoNodesReporting' : 'NodesNotReporting';
      conditions = setCondition(
        conditions,
        reachable
          ? { type: DefensePolicyConditions.AgentsReachable, status: 'True', reason: 'NodesReporting', message: `${count} node(s) enforce it (their agents watch the API server)` }
          : { type: DefensePolicyConditions.AgentsReachable, status: 'False', reason, message: count === 0 ? 'no FloodgateNode report lists this policy: are the agents running, and does agentSelector match their labels?' : `${silent.length} of ${count} node(s) stopped reporting: ${silent.slice(0, 10).join(', ')}` },
        gen,
        now,
      );
      allProblems.push(...(reachable ? [] : ['nodes not reporting']));
    } else {
      conditions = setCondition(
        conditions,
        reachable
          ? { type: DefensePolicyConditions.AgentsReachable, status: 'True', reason: 'AllAgentsReachable', message: `${agents.length} agent(s) answered` }
          : { type: DefensePolicyConditions.AgentsReachable, status: 'False', reason, message: allProblems.join('; ').slice(0, 2000) || 'no agents' },
        gen,
        now,
      );
    }
    if (!findCondition(conditions, DefensePolicyConditions.UnderAttack)) {
      conditions = setCondition(conditions, { type: DefensePolicyConditions.UnderAttack, status: 'Unknown', reason: 'NoAnalysis', message: 'no analysis yet' }, gen, now);
    }
    if (invalidSpec) void deps.events.warning(policy, 'InvalidSpec', `not acted on until fixed: ${invalidSpec}`.slice(0, 1000));
    if (!reachable && (before?.status !== 'False' || before.reason !== reason)) {
      void deps.events.warning(policy, reason, allProblems.join('; ').slice(0, 1000) || 'no agents');
    }

    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    const activeBlocks = deps.listBlockEvents().filter((b) => b.metadata.namespace === ns && b.spec.policyRef?.name === name && b.status?.phase === 'Active').length;
    const activeSignatureRules = deps.listSignatureRules?.().filter((r) => r.metadata.namespace === ns && r.spec.policyRef?.name === name && r.status?.phase === 'Active').length;
    const nodeCount = policyNodes?.count;
    const status: DefensePolicyStatus = {
      observedGeneration: gen,
      conditions,
      activeBlocks,
      ...(activeSignatureRules !== undefined ? { activeSignatureRules } : {}),
      ...(nodeCount !== undefined ? { enforcingNodes: nodeCount } : {}),
    };
    const old = policy.status ?? {};
    if (!sameJson({ o: old.observedGeneration, c: old.conditions, a: old.activeBlocks, s: old.activeSignatureRules, n: old.enforcingNodes }, { o: gen, c: conditions, a: activeBlocks, s: activeSignatureRules ?? old.activeSignatureRules, n: nodeCount ?? old.enforcingNodes })) {
      try {
        await deps.policies.patchStatus({ namespace: ns, name }, status);
      } catch (err) {
        // A status write is validated against the whole object: while the stored spec fails the
        // CRD the server now has, it is refused (422), and the InvalidSpec event says why.
        if (!(invalidSpec && httpStatus(err) === 422)) throw err;
      }
    }

    if (invalidSpec) deps.triggers.remove(key);
    else if (scheduleOk) deps.triggers.ensure(key, policy);
    const manual = policy.metadata.annotations?.[MANUAL_TRIGGER_ANNOTATION];
    if (manual !== undefined && !invalidSpec && this.manualSeen.get(key) !== manual) {
      this.manualSeen.set(key, manual);
      void deps.triggers.fire(key, { reason: 'manual' });
    }
    return { requeueAfterMs: reachable ? (deps.recheckMs ?? 30_000) : 10_000 };
  }
}
