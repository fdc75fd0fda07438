// Response schemas of the agent API (v1). The client (client.ts) parses every
// answer with one of these before a caller sees it: an agent is a process on
// some host, reached at a URL a DefensePolicy author chose, so its answers are
// input like any other. A field of the wrong type, a verdict without its
// attackers or a time that is not a time becomes one clear error
// ("invalid answer: blocks.3.expiresAt: ..."), never a TypeError deep in the
// controller.
//
// Objects are not strict: an agent newer than its caller may add fields, and
// they are dropped. Enumerations are: a value this version does not know is a
// contract change, not something to guess about.
//
// Each schema is held to its TypeScript type in types.ts (or detection's, for
// the verdict) at compile time, so the two cannot drift: change one and the
// build fails until the other follows.

import { z } from 'zod';
import { parseAddress, parseCidr } from '../../../lib/cidr.js';
import type { AttackerRule, DetectionThresholds, ExplicitTrigger, TcpFlagName, Verdict, VectorTrigger } from '../../../detection/types.js';
import { aggregateExportSchema } from '../../../detection/aggregate.js';
import type {
  AnalysisResult,
  AttackRecord,
  BanRecord,
  BlockResult,
  TopTalkers,
  TrafficPoint,
  TriggerDefenseResponse,
  SignatureList,
  SignatureRecord,
  SignatureResult,
} from './types.js';
import { signatureActionSchema, signatureMatchSchema } from '../../signature-rule.js';
import { attackVectorSchema, signaturePolicySettingsSchema } from './requests.js';
import { type Same, sameType } from './same-type.js';


const count = () => z.number().nonnegative();
const text = (max: number) => z.string().max(max);
/** An ISO-8601 / RFC 3339 time with its offset ("2025-01-02T03:04:05.678Z"), as the agent writes them. */
const isoTime = () => z.iso.datetime({ offset: true });

/** One IP address (no prefix): what detection reports for a source or a victim. */
export const addressSchema = z.string().refine((s) => parseAddress(s) !== undefined, { error: 'must be an IP address' });
/** An IP address or CIDR, as the firewall's parser accepts it. */
export const cidrSchema = z.string().refine((s) => parseCidr(s) !== undefined, { error: 'must be an IP address or CIDR' });

// ---------------------------------------------------------------------------
// The verdict (detection/types.ts)

const ATTACKER_RULES = ['share', 'source_pps', 'source_bps', 'heavy_hitter'] as const satisfies readonly AttackerRule[];
sameType<Same<(typeof ATTACKER_RULES)[number], AttackerRule>>();

const VECTOR_TRIGGERS = ['ceiling', 'floor', 'baseline'] as const satisfies readonly VectorTrigger[];
sameType<Same<(typeof VECTOR_TRIGGERS)[number], VectorTrigger>>();
const EXPLICIT_TRIGGERS = ['api', 'trigger-defense', 'memory', 'annotation', 'schedule'] as const satisfies readonly ExplicitTrigger[];
sameType<Same<(typeof EXPLICIT_TRIGGERS)[number], ExplicitTrigger>>();
const TCP_FLAGS = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'] as const satisfies readonly TcpFlagName[];
sameType<Same<(typeof TCP_FLAGS)[number], TcpFlagName>>();

const protocolMixSchema = z.object({ tcp: count(), udp: count(), icmp: count(), other: count() });

/** Answers carry the thresholds the agent used; they are reported, not enforced here. */
const thresholdsSchema = z.object({
  attackerShareThreshold: count(),
  minPackets: count(),
  sourcePpsThreshold: count(),
  sourceBpsThreshold: count(),
  victimPpsThreshold: count(),
  victimBpsThreshold: count(),
  maxAttackers: count(),
  synFloodPps: count(),
  reflectionPps: count(),
  fragmentPps: count(),
  fragmentShare: count(),
  badFlagsPps: count(),
  icmpFloodPps: count(),
  rstFloodPps: count(),
  baselineSigmas: count(),
  baselineMinPps: count(),
  baselineMinRatio: count(),
  warmupSeconds: count(),
  baselineHalfLifeSeconds: count(),
});
sameType<Same<z.output<typeof thresholdsSchema>, DetectionThresholds>>();

const attackerSchema = z.object({
  ip: addressSchema,
  rules: z.array(z.enum(ATTACKER_RULES)),
  packets: count(),
  bytes: count(),
  share: z.number().min(0).max(1),
  pps: count(),
  bps: count(),
  protocols: protocolMixSchema,
  vector: attackVectorSchema.optional(),
  vectorLabel: text(200).optional(),
});

/** A mitigation signature; detection/mitigation-signature.ts holds the rules of which fields go together. */
export const signatureSchema = z.object({
  text: text(500),
  protocol: z.enum(['tcp', 'udp', 'icmp', 'any']),
  destination: addressSchema,
  sourcePort: z.number().int().min(0).max(65535).optional(),
  destinationPort: z.number().int().min(0).max(65535).optional(),
  tcpFlags: z.object({ mask: z.array(z.enum(TCP_FLAGS)).max(8), value: z.array(z.enum(TCP_FLAGS)).max(8) }).optional(),
  fragment: z.enum(['any', 'non-first']).optional(),
  ipProtocol: z.number().int().min(0).max(255).optional(),
});

const vectorReportSchema = z.object({
  vector: attackVectorSchema,
  label: text(200),
  service: text(64).optional(),
  packets: count(),
  pps: count(),
  share: z.number().min(0).max(1),
  trigger: z.enum(VECTOR_TRIGGERS),
  baseline: z.object({ mean: count(), std: count(), seconds: count() }).optional(),
  signature: signatureSchema,
  evidence: text(1000),
});

const victimSchema = z.object({
  ip: addressSchema,
  packets: count(),
  bytes: count(),
  pps: count(),
  bps: count(),
  vector: attackVectorSchema,
  vectorDetail: text(1000),
  vectors: z.array(vectorReportSchema).max(32),
  multiVector: z.boolean(),
  distinctSources: count(),
  newSources: count(),
  handshakeCompletion: z.number().min(0).max(1).nullable(),
  baseline: z.enum(['cold', 'warming', 'warm']),
  protocols: protocolMixSchema,
  signature: signatureSchema,
  heavyHitters: z.array(addressSchema),
  signatureRuleNeeded: z.boolean(),
  note: text(1000),
  explanation: text(4000),
});

export const verdictSchema = z.object({
  underAttack: z.boolean(),
  window: z.object({ start: isoTime(), end: isoTime(), seconds: count(), windowSeconds: count(), coverStart: isoTime(), coverEnd: isoTime() }),
  thresholds: thresholdsSchema,
  totals: z.object({
    packets: count(),
    bytes: count(),
    inboundPackets: count(),
    inboundBytes: count(),
    pps: count(),
    bps: count(),
    distinctSources: count(),
    malformed: count(),
    sourceEvictions: count(),
  }),
  victims: z.array(victimSchema),
  vectors: z.array(attackVectorSchema),
  attackers: z.array(attackerSchema),
  topSource: z.object({ ip: addressSchema, packets: count(), share: z.number().min(0).max(1) }).nullable(),
  exempt: z.array(z.object({ ip: addressSchema, packets: count(), pps: count(), bps: count(), reason: text(300) })).max(100),
  trigger: z.enum(EXPLICIT_TRIGGERS).optional(),
  drops: z.object({ dropped: count(), ifDropped: count(), slotsDropped: count() }),
});
sameType<Same<z.output<typeof verdictSchema>, Verdict>>();

// ---------------------------------------------------------------------------
// Routes

/** GET /healthz, GET /readyz. */
export const statusSchema = z.object({ status: text(100) });

/** POST /v1/analyze. */
export const analysisResultSchema = z.object({
  verdict: verdictSchema,
  blockedStillSending: z.array(z.object({ ip: addressSchema, packets: count(), pps: count() })),
  firewallDrops: z.object({ packets: count(), bytes: count() }),
});
sameType<Same<z.output<typeof analysisResultSchema>, AnalysisResult>>();

const endpointCounts = z.object({ ip: addressSchema, packets: count(), bytes: count() });
export const trafficPointSchema = z.object({
  t: isoTime(),
  packets: count(),
  bytes: count(),
  inboundPackets: count(),
  inboundBytes: count(),
  topSources: z.array(endpointCounts),
  topDestinations: z.array(endpointCounts),
});
sameType<Same<z.output<typeof trafficPointSchema>, TrafficPoint>>();

/** GET /v1/traffic. */
export const trafficSchema = z.object({ points: z.array(trafficPointSchema) });

/** GET /v1/talkers. */
export const topTalkersSchema = z.object({
  window: z.object({ start: isoTime(), end: isoTime(), seconds: count() }).nullable(),
  inboundPackets: count(),
  talkers: z.array(
    z.object({
      ip: addressSchema,
      packets: count(),
      bytes: count(),
      share: z.number().min(0).max(1),
      pps: count(),
      bps: count(),
      protocols: protocolMixSchema,
      blocked: z.boolean(),
    }),
  ),
});
sameType<Same<z.output<typeof topTalkersSchema>, TopTalkers>>();

export const banSourceSchema = z.enum(['auto', 'api', 'controller']);
export const banRefusalCodeSchema = z.enum(['never_block', 'max_active_bans', 'ban_rate', 'invalid']);

/** One ban (POST /v1/blocks answers one; GET /v1/blocks lists them). */
export const banRecordSchema = z.object({
  cidr: cidrSchema,
  family: z.union([z.literal(4), z.literal(6)]),
  reason: text(1000),
  policy: text(253).optional(),
  source: banSourceSchema,
  createdAt: isoTime(),
  expiresAt: isoTime(),
  offenceCount: z.number().int().min(1),
  durationSeconds: count(),
  backend: text(64).optional(),
});
sameType<Same<z.output<typeof banRecordSchema>, BanRecord>>();

/** A ban version ("<epoch>.<n>"): opaque to the caller, passed back as ?since=. */
const banVersionSchema = text(64);

/** GET /v1/blocks: the whole list, and the version to ask for changes since. */
export const banListSchema = z.object({ blocks: z.array(banRecordSchema), version: banVersionSchema.optional() });

/** GET /v1/blocks?since=<version>: changes (or, full: true, the whole list again). */
export const banChangesSchema = z.object({
  blocks: z.array(banRecordSchema),
  removed: z.array(cidrSchema).optional(),
  version: banVersionSchema.optional(),
  full: z.boolean().optional(),
});

export const blockResultSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), cidr: cidrSchema, action: z.enum(['added', 'extended', 'unchanged']), expiresAt: isoTime(), offenceCount: z.number().int().min(1) }),
  z.object({ ok: z.literal(false), error: text(1000), code: banRefusalCodeSchema }),
]);
sameType<Same<z.output<typeof blockResultSchema>, BlockResult>>();

/** POST /v1/blocks/batch. */
export const blockBatchResultSchema = z.object({ results: z.array(blockResultSchema) });

/** DELETE /v1/blocks?all=true. */
export const unblockAllResultSchema = z.object({ removed: z.number().int().nonnegative() });

/** DELETE /v1/blocks/<ip>. */
export const unblockResultSchema = z.object({ removed: z.boolean() });

export const attackRecordSchema = z.object({
  id: z.number().int(),
  startedAt: isoTime(),
  lastSeenAt: isoTime(),
  endedAt: isoTime().optional(),
  victims: z.array(addressSchema),
  vectors: z.array(attackVectorSchema),
  vectorDetails: z.array(z.object({ vector: attackVectorSchema, label: text(200), peakShare: z.number().min(0).max(1), signature: signatureSchema.optional() })).max(64),
  multiVector: z.boolean(),
  signatures: z.array(text(500)),
  signatureRuleNeeded: z.boolean(),
  peakInboundPps: count(),
  attackers: z.array(addressSchema),
  banned: z.array(cidrSchema),
});
sameType<Same<z.output<typeof attackRecordSchema>, AttackRecord>>();

/** GET /v1/aggregate: detection's own schema (strict, sketches decoded), the one the merge accepts. */
export const aggregateSchema = aggregateExportSchema;

/** GET /v1/attacks. */
export const attacksSchema = z.object({ attacks: z.array(attackRecordSchema) });

/** POST /trigger-defense (the seed's route, its snake_case fields kept). */
export const triggerDefenseResponseSchema = z.object({
  under_attack: z.boolean(),
  ip: addressSchema.nullable(),
  ip_counts: z.record(z.string().max(64), count()),
  banned: z.array(banRecordSchema),
  refused: z.array(z.object({ ip: z.string().max(64), reason: text(1000) })),
  verdict: verdictSchema,
});
sameType<Same<z.output<typeof triggerDefenseResponseSchema>, TriggerDefenseResponse>>();

/** Every 4xx/5xx: one line saying what went wrong. */
export const errorBodySchema = z.object({ error: z.string() });

// ---------------------------------------------------------------------------
// Signature rules.

export const signatureSourceSchema = z.enum(['auto', 'api', 'controller']);
export const signatureRefusalCodeSchema = z.enum(['never_block', 'not_protected', 'unsafe', 'max_rules', 'unsupported', 'invalid']);

/** One rule an agent holds. Its match is strict: a field this version does not know could mean a rule it cannot read right. */
export const signatureRecordSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  match: signatureMatchSchema,
  action: signatureActionSchema,
  applied: text(300),
  vector: attackVectorSchema.optional(),
  label: text(200).optional(),
  reason: text(1000),
  policy: text(253).optional(),
  source: signatureSourceSchema,
  createdAt: isoTime(),
  expiresAt: isoTime(),
  durationSeconds: count(),
  backend: text(64),
  packets: count(),
  bytes: count(),
  packetsPerSecond: count(),
});
sameType<Same<z.output<typeof signatureRecordSchema>, SignatureRecord>>();

/** GET /v1/signatures. */
export const signatureListSchema = z.object({
  signatures: z.array(signatureRecordSchema).max(10_000),
  epoch: text(64),
  policies: z.record(z.string().max(253), signaturePolicySettingsSchema),
});
sameType<Same<z.output<typeof signatureListSchema>, SignatureList>>();

/** POST /v1/signatures (a refusal is a 4xx with { error }; this is the 2xx body). */
export const signatureResultSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), action: z.enum(['added', 'extended', 'updated', 'unchanged']), rule: signatureRecordSchema }),
  z.object({ ok: z.literal(false), error: text(1000), code: signatureRefusalCodeSchema }),
]);
sameType<Same<z.output<typeof signatureResultSchema>, SignatureResult>>();

/** DELETE /v1/signatures/<id>. */
export const signatureRemovedSchema = z.object({ removed: z.boolean() });
