// Where the controller finds its cluster, the standard way:
//   1. an explicit kubeconfig path (flag / option) when given;
//   2. in-cluster (service account token + CA) when running in a pod;
//   3. $KUBECONFIG (a path list, merged like kubectl does);
//   4. ~/.kube/config.
// Nothing found is a clear one-line error, never a silent fallback to
// http://localhost:8080.
//
// The kubeconfig model and parser are our own (no @kubernetes/client-node at
// run time: importing its KubeConfig loads all 826 of its modules, ~21 MB of
// source text the controller would carry for its whole life). Field names
// follow client-node's (caData, skipTLSVerify, certFile, exec, ...), so
// loadFromOptions takes what client-node's does. Relative file paths in a
// kubeconfig are relative to that file's directory, as kubectl reads them.

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { supportProblems } from './credentials.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface Cluster {
  readonly name: string;
  /** Without a trailing slash. */
  readonly server: string;
  /** Base64 PEM. */
  readonly caData?: string;
  readonly caFile?: string;
  readonly skipTLSVerify: boolean;
  readonly tlsServerName?: string;
  readonly proxyUrl?: string;
}

/** client.authentication.k8s.io exec credential plugin. */
export interface ExecConfig {
  readonly apiVersion?: string;
  readonly command: string;
  readonly args?: string[];
  readonly env?: { name: string; value: string }[];
  readonly provideClusterInfo?: boolean;
  readonly installHint?: string;
}

export interface User {
  readonly name: string;
  readonly token?: string;
  readonly tokenFile?: string;
  /** Base64 PEM. */
  readonly certData?: string;
  readonly certFile?: string;
  /** Base64 PEM. */
  readonly keyData?: string;
  readonly keyFile?: string;
  readonly username?: string;
  readonly password?: string;
  readonly exec?: ExecConfig;
  readonly authProvider?: { name: string; config?: Record<string, string> };
}

export interface Context {
  readonly name: string;
  readonly cluster: string;
  readonly user: string;
  readonly namespace?: string;
}

export interface KubeConfigOptions {
  clusters: Partial<Cluster>[];
  users: Partial<User>[];
  contexts: Partial<Context>[];
  currentContext?: string;
}

export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

/** Clusters, users and contexts, and which context is current. */
export class KubeConfig {
  clusters: Cluster[] = [];
  users: User[] = [];
  contexts: Context[] = [];
  currentContext = '';

  /** Same shape as client-node's KubeConfig.loadFromOptions. */
  loadFromOptions(o: KubeConfigOptions): void {
    this.clusters = o.clusters.map((c, i) => cluster(c, `clusters[${i}]`));
    this.users = o.users.map((u, i) => ({ ...u, name: required(u.name, `users[${i}].name`) }));
    this.contexts = o.contexts.map((c, i) => ({
      name: required(c.name, `contexts[${i}].name`),
      cluster: required(c.cluster, `contexts[${i}].cluster`),
      user: c.user ?? '',
      namespace: c.namespace,
    }));
    this.currentContext = o.currentContext ?? '';
  }

  /** A kubeconfig file (YAML or JSON). */
  loadFromFile(file: string): void {
    this.loadFromOptions(parseKubeConfig(readFileSync(file, 'utf8'), path.dirname(path.resolve(file))));
  }

  getCurrentContext(): string {
    return this.currentContext;
  }

  setCurrentContext(name: string): void {
    this.currentContext = name;
  }

  getContextObject(name: string): Context | undefined {
    return this.contexts.find((c) => c.name === name);
  }

  getCluster(name: string): Cluster | undefined {
    return this.clusters.find((c) => c.name === name);
  }

  getUser(name: string): User | undefined {
    return this.users.find((u) => u.name === name);
  }

  getCurrentCluster(): Cluster | undefined {
    const ctx = this.getContextObject(this.currentContext);
    return ctx ? this.getCluster(ctx.cluster) : undefined;
  }

  getCurrentUser(): User | undefined {
    const ctx = this.getContextObject(this.currentContext);
    return ctx ? this.getUser(ctx.user) : undefined;
  }
}

function required(v: string | undefined, what: string): string {
  if (typeof v !== 'string' || v === '') throw new Error(`${what} is missing`);
  return v;
}

function cluster(c: Partial<Cluster>, where: string): Cluster {
  return {
    ...c,
    name: required(c.name, `${where}.name`),
    server: required(c.server, `${where}.server`).replace(/\/+$/, ''),
    skipTLSVerify: c.skipTLSVerify === true,
  };
}

type Raw = Record<string, unknown>;

function obj(v: unknown, what: string): Raw {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} is not a mapping`);
  return v as Raw;
}

function list(v: unknown, what: string): Raw[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${what} is not a list`);
  return v.map((e, i) => obj(e, `${what}[${i}]`));
}

function str(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new Error(`${what} is not a string`);
  return v;
}

/** Parse kubeconfig text; relative paths are resolved against baseDir. */
export function parseKubeConfig(text: string, baseDir: string): KubeConfigOptions {
  const doc = obj(YAML.parse(text) as unknown, 'kubeconfig');
  const file = (v: unknown, what: string): string | undefined => {
    const s = str(v, what);
    return s === undefined ? undefined : path.resolve(baseDir, s);
  };
  const clusters = list(doc.clusters, 'clusters').map((e, i): Partial<Cluster> => {
    const c = obj(e.cluster, `clusters[${i}].cluster`);
    return {
      name: str(e.name, `clusters[${i}].name`),
      server: str(c.server, `clusters[${i}].cluster.server`),
      caData: str(c['certificate-authority-data'], `clusters[${i}].cluster.certificate-authority-data`),
      caFile: file(c['certificate-authority'], `clusters[${i}].cluster.certificate-authority`),
      skipTLSVerify: c['insecure-skip-tls-verify'] === true,
      tlsServerName: str(c['tls-server-name'], `clusters[${i}].cluster.tls-server-name`),
      proxyUrl: str(c['proxy-url'], `clusters[${i}].cluster.proxy-url`),
    };
  });
  const users = list(doc.users, 'users').map((e, i): Partial<User> => {
    const u = obj(e.user, `users[${i}].user`);
    const w = `users[${i}].user`;
    let exec: ExecConfig | undefined;
    if (u.exec !== undefined && u.exec !== null) {
      const x = obj(u.exec, `${w}.exec`);
      const command = str(x.command, `${w}.exec.command`);
      if (!command) throw new Error(`${w}.exec.command is missing`);
      exec = {
        apiVersion: str(x.apiVersion, `${w}.exec.apiVersion`),
        // kubectl: a command with a path separator is relative to the kubeconfig's directory.
        command: command.includes('/') ? path.resolve(baseDir, command) : command,
        args: x.args === undefined || x.args === null ? undefined : (list2strings(x.args, `${w}.exec.args`)),
        env: list(x.env, `${w}.exec.env`).map((v, j) => ({ name: str(v.name, `${w}.exec.env[${j}].name`) ?? '', value: String(v.value ?? '') })),
        provideClusterInfo: x.provideClusterInfo === true,
        installHint: str(x.installHint, `${w}.exec.installHint`),
      };
    }
    const ap = u['auth-provider'] === undefined ? undefined : obj(u['auth-provider'], `${w}.auth-provider`);
    return {
      name: str(e.name, `users[${i}].name`),
      token: str(u.token, `${w}.token`),
      tokenFile: file(u.tokenFile, `${w}.tokenFile`),
      certData: str(u['client-certificate-data'], `${w}.client-certificate-data`),
      certFile: file(u['client-certificate'], `${w}.client-certificate`),
      keyData: str(u['client-key-data'], `${w}.client-key-data`),
      keyFile: file(u['client-key'], `${w}.client-key`),
      username: str(u.username, `${w}.username`),
      password: str(u.password, `${w}.password`),
      exec,
      authProvider: ap ? { name: String(ap.name ?? ''), config: ap.config as Record<string, string> | undefined } : undefined,
    };
  });
  const contexts = list(doc.contexts, 'contexts').map((e, i): Partial<Context> => {
    const c = obj(e.context, `contexts[${i}].context`);
    return {
      name: str(e.name, `contexts[${i}].name`),
      cluster: str(c.cluster, `contexts[${i}].context.cluster`),
      user: str(c.user, `contexts[${i}].context.user`),
      namespace: str(c.namespace, `contexts[${i}].context.namespace`),
    };
  });
  return { clusters, users, contexts, currentContext: str(doc['current-context'], 'current-context') };
}

function list2strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw new Error(`${what} is not a list`);
  return v.map((s) => String(s));
}

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
  /** What the current cluster asks for that the client does but warns about (insecure-skip-tls-verify). */
  warnings: string[];
  /** File(s) it came from; the service account dir for in-cluster. */
  from: string;
  /** The pod's own namespace when in-cluster (from the service account), else the context's namespace. */
  namespace?: string;
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
      // kubectl's merge: the first file that names a cluster/user/context wins.
      for (const f of rest) {
        const more = new KubeConfig();
        more.loadFromFile(f);
        for (const c of more.clusters) if (!kc.getCluster(c.name)) kc.clusters.push(c);
        for (const u of more.users) if (!kc.getUser(u.name)) kc.users.push(u);
        for (const c of more.contexts) if (!kc.getContextObject(c.name)) kc.contexts.push(c);
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
    const cluster = kc.getCurrentCluster();
    if (!cluster) {
      throw new KubeConfigError(`kubeconfig ${files.join(path.delimiter)} has no current context/cluster`);
    }
    // Unsupported settings fail loudly here, never silently ignored.
    const { errors, warnings } = supportProblems(cluster, kc.getCurrentUser());
    if (errors.length > 0) throw new KubeConfigError(`kubeconfig ${files.join(path.delimiter)}: ${errors.join('; ')}`);
    const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
    return { kc, source, warnings, from: files.join(path.delimiter), namespace };
  };

  if (opts.kubeconfig) return fromFiles([opts.kubeconfig], 'explicit');

  if (inCluster(env, saDir)) {
    const host = env.KUBERNETES_SERVICE_HOST ?? '';
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT}`;
    let namespace: string | undefined;
    try {
      namespace = readFileSync(path.join(saDir, 'namespace'), 'utf8').trim() || undefined;
    } catch {
      namespace = undefined;
    }
    kc.loadFromOptions({
      clusters: [{ name: 'inCluster', server, caFile: path.join(saDir, 'ca.crt'), skipTLSVerify: false }],
      // The token file is re-read while running (bound tokens rotate).
      users: [{ name: 'inClusterUser', tokenFile: path.join(saDir, 'token') }],
      contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser', namespace }],
      currentContext: 'inClusterContext',
    });
    return { kc, source: 'in-cluster', warnings: [], from: saDir, namespace };
  }

  const paths = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f.length > 0);
  if (paths.length > 0) return fromFiles(paths, 'KUBECONFIG');

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

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}
