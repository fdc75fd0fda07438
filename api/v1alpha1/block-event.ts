// BlockEvent: one address (or CIDR) blocked by a floodgate agent, created by
// the controller for a DefensePolicy's attacker or applied by hand. The
// controller puts the finalizer floodgate.dev/unblock on it so that deleting
// the object releases the ban on the agent first. This file is the kind's one
// source: the CRD (crds/blockevents.floodgate.dev.yaml, generated), the
// TypeScript types and the defaults all come from it.
//
// No CEL on Kubernetes 1.20, so spec.ip cannot be made immutable in the CRD:
// the controller treats a changed ip as release-old, block-new.

import { z } from 'zod';
import { MAX_BAN_SECONDS } from '../ban-time.js';
import { defineKind, type InputOf, type ObjectOf } from './kind.js';
import {
  IP_OR_CIDR_PATTERN,
  conditionsSchema,
  dateTime,
  int32,
  int64,
  matching,
  observedGenerationSchema,
  type KubeList,
} from './types.js';

/** Finalizer on a BlockEvent while an agent may still hold its ban; removed after the unblock. */
export const UNBLOCK_FINALIZER = 'floodgate.dev/unblock';

/** Condition types of a BlockEvent. */
export const BlockEventConditions = Object.freeze({
  /** The agent holds the ban (True while phase is Active). */
  Blocked: 'Blocked',
} as const);
export type BlockEventConditionType = (typeof BlockEventConditions)[keyof typeof BlockEventConditions];

export const BLOCK_EVENT_PHASES = Object.freeze(['Pending', 'Active', 'Expired', 'Released', 'Failed'] as const);
export type BlockEventPhase = (typeof BLOCK_EVENT_PHASES)[number];

export const blockEventSpecSchema = z
  .object({
    ip: matching(IP_OR_CIDR_PATTERN)
      .max(64)
      .describe(
        'IPv4 or IPv6 address or CIDR to block, e.g. 203.0.113.7, 198.51.100.0/24, 2001:db8::/64 (no zone ids, ' +
          'no zero-padded octets).',
      ),
    policyRef: z
      .object({ name: z.string().min(1).max(253).describe('Name of the DefensePolicy.') })
      .optional()
      .describe('The DefensePolicy (same namespace) that created this block. Absent for a BlockEvent applied by hand.'),
    durationSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_BAN_SECONDS)
      .describe(`How long the ban lasts, seconds (1-${MAX_BAN_SECONDS}, i.e. up to ${MAX_BAN_SECONDS / 86400} days).`),
    reason: z.string().max(256).optional().describe('Why the address is blocked, for humans (at most 256 characters).'),
    evidence: z
      .object({
        packets: int64().min(0).optional().describe('Inbound packets from the address in the window.'),
        share: z.number().min(0).max(1).optional().describe("Its share of the window's inbound packets, a fraction 0-1 (0.2 = 20%)."),
        pps: z.number().min(0).optional().describe('Packets per second from the address.'),
        bps: z.number().min(0).optional().describe('Bits per second from the address.'),
        vector: z.string().max(64).optional().describe('Attack vector with its service and ports, e.g. BACnet amplification (udp sport 47808), TCP SYN flood (tcp dport 443).'),
        windowSeconds: z.number().min(0).optional().describe('Length of the analysed window, seconds.'),
      })
      .optional()
      .describe('What the agent saw when it flagged the address.'),
    agent: z
      .string()
      .max(2048)
      .optional()
      .describe(
        "URL or name of the agent that holds the ban. Empty: the controller picks the policy's agents. Without a policyRef " +
          "the URL must be on the controller's --agent-url-allowlist.",
      ),
  })
  .describe('The block to hold.');

/**
 * How far an enforcement object has reached the agents that watch the API
 * server (their FloodgateNode reports): written by the controller, like all
 * of status. docs/fanout.md.
 */
export const nodeRolloutSchema = z
  .object({
    revision: int64()
      .min(0)
      .describe('The resourceVersion at which what the agents must hold last changed: a node whose report has applied it holds it.'),
    digest: z.string().max(64).describe('A hash of what the agents must hold at that revision (ip, window, release, deletion).'),
    desired: int32().min(0).describe('Nodes whose agent enforces it (their DefensePolicy selects them).'),
    applied: int32().min(0).describe('Of those, the nodes that hold it (or, while it is deleted, have removed it).'),
    failed: int32().min(0).describe('Nodes whose agent refused it.'),
    notReporting: int32().min(0).describe('Nodes whose agent has not reported for 3 heartbeats: counted in desired, not in applied.'),
    summary: z.string().max(32).describe('applied/desired, e.g. 998/1000.'),
  })
  .describe('Nodes holding it, from their FloodgateNode reports.');

export const blockEventStatusSchema = z
  .object({
    phase: z
      .enum(BLOCK_EVENT_PHASES)
      .optional()
      .describe(
        'Pending (not yet held by an agent), Active (banned), Expired (the ban ran out on every agent), Released ' +
          '(an agent dropped it before its expiry, e.g. floodgate blocks rm; lifted on every agent), Failed (every ' +
          'agent refused it, or its policy or agent is unusable; see message). Written only by the controller; docs/lifecycle.md.',
      ),
    blockedAt: dateTime().optional().describe('When the current ban started: the floodgate.dev/ban-start annotation, else creation.'),
    expiresAt: dateTime()
      .optional()
      .describe('When the ban ends: blockedAt plus spec.durationSeconds, or later when an agent reported holding it longer.'),
    backend: z.string().max(64).optional().describe('Firewall backend of the agent (nft, pf, iptables, dry-run).'),
    message: z.string().max(32768).optional().describe("Human-readable detail of the phase, e.g. the agent's refusal."),
    offenceCount: int32()
      .min(0)
      .optional()
      .describe("Bans of this address within the agent's escalation window, this one included."),
    nodes: nodeRolloutSchema.optional(),
    observedGeneration: observedGenerationSchema(),
    conditions: conditionsSchema(Object.values(BlockEventConditions)),
  })
  .describe('Observed state, written by the controller through the status subresource.');

export const BLOCK_EVENT = defineKind({
  kind: 'BlockEvent',
  plural: 'blockevents',
  shortNames: ['be'],
  scope: 'Namespaced',
  description:
    'BlockEvent is one address or CIDR blocked by a floodgate agent for spec.durationSeconds, with the evidence ' +
    'that got it blocked. Deleting it releases the ban.',
  spec: blockEventSpecSchema,
  status: blockEventStatusSchema,
  printerColumns: [
    { name: 'IP', type: 'string', description: 'Blocked address or CIDR.', jsonPath: '.spec.ip' },
    { name: 'Policy', type: 'string', description: 'DefensePolicy that created the block (empty for a hand-made one).', jsonPath: '.spec.policyRef.name' },
    { name: 'Phase', type: 'string', description: BLOCK_EVENT_PHASES.join(', ').replace(/, (\w+)$/, ' or $1') + '.', jsonPath: '.status.phase' },
    { name: 'Reason', type: 'string', description: 'Why the address is blocked.', jsonPath: '.spec.reason' },
    // A string, not a date: a `date` column prints a future time as <invalid>.
    { name: 'Expires', type: 'string', format: 'date-time', description: 'When the ban ends (RFC 3339).', jsonPath: '.status.expiresAt' },
    { name: 'Nodes', type: 'string', description: 'Nodes holding it / nodes that should (agents that watch the API server).', jsonPath: '.status.nodes.summary' },
    { name: 'Agent', type: 'string', priority: 1, description: 'Agent that holds the ban.', jsonPath: '.spec.agent' },
    { name: 'Backend', type: 'string', priority: 1, description: 'Firewall backend of that agent (nft, pf, iptables, dry-run).', jsonPath: '.status.backend' },
    { name: 'Vector', type: 'string', priority: 1, description: 'Attack vector with service and ports, e.g. BACnet amplification (udp sport 47808).', jsonPath: '.spec.evidence.vector' },
    { name: 'PPS', type: 'number', priority: 1, description: 'Packets per second from the address when it was flagged.', jsonPath: '.spec.evidence.pps' },
  ],
});

export type BlockEventSpec = z.output<typeof blockEventSpecSchema>;
export type BlockEventSpecInput = z.input<typeof blockEventSpecSchema>;
export type BlockEventStatus = z.output<typeof blockEventStatusSchema>;
export type BlockEvidence = NonNullable<BlockEventSpec['evidence']>;

export type BlockEvent = ObjectOf<typeof BLOCK_EVENT>;
export type BlockEventInput = InputOf<typeof BLOCK_EVENT>;
export type BlockEventList = KubeList<'BlockEvent', BlockEvent>;
