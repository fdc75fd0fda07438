// What the dashboard shows, gathered from the agents (with the tokens only
// the controller holds), the informers' caches and the memory monitor. Every
// agent call goes through a short single-flight cache, so any number of open
// browsers costs each agent at most one request per kind per TTL.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AgentApiClient } from '../../api/agent/v1/client.js';
import type { AttackRecord, TopTalker } from '../../api/agent/v1/types.js';
import type { AgentResolver } from '../agents/agent-resolver.js';
import type { DefensePolicy } from '../../api/v1alpha1/index.js';
import type { MemoryMonitor } from '../memory/memory-monitor.js';

/** Single-flight cache: one computation per key per TTL, failures cached too. */
export class TtlCache {
  private entries = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(private readonly now: () => number = Date.now) {}

  get<T>(key: string, ttlMs: number, compute: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && this.now() - hit.at < ttlMs) return hit.value as Promise<T>;
    const value = compute();
    value.catch(() => undefined); // observed by the caller; keep the cached rejection from being "unhandled"
    this.entries.set(key, { at: this.now(), value });
    if (this.entries.size > 500) for (const [k, e] of this.entries) if (this.now() - e.at > 60_000) this.entries.delete(k);
    return value;
  }
}

export interface DashboardAgent {
  name: string;
  url: string;
  /** Never leaves the controller. */
  token?: string;
  /** namespace/name of the policies that use it. */
  policies: string[];
  /** The analysis window of its first policy. */
  windowSeconds: number;
}

export interface AgentSeries {
  agent: string;
  /** uPlot's column layout: unix seconds, inbound packets/s, inbound bits/s. */
  t: number[];
  pps: number[];
  bps: number[];
  error?: string;
}

export interface AgentTopTalkers {
  agent: string;
  windowSeconds: number;
  inboundPackets: number;
  talkers: TopTalker[];
  error?: string;
}

export interface AttackView extends AttackRecord {
  agent: string;
}

export interface PodMemoryView {
  policy: string;
  pod: string;
  thresholdPercent: number;
  usageBytes?: number;
  limitBytes?: number | null;
  percent?: number | null;
  source?: string;
  error?: string;
}

export interface DashboardDataDeps {
  listPolicies(): DefensePolicy[];
  listPods(namespace: string, selector: DefensePolicy['spec']['targetSelector']): Promise<V1Pod[]>;
  resolver: AgentResolver;
  memory: MemoryMonitor;
  logger: Logger;
  now?: () => number;
}

const TOP_TALKERS = 20;

export class DashboardData {
  private readonly cache: TtlCache;
  private readonly now: () => number;

  constructor(private readonly deps: DashboardDataDeps) {
    this.now = deps.now ?? Date.now;
    this.cache = new TtlCache(this.now);
  }

  /** Every agent named by some policy, once, by URL. */
  agents(): Promise<DashboardAgent[]> {
    return this.cache.get('agents', 5000, async () => {
      const byUrl = new Map<string, DashboardAgent>();
      for (const p of this.deps.listPolicies()) {
        const key = `${p.metadata.namespace}/${p.metadata.name}`;
        const { agents } = await this.deps.resolver.resolve(p).catch((err: Error) => {
          this.deps.logger.warn({ policy: key, err: err.message }, 'dashboard: cannot resolve agents');
          return { agents: [] };
        });
        for (const a of agents) {
          const known = byUrl.get(a.url);
          if (known) known.policies.push(key);
          else byUrl.set(a.url, { ...a, policies: [key], windowSeconds: p.spec.detection.windowSeconds });
        }
      }
      return [...byUrl.values()];
    });
  }

  private client(a: DashboardAgent): AgentApiClient {
    return new AgentApiClient({ url: a.url, token: a.token, timeoutMs: 3000 });
  }

  /** Inbound pps/bps per second over the last `seconds` (at most 600), finished seconds only. */
  async traffic(seconds = 600): Promise<AgentSeries[]> {
    return Promise.all(
      (await this.agents()).map(async (a) => {
        try {
          const points = await this.cache.get(`traffic:${a.url}:${seconds}`, 1000, () => this.client(a).traffic(seconds));
          // The current second is still filling up: leave it out rather than draw a dip.
          const done = points.filter((p) => Date.parse(p.t) + 1000 <= this.now());
          return {
            agent: a.name,
            t: done.map((p) => Date.parse(p.t) / 1000),
            pps: done.map((p) => p.inboundPackets),
            bps: done.map((p) => p.inboundBytes * 8),
          };
        } catch (err) {
          return { agent: a.name, t: [], pps: [], bps: [], error: (err as Error).message };
        }
      }),
    );
  }

  /** The heaviest inbound sources of each agent's current window (its first policy's windowSeconds). */
  async topTalkers(): Promise<AgentTopTalkers[]> {
    return Promise.all(
      (await this.agents()).map(async (a) => {
        try {
          const r = await this.cache.get(`talkers:${a.url}:${a.windowSeconds}`, 2000, () =>
            this.client(a).talkers(Math.max(1, Math.round(a.windowSeconds)), TOP_TALKERS),
          );
          return { agent: a.name, windowSeconds: r.window?.seconds ?? a.windowSeconds, inboundPackets: r.inboundPackets, talkers: r.talkers };
        } catch (err) {
          return { agent: a.name, windowSeconds: a.windowSeconds, inboundPackets: 0, talkers: [], error: (err as Error).message };
        }
      }),
    );
  }

  /** Attack episodes from every agent's history, newest first. */
  async attacks(): Promise<{ attacks: AttackView[]; errors: { agent: string; error: string }[] }> {
    const attacks: AttackView[] = [];
    const errors: { agent: string; error: string }[] = [];
    await Promise.all(
      (await this.agents()).map(async (a) => {
        try {
          const list = await this.cache.get(`attacks:${a.url}`, 3000, () => this.client(a).attacks());
          for (const x of list) attacks.push({ ...x, agent: a.name });
        } catch (err) {
          errors.push({ agent: a.name, error: (err as Error).message });
        }
      }),
    );
    attacks.sort((x, y) => Date.parse(y.startedAt) - Date.parse(x.startedAt));
    return { attacks: attacks.slice(0, 200), errors };
  }

  /** Each policy's selected pods: memory use, limit and the policy's trigger line. */
  memory(): Promise<PodMemoryView[]> {
    return this.cache.get('memory', 2000, async () => {
      const out: PodMemoryView[] = [];
      for (const p of this.deps.listPolicies()) {
        if (!p.spec.targetSelector) continue;
        const policy = `${p.metadata.namespace}/${p.metadata.name}`;
        const thresholdPercent = p.spec.trigger.memoryThresholdPercent;
        let pods: V1Pod[];
        try {
          pods = await this.deps.listPods(p.metadata.namespace ?? 'default', p.spec.targetSelector);
        } catch (err) {
          out.push({ policy, pod: '-', thresholdPercent, error: `cannot list pods: ${(err as Error).message}` });
          continue;
        }
        for (const pod of pods.slice(0, 50)) {
          const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
          const { reading, unavailable } = await this.deps.memory.read(pod);
          if (reading) out.push({ policy, pod: name, thresholdPercent, usageBytes: reading.usageBytes, limitBytes: reading.limitBytes, percent: reading.percent, source: reading.source });
          else out.push({ policy, pod: name, thresholdPercent, error: Object.entries(unavailable).map(([s, why]) => `${s}: ${why}`).join('; ') || 'no memory source configured' });
        }
      }
      return out;
    });
  }
}
