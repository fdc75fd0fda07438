// The detection contract: thresholds in, one JSON-serialisable verdict out.
// Detection is pure: it reads Slot aggregates (native/lib/types.ts) and
// never touches the network or the firewall.

export interface DetectionThresholds {
  /** Share rule: among sources matching an established attack (or on an explicit trigger), flag those above this share of the window's inbound packets (0, 1]. */
  attackerShareThreshold: number;
  /** Attacker selection (share, heavy hitter) and the per-source rate rules ignore windows with fewer inbound packets than this. */
  minPackets: number;
  /** Per-source rate: any source at or above this many packets/s is an attacker (not an established two-way TCP flow). */
  sourcePpsThreshold: number;
  /** Per-source rate in bits/s. */
  sourceBpsThreshold: number;
  /** Ceiling: a protected destination at or above this many packets/s is under attack, whatever its traffic looks like. */
  victimPpsThreshold: number;
  /** Ceiling in bits/s. */
  victimBpsThreshold: number;
  /** At most this many attackers are reported (heaviest first). */
  maxAttackers: number;
  /** Floor: SYNs per second that never complete a handshake; at or above it (and under half completing) a SYN flood, baseline or not. */
  synFloodPps: number;
  /** Floor: unsolicited SYN-ACKs or UDP responses from an amplification port, per second: reflection. */
  reflectionPps: number;
  /** Floor: IP fragments per second that, at fragmentShare of the victim's packets or more, are a fragment attack. */
  fragmentPps: number;
  /** Share of the victim's packets the fragments must reach (0, 1]. */
  fragmentShare: number;
  /** Floor: packets per second with flag mixes no TCP stack sends (NULL, XMAS, SYN+FIN, FIN without ACK). */
  badFlagsPps: number;
  /** Floor: ICMP packets per second. */
  icmpFloodPps: number;
  /** Floor: inbound RSTs per second, and stray ACKs per second the victim answers with RST. */
  rstFloodPps: number;
  /** Baseline rule: a signal above mean + this many deviations of its learned baseline is anomalous. */
  baselineSigmas: number;
  /** Baseline rule: never below this many packets/s. */
  baselineMinPps: number;
  /** Baseline rule: and at least this multiple of the mean. */
  baselineMinRatio: number;
  /** Seconds of traffic a protected address's baseline must learn before the baseline rule judges it (cold start before). */
  warmupSeconds: number;
  /** Half-life of the baseline's exponentially weighted mean and variance, in seconds of traffic. */
  baselineHalfLifeSeconds: number;
}

export type AttackVector =
  | 'syn_flood'
  | 'synack_reflection'
  | 'ack_flood'
  | 'rst_flood'
  | 'tcp_flag_anomaly'
  | 'tcp_flood'
  | 'udp_amplification'
  | 'udp_flood'
  | 'icmp_flood'
  | 'fragment_flood'
  | 'ip_protocol_flood'
  | 'generic';

/** Why a source was flagged. */
export type AttackerRule = 'share' | 'source_pps' | 'source_bps' | 'heavy_hitter';

/** What made a vector an attack: the fixed ceiling, a fixed floor (valid before any baseline), or the learned baseline. */
export type VectorTrigger = 'ceiling' | 'floor' | 'baseline';

/** What started an analysis from outside: then the share rule picks attackers even when no vector is established. */
export type ExplicitTrigger = 'api' | 'trigger-defense' | 'memory' | 'annotation' | 'schedule';

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
  /** The attack vector this source's traffic matches, when one is established. */
  vector?: AttackVector;
  /** Its service and ports, e.g. "BACnet amplification (udp sport 47808)". */
  vectorLabel?: string;
}

/** A source not banned on rate or share: an established two-way TCP flow (bulk upload, download, replication). */
export interface ExemptSource {
  ip: string;
  packets: number;
  pps: number;
  bps: number;
  reason: string;
}

export type TcpFlagName = 'fin' | 'syn' | 'rst' | 'psh' | 'ack' | 'urg' | 'ece' | 'cwr';

/**
 * A rule that matches the attack's traffic itself, for floods where per-IP
 * bans cannot work. Structured so a firewall rule can be built from it field
 * by field (detection/mitigation-signature.ts validates it); `text` is the
 * human form, e.g. "udp sport 47808 to 10.10.10.10".
 */
export interface MitigationSignature {
  text: string;
  protocol: 'tcp' | 'udp' | 'icmp' | 'any';
  /** The protected address (never a range). */
  destination: string;
  sourcePort?: number;
  destinationPort?: number;
  /** TCP flags: (flags & mask) == value, as nft's "tcp flags & (syn|ack) == syn". */
  tcpFlags?: { mask: TcpFlagName[]; value: TcpFlagName[] };
  /** IP fragments: 'any' every fragment, 'non-first' those without a transport header. */
  fragment?: 'any' | 'non-first';
  /** Other IP protocols by number (protocol 'any'). */
  ipProtocol?: number;
}

/** Learned baseline of one signal at one protected address. */
export interface BaselineStat {
  /** Exponentially weighted mean, per second. */
  mean: number;
  /** Exponentially weighted standard deviation, per second. */
  std: number;
  /** Seconds of traffic learned. */
  seconds: number;
}

/** One attack vector at one victim. */
export interface VectorReport {
  vector: AttackVector;
  /** Service and ports, e.g. "BACnet amplification (udp sport 47808)", "TCP SYN flood (tcp dport 443)". */
  label: string;
  /** The abused or attacked service when known (BACnet, DNS, ...). */
  service?: string;
  packets: number;
  pps: number;
  /** Share of the victim's inbound packets in the window, 0..1. */
  share: number;
  trigger: VectorTrigger;
  /** The signal's learned baseline, when the victim has one. */
  baseline?: BaselineStat;
  signature: MitigationSignature;
  /** One line, e.g. "TCP SYN flood (tcp dport 443): 7,400 pps vs baseline 300 ± 80; 0.3% of handshakes completed". */
  evidence: string;
}

export interface VictimReport {
  ip: string;
  packets: number;
  bytes: number;
  pps: number;
  bps: number;
  /** The heaviest vector (vectors[0]). */
  vector: AttackVector;
  /** Its label, e.g. "SNMP amplification (udp sport 161)"; for several vectors "multi-vector: A 70% + B 25%". */
  vectorDetail: string;
  /** Every vector of the attack, heaviest first, each with its share, evidence and signature. */
  vectors: VectorReport[];
  multiVector: boolean;
  /** Estimated distinct sources towards this victim over the window. */
  distinctSources: number;
  /** Sources not seen at this victim before (its baseline's known sources); all of them before a baseline exists. */
  newSources: number;
  /** Completed handshakes per SYN in the window (null without SYNs). */
  handshakeCompletion: number | null;
  /** 'cold': nothing learned, 'warming': learning, 'warm': the baseline rule applies. */
  baseline: 'cold' | 'warming' | 'warm';
  protocols: ProtocolMix;
  /** The heaviest vector's signature (vectors[0].signature). */
  signature: MitigationSignature;
  /** Sources worth a per-IP ban (heavy hitters towards this victim), possibly empty. */
  heavyHitters: string[];
  /** True when the flood is spoofed or so distributed that per-IP bans cannot stop it. */
  signatureRuleNeeded: boolean;
  /** One-line explanation for operators: what per-IP bans can do. */
  note: string;
  /** Why this is an attack, one clause per vector. */
  explanation: string;
}

export interface Verdict {
  underAttack: boolean;
  /**
   * The analysed window (ISO-8601 start and end as asked, windowSeconds its
   * length) and what the capture really covers of it (coverStart..coverEnd):
   * `seconds`, the divisor of every rate, is that span (at least 10 ms).
   */
  window: { start: string; end: string; seconds: number; windowSeconds: number; coverStart: string; coverEnd: string };
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
  /** Heavy sources left alone as established two-way TCP flows. */
  exempt: ExemptSource[];
  /** The explicit trigger this analysis ran under, if any. */
  trigger?: ExplicitTrigger;
  /** Capture loss during the window (pcap drops plus discarded slots), so a verdict says how complete it is. */
  drops: { dropped: number; ifDropped: number; slotsDropped: number };
}
