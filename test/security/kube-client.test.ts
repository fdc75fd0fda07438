// Issue 13.12: the controller's own Kubernetes client (controller/kube/),
// against a local HTTPS server with real certificates and a real CONNECT
// proxy:
//   - a CA file that could not be read is read again on the next request;
//   - rotated CA and client-certificate files are picked up (within a minute);
//   - insecure-skip-tls-verify beside a CA is refused as kubectl refuses it,
//     and alone it is a warning;
//   - proxy-url is used (http CONNECT); a SOCKS proxy-url and an
//     auth-provider are refused at load instead of being ignored;
//   - a request's timeout is a deadline: a server trickling bytes cannot hold it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { KubeConfig, KubeConfigError, loadKubeConfigDetailed } from '../../kube/kube-config.js';
import { RestClient } from '../../kube/rest-client.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fgsec-kube-'));
const file = (name: string) => path.join(dir, name);

async function selfSigned(name: string): Promise<{ key: string; cert: string }> {
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1']);
  return { key: fs.readFileSync(file(`${name}.key`), 'utf8'), cert: fs.readFileSync(file(`${name}.pem`), 'utf8') };
}

/** A client certificate signed by the server's client CA. */
async function clientCert(name: string): Promise<void> {
  await execa('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`]);
  await execa('openssl', ['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('client-ca.pem'), '-CAkey', file('client-ca.key'), '-CAcreateserial', '-out', file(`${name}.pem`), '-days', '1']);
}

function kubeconfigFile(name: string, cluster: Record<string, unknown>, user: Record<string, unknown> = { token: 't' }): string {
  const p = file(`${name}.kubeconfig`);
  fs.writeFileSync(p, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'x',
    clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
  }));
  return p;
}

describe('the controller kube client under attack and rotation', () => {
  let server: https.Server;
  let url: string;
  let first: { key: string; cert: string };
  let second: { key: string; cert: string };
  let trickle = false;
  const clients: string[] = [];

  before(async () => {
    first = await selfSigned('server-1');
    second = await selfSigned('server-2');
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('client-ca.key'), '-out', file('client-ca.pem'), '-days', '1', '-subj', '/CN=client-ca']);
    await clientCert('controller-a');
    await clientCert('controller-b');
    server = https.createServer({ ...first, ca: fs.readFileSync(file('client-ca.pem')), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      clients.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN ?? '-'));
      if (trickle) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const t = setInterval(() => res.write(' '), 100);
        res.on('close', () => clearInterval(t));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'Status', path: req.url }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads a CA file again after a failed read, instead of failing until restart', async () => {
    const ca = file('late-ca.pem');
    const rest = new RestClient(loadKubeConfigDetailed({ kubeconfig: kubeconfigFile('late', { server: url, 'certificate-authority': ca }) }).kc);
    await assert.rejects(rest.request({ path: '/api' }), /cannot read certificate-authority/);
    fs.writeFileSync(ca, first.cert); // e.g. the Secret volume is populated a moment later
    assert.deepEqual(await rest.request({ path: '/api' }), { kind: 'Status', path: '/api' });
    rest.close();
  });

  it('picks up a rotated CA file and a rotated client certificate within a minute', async () => {
    const ca = file('rotating-ca.pem');
    fs.writeFileSync(ca, first.cert);
    fs.copyFileSync(file('controller-a.pem'), file('client.pem'));
    fs.copyFileSync(file('controller-a.key'), file('client.key'));
    let now = 1_000_000;
    const kc = loadKubeConfigDetailed({ kubeconfig: kubeconfigFile('rotating', { server: url, 'certificate-authority': ca }, { 'client-certificate': file('client.pem'), 'client-key': file('client.key') }) }).kc;
    const rest = new RestClient(kc, { now: () => now });
    clients.length = 0;
    await rest.request({ path: '/a' });
    try {
      // The API server's certificate and the controller's client certificate are renewed together.
      server.setSecureContext({ ...second, ca: fs.readFileSync(file('client-ca.pem')) });
      server.closeAllConnections();
      fs.writeFileSync(ca, `${second.cert}`);
      fs.copyFileSync(file('controller-b.pem'), file('client.pem'));
      fs.copyFileSync(file('controller-b.key'), file('client.key'));
      now += 61_000;
      await rest.request({ path: '/b' });
      assert.deepEqual(clients, ['controller-a', 'controller-b']);
    } finally {
      server.setSecureContext({ ...first, ca: fs.readFileSync(file('client-ca.pem')) });
      server.closeAllConnections();
      rest.close();
    }
  });

  it('refuses insecure-skip-tls-verify beside a CA (as kubectl does), and warns about it alone', () => {
    for (const ca of [{ 'certificate-authority': file('server-1.pem') }, { 'certificate-authority-data': Buffer.from(first.cert).toString('base64') }]) {
      assert.throws(
        () => loadKubeConfigDetailed({ kubeconfig: kubeconfigFile('both', { server: url, 'insecure-skip-tls-verify': true, ...ca }) }),
        (err: Error) => err instanceof KubeConfigError && /specifying a root certificates file with the insecure flag is not allowed/.test(err.message),
      );
    }
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: url, skipTLSVerify: true, caData: 'eA==' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    assert.throws(() => new RestClient(kc), /insecure flag is not allowed/);
    const alone = loadKubeConfigDetailed({ kubeconfig: kubeconfigFile('insecure', { server: url, 'insecure-skip-tls-verify': true }) });
    assert.equal(alone.warnings.length, 1);
    assert.match(alone.warnings[0]!, /insecure-skip-tls-verify is set: the API server's certificate is not verified/);
  });

  it('sends requests through proxy-url (CONNECT), and refuses a SOCKS proxy and an auth-provider at load', async () => {
    const tunnels: string[] = [];
    const proxy = http.createServer();
    proxy.on('connect', (req, socket, head) => {
      tunnels.push(String(req.url));
      const [host, port] = String(req.url).split(':');
      const upstream = net.connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const kc = loadKubeConfigDetailed({ kubeconfig: kubeconfigFile('proxied', { server: url, 'certificate-authority': file('server-1.pem'), 'proxy-url': proxyUrl }) }).kc;
      const rest = new RestClient(kc);
      assert.deepEqual(await rest.request({ path: '/via-proxy' }), { kind: 'Status', path: '/via-proxy' });
      assert.deepEqual(tunnels, [new URL(url).host]);
      rest.close();
    } finally {
      proxy.close();
    }
    assert.throws(
      () => loadKubeConfigDetailed({ kubeconfig: kubeconfigFile('socks', { server: url, 'proxy-url': 'socks5://127.0.0.1:1080' }) }),
      (err: Error) => err instanceof KubeConfigError && /proxy-url "socks5:\/\/127\.0\.0\.1:1080" is not supported: only http:\/\/ and https:\/\/ proxies/.test(err.message),
    );
    assert.throws(
      () => loadKubeConfigDetailed({ kubeconfig: kubeconfigFile('oidc', { server: url }, { 'auth-provider': { name: 'oidc', config: { 'id-token': 'x' } } }) }),
      (err: Error) => err instanceof KubeConfigError && /auth-provider "oidc" is not supported.*use an exec credential plugin/.test(err.message),
    );
  });

  it('gives up on a server that trickles its answer, at the deadline', async () => {
    const rest = new RestClient(loadKubeConfigDetailed({ kubeconfig: kubeconfigFile('slow', { server: url, 'certificate-authority': file('server-1.pem') }) }).kc, { timeoutMs: 1000 });
    trickle = true;
    try {
      // The bound is only for a broken client (an idle timer never fires while bytes keep coming).
      const outcome = await Promise.race([
        rest.request({ path: '/slow' }).then(() => 'answered', (err: Error) => err.message),
        new Promise<string>((r) => setTimeout(() => r('still waiting after 15 s'), 15_000).unref()),
      ]);
      assert.match(outcome, /GET \/slow: no complete answer within 1000 ms/);
    } finally {
      trickle = false;
      rest.close();
    }
  });
});
