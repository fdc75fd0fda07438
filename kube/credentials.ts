// How a request to the API server authenticates, from the kubeconfig's
// current cluster and user, as kubectl does it:
//   - TLS: the cluster's CA (data or file), insecure-skip-tls-verify (alone:
//     with a CA it is refused, as kubectl refuses it), tls-server-name; the
//     user's client certificate and key (data or files). Files are re-read
//     every minute (rotated certificates); a failed read is never remembered,
//     the next request reads again (the last good content is used meanwhile);
//   - a bearer token: `token`, or `tokenFile` re-read every minute (in-cluster
//     service account tokens rotate), or an exec credential plugin
//     (client.authentication.k8s.io ExecCredential: a token and/or a client
//     certificate, cached until its expirationTimestamp);
//   - basic auth (username/password) when that is all there is.
// What it cannot do it refuses when it is built (supportProblems): an
// auth-provider (use an exec plugin), a proxy-url other than http(s).
// The TLS object handed out stays the same object until its material changes,
// so that callers can keep one connection pool per TLS identity.

// node:child_process rather than execa: `floodgate controller` loads no execa (its
// memory budget), and one execFile with an argument array is all a plugin needs.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Cluster, ExecConfig, KubeConfig, User } from './kube-config.js';

export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface Credentials {
  tls: TlsOptions;
  /** Authorization header value, when there is one. */
  authorization?: string;
}

/** Re-read a token, CA or certificate file this often (client-go: every minute). */
const FILE_TTL_MS = 60_000;
/** Refresh exec credentials this long before they expire. */
const EXEC_EARLY_MS = 10_000;

interface ExecResult {
  token?: string;
  cert?: string;
  key?: string;
  /** Epoch ms; Infinity when the plugin gave no expiry. */
  expiresAt: number;
}

/**
 * What the current cluster and user ask for that this client cannot do, as
 * one-line errors, and what it does but warns about. kubectl refuses a CA
 * beside insecure-skip-tls-verify; an auth-provider or a SOCKS proxy would
 * otherwise be silently ignored.
 */
export function supportProblems(cluster: Cluster, user: User | undefined): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const where = `cluster "${cluster.name}"`;
  if (cluster.skipTLSVerify && (cluster.caData || cluster.caFile)) {
    errors.push(`${where}: specifying a root certificates file with the insecure flag is not allowed (insecure-skip-tls-verify beside certificate-authority${cluster.caData ? '-data' : ''}, as kubectl refuses it)`);
  } else if (cluster.skipTLSVerify && cluster.server.startsWith('https:')) {
    warnings.push(`${where}: insecure-skip-tls-verify is set: the API server's certificate is not verified, so anyone on the path can read and change what the controller sends, its token included`);
  }
  if (cluster.proxyUrl !== undefined) {
    let scheme = '';
    try {
      scheme = new URL(cluster.proxyUrl).protocol;
    } catch {
      scheme = 'invalid';
    }
    if (scheme !== 'http:' && scheme !== 'https:') {
      errors.push(`${where}: proxy-url ${JSON.stringify(cluster.proxyUrl.replace(/\/\/[^@/]*@/, '//***@'))} is not supported: only http:// and https:// proxies (no SOCKS)`);
    }
  }
  if (user?.authProvider) {
    errors.push(
      `user "${user.name}": auth-provider "${user.authProvider.name}" is not supported (kubectl itself dropped the gcp and azure ones): use an exec credential plugin instead, e.g. kubelogin for oidc and azure, gke-gcloud-auth-plugin for gcp`,
    );
  }
  return { errors, warnings };
}

/** The proxy settings of the cluster's connections: its proxy-url, else the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), as client-go does. */
export function proxyEnvOf(cluster: Cluster, env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  if (cluster.proxyUrl) return { HTTPS_PROXY: cluster.proxyUrl, HTTP_PROXY: cluster.proxyUrl };
  return { HTTPS_PROXY: env.HTTPS_PROXY ?? env.https_proxy, HTTP_PROXY: env.HTTP_PROXY ?? env.http_proxy, NO_PROXY: env.NO_PROXY ?? env.no_proxy };
}

export class CredentialSource {
  private readonly cluster: Cluster;
  private readonly user: User | undefined;
  /** Contents of the CA, certificate, key and token files, with when they were read. */
  private readonly files = new Map<string, { at: number; value: string }>();
  private exec?: ExecResult;
  private execRunning?: Promise<ExecResult>;
  private lastTls?: TlsOptions;

  constructor(
    private readonly kc: KubeConfig,
    private readonly now: () => number = Date.now,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.cluster = cluster;
    this.user = kc.getCurrentUser();
    const { errors } = supportProblems(cluster, this.user);
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  get proxyUrl(): string | undefined {
    return this.cluster.proxyUrl;
  }

  get server(): string {
    return this.cluster.server;
  }

  /** Forget cached tokens, files and exec credentials (after a 401). */
  invalidate(): void {
    this.files.clear();
    this.exec = undefined;
  }

  async credentials(): Promise<Credentials> {
    // Read the user afresh: a test (or a caller) may change the token in place.
    const user = this.kc.getCurrentUser() ?? this.user;
    const files = await this.readTlsMaterial(user);
    let cert = files.cert;
    let key = files.key;
    let authorization: string | undefined;
    if (user?.exec) {
      const ex = await this.execCredential(user.exec);
      if (ex.token) authorization = `Bearer ${ex.token}`;
      if (ex.cert && ex.key) {
        cert = ex.cert;
        key = ex.key;
      }
    }
    if (!authorization && user?.token) authorization = `Bearer ${user.token}`;
    if (!authorization && user?.tokenFile) authorization = `Bearer ${(await this.readFileCached(user.tokenFile, 'token file')).trim()}`;
    if (!authorization && user?.username) {
      authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    }
    return { tls: this.tls({ ca: files.ca, cert, key }), authorization };
  }

  private tls(m: { ca?: string; cert?: string; key?: string }): TlsOptions {
    const next: TlsOptions = {
      ca: m.ca,
      cert: m.cert,
      key: m.key,
      rejectUnauthorized: !this.cluster.skipTLSVerify,
      servername: this.cluster.tlsServerName,
    };
    const last = this.lastTls;
    if (last && last.ca === next.ca && last.cert === next.cert && last.key === next.key && last.rejectUnauthorized === next.rejectUnauthorized && last.servername === next.servername) {
      return last;
    }
    this.lastTls = next;
    return next;
  }

  /** The CA, client certificate and key: data fields decoded, files read through the cache. */
  private async readTlsMaterial(user: User | undefined): Promise<{ ca?: string; cert?: string; key?: string }> {
    const pem = async (data: string | undefined, file: string | undefined, what: string): Promise<string | undefined> => {
      if (data) return Buffer.from(data, 'base64').toString('utf8');
      return file ? this.readFileCached(file, what) : undefined;
    };
    return {
      ca: await pem(this.cluster.caData, this.cluster.caFile, 'certificate-authority'),
      cert: await pem(user?.certData, user?.certFile, 'client-certificate'),
      key: await pem(user?.keyData, user?.keyFile, 'client-key'),
    };
  }

  /**
   * A file's content, read again once a minute (rotated service account
   * tokens, certificates renewed by cert-manager or kubeadm). A failed read
   * is not cached: with content read before, that content is used until a
   * read succeeds (the file may be in the middle of being replaced); without
   * it the request fails and the next one reads again.
   */
  private async readFileCached(file: string, what: string): Promise<string> {
    const now = this.now();
    const cached = this.files.get(file);
    if (cached && now - cached.at < FILE_TTL_MS) return cached.value;
    let value: string;
    try {
      value = await readFile(file, 'utf8');
    } catch (err) {
      if (cached) return cached.value;
      throw new Error(`cannot read ${what} ${file}: ${(err as Error).message}`);
    }
    this.files.set(file, { at: now, value });
    return value;
  }

  private async execCredential(cfg: ExecConfig): Promise<ExecResult> {
    if (this.exec && this.exec.expiresAt - EXEC_EARLY_MS > this.now()) return this.exec;
    this.execRunning ??= runExecPlugin(cfg, this.cluster).finally(() => {
      this.execRunning = undefined;
    });
    this.exec = await this.execRunning;
    return this.exec;
  }
}

/** Run a client.authentication.k8s.io exec plugin and read its ExecCredential. */
export function runExecPlugin(cfg: ExecConfig, cluster: Cluster): Promise<ExecResult> {
  const apiVersion = cfg.apiVersion ?? 'client.authentication.k8s.io/v1beta1';
  const spec: Record<string, unknown> = { interactive: false };
  if (cfg.provideClusterInfo) {
    spec.cluster = {
      server: cluster.server,
      'tls-server-name': cluster.tlsServerName,
      'insecure-skip-tls-verify': cluster.skipTLSVerify,
      'certificate-authority-data': cluster.caData,
      'proxy-url': cluster.proxyUrl,
    };
  }
  const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion, kind: 'ExecCredential', spec }) };
  for (const e of cfg.env ?? []) env[e.name] = e.value;
  return new Promise<ExecResult>((resolve, reject) => {
    execFile(cfg.command, cfg.args ?? [], { env, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const hint = cfg.installHint ? ` (${cfg.installHint.replace(/\s+/g, ' ').trim()})` : '';
        const why = String(stderr).replace(/\s+/g, ' ').trim().slice(0, 300) || err.message.replace(/\s+/g, ' ');
        reject(new Error(`exec credential plugin ${cfg.command} failed: ${why}${hint}`));
        return;
      }
      let cred: { kind?: unknown; status?: { token?: unknown; clientCertificateData?: unknown; clientKeyData?: unknown; expirationTimestamp?: unknown } };
      try {
        cred = JSON.parse(String(stdout)) as typeof cred;
      } catch {
        reject(new Error(`exec credential plugin ${cfg.command} printed no ExecCredential JSON`));
        return;
      }
      const st = cred.status ?? {};
      const token = typeof st.token === 'string' && st.token ? st.token : undefined;
      const cert = typeof st.clientCertificateData === 'string' && st.clientCertificateData ? st.clientCertificateData : undefined;
      const key = typeof st.clientKeyData === 'string' && st.clientKeyData ? st.clientKeyData : undefined;
      if (cred.kind !== 'ExecCredential' || (!token && !(cert && key))) {
        reject(new Error(`exec credential plugin ${cfg.command}: no token or client certificate in its ExecCredential`));
        return;
      }
      const exp = typeof st.expirationTimestamp === 'string' ? Date.parse(st.expirationTimestamp) : NaN;
      resolve({ token, cert, key, expiresAt: Number.isFinite(exp) ? exp : Infinity });
    });
  });
}
