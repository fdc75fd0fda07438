// What the rest of the agent (its HTTP API, auto-defense) asks of the ban
// domain: the port ManagerBanService implements. Records and batch results
// are the wire contract's own shapes (api/agent/v1), which the API serves as is.
import type { BanRecord, BanRefusalCode, BanSource, BlockResult } from '../../api/agent/v1/types.js';

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
    readonly code: BanRefusalCode,
  ) {
    super(message);
    this.name = 'BanRefusedError';
  }
}

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
