// From a verdict to signature rules: for each vector detection names at a
// victim that per-IP bans cannot stop, the rule that stops it without
// stopping the service. Pure (verdict in, rules out), so the agent's own
// auto-defense and the controller plan the same rule for the same attack,
// and the same rule has the same id on both sides (api/signature-rule.ts).
//
// What each vector gets (docs/mitigation.md says why):
//   udp_amplification   drop udp from the abused source port          auto
//   fragment_flood      drop fragments; a limit at the learned rate   auto
//                       when the victim normally receives fragments
//   syn_flood           synproxy on the listening port (falls back    auto
//                       to a limit where synproxy is not ready); a
//                       limit when the SYNs go to many ports. Never a
//                       blanket drop.
//   synack_reflection,  drop-invalid: drop those that belong to no    auto
//   ack_flood,          connection (conntrack), so the victim's own
//   rst_flood           connections keep working
//   tcp_flag_anomaly    drop (no TCP stack sends these flag mixes)    auto
//   icmp_flood          limit, errors (unreachable, PMTU) exempt      auto
//   udp_flood, tcp_flood, ip_protocol_flood, generic: a limit is
//                       proposed, never applied by itself: such
//                       traffic may be the service's own.
import { type SignatureAction, type SignatureMatch, matchOfSignature, signatureId, signatureProblems } from '../api/signature-rule.js';
import type { AttackVector, BaselineStat, DetectionThresholds, VectorReport, Verdict, VictimReport } from '../detection/types.js';

export { SIGNATURE_MODES, type SignatureMode } from '../api/signature-rule.js';

export interface PlannedRule {
  id: string;
  match: SignatureMatch;
  action: SignatureAction;
  vector: AttackVector;
  /** Service and ports, e.g. "SNMP amplification (udp sport 161)". */
  label: string;
  /** One line: why (detection's evidence) and how the action was chosen. */
  reason: string;
  /** May be applied without a person (policy mode auto); false: only ever proposed. */
  auto: boolean;
  /** Why it is only proposed (auto false). */
  proposeOnly?: string;
}

/** Limits a SYN fallback limit stays within: at least this many SYNs/s always pass. */
export const MIN_SYN_RATE = 100;
export const MIN_ICMP_RATE = 100;
export const MIN_FRAGMENT_RATE = 10;
/** A victim whose learned fragment rate is at least this really receives fragments (a fragment drop would hurt it). */
export const FRAGMENT_USE_PPS = 1;
/** Headroom over the legitimate rate a limit lets through. */
const HEADROOM = 4;

const VECTORS_ALWAYS_PROPOSED: ReadonlySet<AttackVector> = new Set(['udp_flood', 'tcp_flood', 'ip_protocol_flood', 'generic']);

/** The learned normal level of a signal, mean + k deviations (0 without a baseline). */
function normalLevel(stat: BaselineStat | undefined, t: DetectionThresholds): number {
  return stat && stat.seconds > 0 ? stat.mean + t.baselineSigmas * stat.std : 0;
}

function rate(x: number, min: number, max: number): number {
  return Math.max(min, Math.min(Math.max(min, max), Math.ceil(x)));
}

/** The rule for one vector of one victim. */
export function planVector(victim: VictimReport, v: VectorReport, t: DetectionThresholds): PlannedRule {
  const match = matchOfSignature(v.signature);
  const base = { vector: v.vector, label: v.label };
  let action: SignatureAction;
  let how: string;
  let proposeOnly: string | undefined;
  switch (v.vector) {
    case 'udp_amplification':
      action = { type: 'drop' };
      how = 'drop: responses to queries the victim never sent';
      break;
    case 'fragment_flood': {
      const level = normalLevel(v.baseline, t);
      if (v.baseline && v.baseline.mean >= FRAGMENT_USE_PPS) {
        action = { type: 'limit', ratePerSecond: rate(HEADROOM * level, MIN_FRAGMENT_RATE, t.fragmentPps * 10) };
        how = `limit: the victim normally receives ${v.baseline.mean.toFixed(1)} fragments/s`;
      } else {
        action = { type: 'drop' };
        how = v.baseline ? 'drop: the victim normally receives no fragments' : 'drop: no fragments are expected (no baseline yet)';
      }
      break;
    }
    case 'syn_flood': {
      // Legitimate demand: the handshakes that completed in the window (spoofed SYNs never complete), plus the learned level of half-open SYNs.
      const completed = (victim.handshakeCompletion ?? 0) * v.pps;
      const fallback = rate(HEADROOM * completed + normalLevel(v.baseline, t), MIN_SYN_RATE, t.synFloodPps);
      if (match.destinationPort !== undefined) {
        action = { type: 'synproxy', ratePerSecond: fallback };
        how = `synproxy on port ${match.destinationPort} (where not ready: limit ${fallback}/s from ${completed.toFixed(0)} completed handshakes/s${v.baseline ? ' and the baseline' : ''})`;
      } else {
        action = { type: 'limit', ratePerSecond: fallback };
        how = `limit ${fallback}/s: SYNs to many ports, no one service to proxy`;
      }
      break;
    }
    case 'synack_reflection':
    case 'ack_flood':
    case 'rst_flood':
      action = { type: 'drop-invalid' };
      how = 'drop-invalid: only packets of no connection';
      break;
    case 'tcp_flag_anomaly':
      action = { type: 'drop' };
      how = 'drop: no TCP stack sends these flags';
      break;
    case 'icmp_flood':
      action = { type: 'limit', ratePerSecond: rate(HEADROOM * normalLevel(v.baseline, t), MIN_ICMP_RATE, t.icmpFloodPps) };
      how = 'limit: ICMP errors (unreachable, PMTU) always pass';
      break;
    default: {
      const limit = rate(HEADROOM * normalLevel(v.baseline, t), MIN_SYN_RATE, Math.max(MIN_SYN_RATE, v.pps / 2));
      action = { type: 'limit', ratePerSecond: limit };
      how = `limit ${limit}/s`;
      proposeOnly = `${v.vector} may be the service's own traffic: proposed, never applied automatically`;
    }
  }
  if (VECTORS_ALWAYS_PROPOSED.has(v.vector)) proposeOnly ??= `${v.vector}: proposed only`;
  const problems = signatureProblems(match, action);
  if (problems.length > 0) proposeOnly = problems.join('; ');
  return {
    id: signatureId(match),
    match,
    action,
    ...base,
    reason: `${v.evidence}; ${how}`.replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').slice(0, 256),
    auto: proposeOnly === undefined,
    ...(proposeOnly ? { proposeOnly } : {}),
  };
}

/**
 * The rules a verdict calls for: every vector at every victim where per-IP
 * bans cannot stop the flood (signatureRuleNeeded), one rule per match
 * (the heaviest vector's wins a shared match).
 */
export function planRules(verdict: Pick<Verdict, 'victims' | 'thresholds'>): PlannedRule[] {
  const byId = new Map<string, PlannedRule>();
  for (const victim of verdict.victims) {
    if (!victim.signatureRuleNeeded) continue;
    for (const v of victim.vectors) {
      const r = planVector(victim, v, verdict.thresholds);
      if (!byId.has(r.id)) byId.set(r.id, r);
    }
  }
  return [...byId.values()];
}
