// The detection thresholds as CLI flags, shared by analyze and capture.
import type { Command } from 'commander';
import type { DetectionThresholds } from '../detection/types.js';
import { fraction, positiveInt, positiveNumber } from './number-options.js';
import { usageError } from './cli-error.js';

export function addThresholdFlags(cmd: Command): Command {
  return cmd
    .option('--share <fraction>', 'seed rule: flag the top source above this share of inbound packets (0.2 = 20%)', fraction)
    .option('--min-packets <n>', 'ignore windows with fewer inbound packets', positiveInt)
    .option('--source-pps <n>', 'per-source packets/s threshold', positiveNumber)
    .option('--source-bps <n>', 'per-source bits/s threshold', positiveNumber)
    .option('--victim-pps <n>', 'per-victim packets/s threshold', positiveNumber)
    .option('--victim-bps <n>', 'per-victim bits/s threshold', positiveNumber)
    .option('--max-attackers <n>', 'report at most this many attackers', positiveInt);
}

export interface ThresholdFlagValues {
  share?: number;
  minPackets?: number;
  sourcePps?: number;
  sourceBps?: number;
  victimPps?: number;
  victimBps?: number;
  maxAttackers?: number;
}

/** Validate through the one thresholds schema; a bad value is a one-line usage error. */
export async function thresholdsFromFlags(f: ThresholdFlagValues): Promise<DetectionThresholds> {
  // Loaded here, not at the top: other commands (the controller) need none of the detection code.
  const { resolveThresholds, InvalidThresholdsError } = await import('../detection/defaults.js');
  try {
    return resolveThresholds({
      attackerShareThreshold: f.share,
      minPackets: f.minPackets,
      sourcePpsThreshold: f.sourcePps,
      sourceBpsThreshold: f.sourceBps,
      victimPpsThreshold: f.victimPps,
      victimBpsThreshold: f.victimBps,
      maxAttackers: f.maxAttackers,
    });
  } catch (err) {
    if (err instanceof InvalidThresholdsError) {
      const first = err.issues[0];
      throw usageError(first ? `invalid threshold ${first.path.join('.')}: ${first.message}` : err.message.split('\n')[0]!);
    }
    throw err;
  }
}
