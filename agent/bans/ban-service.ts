// Adapter from BanManager to the ban domain's BanService port (ban-service-port.ts):
// refusals become BanRefusedError with the API's codes, records gain durationSeconds.

import { type BanRecord as ApiBanRecord, type BlockResult } from '../../api/agent/v1/types.js';
import { BanRefusedError, type BanService, type BlockRequest as ApiBlockRequest } from './ban-service-port.js';
import type { BanManager, RefusalReason } from './ban-manager.js';
import { type BanRecord, isoTimeParser } from './ban-store.js';

function apiCode(code: RefusalReason): BanRefusedError['code'] {
  switch (code) {
    case 'invalid':
    case 'invalid_request':
      return 'invalid';
    case 'max_active_bans':
      return 'max_active_bans';
    case 'rate_limited':
      return 'ban_rate';
    default:
      return 'never_block';
  }
}

/** A stored ban as the API shows it: with its duration and the backend that enforces it. */
export function toApiRecord(ban: BanRecord, backend: string, epochMs: (iso: string) => number = Date.parse): ApiBanRecord {
  // Spelled out rather than {...ban}: a list holds 10,000 of these, and a spread costs several times a literal.
  return {
    cidr: ban.cidr,
    family: ban.family,
    reason: ban.reason,
    policy: ban.policy,
    source: ban.source,
    createdAt: ban.createdAt,
    expiresAt: ban.expiresAt,
    offenceCount: ban.offenceCount,
    durationSeconds: Math.round((epochMs(ban.expiresAt) - epochMs(ban.createdAt)) / 1000),
    backend,
  };
}

export class ManagerBanService implements BanService {
  constructor(
    private readonly manager: BanManager,
    private readonly backend: string,
  ) {}

  async block(request: ApiBlockRequest): Promise<ApiBanRecord> {
    const outcome = await this.manager.block({
      cidr: request.cidr,
      durationSeconds: request.durationSeconds,
      reason: request.reason,
      policy: request.policy ?? 'manual',
      source: request.source,
    });
    if (!outcome.ok) throw new BanRefusedError(outcome.reason, apiCode(outcome.code));
    return toApiRecord(outcome.ban, this.backend);
  }

  async blockMany(requests: readonly ApiBlockRequest[]): Promise<{ results: BlockResult[]; applied: Promise<void> }> {
    const { outcomes, applied } = await this.manager.blockManyStaged(
      requests.map((r) => ({ cidr: r.cidr, durationSeconds: r.durationSeconds, reason: r.reason, policy: r.policy ?? 'manual', source: r.source })),
    );
    // Built while the firewall applies them.
    const results = outcomes.map(
      (o): BlockResult =>
        o.ok
          ? { ok: true, cidr: o.ban.cidr, action: o.action, expiresAt: o.ban.expiresAt, offenceCount: o.ban.offenceCount }
          : { ok: false, error: o.reason, code: apiCode(o.code) },
    );
    return { results, applied };
  }

  async unblock(cidr: string): Promise<boolean> {
    const outcome = await this.manager.unblock(cidr);
    if (!outcome.ok) throw new BanRefusedError(outcome.reason, 'invalid');
    return outcome.removed;
  }

  unblockAll(): Promise<number> {
    return this.manager.unblockAll();
  }

  list(): ApiBanRecord[] {
    const epochMs = isoTimeParser(); // 10,000 bans share a handful of timestamps
    return this.manager.list().map((b) => toApiRecord(b, this.backend, epochMs));
  }

  backendName(): string {
    return this.backend;
  }
}
