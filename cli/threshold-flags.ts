// The detection thresholds as CLI flags, shared by analyze and capture. Every
// knob of detection/defaults.ts has one; the schema there validates them.
import type { Command } from 'commander';
import type { DetectionThresholds } from '../detection/types.js';
import { fraction, nonNegativeNumber, positiveInt, positiveNumber } from './number-options.js';
import { usageError } from './cli-error.js';

export function addThresholdFlags(cmd: Command): Command {
  return cmd
    .option('--share <fraction>', 'share rule: among sources matching an attack, ban those above this share of inbound packets (0.2 = 20%)', fraction)
    .option('--min-packets <n>', 'attacker selection and per-source rates need this many inbound packets in the window', positiveInt)
    .option('--source-pps <n>', 'per-source packets/s threshold', positiveNumber)
    .option('--source-bps <n>', 'per-source bits/s threshold', positiveNumber)
    .option('--victim-pps <n>', 'ceiling: per-victim packets/s', positiveNumber)
    .option('--victim-bps <n>', 'ceiling: per-victim bits/s', positiveNumber)
    .option('--max-attackers <n>', 'report at most this many attackers', positiveInt)
    .option('--syn-flood-pps <n>', 'floor: SYNs/s that never complete a handshake', positiveNumber)
    .option('--reflection-pps <n>', 'floor: unsolicited SYN-ACKs or amplification-port UDP per second', positiveNumber)
    .option('--fragment-pps <n>', 'floor: IP fragments per second', positiveNumber)
    .option('--fragment-share <fraction>', 'floor: share of the victim\'s packets the fragments must reach', fraction)
    .option('--bad-flags-pps <n>', 'floor: TCP NULL/XMAS/SYN+FIN/FIN-without-ACK packets per second', positiveNumber)
    .option('--icmp-flood-pps <n>', 'floor: ICMP packets per second', positiveNumber)
    .option('--rst-flood-pps <n>', 'floor: RSTs per second, and stray ACKs the victim answers with RST', positiveNumber)
    .option('--baseline-sigmas <k>', 'baseline rule: anomalous above mean + k deviations', positiveNumber)
    .option('--baseline-min-pps <n>', 'baseline rule: never below this many packets/s', positiveNumber)
    .option('--baseline-min-ratio <x>', 'baseline rule: and at least this multiple of the mean', positiveNumber)
    .option('--warmup <seconds>', 'seconds of traffic a baseline learns before it judges', nonNegativeNumber)
    .option('--baseline-half-life <seconds>', 'half-life of the baselines\' moving averages', positiveNumber);
}

export interface ThresholdFlagValues {
  share?: number;
  minPackets?: number;
  sourcePps?: number;
  sourceBps?: number;
  victimPps?: number;
  victimBps?: number;
  maxAttackers?: number;
  synFloodPps?: number;
  reflectionPps?: number;
  fragmentPps?: number;
  fragmentShare?: number;
  badFlagsPps?: number;
  icmpFloodPps?: number;
  rstFloodPps?: number;
  baselineSigmas?: number;
  baselineMinPps?: number;
  baselineMinRatio?: number;
  warmup?: number;
  baselineHalfLife?: number;
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
      synFloodPps: f.synFloodPps,
      reflectionPps: f.reflectionPps,
      fragmentPps: f.fragmentPps,
      fragmentShare: f.fragmentShare,
      badFlagsPps: f.badFlagsPps,
      icmpFloodPps: f.icmpFloodPps,
      rstFloodPps: f.rstFloodPps,
      baselineSigmas: f.baselineSigmas,
      baselineMinPps: f.baselineMinPps,
      baselineMinRatio: f.baselineMinRatio,
      warmupSeconds: f.warmup,
      baselineHalfLifeSeconds: f.baselineHalfLife,
    });
  } catch (err) {
    if (err instanceof InvalidThresholdsError) {
      const first = err.issues[0];
      throw usageError(first ? `invalid threshold ${first.path.join('.')}: ${first.message}` : err.message.split('\n')[0]!);
    }
    throw err;
  }
}
