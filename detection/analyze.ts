// Slots (or a merged aggregate) in, one JSON-serialisable Verdict out. Pure: no I/O.
//
// An attack is established by
//   - a victim vector (victim-analysis.ts): a floor, the learned baseline, or
//     the ceiling;
//   - a per-source rate: a source at or above sourcePpsThreshold or
//     sourceBpsThreshold (source_pps, source_bps) that is not an established
//     two-way TCP flow (source-rules.ts);
//   - or an explicit trigger from outside (the API, /trigger-defense, the
//     memory trigger, the policy annotation).
// The share rule chooses attackers; it never declares an attack on its own:
//   heavy_hitter - a source whose traffic matches a vector and holds at least
//                  5% of that vector's packets;
//   share        - a source matching a vector (or, on an explicit trigger,
//                  any source) whose share of the window's inbound packets
//                  exceeds attackerShareThreshold.
// Both need the window to hold minPackets inbound packets. At most
// maxAttackers are reported (heaviest first), so a spoofed random-source
// flood never turns into thousands of bans; sources in opts.blocked are
// already banned and left out of `attackers` but still count as covered when
// deciding whether a victim needs the signature rule.

import type { AddressCounters, Slot } from '../native/lib/types.js';
import { amplificationService } from './amplification-ports.js';
import type { BaselineLookup } from './baseline.js';
import { resolveThresholds } from './defaults.js';
import { scanSources } from './source-rules.js';
import type {
  AttackerEvidence,
  AttackerRule,
  AttackVector,
  DetectionThresholds,
  ExplicitTrigger,
  Verdict,
} from './types.js';
import { assessVictims, buildVictimReport, EXPLAINED_SHARE, HEAVY_HITTER_SHARE, MIN_VECTOR_PACKETS } from './victim-analysis.js';
import { mergeSlots, type WindowAggregate } from './window-merge.js';

export interface AnalyzeOptions {
  /** Capture loss during the window; missing fields are 0. */
  drops?: Partial<Verdict['drops']>;
  /** Sources already banned: excluded from new attackers. */
  blocked?: ReadonlySet<string> | ((ip: string) => boolean);
  /** Learned baselines of the protected addresses (none: cold start, floors and ceilings only). */
  baselines?: BaselineLookup;
  /** An attack is established from outside: the share rule picks attackers among all sources. */
  trigger?: ExplicitTrigger;
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

const dominant = (part: number, s: AddressCounters) => part > 0.5 * s.packets;

/** What one source's own traffic looks like, for a source flagged by its rate alone. */
export function sourceVector(s: AddressCounters): { vector: AttackVector; label: string } {
  if (dominant(s.fragments, s)) return { vector: 'fragment_flood', label: 'IP fragment flood' };
  if (dominant(s.udp, s)) {
    const port = dominant(s.udpSrcPortPackets, s) ? s.udpSrcPort : undefined;
    const service = port !== undefined ? amplificationService(port) : undefined;
    if (service) return { vector: 'udp_amplification', label: `${service} amplification (udp sport ${port})` };
    return { vector: 'udp_flood', label: port !== undefined ? `UDP flood (udp sport ${port})` : 'UDP flood' };
  }
  if (dominant(s.icmp, s)) return { vector: 'icmp_flood', label: 'ICMP flood' };
  if (dominant(s.tcp, s)) {
    if (dominant(s.syn, s)) return { vector: 'syn_flood', label: s.synEcn > 0.5 * s.syn ? 'TCP SYN flood with ECN/CWR flags' : 'TCP SYN flood' };
    if (dominant(s.synAck, s)) return { vector: 'synack_reflection', label: 'TCP SYN-ACK reflection' };
    if (dominant(s.rst, s)) return { vector: 'rst_flood', label: 'TCP RST flood' };
    if (dominant(s.badFlags, s)) return { vector: 'tcp_flag_anomaly', label: 'TCP invalid-flag flood' };
    if (s.psh >= 0.1 * s.packets) return { vector: 'tcp_flood', label: 'TCP request flood over established connections' };
    if (dominant(s.ack, s)) return { vector: 'ack_flood', label: 'TCP ACK flood' };
    return { vector: 'tcp_flood', label: 'TCP flood' };
  }
  return { vector: 'generic', label: 'mixed-protocol flood' };
}

interface Flagged {
  counters: AddressCounters;
  rules: Set<AttackerRule>;
  vector?: AttackVector;
  label?: string;
}

function evidence(f: Flagged, inbound: number, seconds: number): AttackerEvidence {
  const c = f.counters;
  const e: AttackerEvidence = {
    ip: c.addr,
    rules: RULE_ORDER.filter((r) => f.rules.has(r)),
    packets: c.packets,
    bytes: c.bytes,
    share: Math.min(1, ratio(c.packets, inbound)),
    pps: ratio(c.packets, seconds),
    bps: ratio(c.bytes * 8, seconds),
    protocols: { tcp: c.tcp, udp: c.udp, icmp: c.icmp, other: c.other },
  };
  if (f.vector) e.vector = f.vector;
  if (f.label) e.vectorLabel = f.label;
  return e;
}

/**
 * Judge one window aggregate (one agent's slots merged, or several agents'
 * aggregates merged: aggregate.ts). Invalid thresholds throw InvalidThresholdsError.
 */
export function judgeAggregate(w: WindowAggregate, thresholds: Partial<DetectionThresholds> = {}, opts: AnalyzeOptions = {}): Verdict {
  const t = resolveThresholds(thresholds);
  const isBlocked = blockedPredicate(opts.blocked);
  const { seconds } = w;
  const inbound = w.totals.inboundPackets;
  const scan = scanSources(w, t);
  const assessments = assessVictims(w.destinations.values(), seconds, t, opts.baselines, scan.exempt.map((e) => e.counters));

  const flagged = new Map<string, Flagged>();
  const flag = (s: AddressCounters, rule: AttackerRule, vector?: { vector: AttackVector; label: string }) => {
    let f = flagged.get(s.addr);
    if (!f) flagged.set(s.addr, (f = { counters: s, rules: new Set() }));
    f.rules.add(rule);
    if (vector && !f.vector) {
      f.vector = vector.vector;
      f.label = vector.label;
    }
  };

  for (const r of scan.rateFlagged.values()) for (const rule of r.rules) flag(r.counters, rule, sourceVector(r.counters));

  const selectionApplies = inbound >= t.minPackets;
  const shareMin = t.attackerShareThreshold * inbound;
  // Sources matching each victim's vectors (blocked ones included: they count as covered).
  const matchedByVictim = assessments.map(() => new Map<string, AddressCounters>());
  // Below minPackets no source is chosen yet, but the heavy hitters are still
  // found: a flood they carry is one per-IP bans will stop once there are
  // enough packets to choose (the first 100 ms of a single-source flood), so it
  // must not be taken for one that needs a signature rule.
  assessments.forEach((a, i) => {
    for (const { component: c } of a.vectors) {
      const hhMin = Math.max(MIN_VECTOR_PACKETS, HEAVY_HITTER_SHARE * c.packets);
      for (const s of scan.heavy) {
        if (s.packets < hhMin && (!selectionApplies || s.packets <= shareMin)) break; // heaviest first
        if (!c.matches(s)) continue;
        if (selectionApplies) {
          const v = { vector: c.vector, label: c.label };
          if (s.packets >= hhMin) flag(s, 'heavy_hitter', v);
          if (s.packets > shareMin) flag(s, 'share', v);
        }
        matchedByVictim[i]!.set(s.addr, s);
      }
    }
  });
  if (selectionApplies) {
    if (opts.trigger) {
      for (const s of scan.heavy) {
        if (s.packets <= shareMin) break;
        flag(s, 'share', sourceVector(s));
      }
    }
  }

  const attackers = [...flagged.values()]
    .filter((f) => !isBlocked(f.counters.addr))
    .sort((a, b) => b.counters.packets - a.counters.packets)
    .slice(0, t.maxAttackers);
  const reportedAddrs = new Set(attackers.map((f) => f.counters.addr));

  const victims = assessments.map((assessment, i) => {
    const reported: AddressCounters[] = [];
    const covered: AddressCounters[] = [];
    let blockedCount = 0;
    let pendingCount = 0;
    const matched = [...matchedByVictim[i]!.values()];
    // A rate-flagged source also covers the victim when it sent to it (attribution caveat: one victim is exact).
    for (const r of scan.rateFlagged.values()) if (!matchedByVictim[i]!.has(r.counters.addr)) matched.push(r.counters);
    matched.sort((a, b) => b.packets - a.packets);
    for (const s of matched) {
      if (reportedAddrs.has(s.addr)) {
        reported.push(s);
        covered.push(s);
      } else if (isBlocked(s.addr)) {
        blockedCount++;
        covered.push(s);
      } else if (!selectionApplies) {
        pendingCount++;
        covered.push(s);
      }
    }
    // Too few packets to choose yet, and one source carries most of the victim's traffic
    // whatever its vector says (a SYN flood's first slot mixes its SYNs with the RSTs its
    // kernel answers the SYN-ACKs with): a ban will stop it, no rule is needed.
    if (!selectionApplies) {
      const dominant = scan.heavy.find((s) => s.packets >= EXPLAINED_SHARE * assessment.victim.packets);
      if (dominant && !covered.includes(dominant)) {
        pendingCount++;
        covered.push(dominant);
      }
    }
    return buildVictimReport({ assessment, covered, reported, blockedCount, pendingCount, seconds, t });
  });

  const vectors: AttackVector[] = [
    ...new Set([...victims.flatMap((v) => v.vectors.map((x) => x.vector)), ...attackers.flatMap((a) => (a.vector ? [a.vector] : []))]),
  ];
  const drops = opts.drops ?? {};
  const iso = (ms: number) => new Date(ms).toISOString();

  const verdict: Verdict = {
    underAttack: victims.length > 0 || attackers.length > 0,
    window: {
      start: iso(w.start),
      end: iso(w.end),
      seconds,
      windowSeconds: w.windowSeconds,
      coverStart: iso(w.coverStart),
      coverEnd: iso(w.coverEnd),
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
    victims,
    vectors,
    attackers: attackers.map((f) => evidence(f, inbound, seconds)),
    topSource: scan.top
      ? { ip: scan.top.addr, packets: scan.top.packets, share: Math.min(1, ratio(scan.top.packets, inbound)) }
      : null,
    exempt: scan.exempt.slice(0, 20).map((e) => ({
      ip: e.counters.addr,
      packets: e.counters.packets,
      pps: ratio(e.counters.packets, seconds),
      bps: ratio(e.counters.bytes * 8, seconds),
      reason: e.reason,
    })),
    drops: { dropped: drops.dropped ?? 0, ifDropped: drops.ifDropped ?? 0, slotsDropped: drops.slotsDropped ?? 0 },
  };
  if (opts.trigger) verdict.trigger = opts.trigger;
  return verdict;
}

/**
 * Analyse one window of slots. Invalid thresholds throw InvalidThresholdsError.
 * With no slots the verdict is empty (window at the epoch, 0 seconds).
 */
export function analyzeWindow(slots: readonly Slot[], thresholds: Partial<DetectionThresholds> = {}, opts: AnalyzeOptions = {}): Verdict {
  return judgeAggregate(mergeSlots(slots), thresholds, opts);
}
