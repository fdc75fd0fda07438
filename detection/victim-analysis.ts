// Per-victim analysis: which protected destinations are under attack, by
// which vectors, and why. A vector is an attack when its component of the
// victim's traffic (signals.ts)
//  - is at or above its fixed floor (rates of traffic that looks malicious
//    on its own: unanswered SYNs, unsolicited responses, fragments, invalid
//    flags, ...), judged with or without a baseline: the cold-start rules;
//  - or is anomalous against the victim's learned baseline (baseline.ts),
//    once the baseline is warm: floods below the floors;
//  - or, when the victim's traffic (minus established two-way TCP flows) is
//    at or above the fixed ceiling (victimPpsThreshold/victimBpsThreshold),
//    carries at least CEILING_VECTOR_SHARE of it.
// Rates divide by the span the capture really covers (window-merge.ts).
//
// Attribution caveat: the engine keeps no per-(source, destination) counters,
// so a source's window total stands in for what it sent to the victim. With
// one victim (the common case: an agent protecting one pod address) that is
// exact; with several, a source may be listed against each of them, and an
// established flow's packets are taken off each victim's ceiling count.

import type { AddressCounters, DestinationCounters } from '../native/lib/types.js';
import { baselineStatus, isAnomalous, type BaselineLookup, type BaselineView } from './baseline.js';
import { type BaselineSignal, type Component, victimComponents } from './signals.js';
import type { DetectionThresholds, VectorReport, VectorTrigger, VictimReport } from './types.js';

/** A source holding at least this share of a vector's packets is a heavy hitter of it. */
export const HEAVY_HITTER_SHARE = 0.05;
/** Per-IP bans must cover at least this share of a victim's packets to count as a mitigation. */
export const EXPLAINED_SHARE = 0.5;
/** Above this many distinct sources the flood is called spoofed or highly distributed. */
export const DISTRIBUTED_SOURCES = 1000;
/** A vector needs at least this many of its packets in the window: one or two packets are no rate. */
export const MIN_VECTOR_PACKETS = 20;
/** The ceiling needs at least this many packets at the victim. */
export const MIN_RATE_PACKETS = 100;
/** Over the ceiling, every component with at least this share of the victim's packets is a vector. */
export const CEILING_VECTOR_SHARE = 0.1;
/** Under a baseline anomaly of a shared signal (amplification), a component needs this share of it. */
const SIGNAL_PART_SHARE = 0.1;

export interface FiringVector {
  component: Component;
  trigger: VectorTrigger;
}

export interface VictimAssessment {
  victim: DestinationCounters;
  /** The victim minus established flows: what the ceiling and the shares judge. */
  effective: DestinationCounters;
  vectors: FiringVector[];
  view: BaselineView | undefined;
  status: 'cold' | 'warming' | 'warm';
  newSources: number;
}

const NUMERIC_FIELDS = [
  'packets', 'packetsUpperBound', 'bytes', 'tcp', 'udp', 'icmp', 'other', 'syn', 'synAck', 'ack', 'rst', 'fragments',
  'fin', 'synEcn', 'badFlags', 'handshakes', 'outPackets', 'outBytes', 'outSyn', 'outSynAck', 'outRst', 'tcpNull', 'synFin', 'psh',
] as const satisfies readonly (keyof AddressCounters)[];

/** The victim's counters minus the established flows' (never below 0). */
function withoutFlows(v: DestinationCounters, flows: readonly AddressCounters[]): DestinationCounters {
  if (flows.length === 0) return v;
  const out = { ...v };
  for (const f of flows) for (const k of NUMERIC_FIELDS) out[k] = Math.max(0, out[k] - f[k]);
  return out;
}

/** Assess every destination of the window; only those with a firing vector are returned, heaviest first. */
export function assessVictims(
  destinations: Iterable<DestinationCounters>,
  seconds: number,
  t: DetectionThresholds,
  baselines: BaselineLookup | undefined,
  flows: readonly AddressCounters[],
): VictimAssessment[] {
  if (seconds <= 0) return [];
  const out: VictimAssessment[] = [];
  for (const victim of destinations) {
    if (victim.packets < MIN_VECTOR_PACKETS) continue;
    const effective = withoutFlows(victim, flows);
    const components = victimComponents(effective, t);
    const view = baselines?.view(victim.addr);
    const status = baselineStatus(view, t);
    const firing = new Map<Component, VectorTrigger>();

    // Floors.
    for (const c of components) {
      if (c.floorPps === undefined || c.signalPackets < MIN_VECTOR_PACKETS) continue;
      if (c.signalPackets / seconds >= c.floorPps && (c.floorHolds ?? true)) firing.set(c, 'floor');
    }
    // Baselines: per signal (amplification ports share one).
    if (status === 'warm' && view) {
      const bySignal = new Map<BaselineSignal, Component[]>();
      for (const c of components) if (c.signal) bySignal.set(c.signal, [...(bySignal.get(c.signal) ?? []), c]);
      for (const [signal, parts] of bySignal) {
        const total = parts.reduce((n, c) => n + c.signalPackets, 0);
        const factor = Math.max(...parts.map((c) => c.baselineMinFactor ?? 1));
        if (total < MIN_VECTOR_PACKETS || !isAnomalous(total / seconds, view.stat(signal), t, seconds, factor)) continue;
        for (const c of parts) {
          if (c.signalPackets >= Math.max(MIN_VECTOR_PACKETS, SIGNAL_PART_SHARE * total) && !firing.has(c)) firing.set(c, 'baseline');
        }
      }
    }
    // Ceiling.
    const pps = effective.packets / seconds;
    const bps = (effective.bytes * 8) / seconds;
    if (effective.packets >= MIN_RATE_PACKETS && (pps >= t.victimPpsThreshold || bps >= t.victimBpsThreshold)) {
      const big = components.filter((c) => c.packets >= CEILING_VECTOR_SHARE * effective.packets);
      const chosen = big.length > 0 ? big : [...components].sort((a, b) => b.packets - a.packets).slice(0, 1);
      for (const c of chosen) if (!firing.has(c)) firing.set(c, 'ceiling');
    }
    if (firing.size === 0) continue;

    const vectors = [...firing].map(([component, trigger]) => ({ component, trigger })).sort((a, b) => b.component.packets - a.component.packets);
    const newSources = view ? view.newSources(victim.sourceSketch, victim.distinctSources) : victim.distinctSources;
    out.push({ victim, effective, vectors, view, status, newSources });
  }
  return out.sort((a, b) => b.victim.packets - a.victim.packets);
}

const num = (n: number): string => Math.round(n).toLocaleString('en-US');

function pct(x: number): string {
  const p = x * 100;
  return `${p > 0 && p < 1 ? p.toFixed(1) : Math.round(p)}%`;
}

function evidenceOf(f: FiringVector, a: VictimAssessment, seconds: number, t: DetectionThresholds): { line: string; report: VectorReport } {
  const c = f.component;
  const v = a.victim;
  const signalPps = c.signalPackets / seconds;
  const stat = c.signal && a.view ? a.view.stat(c.signal) : undefined;
  let line = `${c.label}: ${num(signalPps)} pps`;
  if (f.trigger === 'baseline' && stat) {
    line += ` vs baseline ${num(stat.mean)} ± ${num(stat.std)}`;
  } else if (f.trigger === 'floor') {
    line += a.status === 'warm' && stat ? ` (floor ${num(c.floorPps ?? 0)} pps; baseline ${num(stat.mean)} ± ${num(stat.std)})` : ` (floor ${num(c.floorPps ?? 0)} pps; no baseline yet)`;
  } else {
    const victimPps = a.effective.packets / seconds;
    line = `${c.label}: ${num(c.packets / seconds)} pps, ${pct(c.packets / Math.max(1, v.packets))} of the victim's ${num(victimPps)} pps (ceiling ${num(t.victimPpsThreshold)} pps)`;
  }
  if (c.detail) line += `; ${c.detail}`;
  const report: VectorReport = {
    vector: c.vector,
    label: c.label,
    ...(c.service ? { service: c.service } : {}),
    packets: c.packets,
    pps: c.packets / seconds,
    share: Math.min(1, v.packets > 0 ? c.packets / v.packets : 0),
    trigger: f.trigger,
    ...(stat ? { baseline: stat } : {}),
    signature: c.signature,
    evidence: line,
  };
  return { line, report };
}

export interface VictimOutcome {
  assessment: VictimAssessment;
  /** Heavy hitters that per-IP bans cover: newly reported attackers plus already blocked sources. */
  covered: readonly AddressCounters[];
  /** The newly reported subset of `covered`, heaviest first (becomes heavyHitters). */
  reported: readonly AddressCounters[];
  blockedCount: number;
  /** Heavy hitters of a window with too few packets to choose attackers yet (they will be). */
  pendingCount?: number;
  seconds: number;
  t: DetectionThresholds;
}

/**
 * Build the report. signatureRuleNeeded is set when the sources that per-IP
 * bans cover (reported + already blocked) carry less than EXPLAINED_SHARE of
 * the victim's packets: banning cannot stop the rest, whatever its source count.
 */
export function buildVictimReport(o: VictimOutcome): VictimReport {
  const { assessment: a, seconds, t } = o;
  const victim = a.victim;
  const parts = a.vectors.map((f) => evidenceOf(f, a, seconds, t));
  const vectors = parts.map((p) => p.report);
  const primary = vectors[0]!;
  const multiVector = vectors.length > 1;
  let coveredPackets = 0;
  for (const s of o.covered) coveredPackets += s.packets;
  const coveredShare = victim.packets > 0 ? Math.min(1, coveredPackets / victim.packets) : 0;
  const signatureRuleNeeded = coveredShare < EXPLAINED_SHARE;
  const distinct = victim.distinctSources;
  const covered = pct(coveredShare);

  let note: string;
  if (signatureRuleNeeded && distinct > DISTRIBUTED_SOURCES) {
    note = `spoofed or highly distributed flood from ~${num(distinct)} sources: per-IP bans cannot stop it; apply the signature rule${multiVector ? 's' : ''}`;
  } else if (signatureRuleNeeded && o.covered.length === 0) {
    note = `distributed flood from ~${num(distinct)} sources, none heavy enough to ban: apply the signature rule${multiVector ? 's' : ''}`;
  } else if (signatureRuleNeeded) {
    note = `per-IP bans cover only ${covered} of the traffic from ~${num(distinct)} sources: apply the signature rule${multiVector ? 's' : ''}`;
  } else {
    const already = o.blockedCount > 0 ? ` (${o.blockedCount} already blocked)` : o.pendingCount ? ' (too few packets yet to choose them)' : '';
    note = `${o.covered.length} heavy hitter(s)${already} carry ${covered} of the traffic: per-IP bans apply`;
  }
  const sources = `~${num(a.newSources)} new source${a.newSources === 1 ? '' : 's'}${a.status === 'cold' ? ' (no baseline yet)' : ''}`;
  const explanation = `${parts.map((p) => p.line).join('; ')}; ${sources}`;
  const detail = multiVector
    ? `multi-vector: ${vectors.map((x) => `${x.label} ${pct(x.share)}`).join(' + ')}`
    : primary.label;

  return {
    ip: victim.addr,
    packets: victim.packets,
    bytes: victim.bytes,
    pps: victim.packets / seconds,
    bps: (victim.bytes * 8) / seconds,
    vector: primary.vector,
    vectorDetail: detail,
    vectors,
    multiVector,
    distinctSources: distinct,
    newSources: Math.round(a.newSources),
    handshakeCompletion: victim.syn > 0 ? Math.min(1, victim.handshakes / victim.syn) : null,
    baseline: a.status,
    protocols: { tcp: victim.tcp, udp: victim.udp, icmp: victim.icmp, other: victim.other },
    signature: primary.signature,
    heavyHitters: o.reported.map((s) => s.addr),
    signatureRuleNeeded,
    note,
    explanation,
  };
}
