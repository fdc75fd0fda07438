// Per-source rules over a window: which heavy sources are established two-way
// TCP flows (never banned on rate or share alone), the per-source rate rules,
// and the short list of heavy sources attacker selection looks at. One pass
// over the (possibly 650k-entry) source map; everything later works on the
// short lists this returns.
//
// Share denominator: the window's INBOUND packets (SlotTotals.inboundPackets
// summed), every packet addressed to a protected address, including those
// whose source lost its table entry; the engine puts nothing else in the
// source table either, so numerator and denominator count the same traffic.
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

export interface ExemptFlow {
  counters: AddressCounters;
  reason: string;
}

export interface SourceScan {
  /** Heaviest source by packets (blocked or not), the seed rule's view. */
  top: AddressCounters | null;
  /** Heavy sources that are established two-way TCP flows. */
  exempt: ExemptFlow[];
  /** Sources over the per-source pps or bps threshold that are not exempt. */
  rateFlagged: Map<string, FlaggedSource>;
  /** Heavy sources that are not exempt (at least HEAVY_SOURCE_SHARE of inbound), heaviest first: attacker candidates. */
  heavy: AddressCounters[];
}

/** Sources under this share of the window's inbound packets are never attacker candidates (nor exempt: they do not matter). */
export const HEAVY_SOURCE_SHARE = 0.001;

/**
 * Why a source is an established two-way TCP flow, or undefined. Such a flow
 * (a backup upload, a download, a database replica) is TCP only, opens almost
 * no connections in the window, is answered by the protected side, and moves
 * bulk data: large segments in, or, for downloads, many bytes out against
 * almost only pure ACKs in. A request flood over keep-alive connections sends
 * small segments that each carry a request, so it never qualifies.
 */
export function exemptionReason(s: AddressCounters): string | undefined {
  if (s.packets <= 0) return undefined;
  const tcpOnly = s.tcp >= 0.95 * s.packets && s.badFlags === 0 && s.fragments === 0;
  if (!tcpOnly) return undefined;
  if (s.syn > Math.max(5, 0.01 * s.packets)) return undefined; // opens connections: not one long-lived flow
  if (s.outPackets < 0.05 * s.packets) return undefined; // the protected side does not answer: one-way
  const avgIn = s.bytes / s.packets;
  if (avgIn >= 500) return `established TCP flow sending bulk data (${Math.round(avgIn)} bytes per packet in, answered)`;
  // Downloads: the protected side sends, the source acknowledges. Each
  // request ends a write (PSH); a download's ACKs carry none.
  if (s.outBytes >= 4 * s.bytes && s.psh <= 0.02 * s.packets) {
    return `established TCP flow receiving bulk data (${(s.outBytes / Math.max(1, s.bytes)).toFixed(0)}x more bytes out than in)`;
  }
  return undefined;
}

/**
 * Apply the exemption and the rate rules to every source of the window and
 * keep the heavy ones. The rate rules need at least minPackets inbound packets
 * in the window (a few packets over a short span are no rate).
 */
export function scanSources(window: WindowAggregate, t: DetectionThresholds): SourceScan {
  const inbound = window.totals.inboundPackets;
  const seconds = window.seconds;
  const rulesApply = inbound >= t.minPackets && seconds > 0;
  const ppsPackets = t.sourcePpsThreshold * seconds;
  const bpsBytes = (t.sourceBpsThreshold * seconds) / 8;
  const heavyMin = Math.max(2, HEAVY_SOURCE_SHARE * inbound);

  let top: AddressCounters | null = null;
  const exempt: ExemptFlow[] = [];
  const rateFlagged = new Map<string, FlaggedSource>();
  const heavy: AddressCounters[] = [];

  for (const s of window.sources) {
    if (top === null || s.packets > top.packets) top = s;
    const overRate = rulesApply && (s.packets >= ppsPackets || s.bytes >= bpsBytes);
    if (s.packets < heavyMin && !overRate) continue;
    const reason = exemptionReason(s);
    if (reason !== undefined) {
      exempt.push({ counters: s, reason });
      continue;
    }
    heavy.push(s);
    if (overRate) {
      const rules: AttackerRule[] = [];
      if (s.packets >= ppsPackets) rules.push('source_pps');
      if (s.bytes >= bpsBytes) rules.push('source_bps');
      rateFlagged.set(s.addr, { counters: s, rules });
    }
  }
  heavy.sort((a, b) => b.packets - a.packets);
  exempt.sort((a, b) => b.counters.packets - a.counters.packets);
  return { top, exempt, rateFlagged, heavy };
}
