// The identity the agent writes its FloodgateNode with (docs/node-identity.md):
//   - a host agent: the kubeconfig it was given (floodgate node-identity made
//     it for this node's ServiceAccount);
//   - in a pod: a token of the node's own ServiceAccount, which the
//     controller's broker issues after checking, with the API server, which
//     pod asks and on which node it runs (api/node-identity/v1.ts). Renewed at
//     80% of its life, and after a 401.
import { readFile } from 'node:fs/promises';
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
  /** The controller's node identity port, e.g. http://floodgate-controller.floodgate.svc:8082. */
  url: string;
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

  constructor(private readonly opts: BrokeredIdentityOptions) {
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
    const url = new URL(NODE_IDENTITY_PATH, this.opts.url);
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${podToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ publicKey: keys.publicKey }),
      redirect: 'error',
      signal: AbortSignal.timeout(10_000),
    });
    const text = await readCapped(res);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`node identity: ${url.origin} answered HTTP ${res.status} with no JSON`);
    }
    if (!res.ok) {
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

async function readCapped(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new Error(`node identity: the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
