// Fakes and a real-server harness for the agent API tests. The ban service is
// a recording fake: the firewall itself is tested in test/firewall.

import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { createAgentApi, type AgentApiDeps } from '../../agent/api/app.js';
import { BanRefusedError, type BanService, type BlockRequest } from '../../agent/bans/ban-service-port.js';
import { type AnalysisResult, type AnalyzeRequest, type BanRecord, type BlockResult, type TopTalkers, type TrafficPoint } from '../../api/agent/v1/types.js';
import { type TrafficAnalyzer } from '../../agent/traffic/traffic-analyzer-port.js';
import { startAgentServer, type AgentServer } from '../../agent/api/server.js';
import { exportAggregate, type AggregateExportJson } from '../../detection/aggregate.js';
import { DEFAULT_THRESHOLDS } from '../../detection/defaults.js';
import { mergeSlots } from '../../detection/window-merge.js';
import type { AttackerEvidence, Verdict } from '../../detection/types.js';

export const TOKEN = 'test-token-0123456789abcdef';

export function attacker(ip: string, packets: number, share: number): AttackerEvidence {
  return {
    ip,
    rules: ['share'],
    packets,
    bytes: packets * 60,
    share,
    pps: packets / 7,
    bps: (packets * 480) / 7,
    protocols: { tcp: packets, udp: 0, icmp: 0, other: 0 },
  };
}

export function verdict(attackers: AttackerEvidence[] = [], seconds = 7): Verdict {
  const inbound = 10_000;
  return {
    underAttack: attackers.length > 0,
    window: {
      start: '2024-01-01T00:00:00.000Z',
      end: new Date(Date.parse('2024-01-01T00:00:00Z') + seconds * 1000).toISOString(),
      seconds,
      windowSeconds: seconds,
      coverStart: '2024-01-01T00:00:00.000Z',
      coverEnd: new Date(Date.parse('2024-01-01T00:00:00Z') + seconds * 1000).toISOString(),
    },
    thresholds: { ...DEFAULT_THRESHOLDS },
    totals: {
      packets: inbound,
      bytes: inbound * 60,
      inboundPackets: inbound,
      inboundBytes: inbound * 60,
      pps: inbound / seconds,
      bps: (inbound * 480) / seconds,
      distinctSources: 50,
      malformed: 0,
      sourceEvictions: 0,
    },
    victims: [],
    vectors: attackers.length > 0 ? ['syn_flood'] : [],
    attackers,
    topSource: attackers[0]
      ? { ip: attackers[0].ip, packets: attackers[0].packets, share: attackers[0].share }
      : { ip: '192.0.2.200', packets: 100, share: 0.01 },
    exempt: [],
    drops: { dropped: 0, ifDropped: 0, slotsDropped: 0 },
  };
}

/** Analyzer fake: records requests; with `hold()` every analyze waits until `release()`. */
export class FakeAnalyzer implements TrafficAnalyzer {
  maxWindowSeconds = 300;
  isReady = true;
  calls: AnalyzeRequest[] = [];
  result: AnalysisResult = { verdict: verdict(), blockedStillSending: [], firewallDrops: { packets: 0, bytes: 0 } };
  failWith: Error | undefined;
  trafficCalls: number[] = [];
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private started: (() => void)[] = [];

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  /** Resolves once `n` analyze calls have started. */
  waitForCalls(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.calls.length >= n) resolve();
        else this.started.push(check);
      };
      this.started.push(check);
    });
  }

  async analyze(req: AnalyzeRequest): Promise<AnalysisResult> {
    this.calls.push(req);
    const waiting = this.started.splice(0);
    waiting.forEach((f) => f());
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    return this.result;
  }

  traffic(seconds: number): TrafficPoint[] {
    this.trafficCalls.push(seconds);
    return [
      {
        t: '2024-01-01T00:00:00.000Z',
        packets: 10,
        bytes: 600,
        inboundPackets: 8,
        inboundBytes: 480,
        topSources: [{ ip: '192.0.2.1', packets: 8, bytes: 480 }],
        topDestinations: [{ ip: '10.0.0.1', packets: 8, bytes: 480 }],
      },
    ];
  }

  aggregateCalls: [number, number][] = [];
  aggregate(seconds: number, maxSources: number): AggregateExportJson {
    this.aggregateCalls.push([seconds, maxSources]);
    return exportAggregate(mergeSlots([]));
  }

  talkersCalls: [number, number][] = [];
  talkers(seconds: number, limit: number): TopTalkers {
    this.talkersCalls.push([seconds, limit]);
    return { window: null, inboundPackets: 0, talkers: [] };
  }

  ready(): boolean {
    return this.isReady;
  }
}

/** An address as the fake keys it: with its host prefix (/32 or /128). */
function withPrefix(cidr: string): string {
  return cidr.includes('/') ? cidr : `${cidr}/${cidr.includes(':') ? 128 : 32}`;
}

/** Ban service fake: keeps bans in a map and records every call. */
export class RecordingBanService implements BanService {
  calls: { method: 'block' | 'unblock'; arg: unknown }[] = [];
  bans = new Map<string, BanRecord>();
  /** Addresses refused with this code, as the real never-block/cap rules would. */
  refuse = new Map<string, BanRefusedError['code']>();
  /** When set, block() fails with this (a firewall error, not a refusal). */
  failure: Error | undefined;

  async block(req: BlockRequest): Promise<BanRecord> {
    this.calls.push({ method: 'block', arg: req });
    const code = this.refuse.get(req.cidr);
    if (code) throw new BanRefusedError(`${req.cidr} refused: ${code}`, code);
    if (this.failure) throw this.failure;
    const cidr = withPrefix(req.cidr);
    const previous = this.bans.get(cidr);
    const now = Date.now();
    const record: BanRecord = {
      cidr,
      family: cidr.includes(':') ? 6 : 4,
      reason: req.reason,
      ...(req.policy === undefined ? {} : { policy: req.policy }),
      source: req.source,
      createdAt: previous?.createdAt ?? new Date(now).toISOString(),
      expiresAt: new Date(now + req.durationSeconds * 1000).toISOString(),
      offenceCount: (previous?.offenceCount ?? 0) + 1,
      durationSeconds: req.durationSeconds,
    };
    this.bans.set(cidr, record);
    return record;
  }

  /** What the next blockMany's `applied` does once the results are out: settle, or fail. */
  applyBatch: () => Promise<void> = () => Promise.resolve();

  async blockMany(reqs: readonly BlockRequest[]): Promise<{ results: BlockResult[]; applied: Promise<void> }> {
    const results: BlockResult[] = [];
    for (const req of reqs) {
      try {
        const existed = this.bans.has(withPrefix(req.cidr));
        const ban = await this.block(req);
        results.push({ ok: true, cidr: ban.cidr, action: existed ? 'extended' : 'added', expiresAt: ban.expiresAt, offenceCount: ban.offenceCount });
      } catch (err) {
        if (!(err instanceof BanRefusedError)) throw err;
        results.push({ ok: false, error: err.message, code: err.code });
      }
    }
    return { results, applied: this.applyBatch() };
  }

  async unblockAll(): Promise<number> {
    this.calls.push({ method: 'unblock', arg: '*' });
    const n = this.bans.size;
    this.bans.clear();
    return n;
  }

  async unblock(cidr: string): Promise<boolean> {
    this.calls.push({ method: 'unblock', arg: cidr });
    const key = withPrefix(cidr);
    return this.bans.delete(key);
  }

  list(): BanRecord[] {
    return [...this.bans.values()];
  }

  backendName(): string {
    return 'fake';
  }
}

/** A pino logger whose JSON lines land in `lines`. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

export interface TestApi {
  url: string;
  analyzer: FakeAnalyzer;
  bans: RecordingBanService;
  registry: Registry;
  lines: Record<string, unknown>[];
  server: AgentServer;
  /** fetch against the server, with the bearer token unless `auth: false`. */
  request(path: string, init?: RequestInit & { auth?: boolean; json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestApi(overrides: Partial<AgentApiDeps> & { noToken?: boolean } = {}): Promise<TestApi> {
  const analyzer = new FakeAnalyzer();
  const bans = new RecordingBanService();
  const registry = new Registry();
  const { logger, lines } = capturingLogger();
  const token = overrides.noToken ? undefined : (overrides.token ?? TOKEN);
  const app = createAgentApi({
    analyzer,
    bans,
    logger,
    registry,
    limits: { maxConcurrentAnalyses: 2 },
    defaultMode: 'continuous',
    ...overrides,
    ...(token === undefined ? {} : { token }),
  });
  const server = await startAgentServer({ app, host: '127.0.0.1', port: 0, ...(token === undefined ? {} : { token }) });
  return {
    url: server.url,
    analyzer,
    bans,
    registry,
    lines,
    server,
    request(path, init = {}) {
      const { auth = true, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (auth && token !== undefined) headers.set('authorization', `Bearer ${token}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${server.url}${path}`, { ...rest, headers, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
    },
    close: () => server.close(),
  };
}

export async function jsonOf(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}
