// The controller's defense for one DefensePolicy: when triggered (pod memory
// above the threshold, the cron schedule, continuous mode, or by hand) ask
// every agent to analyze, record the result in status, and, in block mode,
// turn each attacker into a BlockEvent: created once per (policy, address),
// extended and escalated on a repeat, never beyond maxActiveBlocks and never
// for allowlisted addresses.
import type { Logger } from 'pino';
import type { V1Pod } from '@kubernetes/client-node';
import { mergeAggregates, type AggregateExport } from '../../detection/aggregate.js';
import { judgeAggregate } from '../../detection/analyze.js';
import type { AttackerEvidence, ExplicitTrigger, Verdict } from '../../detection/types.js';
import { setCondition, toRfc3339 } from '../../api/v1alpha1/conditions.js';
import { expiry, MAX_BAN_SECONDS } from '../../api/ban-time.js';
import { CidrMatcher } from '../../lib/cidr-match.js';
import {
  banDurationSeconds,
  DefensePolicyConditions,
  type BlockEvent,
  type DefensePolicy,
  type DefensePolicyStatus,
  type TriggerReason,
} from '../../api/v1alpha1/index.js';
import type { AgentResolver } from '../agents/agent-resolver.js';
import { httpAgentClients, type AgentClientFactory } from '../agents/agent-clients.js';
import type { AgentHealth } from '../agents/agent-health.js';
import type { EventRecorder } from '../../kube/event-recorder.js';
import { aboveThreshold, type MemoryMonitor } from '../memory/memory-monitor.js';
import { httpStatus, type ResourceClient } from '../../kube/resource-client.js';
import { findBlockEvent, newBlockEvent } from './block-event-names.js';
import { banWindow, LifecycleAnnotations, rfc3339 } from './enforcement-lifecycle.js';
import { lifecycleViewOf } from './enforcement-reconciler.js';
import type { SignatureRulesFromVerdict } from './signature-rules-from-verdict.js';

export interface DefenseRunnerDeps {
  policies: Pick<ResourceClient<DefensePolicy>, 'patchStatus'>;
  blockEvents: Pick<ResourceClient<BlockEvent>, 'create' | 'patch'>;
  listBlockEvents: () => BlockEvent[];
  listPods: (namespace: string, selector: DefensePolicy['spec']['targetSelector']) => Promise<V1Pod[]>;
  memory: MemoryMonitor;
  resolver: Pick<AgentResolver, 'resolve'>;
  events: Pick<EventRecorder, 'warning'>;
  logger: Logger;
  now?: () => number;
  agentClients?: AgentClientFactory;
  health?: AgentHealth;
  /** Signature rules from the verdicts (absent: none are planned). */
  signatures?: Pick<SignatureRulesFromVerdict, 'record'>;
}

export interface TriggerInfo {
  reason: TriggerReason;
  pod?: string;
  memoryPercent?: number;
}

export interface DefenseOutcome {
  underAttack: boolean;
  created: string[];
  extended: string[];
  skipped: { ip: string; why: string }[];
  errors: string[];
  /** SignatureRules created or given a new window or extended. */
  signatureRules: string[];
}

/** What a trigger tells detection: pod memory and a hand-set annotation say an attack is on; a schedule only asks. */
function explicitTrigger(reason: TriggerReason): ExplicitTrigger | undefined {
  return reason === 'memory' ? 'memory' : reason === 'manual' ? 'annotation' : undefined;
}

/** Merge the agents' verdicts: the union of attackers (heaviest evidence wins), victims and vectors. */
export function mergeVerdicts(verdicts: Verdict[]): { underAttack: boolean; attackers: AttackerEvidence[]; victims: string[]; vectors: string[]; topSources: { ip: string; packets: number; share: number }[] } {
  const attackers = new Map<string, AttackerEvidence>();
  for (const v of verdicts) for (const a of v.attackers) if ((attackers.get(a.ip)?.packets ?? -1) < a.packets) attackers.set(a.ip, a);
  const top = verdicts.flatMap((v) => (v.topSource ? [v.topSource] : [])).sort((a, b) => b.packets - a.packets);
  return {
    underAttack: verdicts.some((v) => v.underAttack),
    attackers: [...attackers.values()].sort((a, b) => b.packets - a.packets),
    victims: [...new Set(verdicts.flatMap((v) => v.victims.map((x) => x.ip)))],
    // Each vector with its service and ports ("BACnet amplification (udp sport 47808)"), else its kind.
    vectors: [...new Set(verdicts.flatMap((v) => [...v.victims.flatMap((x) => x.vectors.map((y) => y.label)), ...v.attackers.flatMap((a) => (a.vectorLabel ? [a.vectorLabel] : []))]))].slice(0, 32),
    topSources: top.slice(0, 10),
  };
}

export class DefenseRunner {
  constructor(private readonly deps: DefenseRunnerDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Should a memory trigger fire? Returns the pod over the threshold, if any. */
  async memoryTrigger(policy: DefensePolicy): Promise<TriggerInfo | undefined> {
    const { spec } = policy;
    if (!spec.targetSelector) return undefined;
    const pods = await this.deps.listPods(policy.metadata.namespace ?? 'default', policy.spec.targetSelector);
    for (const pod of pods) {
      const { reading } = await this.deps.memory.read(pod);
      if (reading && aboveThreshold(reading, spec.trigger.memoryThresholdPercent)) {
        return { reason: 'memory', pod: reading.pod, memoryPercent: Math.round(reading.percent! * 10) / 10 };
      }
    }
    return undefined;
  }

  /** Analyze on every agent and act on the result. */
  async defend(policy: DefensePolicy, trigger: TriggerInfo): Promise<DefenseOutcome> {
    const { deps } = this;
    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    const { spec } = policy;
    const { windowSeconds, ...thresholds } = spec.detection;
    const outcome: DefenseOutcome = { underAttack: false, created: [], extended: [], skipped: [], errors: [], signatureRules: [] };
    const { agents, problems } = await deps.resolver.resolve(policy);
    outcome.errors.push(...problems);
    const verdicts: Verdict[] = [];
    const stillSending = new Set<string>();
    const aggregates: AggregateExport[] = [];
    const explicit = explicitTrigger(trigger.reason);
    for (const a of agents) {
      try {
        const client = (deps.agentClients ?? httpAgentClients)(a, 5000);
        const r = await client.analyze({ windowSeconds, thresholds, mode: 'continuous', ...(explicit ? { trigger: explicit } : {}) });
        deps.health?.report(policy, a.name, undefined);
        verdicts.push(r.verdict);
        for (const b of r.blockedStillSending) stillSending.add(b.ip);
        // A flood spread over several nodes is judged on the sum of their windows too.
        if (agents.length > 1) aggregates.push(await client.aggregate(windowSeconds));
      } catch (err) {
        deps.health?.report(policy, a.name, err);
        outcome.errors.push(`${a.name}: ${(err as Error).message}`);
      }
    }
    if (aggregates.length > 1) {
      const { window, baselines } = mergeAggregates(aggregates);
      verdicts.push(judgeAggregate(window, thresholds, { baselines, ...(explicit ? { trigger: explicit } : {}) }));
    }
    const merged = mergeVerdicts(verdicts);
    outcome.underAttack = merged.underAttack;
    const now = new Date(this.now());
    // Banned sources still on the wire are not new attackers, but they are why the victim is still hot.
    const attackerSummary = `${merged.attackers.length} new attacker(s)${stillSending.size ? `, ${stillSending.size} blocked and still sending` : ''}`;

    if (merged.underAttack) {
      void deps.events.warning(
        policy,
        'AttackDetected',
        `attack on ${merged.victims.join(', ') || 'protected addresses'} (${merged.vectors.join(', ') || 'per-source rates'}); ${attackerSummary}; trigger: ${trigger.reason}${trigger.pod ? ` ${trigger.pod} at ${trigger.memoryPercent}%` : ''}`,
      );
    }
    if (merged.underAttack && spec.mitigation.mode === 'block') {
      await this.blockAttackers(policy, merged.attackers, windowSeconds, outcome);
    } else if (merged.underAttack) {
      for (const a of merged.attackers) outcome.skipped.push({ ip: a.ip, why: 'observe mode' });
    }
    // Floods per-IP bans cannot stop: signature rules (applied or proposed, as the policy says).
    let signatures: Awaited<ReturnType<SignatureRulesFromVerdict['record']>>['entries'] = [];
    if (merged.underAttack && deps.signatures) {
      const r = await deps.signatures.record(policy, verdicts.filter((v) => v.underAttack));
      signatures = r.entries;
      outcome.signatureRules.push(...r.created, ...r.extended);
      outcome.errors.push(...r.errors);
    }

    const status: DefensePolicyStatus = {
      lastTrigger: { time: toRfc3339(now), reason: trigger.reason, ...(trigger.pod ? { pod: trigger.pod } : {}), ...(trigger.memoryPercent !== undefined ? { memoryPercent: trigger.memoryPercent } : {}) },
      lastAnalysis: {
        time: toRfc3339(now),
        underAttack: merged.underAttack,
        victims: merged.victims,
        vectors: merged.vectors,
        topSources: merged.topSources,
        // Always written: status is merge-patched, and an absent list would keep the last attack's.
        signatures,
      },
      conditions: setCondition(
        policy.status?.conditions,
        merged.underAttack
          ? { type: DefensePolicyConditions.UnderAttack, status: 'True', reason: 'AttackDetected', message: `${attackerSummary}; victims ${merged.victims.join(', ') || '-'}` }
          : { type: DefensePolicyConditions.UnderAttack, status: 'False', reason: verdicts.length ? 'NoAttack' : 'NoAnalysis', message: verdicts.length ? 'the last analysis found no attack' : outcome.errors.join('; ').slice(0, 1000) || 'no agent answered' },
        policy.metadata.generation,
        now,
      ),
    };
    try {
      await deps.policies.patchStatus({ namespace: ns, name }, status);
    } catch (err) {
      outcome.errors.push(`status: ${(err as Error).message}`);
    }
    deps.logger.info({ policy: `${ns}/${name}`, trigger: trigger.reason, underAttack: merged.underAttack, created: outcome.created, extended: outcome.extended, signatureRules: outcome.signatureRules, skipped: outcome.skipped.length, errors: outcome.errors }, 'defense run');
    return outcome;
  }

  private async blockAttackers(policy: DefensePolicy, attackers: AttackerEvidence[], windowSeconds: number, outcome: DefenseOutcome): Promise<void> {
    const { deps } = this;
    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    const { spec } = policy;
    const allowlist = new CidrMatcher(spec.mitigation.allowlist ?? []);
    const inNamespace = new Map<string, BlockEvent>();
    for (const b of deps.listBlockEvents()) if (b.metadata.namespace === ns) inNamespace.set(b.metadata.name ?? '', b);
    const mine = [...inNamespace.values()].filter((b) => b.spec.policyRef?.name === name);
    let active = mine.filter((b) => b.status?.phase === 'Active' || b.status?.phase === 'Pending' || !b.status?.phase).length;
    const now = this.now();

    for (const a of attackers) {
      if (allowlist.has(a.ip)) {
        outcome.skipped.push({ ip: a.ip, why: 'allowlisted by the policy' });
        continue;
      }
      const { existing, name: beName } = findBlockEvent((_ns, n) => inNamespace.get(n), ns, name, a.ip);
      if (!beName) {
        outcome.errors.push(`${a.ip}: both BlockEvent names of this address are taken by objects for other addresses`);
        continue;
      }
      const evidence = { packets: a.packets, share: Math.round(a.share * 1e4) / 1e4, pps: Math.round(a.pps), bps: Math.round(a.bps), vector: (a.vectorLabel ?? a.rules.join('+')).slice(0, 64), windowSeconds };
      const reason = `${a.rules.join('+')}: ${Math.round(a.pps)} pps, ${(a.share * 100).toFixed(1)}% of inbound`;
      const ref = { namespace: ns, name: beName };
      if (existing?.metadata.deletionTimestamp) {
        outcome.skipped.push({ ip: a.ip, why: 'its BlockEvent is being deleted' });
        continue;
      }
      if (existing?.status?.phase === 'Failed') {
        outcome.skipped.push({ ip: a.ip, why: `its agents refused it: ${existing.status.message ?? ''}`.slice(0, 300) });
        continue;
      }
      const offences = Number(existing?.metadata.annotations?.['floodgate.dev/offences'] ?? 0);
      if (existing && existing.status?.phase !== 'Expired' && existing.status?.phase !== 'Released') {
        // Still held (or on its way): make it last `duration` from now, at the same offence count.
        const duration = banDurationSeconds(policy.spec, Math.max(1, offences));
        const window = banWindow(lifecycleViewOf(existing, now));
        const wantEnd = expiry(now, duration);
        if (window.heldUntil >= wantEnd - 1000) continue;
        const durationSeconds = Math.ceil((wantEnd - window.start) / 1000);
        try {
          // Beyond 30 days from its start, the extension is a new ban window instead.
          await deps.blockEvents.patch(
            ref,
            durationSeconds <= MAX_BAN_SECONDS
              ? { spec: { durationSeconds, reason, evidence } }
              : { metadata: { annotations: { [LifecycleAnnotations.banStart]: rfc3339(now) } }, spec: { durationSeconds: duration, reason, evidence } },
          );
          outcome.extended.push(a.ip);
        } catch (err) {
          outcome.errors.push(`extend ${beName}: ${(err as Error).message}`);
        }
        continue;
      }
      if (active >= spec.mitigation.maxActiveBlocks) {
        outcome.skipped.push({ ip: a.ip, why: `maxActiveBlocks ${spec.mitigation.maxActiveBlocks} reached` });
        continue;
      }
      if (existing) {
        // A repeat offence after the ban ended: a new, escalated ban window on the same object.
        const duration = banDurationSeconds(policy.spec, offences + 1);
        try {
          await deps.blockEvents.patch(ref, {
            metadata: { annotations: { 'floodgate.dev/offences': String(offences + 1), [LifecycleAnnotations.banStart]: rfc3339(now) } },
            spec: { durationSeconds: duration, reason, evidence },
          });
          outcome.extended.push(a.ip);
          active++;
        } catch (err) {
          outcome.errors.push(`renew ${beName}: ${(err as Error).message}`);
        }
        continue;
      }
      const be = newBlockEvent(policy, beName, { ip: a.ip, durationSeconds: banDurationSeconds(policy.spec, 1), reason, evidence }, { offences: 1 });
      try {
        await deps.blockEvents.create(ns, be);
        outcome.created.push(a.ip);
        active++;
      } catch (err) {
        if (httpStatus(err) === 409) outcome.extended.push(a.ip); // created meanwhile: the next run extends it
        else outcome.errors.push(`create ${beName}: ${(err as Error).message}`);
      }
    }
    if (outcome.skipped.some((s) => s.why.startsWith('maxActiveBlocks'))) {
      void deps.events.warning(policy, 'MaxActiveBlocks', `not blocking ${outcome.skipped.length} attacker(s): maxActiveBlocks ${spec.mitigation.maxActiveBlocks} reached`);
    }
  }
}

