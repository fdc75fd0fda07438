// The agent API's wire types, version 1: what a request carries and what an
// answer holds. The agent serves them (agent/api adapts its domain to them),
// the controller and the CLI consume them through client.ts. Nothing here
// imports from agent/ or controller/.
//
// The verdict is detection's own type (detection/types.ts), re-exported, not
// a copy: detection is the pure module that produces it, the agent only
// carries it, and the controller sums verdicts with detection's own code, so
// a second definition could only drift. schemas.ts checks at compile time
// that its zod schema of the verdict still matches that type.
import type { AttackVector, DetectionThresholds, ExplicitTrigger, MitigationSignature, Verdict } from '../../../detection/types.js';
import type { SignatureAction, SignatureMatch } from '../../signature-rule.js';

export type { AttackVector, DetectionThresholds, ExplicitTrigger, MitigationSignature, Verdict };

export interface AnalyzeRequest {
  windowSeconds: number;
  thresholds?: Partial<DetectionThresholds>;
  /**
   * 'continuous' answers at once from the ring of recent slots; 'window' is the
   * seed's behaviour: capture for windowSeconds from now, then analyze.
   * Absent: the agent's configured mode.
   */
  mode?: 'continuous' | 'window';
  /**
   * The caller knows an attack is on (pod memory, its own trigger): the share
   * rule then picks attackers among all sources, not only those matching a
   * detected vector.
   */
  trigger?: ExplicitTrigger;
}

/** A source that is banned already and still sending (capture sits before the firewall). */
export interface BlockedSender {
  ip: string;
  packets: number;
  pps: number;
}

export interface AnalysisResult {
  verdict: Verdict;
  /** Banned sources still seen on the wire in the window, not reported as new attackers. */
  blockedStillSending: BlockedSender[];
  /** Packets/bytes the firewall dropped since the backend started. */
  firewallDrops: { packets: number; bytes: number };
}

export interface TrafficPoint {
  /** Second start, ISO-8601. */
  t: string;
  packets: number;
  bytes: number;
  inboundPackets: number;
  inboundBytes: number;
  topSources: { ip: string; packets: number; bytes: number }[];
  topDestinations: { ip: string; packets: number; bytes: number }[];
}

/** One inbound source of a window (GET /v1/talkers). */
export interface TopTalker {
  ip: string;
  packets: number;
  bytes: number;
  /** Fraction 0-1 of the window's inbound packets. */
  share: number;
  pps: number;
  bps: number;
  protocols: { tcp: number; udp: number; icmp: number; other: number };
  /** An active ban covers it (it is still seen: capture sits before the firewall). */
  blocked: boolean;
}

export interface TopTalkers {
  /** null when the ring holds no slot of the window yet. */
  window: { start: string; end: string; seconds: number } | null;
  inboundPackets: number;
  /** Heaviest first. */
  talkers: TopTalker[];
}

export type BanSource = 'auto' | 'api' | 'controller';

/** Why an agent refused a ban (the never-block rules, its caps, its rate limit, a bad target). */
export type BanRefusalCode = 'never_block' | 'max_active_bans' | 'ban_rate' | 'invalid';

export interface BanRecord {
  cidr: string;
  family: 4 | 6;
  reason: string;
  policy?: string;
  source: BanSource;
  createdAt: string;
  expiresAt: string;
  /** How many times this address has been banned within the escalation window (1 = first). */
  offenceCount: number;
  durationSeconds: number;
  /** The firewall backend holding it: nft, pf, iptables, dry-run. */
  backend?: string;
}

/** GET /v1/blocks: the whole list, and (agents with a change journal) the version to read changes since. */
export interface BanList {
  blocks: BanRecord[];
  version?: string;
}

/**
 * True when two ban versions come from the same change journal (one agent
 * process with its store): versions are "<journal epoch>.<n>", and the epoch
 * changes when the journal starts over. Then a ban missing from a later full
 * list was removed there; otherwise the agent may have lost it.
 */
export function sameBanJournal(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const epoch = (v: string) => v.slice(0, v.indexOf('.'));
  return a.includes('.') && b.includes('.') && epoch(a) === epoch(b);
}

/**
 * GET /v1/blocks?since=<version>: the active bans changed and the CIDRs
 * removed since that version. full: true means `blocks` is the whole list
 * (the version was from before a restart, or too old): forget what you knew.
 */
export interface BanChanges {
  blocks: BanRecord[];
  removed?: string[];
  version?: string;
  full?: boolean;
}

/**
 * One item of a batch answer: what became of it (the normalised CIDR, what
 * was done, until when), not the whole ban record: a batch holds up to
 * 10,000 items and the caller already knows what it asked for.
 */
export type BlockResult =
  | { ok: true; cidr: string; action: 'added' | 'extended' | 'unchanged'; expiresAt: string; offenceCount: number }
  | { ok: false; error: string; code: BanRefusalCode };

/** POST /v1/blocks and each item of POST /v1/blocks/batch: exactly one of ip or cidr. */
export interface BlockBody {
  ip?: string;
  cidr?: string;
  durationSeconds: number;
  reason: string;
  policy?: string;
}

/** One vector of an attack episode, with service and ports. */
export interface AttackVectorRecord {
  vector: AttackVector;
  /** e.g. "BACnet amplification (udp sport 47808)". */
  label: string;
  /** Largest share of its victim's packets seen in the episode, 0..1 (0 for a single source's own flood). */
  peakShare: number;
  /** The structured rule that matches it; absent for a single source's flood. */
  signature?: MitigationSignature;
}

/** One detected attack episode (GET /v1/attacks), newest first. */
export interface AttackRecord {
  id: number;
  startedAt: string;
  lastSeenAt: string;
  endedAt?: string;
  victims: string[];
  vectors: AttackVector[];
  /** Every vector of the episode named with service and ports, heaviest first when first seen. */
  vectorDetails: AttackVectorRecord[];
  /** More than one vector at once at some victim. */
  multiVector: boolean;
  /** Mitigation signatures proposed for the victims, e.g. "udp sport 161 to 10.10.10.10". */
  signatures: string[];
  signatureRuleNeeded: boolean;
  peakInboundPps: number;
  attackers: string[];
  banned: string[];
}

/** POST /trigger-defense: the seed's snake_case answer plus what actually happened. */
export interface TriggerDefenseResponse {
  under_attack: boolean;
  /** The top flagged attacker, as the seed reported it; null when none was flagged. */
  ip: string | null;
  /** Inbound packets in the window of the heaviest attackers and the top source. */
  ip_counts: Record<string, number>;
  banned: BanRecord[];
  refused: { ip: string; reason: string }[];
  verdict: Verdict;
}

// ---------------------------------------------------------------------------
// Signature rules (/v1/signatures): firewall rules that match an attack's
// traffic itself, for floods per-IP bans cannot stop (api/signature-rule.ts).

export type { SignatureAction, SignatureMatch };

/** Who asked for a rule: the agent's own detection, the API (a person, the CLI), the controller (a SignatureRule). */
export type SignatureSource = 'auto' | 'api' | 'controller';

/** Why an agent refused a rule. */
export type SignatureRefusalCode =
  /** It would match the never-block list (allowlist, the host, its gateway and resolvers, cluster CIDRs). */
  | 'never_block'
  /** Its destination is not an address this agent protects. */
  | 'not_protected'
  /** It would hurt the service (a blanket SYN drop, every port, ...) or makes no sense. */
  | 'unsafe'
  /** The agent's or the policy's cap on rules at once. */
  | 'max_rules'
  /** This firewall backend cannot express it. */
  | 'unsupported'
  | 'invalid';

/** POST /v1/signatures. */
export interface SignatureRequest {
  match: SignatureMatch;
  action: SignatureAction;
  durationSeconds: number;
  reason: string;
  /** The DefensePolicy it is for (its limits apply). */
  policy?: string;
  vector?: AttackVector;
  /** e.g. "SNMP amplification (udp sport 161)". */
  label?: string;
}

/** One rule the agent holds (GET /v1/signatures). */
export interface SignatureRecord {
  /** 16 hex digits: the hash of the normalised match; names its counter (sig_<id>). */
  id: string;
  /** Normalised, with its text. */
  match: SignatureMatch;
  /** What was asked for. */
  action: SignatureAction;
  /** What the firewall holds, in words: differs from the action when synproxy fell back to a limit, and says why. */
  applied: string;
  vector?: AttackVector;
  label?: string;
  reason: string;
  policy?: string;
  source: SignatureSource;
  createdAt: string;
  expiresAt: string;
  durationSeconds: number;
  backend: string;
  /** Packets and bytes its counter matched (dropped, limited, or proxied) since it was applied. */
  packets: number;
  bytes: number;
  /** Packets per second its counter rose by, over the last few seconds. */
  packetsPerSecond: number;
}

/** POST /v1/signatures: one rule, added or extended, or why not. */
export type SignatureResult =
  | { ok: true; action: 'added' | 'extended' | 'updated' | 'unchanged'; rule: SignatureRecord }
  | { ok: false; error: string; code: SignatureRefusalCode };

/** What a DefensePolicy lets the agent do with its own verdicts (PUT /v1/signatures/policies/<name>). */
export interface SignaturePolicySettings {
  /** auto: apply planned rules from the agent's own verdicts; propose: log them; disabled: nothing. */
  mode: 'auto' | 'propose' | 'disabled';
  /** Duration of a rule the agent applies on its own. */
  durationSeconds: number;
  /** The policy's rules at once on this agent, at most. */
  maxRules: number;
  /** The longest any rule of the policy lasts. */
  maxDurationSeconds: number;
}

/** GET /v1/signatures. */
export interface SignatureList {
  signatures: SignatureRecord[];
  /**
   * Changes when the agent process starts: a rule missing from a list of the
   * same epoch was removed there; from a new epoch, it may have been lost.
   */
  epoch: string;
  /** The policies' settings the agent holds, by policy name. */
  policies: Record<string, SignaturePolicySettings>;
}
