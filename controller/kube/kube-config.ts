// Where the controller finds its cluster, the standard way:
//   1. an explicit kubeconfig path (flag / option) when given;
//   2. in-cluster (service account token + CA) when running in a pod;
//   3. $KUBECONFIG (a path list, merged like kubectl does);
//   4. ~/.kube/config.
// Nothing found is a clear one-line error, never the client's silent
// fallback to http://localhost:8080.

import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type KubeConfigSource = 'explicit' | 'in-cluster' | 'KUBECONFIG' | 'home';

export interface LoadKubeConfigOptions {
  /** Explicit kubeconfig file; wins over everything else. */
  kubeconfig?: string;
  /** Context to switch to after loading (kubeconfig files only). */
  context?: string;
  /** For tests: environment and paths to consult instead of the real ones. */
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  serviceAccountDir?: string;
}

export interface LoadedKubeConfig {
  kc: KubeConfig;
  source: KubeConfigSource;
  /** File(s) it came from; the service account dir for in-cluster. */
  from: string;
  /** The pod's own namespace when in-cluster (from the service account), else the context's namespace. */
  namespace?: string;
}

export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

/** True when the process runs in a pod with a mounted service account. */
export function inCluster(env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && existsSync(path.join(saDir, 'token')));
}

/** Load the cluster configuration; throws a KubeConfigError with a one-line message when there is none. */
export function loadKubeConfigDetailed(opts: LoadKubeConfigOptions = {}): LoadedKubeConfig {
  const env = opts.env ?? process.env;
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const kc = new KubeConfig();

  const fromFiles = (files: string[], source: KubeConfigSource): LoadedKubeConfig => {
    const [first, ...rest] = files;
    if (first === undefined) throw new KubeConfigError(`no kubeconfig file given (${source})`);
    for (const f of files) {
      if (!existsSync(f)) throw new KubeConfigError(`kubeconfig ${f} (from ${source}) does not exist`);
    }
    try {
      kc.loadFromFile(first);
      // kubectl's merge: the first file that names a cluster/user/context
      // wins (client-node's mergeConfig throws on duplicates instead).
      for (const f of rest) {
        const more = new KubeConfig();
        more.loadFromFile(f);
        for (const c of more.getClusters()) if (!kc.getCluster(c.name)) kc.addCluster(c);
        for (const u of more.getUsers()) if (!kc.getUser(u.name)) kc.addUser(u);
        for (const c of more.getContexts()) if (!kc.getContextObject(c.name)) kc.addContext(c);
        if (!kc.getCurrentContext() && more.getCurrentContext()) kc.setCurrentContext(more.getCurrentContext());
      }
    } catch (err) {
      throw new KubeConfigError(`cannot load kubeconfig ${files.join(path.delimiter)}: ${oneLine(err)}`);
    }
    if (opts.context) {
      if (!kc.getContextObject(opts.context)) {
        throw new KubeConfigError(`context "${opts.context}" not found in ${files.join(path.delimiter)}`);
      }
      kc.setCurrentContext(opts.context);
    }
    if (!kc.getCurrentCluster()) {
      throw new KubeConfigError(`kubeconfig ${files.join(path.delimiter)} has no current context/cluster`);
    }
    const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
    return { kc, source, from: files.join(path.delimiter), namespace };
  };

  if (opts.kubeconfig) return fromFiles([opts.kubeconfig], 'explicit');

  if (inCluster(env, saDir)) {
    // loadFromCluster reads the files at PREFIX + SERVICE_ACCOUNT_DIR and
    // KUBERNETES_SERVICE_HOST/PORT from process.env.
    if (!saDir.endsWith(SERVICE_ACCOUNT_DIR)) {
      throw new KubeConfigError(`serviceAccountDir must end with ${SERVICE_ACCOUNT_DIR}: ${saDir}`);
    }
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    try {
      process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
      process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT;
      kc.loadFromCluster(saDir.slice(0, saDir.length - SERVICE_ACCOUNT_DIR.length));
    } finally {
      restoreEnv('KUBERNETES_SERVICE_HOST', saved.host);
      restoreEnv('KUBERNETES_SERVICE_PORT', saved.port);
    }
    const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace?.trim() || undefined;
    return { kc, source: 'in-cluster', from: saDir, namespace };
  }

  const list = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f.length > 0);
  if (list.length > 0) return fromFiles(list, 'KUBECONFIG');

  const home = opts.homeDir ?? env.HOME ?? os.homedir();
  const homeConfig = path.join(home, '.kube', 'config');
  if (home && existsSync(homeConfig)) return fromFiles([homeConfig], 'home');

  throw new KubeConfigError(
    `no Kubernetes configuration found: not in a pod (no KUBERNETES_SERVICE_HOST or ${path.join(saDir, 'token')}), ` +
      `KUBECONFIG unset and ${homeConfig} missing; pass --kubeconfig`,
  );
}

/** Load the cluster configuration (see loadKubeConfigDetailed). */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig {
  return loadKubeConfigDetailed(opts).kc;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}
