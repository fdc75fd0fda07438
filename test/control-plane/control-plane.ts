/**
 * A real Kubernetes control plane (etcd + kube-apiserver 1.20.2, no kubelet)
 * for integration tests, driven through the shell scripts beside this file.
 *
 * If KUBECONFIG is exported (e.g. for a kind or k3d cluster) and does not point
 * into our own state dir, that cluster is used as is and nothing is started or
 * stopped.
 *
 * Env:
 *   KUBECONFIG               use this existing cluster instead
 *   FLOODGATE_CP_STATE_DIR   state dir of the local control plane (default /tmp/floodgate-cp)
 *   FLOODGATE_CP_VERBOSE=1   stream the scripts' progress lines to stderr
 *   FLOODGATE_CP_BUILD=0     do not run build.sh first (it returns in well under
 *                            a second once kube-apiserver is cached, but builds it,
 *                            5-10 min, on a machine that has not got it yet)
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScript as runRepoScript } from '../support/run-script.js';
import YAML from 'yaml';

export interface ControlPlane {
  /** Admin kubeconfig (group system:masters), or the exported KUBECONFIG. */
  kubeconfig: string;
  /** API server URL, e.g. https://127.0.0.1:40123 */
  server: string;
  /** State dir of the local control plane; '' for an external cluster. */
  stateDir: string;
  /** True when an exported KUBECONFIG (kind, k3d, ...) is used. */
  external: boolean;
  /** Kubeconfig of the non-admin user "floodgate-user" (local control plane only). */
  userKubeconfig?: string;
}

export interface ControlPlaneOptions {
  /** Overrides FLOODGATE_CP_STATE_DIR / the default /tmp/floodgate-cp. */
  stateDir?: string;
}

export const DEFAULT_STATE_DIR = '/tmp/floodgate-cp';
const SCRIPT_TIMEOUT_MS = 30 * 60_000; // a first build.sh on a busy 2-core machine

function scriptsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // Run from source (tsx) the scripts are beside us; compiled, we live in
  // dist/test/control-plane and the scripts stay in test/control-plane.
  for (const dir of [here, path.resolve(here, '../../../test/control-plane')]) {
    if (existsSync(path.join(dir, 'start.sh'))) return dir;
  }
  throw new Error(`control-plane scripts (start.sh) not found beside ${here}`);
}

function resolveStateDir(opts?: ControlPlaneOptions): string {
  return path.resolve(opts?.stateDir ?? process.env.FLOODGATE_CP_STATE_DIR ?? DEFAULT_STATE_DIR);
}

/** The exported KUBECONFIG when it names a cluster other than ours. */
function externalKubeconfig(stateDir: string): string | undefined {
  const kc = process.env.KUBECONFIG;
  if (!kc) return undefined;
  const ours = new Set([path.join(stateDir, 'kubeconfig'), path.join(stateDir, 'kubeconfig-user')]);
  if (ours.has(path.resolve(kc))) return undefined;
  return kc;
}

async function runScript(name: string, args: string[]): Promise<string> {
  const r = await runRepoScript(path.join(scriptsDir(), name), args, {
    timeoutMs: SCRIPT_TIMEOUT_MS,
    verbose: process.env.FLOODGATE_CP_VERBOSE === '1',
  }).catch((err: Error) => {
    throw new Error(`control plane: ${err.message}`);
  });
  return r.all;
}

/** Parse a KEY=VALUE env file (STATE_DIR/env). */
export async function readEnvFile(file: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] !== undefined) env[m[1]] = m[2] ?? '';
  }
  return env;
}

async function serverOf(kubeconfig: string): Promise<string> {
  // Only the first file of a KUBECONFIG list, and its current context.
  const file = kubeconfig.split(path.delimiter)[0] ?? kubeconfig;
  const doc = YAML.parse(await readFile(file, 'utf8')) as {
    'current-context'?: string;
    contexts?: { name: string; context?: { cluster?: string } }[];
    clusters?: { name: string; cluster?: { server?: string } }[];
  };
  const ctx = doc.contexts?.find((c) => c.name === doc['current-context']);
  const cluster = doc.clusters?.find((c) => c.name === ctx?.context?.cluster) ?? doc.clusters?.[0];
  const server = cluster?.cluster?.server;
  if (!server) throw new Error(`no cluster server found in kubeconfig ${file}`);
  return server;
}

const inflight = new Map<string, Promise<ControlPlane>>();

/**
 * Start (or reuse) the local control plane and return how to reach it; with an
 * exported KUBECONFIG, return that cluster and start nothing.
 */
export function ensureControlPlane(opts?: ControlPlaneOptions): Promise<ControlPlane> {
  const stateDir = resolveStateDir(opts);
  let p = inflight.get(stateDir);
  if (!p) {
    p = doEnsure(stateDir).finally(() => inflight.delete(stateDir));
    inflight.set(stateDir, p);
  }
  return p;
}

async function doEnsure(stateDir: string): Promise<ControlPlane> {
  const ext = externalKubeconfig(stateDir);
  if (ext) return { kubeconfig: ext, server: await serverOf(ext), stateDir: '', external: true };
  if (process.env.FLOODGATE_CP_BUILD !== '0') await runScript('build.sh', []);
  await runScript('start.sh', [stateDir]);
  const env = await readEnvFile(path.join(stateDir, 'env'));
  const { KUBECONFIG: kubeconfig, APISERVER_URL: server, KUBECONFIG_USER: userKubeconfig } = env;
  if (!kubeconfig || !server) throw new Error(`control plane: ${stateDir}/env lacks KUBECONFIG or APISERVER_URL`);
  return { kubeconfig, server, stateDir, external: false, userKubeconfig };
}

/** Stop the local control plane (no-op for an external cluster). */
export async function stopControlPlane(opts?: ControlPlaneOptions & { wipe?: boolean }): Promise<void> {
  const stateDir = resolveStateDir(opts);
  if (externalKubeconfig(stateDir)) return;
  await runScript('stop.sh', [...(opts?.wipe ? ['--wipe'] : []), stateDir]);
}

/**
 * Stop and start only kube-apiserver, same flags/port/cert/tokens; etcd and all
 * objects stay. Throws for an external cluster (we do not own its API server).
 */
export async function restartApiServer(opts?: ControlPlaneOptions): Promise<void> {
  const stateDir = resolveStateDir(opts);
  if (externalKubeconfig(stateDir)) {
    throw new Error('restartApiServer: KUBECONFIG points at an external cluster; cannot restart its API server');
  }
  await runScript('restart-apiserver.sh', [stateDir]);
}
