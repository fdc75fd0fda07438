// TypeScript view of the floodgate.dev/v1alpha1 custom resources. The CRD
// YAML in crds/ is the source of truth for validation and defaults; these
// interfaces mirror it field for field (test/crds/crd-schema.test.ts checks
// that the patterns and defaults below are the ones in the YAML).

import type { V1ObjectMeta } from '@kubernetes/client-node';

export const GROUP = 'floodgate.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

export interface ResourceDescriptor {
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** `<plural>.<group>`: the CRD's metadata.name. */
  readonly crdName: string;
}

export const DEFENSE_POLICY: ResourceDescriptor = Object.freeze({
  kind: 'DefensePolicy',
  listKind: 'DefensePolicyList',
  plural: 'defensepolicies',
  singular: 'defensepolicy',
  shortNames: Object.freeze(['dp']),
  crdName: `defensepolicies.${GROUP}`,
});

export const BLOCK_EVENT: ResourceDescriptor = Object.freeze({
  kind: 'BlockEvent',
  listKind: 'BlockEventList',
  plural: 'blockevents',
  singular: 'blockevent',
  shortNames: Object.freeze(['be']),
  crdName: `blockevents.${GROUP}`,
});

/** The category both kinds belong to: `kubectl get floodgate`. */
export const CATEGORY = 'floodgate';

/** Finalizer on a BlockEvent while an agent may still hold its ban; removed after the unblock. */
export const UNBLOCK_FINALIZER = 'floodgate.dev/unblock';

/** The port the agent DaemonSet's pods listen on (agentSelector: http://<podIP>:12345). */
export const AGENT_PORT = 12345;

/** Condition types of a DefensePolicy. */
export const DefensePolicyConditions = Object.freeze({
  /** The policy is valid and its agents are being polled. */
  Ready: 'Ready',
  /** Every agent of the policy answered its last request. */
  AgentsReachable: 'AgentsReachable',
  /** The last analysis found an attack. */
  UnderAttack: 'UnderAttack',
} as const);
export type DefensePolicyConditionType = (typeof DefensePolicyConditions)[keyof typeof DefensePolicyConditions];

/** Condition types of a BlockEvent. */
export const BlockEventConditions = Object.freeze({
  /** The agent holds the ban (True while phase is Active). */
  Blocked: 'Blocked',
} as const);
export type BlockEventConditionType = (typeof BlockEventConditions)[keyof typeof BlockEventConditions];

// ---------------------------------------------------------------------------
// Validation patterns, byte for byte the ones in the CRD YAML (Go RE2 on the
// server, the same semantics in JS for these expressions).

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = `${OCTET}(\\.${OCTET}){3}`;
const H = '[0-9a-fA-F]{1,4}';
const IPV6 =
  `((${H}:){7}${H}|(${H}:){1,7}:|(${H}:){1,6}:${H}|(${H}:){1,5}(:${H}){1,2}|(${H}:){1,4}(:${H}){1,3}` +
  `|(${H}:){1,3}(:${H}){1,4}|(${H}:){1,2}(:${H}){1,5}|${H}:(:${H}){1,6}|:((:${H}){1,7}|:)` +
  `|(${H}:){6}${IPV4}|::(ffff(:0{1,4})?:)?${IPV4}|(${H}:){1,4}:${IPV4})`;

/** An IPv4/IPv6 address or CIDR (no zone ids, no zero-padded octets or prefixes). */
export const IP_OR_CIDR_PATTERN = `^(${IPV4}(/(3[0-2]|[12][0-9]|[0-9]))?|${IPV6}(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$`;

/** A loose 5- or 6-field cron expression (digits, names, * / , -). */
export const CRON_PATTERN = '^[0-9A-Za-z*/,-]+( +[0-9A-Za-z*/,-]+){4,5}$';

/** An agent URL: http(s)://host[:port][/path], no spaces or userinfo. */
export const AGENT_URL_PATTERN = '^https?://[A-Za-z0-9._~%\\[\\]:-]+(/[!-~]*)?$';

/** metav1.Condition reason. */
export const CONDITION_REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

/** metav1.Condition type: an optional DNS-subdomain prefix and a qualified name. */
export const CONDITION_TYPE_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';

export const IP_OR_CIDR_RE = new RegExp(IP_OR_CIDR_PATTERN);
export const CRON_RE = new RegExp(CRON_PATTERN);
export const AGENT_URL_RE = new RegExp(AGENT_URL_PATTERN);
export const CONDITION_REASON_RE = new RegExp(CONDITION_REASON_PATTERN);

// ---------------------------------------------------------------------------
// Shared shapes.

/** metav1.Condition. */
export interface Condition {
  /** CamelCase, e.g. "Ready". */
  type: string;
  status: ConditionStatus;
  /** metadata.generation the condition was computed from. */
  observedGeneration?: number;
  /** RFC 3339 time the status last changed. */
  lastTransitionTime: string;
  /** CamelCase machine-readable reason (CONDITION_REASON_PATTERN). */
  reason: string;
  /** Human-readable detail; may be empty. */
  message: string;
}
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.LabelSelectorRequirement. */
export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** metav1.LabelSelector. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** A key of a Secret in the object's own namespace. */
export interface SecretKeyRef {
  name: string;
  key: string;
}

// ---------------------------------------------------------------------------
// DefensePolicy

export interface DefensePolicyTrigger {
  /** Defend when a selected pod's memory use reaches this percentage of its limit (0-100). Default 75. */
  memoryThresholdPercent?: number;
  /** How often pod memory is polled, seconds (1-3600). Default 3. */
  pollIntervalSeconds?: number;
  /** Cron expression, 5 or 6 fields (e.g. "0 3 * * MON-FRI"): also run a defense on this schedule. */
  schedule?: string;
  /** Analyse continuously, not only when triggered. Default false. */
  continuous?: boolean;
}

export interface DefensePolicyDetection {
  /** Length of the analysed traffic window, seconds, (0, 600]. Default 7. */
  windowSeconds?: number;
  /** A fraction in (0, 1]: 0.2 = 20% of the window's inbound packets. Default 0.2. */
  attackerShareThreshold?: number;
  /** Windows with fewer inbound packets are ignored. Default 1000. */
  minPackets?: number;
  /** Packets/s from one source that make it an attacker. Default 5000. */
  sourcePpsThreshold?: number;
  /** Packets/s towards one destination that make it a victim. Default 20000. */
  victimPpsThreshold?: number;
  /** At most this many attackers per analysis (1-10000). Default 100. */
  maxAttackers?: number;
}

export type MitigationMode = 'block' | 'observe';

export interface DefensePolicyEscalation {
  /** Repeat offenders get banDurationSeconds x factor^(offences-1) (1-100). Default 2. */
  factor?: number;
  /** Cap of an escalated ban, seconds. Default 86400. */
  maxBanDurationSeconds?: number;
}

export interface DefensePolicyMitigation {
  /** block: ban attackers; observe: only record BlockEvents-to-be in status. Default block. */
  mode?: MitigationMode;
  /** First ban of an address, seconds (1-2592000). Default 60. */
  banDurationSeconds?: number;
  escalation?: DefensePolicyEscalation;
  /** Addresses/CIDRs never blocked. */
  allowlist?: string[];
  /** Stop creating BlockEvents for this policy beyond this many active ones. Default 1000. */
  maxActiveBlocks?: number;
}

export interface AgentEndpoint {
  /** http(s)://host:port of a floodgate agent, e.g. http://host.docker.internal:12345. */
  url: string;
  /** Bearer token of that agent. */
  tokenSecretRef?: SecretKeyRef;
}

export interface DefensePolicySpec {
  /** Pods whose memory pressure triggers a defense. Absent: no memory trigger. */
  targetSelector?: LabelSelector;
  trigger?: DefensePolicyTrigger;
  detection?: DefensePolicyDetection;
  mitigation?: DefensePolicyMitigation;
  /** Explicit agents. Exactly one of agents / agentSelector. */
  agents?: AgentEndpoint[];
  /** Pods of the agent DaemonSet; the controller calls http://<podIP>:12345. */
  agentSelector?: LabelSelector;
  /** Bearer token for the agents picked by agentSelector. */
  agentTokenSecretRef?: SecretKeyRef;
}

export type TriggerReason = 'memory' | 'schedule' | 'continuous' | 'manual';

export interface DefensePolicyLastTrigger {
  time: string;
  reason: TriggerReason;
  /** namespace/name of the pod whose memory triggered the defense. */
  pod?: string;
  memoryPercent?: number;
}

export interface TopSource {
  ip: string;
  packets: number;
  /** Fraction 0-1 of the window's inbound packets. */
  share: number;
}

export interface DefensePolicyLastAnalysis {
  time: string;
  underAttack: boolean;
  victims?: string[];
  vectors?: string[];
  topSources?: TopSource[];
}

export interface DefensePolicyStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  lastTrigger?: DefensePolicyLastTrigger;
  lastAnalysis?: DefensePolicyLastAnalysis;
  /** BlockEvents of this policy in phase Active. */
  activeBlocks?: number;
}

export interface DefensePolicy {
  apiVersion: typeof API_VERSION;
  kind: 'DefensePolicy';
  metadata: V1ObjectMeta;
  spec: DefensePolicySpec;
  status?: DefensePolicyStatus;
}

export interface DefensePolicyList {
  apiVersion: typeof API_VERSION;
  kind: 'DefensePolicyList';
  metadata: { resourceVersion?: string; continue?: string };
  items: DefensePolicy[];
}

// ---------------------------------------------------------------------------
// BlockEvent

export interface BlockEvidence {
  /** Packets from the address in the window. */
  packets?: number;
  /** Fraction 0-1 of the window's inbound packets. */
  share?: number;
  pps?: number;
  bps?: number;
  /** Attack vector, e.g. syn_flood, udp_amplification (detection/types.ts AttackVector). */
  vector?: string;
  windowSeconds?: number;
}

export interface BlockEventSpec {
  /** IPv4/IPv6 address or CIDR to block. */
  ip: string;
  /** The DefensePolicy that created this block; absent for a hand-made BlockEvent. */
  policyRef?: { name: string };
  /** How long to block, seconds (1-2592000). */
  durationSeconds: number;
  /** Why (at most 256 characters). */
  reason?: string;
  evidence?: BlockEvidence;
  /** URL or name of the agent that holds the ban. */
  agent?: string;
}

export type BlockEventPhase = 'Pending' | 'Active' | 'Expired' | 'Released' | 'Failed';
export const BLOCK_EVENT_PHASES: readonly BlockEventPhase[] = Object.freeze([
  'Pending',
  'Active',
  'Expired',
  'Released',
  'Failed',
]);

export interface BlockEventStatus {
  phase?: BlockEventPhase;
  blockedAt?: string;
  expiresAt?: string;
  /** Firewall backend of the agent: nft, pf, iptables, dry-run. */
  backend?: string;
  message?: string;
  /** Bans of this address within the agent's escalation window, this one included. */
  offenceCount?: number;
  conditions?: Condition[];
  observedGeneration?: number;
}

export interface BlockEvent {
  apiVersion: typeof API_VERSION;
  kind: 'BlockEvent';
  metadata: V1ObjectMeta;
  spec: BlockEventSpec;
  status?: BlockEventStatus;
}

export interface BlockEventList {
  apiVersion: typeof API_VERSION;
  kind: 'BlockEventList';
  metadata: { resourceVersion?: string; continue?: string };
  items: BlockEvent[];
}
