// GET /v1/blocks?since=<version>: the active bans changed, and the CIDRs
// removed, since a version an earlier answer gave, so that a poller (the
// controller's ban sync, several times a second) does not download and parse
// the whole list (2.5 MB with 10,000 bans) to find the few that changed.
// Versions look like "<epoch>.<n>"; one from another epoch (the agent
// restarted) or too old to be answered exactly gets the whole list, marked
// full: true.

import type { BanRecord as ApiBanRecord } from '../../api/agent/v1/types.js';
import { type BanRecord, type BanStore, isoTimeParser } from './ban-store.js';
import { toApiRecord } from './ban-service.js';

export interface BanChanges {
  /** Active bans changed since (all active bans when full). */
  blocks: ApiBanRecord[];
  /** CIDRs removed since (empty when full). */
  removed: string[];
  /** Pass this as `since` next time. */
  version: string;
  /** True: `blocks` is the whole list; forget what you knew. */
  full: boolean;
}

export class BanChangeFeed {
  constructor(
    private readonly store: BanStore,
    private readonly backend: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current version (for a full GET /v1/blocks). */
  version(): string {
    return `${this.store.journal.epoch}.${this.store.journal.current}`;
  }

  changesSince(since: string | undefined): BanChanges {
    const journal = this.store.journal;
    const version = this.version();
    const m = since === undefined ? null : /^([0-9a-f]+)\.(\d+)$/.exec(since);
    const delta = m && m[1] === journal.epoch ? journal.since(Number(m[2])) : undefined;
    const now = this.now();
    const epochMs = isoTimeParser();
    const active = (b: BanRecord | undefined): b is BanRecord => b !== undefined && epochMs(b.expiresAt) > now;
    if (!delta) {
      const blocks = this.store.all().filter(active).map((b) => toApiRecord(b, this.backend, epochMs));
      return { blocks, removed: [], version, full: true };
    }
    const blocks: ApiBanRecord[] = [];
    for (const cidr of delta.changed) {
      const b = this.store.get(cidr);
      if (active(b)) blocks.push(toApiRecord(b, this.backend, epochMs));
    }
    return { blocks, removed: delta.removed, version, full: false };
  }
}
