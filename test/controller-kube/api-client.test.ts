/**
 * makeApiClient against a local HTTPS server with its own CA (as an API
 * server): calls share one TLS connection instead of one each, the
 * kubeconfig's token is still sent on every call (and a changed token is
 * used from the next call on), and the CA is still verified.
 *
 *   node --test dist/test/controller-kube/api-client.test.js
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { makeApiClient } from '../../controller/kube/api-client.js';

let server: https.Server;
let port = 0;
let caPem = '';
let tlsConnections = 0;
const seenAuth: string[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-api-client-'));

function kubeConfig(token: string, ca = caPem): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(ca).toString('base64') }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const get = (api: CustomObjectsApi, name: string) =>
  api.getNamespacedCustomObject({ group: 'floodgate.dev', version: 'v1alpha1', namespace: 'default', plural: 'blockevents', name });

before(async () => {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  caPem = fs.readFileSync(cert, 'utf8');
  server = https.createServer({ key: fs.readFileSync(key), cert: caPem }, (req, res) => {
    seenAuth.push(String(req.headers.authorization));
    const name = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ apiVersion: 'floodgate.dev/v1alpha1', kind: 'BlockEvent', metadata: { name, namespace: 'default' } }));
  });
  server.on('secureConnection', () => tlsConnections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('makeApiClient', () => {
  it('sends 20 sequential calls over one TLS connection, each with the token', async () => {
    tlsConnections = 0;
    seenAuth.length = 0;
    const api = makeApiClient(kubeConfig('token-a'), CustomObjectsApi);
    for (let i = 0; i < 20; i++) {
      const obj = (await get(api, `be-${i}`)) as { metadata: { name: string } };
      assert.equal(obj.metadata.name, `be-${i}`);
    }
    assert.equal(tlsConnections, 1, 'one connection for all calls');
    assert.deepEqual(new Set(seenAuth), new Set(['Bearer token-a']));
    assert.equal(seenAuth.length, 20);
  });

  it('client-node\'s own makeApiClient opens a connection per call (why makeApiClient exists)', async () => {
    tlsConnections = 0;
    const api = kubeConfig('token-a').makeApiClient(CustomObjectsApi);
    for (let i = 0; i < 5; i++) await get(api, `be-${i}`);
    assert.equal(tlsConnections, 5);
  });

  it('uses a token changed in the kubeconfig from the next call on', async () => {
    seenAuth.length = 0;
    const kc = kubeConfig('token-a');
    const api = makeApiClient(kc, CustomObjectsApi);
    await get(api, 'one');
    // As a rotated token would be (the User type is read-only).
    (kc.getCurrentUser() as { token?: string }).token = 'token-b';
    await get(api, 'two');
    assert.deepEqual(seenAuth, ['Bearer token-a', 'Bearer token-b']);
  });

  it('still verifies the server against the kubeconfig\'s CA', async () => {
    const other = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
    // A CA that did not sign the server's certificate.
    const { stdout } = await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k2.pem'), '-days', '1', '-subj', '/CN=other']);
    assert.notEqual(stdout, other);
    const api = makeApiClient(kubeConfig('token-a', stdout), CustomObjectsApi);
    await assert.rejects(get(api, 'x'), /certificate|self.signed|unable to verify/i);
  });
});
