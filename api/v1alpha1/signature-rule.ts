// SignatureRule: one signature rule (api/signature-rule.ts) held by the
// agents of a DefensePolicy: a firewall rule that matches an attack's
// traffic towards one protected address, for the floods per-IP bans cannot
// stop. Created by the controller from a verdict (spec.mitigation.signatures:
// auto), recorded from an agent that applied it itself, or written by hand.
// It shares the BlockEvent's lifecycle (docs/lifecycle.md): the finalizer
// floodgate.dev/unblock takes the rule, helper rules included, off every
// agent before the object goes; it expires on time; the controller is the
// only writer of its status. This file is the kind's one source.

import { z } from 'zod';
import { MAX_BAN_SECONDS } from '../ban-time.js';
import { signatureActionSchema, signatureMatchSchema } from '../signature-rule.js';
import { defineKind, type InputOf, type ObjectOf } from './kind.js';
import { conditionsSchema, dateTime, int32, int64, observedGenerationSchema, type KubeList } from './types.js';
import { BLOCK_EVENT_PHASES, nodeRolloutSchema } from './block-event.js';

/** Condition types of a SignatureRule. */
export const SignatureRuleConditions = Object.freeze({
  /** The agents hold the rule (True while phase is Active). */
  Applied: 'Applied',
} as const);

export const signatureRuleSpecSchema = z
  .object({
    signature: signatureMatchSchema,
    action: signatureActionSchema,
    policyRef: z
      .object({ name: z.string().min(1).max(253).describe('Name of the DefensePolicy.') })
      .optional()
      .describe("The DefensePolicy (same namespace) whose agents hold the rule. Absent: spec.agent must name the agent."),
    durationSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_BAN_SECONDS)
      .describe(`How long the rule lasts, seconds (1-${MAX_BAN_SECONDS}); the policy's signatureLimits.maxDurationSeconds caps it.`),
    vector: z.string().max(64).optional().describe('Attack vector it stops, e.g. syn_flood, udp_amplification.'),
    label: z.string().max(200).optional().describe('The vector with its service and ports, e.g. "SNMP amplification (udp sport 161)".'),
    reason: z.string().max(256).optional().describe('Why the rule exists, for humans: the evidence and how the action was chosen.'),
    agent: z
      .string()
      .max(2048)
      .optional()
      .describe("URL or name of one agent to hold it. Empty: every agent of the policy. Without a policyRef the URL must be on the controller's --agent-url-allowlist."),
  })
  .describe('The rule to hold.');

export const signatureRuleStatusSchema = z
  .object({
    phase: z
      .enum(BLOCK_EVENT_PHASES)
      .optional()
      .describe(
        'Pending (no agent holds it yet), Active (held), Expired (ran out on every agent), Released (an agent dropped ' +
          'it before its expiry; lifted on every agent), Failed (every agent refused it; see message). Written only by the controller.',
      ),
    rule: z.string().max(400).optional().describe('The rule in words: its match and action, e.g. "udp sport 161 to 10.0.0.5: drop".'),
    applied: z
      .string()
      .max(300)
      .optional()
      .describe('What the firewall holds, e.g. "synproxy mss 1460 wscale 7", or the fallback limit and why.'),
    blockedAt: dateTime().optional().describe('When the current rule window started: the floodgate.dev/ban-start annotation, else creation.'),
    expiresAt: dateTime().optional().describe('When the rule ends: blockedAt plus spec.durationSeconds, or later when an agent reported holding it longer.'),
    backend: z.string().max(64).optional().describe('Firewall backend of the agent (nft, iptables, pf, dry-run).'),
    packetsDropped: int64().min(0).optional().describe('Packets the rule matched (dropped, limited or proxied) on all its agents, as last read.'),
    dropRatePps: z.number().min(0).optional().describe('Packets per second the rule matched on all its agents, as last read.'),
    agentsHolding: int32().min(0).optional().describe('Agents that hold the rule.'),
    message: z.string().max(32768).optional().describe("Human-readable detail of the phase, e.g. an agent's refusal."),
    nodes: nodeRolloutSchema.optional(),
    observedGeneration: observedGenerationSchema(),
    conditions: conditionsSchema(Object.values(SignatureRuleConditions)),
  })
  .describe('Observed state, written by the controller through the status subresource.');

export const SIGNATURE_RULE = defineKind({
  kind: 'SignatureRule',
  plural: 'signaturerules',
  shortNames: ['sr'],
  scope: 'Namespaced',
  description:
    "SignatureRule is one firewall rule that matches an attack's traffic towards one protected address (a source port, " +
    'TCP flags, fragments, ...), held by the agents of a DefensePolicy for spec.durationSeconds: for spoofed and ' +
    'reflected floods per-IP bans cannot stop. Deleting it removes the rule, helper rules included, from every agent.',
  spec: signatureRuleSpecSchema,
  status: signatureRuleStatusSchema,
  printerColumns: [
    { name: 'Victim', type: 'string', description: 'The protected address the rule is for.', jsonPath: '.spec.signature.destination' },
    { name: 'Vector', type: 'string', description: 'Attack vector it stops.', jsonPath: '.spec.vector' },
    { name: 'Rule', type: 'string', description: 'The rule in words: match and action.', jsonPath: '.status.rule' },
    { name: 'Phase', type: 'string', description: BLOCK_EVENT_PHASES.join(', ').replace(/, (\w+)$/, ' or $1') + '.', jsonPath: '.status.phase' },
    { name: 'Dropped', type: 'integer', description: 'Packets the rule matched on all its agents.', jsonPath: '.status.packetsDropped' },
    // A string, not a date: a `date` column prints a future time as <invalid>.
    { name: 'Expires', type: 'string', format: 'date-time', description: 'When the rule ends (RFC 3339).', jsonPath: '.status.expiresAt' },
    { name: 'Nodes', type: 'string', priority: 1, description: 'Nodes holding it / nodes that should (agents that watch the API server).', jsonPath: '.status.nodes.summary' },
    { name: 'Policy', type: 'string', priority: 1, description: 'DefensePolicy whose agents hold it.', jsonPath: '.spec.policyRef.name' },
    { name: 'Applied', type: 'string', priority: 1, description: 'What the firewall holds (synproxy, or its fallback).', jsonPath: '.status.applied' },
    { name: 'PPS', type: 'number', priority: 1, description: 'Packets per second it matched, as last read.', jsonPath: '.status.dropRatePps' },
    { name: 'Agents', type: 'integer', priority: 1, description: 'Agents that hold it.', jsonPath: '.status.agentsHolding' },
    { name: 'Backend', type: 'string', priority: 1, description: 'Firewall backend.', jsonPath: '.status.backend' },
  ],
});

export type SignatureRuleSpec = z.output<typeof signatureRuleSpecSchema>;
export type SignatureRuleStatus = z.output<typeof signatureRuleStatusSchema>;
export type SignatureRule = ObjectOf<typeof SIGNATURE_RULE>;
export type SignatureRuleInput = InputOf<typeof SIGNATURE_RULE>;
export type SignatureRuleList = KubeList<'SignatureRule', SignatureRule>;
