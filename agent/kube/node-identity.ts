// The identity the agent writes its FloodgateNode with (docs/node-identity.md):
//   - a host agent: the kubeconfig it was given (floodgate node-identity made
//     it for this node's ServiceAccount);
//   - in a pod: a token of the node's own ServiceAccount, which the
//     controller's broker issues after checking, with the API server, which
//     pod asks and on which node it runs (api/node-identity/v1.ts). Renewed at
//     80% of its life, and after a 401.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { FLOODGATE_NODE, type FloodgateNode } from '../../api/v1alpha1/index.js';
import {
  NODE_IDENTITY_PATH,
  nodeIdentityErrorSchema,
  nodeIdentityResponseSchema,
  requestKeys,
} from '../../api/node-identity/v1.js';
import { KubeConfig } from '../../kube/kube-config.js';
import { ResourceClient } from '../../kube/resource-client.js';
import { RestClient } from '../../kube/rest-client.js';
import { loadTlsFiles } from '../../lib/tls-files.js';
import type { NodeIdentitySource } from './node-report.js';

/** The host agent's case: the kubeconfig is the node's identity. */
export class KubeconfigIdentity implements NodeIdentitySource {
  private readonly resources: ResourceClient<FloodgateNode>;

  constructor(rest: RestClient) {
    this.resources = new ResourceClient<FloodgateNode>(rest, FLOODGATE_NODE);
  }

  async client(): Promise<ResourceClient<FloodgateNode>> {
    return this.resources;
  }

  invalidate(): void {
    // The kubeconfig's credentials are re-read by the REST client itself.
  }
}

export interface BrokeredIdentityOptions {
  /** The controller's node identity port, e.g. https://floodgate-controller.floodgate.svc:8082. */
  url: string;
  /**
   * PEM CA bundle the broker's certificate must chain to (the agent CA).
   * Without it an https:// broker is verified against the system's CAs.
   * With it an http:// broker is refused, unless allowPlainHttp.
   */
  caFile?: string;
  /** Send the pod token to an http:// broker although caFile is set (it then crosses the network in clear). */
  allowPlainHttp?: boolean;
  /** The pod-bound ServiceAccount token with the node identity audience (a projected volume). */
  tokenFile: string;
  /** The API server (its cluster entry: server, CA) the node token is used against. */
  cluster: KubeConfig;
  node: string;
  logger: Logger;
  now?: () => number;
}

const MAX_ANSWER_BYTES = 64 * 1024;

export class BrokeredIdentity implements NodeIdentitySource {
  private readonly kc = new KubeConfig();
  private readonly rest: RestClient;
  private readonly resources: ResourceClient<FloodgateNode>;
  private renewAt = 0;
  private renewing?: Promise<void>;

  private readonly broker: URL;

  constructor(private readonly opts: BrokeredIdentityOptions) {
    this.broker = new URL(NODE_IDENTITY_PATH, opts.url);
    if (this.broker.protocol !== 'https:' && this.broker.protocol !== 'http:') throw new Error(`node identity: ${opts.url} is not an http:// or https:// URL`);
    if (this.broker.protocol === 'http:' && opts.caFile && !opts.allowPlainHttp) {
      throw new Error(`node identity: refusing to send the pod token to ${this.broker.origin} over plain HTTP while a CA (${opts.caFile}) is configured: use the broker's https:// URL, or allow plain HTTP explicitly`);
    }
    // Checked now (TlsFileError, one line), and read again at every renewal: a rotated CA is used.
    if (opts.caFile && this.broker.protocol === 'https:') loadTlsFiles({ caFile: opts.caFile });
    const cluster = opts.cluster.getCurrentCluster();
    if (!cluster) throw new Error('node identity: the kubeconfig has no current cluster');
    this.kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'floodgate-node', token: '' }],
      contexts: [{ name: 'floodgate-node', cluster: cluster.name, user: 'floodgate-node' }],
      currentContext: 'floodgate-node',
    });
    this.rest = new RestClient(this.kc);
    this.resources = new ResourceClient<FloodgateNode>(this.rest, FLOODGATE_NODE);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async client(): Promise<ResourceClient<FloodgateNode>> {
    if (this.now() >= this.renewAt) await (this.renewing ??= this.renew().finally(() => (this.renewing = undefined)));
    return this.resources;
  }

  invalidate(): void {
    this.renewAt = 0;
  }

  close(): void {
    this.rest.close();
  }

  private async renew(): Promise<void> {
    let podToken: string;
    try {
      podToken = (await readFile(this.opts.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new Error(`node identity: cannot read the pod's token ${this.opts.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const keys = requestKeys();
    const url = this.broker;
    const ca = url.protocol === 'https:' && this.opts.caFile ? loadTlsFiles({ caFile: this.opts.caFile }).ca : undefined;
    const res = await postJson(url, { authorization: `Bearer ${podToken}` }, JSON.stringify({ publicKey: keys.publicKey }), ca);
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw new Error(`node identity: ${url.origin} answered HTTP ${res.status} with no JSON`);
    }
    if (res.status < 200 || res.status > 299) {
      const e = nodeIdentityErrorSchema.safeParse(body);
      throw new Error(`node identity: ${url.origin} refused (HTTP ${res.status}): ${e.success ? e.data.error : 'no reason given'}`);
    }
    const answer = nodeIdentityResponseSchema.safeParse(body);
    if (!answer.success) throw new Error(`node identity: ${url.origin} answered something that is not a node identity`);
    if (answer.data.node !== this.opts.node) {
      throw new Error(`node identity: the broker says this pod runs on ${answer.data.node}, not ${this.opts.node} ($NODE_NAME)`);
    }
    const token = keys.open(answer.data.token);
    // The REST client reads the current user afresh for every request.
    this.kc.users = [{ name: 'floodgate-node', token }];
    const now = this.now();
    const expires = Date.parse(answer.data.expiresAt);
    this.renewAt = now + Math.max(30_000, (expires - now) * 0.8);
    this.opts.logger.info({ serviceAccount: `${answer.data.serviceAccount.namespace}/${answer.data.serviceAccount.name}`, expiresAt: answer.data.expiresAt }, 'got this node\'s identity');
  }
}

/**
 * POST a JSON body to the broker and read its answer (capped). Over https://
 * the broker's certificate must chain to `ca` (else the system's CAs) and
 * name the URL's host: the TLS handshake comes first, so a broker that fails
 * it never sees the request, token included. Redirects are not followed: the
 * token goes to the configured URL or nowhere.
 */
function postJson(url: URL, headers: Record<string, string>, body: string, ca: Buffer | undefined): Promise<{ status: number; text: string }> {
  const options: https.RequestOptions = {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    timeout: 10_000,
    ...(url.protocol === 'https:' ? { minVersion: 'TLSv1.2' as const, ...(ca ? { ca } : {}), agent: false } : { agent: false }),
  };
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          res.destroy();
          reject(new Error(`node identity: the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const tls = url.protocol === 'https:' && (err.code?.startsWith('ERR_TLS_') || /certificate|self.signed|SSL|TLS/i.test(`${err.code ?? ''} ${err.message}`));
      reject(
        new Error(
          tls
            ? `node identity: ${url.origin} failed TLS (${err.code ?? 'handshake'}: ${err.message}); the pod token was not sent`
            : `node identity: cannot reach ${url.origin}: ${err.code ?? err.message}`,
          { cause: err },
        ),
      );
    });
    req.end(body);
  });
}
