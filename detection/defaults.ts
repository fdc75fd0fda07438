// The detection thresholds, each declared once: its bound (with the message
// for a bad value), its default and what it means. The agent's config and API,
// the CLI flags and the DefensePolicy CRD (api/v1alpha1 embeds thresholdFields
// in spec.detection, so every threshold is a policy field with this default)
// all take them from here. Defaults must flag a 50k pps distributed flood at
// one address, the low-rate floods of issue 10 before any baseline exists (a
// 2,500 pps ECN SYN flood, 4,000 pps ISAKMP reflection, 44 pps of DNS
// fragments), and must flag nothing on the benign profiles (a busy web server,
// an elephant upload, a scrape burst, a flash crowd); test/detection and
// test/analysis cover both. docs/detection.md says why each value.

import { z } from 'zod';
import type { DetectionThresholds } from './types.js';

const SHARE_MESSAGE =
  'attackerShareThreshold is a fraction in (0, 1]: 0.2 means 20% of inbound packets (50 is not 50%)';

function positiveFinite(name: string) {
  return z
    .number({ error: `${name} must be a number` })
    .positive({ error: `${name} must be a positive finite number` });
}

function positiveInt(name: string) {
  return z
    .number({ error: `${name} must be a number` })
    .int({ error: `${name} must be an integer` })
    .min(1, { error: `${name} must be at least 1` });
}

// z.number() in zod 4 already rejects NaN and ±Infinity. The descriptions are
// the CRD's (kubectl explain dp.spec.detection); the default is appended there.
export const thresholdFields = {
  // The seed implementation's value: one source sending more than a fifth of
  // everything a protected host receives is not a normal client.
  attackerShareThreshold: z
    .number({ error: SHARE_MESSAGE })
    .gt(0, { error: SHARE_MESSAGE })
    .lte(1, { error: SHARE_MESSAGE })
    .default(0.2)
    .describe(
      'A fraction, not a percentage: the top inbound source is an attacker when its share of the ' +
        "window's inbound packets exceeds this value, greater than 0 and at most 1 (0.2 = 20%; 50 is " +
        'rejected, not read as 50%).',
    ),
  // Below ~1000 inbound packets per window shares are noise: on an idle host a
  // single page load is 100% of the traffic.
  minPackets: positiveInt('minPackets')
    .default(1000)
    .describe(
      'Windows with fewer inbound packets than this are not judged by the share and per-source ' +
        'rules (shares of tiny windows are noise). At least 1.',
    ),
  // A legitimate client rarely sustains more than a few hundred pps towards one
  // service; 5000 pps of small packets is a flood. Caveat: a bulk upload of
  // full-size segments reaches 5000 pps at ~60 Mbit/s, so raise this for hosts
  // that ingest bulk data from few clients.
  sourcePpsThreshold: positiveFinite('sourcePpsThreshold')
    .default(5000)
    .describe('Packets per second from one source that make it an attacker, greater than 0.'),
  // 100 Mbit/s from one address is a tenth of a 1 GbE link; catches
  // large-packet floods that stay under the pps threshold.
  sourceBpsThreshold: positiveFinite('sourceBpsThreshold')
    .default(100e6)
    .describe('Bits per second from one source that make it an attacker, greater than 0.'),
  // FastNetMon ships threshold_pps = 20000 per host; 4x the busy benign server
  // and below the 50k pps floods we must catch.
  victimPpsThreshold: positiveFinite('victimPpsThreshold')
    .default(20000)
    .describe('Packets per second towards one protected destination that put it under attack, greater than 0.'),
  // FastNetMon's threshold_mbps = 1000: 1 Gbit/s saturates a 1 GbE NIC.
  victimBpsThreshold: positiveFinite('victimBpsThreshold')
    .default(1e9)
    .describe('Bits per second towards one protected destination that put it under attack, greater than 0.'),
  // Bounds ban-list churn per window; a flood needing more per-IP bans than this
  // is distributed and needs the signature rule instead.
  maxAttackers: positiveInt('maxAttackers')
    .max(10000, { error: 'maxAttackers must be at most 10000' })
    .default(100)
    .describe('At most this many attackers are reported per analysis (1-10000), heaviest first.'),
  // Floors: rates of traffic that looks malicious on its own, judged before
  // any baseline exists (cold start) and kept afterwards. A busy web server
  // leaves a few hundred SYNs/s unanswered at a 1 s window's edge at most.
  synFloodPps: positiveFinite('synFloodPps')
    .default(1000)
    .describe('SYNs per second to one protected address that never complete a handshake, above which it is a SYN flood (a floor judged before any baseline exists).'),
  // Responses nobody asked for: the protected address sent no query to that port.
  reflectionPps: positiveFinite('reflectionPps')
    .default(1000)
    .describe('Unsolicited responses per second (SYN-ACKs, amplification replies the address never asked for) above which it is a reflection flood.'),
  // Fragments are well under 1% of normal traffic; 20/s at a tenth of the
  // victim's packets is a fragment attack even when small (issue 10's 44 pps
  // DNS fragment reflection).
  fragmentPps: positiveFinite('fragmentPps')
    .default(20)
    .describe('IP fragments per second to one protected address that, together with fragmentShare, make a fragment attack.'),
  fragmentShare: z
    .number({ error: 'fragmentShare must be a number' })
    .gt(0, { error: 'fragmentShare is a fraction in (0, 1]' })
    .lte(1, { error: 'fragmentShare is a fraction in (0, 1]' })
    .default(0.1)
    .describe("The fragments' share of the address's inbound packets, in (0, 1], above which fragments are an attack."),
  // No TCP stack sends these mixes; scanners send a few, floods many.
  badFlagsPps: positiveFinite('badFlagsPps')
    .default(100)
    .describe('TCP packets per second with flag mixes no TCP stack sends, above which it is a flood.'),
  icmpFloodPps: positiveFinite('icmpFloodPps').default(1000).describe('ICMP packets per second to one protected address above which it is an ICMP flood.'),
  rstFloodPps: positiveFinite('rstFloodPps').default(1000).describe('RSTs per second to one protected address above which it is an RST flood.'),
  // Baseline rule (EWMA mean and EW deviation per signal and protected
  // address): anomalous above mean + 5 deviations (the deviation floored at
  // the Poisson noise sqrt(mean) and a tenth of the mean), at least 100 pps
  // and 3x the mean; learned over 60 s before it judges, half-life 5 minutes.
  baselineSigmas: positiveFinite('baselineSigmas')
    .default(5)
    .describe('A signal is anomalous above its learned mean plus this many deviations.'),
  baselineMinPps: positiveFinite('baselineMinPps')
    .default(100)
    .describe('The baseline rule never flags a signal below this many packets per second.'),
  baselineMinRatio: z
    .number({ error: 'baselineMinRatio must be a number' })
    .min(1, { error: 'baselineMinRatio must be at least 1' })
    .default(3)
    .describe('The baseline rule flags a signal only at this many times its learned mean or more (at least 1).'),
  warmupSeconds: z
    .number({ error: 'warmupSeconds must be a number' })
    .min(0, { error: 'warmupSeconds must be 0 or more' })
    .max(86400, { error: 'warmupSeconds must be at most 86400' })
    .default(60)
    .describe('Seconds a baseline learns before it judges (0-86400); until then only the floors and ceilings judge.'),
  baselineHalfLifeSeconds: z
    .number({ error: 'baselineHalfLifeSeconds must be a number' })
    .min(1, { error: 'baselineHalfLifeSeconds must be at least 1' })
    .max(7 * 86400, { error: 'baselineHalfLifeSeconds must be at most 604800 (7 days)' })
    .default(300)
    .describe('Half-life of the learned baselines in seconds (1-604800).'),
};

type ThresholdFields = typeof thresholdFields;

/** The fields without their defaults: a complete set of thresholds must give every one. */
const requiredFields = Object.fromEntries(
  Object.entries(thresholdFields).map(([key, field]) => [key, field.unwrap()]),
) as { [K in keyof ThresholdFields]: ReturnType<ThresholdFields[K]['unwrap']> };

export const detectionThresholdsSchema = z.strictObject(requiredFields) satisfies z.ZodType<DetectionThresholds>;

/** Overrides: any subset of the keys, still strict about unknown keys. */
export const detectionThresholdOverridesSchema = detectionThresholdsSchema.partial();

export const DEFAULT_THRESHOLDS: Readonly<DetectionThresholds> = Object.freeze(z.object(thresholdFields).parse({}));

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
