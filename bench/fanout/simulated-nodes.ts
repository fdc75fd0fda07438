// Many simulated nodes in one process, for bench:fanout (docs/fanout.md).
// Each node runs the agent's own code with a dry-run firewall: a BanManager
// (agent/bans, with its store in a directory of its own) behind the agent's
// ban service, and either
//   - watch: the agent's watch (agent/kube/kube-watch.ts) with informers of
//     its own, its own node name and its own FloodgateNode report, written
//     with its own node identity; or
//   - push: the agent's REST API (agent/api) on a loopback port of its own,
//     which the controller pushes to and polls, as today.
// Nothing is captured (no traffic): the analyzer answers that it saw none.
// Every ban that lands in (or leaves) a node's firewall is timed, so the
// bench can tell when a BlockEvent reached every node.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { AnalysisResult, BanRecord, TopTalkers, TrafficPoint } from '../../api/agent/v1/types.js';
import { createAgentApi } from '../../agent/api/app.js';
import { startAgentServer, type AgentServer } from '../../agent/api/server.js';
import { AddressPolicy } from '../../agent/bans/address-policy.js';
import { BanChangeFeed } from '../../agent/bans/ban-changes.js';
import { BanManager } from '../../agent/bans/ban-manager.js';
import { ManagerBanService } from '../../agent/bans/ban-service.js';
import type { BanService, BlockRequest } from '../../agent/bans/ban-service-port.js';
import { BanStore } from '../../agent/bans/ban-store.js';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { KubeWatch } from '../../agent/kube/kube-watch.js';
import { KubeconfigIdentity } from '../../agent/kube/node-identity.js';
import { NodeReporter } from '../../agent/kube/node-report.js';
import type { TrafficAnalyzer } from '../../agent/traffic/traffic-analyzer-port.js';
import { KubeConfig } from '../../kube/kube-config.js';
import { RestClient } from '../../kube/rest-client.js';
import { FLOODGATE_VERSION } from '../../lib/version.js';

/** When each node got (and lost) each CIDR, epoch ms. */
export class BanTimes {
  private readonly applied = new Map<string, Map<string, number>>();
  private readonly removed = new Map<string, Map<string, number>>();

  mark(kind: 'applied' | 'removed', cidr: string, node: string, at: number): void {
    const m = kind === 'applied' ? this.applied : this.removed;
    let byNode = m.get(cidr);
    if (!byNode) m.set(cidr, (byNode = new Map()));
    if (!byNode.has(node)) byNode.set(node, at);
  }

  /** Per node: when it got / lost the CIDR (absent: not yet). */
  of(cidr: string): { applied: Record<string, number>; removed: Record<string, number> } {
    return { applied: Object.fromEntries(this.applied.get(cidr) ?? []), removed: Object.fromEntries(this.removed.get(cidr) ?? []) };
  }

  forget(cidr: string): void {
    this.applied.delete(cidr);
    this.removed.delete(cidr);
  }
}

/** The agent's ban service, timing every ban as it lands in the firewall and leaves it. */
class TimedBans implements BanService {
  constructor(
    private readonly inner: ManagerBanService,
    private readonly node: string,
    private readonly times: BanTimes,
  ) {}

  async block(req: BlockRequest): Promise<BanRecord> {
    const r = await this.inner.block(req);
    this.times.mark('applied', r.cidr, this.node, Date.now());
    return r;
  }

  async blockMany(reqs: readonly BlockRequest[]) {
    const out = await this.inner.blockMany(reqs);
    const applied = out.applied.then(() => {
      const at = Date.now();
      for (const r of out.results) if (r.ok) this.times.mark('applied', r.cidr, this.node, at);
    });
    return { results: out.results, applied };
  }

  async unblock(cidr: string): Promise<boolean> {
    const removed = await this.inner.unblock(cidr);
    this.times.mark('removed', cidr.includes('/') ? cidr : `${cidr}/${cidr.includes(':') ? 128 : 32}`, this.node, Date.now());
    return removed;
  }

  unblockAll(): Promise<number> {
    return this.inner.unblockAll();
  }

  list(): BanRecord[] {
    return this.inner.list();
  }

  backendName(): string {
    return this.inner.backendName();
  }
}

/** No capture here: nothing to analyze (the bench runs no defense, only bans). */
class IdleAnalyzer implements TrafficAnalyzer {
  readonly maxWindowSeconds = 600;
  ready(): boolean {
    return true;
  }
  async analyze(): Promise<AnalysisResult> {
    throw new Error('a simulated node captures nothing');
  }
  traffic(): TrafficPoint[] {
    return [];
  }
  talkers(): TopTalkers {
    return { window: null, inboundPackets: 0, talkers: [] };
  }
  aggregate(): never {
    throw new Error('a simulated node captures nothing');
  }
}

export interface ApiServerAccess {
  server: string;
  /** The API server's CA (base64 PEM), or undefined with insecure. */
  caData?: string;
  insecure?: boolean;
}

function kubeConfigFor(api: ApiServerAccess, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: api.server, caData: api.caData, skipTLSVerify: Boolean(api.insecure) }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

export interface SimulatedNode {
  name: string;
  bans: BanService;
  watch?: KubeWatch;
  reporter?: NodeReporter;
  server?: AgentServer;
  url?: string;
  stop(): Promise<void>;
}

interface Shared {
  policy: AddressPolicy;
  times: BanTimes;
  stateRoot: string;
}

async function banService(name: string, shared: Shared): Promise<{ bans: TimedBans; store: BanStore; manager: BanManager }> {
  const dir = path.join(shared.stateRoot, name);
  fs.mkdirSync(dir, { recursive: true });
  const store = new BanStore({ stateDir: dir });
  const manager = new BanManager({
    backend: new DryRunBackend(),
    store,
    policy: shared.policy,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    limits: { maxActiveBans: 100_000, maxNewBansPerMinute: 1_000_000 },
  });
  await manager.start();
  return { bans: new TimedBans(new ManagerBanService(manager, 'dry-run'), name, shared.times), store, manager };
}

/** One node whose agent watches the API server. */
export async function watchNode(
  o: { name: string; api: ApiServerAccess; readerToken: string; nodeToken: string; labels: Record<string, string>; namespace: string; heartbeatSeconds: number; reportsPerSecond: number },
  shared: Shared,
): Promise<SimulatedNode> {
  const { bans, store, manager } = await banService(o.name, shared);
  const reader = new RestClient(kubeConfigFor(o.api, o.readerToken));
  const writer = new RestClient(kubeConfigFor(o.api, o.nodeToken));
  const logger = pino({ level: process.env.SIM_LOG ?? 'silent' }).child({ node: o.name });
  const back = { reconnected: (): void => undefined };
  const reporter = new NodeReporter({ node: o.name, identity: new KubeconfigIdentity(writer), logger, heartbeatSeconds: o.heartbeatSeconds, reportsPerSecond: o.reportsPerSecond, onReconnected: () => back.reconnected() });
  const feed = new BanChangeFeed(store, 'dry-run');
  const watch = new KubeWatch({
    self: { node: o.name, labels: o.labels, namespace: o.namespace },
    reader,
    bans,
    reporter,
    agent: { version: FLOODGATE_VERSION, backend: 'dry-run', mode: 'kubeconfig' },
    logger,
    registry: new Registry(),
    banVersion: () => feed.version(),
  });
  back.reconnected = () => watch.reconnected();
  watch.start();
  return {
    name: o.name,
    bans,
    watch,
    reporter,
    async stop() {
      await watch.stop();
      manager.stop();
      reader.close();
      writer.close();
    },
  };
}

/** One node whose agent serves the push API (no watch): the controller pushes to it and polls it. */
export async function pushNode(o: { name: string; token: string; host?: string; port?: number }, shared: Shared): Promise<SimulatedNode> {
  const { bans, store, manager } = await banService(o.name, shared);
  const registry = new Registry();
  const logger = pino({ level: 'silent' });
  const app = createAgentApi({
    analyzer: new IdleAnalyzer(),
    bans,
    token: o.token,
    logger,
    registry,
    limits: { maxConcurrentAnalyses: 2 },
    defaultMode: 'continuous',
    banChanges: new BanChangeFeed(store, 'dry-run'),
  });
  const server = await startAgentServer({ app, host: o.host ?? '127.0.0.1', port: o.port ?? 0, token: o.token, logger });
  return {
    name: o.name,
    bans,
    server,
    url: server.url,
    async stop() {
      await server.close();
      manager.stop();
    },
  };
}

export async function sharedState(stateRoot: string, times = new BanTimes()): Promise<Shared> {
  fs.mkdirSync(stateRoot, { recursive: true });
  return { policy: await AddressPolicy.create({}), times, stateRoot };
}
