// DefensePolicy: which pods to watch, when to run a defense, how to detect an
// attack and how to mitigate it, and which floodgate agents do the work.
// This file is the kind's one source: the CRD (crds/defensepolicies.floodgate.dev.yaml,
// generated), the TypeScript types and the defaults all come from it.

import { z } from 'zod';
import { MAX_BAN_SECONDS } from '../ban-time.js';
import { thresholdFields } from '../../detection/defaults.js';
import { SIGNATURE_MODES } from '../signature-rule.js';
import { defineKind, type ObjectOf, type InputOf } from './kind.js';
import {
  AGENT_URL_PATTERN,
  CRON_PATTERN,
  IP_OR_CIDR_PATTERN,
  conditionsSchema,
  dateTime,
  int32,
  int64,
  labelSelectorSchema,
  matching,
  observedGenerationSchema,
  secretKeyRefSchema,
  type KubeList,
} from './types.js';

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

const DAYS = MAX_BAN_SECONDS / 86400;

const trigger = z
  .object({
    memoryThresholdPercent: z
      .number()
      .min(0)
      .max(100)
      .default(75)
      .describe('Run a defense when a pod selected by targetSelector uses at least this percentage (0-100) of its memory limit.'),
    pollIntervalSeconds: z.number().int().min(1).max(3600).default(3).describe('How often pod memory is polled, seconds (1-3600).'),
    schedule: matching(CRON_PATTERN)
      .max(256)
      .optional()
      .describe(
        'Also run a defense on this cron schedule: 5 fields (minute hour day-of-month month day-of-week) or 6 ' +
          '(seconds first), e.g. "*/5 * * * *". Fields hold digits, names (MON, JAN), and * / , - only.',
      ),
    continuous: z
      .boolean()
      .default(false)
      .describe('Analyse traffic continuously (every pollIntervalSeconds), not only when a trigger fires.'),
  })
  .prefault({})
  .describe('When a defense runs.');

// Every detection threshold (detection/defaults.ts) is a policy field with the agent's default.
const detection = z
  .object({
    windowSeconds: z
      .number()
      .gt(0)
      .lte(600)
      .default(7)
      .describe('Length of the analysed traffic window, seconds, greater than 0 and at most 600.'),
    ...thresholdFields,
  })
  .prefault({})
  .describe("How an agent judges a traffic window (the agent's detection thresholds).");

const escalation = z
  .object({
    factor: z.number().min(1).max(100).default(2).describe('Multiplier per repeat offence (1-100; 1 disables escalation).'),
    maxBanDurationSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_BAN_SECONDS)
      .default(86400)
      .describe(
        `Cap of an escalated ban, seconds (1-${MAX_BAN_SECONDS}). A cap below banDurationSeconds does not shorten a ` +
          'ban below banDurationSeconds.',
      ),
  })
  .prefault({})
  .describe('Longer bans for repeat offenders: banDurationSeconds x factor^(offences-1), capped at maxBanDurationSeconds.');

const mitigation = z
  .object({
    mode: z
      .enum(['block', 'observe'])
      .default('block')
      .describe(
        'block: create a BlockEvent per attacker, which an agent turns into a firewall ban. observe: record the ' +
          'analysis in status only, block nothing.',
      ),
    banDurationSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_BAN_SECONDS)
      .default(60)
      .describe(`First ban of an address, seconds (1-${MAX_BAN_SECONDS}, i.e. up to ${DAYS} days).`),
    escalation,
    allowlist: z
      .array(matching(IP_OR_CIDR_PATTERN).max(64).describe('An IPv4/IPv6 address or CIDR.'))
      .max(1000)
      .optional()
      .describe(
        'Addresses and CIDRs that are never blocked (IPv4 or IPv6, e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.10), ' +
          "in addition to the agent's own never-block list. At most 1000 entries.",
      ),
    maxActiveBlocks: z
      .number()
      .int()
      .min(1)
      .max(100000)
      .default(1000)
      .describe('The controller creates no further BlockEvents for this policy while this many are Active (1-100000).'),
    signatures: z
      .enum(SIGNATURE_MODES)
      .default('auto')
      .describe(
        'Signature rules (SignatureRules) for floods per-IP bans cannot stop (spoofed, reflected): auto applies the ones ' +
          'that are safe for the service without a person (amplification and fragment drops, SYN floods only through ' +
          'synproxy or a limit derived from the learned baseline, never a blanket drop; invalid-state drops for ' +
          'reflection; ICMP limits) and proposes the rest; propose only records them (status and Events); disabled neither. ' +
          'Agents of the policy apply auto rules from their own verdicts within a slot. mode observe makes auto propose. docs/mitigation.md.',
      ),
    signatureLimits: z
      .object({
        durationSeconds: z
          .number()
          .int()
          .min(10)
          .max(MAX_BAN_SECONDS)
          .default(300)
          .describe('How long an automatic signature rule lasts, seconds; it is extended while the attack goes on.'),
        maxActive: z.number().int().min(1).max(1000).default(16).describe('The most signature rules of this policy at once (1-1000).'),
        maxDurationSeconds: z
          .number()
          .int()
          .min(1)
          .max(MAX_BAN_SECONDS)
          .default(86400)
          .describe(`The longest any signature rule of this policy lasts, seconds (1-${MAX_BAN_SECONDS}).`),
      })
      .prefault({})
      .describe('Limits of the signature rules of this policy.'),
  })
  .prefault({})
  .describe('What happens to attackers and to floods per-IP bans cannot stop.');

const agentEndpoint = z
  .object({
    url: matching(AGENT_URL_PATTERN)
      .max(2048)
      .describe("Base URL of the agent's REST API: http:// or https://, host, optional port and path."),
    tokenSecretRef: secretKeyRefSchema
      .optional()
      .describe(
        'Secret key holding the agent\'s bearer token: a Secret labelled floodgate.dev/agent-token: "true", in the policy\'s namespace ' +
          'or in `namespace` when the controller allows it. Omit only for an agent without a token (loopback-only).',
      ),
  })
  .describe('One agent.');

export const defensePolicySpecSchema = z
  .object({
    targetSelector: labelSelectorSchema
      .optional()
      .describe(
        "Pods (in the policy's namespace) whose memory pressure triggers a defense: when one of them uses " +
          'trigger.memoryThresholdPercent of its memory limit or more. Standard label selector; an empty selector ' +
          '({}) selects every pod of the namespace, an absent one disables the memory trigger (schedule and ' +
          'continuous still work).',
      ),
    trigger,
    detection,
    mitigation,
    agents: z
      .array(agentEndpoint)
      .min(1)
      .max(64)
      .optional()
      .meta({
        description:
          'The agents to use, by URL (e.g. http://host.docker.internal:12345 for an agent on a macOS host). 1-64 ' +
          'entries, URLs unique. Mutually exclusive with agentSelector.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['url'],
      }),
    agentSelector: labelSelectorSchema
      .optional()
      .describe(
        `Pods of the agent DaemonSet (in the policy's namespace); the controller calls http://<podIP>:${AGENT_PORT} ` +
          'on each running, ready pod. Mutually exclusive with agents.',
      ),
    agentTokenSecretRef: secretKeyRefSchema
      .optional()
      .describe(
        'Secret key holding the bearer token of the agents picked by agentSelector: a Secret labelled floodgate.dev/agent-token: "true", ' +
          "in the policy's namespace or in `namespace` when the controller allows it. The selector picks pods of the Secret's namespace, " +
          'so the token only goes to them. Ignored with agents (each entry has its own tokenSecretRef).',
      ),
  })
  // Exactly one of agents and agentSelector: the API server enforces this
  // oneOf (OpenAPI v3, no CEL on 1.20); the controller reports a policy with
  // neither as not Ready.
  .meta({
    description: 'Desired behaviour. Exactly one of agents and agentSelector must be set.',
    oneOf: [{ required: ['agents'] }, { required: ['agentSelector'] }],
  });

export const TRIGGER_REASONS = ['memory', 'schedule', 'continuous', 'manual'] as const;
export type TriggerReason = (typeof TRIGGER_REASONS)[number];

const topSource = z
  .object({
    ip: z.string().describe('Source address.'),
    packets: int64().min(0).describe('Inbound packets from it in the window.'),
    share: z.number().min(0).max(1).describe("Its share of the window's inbound packets, a fraction 0-1."),
  })
  .describe('One source.');

export const defensePolicyStatusSchema = z
  .object({
    observedGeneration: observedGenerationSchema(),
    conditions: conditionsSchema(Object.values(DefensePolicyConditions)),
    lastTrigger: z
      .object({
        time: dateTime().describe('When the defense started.'),
        reason: z.enum(TRIGGER_REASONS).describe('What triggered it.'),
        pod: z.string().max(317).optional().describe('namespace/name of the pod whose memory use triggered it (reason memory).'),
        memoryPercent: z.number().min(0).optional().describe("That pod's memory use, percent of its limit."),
      })
      .optional()
      .describe('The last time a defense ran, and why.'),
    lastAnalysis: z
      .object({
        time: dateTime().describe('When the analysis finished.'),
        underAttack: z.boolean().describe('True when any agent found an attack.'),
        victims: z.array(z.string()).max(100).optional().describe('Addresses under attack.'),
        vectors: z.array(z.string().max(200)).max(32).optional().describe('Attack vectors seen, each with its service and ports, e.g. BACnet amplification (udp sport 47808).'),
        topSources: z.array(topSource).max(100).optional().describe('Heaviest inbound sources, heaviest first.'),
        signatures: z
          .array(
            z
              .object({
                rule: z.string().max(400).describe('The rule in words: match and action.'),
                vector: z.string().max(200).describe('The vector it stops, with its service and ports.'),
                applied: z.boolean().describe('True when a SignatureRule holds it; false when it is only proposed.'),
                why: z.string().max(400).optional().describe('Why it is only proposed.'),
              })
              .describe('One signature rule.'),
          )
          .max(32)
          .optional()
          .describe('The signature rules the verdict called for: applied (SignatureRules) or proposed.'),
      })
      .optional()
      .describe('Summary of the last verdict of the agents.'),
    activeBlocks: int32().min(0).optional().describe('BlockEvents of this policy in phase Active.'),
    activeSignatureRules: int32().min(0).optional().describe('SignatureRules of this policy in phase Active.'),
    enforcingNodes: int32()
      .min(0)
      .optional()
      .describe(
        'Nodes whose agents watch the API server and enforce this policy (their FloodgateNode reports list it). Their ' +
          'agents spread the reports that count a new ban over nodes / reportsPerSecond seconds (docs/fanout.md).',
      ),
  })
  .describe('Observed state, written by the controller through the status subresource.');

export const DEFENSE_POLICY = defineKind({
  kind: 'DefensePolicy',
  plural: 'defensepolicies',
  shortNames: ['dp'],
  scope: 'Namespaced',
  description:
    'DefensePolicy tells the floodgate controller which pods to watch, when to run a defense (memory pressure, a ' +
    'schedule, or continuously), how the agents judge a traffic window, and how attackers are mitigated (BlockEvents).',
  spec: defensePolicySpecSchema,
  status: defensePolicyStatusSchema,
  printerColumns: [
    { name: 'Ready', type: 'string', description: 'Status of the Ready condition.', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    {
      name: 'Under Attack',
      type: 'string',
      description: 'Status of the UnderAttack condition (the last analysis found an attack).',
      jsonPath: '.status.conditions[?(@.type=="UnderAttack")].status',
    },
    { name: 'Active Blocks', type: 'integer', description: 'BlockEvents of this policy in phase Active.', jsonPath: '.status.activeBlocks' },
    { name: 'Signature Rules', type: 'integer', description: 'SignatureRules of this policy in phase Active.', jsonPath: '.status.activeSignatureRules' },
    { name: 'Nodes', type: 'integer', priority: 1, description: 'Nodes whose agents watch the API server and enforce it.', jsonPath: '.status.enforcingNodes' },
    { name: 'Window', type: 'number', description: 'Analysed traffic window, seconds.', jsonPath: '.spec.detection.windowSeconds' },
    { name: 'Share', type: 'number', description: 'Attacker share threshold, a fraction (0.2 = 20%).', jsonPath: '.spec.detection.attackerShareThreshold' },
    { name: 'Mode', type: 'string', priority: 1, description: 'block or observe.', jsonPath: '.spec.mitigation.mode' },
    { name: 'Signatures', type: 'string', priority: 1, description: 'auto, propose or off.', jsonPath: '.spec.mitigation.signatures' },
    { name: 'Ban Duration', type: 'integer', priority: 1, description: 'First ban of an address, seconds.', jsonPath: '.spec.mitigation.banDurationSeconds' },
    {
      name: 'Memory %',
      type: 'number',
      priority: 1,
      description: 'Memory threshold of the selected pods, percent of their limit.',
      jsonPath: '.spec.trigger.memoryThresholdPercent',
    },
    { name: 'Last Trigger', type: 'date', priority: 1, description: 'When a defense last ran.', jsonPath: '.status.lastTrigger.time' },
  ],
});

/** A spec as the controller reads it: every defaulted field present. */
export type DefensePolicySpec = z.output<typeof defensePolicySpecSchema>;
/** A spec as written: defaulted fields optional. */
export type DefensePolicySpecInput = z.input<typeof defensePolicySpecSchema>;
export type DefensePolicyStatus = z.output<typeof defensePolicyStatusSchema>;
export type DefensePolicyTrigger = DefensePolicySpec['trigger'];
export type DefensePolicyDetection = DefensePolicySpec['detection'];
export type DefensePolicyMitigation = DefensePolicySpec['mitigation'];
export type DefensePolicyEscalation = DefensePolicyMitigation['escalation'];
export type MitigationMode = DefensePolicyMitigation['mode'];
export type AgentEndpoint = NonNullable<DefensePolicySpec['agents']>[number];
export type DefensePolicyLastTrigger = NonNullable<DefensePolicyStatus['lastTrigger']>;
export type DefensePolicyLastAnalysis = NonNullable<DefensePolicyStatus['lastAnalysis']>;
export type TopSource = NonNullable<DefensePolicyLastAnalysis['topSources']>[number];

export type DefensePolicy = ObjectOf<typeof DEFENSE_POLICY>;
export type DefensePolicyInput = InputOf<typeof DEFENSE_POLICY>;
export type DefensePolicyList = KubeList<'DefensePolicy', DefensePolicy>;

/**
 * Duration of the n-th ban (offenceCount 1 = first) of an address under the
 * policy, as spec.mitigation describes it: banDurationSeconds x
 * factor^(n-1), capped at maxBanDurationSeconds but never below
 * banDurationSeconds, and never beyond MAX_BAN_SECONDS.
 */
export function banDurationSeconds(spec: DefensePolicySpec, offenceCount = 1): number {
  const { banDurationSeconds: base, escalation } = spec.mitigation;
  const n = Number.isFinite(offenceCount) ? Math.max(1, Math.floor(offenceCount)) : 1;
  const escalated = base * Math.pow(escalation.factor, n - 1);
  const capped = Math.min(escalated, Math.max(escalation.maxBanDurationSeconds, base), MAX_BAN_SECONDS);
  return Math.max(1, Math.round(capped));
}
