/**
 * floodgate as users install it, on this machine: a Docker engine, the two
 * images built from images/*\/Dockerfile, and a one-node Kubernetes cluster
 * (test/cluster/node.sh: kube-apiserver, kube-controller-manager,
 * kube-scheduler, kubelet with dockershim, kube-proxy, a Services-only DNS),
 * for the tests in test/images and test/cluster and for later ones that need a
 * running node (agents watching the API server).
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
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { readEnvFile } from '../control-plane/control-plane.js';
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

/** The controller and agent images, built from images/*\/Dockerfile on node:24-bookworm-slim (scripts/build-images.sh). */
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
