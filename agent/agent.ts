// The host agent: captures continuously, keeps 10 minutes of slots, judges
// them (auto-defense and on request), bans through one ban manager, and
// serves the REST API. startAgent() wires the parts; each part owns one job.
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { loadBinding, type CaptureInterface, type NativeBinding } from '../native/lib/binding.js';
import { defaultInterface } from '../native/lib/default-interface.js';
import { interfaceAddresses } from '../native/lib/interface-addresses.js';
import { createAgentApi } from './api/app.js';
import { agentTlsFiles, startAgentServer, type AgentServer } from './api/server.js';
import type { BanService } from './bans/ban-service-port.js';
import { AddressPolicy } from './bans/address-policy.js';
import { BanManager } from './bans/ban-manager.js';
import { ManagerBanService } from './bans/ban-service.js';
import { BanStore } from './bans/ban-store.js';
import { BanChangeFeed } from './bans/ban-changes.js';
import type { InterfaceTable } from './bans/protected-addresses.js';
import type { AgentConfig } from './config/agent-config.js';
import { AttackHistory } from './defense/attack-history.js';
import { AutoDefense } from './defense/auto-defense.js';
import { selectBackend } from './firewall/select-backend.js';
import { registerFirewallDropMetrics } from './firewall/drop-metrics.js';
import type { FirewallBackend } from './firewall/types.js';
import { BaselineLearner } from './traffic/baseline-learner.js';
import { LiveTraffic } from './traffic/live-traffic.js';
import { DEFAULT_RING, SlotRing } from './traffic/slot-ring.js';
import { RingTrafficAnalyzer } from './traffic/traffic-analyzer.js';
import { startKubeWatch, type RunningKubeWatch } from './kube/start-kube.js';
import { SignatureManager, hostAddresses } from './signatures/signature-manager.js';
import { SignatureStore } from './signatures/signature-store.js';
import { SynproxySettings, procSysctls } from './signatures/synproxy-settings.js';
import type { SignatureService } from './signatures/signature-service-port.js';

export interface AgentOptions {
  token?: string;
  logger?: Logger;
  binding?: NativeBinding;
}

export interface RunningAgent {
  config: AgentConfig;
  interface: string;
  protect: string[];
  backend: FirewallBackend;
  bans: BanService;
  /** Signature rules: applySignatures() is the one entry point (API, auto-defense, a watch). */
  signatures: SignatureService;
  server: AgentServer;
  autoDefense: AutoDefense;
  history: AttackHistory;
  live: LiveTraffic;
  /** The watch on the API server (config `kube:`), when configured. */
  kube?: RunningKubeWatch;
  /** Stop serving and capturing. Bans stay in the firewall and the store: a restart re-applies them. */
  stop(): Promise<void>;
}


/**
 * The host's addresses for the never-block rule. os.networkInterfaces() skips
 * interfaces without carrier, so libpcap's list (which does not) is merged in.
 */
function hostInterfaceTable(pcapInterfaces: () => CaptureInterface[]): () => InterfaceTable {
  return () => {
    const table: InterfaceTable = { ...os.networkInterfaces() };
    for (const i of pcapInterfaces()) {
      const known = new Set((table[i.name] ?? []).map((x) => x.address));
      const extra = i.addresses
        .filter((a) => !known.has(a))
        .map((address) => ({
          address,
          netmask: '',
          family: address.includes(':') ? ('IPv6' as const) : ('IPv4' as const),
          mac: '00:00:00:00:00:00',
          internal: i.loopback,
          cidr: null,
          scopeid: 0,
        }));
      table[i.name] = [...(table[i.name] ?? []), ...(extra as os.NetworkInterfaceInfo[])];
    }
    return table;
  };
}

export async function startAgent(cfg: AgentConfig, opts: AgentOptions = {}): Promise<RunningAgent> {
  const logger = opts.logger ?? pino({ level: cfg.logLevel, base: { component: 'agent' } });
  const binding = opts.binding ?? loadBinding();
  // Bad TLS files stop the agent before it captures or bans anything (TlsFileError, one line).
  if (cfg.tls) agentTlsFiles(cfg.tls);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'floodgate_agent_' });

  const iface = cfg.interface ?? (await defaultInterface(() => binding.interfaces()));
  const protect = [...interfaceAddresses(iface, binding.interfaces()), ...cfg.protect];
  if (protect.length === 0) logger.warn({ interface: iface }, 'capture interface has no addresses and no protect list: every destination counts as inbound');

  const { backend, reasons } = await selectBackend({ name: cfg.backend, maxBanSeconds: cfg.bans.maxBanDurationSeconds });
  logger.info({ backend: backend.name, reasons }, 'firewall backend selected');
  registerFirewallDropMetrics(registry, backend);
  const policy = await AddressPolicy.create(
    { allowlist: cfg.allowlist, ipv6BanPrefix: cfg.bans.ipv6Prefix },
    { interfaces: hostInterfaceTable(() => binding.interfaces()) },
  );
  const banStore = new BanStore({ stateDir: path.resolve(cfg.stateDir), logger });
  const manager = new BanManager({
    backend,
    store: banStore,
    policy,
    logger,
    registry,
    limits: { maxActiveBans: cfg.bans.maxActiveBans, maxNewBansPerMinute: cfg.bans.maxNewBansPerMinute },
    escalation: { factor: cfg.bans.escalationFactor, maxDurationSeconds: cfg.bans.maxBanDurationSeconds },
  });
  const startReport = await manager.start();
  logger.info({ restored: manager.list().length, repaired: startReport }, 'ban manager started');
  const bans = new ManagerBanService(manager, backend.name);

  const signatures = new SignatureManager({
    firewall: backend.signatures,
    backendName: backend.name,
    store: new SignatureStore(path.resolve(cfg.stateDir), logger),
    host: hostAddresses(policy, protect),
    synproxy: new SynproxySettings(cfg.signatures.synproxy, procSysctls(), logger, iface),
    limits: { maxActiveRules: cfg.signatures.maxActiveRules, maxDurationSeconds: cfg.signatures.maxDurationSeconds },
    logger,
    registry,
  });
  try {
    await signatures.start();
  } catch (err) {
    await manager.stop();
    throw err;
  }
  const ownMode = cfg.signatures.mode ?? (cfg.autoDefense.enabled ? 'auto' : 'propose');
  // The agent's own mode, or the first policy that told it auto (PUT /v1/signatures/policies/<name>).
  const signatureMode = () => {
    if (ownMode === 'auto') return { mode: 'auto' as const, durationSeconds: cfg.signatures.durationSeconds };
    const [policyName, settings] = Object.entries(signatures.policies()).sort(([a], [b]) => a.localeCompare(b)).find(([, p]) => p.mode === 'auto') ?? [];
    if (policyName && settings) return { mode: 'auto' as const, policy: policyName, durationSeconds: settings.durationSeconds };
    return { mode: ownMode, durationSeconds: cfg.signatures.durationSeconds };
  };

  const ring = new SlotRing({ ...DEFAULT_RING });
  const live = new LiveTraffic({
    capture: {
      interface: iface,
      slotMs: cfg.capture.slotMs,
      promiscuous: cfg.capture.promiscuous,
      snaplen: cfg.capture.snaplen,
      bufferSize: cfg.capture.bufferSize,
      filter: cfg.capture.filter,
      maxSources: cfg.capture.maxSources,
      maxDestinations: cfg.capture.maxDestinations,
      keepSources: DEFAULT_RING.fineSources,
      // JS pulls every slot at once; a short queue keeps the pooled tables few.
      queueDepth: 4,
      protect,
    },
    ring,
    logger,
    registry,
    binding,
  });
  const history = new AttackHistory();
  const learner = new BaselineLearner(cfg.autoDefense.thresholds);
  const autoDefense = new AutoDefense({ ring, bans, history, logger, registry, baselines: learner.baselines, signatures, signatureMode }, cfg.autoDefense);
  live.on('slot', (slot) => {
    learner.push(slot);
    autoDefense.onSlot();
  });

  const banChanges = new BanChangeFeed(banStore, backend.name);
  let server: AgentServer | undefined;
  let kube: RunningKubeWatch | undefined;
  try {
    live.start();
    const analyzer = new RingTrafficAnalyzer({
      ring,
      activeBans: () => bans.list().map((b) => b.cidr),
      drops: (from, until) => live.dropsBetween(from, until),
      firewallDrops: () => backend.counters(),
      defaultMode: cfg.mode,
      slotMs: cfg.capture.slotMs,
      waitForSlotEnd: (ms) => live.waitForSlotEnd(ms),
      baselines: learner.baselines,
    });
    const app = createAgentApi({
      analyzer,
      bans,
      token: opts.token,
      logger,
      registry,
      limits: { maxConcurrentAnalyses: cfg.api.maxConcurrentAnalyses },
      defaultMode: cfg.mode,
      attacks: history,
      banChanges,
      ...(cfg.tls?.clientCaFile ? { clientCert: { names: cfg.tls.clientNames } } : {}),
      signatures,
    });
    server = await startAgentServer({
      app,
      host: cfg.listen.host,
      port: cfg.listen.port,
      token: opts.token,
      tls: cfg.tls,
      logger,
      limits: {
        maxConnections: cfg.api.maxConnections,
        headersTimeoutMs: cfg.api.headersTimeoutSeconds * 1000,
        requestTimeoutMs: cfg.api.requestTimeoutSeconds * 1000,
        keepAliveTimeoutMs: cfg.api.keepAliveTimeoutSeconds * 1000,
      },
    });
    // Started last, and never waited for: without the API server the agent runs all the same.
    if (cfg.kube) kube = startKubeWatch(cfg.kube, { bans, signatures, backend: backend.name, logger, registry, banVersion: () => banChanges.version(), agentCaFile: cfg.tls?.clientCaFile });
  } catch (err) {
    await server?.close().catch(() => undefined);
    await live.stop().catch(() => undefined);
    await signatures.stop();
    await manager.stop();
    throw err;
  }
  logger.info(
    { interface: iface, protect, url: server.url, backend: backend.name, autoDefense: cfg.autoDefense.enabled, mode: cfg.mode, watch: Boolean(kube) },
    'floodgate agent running',
  );

  const running = server;
  return {
    config: cfg,
    interface: iface,
    protect,
    backend,
    bans,
    signatures,
    server: running,
    autoDefense,
    history,
    live,
    kube,
    async stop() {
      await kube?.stop();
      await running.close();
      await live.stop();
      await signatures.stop();
      await manager.stop();
      logger.info('floodgate agent stopped; bans and signature rules stay in place until they expire (a restart re-applies them)');
    },
  };
}
