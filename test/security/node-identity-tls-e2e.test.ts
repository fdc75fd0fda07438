// The node identity broker over HTTPS with the real controller on the test
// API server (docs/node-identity.md):
//   - the controller serves the broker with a certificate of the agent CA;
//     an agent (agent/kube/node-identity.ts) that trusts that CA gets its
//     node's identity with a pod-bound token and writes its own report;
//   - an agent that trusts another CA refuses the controller's broker, and
//     its pod token never reaches the controller: the same token is accepted
//     afterwards (the broker takes each token once);
//   - the broker's port speaks no plain HTTP.
//
//   FLOODGATE_CP_STATE_DIR (default /tmp/floodgate-cp-identity-tls): the API server's state dir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { NODE_IDENTITY_AUDIENCE, NODE_IDENTITY_PATH } from '../../api/node-identity/v1.js';
import { FLOODGATE_NODE, type FloodgateNode } from '../../api/v1alpha1/index.js';
import { BrokeredIdentity } from '../../agent/kube/node-identity.js';
import { startController, type RunningController } from '../../controller/controller.js';
import { loadKubeConfig } from '../../kube/kube-config.js';
import { ResourceClient } from '../../kube/resource-client.js';
import { RestClient } from '../../kube/rest-client.js';
import { statusCodeOf } from '../../kube/util.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { e2eControllerOptions, kubectl, kubectlOrThrow, startApiServerWithCrds, stopApiServer } from '../controller/e2e-env.js';
import { testPki, type Issued, type TestCa, type TestPki } from '../support/test-pki.js';

const STATE_DIR = process.env.FLOODGATE_CP_STATE_DIR || '/tmp/floodgate-cp-identity-tls';
const NS = `fgit-${Date.now().toString(36)}`;
const NODE = 'node-tls';
const logger = pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' });

describe('node identity broker over HTTPS (real API server and controller)', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let controller: RunningController;
  let rest: RestClient;
  let pki: TestPki;
  let agentCa: TestCa;
  let otherCa: TestCa;
  let brokerCert: Issued;
  const k = kubectlOrThrow(() => cp.kubeconfig);

  before(async () => {
    pki = testPki();
    agentCa = await pki.ca('agent-ca');
    otherCa = await pki.ca('other-ca');
    brokerCert = await agentCa.serving('floodgate-controller-node-identity', { dns: ['localhost'] });
    cp = await startApiServerWithCrds(STATE_DIR);
    await k(['wait', '--for=condition=Established', '--timeout=60s', 'crd/floodgatenodes.floodgate.dev']);
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'serviceaccount', 'floodgate-agent']);
    rest = new RestClient(loadKubeConfig({ kubeconfig: cp.kubeconfig }));
    controller = await startController(
      e2eControllerOptions(cp.kubeconfig, NS, {
        selectorAgentsWatch: true,
        nodeIdentity: { port: 0, host: '127.0.0.1', agentServiceAccounts: [`${NS}/floodgate-agent`], tokenSeconds: 600, tls: { certFile: brokerCert.certFile, keyFile: brokerCert.keyFile } },
      }),
    );
  });

  after(async () => {
    await controller?.stop().catch(() => undefined);
    rest?.close();
    if (cp) await kubectl(cp.kubeconfig, ['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
    pki?.remove();
    await stopApiServer(STATE_DIR);
  });

  /** What the kubelet mounts for the DaemonSet's projected volume: a token of the agent ServiceAccount bound to its pod. */
  async function podToken(podName: string): Promise<string> {
    await k(['apply', '-f', '-'], `apiVersion: v1
kind: Pod
metadata: {name: ${podName}, namespace: ${NS}}
spec:
  nodeName: ${NODE}
  serviceAccountName: floodgate-agent
  containers: [{name: agent, image: floodgate-agent:test}]
`);
    const uid = (JSON.parse(await k(['-n', NS, 'get', 'pod', podName, '-o', 'json'])) as { metadata: { uid: string } }).metadata.uid;
    const r = await rest.request<{ status: { token: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${NS}/serviceaccounts/floodgate-agent/token`,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [NODE_IDENTITY_AUDIENCE], expirationSeconds: 600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: podName, uid } } },
    });
    return r.status.token;
  }

  const brokerUrl = () => (controller.nodeIdentityUrl as string).replace('127.0.0.1', 'localhost');
  const agent = (tokenFile: string, caFile: string) =>
    new BrokeredIdentity({ url: brokerUrl(), tokenFile, caFile, cluster: loadKubeConfig({ kubeconfig: cp.kubeconfig }), node: NODE, logger });

  it('serves HTTPS; an agent of another CA refuses it and its token never arrives; an agent trusting the agent CA gets its node\'s identity with that same token', async () => {
    assert.match(controller.nodeIdentityUrl ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    const tokenFile = path.join(pki.dir, 'pod-token');
    fs.writeFileSync(tokenFile, await podToken('agent-tls'));

    const wrong = agent(tokenFile, otherCa.certFile);
    await assert.rejects(wrong.client(), /failed TLS \(.*\); the pod token was not sent/);
    wrong.close();

    // Had the token reached the broker, it would be spent (each is accepted once): it is not.
    const right = agent(tokenFile, agentCa.certFile);
    const reports = await right.client();
    await reports.patchStatus({ name: NODE }, { ownBansTotal: 3 });
    const nodes = new ResourceClient<FloodgateNode>(rest, FLOODGATE_NODE);
    const report = await nodes.get({ name: NODE });
    assert.equal(report.status?.ownBansTotal, 3);
    assert.equal(report.spec.serviceAccount?.name, `floodgate-node-${NODE}`);
    // The identity is this node's only.
    await k(['apply', '-f', '-'], `apiVersion: floodgate.dev/v1alpha1\nkind: FloodgateNode\nmetadata: {name: other-node}\nspec: {}\n`);
    await assert.rejects(reports.patchStatus({ name: 'other-node' }, { ownBansTotal: 1 }), (err: unknown) => statusCodeOf(err) === 403);
    right.close();

    // The token was spent by the one good exchange.
    const again = agent(tokenFile, agentCa.certFile);
    await assert.rejects(again.client(), /refused \(HTTP 401\): this pod token was used already/);
    again.close();
  });

  it('the broker\'s port speaks no plain HTTP: a request sent in clear gets no answer', async () => {
    const port = new URL(controller.nodeIdentityUrl as string).port;
    const result = await new Promise<string>((resolve) => {
      const req = http.request(`http://127.0.0.1:${port}${NODE_IDENTITY_PATH}`, { method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, timeout: 10_000 }, (res) => {
        res.resume();
        resolve(`HTTP ${res.statusCode}`);
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end('{}');
    });
    // The TLS server drops a connection that does not start with a TLS handshake.
    assert.match(result, /ECONNRESET|socket hang up/);
  });
});
