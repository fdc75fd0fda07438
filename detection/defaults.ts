// Default detection thresholds, the schema that validates operator overrides,
// and the merge of the two. Defaults must flag a 50k pps distributed flood at
// one address and must not flag a busy benign server (5k pps from 2,000
// clients); test/detection covers both.

import { z } from 'zod';
import type { DetectionThresholds } from './types.js';

export const DEFAULT_THRESHOLDS: Readonly<DetectionThresholds> = Object.freeze({
  // The seed implementation's value: one source sending more than a fifth of
  // everything a protected host receives is not a normal client.
  attackerShareThreshold: 0.2,
  // Below ~1000 inbound packets per window shares are noise: on an idle host a
  // single page load is 100% of the traffic.
  minPackets: 1000,
  // A legitimate client rarely sustains more than a few hundred pps towards one
  // service; 5000 pps of small packets is a flood. Caveat: a bulk upload of
  // full-size segments reaches 5000 pps at ~60 Mbit/s, so raise this for hosts
  // that ingest bulk data from few clients.
  sourcePpsThreshold: 5000,
  // 100 Mbit/s from one address is a tenth of a 1 GbE link; catches
  // large-packet floods that stay under the pps threshold.
  sourceBpsThreshold: 100e6,
  // FastNetMon ships threshold_pps = 20000 per host; 4x the busy benign server
  // and below the 50k pps floods we must catch.
  victimPpsThreshold: 20000,
  // FastNetMon's threshold_mbps = 1000: 1 Gbit/s saturates a 1 GbE NIC.
  victimBpsThreshold: 1e9,
  // Bounds ban-list churn per window; a flood needing more per-IP bans than this
  // is distributed and needs the signature rule instead.
  maxAttackers: 100,
});

const SHARE_MESSAGE =
  'attackerShareThreshold is a fraction in (0, 1]: 0.2 means 20% of inbound packets (50 is not 50%)';

function positiveFinite(name: string) {
  return z
    .number({ error: `${name} must be a number` })
    .positive({ error: `${name} must be a positive finite number` });
}

// z.number() in zod 4 already rejects NaN and ±Infinity.
export const detectionThresholdsSchema = z.strictObject({
  attackerShareThreshold: z
    .number({ error: SHARE_MESSAGE })
    .gt(0, { error: SHARE_MESSAGE })
    .lte(1, { error: SHARE_MESSAGE }),
  minPackets: positiveFinite('minPackets'),
  sourcePpsThreshold: positiveFinite('sourcePpsThreshold'),
  sourceBpsThreshold: positiveFinite('sourceBpsThreshold'),
  victimPpsThreshold: positiveFinite('victimPpsThreshold'),
  victimBpsThreshold: positiveFinite('victimBpsThreshold'),
  maxAttackers: z
    .number({ error: 'maxAttackers must be a number' })
    .int({ error: 'maxAttackers must be an integer' })
    .min(1, { error: 'maxAttackers must be at least 1' })
    .max(10000, { error: 'maxAttackers must be at most 10000' }),
}) satisfies z.ZodType<DetectionThresholds>;

/** Overrides: any subset of the keys, still strict about unknown keys. */
export const detectionThresholdOverridesSchema = detectionThresholdsSchema.partial();

export class InvalidThresholdsError extends Error {
  constructor(
    message: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(message);
    this.name = 'InvalidThresholdsError';
  }
}

/**
 * Validate `overrides` (typically parsed from config, hence `unknown`) and
 * merge them over DEFAULT_THRESHOLDS. Keys whose value is undefined keep the
 * default. Throws InvalidThresholdsError listing every problem.
 */
export function resolveThresholds(overrides: unknown = {}): DetectionThresholds {
  const parsed = detectionThresholdOverridesSchema.safeParse(overrides ?? {});
  if (!parsed.success) {
    throw new InvalidThresholdsError(
      `invalid detection thresholds:\n${z.prettifyError(parsed.error)}`,
      parsed.error.issues,
    );
  }
  const merged: DetectionThresholds = { ...DEFAULT_THRESHOLDS };
  for (const [key, value] of Object.entries(parsed.data) as [keyof DetectionThresholds, number | undefined][]) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}
