// The detection contract: thresholds in, one JSON-serialisable verdict out.
// Detection is pure: it reads Slot aggregates (native/lib/types.ts) and
// never touches the network or the firewall.

export interface DetectionThresholds {
  /** Seed rule: flag the top inbound source when its share of the window's inbound packets exceeds this (0, 1]. */
  attackerShareThreshold: number;
  /** The seed rule and the per-source rule ignore windows with fewer inbound packets than this. */
  minPackets: number;
  /** Per-source rate: any source at or above this many packets/s is an attacker. */
  sourcePpsThreshold: number;
  /** Per-source rate in bits/s. */
  sourceBpsThreshold: number;
  /** Per-victim rate: a protected destination at or above this many packets/s is under attack. */
  victimPpsThreshold: number;
  /** Per-victim rate in bits/s. */
  victimBpsThreshold: number;
  /** At most this many attackers are reported (heaviest first). */
  maxAttackers: number;
}

export type AttackVector =
  | 'syn_flood'
  | 'synack_reflection'
  | 'ack_flood'
  | 'rst_flood'
  | 'udp_amplification'
  | 'udp_flood'
  | 'icmp_flood'
  | 'fragment_flood'
  | 'generic';

/** Why a source was flagged. */
export type AttackerRule = 'share' | 'source_pps' | 'source_bps' | 'heavy_hitter';

export interface ProtocolMix {
  tcp: number;
  udp: number;
  icmp: number;
  other: number;
}

export interface AttackerEvidence {
  ip: string;
  rules: AttackerRule[];
  packets: number;
  bytes: number;
  /** Share of the window's inbound packets, 0..1. */
  share: number;
  pps: number;
  bps: number;
  protocols: ProtocolMix;
}

/** A rule that matches the attack's traffic itself, for floods where per-IP bans cannot work. */
export interface MitigationSignature {
  /** Human form, e.g. "udp sport 161 to 10.10.10.10". */
  text: string;
  protocol: 'tcp' | 'udp' | 'icmp' | 'any';
  destination: string;
  sourcePort?: number;
  destinationPort?: number;
  /** e.g. "syn" for SYN floods. */
  tcpFlags?: string;
}

export interface VictimReport {
  ip: string;
  packets: number;
  bytes: number;
  pps: number;
  bps: number;
  vector: AttackVector;
  /** e.g. "SNMP (udp/161)" for amplification. */
  vectorDetail: string;
  /** Estimated distinct sources towards this victim over the window. */
  distinctSources: number;
  protocols: ProtocolMix;
  signature: MitigationSignature;
  /** Sources worth a per-IP ban (heavy hitters towards this victim), possibly empty. */
  heavyHitters: string[];
  /** True when the flood is spoofed or so distributed that per-IP bans cannot stop it. */
  signatureRuleNeeded: boolean;
  /** One-line explanation for operators. */
  note: string;
}

export interface Verdict {
  underAttack: boolean;
  /** ISO-8601 start and end of the analysed window, and its length in seconds. */
  window: { start: string; end: string; seconds: number };
  thresholds: DetectionThresholds;
  totals: {
    packets: number;
    bytes: number;
    inboundPackets: number;
    inboundBytes: number;
    pps: number;
    bps: number;
    distinctSources: number;
    malformed: number;
    sourceEvictions: number;
  };
  victims: VictimReport[];
  vectors: AttackVector[];
  attackers: AttackerEvidence[];
  /** The seed rule's view: the top inbound source and its share, whether or not it was flagged. */
  topSource: { ip: string; packets: number; share: number } | null;
  /** Capture loss during the window (pcap drops plus discarded slots), so a verdict says how complete it is. */
  drops: { dropped: number; ifDropped: number; slotsDropped: number };
}
