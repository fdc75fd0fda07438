// Request schemas for the agent API. Every body and query goes through one of
// these before anything else runs, so a handler only ever sees typed, bounded
// input and the ban service is never called with something we could not parse.

import { z } from 'zod';
import { ipOrCidr, oneLineZodError } from '../../native/lib/capture-options.js';
import { canonicalCidr } from '../firewall/cidr.js';
import { detectionThresholdOverridesSchema, detectionThresholdsSchema } from '../detection/defaults.js';
import { ApiError } from './errors.js';

/** 30 days: a longer ban is a policy decision, not an API call. */
export const MAX_BAN_SECONDS = 30 * 24 * 3600;

/**
 * A ban target: ipOrCidr, and also parseable by the firewall's own parser.
 * Node's net.isIP (behind ipOrCidr) accepts IPv6 zone ids ("fe80::1%eth0")
 * and ipOrCidr accepts a zero-padded prefix ("/024"); the firewall refuses
 * both, so refuse them here, before the ban service is called.
 */
export const banTarget = ipOrCidr.refine((s) => canonicalCidr(s) !== undefined, {
  message: 'must be an IP address or CIDR such as 10.0.0.0/24 (no zone id, no leading zeros in the prefix)',
});

const singleAddress = banTarget.refine((s) => !s.includes('/'), {
  message: 'must be a single IP address; use "cidr" for a range',
});

export const durationSecondsSchema = z
  .number({ error: 'must be a whole number of seconds' })
  .int({ error: 'must be a whole number of seconds' })
  .min(1, { error: 'must be at least 1 second' })
  .max(MAX_BAN_SECONDS, { error: `must be at most ${MAX_BAN_SECONDS} seconds (30 days)` });

// \p{C}: control, format (bidi overrides), surrogate, private-use and unassigned
// code points; Zl/Zp: line and paragraph separators. Reasons end up in logs,
// the ban store and BlockEvents, where any of these could forge or hide lines.
const PRINTABLE = /^[^\p{C}\p{Zl}\p{Zp}]*$/u;

export const reasonSchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(200, { error: 'must be at most 200 characters' })
  .regex(PRINTABLE, { error: 'must be printable text on one line (no control characters or newlines)' })
  .refine((s) => s.trim() !== '', { error: 'must not be blank' });

// A Kubernetes object name (RFC 1123 subdomain): the DefensePolicy that asked.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const policyNameSchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(253, { error: 'must be at most 253 characters' })
  .regex(DNS1123_SUBDOMAIN, {
    error: 'must be a lower-case DNS-1123 name (a-z, 0-9, "-" and ".", starting and ending alphanumeric)',
  });

export const blockBodySchema = z
  .strictObject({
    ip: singleAddress.optional(),
    cidr: banTarget.optional(),
    durationSeconds: durationSecondsSchema,
    reason: reasonSchema,
    policy: policyNameSchema.optional(),
  })
  .refine((b) => (b.ip === undefined) !== (b.cidr === undefined), {
    error: 'give exactly one of "ip" or "cidr"',
  });

/** POST /v1/blocks/batch: up to 10,000 bans in one firewall transaction. */
export const MAX_BATCH_BLOCKS = 10_000;
export const blockBatchBodySchema = z.strictObject({
  blocks: z.array(blockBodySchema).min(1).max(MAX_BATCH_BLOCKS, { error: `at most ${MAX_BATCH_BLOCKS} bans per batch` }),
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

export function analyzeBodySchema(maxWindowSeconds: number) {
  return z.strictObject({
    windowSeconds: windowSecondsSchema(maxWindowSeconds),
    thresholds: detectionThresholdOverridesSchema.optional(),
    mode: analysisModeSchema.optional(),
  });
}

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

/** Parse or throw a 400 whose message is the first issue on one line. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ApiError(400, oneLineZodError(parsed.error));
  return parsed.data;
}
