// Spec defaults in TypeScript. The API server fills the CRD's defaults on
// write (and when reading from etcd), but the controller must not depend on
// it: an object stored before a default was added, or read from a cluster
// with an older CRD, may lack them. withDefaults() fills every defaulted
// field and replaces values of the wrong type with the default, so the
// controller never sees undefined or NaN. The values are the CRD's
// (test/crds/crd-schema.test.ts checks that they agree).

import { MAX_BAN_SECONDS } from '../../api/ban-time.js';
import type { DetectionThresholds } from '../../detection/types.js';
import type {
  DefensePolicyDetection,
  DefensePolicyEscalation,
  DefensePolicyMitigation,
  DefensePolicySpec,
  DefensePolicyTrigger,
  MitigationMode,
} from '../../api/v1alpha1/types.js';

type Resolved<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };

export type ResolvedTrigger = Resolved<Omit<DefensePolicyTrigger, 'schedule'>> & Pick<DefensePolicyTrigger, 'schedule'>;
export type ResolvedDetection = Resolved<DefensePolicyDetection>;
export type ResolvedEscalation = Resolved<DefensePolicyEscalation>;
export type ResolvedMitigation = Resolved<Omit<DefensePolicyMitigation, 'escalation'>> & { escalation: ResolvedEscalation };

/** A DefensePolicySpec with every defaulted field present. */
export type ResolvedDefensePolicySpec = Omit<DefensePolicySpec, 'trigger' | 'detection' | 'mitigation'> & {
  trigger: ResolvedTrigger;
  detection: ResolvedDetection;
  mitigation: ResolvedMitigation;
};

export { MAX_BAN_SECONDS };

/** The CRD's defaults (crds/defensepolicies.floodgate.dev.yaml). */
export const DEFENSE_POLICY_DEFAULTS = Object.freeze({
  trigger: Object.freeze({ memoryThresholdPercent: 75, pollIntervalSeconds: 3, continuous: false }),
  detection: Object.freeze({
    windowSeconds: 7,
    attackerShareThreshold: 0.2,
    minPackets: 1000,
    sourcePpsThreshold: 5000,
    victimPpsThreshold: 20000,
    maxAttackers: 100,
  }),
  mitigation: Object.freeze({
    mode: 'block' as MitigationMode,
    banDurationSeconds: 60,
    escalation: Object.freeze({ factor: 2, maxBanDurationSeconds: 86400 }),
    allowlist: Object.freeze([]) as readonly string[],
    maxActiveBlocks: 1000,
  }),
});

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function int(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : fallback;
}

function bool(v: unknown, fallback: boolean): boolean {
  return typeof v === 'boolean' ? v : fallback;
}

/**
 * The spec with defaults filled in (a new object; the input is not modified).
 * Accepts `unknown` so that a spec straight from the API (or from etcd before
 * a default existed) can be passed without a cast.
 */
export function withDefaults(spec: DefensePolicySpec | unknown): ResolvedDefensePolicySpec {
  const s = isObject(spec) ? spec : {};
  const t = isObject(s.trigger) ? s.trigger : {};
  const d = isObject(s.detection) ? s.detection : {};
  const m = isObject(s.mitigation) ? s.mitigation : {};
  const e = isObject(m.escalation) ? m.escalation : {};
  const D = DEFENSE_POLICY_DEFAULTS;

  const trigger: ResolvedTrigger = {
    memoryThresholdPercent: num(t.memoryThresholdPercent, D.trigger.memoryThresholdPercent),
    pollIntervalSeconds: int(t.pollIntervalSeconds, D.trigger.pollIntervalSeconds),
    continuous: bool(t.continuous, D.trigger.continuous),
    ...(typeof t.schedule === 'string' && t.schedule.trim() !== '' ? { schedule: t.schedule } : {}),
  };
  const detection: ResolvedDetection = {
    windowSeconds: num(d.windowSeconds, D.detection.windowSeconds),
    attackerShareThreshold: num(d.attackerShareThreshold, D.detection.attackerShareThreshold),
    minPackets: int(d.minPackets, D.detection.minPackets),
    sourcePpsThreshold: num(d.sourcePpsThreshold, D.detection.sourcePpsThreshold),
    victimPpsThreshold: num(d.victimPpsThreshold, D.detection.victimPpsThreshold),
    maxAttackers: int(d.maxAttackers, D.detection.maxAttackers),
  };
  const mitigation: ResolvedMitigation = {
    mode: m.mode === 'block' || m.mode === 'observe' ? m.mode : D.mitigation.mode,
    banDurationSeconds: int(m.banDurationSeconds, D.mitigation.banDurationSeconds),
    escalation: {
      factor: num(e.factor, D.mitigation.escalation.factor),
      maxBanDurationSeconds: int(e.maxBanDurationSeconds, D.mitigation.escalation.maxBanDurationSeconds),
    },
    allowlist: Array.isArray(m.allowlist) ? m.allowlist.filter((x): x is string => typeof x === 'string') : [],
    maxActiveBlocks: int(m.maxActiveBlocks, D.mitigation.maxActiveBlocks),
  };

  const rest = { ...(s as DefensePolicySpec) };
  delete rest.trigger;
  delete rest.detection;
  delete rest.mitigation;
  return { ...rest, trigger, detection, mitigation };
}

/** The agent threshold keys a DefensePolicy sets; the others keep the agent's defaults. */
export type PolicyThresholds = Pick<
  DetectionThresholds,
  'attackerShareThreshold' | 'minPackets' | 'sourcePpsThreshold' | 'victimPpsThreshold' | 'maxAttackers'
>;

/**
 * The policy's detection settings as the agent's threshold overrides
 * (detection/types.ts DetectionThresholds; the byte-rate thresholds are
 * not part of the policy and keep the agent's defaults). windowSeconds is not
 * a threshold: it is the analysis request's window.
 */
export function policyToThresholds(spec: DefensePolicySpec | unknown): PolicyThresholds {
  const { detection: d } = withDefaults(spec);
  return {
    attackerShareThreshold: d.attackerShareThreshold,
    minPackets: d.minPackets,
    sourcePpsThreshold: d.sourcePpsThreshold,
    victimPpsThreshold: d.victimPpsThreshold,
    maxAttackers: d.maxAttackers,
  };
}

/**
 * Duration of the n-th ban (offenceCount 1 = first) of an address under the
 * policy: banDurationSeconds x factor^(n-1), capped at maxBanDurationSeconds
 * but never below banDurationSeconds, and within the CRD's 30-day limit.
 */
export function banDurationSeconds(spec: DefensePolicySpec | unknown, offenceCount = 1): number {
  const { banDurationSeconds: base, escalation } = withDefaults(spec).mitigation;
  const n = Number.isFinite(offenceCount) ? Math.max(1, Math.floor(offenceCount)) : 1;
  const escalated = base * Math.pow(escalation.factor, n - 1);
  const capped = Math.min(escalated, Math.max(escalation.maxBanDurationSeconds, base), MAX_BAN_SECONDS);
  return Math.max(1, Math.round(capped));
}
