// The controller's defense for one DefensePolicy: when triggered (pod memory
// above the threshold, the cron schedule, continuous mode, or by hand) ask
// every agent to analyze, record the result in status, and, in block mode,
// turn each attacker into a BlockEvent: created once per (policy, address),
// extended and escalated on a repeat, never beyond maxActiveBlocks and never
// for allowlisted addresses.
import net from 'node:net';
import type { Logger } from 'pino';
import type { V1Pod } from '@kubernetes/client-node';
import { AgentApiClient } from '../../api/agent/v1/client.js';
import type { AttackerEvidence, Verdict } from '../../detection/types.js';
import { setCondition, toRfc3339 } from '../../api/v1alpha1/conditions.js';
import { MAX_BAN_SECONDS } from '../../api/ban-time.js';
import {
  banDurationSeconds,
  DefensePolicyConditions,
  type BlockEvent,
  type DefensePolicy,
  type DefensePolicyStatus,
  type TriggerReason,
} from '../../api/v1alpha1/index.js';
import type { AgentResolver } from '../agents/agent-resolver.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import { aboveThreshold, type MemoryMonitor } from '../memory/memory-monitor.js';
import { httpStatus, type ResourceClient } from '../resources/resource-client.js';
import { blockEventName, newBlockEvent } from './block-event-names.js';

export interface DefenseRunnerDeps {
  policies: ResourceClient<DefensePolicy>;
  blockEvents: ResourceClient<BlockEvent>;
  listBlockEvents: () => BlockEvent[];
  listPods: (namespace: string, selector: DefensePolicy['spec']['targetSelector']) => Promise<V1Pod[]>;
  memory: MemoryMonitor;
  resolver: AgentResolver;
  events: EventRecorder;
  logger: Logger;
  now?: () => number;
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
}

function allowlistMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const list = new net.BlockList();
  for (const c of cidrs) {
    const [addr, len] = c.split('/');
    const fam = net.isIP(addr ?? '');
    if (!addr || fam === 0) continue;
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    list.addSubnet(addr, len === undefined ? (fam === 4 ? 32 : 128) : Number(len), type);
  }
  return (ip) => {
    const fam = net.isIP(ip.split('/')[0] ?? '');
    return fam !== 0 && list.check(ip.split('/')[0]!, fam === 4 ? 'ipv4' : 'ipv6');
  };
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
    vectors: [...new Set(verdicts.flatMap((v) => v.vectors))],
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
    const outcome: DefenseOutcome = { underAttack: false, created: [], extended: [], skipped: [], errors: [] };
    const { agents, problems } = await deps.resolver.resolve(policy);
    outcome.errors.push(...problems);
    const verdicts: Verdict[] = [];
    const stillSending = new Set<string>();
    for (const a of agents) {
      try {
        const client = new AgentApiClient({ url: a.url, token: a.token });
        const r = await client.analyze({ windowSeconds, thresholds, mode: 'continuous' });
        verdicts.push(r.verdict);
        for (const b of r.blockedStillSending ?? []) stillSending.add(b.ip);
      } catch (err) {
        outcome.errors.push(`${a.name}: ${(err as Error).message}`);
      }
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

    const status: DefensePolicyStatus = {
      lastTrigger: { time: toRfc3339(now), reason: trigger.reason, ...(trigger.pod ? { pod: trigger.pod } : {}), ...(trigger.memoryPercent !== undefined ? { memoryPercent: trigger.memoryPercent } : {}) },
      lastAnalysis: { time: toRfc3339(now), underAttack: merged.underAttack, victims: merged.victims, vectors: merged.vectors, topSources: merged.topSources },
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
    deps.logger.info({ policy: `${ns}/${name}`, trigger: trigger.reason, underAttack: merged.underAttack, created: outcome.created, extended: outcome.extended, skipped: outcome.skipped.length, errors: outcome.errors }, 'defense run');
    return outcome;
  }

  private async blockAttackers(policy: DefensePolicy, attackers: AttackerEvidence[], windowSeconds: number, outcome: DefenseOutcome): Promise<void> {
    const { deps } = this;
    const ns = policy.metadata.namespace ?? 'default';
    const name = policy.metadata.name ?? '';
    const { spec } = policy;
    const allowlisted = allowlistMatcher(spec.mitigation.allowlist ?? []);
    const mine = deps.listBlockEvents().filter((b) => b.metadata.namespace === ns && b.spec.policyRef?.name === name);
    let active = mine.filter((b) => b.status?.phase === 'Active' || b.status?.phase === 'Pending' || !b.status?.phase).length;

    for (const a of attackers) {
      if (allowlisted(a.ip)) {
        outcome.skipped.push({ ip: a.ip, why: 'allowlisted by the policy' });
        continue;
      }
      const beName = blockEventName(name, a.ip);
      const existing = mine.find((b) => b.metadata.name === beName);
      const evidence = { packets: a.packets, share: Math.round(a.share * 1e4) / 1e4, pps: Math.round(a.pps), bps: Math.round(a.bps), vector: a.rules.join('+'), windowSeconds };
      const reason = `${a.rules.join('+')}: ${Math.round(a.pps)} pps, ${(a.share * 100).toFixed(1)}% of inbound`;
      if (existing && !existing.metadata.deletionTimestamp && existing.status?.phase !== 'Failed') {
        const offences = Number(existing.metadata.annotations?.['floodgate.dev/offences'] ?? 1) + (existing.status?.phase === 'Active' ? 0 : 1);
        const duration = banDurationSeconds(policy.spec, offences);
        const blockedAt = Date.parse(existing.status?.blockedAt ?? '') || this.now();
        const wantExpiry = this.now() + duration * 1000;
        // Extend an active ban (or revive an expired one) so it lasts `duration` from now.
        const durationSeconds = Math.min(MAX_BAN_SECONDS, Math.ceil((wantExpiry - (existing.status?.phase === 'Active' ? blockedAt : this.now())) / 1000));
        if (existing.status?.phase === 'Active' && blockedAt + existing.spec.durationSeconds * 1000 >= wantExpiry - 1000) continue;
        try {
          await deps.blockEvents.patch(
            { namespace: ns, name: beName },
            {
              metadata: { annotations: { 'floodgate.dev/offences': String(offences) } },
              spec: { durationSeconds, reason, evidence },
            },
          );
          if (existing.status?.phase !== 'Active') {
            // An expired BlockEvent starts a new ban: reset its status so it is pushed again.
            await deps.blockEvents.patchStatus({ namespace: ns, name: beName }, { phase: 'Pending', blockedAt: null, expiresAt: null, message: 'repeat offence' });
            active++;
          }
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
      const be = newBlockEvent(policy, { ip: a.ip, durationSeconds: banDurationSeconds(policy.spec, 1), reason, evidence }, { offences: 1 });
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

