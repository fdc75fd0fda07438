// Wires the agent's watch on the API server from its config's `kube:` section
// (agent/config/agent-config.ts): who it is (agent-self.ts), how it reads (its
// pod's ServiceAccount, or a host agent's kubeconfig), how it writes its
// report (node-identity.ts), and the watch itself (kube-watch.ts). Nothing
// here waits for the API server: an agent that cannot reach it starts,
// captures, bans and serves its API all the same.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { FLOODGATE_VERSION } from '../../lib/version.js';
import { loadKubeConfigDetailed } from '../../kube/kube-config.js';
import { RestClient } from '../../kube/rest-client.js';
import type { AgentConfig } from '../config/agent-config.js';
import { brokerCaFile, ConfigError } from '../config/agent-config.js';
import type { AgentSelf } from './agent-self.js';
import type { BanSink } from './ban-enforcement.js';
import type { SignatureSink } from './signature-enforcement.js';
import { KubeWatch } from './kube-watch.js';
import { BrokeredIdentity, KubeconfigIdentity } from './node-identity.js';
import { NodeReporter, type NodeIdentitySource } from './node-report.js';

export type KubeSection = NonNullable<AgentConfig['kube']>;

/** A downward API labels file: one `key="value"` per line. */
export function parseLabelsFile(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^=\s]+)="(.*)"$/.exec(line.trim());
    if (!m?.[1]) continue;
    try {
      labels[m[1]] = JSON.parse(`"${m[2] ?? ''}"`) as string;
    } catch {
      labels[m[1]] = m[2] ?? '';
    }
  }
  return labels;
}

/** Who this agent is, from its config and (in a pod) the downward API. */
export function agentSelf(kube: KubeSection, env: NodeJS.ProcessEnv = process.env): AgentSelf {
  const node = kube.nodeName ?? env.NODE_NAME ?? os.hostname().toLowerCase();
  let fileLabels: Record<string, string> = {};
  if (kube.labelsFile) {
    try {
      fileLabels = parseLabelsFile(readFileSync(kube.labelsFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`kube.labelsFile ${kube.labelsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const podName = env.POD_NAME;
  const podNamespace = env.POD_NAMESPACE;
  return {
    node,
    ...(podName && podNamespace && !kube.kubeconfig ? { pod: { namespace: podNamespace, name: podName } } : {}),
    labels: { ...fileLabels, ...kube.labels },
    namespace: kube.namespace ?? podNamespace,
    ...(kube.url ? { url: kube.url } : {}),
  };
}

export interface RunningKubeWatch {
  watch: KubeWatch;
  self: AgentSelf;
  reporter?: NodeReporter;
  stop(): Promise<void>;
}

export function startKubeWatch(
  kube: KubeSection,
  deps: { bans: BanSink; signatures?: SignatureSink; backend: string; logger: Logger; registry: Registry; banVersion?: () => string; env?: NodeJS.ProcessEnv; /** The agent CA (tls.clientCaFile): the broker's default CA. */ agentCaFile?: string },
): RunningKubeWatch {
  const logger = deps.logger.child({ component: 'kube-watch' });
  const self = agentSelf(kube, deps.env);
  let loaded;
  try {
    loaded = loadKubeConfigDetailed({ kubeconfig: kube.kubeconfig, env: deps.env });
  } catch (err) {
    throw new ConfigError(`kube: ${(err as Error).message}`);
  }
  if (!kube.kubeconfig && loaded.source !== 'in-cluster') {
    throw new ConfigError('kube: not in a pod (no service account mounted): give a host agent kube.kubeconfig (floodgate node-identity writes one)');
  }
  const reader = new RestClient(loaded.kc);
  let identity: (NodeIdentitySource & { close?: () => void }) | undefined;
  if (kube.kubeconfig) identity = new KubeconfigIdentity(reader);
  else if (kube.identity) {
    const caFile = brokerCaFile({ kube, tls: { clientCaFile: deps.agentCaFile } });
    try {
      identity = new BrokeredIdentity({ url: kube.identity.url, tokenFile: kube.identity.tokenFile, caFile, allowPlainHttp: kube.identity.allowPlainHttp, cluster: loaded.kc, node: self.node, logger });
    } catch (err) {
      throw new ConfigError(`kube.identity: ${(err as Error).message}`);
    }
    if (new URL(kube.identity.url).protocol === 'http:') {
      logger.warn({ url: kube.identity.url }, 'the node identity broker is plain HTTP: this pod\'s token crosses the network in clear (turn on agent TLS; docs/node-identity.md)');
    }
  }
  else logger.warn('kube.identity is not set: this agent applies what it watches but writes no FloodgateNode report');

  // The reporter tells the watch when the API server is back; the watch is made after it.
  const back = { reconnected: (): void => undefined };
  const reporter = identity
    ? new NodeReporter({ node: self.node, identity, logger, heartbeatSeconds: kube.heartbeatSeconds, reportsPerSecond: kube.reportsPerSecond, onReconnected: () => back.reconnected() })
    : undefined;
  const watch = new KubeWatch({
    self,
    reader,
    bans: deps.bans,
    signatures: deps.signatures,
    reporter,
    agent: {
      version: FLOODGATE_VERSION,
      backend: deps.backend,
      mode: kube.kubeconfig ? 'kubeconfig' : 'in-cluster',
      ...(self.pod ? { pod: `${self.pod.namespace}/${self.pod.name}` } : {}),
      ...(self.url ? { url: self.url } : {}),
    },
    logger,
    registry: deps.registry,
    banVersion: deps.banVersion,
    relistMs: kube.relistSeconds * 1000,
  });
  back.reconnected = () => watch.reconnected();
  watch.start();
  logger.info(
    { node: self.node, server: loaded.kc.getCurrentCluster()?.server, from: loaded.source, pod: self.pod, labels: self.labels, namespace: self.namespace, url: self.url, reports: Boolean(reporter) },
    'watching the API server for BlockEvents, SignatureRules and DefensePolicies',
  );
  const running = watch;
  return {
    watch: running,
    self,
    reporter,
    async stop() {
      await running.stop();
      identity?.close?.();
      reader.close();
    },
  };
}
