// Default detection thresholds, the schema that validates operator overrides,
// and the merge of the two. Defaults must flag a 50k pps distributed flood at
// one address, the low-rate floods of issue 10 before any baseline exists (a
// 2,500 pps ECN SYN flood, 4,000 pps ISAKMP reflection, 44 pps of DNS
// fragments), and must flag nothing on the benign profiles (a busy web server,
// an elephant upload, a scrape burst, a flash crowd); test/detection and
// test/analysis cover both. docs/detection.md says why each value.

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
  // Floors: rates of traffic that looks malicious on its own, judged before
  // any baseline exists (cold start) and kept afterwards. A busy web server
  // leaves a few hundred SYNs/s unanswered at a 1 s window's edge at most.
  synFloodPps: 1000,
  // Responses nobody asked for: the protected address sent no query to that port.
  reflectionPps: 1000,
  // Fragments are well under 1% of normal traffic; 20/s at a tenth of the
  // victim's packets is a fragment attack even when small (issue 10's 44 pps
  // DNS fragment reflection).
  fragmentPps: 20,
  fragmentShare: 0.1,
  // No TCP stack sends these mixes; scanners send a few, floods many.
  badFlagsPps: 100,
  icmpFloodPps: 1000,
  rstFloodPps: 1000,
  // Baseline rule (EWMA mean and EW deviation per signal and protected
  // address): anomalous above mean + 5 deviations (the deviation floored at
  // the Poisson noise sqrt(mean) and a tenth of the mean), at least 100 pps
  // and 3x the mean; learned over 60 s before it judges, half-life 5 minutes.
  baselineSigmas: 5,
  baselineMinPps: 100,
  baselineMinRatio: 3,
  warmupSeconds: 60,
  baselineHalfLifeSeconds: 300,
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
  synFloodPps: positiveFinite('synFloodPps'),
  reflectionPps: positiveFinite('reflectionPps'),
  fragmentPps: positiveFinite('fragmentPps'),
  fragmentShare: z
    .number({ error: 'fragmentShare must be a number' })
    .gt(0, { error: 'fragmentShare is a fraction in (0, 1]' })
    .lte(1, { error: 'fragmentShare is a fraction in (0, 1]' }),
  badFlagsPps: positiveFinite('badFlagsPps'),
  icmpFloodPps: positiveFinite('icmpFloodPps'),
  rstFloodPps: positiveFinite('rstFloodPps'),
  baselineSigmas: positiveFinite('baselineSigmas'),
  baselineMinPps: positiveFinite('baselineMinPps'),
  baselineMinRatio: z.number({ error: 'baselineMinRatio must be a number' }).min(1, { error: 'baselineMinRatio must be at least 1' }),
  warmupSeconds: z.number({ error: 'warmupSeconds must be a number' }).min(0, { error: 'warmupSeconds must be 0 or more' }).max(86400),
  baselineHalfLifeSeconds: z
    .number({ error: 'baselineHalfLifeSeconds must be a number' })
    .min(1, { error: 'baselineHalfLifeSeconds must be at least 1' })
    .max(7 * 86400, { error: 'baselineHalfLifeSeconds must be at most 604800 (7 days)' }),
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
