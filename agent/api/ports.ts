// What the agent's REST API needs from the rest of the agent. The API layer
// depends only on these interfaces; agent/agent.ts wires the real ones.
import type { AggregateExportJson } from '../../detection/aggregate.js';
import type { DetectionThresholds, ExplicitTrigger, Verdict } from '../../detection/types.js';

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

export interface TrafficAnalyzer {
  analyze(req: AnalyzeRequest): Promise<AnalysisResult>;
  /** Per-second series over the last `seconds` seconds, oldest first. */
  traffic(seconds: number): TrafficPoint[];
  /** The heaviest inbound sources over the last `seconds` seconds. */
  talkers(seconds: number, limit: number): TopTalkers;
  /** The last `seconds` seconds as a mergeable aggregate (GET /v1/aggregate): sums across agents. */
  aggregate(seconds: number, maxSources: number): AggregateExportJson;
  /** Longest window the ring can answer (seconds). */
  readonly maxWindowSeconds: number;
  /** True once the capture runs and has delivered at least one slot. */
  ready(): boolean;
}

export type BanSource = 'auto' | 'api' | 'controller';

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

export interface BlockRequest {
  /** IP or CIDR, already validated by the API schema; the ban service re-validates. */
  cidr: string;
  durationSeconds: number;
  reason: string;
  policy?: string;
  source: BanSource;
}

/** A refusal the caller must see as a 4xx with this one-line message (never-block rule, cap, rate). */
export class BanRefusedError extends Error {
  constructor(
    message: string,
    readonly code: 'never_block' | 'max_active_bans' | 'ban_rate' | 'invalid',
  ) {
    super(message);
    this.name = 'BanRefusedError';
  }
}

/**
 * One item of a batch answer: what became of it (the normalised CIDR, what
 * was done, until when), not the whole ban record: a batch holds up to
 * 10,000 items and the caller already knows what it asked for.
 */
export type BlockResult =
  | { ok: true; cidr: string; action: 'added' | 'extended' | 'unchanged'; expiresAt: string; offenceCount: number }
  | { ok: false; error: string; code: BanRefusedError['code'] };

export interface BanService {
  /** Idempotent: an existing ban for the same CIDR is extended (and escalated), not duplicated. */
  block(req: BlockRequest): Promise<BanRecord>;
  /**
   * Many bans in one store write and one firewall transaction; results in
   * request order as soon as they are decided. `applied` settles once they
   * are in the firewall and on disk, and rejects if either failed.
   */
  blockMany(reqs: readonly BlockRequest[]): Promise<{ results: BlockResult[]; applied: Promise<void> }>;
  /** Idempotent: returns false when there was no such ban. */
  unblock(cidr: string): Promise<boolean>;
  /** Removes every ban; returns how many there were. */
  unblockAll(): Promise<number>;
  list(): BanRecord[];
  backendName(): string;
}
