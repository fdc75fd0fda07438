// The floodgate operator: informers on DefensePolicy and BlockEvent, one work
// queue per kind (serialised per object key), the reconcilers, the memory /
// schedule / continuous triggers, and a Lease so that of several replicas
// exactly one acts. Every replica serves /healthz, /readyz and /metrics.
import http from 'node:http';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { V1Pod } from '@kubernetes/client-node';
import { BLOCK_EVENT, DEFENSE_POLICY, GROUP, VERSION, type BlockEvent, type DefensePolicy } from '../api/v1alpha1/index.js';
import { createInformer, objectKey, withoutManagedFields, type Informer, type ListOptions } from '../kube/informer.js';
import { WorkQueue } from '../kube/work-queue.js';
import { LeaderElector } from '../kube/leader-election.js';
import { EventRecorder } from '../kube/event-recorder.js';
import { loadKubeConfig, type KubeConfig } from '../kube/kube-config.js';
import { RestClient } from '../kube/rest-client.js';
import { CoreClient, CustomObjectsClient, LeaseClient } from '../kube/kube-apis.js';
import { ResourceClient } from '../kube/resource-client.js';
import { Admission } from './resources/admission.js';
import { AgentResolver, POLICY_NAMESPACE } from './agents/agent-resolver.js';
import { AgentHealth } from './agents/agent-health.js';
import { selectorString } from './agents/label-selector.js';
import { BlockEventReconciler } from './reconcile/block-event-reconciler.js';
import { PolicyReconciler } from './reconcile/policy-reconciler.js';
import { DefenseRunner } from './reconcile/defense-runner.js';
import { TriggerScheduler } from './reconcile/trigger-scheduler.js';
import { AgentBanSync } from './reconcile/agent-ban-sync.js';
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
  memorySources: MemorySourceName[];
  /** Root of the cgroup filesystem for the cgroup memory source. */
  cgroupRoot?: string;
  /** How often agents' ban lists are mirrored into BlockEvents. Default 300 ms. */
  banSyncIntervalMs?: number;
  /** Port for /healthz, /readyz and /metrics; 0 picks one; undefined: none. */
  probePort?: number;
  probeHost?: string;
  identity?: string;
  /** The web dashboard (controller/dashboard); undefined: none. */
  dashboard?: DashboardOptions;
  logger?: Logger;
  registry?: Registry;
}

export interface RunningController {
  kubeConfig: KubeConfig;
  policies: Informer<DefensePolicy>;
  blockEvents: Informer<BlockEvent>;
  elector: LeaderElector;
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

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const logger = opts.logger ?? pino({ base: { component: 'controller' } });
  const registry = opts.registry ?? new Registry();
  if (!opts.registry) collectDefaultMetrics({ register: registry, prefix: 'floodgate_controller_' });
  const kc = loadKubeConfig({ kubeconfig: opts.kubeconfig });
  // One REST client (one keep-alive connection pool) for every API call and watch.
  const rest = new RestClient(kc);
  const core = new CoreClient(rest);
  const policiesApi = new ResourceClient<DefensePolicy>(rest, DEFENSE_POLICY);
  const blockEventsApi = new ResourceClient<BlockEvent>(rest, BLOCK_EVENT);
  const events = new EventRecorder({ core, component: 'floodgate-controller', logger, registry });
  const resolver = new AgentResolver(core, {
    urlAllowlist: opts.agentUrlAllowlist ?? [],
    secretNamespaces: opts.agentSecretNamespaces ?? [POLICY_NAMESPACE, opts.leaseNamespace],
  });
  let policyQueue: WorkQueue | undefined;
  let beQueue: WorkQueue | undefined;
  const enqueuePolicy = (key: string) => policyQueue?.add(key);
  // Agents that broke the wire contract degrade only their own policy, through its AgentsReachable condition.
  const health = new AgentHealth(enqueuePolicy);

  const listOf = <T,>(client: ResourceClient<T>) => (o: ListOptions) => client.list(undefined, { limit: o.limit, continue: o._continue }) as never;
  // Objects enter the controller here: each is resolved once (defaults filled in) as it is cached.
  const policyAdmission = new Admission(DEFENSE_POLICY, logger);
  const blockEventAdmission = new Admission(BLOCK_EVENT, logger);
  const policies = createInformer<DefensePolicy>(
    { name: DEFENSE_POLICY.plural, list: listOf(policiesApi), watchPath: `/apis/${GROUP}/${VERSION}/${DEFENSE_POLICY.plural}`, rest, logger, registry, transform: (o) => policyAdmission.admit(withoutManagedFields(o)) },
    false,
  );
  const blockEvents = createInformer<BlockEvent>(
    { name: BLOCK_EVENT.plural, list: listOf(blockEventsApi), watchPath: `/apis/${GROUP}/${VERSION}/${BLOCK_EVENT.plural}`, rest, logger, registry, transform: (o) => blockEventAdmission.admit(withoutManagedFields(o)) },
    false,
  );

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
  });
  const triggers = new TriggerScheduler({ runner, logger, getPolicy: (key) => policies.getByKey(key) });
  const policyReconciler = new PolicyReconciler({
    policies: policiesApi,
    getPolicy: (key) => policies.getByKey(key),
    specProblem: (key) => policyAdmission.problem(key),
    listBlockEvents: () => blockEvents.list(),
    resolver,
    events,
    triggers,
    logger,
    health,
  });
  const beReconciler = new BlockEventReconciler({
    blockEvents: blockEventsApi,
    getBlockEvent: (key) => blockEvents.getByKey(key),
    getPolicy: (ns, name) => policies.get(name, ns),
    resolver,
    events,
    logger,
    retentionMs: opts.retentionMs,
    unblockGiveUpMs: opts.unblockGiveUpMs,
    health,
  });

  const banSync = new AgentBanSync({
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
  });

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
  blockEvents.onUpdate((_o, b) => enqueueBe(b));
  blockEvents.onDelete((be) => {
    blockEventAdmission.forget(objectKey(be));
    banSync.noteDeleted(be);
    enqueueBe(be);
  });
  // Every replica serves the dashboard; its writes go to the API server, which the leader acts on.
  // Started before anything else runs, so a bad token file or a taken port fails fast.
  let dashboard: RunningDashboard | undefined;
  if (opts.dashboard) {
    dashboard = await startDashboard(opts.dashboard, {
      listPolicies: () => policies.list(),
      listBlockEvents: () => blockEvents.list(),
      listPods,
      resolver,
      memory,
      logger,
      patchPolicy: (ref, body) => policiesApi.patch(ref, body),
      deleteBlockEvent: (ref) => blockEventsApi.delete(ref),
    });
  }

  policies.start();
  blockEvents.start();

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
      await Promise.all([policies.waitForSync(), blockEvents.waitForSync()]);
      policyQueue = new WorkQueue({ name: 'defensepolicies', handler: (k) => policyReconciler.reconcile(k), concurrency: 2, logger, registry });
      beQueue = new WorkQueue({ name: 'blockevents', handler: (k) => beReconciler.reconcile(k), concurrency: 16, logger, registry });
      // Level-triggered: after (re)gaining leadership every object is reconciled (and its ban pushed) once.
      beReconciler.forgetPushes();
      for (const k of policies.keys()) policyQueue.add(k);
      for (const k of blockEvents.keys()) beQueue.add(k);
      banSync.start();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      banSync.stop();
      triggers.stop();
      const pq = policyQueue;
      const bq = beQueue;
      policyQueue = undefined;
      beQueue = undefined;
      await Promise.all([pq.shutDown({ drain: false }), bq.shutDown({ drain: false })]);
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
        const ready = policies.hasSynced() && blockEvents.hasSynced();
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
    elector,
    isLeader: () => elector.isLeader(),
    probeUrl,
    dashboardUrl: dashboard?.url,
    async stop() {
      await dashboard?.close();
      await elector.stop();
      triggers.stop();
      await Promise.all([policies.stop(), blockEvents.stop()]);
      await events.flush();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      rest.close();
    },
  };
}
