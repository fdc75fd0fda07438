// How a request to the API server authenticates, from the kubeconfig's
// current cluster and user, as kubectl does it:
//   - TLS: the cluster's CA (data or file), insecure-skip-tls-verify,
//     tls-server-name; the user's client certificate and key (data or files);
//   - a bearer token: `token`, or `tokenFile` re-read every minute (in-cluster
//     service account tokens rotate), or an exec credential plugin
//     (client.authentication.k8s.io ExecCredential: a token and/or a client
//     certificate, cached until its expirationTimestamp);
//   - basic auth (username/password) when that is all there is.
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

/** Re-read a token file this often (client-go: every minute). */
const TOKEN_FILE_TTL_MS = 60_000;
/** Refresh exec credentials this long before they expire. */
const EXEC_EARLY_MS = 10_000;

interface ExecResult {
  token?: string;
  cert?: string;
  key?: string;
  /** Epoch ms; Infinity when the plugin gave no expiry. */
  expiresAt: number;
}

export class CredentialSource {
  private readonly cluster: Cluster;
  private readonly user: User | undefined;
  private staticTls?: Promise<{ ca?: string; cert?: string; key?: string }>;
  private tokenFile?: { at: number; value: string };
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
  }

  get server(): string {
    return this.cluster.server;
  }

  /** Forget cached tokens and exec credentials (after a 401). */
  invalidate(): void {
    this.tokenFile = undefined;
    this.exec = undefined;
  }

  async credentials(): Promise<Credentials> {
    // Read the user afresh: a test (or a caller) may change the token in place.
    const user = this.kc.getCurrentUser() ?? this.user;
    const files = await (this.staticTls ??= this.readStaticTls(user));
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
    if (!authorization && user?.tokenFile) authorization = `Bearer ${await this.readTokenFile(user.tokenFile)}`;
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

  private async readStaticTls(user: User | undefined): Promise<{ ca?: string; cert?: string; key?: string }> {
    const pem = async (data: string | undefined, file: string | undefined, what: string): Promise<string | undefined> => {
      if (data) return Buffer.from(data, 'base64').toString('utf8');
      if (!file) return undefined;
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        throw new Error(`cannot read ${what} ${file}: ${(err as Error).message}`);
      }
    };
    return {
      ca: await pem(this.cluster.caData, this.cluster.caFile, 'certificate-authority'),
      cert: await pem(user?.certData, user?.certFile, 'client-certificate'),
      key: await pem(user?.keyData, user?.keyFile, 'client-key'),
    };
  }

  private async readTokenFile(file: string): Promise<string> {
    const now = this.now();
    if (this.tokenFile && now - this.tokenFile.at < TOKEN_FILE_TTL_MS) return this.tokenFile.value;
    let value: string;
    try {
      value = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      // A token we read before is better than none while the file is being replaced.
      if (this.tokenFile) return this.tokenFile.value;
      throw new Error(`cannot read token file ${file}: ${(err as Error).message}`);
    }
    this.tokenFile = { at: now, value };
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
