// Node identities (docs/node-identity.md): every node that reports gets its
// own ServiceAccount, floodgate-node-<node>, bound to a ClusterRole that names
// only its own FloodgateNode. RBAC itself then makes it impossible for one
// node's agent to write another node's report (kubectl auth can-i says no,
// and the API server answers 403), on Kubernetes 1.20, which has neither
// ValidatingAdmissionPolicy nor node names in ServiceAccount tokens.
//
// An agent pod shares the DaemonSet's ServiceAccount with every other agent
// pod, so it cannot hold a node identity of its own from the start. The
// broker gives it one: the pod presents a token the kubelet bound to it
// (audience floodgate.dev/node-identity); the API server's TokenReview says
// which pod that is, the pod says which node it runs on, and the broker
// answers with a token of that node's ServiceAccount, sealed to a key the pod
// made for the request (api/node-identity/v1.ts). Each pod token is accepted
// once. With agent TLS the broker serves HTTPS with a certificate of the agent
// CA for the controller's Service, which the agents verify before their token
// leaves (startNodeIdentityServer). A host agent gets a kubeconfig for its node's identity from
// `floodgate node-identity` instead (an administrator runs it).
//
// Beside them the node's Lease (api/v1alpha1/node-lease.ts), with a Role in
// the release namespace that lets the node's ServiceAccount get and patch that
// Lease and no other. The objects are created on first use and owned by the
// FloodgateNode, so deleting a node's report (kubectl delete fgn <node>)
// removes its identity and its Lease.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import {
  NODE_IDENTITY_AUDIENCE,
  NODE_IDENTITY_PATH,
  nodeIdentityRequestSchema,
  nodeServiceAccountName,
  seal,
  type NodeIdentityResponse,
} from '../../api/node-identity/v1.js';
import { API_VERSION, FLOODGATE_NODE, GROUP, NODE_LEASE_LABELS, NODE_LEASE_SELECTOR, type FloodgateNode } from '../../api/v1alpha1/index.js';
import { LEASES } from '../../kube/kube-apis.js';
import { ResourceClient } from '../../kube/resource-client.js';
import { labelsMatch } from '../../lib/label-match.js';
import { ReloadingTlsFiles } from '../../lib/tls-files.js';
import type { RestClient } from '../../kube/rest-client.js';
import { errorMessage, statusCodeOf } from '../../kube/util.js';

/** The kinds an agent reads (the per-node ClusterRole grants get/list/watch on them). */
export const AGENT_READS = ['blockevents', 'signaturerules', 'defensepolicies'] as const;

const POD_NAME_KEY = 'authentication.kubernetes.io/pod-name';
const POD_UID_KEY = 'authentication.kubernetes.io/pod-uid';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'floodgate-controller', 'app.kubernetes.io/component': 'node-identity' };

export interface NodeIdentity {
  node: string;
  serviceAccount: { namespace: string; name: string };
}

/** The ClusterRole of one node: its own report only, and what every agent reads. */
export function nodeClusterRole(node: string, owner?: FloodgateNode) {
  const name = nodeServiceAccountName(node);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole' as const,
    metadata: { name, labels: MANAGED_BY, annotations: { 'floodgate.dev/node': node }, ...ownedBy(owner) },
    rules: [
      { apiGroups: [GROUP], resources: ['floodgatenodes'], resourceNames: [node], verbs: ['get'] },
      { apiGroups: [GROUP], resources: ['floodgatenodes/status'], resourceNames: [node], verbs: ['get', 'patch'] },
      { apiGroups: [GROUP], resources: [...AGENT_READS], verbs: ['get', 'list', 'watch'] },
    ],
  };
}

function ownedBy(owner: FloodgateNode | undefined) {
  if (!owner?.metadata.uid) return {};
  return { ownerReferences: [{ apiVersion: API_VERSION, kind: 'FloodgateNode', name: owner.metadata.name as string, uid: owner.metadata.uid }] };
}

async function createOrGet<T>(create: () => Promise<T>, get: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (statusCodeOf(err) !== 409) throw err;
    return get();
  }
}

/**
 * Make (or find) a node's report and identity: the FloodgateNode, the
 * ServiceAccount in `namespace`, its ClusterRole and ClusterRoleBinding.
 * Idempotent; the role is rewritten when its rules differ.
 */
export async function ensureNodeIdentity(rest: RestClient, node: string, namespace: string): Promise<NodeIdentity> {
  const saName = nodeServiceAccountName(node);
  const nodes = new ResourceClient<FloodgateNode>(rest, FLOODGATE_NODE);
  const report = await createOrGet(
    () =>
      nodes.create(undefined, {
        apiVersion: API_VERSION,
        kind: 'FloodgateNode',
        metadata: { name: node, labels: MANAGED_BY },
        spec: { serviceAccount: { namespace, name: saName }, lease: { namespace, name: saName } },
      }),
    () => nodes.get({ name: node }),
  );
  const wantSpec = { serviceAccount: { namespace, name: saName }, lease: { namespace, name: saName } };
  if (!isDeepStrictEqual(report.spec?.serviceAccount, wantSpec.serviceAccount) || !isDeepStrictEqual(report.spec?.lease, wantSpec.lease)) {
    await nodes.patch({ name: node }, { spec: wantSpec });
  }
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: saName, namespace, labels: MANAGED_BY, annotations: { 'floodgate.dev/node': node }, ...ownedBy(report) } };
  await createOrGet(
    () => rest.request({ method: 'POST', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts`, body: sa }),
    () => rest.request({ path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(saName)}` }),
  );
  await ensureRoleBound(rest, nodeClusterRole(node, report), { node, serviceAccount: { namespace, name: saName }, owner: report });
  await ensureNodeLease(rest, node, namespace, report);
  return { node, serviceAccount: { namespace, name: saName } };
}

/** The Role of one node in the release namespace: its own Lease only (get, patch; never create or delete). */
export function nodeLeaseRole(node: string, namespace: string, owner?: FloodgateNode) {
  const name = nodeServiceAccountName(node);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role' as const,
    metadata: { name, namespace, labels: MANAGED_BY, annotations: { 'floodgate.dev/node': node }, ...ownedBy(owner) },
    rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [name], verbs: ['get', 'patch'] }],
  };
}

/**
 * The node's Lease (api/v1alpha1/node-lease.ts), named as its ServiceAccount,
 * and the Role and RoleBinding that let that ServiceAccount renew it. Made
 * never renewed: the controller counts a node by its report until its agent
 * renews the Lease (an older agent never does).
 */
async function ensureNodeLease(rest: RestClient, node: string, namespace: string, owner: FloodgateNode): Promise<void> {
  const name = nodeServiceAccountName(node);
  const lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, labels: NODE_LEASE_LABELS, annotations: { 'floodgate.dev/node': node }, ...ownedBy(owner) },
    spec: { holderIdentity: node },
  };
  const leases = new ResourceClient<typeof lease>(rest, LEASES);
  const found = await createOrGet(
    () => leases.create(namespace, lease),
    () => leases.get({ namespace, name }),
  );
  // A Lease of that name that someone else made is not ours to hand to a node.
  if (!labelsMatch({ matchLabels: NODE_LEASE_LABELS }, found.metadata.labels ?? {})) {
    throw new Error(`Lease ${namespace}/${name} exists and is not a floodgate node Lease (labels ${NODE_LEASE_SELECTOR}): refusing to let node ${node} write it`);
  }
  await ensureRoleBound(rest, nodeLeaseRole(node, namespace, owner), { node, serviceAccount: { namespace, name }, owner });
}

/**
 * A node's (Cluster)Role, its rules rewritten when they differ, and its
 * (Cluster)RoleBinding to the node's ServiceAccount, of the same name.
 */
async function ensureRoleBound(
  rest: RestClient,
  role: { kind: 'ClusterRole' | 'Role'; metadata: { name: string; namespace?: string }; rules: unknown[] },
  o: { node: string; serviceAccount: { namespace: string; name: string }; owner: FloodgateNode },
): Promise<void> {
  const { name, namespace } = role.metadata;
  const base = `/apis/rbac.authorization.k8s.io/v1${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}`;
  const rolePath = `${base}/${role.kind === 'Role' ? 'roles' : 'clusterroles'}`;
  const existing = await createOrGet(
    () => rest.request<typeof role>({ method: 'POST', path: rolePath, body: role }),
    () => rest.request<typeof role>({ path: `${rolePath}/${encodeURIComponent(name)}` }),
  );
  if (JSON.stringify(existing.rules) !== JSON.stringify(role.rules)) {
    await rest.request({ method: 'PATCH', path: `${rolePath}/${encodeURIComponent(name)}`, body: { rules: role.rules } });
  }
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: `${role.kind}Binding`,
    metadata: { name, ...(namespace ? { namespace } : {}), labels: MANAGED_BY, annotations: { 'floodgate.dev/node': o.node }, ...ownedBy(o.owner) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: role.kind, name },
    subjects: [{ kind: 'ServiceAccount', ...o.serviceAccount }],
  };
  const bindingPath = rolePath.replace(/roles$/, 'rolebindings');
  await createOrGet(
    () => rest.request({ method: 'POST', path: bindingPath, body: binding }),
    () => rest.request({ path: `${bindingPath}/${encodeURIComponent(name)}` }),
  );
}

/** A token of a ServiceAccount (TokenRequest), for the API server's own audience. */
export async function issueToken(rest: RestClient, sa: { namespace: string; name: string }, seconds: number): Promise<{ token: string; expiresAt: string }> {
  const r = await rest.request<{ status?: { token?: string; expirationTimestamp?: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${encodeURIComponent(sa.namespace)}/serviceaccounts/${encodeURIComponent(sa.name)}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: seconds } },
  });
  if (!r.status?.token || !r.status.expirationTimestamp) throw new Error(`TokenRequest for ${sa.namespace}/${sa.name} returned no token`);
  return { token: r.status.token, expiresAt: r.status.expirationTimestamp };
}

export interface NodeIdentityBrokerOptions {
  rest: RestClient;
  /** Where node ServiceAccounts live (the release namespace). */
  namespace: string;
  /** The agent ServiceAccounts ("namespace/name") whose pods may ask. */
  agentServiceAccounts: readonly string[];
  /** Lifetime of an issued node token. Default 1 hour. */
  tokenSeconds?: number;
  logger: Logger;
  now?: () => number;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY = 16 * 1024;
const MAX_INFLIGHT = 8;

/** The `exp` claim of a JWT (not verified: the TokenReview did that). */
function jwtExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export class NodeIdentityBroker {
  private readonly used = new Map<string, number>();
  private inflight = 0;
  /** Identities issued and requests refused, for tests and metrics. */
  readonly stats = { issued: 0, refused: 0 };

  constructor(private readonly opts: NodeIdentityBrokerOptions) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** The HTTP handler: POST /v1/node-identity. */
  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.url !== NODE_IDENTITY_PATH) return reply(404, { error: 'not found' });
    if (req.method !== 'POST') return reply(405, { error: 'POST only' });
    if (this.inflight >= MAX_INFLIGHT) return reply(429, { error: 'busy: try again' });
    this.inflight++;
    void this.answer(req)
      .then((body) => {
        this.stats.issued++;
        reply(200, body);
      })
      .catch((err: unknown) => {
        this.stats.refused++;
        if (err instanceof Refusal) {
          this.opts.logger.warn({ status: err.status, why: err.message, from: req.socket.remoteAddress }, 'node identity refused');
          reply(err.status, { error: err.message });
        } else {
          this.opts.logger.error({ err: errorMessage(err) }, 'node identity failed');
          reply(500, { error: 'the controller could not issue a node identity; see its log' });
        }
      })
      .finally(() => this.inflight--);
  };

  private async body(req: http.IncomingMessage): Promise<unknown> {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) throw new Refusal(415, 'the body must be application/json');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) throw new Refusal(413, `the body is larger than ${MAX_BODY} bytes`);
      chunks.push(chunk as Buffer);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new Refusal(400, 'the body is not JSON');
    }
  }

  private async answer(req: http.IncomingMessage): Promise<NodeIdentityResponse> {
    const auth = req.headers.authorization ?? '';
    const podToken = /^Bearer (\S+)$/.exec(auth)?.[1];
    if (!podToken) throw new Refusal(401, 'no bearer token: send the pod-bound token of the agent\'s ServiceAccount');
    const parsed = nodeIdentityRequestSchema.safeParse(await this.body(req));
    if (!parsed.success) throw new Refusal(400, 'the body must be {"publicKey": "<X25519 SPKI DER, base64>"}');

    const digest = crypto.createHash('sha256').update(podToken).digest('base64');
    const now = this.now();
    for (const [k, until] of this.used) if (until <= now) this.used.delete(k);
    if (this.used.has(digest)) throw new Refusal(401, 'this pod token was used already: each is accepted once');

    const { rest, namespace } = this.opts;
    const review = await rest.request<{ status?: { authenticated?: boolean; error?: string; audiences?: string[]; user?: { username?: string; extra?: Record<string, string[]> } } }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: podToken, audiences: [NODE_IDENTITY_AUDIENCE] } },
    });
    const st = review.status ?? {};
    if (!st.authenticated) throw new Refusal(401, `the API server did not accept the token${st.error ? `: ${st.error}` : ''}`);
    if (!(st.audiences ?? []).includes(NODE_IDENTITY_AUDIENCE)) throw new Refusal(401, `the token is not for ${NODE_IDENTITY_AUDIENCE}`);
    const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(st.user?.username ?? '');
    if (!m) throw new Refusal(403, `${st.user?.username ?? 'the token'} is not a ServiceAccount`);
    const [, saNamespace = '', saName = ''] = m;
    if (!this.opts.agentServiceAccounts.includes(`${saNamespace}/${saName}`)) {
      throw new Refusal(403, `${saNamespace}/${saName} is not an agent ServiceAccount (${this.opts.agentServiceAccounts.join(', ') || 'none configured'})`);
    }
    const podName = st.user?.extra?.[POD_NAME_KEY]?.[0];
    const podUid = st.user?.extra?.[POD_UID_KEY]?.[0];
    if (!podName || !podUid) throw new Refusal(403, 'the token is not bound to a pod (use a projected serviceAccountToken volume)');
    let pod: { metadata?: { uid?: string; deletionTimestamp?: string }; spec?: { nodeName?: string; serviceAccountName?: string } };
    try {
      pod = await rest.request({ path: `/api/v1/namespaces/${encodeURIComponent(saNamespace)}/pods/${encodeURIComponent(podName)}` });
    } catch (err) {
      if (statusCodeOf(err) === 404) throw new Refusal(403, `pod ${saNamespace}/${podName} does not exist`);
      throw err;
    }
    if (pod.metadata?.uid !== podUid) throw new Refusal(403, `pod ${saNamespace}/${podName} is not the pod the token was bound to`);
    if (pod.metadata?.deletionTimestamp) throw new Refusal(403, `pod ${saNamespace}/${podName} is terminating`);
    if ((pod.spec?.serviceAccountName ?? 'default') !== saName) throw new Refusal(403, `pod ${saNamespace}/${podName} runs as another ServiceAccount`);
    const node = pod.spec?.nodeName;
    if (!node) throw new Refusal(403, `pod ${saNamespace}/${podName} is not on a node yet`);
    this.used.set(digest, jwtExpiry(podToken) ?? now + 3_600_000);

    const identity = await ensureNodeIdentity(rest, node, namespace);
    const issued = await issueToken(rest, identity.serviceAccount, this.opts.tokenSeconds ?? 3600);
    this.opts.logger.info({ node, pod: `${saNamespace}/${podName}`, serviceAccount: `${namespace}/${identity.serviceAccount.name}`, expiresAt: issued.expiresAt }, 'issued a node identity');
    let sealed;
    try {
      sealed = seal(parsed.data.publicKey, issued.token);
    } catch (err) {
      throw new Refusal(400, `publicKey: ${(err as Error).message}`);
    }
    return { node, serviceAccount: identity.serviceAccount, expiresAt: issued.expiresAt, token: sealed };
  }
}

export interface NodeIdentityServerTls {
  /** PEM certificate chain of the broker (a certificate of the agent CA naming the controller's Service). */
  certFile: string;
  /** Its PEM private key. */
  keyFile: string;
  /** How often the files are looked at again (a renewed certificate is used without a restart). Default 10 s. */
  reloadMs?: number;
}

export interface NodeIdentityServerOptions {
  port: number;
  host?: string;
  /** Serve HTTPS with these files (docs/node-identity.md): the pod tokens agents send never cross the network in clear. */
  tls?: NodeIdentityServerTls;
  logger?: Logger;
}

/**
 * Serve the broker on its own port (every replica may answer: it only asks
 * the API server). With tls, HTTPS only: the files are checked before the
 * socket opens (TlsFileError, one line) and re-read every reloadMs; a bad new
 * set is logged and the previous certificate kept.
 */
export async function startNodeIdentityServer(broker: NodeIdentityBroker, opts: NodeIdentityServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const host = opts.host ?? '0.0.0.0';
  const files = opts.tls
    ? new ReloadingTlsFiles(
        { certFile: opts.tls.certFile, keyFile: opts.tls.keyFile },
        { checkEveryMs: opts.tls.reloadMs ?? 10_000, onError: (err) => opts.logger?.error({ err: err.message }, 'node identity broker: new TLS files refused, still serving the previous certificate') },
      )
    : undefined;
  const context = () => {
    const m = files!.current();
    return { cert: m.cert, key: m.key };
  };
  const server: http.Server = files ? https.createServer({ ...context(), minVersion: 'TLSv1.2' }, broker.handle) : http.createServer(broker.handle);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.maxConnections = 256;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  const addr = server.address() as { port: number };
  let reload: NodeJS.Timeout | undefined;
  if (files) {
    const describe = () => {
      const leaf = files.current().leaf;
      return { subject: leaf?.subject.replace(/\n/g, ', '), subjectAltName: leaf?.subjectAltName, validTo: leaf ? new Date(leaf.validTo).toISOString() : undefined, fingerprint256: leaf?.fingerprint256 };
    };
    opts.logger?.info(describe(), 'node identity broker serves HTTPS');
    reload = setInterval(() => {
      if (!files.check()) return;
      (server as https.Server).setSecureContext(context());
      opts.logger?.info(describe(), 'node identity broker: TLS files changed, new certificate in use');
    }, opts.tls?.reloadMs ?? 10_000);
    reload.unref();
  } else if (!['127.0.0.1', '::1', 'localhost'].includes(host)) {
    opts.logger?.warn(
      { host, port: addr.port },
      'node identity broker served over plain HTTP beyond loopback: agents\' pod tokens cross the network in clear; give it a certificate (--node-identity-cert-file, --node-identity-key-file; docs/node-identity.md)',
    );
  }
  return {
    url: `${files ? 'https' : 'http'}://127.0.0.1:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(reload);
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
