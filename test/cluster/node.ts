/**
 * floodgate as users install it, on this machine: a Docker engine, the two
 * images built from images/Dockerfile, a one-node Kubernetes cluster
 * (test/cluster/node.sh: kube-apiserver, kube-controller-manager,
 * kube-scheduler, kubelet with dockershim, kube-proxy, a Services-only DNS),
 * and the chart installed on it as a user does (helm, the agent DaemonSet on
 * the node), for the tests in test/images and test/cluster and for later ones
 * that need a running node (agents watching the API server).
 *
 * Each ensure* is idempotent and cheap once its cache exists: the node
 * binaries (build.sh --node, /var/cache/floodgate), Docker's layer cache and
 * the local stand-in base images (images/local-base). Callers hold the shared
 * lock (/tmp/floodgate-heavy.lock) around anything that starts the node or
 * containers; this module never takes it.
 *
 * Env:
 *   FLOODGATE_NODE_STATE_DIR  the node's state dir (default /tmp/floodgate-node)
 *   FLOODGATE_NODE_KEEP=1     leave the node running after the tests (stopNode does nothing)
 *   FLOODGATE_IMAGE_TAG       tag of the built images (default dev)
 *   FLOODGATE_TEST_VERBOSE=1  stream the scripts' progress lines to stderr
 */
import type { FloodgateNode } from '../../api/v1alpha1/index.js';
import assert from 'node:assert/strict';
import fs, { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { readEnvFile } from '../control-plane/control-plane.js';
import { eventually } from '../controller/e2e-env.js';
import { runScript as runRepoScript } from '../support/run-script.js';

export const REPO_ROOT = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // From source (tsx) or compiled (dist/test/cluster): the checkout holding scripts/.
  for (const dir of [path.resolve(here, '../..'), path.resolve(here, '../../..')]) {
    if (existsSync(path.join(dir, 'scripts', 'build-images.sh'))) return dir;
  }
  throw new Error(`repository root (scripts/build-images.sh) not found above ${here}`);
})();

export const DEFAULT_NODE_STATE_DIR = '/tmp/floodgate-node';
const BUILD_TIMEOUT_MS = 45 * 60_000; // first builds on a busy 2-core machine

export interface Images {
  controller: string;
  agent: string;
  /** Image → size in bytes, as `docker image inspect` reports it. */
  sizes: Record<string, number>;
}

export interface KubeNode {
  stateDir: string;
  name: string;
  /** The node's InternalIP: kube-apiserver, kubelet, the cluster DNS, hostNetwork pods. */
  ip: string;
  /** Admin kubeconfig of the node's API server. */
  kubeconfig: string;
  cpStateDir: string;
  /** A network namespace outside the node: `lab.ip` on a veth whose node end is `lab.dev` (`lab.hostIp`). */
  lab: { ns: string; dev: string; hostIp: string; ip: string };
  podCidr: string;
  serviceCidr: string;
  pauseImage: string;
}

/** Run a repository script (progress on stderr with FLOODGATE_TEST_VERBOSE=1); resolve with its stdout. */
export async function runScript(script: string, args: string[] = [], timeoutMs = BUILD_TIMEOUT_MS): Promise<string> {
  const r = await runRepoScript(path.join(REPO_ROOT, script), args, { timeoutMs, cwd: REPO_ROOT, verbose: process.env.FLOODGATE_TEST_VERBOSE === '1', tailLines: 40 });
  return r.stdout;
}

/** A Docker engine answering on /var/run/docker.sock (scripts/ensure-docker.sh). */
export async function ensureDocker(): Promise<string> {
  return (await runScript('scripts/ensure-docker.sh')).trim();
}

/** The controller and agent images, images/Dockerfile's two targets on node:24-bookworm-slim (scripts/build-images.sh). */
export async function ensureImages(): Promise<Images> {
  await ensureDocker();
  const out = await runScript('scripts/build-images.sh');
  const sizes: Record<string, number> = {};
  for (const line of out.trim().split('\n')) {
    const [image, size] = line.trim().split(/\s+/);
    if (image && size) sizes[image] = Number(size);
  }
  const controller = Object.keys(sizes).find((i) => i.includes('floodgate-controller'));
  const agent = Object.keys(sizes).find((i) => i.includes('floodgate-agent'));
  if (!controller || !agent) throw new Error(`scripts/build-images.sh printed no image lines:\n${out}`);
  return { controller, agent, sizes };
}

/** Local stand-ins for public images (images/local-base/build.sh): e.g. busybox for `helm test`. */
export async function ensureLocalBase(...names: ('debian' | 'node' | 'busybox')[]): Promise<void> {
  await ensureDocker();
  await runScript('images/local-base/build.sh', names);
}

/** An image built from a directory of this repository with a Dockerfile (e.g. test/cluster/workload). */
export async function buildImage(dir: string, tag: string): Promise<string> {
  await ensureLocalBase('node');
  const r = await execa('docker', ['build', '--quiet', '--network', 'host', '-t', tag, path.join(REPO_ROOT, dir)], { reject: false, all: true, env: { DOCKER_BUILDKIT: '0' } });
  if (r.exitCode !== 0) throw new Error(`docker build ${dir} failed:\n${String(r.all)}`);
  return tag;
}

function stateDirOf(stateDir?: string): string {
  return path.resolve(stateDir ?? process.env.FLOODGATE_NODE_STATE_DIR ?? DEFAULT_NODE_STATE_DIR);
}

/** The kubelet, kube-controller-manager, kube-scheduler, kube-proxy and pause binaries (build.sh --node, cached). */
export async function ensureNodeBinaries(): Promise<void> {
  await runScript('test/control-plane/build.sh', ['--node']);
}

/** Start (or reuse) the one-node cluster and return how to reach it. */
export async function startNode(opts: { stateDir?: string } = {}): Promise<KubeNode> {
  const stateDir = stateDirOf(opts.stateDir);
  await ensureNodeBinaries();
  await runScript('test/cluster/node.sh', ['up', stateDir], 10 * 60_000);
  const env = await readEnvFile(path.join(stateDir, 'env'));
  const need = (k: string) => {
    const v = env[k];
    if (!v) throw new Error(`${stateDir}/env lacks ${k}`);
    return v;
  };
  return {
    stateDir,
    name: need('NODE_NAME'),
    ip: need('NODE_IP'),
    kubeconfig: need('KUBECONFIG'),
    cpStateDir: need('CP_STATE_DIR'),
    lab: { ns: need('LAB_NS'), dev: need('LAB_DEV'), hostIp: need('LAB_HOST_IP'), ip: need('LAB_IP') },
    podCidr: need('POD_CIDR'),
    serviceCidr: need('SERVICE_CIDR'),
    pauseImage: need('PAUSE_IMAGE'),
  };
}

/** Stop the node and remove what it put on the host; the state dir goes too unless FLOODGATE_NODE_KEEP=1. */
export async function stopNode(opts: { stateDir?: string } = {}): Promise<void> {
  if (process.env.FLOODGATE_NODE_KEEP === '1') return;
  await runScript('test/cluster/node.sh', ['down', '--wipe', stateDirOf(opts.stateDir)], 5 * 60_000);
}

export interface Run {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** kubectl against the node's API server (kubectl 1.32 warns about the skew to 1.20 on stderr; harmless). */
export async function kubectl(node: Pick<KubeNode, 'kubeconfig'>, args: string[], input?: string): Promise<Run> {
  const r = await execa('kubectl', ['--kubeconfig', node.kubeconfig, ...args], { input, reject: false, timeout: 120_000 });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(node: Pick<KubeNode, 'kubeconfig'>, args: string[], input?: string): Promise<string> {
  const r = await kubectl(node, args, input);
  if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.exitCode}): ${r.stderr.split('\n').filter((l) => !/version skew|WARNING/i.test(l)).join(' ')}`);
  return r.stdout;
}

/** `kubectl get -o json` of one object or list. */
export async function getJson<T = Record<string, unknown>>(node: Pick<KubeNode, 'kubeconfig'>, args: string[]): Promise<T> {
  return JSON.parse(await kubectlOk(node, ['get', ...args, '-o', 'json'])) as T;
}

/** helm (scripts/ensure-helm.sh) against the node's API server. */
export async function helm(node: Pick<KubeNode, 'kubeconfig'>, args: string[], timeoutMs = 10 * 60_000): Promise<Run> {
  const bin = (await runScript('scripts/ensure-helm.sh')).trim();
  const r = await execa(bin, args, { reject: false, timeout: timeoutMs, cwd: REPO_ROOT, env: { KUBECONFIG: node.kubeconfig } });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

/** docker, as a result (never throws on a non-zero exit). */
export async function docker(args: string[], input?: string): Promise<Run> {
  const r = await execa('docker', args, { input, reject: false, timeout: 10 * 60_000 });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

// --- The chart on the node, as a user installs it (chart-on-node.test.ts, daemonset-watch.test.ts).

/** The chart's namespace, release and names of its workloads. */
export const CHART_NS = 'floodgate-system';
export const RELEASE = 'floodgate';
export const CONTROLLER = 'floodgate-controller';
export const AGENT = 'floodgate-agent';

export interface Condition { type: string; status: string; lastTransitionTime?: string; reason?: string; message?: string }
export interface Pod {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: {
    serviceAccountName?: string;
    hostNetwork?: boolean;
    nodeName?: string;
    volumes?: { name: string; secret?: { secretName: string } }[];
    containers: {
      name: string;
      volumeMounts?: { name: string; mountPath: string }[];
      livenessProbe?: { httpGet?: { path: string; port: string | number } };
      readinessProbe?: { httpGet?: { path: string; port: string | number } };
    }[];
  };
  status: {
    phase?: string;
    podIP?: string;
    qosClass?: string;
    conditions?: Condition[];
    containerStatuses?: { containerID?: string; restartCount: number; ready: boolean }[];
  };
}
/** A node's FloodgateNode, as its agent reports it (agent.sync=watch). */
export type { FloodgateNode };

export const readyOf = (p: Pod) => p.status.conditions?.find((c) => c.type === 'Ready');

function imageRef(image: string): { repository: string; tag: string } {
  const i = image.lastIndexOf(':');
  return { repository: image.slice(0, i), tag: image.slice(i + 1) };
}

/**
 * The values a user on this node sets for the chart: the built images, the
 * agent DaemonSet on, on the node's link to the lab (its "uplink"), its API on
 * the node's address only, its ban store on the node, the pod and Service
 * CIDRs allowlisted. Everything else is the chart's default.
 */
export function nodeChartValues(node: KubeNode, images: Images): string[] {
  const c = imageRef(images.controller);
  const a = imageRef(images.agent);
  return [
    '--set', `controller.image.repository=${c.repository}`, '--set', `controller.image.tag=${c.tag}`,
    '--set', 'agent.daemonset.enabled=true',
    '--set', `agent.daemonset.image.repository=${a.repository}`, '--set', `agent.daemonset.image.tag=${a.tag}`,
    '--set', `agent.daemonset.interface=${node.lab.dev}`,
    '--set', `agent.daemonset.listen=${node.ip}:12345`,
    '--set', `agent.daemonset.stateHostPath=${node.stateDir}/agent-state`,
    '--set-json', `agent.daemonset.allowlist=${JSON.stringify([node.podCidr, node.serviceCidr])}`,
  ];
}

/** `helm install` of charts/floodgate with these values, waiting until its pods are Ready (at most 5 minutes). */
export async function installChart(node: KubeNode, values: string[]): Promise<void> {
  const r = await helm(node, ['install', RELEASE, 'charts/floodgate', '-n', CHART_NS, '--create-namespace', '--wait', '--timeout', '5m', ...values]);
  assert.equal(r.exitCode, 0, `helm install: ${r.stderr}`);
}

/** The host's nft tables, sorted ("table inet floodgate", ...). */
export async function nftTables(): Promise<string[]> {
  return String((await execa('nft', ['list', 'tables'])).stdout).split('\n').filter(Boolean).sort();
}

/**
 * After a chart test: the release uninstalled (whatever a failed run left),
 * then `cleanUp`, the node stopped, and the agent's own nft table removed
 * unless it was there before the test.
 */
export async function removeChartAndNode(node: KubeNode | undefined, nftTablesBefore: string[], cleanUp?: () => Promise<void>): Promise<void> {
  if (!node) return;
  await helm(node, ['uninstall', RELEASE, '-n', CHART_NS, '--wait', '--timeout', '2m']).catch(() => undefined);
  await cleanUp?.();
  await stopNode();
  if (!nftTablesBefore.includes('table inet floodgate')) await execa('nft', ['delete', 'table', 'inet', 'floodgate'], { reject: false });
}

/** The chart's pods of one component (controller, agent), leaving out the ones being deleted. */
export async function componentPods(node: KubeNode, component: 'controller' | 'agent'): Promise<Pod[]> {
  const pods = (await getJson<{ items: Pod[] }>(node, ['pods', '-n', CHART_NS, '-l', `app.kubernetes.io/component=${component}`])).items;
  return pods.filter((p) => !p.metadata.deletionTimestamp);
}

/** Wait for a Ready pod of `component` other than `old` (a restart, a rollout); return it. */
export async function newPodReady(node: KubeNode, component: 'controller' | 'agent', old: string | undefined, timeoutMs: number): Promise<Pod> {
  return eventually(`a new ${component} pod Ready`, async () => {
    const p = (await componentPods(node, component)).find((x) => x.metadata.name !== old);
    return p && readyOf(p)?.status === 'True' ? p : undefined;
  }, timeoutMs, 500);
}

/** The host's nft set of banned IPv4 hosts (the agent's table, inet floodgate); empty without it. */
export async function hostBans(): Promise<string> {
  const r = await execa('nft', ['list', 'set', 'inet', 'floodgate', 'hosts4'], { reject: false });
  return r.exitCode === 0 ? String(r.stdout) : '';
}

/** The node's FloodgateNode, as its agent reports it. */
export async function nodeReport(node: KubeNode): Promise<FloodgateNode | undefined> {
  const r = await kubectl(node, ['get', 'floodgatenode.floodgate.dev', node.name, '-o', 'json']);
  return r.exitCode === 0 ? (JSON.parse(r.stdout) as FloodgateNode) : undefined;
}

/**
 * How many of a kind the node holds now, as a user reads it: its node Lease
 * (docs/fanout.md: the agent renews it with its counts; the FloodgateNode has
 * them as of its last write, up to 30 heartbeats old), or the report when its
 * Lease has no count yet.
 */
export async function nodeHolds(node: KubeNode, kind: 'blockevents' | 'signaturerules'): Promise<number> {
  const report = await nodeReport(node);
  const lease = report?.spec?.lease;
  if (lease) {
    const r = await kubectl(node, ['get', 'lease', '-n', lease.namespace, lease.name, '-o', 'json']);
    const held = r.exitCode === 0 ? (JSON.parse(r.stdout) as { metadata: { annotations?: Record<string, string> } }).metadata.annotations?.[`floodgate.dev/${kind}-applied`] : undefined;
    if (held !== undefined) return Number(held);
  }
  return (kind === 'blockevents' ? report?.status?.blockEvents?.applied : report?.status?.signatureRules?.applied) ?? 0;
}

/**
 * The agent pod `agentPod` (agent.sync=watch) got its node's own identity from
 * the controller's broker, with the token the kubelet bound to it, says so in
 * its log, and reports in its node's FloodgateNode (once `until` holds for the
 * report), Synced. Returns the report.
 */
export async function assertAgentReportsAsNode(node: KubeNode, agentPod: string, until: (r: FloodgateNode) => boolean = () => true): Promise<FloodgateNode> {
  const report = await eventually(`FloodgateNode ${node.name} written by its agent`, async () => {
    const r = await nodeReport(node);
    return r?.status?.heartbeatTime && r.status.agent?.pod === `${CHART_NS}/${agentPod}` && until(r) ? r : undefined;
  }, 120_000, 1000);
  assert.equal(report.status?.agent?.mode, 'in-cluster');
  assert.equal(report.status?.agent?.backend, 'nft');
  assert.deepEqual(report.spec?.serviceAccount, { namespace: CHART_NS, name: `floodgate-node-${node.name}` }, "the node's own identity");
  const logs = await kubectlOk(node, ['logs', '-n', CHART_NS, agentPod]);
  const identity = logs.split('\n').find((l) => l.includes("got this node's identity"));
  assert.ok(identity, `the agent logs its node identity:\n${logs.slice(0, 2000)}`);
  assert.equal((JSON.parse(identity) as { serviceAccount?: string }).serviceAccount, `${CHART_NS}/floodgate-node-${node.name}`);
  await eventually('Synced=True', async () => (await nodeReport(node))?.status?.conditions?.find((c) => c.type === 'Synced')?.status === 'True', 60_000, 1000);
  return report;
}

/** Everything a failing step on the node needs to be understood, printed once. */
async function diagnose(node: KubeNode): Promise<void> {
  const show = async (title: string, args: string[]) => {
    const r = await kubectl(node, args);
    console.log(`--- ${title}\n${r.stdout}${r.exitCode === 0 ? '' : `\n${r.stderr}`}`);
  };
  await show('pods', ['get', 'pods', '-A', '-o', 'wide']);
  await show('events', ['get', 'events', '-n', CHART_NS, '--sort-by=.lastTimestamp']);
  await show('policies, blockevents and signature rules', ['get', 'dp,be,sr', '-n', CHART_NS, '-o', 'wide']);
  await show('floodgatenodes', ['get', 'fgn', '-o', 'yaml']);
  for (const c of ['controller', 'agent']) await show(`${c} logs`, ['logs', '-n', CHART_NS, '-l', `app.kubernetes.io/component=${c}`, '--tail=60']);
  const kubeletLog = path.join(node.stateDir, 'kubelet.log');
  if (fs.existsSync(kubeletLog)) console.log(`--- kubelet log\n${fs.readFileSync(kubeletLog, 'utf8').split('\n').slice(-30).join('\n')}`);
}

/**
 * A scenario's steps on the node (`node` is read when a step runs): a step
 * that fails prints the cluster's state before failing.
 */
export function stepsOnNode(node: () => KubeNode): (name: string, fn: () => Promise<void>) => void {
  return (name, fn) => {
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        await diagnose(node()).catch((e: unknown) => console.log(`(diagnostics failed: ${String(e)})`));
        throw err;
      }
    });
  };
}
