// Per-victim analysis: which protected destinations are under attack, who the
// heavy hitters towards them are, and whether per-IP bans can help at all.
//
// Attribution caveat: the engine keeps no per-(source, destination) counters,
// so a source's window total stands in for what it sent to the victim. With
// one victim (the common case: an agent protecting one pod address) that is
// exact; with several, a source may be listed against each of them.

import type { AddressCounters, DestinationCounters } from '../native/lib/types.js';
import { classifyVector } from './vector-classifier.js';
import type { DetectionThresholds, VictimReport } from './types.js';

/** A source holding at least this share of a victim's packets is a heavy hitter of it. */
export const HEAVY_HITTER_SHARE = 0.05;
/** Per-IP bans must cover at least this share of a victim's packets to count as a mitigation. */
export const EXPLAINED_SHARE = 0.5;
/** Above this many distinct sources the flood is called spoofed or highly distributed. */
export const DISTRIBUTED_SOURCES = 1000;

/** Destinations at or above the victim pps or bps threshold, heaviest first. Rates use lower-bound packets. */
export function findVictims(
  destinations: Iterable<DestinationCounters>,
  seconds: number,
  t: DetectionThresholds,
): DestinationCounters[] {
  if (seconds <= 0) return [];
  const victims: DestinationCounters[] = [];
  for (const d of destinations) {
    if (d.packets / seconds >= t.victimPpsThreshold || (d.bytes * 8) / seconds >= t.victimBpsThreshold) victims.push(d);
  }
  return victims.sort((a, b) => b.packets - a.packets);
}

/**
 * Heavy hitters towards `victim`: every flagged source, plus candidates with at
 * least HEAVY_HITTER_SHARE of its packets. Heaviest first, blocked ones included
 * (the caller filters them out of what it reports).
 */
export function heavyHittersOf(
  victim: DestinationCounters,
  flagged: Iterable<AddressCounters>,
  candidates: readonly AddressCounters[],
): AddressCounters[] {
  const byAddr = new Map<string, AddressCounters>();
  for (const s of flagged) byAddr.set(s.addr, s);
  const minPackets = HEAVY_HITTER_SHARE * victim.packets;
  for (const s of candidates) {
    if (s.packets < minPackets) break; // candidates are sorted heaviest first
    byAddr.set(s.addr, s);
  }
  return [...byAddr.values()].sort((a, b) => b.packets - a.packets);
}

function approx(n: number): string {
  return n.toLocaleString('en-US');
}

export interface VictimAssessment {
  victim: DestinationCounters;
  /** Heavy hitters that per-IP bans cover: newly reported attackers plus already blocked sources. */
  covered: readonly AddressCounters[];
  /** The newly reported subset of `covered`, heaviest first (becomes heavyHitters). */
  reported: readonly AddressCounters[];
  blockedCount: number;
  seconds: number;
}

/**
 * Build the report. signatureRuleNeeded is set when the sources that per-IP
 * bans cover (reported + already blocked) carry less than EXPLAINED_SHARE of
 * the victim's packets: banning cannot stop the rest, whatever its source count.
 * The distinct-source count only changes the operator note.
 */
export function buildVictimReport(a: VictimAssessment): VictimReport {
  const { victim, seconds } = a;
  const classification = classifyVector(victim);
  let coveredPackets = 0;
  for (const s of a.covered) coveredPackets += s.packets;
  const coveredShare = victim.packets > 0 ? Math.min(1, coveredPackets / victim.packets) : 0;
  const signatureRuleNeeded = coveredShare < EXPLAINED_SHARE;
  const distinct = victim.distinctSources;
  const pct = `${Math.round(coveredShare * 100)}%`;

  let note: string;
  if (signatureRuleNeeded && distinct > DISTRIBUTED_SOURCES) {
    note = `spoofed or highly distributed flood from ~${approx(distinct)} sources: per-IP bans cannot stop it; apply the signature rule`;
  } else if (signatureRuleNeeded && a.covered.length === 0) {
    note = `distributed flood from ~${approx(distinct)} sources, none heavy enough to ban: apply the signature rule`;
  } else if (signatureRuleNeeded) {
    note = `per-IP bans cover only ${pct} of the traffic from ~${approx(distinct)} sources: apply the signature rule`;
  } else {
    const already = a.blockedCount > 0 ? ` (${a.blockedCount} already blocked)` : '';
    note = `${a.covered.length} heavy hitter(s)${already} carry ${pct} of the traffic: per-IP bans apply`;
  }

  return {
    ip: victim.addr,
    packets: victim.packets,
    bytes: victim.bytes,
    pps: victim.packets / seconds,
    bps: (victim.bytes * 8) / seconds,
    vector: classification.vector,
    vectorDetail: classification.detail,
    distinctSources: distinct,
    protocols: { tcp: victim.tcp, udp: victim.udp, icmp: victim.icmp, other: victim.other },
    signature: classification.signature,
    heavyHitters: a.reported.map((s) => s.addr),
    signatureRuleNeeded,
    note,
  };
}
