// The floodgate operator: informers on DefensePolicy, BlockEvent and SignatureRule, one work
// queue per kind (serialised per object key), the reconcilers, the memory /
// schedule / continuous triggers, and a Lease so that of several replicas
// exactly one acts. Every replica serves /healthz, /readyz and /metrics.
import http from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { V1Pod } from '@kubernetes/client-node';
import { BLOCK_EVENT, DEFENSE_POLICY, FLOODGATE_NODE, GROUP, SIGNATURE_RULE, VERSION, resolveObject, type BlockEvent, type DefensePolicy, type FloodgateNode, type SignatureRule } from '../api/v1alpha1/index.js';
import { createInformer, objectKey, withoutManagedFields, type Informer, type ListOptions } from '../kube/informer.js';
import { WorkQueue } from '../kube/work-queue.js';
import { LeaderElector } from '../kube/leader-election.js';
import { EventRecorder } from '../kube/event-recorder.js';
import { loadKubeConfigDetailed, type KubeConfig } from '../kube/kube-config.js';
import { RestClient } from '../kube/rest-client.js';
import { CoreClient, CustomObjectsClient, LeaseClient } from '../kube/kube-apis.js';
import { ResourceClient } from '../kube/resource-client.js';
import { Admission } from './resources/admission.js';
import { AgentResolver, POLICY_NAMESPACE, type AgentTlsSource } from './agents/agent-resolver.js';
import { loadTlsFiles, ReloadingTlsFiles } from '../lib/tls-files.js';
import { AgentHealth } from './agents/agent-health.js';
import { selectorString } from './agents/label-selector.js';
import { BlockEventReconciler } from './reconcile/block-event-reconciler.js';
import { PolicyReconciler } from './reconcile/policy-reconciler.js';
import { DefenseRunner } from './reconcile/defense-runner.js';
import { TriggerScheduler } from './reconcile/trigger-scheduler.js';
import { AgentBanSync } from './reconcile/agent-ban-sync.js';
import { BanRecorder } from './reconcile/ban-recorder.js';
import { NodeLeaseLister } from './nodes/node-leases.js';
import { NodeReports, type EnforcedKind, type NodeEntry } from './nodes/node-reports.js';
import { NodeBans } from './nodes/node-bans.js';
import { NodeIdentityBroker, startNodeIdentityServer, type NodeIdentityServerTls } from './nodes/node-identity.js';
import { AgentSignatureSync } from './reconcile/agent-signature-sync.js';
import { SignatureRuleReconciler } from './reconcile/signature-rule-reconciler.js';
import { SignatureRulesFromVerdict } from './reconcile/signature-rules-from-verdict.js';
import { MemoryMonitor, type MemorySourceFn, type MemorySourceName } from './memory/memory-monitor.js';
import { metricsApiReading } from './memory/metrics-api-source.js';
import { kubeletReading, type KubeletSummary } from './memory/kubelet-summary-source.js';
import { cgroupReading, findPodCgroup } from './memory/cgroup-memory.js';
import { MemorySourceUnavailable } from './memory/memory-reading.js';
import { startDashboard, type DashboardOptions, type RunningDashboard } from './dashboard/dashboard-server.js';

export interface ControllerOptions {
  kubeconfig?: string;
  /** Namespace of the leader-election Lease. */
  leaseNamespace: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Expired/Released/Failed BlockEvents are deleted after this long. */
  retentionMs: number;
  /** A BlockEvent deletion gives up on failing agents after this long. Default 2 minutes. */
  unblockGiveUpMs?: number;
  /**
   * Explicit agent URLs a DefensePolicy or BlockEvent may name (agents/agent-url-allowlist.ts
   * patterns, e.g. http://host.docker.internal:12345). Default none: only agentSelector agents.
   */
  agentUrlAllowlist?: string[];
  /**
   * Namespaces whose Secrets labelled floodgate.dev/agent-token=true may hold agent tokens;
   * "@policy" is the policy's own. Default: the policy's own and leaseNamespace (the release's).
   */
  agentSecretNamespaces?: string[];
  /**
   * TLS to agents (docs/tls.md): the CA agents' certificates must chain to, the
   * controller's client certificate for agents that require mutual TLS, and the
   * name selector agents' certificates carry. With caFile, agentSelector agents
   * are called at https://<podIP>:12345. Files are re-read when they change.
   */
  agentTls?: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string; reloadMs?: number };
  memorySources: MemorySourceName[];
  /** Root of the cgroup filesystem for the cgroup memory source. */
  cgroupRoot?: string;
  /** How often agents' ban lists are mirrored into BlockEvents. Default 300 ms. */
  banSyncIntervalMs?: number;
  /** Port for /healthz, /readyz and /metrics; 0 picks one; undefined: none. */
  probePort?: number;
  probeHost?: string;
  identity?: string;
  /**
   * agentSelector agents watch the API server (the chart's agent.sync: watch):
   * their policies' bans are counted from FloodgateNode reports, and their pods
   * are neither pushed to nor polled. Agents that report are recognised anyway;
   * this only saves listing their pods for every ban.
   */
  selectorAgentsWatch?: boolean;
  /** A node report that moved brings its BlockEvents back after this long (reports coalesce). Default 0.5 s. */
  nodeCountDelayMs?: number;
  /** Serve the node identity broker (controller/nodes/node-identity.ts) for in-cluster agents. */
  nodeIdentity?: {
    port: number;
    host?: string;
    /** Where node ServiceAccounts live; default leaseNamespace (the release's). */
    namespace?: string;
    /** "namespace/name" of the agent DaemonSet's ServiceAccount(s). */
    agentServiceAccounts: string[];
    tokenSeconds?: number;
    /** Serve the broker over HTTPS with this certificate (of the agent CA, for the controller's Service name). */
    tls?: NodeIdentityServerTls;
  };
  /** The web dashboard (controller/dashboard); undefined: none. */
  dashboard?: DashboardOptions;
  logger?: Logger;
  registry?: Registry;
}

export interface RunningController {
  kubeConfig: KubeConfig;
  policies: Informer<DefensePolicy>;
  blockEvents: Informer<BlockEvent>;
  floodgateNodes: Informer<FloodgateNode>;
  nodeReports: NodeReports;
  signatureRules: Informer<SignatureRule>;
  elector: LeaderElector;
  nodeIdentityUrl?: string;
  isLeader(): boolean;
  probeUrl?: string;
  dashboardUrl?: string;
  stop(): Promise<void>;
}

function memorySources(opts: ControllerOptions, rest: RestClient): [MemorySourceName, MemorySourceFn][] {
  const custom = new CustomObjectsClient(rest);
  const all: Record<MemorySourceName, MemorySourceFn> = {
    'metrics-api': (pod) => metricsApiReading(custom, pod),
    kubelet: (pod) => kubeletReading((node) => rest.request<KubeletSummary>({ path: `/api/v1/nodes/${encodeURIComponent(node)}/proxy/stats/summary` }), pod),
    cgroup: async (pod) => {
      const dir = await findPodCgroup(pod.metadata?.uid ?? '', pod.status?.qosClass ?? 'BestEffort', opts.cgroupRoot);
      if (!dir) throw new MemorySourceUnavailable(`no cgroup found for pod ${pod.metadata?.namespace}/${pod.metadata?.name} under ${opts.cgroupRoot ?? '/sys/fs/cgroup'}`);
      return cgroupReading(`${pod.metadata?.namespace}/${pod.metadata?.name}`, dir);
    },
  };
  return opts.memorySources.map((name) => [name, all[name]]);
}

/** The agent CA and client certificate files, checked now (TlsFileError) and re-read when they change. */
function agentTlsSource(opts: ControllerOptions, logger: Logger): AgentTlsSource | undefined {
  const t = opts.agentTls;
  if (!t || (!t.caFile && !t.certFile && !t.keyFile)) {
    if (t?.serverName) throw new Error('agent TLS: a server name needs the agent CA (--agent-ca-file)');
    return undefined;
  }
  if (!t.caFile) throw new Error('agent TLS: a client certificate needs the agent CA too (--agent-ca-file)');
  const files = new ReloadingTlsFiles(
    { caFile: t.caFile, certFile: t.certFile, keyFile: t.keyFile },
    { checkEveryMs: t.reloadMs ?? 10_000, onError: (err) => logger.error({ err: err.message }, 'agent TLS: new files refused, still using the previous ones') },
  );
  const leaf = files.current().leaf;
  logger.info({ ca: t.caFile, clientCertificate: leaf?.subject.replace(/\n/g, ', '), validTo: leaf ? new Date(leaf.validTo).toISOString() : undefined, selectorServerName: t.serverName }, 'agent TLS on: selector agents are called over https');
  return {
    material: () => {
      const m = files.current();
      return { ca: m.ca, ...(m.cert && m.key ? { cert: m.cert, key: m.key } : {}) };
    },
    ...(t.serverName ? { selectorServerName: t.serverName } : {}),
  };
}

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const logger = opts.logger ?? pino({ base: { component: 'controller' } });
  const registry = opts.registry ?? new Registry();
  if (!opts.registry) collectDefaultMetrics({ register: registry, prefix: 'floodgate_controller_' });
  const agentTls = agentTlsSource(opts, logger);
  // The broker's certificate and key, checked before anything starts (TlsFileError, one line).
  if (opts.nodeIdentity?.tls) loadTlsFiles({ certFile: opts.nodeIdentity.tls.certFile, keyFile: opts.nodeIdentity.tls.keyFile });
  const loaded = loadKubeConfigDetailed({ kubeconfig: opts.kubeconfig });
  for (const warning of loaded.warnings) logger.warn({ kubeconfig: loaded.from }, warning);
  const kc = loaded.kc;
  // Which credentials it runs with: in a pod, "in-cluster" (its ServiceAccount's token and CA).
  logger.info({ kubeconfig: loaded.source, from: loaded.from, server: kc.getCurrentCluster()?.server }, 'API server');
  // One REST client (one keep-alive connection pool) for every API call and watch.
  const rest = new RestClient(kc);
  const core = new CoreClient(rest);
  const policiesApi = new ResourceClient<DefensePolicy>(rest, DEFENSE_POLICY);
  const blockEventsApi = new ResourceClient<BlockEvent>(rest, BLOCK_EVENT);
  const signatureRulesApi = new ResourceClient<SignatureRule>(rest, SIGNATURE_RULE);
  const events = new EventRecorder({ core, component: 'floodgate-controller', logger, registry });
  const resolver = new AgentResolver(core, {
    urlAllowlist: opts.agentUrlAllowlist ?? [],
    secretNamespaces: opts.agentSecretNamespaces ?? [POLICY_NAMESPACE, opts.leaseNamespace],
    ...(agentTls ? { tls: agentTls } : {}),
  });
  let policyQueue: WorkQueue | undefined;
  let beQueue: WorkQueue | undefined;
  let srQueue: WorkQueue | undefined;
  const enqueuePolicy = (key: string) => policyQueue?.add(key);
  // Agents that broke the wire contract degrade only their own policy, through its AgentsReachable condition.
  const health = new AgentHealth(enqueuePolicy);

  const listOf = <T,>(client: ResourceClient<T>) => (o: ListOptions) => client.list(undefined, { limit: o.limit, continue: o._continue }) as never;
  // Objects enter the controller here: each is resolved once (defaults filled in) as it is cached.
  const policyAdmission = new Admission(DEFENSE_POLICY, logger);
  const blockEventAdmission = new Admission(BLOCK_EVENT, logger);
  const signatureRuleAdmission = new Admission(SIGNATURE_RULE, logger);
  const policies = createInformer<DefensePolicy>(
    { name: DEFENSE_POLICY.plural, list: listOf(policiesApi), watchPath: `/apis/${GROUP}/${VERSION}/${DEFENSE_POLICY.plural}`, rest, logger, registry, transform: (o) => policyAdmission.admit(withoutManagedFields(o)) },
    false,
  );
  const blockEvents = createInformer<BlockEvent>(
    { name: BLOCK_EVENT.plural, list: listOf(blockEventsApi), watchPath: `/apis/${GROUP}/${VERSION}/${BLOCK_EVENT.plural}`, rest, logger, registry, transform: (o) => blockEventAdmission.admit(withoutManagedFields(o)) },
    false,
  );
  const signatureRules = createInformer<SignatureRule>(
    {
      name: SIGNATURE_RULE.plural,
      list: listOf(signatureRulesApi),
      watchPath: `/apis/${GROUP}/${VERSION}/${SIGNATURE_RULE.plural}`,
      rest,
      logger,
      registry,
      transform: (o) => signatureRuleAdmission.admit(withoutManagedFields(o)),
    },
    false,
  );
  // The reports of the agents that watch the API server (cluster-scoped, one per node).
  const nodesApi = new ResourceClient<FloodgateNode>(rest, FLOODGATE_NODE);
  const floodgateNodes = createInformer<FloodgateNode>(
    { name: FLOODGATE_NODE.plural, list: listOf(nodesApi), watchPath: nodesApi.watchPath(), rest, logger, registry, transform: (o) => resolveObject(FLOODGATE_NODE, withoutManagedFields(o)).object },
    false,
  );
  const nodeReports = new NodeReports();

  const listPods = async (namespace: string, selector: DefensePolicy['spec']['targetSelector']): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace, labelSelector: selectorString(selector) })).items;
  const memory = new MemoryMonitor(memorySources(opts, rest));
  const runner = new DefenseRunner({
    policies: policiesApi,
    blockEvents: blockEventsApi,
    listBlockEvents: () => blockEvents.list(),
    listPods,
    memory,
    resolver,
    events,
    logger,
    health,
    signatures: new SignatureRulesFromVerdict({ signatureRules: signatureRulesApi, listSignatureRules: () => signatureRules.list(), events, logger }),
  });
  const triggers = new TriggerScheduler({ runner, logger, getPolicy: (key) => policies.getByKey(key) });
  const policyReconciler = new PolicyReconciler({
    policies: policiesApi,
    getPolicy: (key) => policies.getByKey(key),
    specProblem: (key) => policyAdmission.problem(key),
    listBlockEvents: () => blockEvents.list(),
    listSignatureRules: () => signatureRules.list(),
    resolver,
    events,
    triggers,
    logger,
    health,
    nodes: nodeReports,
    selectorAgentsWatch: opts.selectorAgentsWatch,
  });
  // What both enforcement reconcilers (BlockEvent, SignatureRule) share.
  const enforcementDeps = {
    getPolicy: (ns: string, name: string) => policies.get(name, ns),
    resolver,
    events,
    logger,
    retentionMs: opts.retentionMs,
    unblockGiveUpMs: opts.unblockGiveUpMs,
    health,
    nodes: nodeReports,
    selectorAgentsWatch: opts.selectorAgentsWatch,
  };
  const beReconciler = new BlockEventReconciler({
    ...enforcementDeps,
    blockEvents: blockEventsApi,
    getBlockEvent: (key) => blockEvents.getByKey(key),
  });

  // One recorder of agents' own bans for the HTTP ban sync and the node reports: they share its tombstones.
  const banRecorder = new BanRecorder({
    blockEvents: blockEventsApi,
    getBlockEvent: (ns, name) => blockEvents.get(name, ns),
    listBlockEvents: () => blockEvents.list(),
    logger,
    onLost: (be) => {
      beReconciler.forgetPush(objectKey(be));
      beQueue?.add(objectKey(be));
    },
  });
  const banSync = new AgentBanSync({
    recorder: banRecorder,
    blockEvents: blockEventsApi,
    getBlockEvent: (ns, name) => blockEvents.get(name, ns),
    listBlockEvents: () => blockEvents.list(),
    listPolicies: () => policies.list(),
    resolver,
    logger,
    intervalMs: opts.banSyncIntervalMs,
    health,
    // An agent lost a ban it held (a restart without its store): push it again.
    onLost: (be) => {
      beReconciler.forgetPush(objectKey(be));
      beQueue?.add(objectKey(be));
    },
    nodes: nodeReports,
    selectorAgentsWatch: opts.selectorAgentsWatch,
  });
  // Own bans and releases the watching agents report (they are not polled).
  const nodeBans = new NodeBans({
    recorder: banRecorder,
    getPolicy: (ns, name) => policies.get(name, ns),
    getBlockEvent: (ns, name) => blockEvents.get(name, ns),
    blockEvents: blockEventsApi,
    logger,
  });
  let nodeQueue: WorkQueue | undefined;

  // A report that moved changes the count of the BlockEvents it enforces: bring back those whose
  // holding on this node may have changed, after a short delay so that a wave of reports coalesces.
  // The delay grows with the nodes counted (5 ms each, at most 5 s): every status write reaches
  // every node's watch, and the nodes spread their reports over nodes / reportsPerSecond anyway.
  const countDelayMs = opts.nodeCountDelayMs ?? 500;
  const delayed = new Map<string, NodeJS.Timeout>();
  const recount = (kind: EnforcedKind, key: string) => {
    const id = `${kind}|${key}`;
    if (delayed.has(id)) return;
    const desired = (kind === 'BlockEvent' ? blockEvents.getByKey(key) : signatureRules.getByKey(key))?.status?.nodes?.desired ?? 0;
    delayed.set(id, setTimeout(() => {
      delayed.delete(id);
      (kind === 'BlockEvent' ? beQueue : srQueue)?.add(key);
    }, Math.max(countDelayMs, Math.min(5000, desired * 5))));
  };
  type Enforced = BlockEvent | SignatureRule;
  const enforced: [EnforcedKind, () => Enforced[]][] = [['BlockEvent', () => blockEvents.list()], ['SignatureRule', () => signatureRules.list()]];
  const nodeMoved = (before: NodeEntry | undefined, after: NodeEntry | undefined) => {
    const name = (after ?? before)?.name ?? '';
    const policySet = new Set([...(before?.policies ?? []), ...(after?.policies ?? [])]);
    const silentChanged = !before || !after || nodeReports.silent(before) !== nodeReports.silent(after);
    // A policy's AgentsReachable counts its nodes.
    for (const p of policySet) if (silentChanged || before?.policies.has(p) !== after?.policies.has(p)) enqueuePolicy(p);
    for (const [kind, list] of enforced) {
      const from = before?.revisions[kind] ?? 0;
      const to = after?.revisions[kind] ?? 0;
      for (const o of list()) {
        const ns = o.metadata.namespace ?? 'default';
        const policy = `${ns}/${o.spec.policyRef?.name}`;
        const mine = o.spec.agent === `node/${name}` || (o.spec.policyRef !== undefined && policySet.has(policy));
        if (!mine) continue;
        const rev = o.status?.nodes?.revision ?? Number(o.metadata.resourceVersion);
        const failure = `${kind}/${ns}/${o.metadata.name}`;
        const membership = (before?.policies.has(policy) ?? false) !== (after?.policies.has(policy) ?? false);
        if (silentChanged || membership || (rev > from && rev <= to) || before?.failures.get(failure) !== after?.failures.get(failure)) recount(kind, objectKey(o));
      }
    }
  };
  const silenceTimer = setInterval(() => {
    for (const e of nodeReports.takeSilenceChanges()) nodeMoved(undefined, e);
    for (const name of nodeBans.unsettled) nodeQueue?.add(name);
  }, 5000);
  silenceTimer.unref();
  // Heartbeats and applied revisions of the nodes that renew a Lease (node-leases.ts).
  const incomplete = (o: Enforced) => {
    const n = o.status?.nodes;
    return n !== undefined && n.applied + n.failed + n.notReporting < n.desired;
  };
  const leaseLister = new NodeLeaseLister({
    rest,
    namespace: opts.nodeIdentity?.namespace ?? opts.leaseNamespace,
    reports: nodeReports,
    onMoved: nodeMoved,
    waiting: () => blockEvents.list().some(incomplete) || signatureRules.list().some(incomplete),
    logger: logger.child({ component: 'node-leases' }),
    registry,
  });
  // What NodeBans settles: a report that moved only its revisions and heartbeat (most of them,
  // one per node per ban change) has nothing for it, and is not queued. Both sides are the API
  // server's JSON (same key order), so a plain deep comparison is enough; most lists are empty.
  const sameList = (a: readonly unknown[] | undefined, b: readonly unknown[] | undefined) =>
    (a?.length ?? 0) === (b?.length ?? 0) && (!a?.length || isDeepStrictEqual(a, b));
  const ownBansMoved = (before: NodeEntry | undefined, after: NodeEntry) =>
    !before ||
    before.policies.size !== after.policies.size ||
    [...after.policies].some((p) => !before.policies.has(p)) ||
    before.status.ownBansTotal !== after.status.ownBansTotal ||
    !sameList(before.status.ownBans, after.status.ownBans) ||
    !sameList(before.status.released, after.status.released);
  const onReport = (n: FloodgateNode) => {
    const { before, after } = nodeReports.upsert(n);
    nodeMoved(before, after);
    if (ownBansMoved(before, after)) nodeQueue?.add(after.name);
  };
  floodgateNodes.onAdd(onReport);
  floodgateNodes.onUpdate((_o, n) => onReport(n));
  floodgateNodes.onDelete((n) => {
    const before = nodeReports.remove(n.metadata.name ?? '');
    nodeBans.forget(n.metadata.name ?? '');
    if (before) nodeMoved(before, undefined);
  });

  const signatureSync = new AgentSignatureSync({
    signatureRules: signatureRulesApi,
    getSignatureRule: (ns, name) => signatureRules.get(name, ns),
    listSignatureRules: () => signatureRules.list(),
    listPolicies: () => policies.list(),
    resolver,
    logger,
    health,
    onLost: (sr) => {
      srReconciler.forgetPush(objectKey(sr));
      srQueue?.add(objectKey(sr));
    },
    onCounters: (sr) => srQueue?.add(objectKey(sr)),
  });
  const srReconciler = new SignatureRuleReconciler({
    ...enforcementDeps,
    signatureRules: signatureRulesApi,
    getSignatureRule: (key) => signatureRules.getByKey(key),
    counters: (key) => signatureSync.counters(key),
  });
  const enqueueSr = (sr: SignatureRule) => {
    srQueue?.add(objectKey(sr));
    if (sr.spec?.policyRef?.name) enqueuePolicy(`${sr.metadata.namespace}/${sr.spec.policyRef.name}`);
  };

  const enqueueBe = (be: BlockEvent) => {
    beQueue?.add(objectKey(be));
    // A policy's activeBlocks follows its BlockEvents.
    if (be.spec?.policyRef?.name) enqueuePolicy(`${be.metadata.namespace}/${be.spec.policyRef.name}`);
  };
  policies.onAdd((p) => enqueuePolicy(objectKey(p)));
  policies.onUpdate((_o, p) => enqueuePolicy(objectKey(p)));
  policies.onDelete((p) => {
    policyAdmission.forget(objectKey(p));
    enqueuePolicy(objectKey(p));
  });
  blockEvents.onAdd(enqueueBe);
  blockEvents.onUpdate((_o, b) => {
    enqueueBe(b);
    if (incomplete(b)) leaseLister.nudge();
  });
  blockEvents.onDelete((be) => {
    blockEventAdmission.forget(objectKey(be));
    banSync.noteDeleted(be);
    enqueueBe(be);
  });
  signatureRules.onAdd(enqueueSr);
  signatureRules.onUpdate((_o, r) => {
    enqueueSr(r);
    if (incomplete(r)) leaseLister.nudge();
  });
  signatureRules.onDelete((sr) => {
    signatureRuleAdmission.forget(objectKey(sr));
    signatureSync.noteDeleted(sr);
    enqueueSr(sr);
  });
  // Every replica serves the dashboard; its writes go to the API server, which the leader acts on.
  // Started before anything else runs, so a bad token file or a taken port fails fast.
  let dashboard: RunningDashboard | undefined;
  if (opts.dashboard) {
    dashboard = await startDashboard(opts.dashboard, {
      listPolicies: () => policies.list(),
      listBlockEvents: () => blockEvents.list(),
      listSignatureRules: () => signatureRules.list(),
      listPods,
      resolver,
      memory,
      logger,
      patchPolicy: (ref, body) => policiesApi.patch(ref, body),
      deleteBlockEvent: (ref) => blockEventsApi.delete(ref),
      deleteSignatureRule: (ref) => signatureRulesApi.delete(ref),
    });
  }

  policies.start();
  blockEvents.start();
  signatureRules.start();
  floodgateNodes.start();
  // Leases are matched to nodes by the reports that name them: list them once the reports are in.
  void floodgateNodes.waitForSync().then(() => leaseLister.start(), () => undefined);

  let nodeIdentity: { url: string; close(): Promise<void> } | undefined;
  if (opts.nodeIdentity) {
    const broker = new NodeIdentityBroker({
      rest,
      namespace: opts.nodeIdentity.namespace ?? opts.leaseNamespace,
      agentServiceAccounts: opts.nodeIdentity.agentServiceAccounts,
      tokenSeconds: opts.nodeIdentity.tokenSeconds,
      logger: logger.child({ component: 'node-identity' }),
    });
    nodeIdentity = await startNodeIdentityServer(broker, {
      port: opts.nodeIdentity.port,
      host: opts.nodeIdentity.host,
      tls: opts.nodeIdentity.tls,
      logger: logger.child({ component: 'node-identity' }),
    });
    logger.info({ url: nodeIdentity.url, agents: opts.nodeIdentity.agentServiceAccounts }, 'node identity broker listening');
  }

  const elector = new LeaderElector({
    coordination: new LeaseClient(rest),
    namespace: opts.leaseNamespace,
    name: opts.leaseName ?? 'floodgate-controller',
    identity: opts.identity,
    leaseDurationMs: opts.leaseDurationMs,
    renewDeadlineMs: opts.renewDeadlineMs,
    retryPeriodMs: opts.retryPeriodMs,
    logger,
    registry,
    onStartedLeading: async (signal) => {
      logger.info('became leader: reconciling');
      await Promise.all([policies.waitForSync(), blockEvents.waitForSync(), signatureRules.waitForSync(), floodgateNodes.waitForSync()]);
      policyQueue = new WorkQueue({ name: 'defensepolicies', handler: (k) => policyReconciler.reconcile(k), concurrency: 2, logger, registry });
      beQueue = new WorkQueue({ name: 'blockevents', handler: (k) => beReconciler.reconcile(k), concurrency: 16, logger, registry });
      srQueue = new WorkQueue({ name: 'signaturerules', handler: (k) => srReconciler.reconcile(k), concurrency: 4, logger, registry });
      nodeQueue = new WorkQueue({
        name: 'floodgatenodes',
        concurrency: 4,
        logger,
        registry,
        handler: async (name) => {
          const entry = nodeReports.get(name);
          if (entry) await nodeBans.sync(entry);
        },
      });
      for (const e of nodeReports.all()) nodeQueue.add(e.name);
      // Level-triggered: after (re)gaining leadership every object is reconciled (and its ban pushed) once.
      beReconciler.forgetPushes();
      srReconciler.forgetPushes();
      for (const k of policies.keys()) policyQueue.add(k);
      for (const k of blockEvents.keys()) beQueue.add(k);
      for (const k of signatureRules.keys()) srQueue.add(k);
      banSync.start();
      signatureSync.start();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      banSync.stop();
      signatureSync.stop();
      triggers.stop();
      const pq = policyQueue;
      const bq = beQueue;
      const sq = srQueue;
      const nq = nodeQueue;
      policyQueue = undefined;
      beQueue = undefined;
      srQueue = undefined;
      nodeQueue = undefined;
      await Promise.all([pq.shutDown({ drain: false }), bq.shutDown({ drain: false }), sq.shutDown({ drain: false }), nq.shutDown({ drain: false })]);
    },
    onStoppedLeading: () => logger.warn('stopped leading: standing by'),
    onNewLeader: (id) => logger.info({ leader: id }, 'leader observed'),
  });
  elector.start();

  let server: http.Server | undefined;
  let probeUrl: string | undefined;
  if (opts.probePort !== undefined) {
    server = http.createServer(async (req, res) => {
      if (req.url === '/healthz') return void res.end('ok');
      if (req.url === '/readyz') {
        const ready = policies.hasSynced() && blockEvents.hasSynced() && signatureRules.hasSynced() && floodgateNodes.hasSynced();
        res.statusCode = ready ? 200 : 503;
        return void res.end(ready ? 'ready' : 'informers not synced');
      }
      if (req.url === '/metrics') {
        res.setHeader('content-type', registry.contentType);
        return void res.end(await registry.metrics());
      }
      if (req.url === '/leader') return void res.end(JSON.stringify({ leader: elector.getLeader(), self: elector.isLeader() }));
      res.statusCode = 404;
      res.end('not found');
    });
    await new Promise<void>((resolve) => server!.listen(opts.probePort, opts.probeHost ?? '0.0.0.0', resolve));
    const addr = server.address() as { port: number };
    probeUrl = `http://127.0.0.1:${addr.port}`;
  }

  return {
    kubeConfig: kc,
    policies,
    blockEvents,
    signatureRules,
    floodgateNodes,
    nodeReports,
    elector,
    nodeIdentityUrl: nodeIdentity?.url,
    isLeader: () => elector.isLeader(),
    probeUrl,
    dashboardUrl: dashboard?.url,
    async stop() {
      await dashboard?.close();
      await nodeIdentity?.close();
      await elector.stop();
      triggers.stop();
      clearInterval(silenceTimer);
      leaseLister.stop();
      for (const t of delayed.values()) clearTimeout(t);
      await Promise.all([policies.stop(), blockEvents.stop(), signatureRules.stop(), floodgateNodes.stop()]);
      await events.flush();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      rest.close();
    },
  };
}
