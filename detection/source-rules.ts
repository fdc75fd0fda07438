// Per-source rules over a window: the seed share rule and the per-source rate
// rules. One pass over the (possibly 650k-entry) source map; everything later
// works on the short lists this returns.
//
// Denominator of the share rule: the window's INBOUND packets, i.e. the sum of
// SlotTotals.inboundPackets over the window's slots — every packet addressed to
// a protected address (all IP packets when no protected set is configured),
// including packets whose source lost its table entry. Outbound traffic, non-IP
// frames and packets to unprotected addresses are not in it, because the
// engine never puts them in the source table either: numerator and
// denominator count the same traffic.
//
// Rates use the lower-bound `packets`, never `packetsUpperBound`: a ban must
// not rest on a Space-Saving over-estimate inherited from evicted entries.

import type { AddressCounters } from '../native/lib/types.js';
import type { WindowAggregate } from './window-merge.js';
import type { AttackerRule, DetectionThresholds } from './types.js';

export interface FlaggedSource {
  counters: AddressCounters;
  rules: AttackerRule[];
}

export interface SourceScan {
  /** Heaviest source by packets (blocked or not), the seed rule's view. */
  top: AddressCounters | null;
  /** Sources flagged by 'share', 'source_pps' or 'source_bps', blocked ones included. */
  flagged: Map<string, FlaggedSource>;
  /** Sources with at least `heavyCandidatePackets` packets, heaviest first (victim heavy-hitter candidates). */
  heavyCandidates: AddressCounters[];
}

/**
 * Apply the share and rate rules to every source of the window.
 *
 * The share rule flags every source whose share exceeds the threshold, not just
 * the top one. For thresholds >= 0.5 that is the seed's rule exactly; below it,
 * it stops a top source that is already banned (but still visible to capture,
 * which sits before the firewall) from hiding the next-heaviest flooder.
 * Both rules are skipped when the window has fewer than minPackets inbound packets.
 */
export function scanSources(
  window: WindowAggregate,
  t: DetectionThresholds,
  heavyCandidatePackets: number,
): SourceScan {
  const inbound = window.totals.inboundPackets;
  const seconds = window.seconds;
  const rulesApply = inbound >= t.minPackets && seconds > 0;
  // Thresholds in packets/bytes for this window, so the loop only compares.
  const sharePackets = t.attackerShareThreshold * inbound;
  const ppsPackets = t.sourcePpsThreshold * seconds;
  const bpsBytes = (t.sourceBpsThreshold * seconds) / 8;

  let top: AddressCounters | null = null;
  const flagged = new Map<string, FlaggedSource>();
  const heavyCandidates: AddressCounters[] = [];

  for (const s of window.sources) {
    if (top === null || s.packets > top.packets) top = s;
    if (s.packets >= heavyCandidatePackets) heavyCandidates.push(s);
    if (!rulesApply) continue;

    let rules: AttackerRule[] | undefined;
    if (s.packets > sharePackets) (rules ??= []).push('share');
    if (s.packets >= ppsPackets) (rules ??= []).push('source_pps');
    if (s.bytes >= bpsBytes) (rules ??= []).push('source_bps');
    if (rules) flagged.set(s.addr, { counters: s, rules });
  }

  heavyCandidates.sort((a, b) => b.packets - a.packets);
  return { top, flagged, heavyCandidates };
}
