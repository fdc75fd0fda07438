/**
 * RestClient against a local HTTPS server with its own CA (as an API
 * server): calls share one TLS connection, the kubeconfig's credentials are
 * sent on every call (a changed token from the next call on, a token file
 * re-read once a minute, an exec plugin's token cached until it expires and
 * dropped after a 401, a client certificate), the CA is verified, and errors
 * carry the HTTP status and the server's Status message.
 *
 *   node --test dist/test/kube/rest-client.test.js
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { KubeConfig, KubeConfigError, loadKubeConfig, type User } from '../../kube/kube-config.js';
import { CustomObjectsClient } from '../../kube/kube-apis.js';
import { KubeApiError, MERGE_PATCH, RestClient } from '../../kube/rest-client.js';
import { errorMessage, statusCodeOf } from '../../kube/util.js';

let server: https.Server;
let port = 0;
let caPem = '';
let clientCaPem = '';
let tlsConnections = 0;
interface Seen {
  method: string;
  url: string;
  auth: string;
  contentType: string;
  body: string;
  clientCN?: string;
}
const seen: Seen[] = [];
let answer401 = false;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-rest-client-'));

function kubeConfig(user: Partial<User>, ca = caPem): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(ca).toString('base64') }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const ref = (name: string) => ({ group: 'floodgate.dev', version: 'v1alpha1', namespace: 'default', plural: 'blockevents', name });
const get = (rest: RestClient, name: string) => new CustomObjectsClient(rest).get<{ metadata: { name: string } }>(ref(name));
const auths = () => seen.map((s) => s.auth);

async function openssl(args: string[]): Promise<void> {
  await execa('openssl', args);
}

before(async () => {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  caPem = fs.readFileSync(cert, 'utf8');
  // A client CA and a client certificate it signed.
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'cca.key'), '-out', path.join(dir, 'cca.pem'), '-days', '1', '-subj', '/CN=client-ca']);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'client.key'), '-out', path.join(dir, 'client.csr'), '-subj', '/CN=floodgate-controller']);
  await openssl(['x509', '-req', '-in', path.join(dir, 'client.csr'), '-CA', path.join(dir, 'cca.pem'), '-CAkey', path.join(dir, 'cca.key'), '-CAcreateserial', '-out', path.join(dir, 'client.pem'), '-days', '1']);
  clientCaPem = fs.readFileSync(path.join(dir, 'cca.pem'), 'utf8');
  server = https.createServer({ key: fs.readFileSync(key), cert: caPem, ca: clientCaPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        auth: String(req.headers.authorization),
        contentType: String(req.headers['content-type']),
        body,
        clientCN: (req.socket as TLSSocket).authorized && peer?.subject ? String(peer.subject.CN) : undefined,
      });
      res.setHeader('content-type', 'application/json');
      const name = decodeURIComponent((req.url ?? '').split('?')[0]!.split('/').pop() ?? '');
      if (answer401) {
        res.statusCode = 401;
        res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }));
        return;
      }
      if (name === 'missing') {
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'blockevents.floodgate.dev "missing" not found', reason: 'NotFound', code: 404 }));
        return;
      }
      res.end(JSON.stringify({ apiVersion: 'floodgate.dev/v1alpha1', kind: 'BlockEvent', metadata: { name, namespace: 'default' } }));
    });
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

describe('RestClient', () => {
  it('sends 20 sequential calls over one TLS connection, each with the token', async () => {
    tlsConnections = 0;
    seen.length = 0;
    const rest = new RestClient(kubeConfig({ token: 'token-a' }));
    for (let i = 0; i < 20; i++) {
      const obj = await get(rest, `be-${i}`);
      assert.equal(obj.metadata.name, `be-${i}`);
    }
    assert.equal(tlsConnections, 1, 'one connection for all calls');
    assert.deepEqual(new Set(auths()), new Set(['Bearer token-a']));
    assert.equal(seen.length, 20);
    rest.close();
  });

  it('uses a token changed in the kubeconfig from the next call on', async () => {
    seen.length = 0;
    const kc = kubeConfig({ token: 'token-a' });
    const rest = new RestClient(kc);
    await get(rest, 'one');
    (kc.getCurrentUser() as { token?: string }).token = 'token-b';
    await get(rest, 'two');
    assert.deepEqual(auths(), ['Bearer token-a', 'Bearer token-b']);
    rest.close();
  });

  it('re-reads a token file once a minute (rotated service account tokens)', async () => {
    seen.length = 0;
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, 'sa-token-1\n');
    let now = 1_000_000;
    const rest = new RestClient(kubeConfig({ tokenFile: file }), { now: () => now });
    await get(rest, 'a');
    fs.writeFileSync(file, 'sa-token-2\n');
    now += 30_000;
    await get(rest, 'b');
    now += 31_000;
    await get(rest, 'c');
    assert.deepEqual(auths(), ['Bearer sa-token-1', 'Bearer sa-token-1', 'Bearer sa-token-2']);
    rest.close();
  });

  it('runs an exec credential plugin, caches its token until it expires, and drops it after a 401', async () => {
    seen.length = 0;
    const counter = path.join(dir, 'exec-count');
    fs.writeFileSync(counter, '0');
    const plugin = path.join(dir, 'plugin.sh');
    const expires = path.join(dir, 'exec-expires');
    fs.writeFileSync(expires, '2030-01-01T00:01:00Z');
    // Each run hands out a new token, expiring at the time in the expires file.
    fs.writeFileSync(
      plugin,
      `#!/bin/sh
n=$(($(cat "${counter}") + 1)); echo $n > "${counter}"
case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no exec info" >&2; exit 1;; esac
echo "{\\"apiVersion\\":\\"client.authentication.k8s.io/v1beta1\\",\\"kind\\":\\"ExecCredential\\",\\"status\\":{\\"token\\":\\"exec-$n-$GREETING\\",\\"expirationTimestamp\\":\\"$(cat "${expires}")\\"}}"
`,
      { mode: 0o755 },
    );
    let now = Date.parse('2030-01-01T00:00:00Z');
    const rest = new RestClient(
      kubeConfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: plugin, env: [{ name: 'GREETING', value: 'hi' }] } }),
      { now: () => now },
    );
    await get(rest, 'a');
    now += 30_000;
    await get(rest, 'b');
    now += 25_000; // within 10 s of expiry: refreshed
    fs.writeFileSync(expires, '2030-01-01T00:02:00Z');
    await get(rest, 'c');
    answer401 = true;
    try {
      await assert.rejects(get(rest, 'd'), (err: unknown) => statusCodeOf(err) === 401);
    } finally {
      answer401 = false;
    }
    await get(rest, 'e');
    assert.deepEqual(auths(), ['Bearer exec-1-hi', 'Bearer exec-1-hi', 'Bearer exec-2-hi', 'Bearer exec-2-hi', 'Bearer exec-3-hi']);
    rest.close();
  });

  it('reports a failing exec plugin in one line', async () => {
    const rest = new RestClient(kubeConfig({ exec: { command: path.join(dir, 'no-such-plugin'), installHint: 'install\nit' } }));
    await assert.rejects(get(rest, 'a'), (err: Error) => /^exec credential plugin .*no-such-plugin failed: .*\(install it\)$/.test(err.message) && !err.message.includes('\n'));
  });

  it('presents a client certificate from files or data', async () => {
    seen.length = 0;
    const fromFiles = new RestClient(kubeConfig({ certFile: path.join(dir, 'client.pem'), keyFile: path.join(dir, 'client.key') }));
    await get(fromFiles, 'a');
    const fromData = new RestClient(
      kubeConfig({ certData: fs.readFileSync(path.join(dir, 'client.pem')).toString('base64'), keyData: fs.readFileSync(path.join(dir, 'client.key')).toString('base64') }),
    );
    await get(fromData, 'b');
    const none = new RestClient(kubeConfig({ token: 't' }));
    await get(none, 'c');
    assert.deepEqual(
      seen.map((s) => s.clientCN),
      ['floodgate-controller', 'floodgate-controller', undefined],
    );
    for (const r of [fromFiles, fromData, none]) r.close();
  });

  it('still verifies the server against the kubeconfig\'s CA, unless insecure-skip-tls-verify', async () => {
    const { stdout } = await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k2.pem'), '-days', '1', '-subj', '/CN=other']);
    const rest = new RestClient(kubeConfig({ token: 't' }, stdout));
    await assert.rejects(get(rest, 'x'), /certificate|self.signed|unable to verify/i);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const insecure = new RestClient(kc);
    assert.equal((await get(insecure, 'y')).metadata.name, 'y');
    insecure.close();
  });

  it('throws a KubeApiError with the status and the server\'s message, and sends merge patches', async () => {
    const rest = new RestClient(kubeConfig({ token: 't' }));
    const err = await get(rest, 'missing').then(
      () => assert.fail('expected a 404'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof KubeApiError);
    assert.equal(statusCodeOf(err), 404);
    assert.equal(errorMessage(err), 'HTTP 404: blockevents.floodgate.dev "missing" not found');
    seen.length = 0;
    await new CustomObjectsClient(rest).patch({ ...ref('p'), subresource: 'status' }, { status: { phase: 'Active' } });
    assert.equal(seen[0]?.method, 'PATCH');
    assert.equal(seen[0]?.url, '/apis/floodgate.dev/v1alpha1/namespaces/default/blockevents/p/status');
    assert.equal(seen[0]?.contentType, MERGE_PATCH);
    assert.deepEqual(JSON.parse(seen[0]!.body), { status: { phase: 'Active' } });
    rest.close();
  });
});

describe('kubeconfig files', () => {
  it('reads certificate files relative to the kubeconfig, and data fields', async () => {
    const sub = path.join(dir, 'cfg');
    fs.mkdirSync(sub, { recursive: true });
    fs.copyFileSync(path.join(dir, 'cert.pem'), path.join(sub, 'ca.pem'));
    const file = path.join(sub, 'config');
    fs.writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:${port}/
    certificate-authority: ca.pem
users:
- name: u
  user:
    client-certificate-data: ${fs.readFileSync(path.join(dir, 'client.pem')).toString('base64')}
    client-key: ../client.key
contexts:
- name: x
  context: { cluster: c, user: u, namespace: ns1 }
current-context: x
`,
    );
    const kc = loadKubeConfig({ kubeconfig: file });
    assert.equal(kc.getCurrentCluster()?.server, `https://127.0.0.1:${port}`);
    assert.equal(kc.getCurrentCluster()?.caFile, path.join(sub, 'ca.pem'));
    assert.equal(kc.getCurrentUser()?.keyFile, path.join(dir, 'client.key'));
    seen.length = 0;
    const rest = new RestClient(kc);
    await get(rest, 'z');
    assert.equal(seen[0]?.clientCN, 'floodgate-controller');
    rest.close();
  });

  it('rejects a malformed kubeconfig with one line', () => {
    const file = path.join(dir, 'bad');
    fs.writeFileSync(file, 'clusters:\n- name: c\n  cluster: { insecure-skip-tls-verify: true }\n');
    assert.throws(
      () => loadKubeConfig({ kubeconfig: file }),
      (err: unknown) => err instanceof KubeConfigError && /^cannot load kubeconfig .*bad: clusters\[0\]\.server is missing$/.test(err.message),
    );
  });
});
