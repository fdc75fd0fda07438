// Request schemas of the agent API (v1), the one definition the agent's
// handlers parse with (agent/api) and the client sends by. Every body and
// query goes through one of these before anything else runs, so a handler
// only ever sees typed, bounded input and the ban service is never called
// with something we could not parse.

import { z } from 'zod';
import { parseCidr } from '../../../lib/cidr.js';
import { detectionThresholdOverridesSchema, detectionThresholdsSchema } from '../../../detection/defaults.js';
import { MAX_BAN_SECONDS } from '../../ban-time.js';
import { type Same, sameType } from './same-type.js';
import type { AnalyzeRequest, BlockBody, SignaturePolicySettings, SignatureRequest } from './types.js';
import { SIGNATURE_MODES, signatureActionSchema, signatureMatchSchema } from '../../signature-rule.js';
import type { AttackVector } from '../../../detection/types.js';

export { MAX_BAN_SECONDS };

// The ban fields' rules, each a function from a value of the right type to
// the message for a bad one. The single-field schemas below and the ban body
// share them. The ban body runs them in one check per item instead of one
// zod check per rule: a 10,000-ban batch is 10,000 items, and every extra
// check is another pass of zod's check machinery per item.
type Rule<T> = (value: T) => string | undefined;

/**
 * A ban target is what the firewall's own parser accepts. Unlike Node's
 * net.isIP it refuses IPv6 zone ids ("fe80::1%eth0") and zero-padded
 * prefixes ("/024"); parseCidr is memoised, so the ban service's parse of the
 * same string later is free.
 */
const targetRule: Rule<string> = (s) =>
  parseCidr(s) === undefined
    ? 'must be an IP address or CIDR such as 10.0.0.0/24 or 2001:db8::/64 (no zone id, no leading zeros in the prefix)'
    : undefined;

const singleAddressRule: Rule<string> = (s) =>
  targetRule(s) ?? (s.includes('/') ? 'must be a single IP address; use "cidr" for a range' : undefined);

const durationRule: Rule<number> = (n) => {
  if (!Number.isInteger(n)) return 'must be a whole number of seconds';
  if (n < 1) return 'must be at least 1 second';
  if (n > MAX_BAN_SECONDS) return `must be at most ${MAX_BAN_SECONDS} seconds (30 days)`;
  return undefined;
};

// \p{C}: control, format (bidi overrides), surrogate, private-use and unassigned
// code points; Zl/Zp: line and paragraph separators. Reasons end up in logs,
// the ban store and BlockEvents, where any of these could forge or hide lines.
const PRINTABLE = /^[^\p{C}\p{Zl}\p{Zp}]*$/u;

const reasonRule: Rule<string> = (s) => {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 200) return 'must be at most 200 characters';
  if (!PRINTABLE.test(s)) return 'must be printable text on one line (no control characters or newlines)';
  if (s.trim() === '') return 'must not be blank';
  return undefined;
};

// A Kubernetes object name (RFC 1123 subdomain): the DefensePolicy that asked.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const policyNameRule: Rule<string> = (s) => {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 253) return 'must be at most 253 characters';
  if (!DNS1123_SUBDOMAIN.test(s)) return 'must be a lower-case DNS-1123 name (a-z, 0-9, "-" and ".", starting and ending alphanumeric)';
  return undefined;
};

/** `schema` plus one check that reports what `rule` says about the value. */
function ruled<T, S extends z.ZodType<T>>(schema: S, rule: Rule<T>): S {
  return schema.check((ctx) => {
    const message = rule(ctx.value as T);
    if (message !== undefined) ctx.issues.push({ code: 'custom', message, input: ctx.value });
  });
}

const durationType = () => z.number({ error: 'must be a whole number of seconds' });
const stringType = () => z.string({ error: 'must be a string' });

export const banTarget = ruled(z.string(), targetRule);
export const durationSecondsSchema = ruled(durationType(), durationRule);
export const reasonSchema = ruled(stringType(), reasonRule);
export const policyNameSchema = ruled(stringType(), policyNameRule);

/**
 * POST /v1/blocks and each item of a batch. The fields are typed by the
 * object; their rules run in the one check after it, in field order, and
 * report under the field's name ("ip: must be ...").
 */
export const blockBodySchema = z
  .strictObject({
    ip: z.string().optional(),
    cidr: z.string().optional(),
    durationSeconds: durationType(),
    reason: stringType(),
    policy: stringType().optional(),
  })
  .check((ctx) => {
    const b = ctx.value;
    const report = (field: keyof typeof b, message: string | undefined) => {
      if (message !== undefined) ctx.issues.push({ code: 'custom', message, input: b[field], path: [field] });
    };
    if (b.ip !== undefined) report('ip', singleAddressRule(b.ip));
    if (b.cidr !== undefined) report('cidr', targetRule(b.cidr));
    report('durationSeconds', durationRule(b.durationSeconds));
    report('reason', reasonRule(b.reason));
    if (b.policy !== undefined) report('policy', policyNameRule(b.policy));
    if ((b.ip === undefined) === (b.cidr === undefined)) {
      ctx.issues.push({ code: 'custom', message: 'give exactly one of "ip" or "cidr"', input: b });
    }
  });

sameType<Same<z.output<typeof blockBodySchema>, BlockBody>>();

const BLOCK_BODY_KEYS: ReadonlySet<string> = new Set(Object.keys(blockBodySchema.shape));

/**
 * The item itself when blockBodySchema would accept it unchanged, else
 * undefined. The same rules as the schema's, as plain tests: a 10,000-item
 * batch through zod's per-field machinery costs more than deciding and
 * applying the bans. Anything this does not vouch for goes through the
 * schema, which decides and explains, so the schema stays the definition
 * (test/api/batch-schema.test.ts holds the two to the same verdicts).
 */
export function plainBlockBody(item: unknown): BlockBody | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item) || Object.getPrototypeOf(item) !== Object.prototype) return undefined;
  for (const key in item) if (!BLOCK_BODY_KEYS.has(key)) return undefined;
  const { ip, cidr, durationSeconds, reason, policy } = item as Record<string, unknown>;
  if (ip === undefined) {
    if (typeof cidr !== 'string' || targetRule(cidr) !== undefined) return undefined;
  } else if (cidr !== undefined || typeof ip !== 'string' || singleAddressRule(ip) !== undefined) {
    return undefined;
  }
  if (typeof durationSeconds !== 'number' || durationRule(durationSeconds) !== undefined) return undefined;
  if (typeof reason !== 'string' || reasonRule(reason) !== undefined) return undefined;
  if (policy !== undefined && (typeof policy !== 'string' || policyNameRule(policy) !== undefined)) return undefined;
  return item as BlockBody;
}

/** POST /v1/blocks/batch: up to 10,000 bans in one firewall transaction. */
export const MAX_BATCH_BLOCKS = 10_000;
export const blockBatchBodySchema = z.strictObject({
  blocks: z
    .array(z.unknown())
    .min(1)
    .max(MAX_BATCH_BLOCKS, { error: `at most ${MAX_BATCH_BLOCKS} bans per batch` })
    // Each item is a blockBodySchema; plainBlockBody only spares the valid ones the parse.
    .transform((items, ctx) => {
      const out: BlockBody[] = new Array<BlockBody>(items.length);
      for (let i = 0; i < items.length; i++) {
        const plain = plainBlockBody(items[i]);
        if (plain !== undefined) {
          out[i] = plain;
          continue;
        }
        const parsed = blockBodySchema.safeParse(items[i]);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) ctx.issues.push({ code: 'custom', message: issue.message, input: items[i], path: [i, ...issue.path] });
          return z.NEVER;
        }
        out[i] = parsed.data;
      }
      return out;
    }),
});

/** windowSeconds and the seed's wait_time: a window the analyzer's ring can answer. */
export function windowSecondsSchema(maxWindowSeconds: number) {
  return z
    .number({ error: 'must be a number of seconds' })
    .positive({ error: 'must be greater than 0 seconds' })
    .max(maxWindowSeconds, {
      error: `must be at most ${maxWindowSeconds} seconds (the longest window this agent keeps)`,
    });
}

export const analysisModeSchema = z.enum(['continuous', 'window'], {
  error: 'must be "continuous" or "window"',
});

export const explicitTriggerSchema = z.enum(['api', 'trigger-defense', 'memory', 'annotation', 'schedule'], {
  error: 'must be one of api, trigger-defense, memory, annotation, schedule',
});

export function analyzeBodySchema(maxWindowSeconds: number) {
  return z.strictObject({
    windowSeconds: windowSecondsSchema(maxWindowSeconds),
    thresholds: detectionThresholdOverridesSchema.optional(),
    mode: analysisModeSchema.optional(),
    trigger: explicitTriggerSchema.optional(),
  });
}
sameType<Same<z.output<ReturnType<typeof analyzeBodySchema>>, AnalyzeRequest>>();

// The detection schema owns the range of the share threshold; this only
// renames it for the seed's field names and explains the usual percent mistake.
const attackerShare = detectionThresholdsSchema.shape.attackerShareThreshold;

function shareFractionProblem(field: string, value: number | undefined): string | undefined {
  if (value === undefined || attackerShare.safeParse(value).success) return undefined;
  const hint = value > 1 && value <= 100 ? `use ${value / 100} for ${value}%` : '0.2 means 20% of inbound packets';
  return `${field} is a fraction in (0, 1]: ${hint}`;
}

/** The seed's defaults: 7 s window, 20% share, 60 s ban. */
export const TRIGGER_DEFENSE_DEFAULTS = Object.freeze({ waitTime: 7, threshold: 0.2, banDuration: 60 });

/**
 * The seed's /trigger-defense body, snake_case and misspelling included
 * ("tresholdAttacker" is what the seed's own code read).
 */
export function triggerDefenseBodySchema(maxWindowSeconds: number) {
  return z
    .strictObject({
      wait_time: windowSecondsSchema(maxWindowSeconds).optional(),
      thresholdAttacker: z.number({ error: 'must be a number' }).optional(),
      tresholdAttacker: z.number({ error: 'must be a number' }).optional(),
      ban_duration: durationSecondsSchema.optional(),
    })
    // Object-level issues carry no path, so the message reads as written:
    // "thresholdAttacker is a fraction in (0, 1]: use 0.5 for 50%".
    .superRefine((b, ctx) => {
      for (const field of ['thresholdAttacker', 'tresholdAttacker'] as const) {
        const problem = shareFractionProblem(field, b[field]);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
      const { thresholdAttacker, tresholdAttacker } = b;
      if (thresholdAttacker !== undefined && tresholdAttacker !== undefined && thresholdAttacker !== tresholdAttacker) {
        ctx.addIssue({ code: 'custom', message: 'thresholdAttacker and tresholdAttacker (the seed spelling) disagree: give one' });
      }
    })
    .transform((b) => ({
      // An agent keeping less than 7 s of history answers the longest window it has.
      waitTime: b.wait_time ?? Math.min(TRIGGER_DEFENSE_DEFAULTS.waitTime, maxWindowSeconds),
      threshold: b.thresholdAttacker ?? b.tresholdAttacker ?? TRIGGER_DEFENSE_DEFAULTS.threshold,
      banDuration: b.ban_duration ?? TRIGGER_DEFENSE_DEFAULTS.banDuration,
    }));
}

// Query strings are text; only digits, so "1e2", " 5" and "5.0" are refused.
export const trafficQuerySchema = z.strictObject({
  seconds: z
    .string({ error: 'must be given once, as a whole number' })
    .regex(/^[0-9]{1,3}$/, { error: 'must be a whole number from 1 to 600' })
    .transform(Number)
    .pipe(z.number().min(1, { error: 'must be at least 1' }).max(600, { error: 'must be at most 600' }))
    .optional(),
});

/** GET /v1/aggregate: the window (default 1 s) and how many sources to list (default 1000, at most 20,000). */
export const aggregateQuerySchema = z.strictObject({
  seconds: trafficQuerySchema.shape.seconds,
  sources: z
    .string({ error: 'must be given once, as a whole number' })
    .regex(/^[0-9]{1,5}$/, { error: 'must be a whole number from 1 to 20000' })
    .transform(Number)
    .pipe(z.number().min(1, { error: 'must be at least 1' }).max(20_000, { error: 'must be at most 20000' }))
    .optional(),
});

/** GET /v1/talkers: the window (default 7 s) and how many sources (default 20). */
export const talkersQuerySchema = z.strictObject({
  seconds: trafficQuerySchema.shape.seconds,
  limit: z
    .string({ error: 'must be given once, as a whole number' })
    .regex(/^[0-9]{1,3}$/, { error: 'must be a whole number from 1 to 100' })
    .transform(Number)
    .pipe(z.number().min(1, { error: 'must be at least 1' }).max(100, { error: 'must be at most 100' }))
    .optional(),
});

// ---------------------------------------------------------------------------
// Signature rules. The schemas check shapes and bounds; what a rule may do
// (signatureProblems in api/signature-rule.ts) and what the host allows are
// the agent's refusals, each with its own code.

const ATTACK_VECTORS = [
  'syn_flood',
  'synack_reflection',
  'ack_flood',
  'rst_flood',
  'tcp_flag_anomaly',
  'tcp_flood',
  'udp_amplification',
  'udp_flood',
  'icmp_flood',
  'fragment_flood',
  'ip_protocol_flood',
  'generic',
] as const satisfies readonly AttackVector[];
sameType<Same<(typeof ATTACK_VECTORS)[number], AttackVector>>();
/** An attack vector's name: the one list, for requests and answers (responses.ts). */
export const attackVectorSchema = z.enum(ATTACK_VECTORS);

/** A one-line label or reason, printable, at most `max` characters. */
function printableLine(max: number) {
  return ruled(stringType(), (s: string) => (s.length > max ? `must be at most ${max} characters` : !PRINTABLE.test(s) ? 'must be printable text on one line' : undefined));
}

/** POST /v1/signatures. */
export const signatureRequestSchema = z.strictObject({
  match: signatureMatchSchema,
  action: signatureActionSchema,
  durationSeconds: durationSecondsSchema,
  reason: reasonSchema,
  policy: policyNameSchema.optional(),
  vector: attackVectorSchema.optional(),
  label: printableLine(200).optional(),
});
sameType<Same<z.output<typeof signatureRequestSchema>, SignatureRequest>>();

/** A rule's id in a path (DELETE /v1/signatures/<id>): 16 lower-case hex digits. */
export const signatureIdSchema = z.string().regex(/^[0-9a-f]{16}$/, { error: 'must be a signature rule id: 16 hex digits (GET /v1/signatures lists them)' });

/** At most this many rules a policy may hold on one agent; the agent's own cap (signatures.maxActiveRules) applies too. */
export const MAX_POLICY_RULES = 1000;

/** PUT /v1/signatures/policies/<name>. */
export const signaturePolicySettingsSchema = z.strictObject({
  mode: z.enum(SIGNATURE_MODES, { error: 'must be "auto", "propose" or "disabled"' }),
  durationSeconds: durationSecondsSchema,
  maxRules: z.number().int().min(1).max(MAX_POLICY_RULES),
  maxDurationSeconds: durationSecondsSchema,
});
sameType<Same<z.output<typeof signaturePolicySettingsSchema>, SignaturePolicySettings>>();
