// analyzeWindow: Slots in, one JSON-serialisable Verdict out. Pure: no I/O.
//
// Attackers come only from these rules, and at most maxAttackers of them
// (heaviest by packets first) are reported, so a spoofed random-source flood
// can never turn into thousands of bans:
//   share        - a source's share of the window's INBOUND packets (the sum of
//                  SlotTotals.inboundPackets: packets to protected addresses,
//                  attributed to a source entry or not) exceeds
//                  attackerShareThreshold; needs >= minPackets inbound packets.
//   source_pps   - lower-bound packets / window seconds >= sourcePpsThreshold
//   source_bps   - bytes * 8 / window seconds >= sourceBpsThreshold
//                  (both also need >= minPackets inbound packets)
//   heavy_hitter - >= 5% of a victim's packets (victim: a destination at or
//                  above victimPpsThreshold or victimBpsThreshold)
// Sources in opts.blocked are already banned: they are left out of
// `attackers` and `heavyHitters` (the contract has no field for them; the
// agent reports bans itself) but still count as covered by per-IP bans when
// deciding whether a victim needs the signature rule. `topSource` is the plain
// heaviest source whether blocked or not.

import type { AddressCounters, Slot } from '../native/lib/types.js';
import { resolveThresholds } from './defaults.js';
import { scanSources, type FlaggedSource } from './source-rules.js';
import { buildVictimReport, findVictims, heavyHittersOf, HEAVY_HITTER_SHARE } from './victim-analysis.js';
import { mergeSlots } from './window-merge.js';
import type { AttackerEvidence, AttackerRule, AttackVector, DetectionThresholds, Verdict } from './types.js';

export interface AnalyzeOptions {
  /** Capture loss during the window; missing fields are 0. */
  drops?: Partial<Verdict['drops']>;
  /** Sources already banned: excluded from new attackers. */
  blocked?: ReadonlySet<string> | ((ip: string) => boolean);
}

const RULE_ORDER: readonly AttackerRule[] = ['share', 'source_pps', 'source_bps', 'heavy_hitter'];

function blockedPredicate(blocked: AnalyzeOptions['blocked']): (ip: string) => boolean {
  if (blocked === undefined) return () => false;
  if (typeof blocked === 'function') return blocked;
  return (ip) => blocked.has(ip);
}

/** x / y, or 0 when y is 0, so no NaN or Infinity reaches the JSON. */
function ratio(x: number, y: number): number {
  return y > 0 ? x / y : 0;
}

function evidence(f: FlaggedSource, inbound: number, seconds: number): AttackerEvidence {
  const c = f.counters;
  return {
    ip: c.addr,
    rules: RULE_ORDER.filter((r) => f.rules.includes(r)),
    packets: c.packets,
    bytes: c.bytes,
    share: Math.min(1, ratio(c.packets, inbound)),
    pps: ratio(c.packets, seconds),
    bps: ratio(c.bytes * 8, seconds),
    protocols: { tcp: c.tcp, udp: c.udp, icmp: c.icmp, other: c.other },
  };
}

/**
 * Analyse one window of slots. Invalid thresholds throw InvalidThresholdsError.
 * With no slots the verdict is empty (window at the epoch, 0 seconds).
 */
export function analyzeWindow(
  slots: readonly Slot[],
  thresholds: Partial<DetectionThresholds> = {},
  opts: AnalyzeOptions = {},
): Verdict {
  const t = resolveThresholds(thresholds);
  const isBlocked = blockedPredicate(opts.blocked);
  const w = mergeSlots(slots);
  const { seconds } = w;
  const inbound = w.totals.inboundPackets;

  const victims = findVictims(w.destinations.values(), seconds, t);
  const lightestHeavyHitter = victims.reduce((min, v) => Math.min(min, HEAVY_HITTER_SHARE * v.packets), Infinity);
  const scan = scanSources(w, t, lightestHeavyHitter);

  // Heavy hitters per victim, computed before the cap. Candidates holding
  // HEAVY_HITTER_SHARE of a victim gain the heavy_hitter rule.
  const flagged = scan.flagged;
  const rateFlagged = [...flagged.values()].map((f) => f.counters);
  const heavyByVictim = victims.map((v) => heavyHittersOf(v, rateFlagged, scan.heavyCandidates));
  for (const v of victims) {
    for (const s of scan.heavyCandidates) {
      if (s.packets < HEAVY_HITTER_SHARE * v.packets) break; // heaviest first
      const f = flagged.get(s.addr);
      if (f === undefined) flagged.set(s.addr, { counters: s, rules: ['heavy_hitter'] });
      else if (!f.rules.includes('heavy_hitter')) f.rules.push('heavy_hitter');
    }
  }

  const attackers = [...flagged.values()]
    .filter((f) => !isBlocked(f.counters.addr))
    .sort((a, b) => b.counters.packets - a.counters.packets)
    .slice(0, t.maxAttackers);
  const reportedAddrs = new Set(attackers.map((f) => f.counters.addr));

  const victimReports = victims.map((victim, i) => {
    const heavy = heavyByVictim[i] ?? [];
    const reported: AddressCounters[] = [];
    const covered: AddressCounters[] = [];
    let blockedCount = 0;
    for (const s of heavy) {
      if (reportedAddrs.has(s.addr)) {
        reported.push(s);
        covered.push(s);
      } else if (isBlocked(s.addr)) {
        blockedCount++;
        covered.push(s);
      }
    }
    return buildVictimReport({ victim, covered, reported, blockedCount, seconds });
  });

  const vectors: AttackVector[] = [...new Set(victimReports.map((v) => v.vector))];
  const drops = opts.drops ?? {};

  return {
    underAttack: victimReports.length > 0 || attackers.length > 0,
    window: {
      start: new Date(w.start).toISOString(),
      end: new Date(w.end).toISOString(),
      seconds,
    },
    thresholds: t,
    totals: {
      packets: w.totals.packets,
      bytes: w.totals.bytes,
      inboundPackets: inbound,
      inboundBytes: w.totals.inboundBytes,
      pps: ratio(w.totals.packets, seconds),
      bps: ratio(w.totals.bytes * 8, seconds),
      distinctSources: w.distinctSources,
      malformed: w.totals.malformed,
      sourceEvictions: w.totals.sourceEvictions,
    },
    victims: victimReports,
    vectors,
    attackers: attackers.map((f) => evidence(f, inbound, seconds)),
    topSource: scan.top
      ? { ip: scan.top.addr, packets: scan.top.packets, share: Math.min(1, ratio(scan.top.packets, inbound)) }
      : null,
    drops: { dropped: drops.dropped ?? 0, ifDropped: drops.ifDropped ?? 0, slotsDropped: drops.slotsDropped ?? 0 },
  };
}
