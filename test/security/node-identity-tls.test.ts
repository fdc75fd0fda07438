// The node identity broker over TLS, the agent's side and the flags
// (docs/node-identity.md), without an API server:
//   - an agent that trusts the agent CA sends its pod token to a broker with a
//     certificate of that CA for the URL's name;
//   - it refuses a broker with a certificate of another CA (self-signed), and
//     one of the right CA for another name, with a clear error, and the token
//     never reaches them: the servers record every HTTP request, and none
//     arrives;
//   - an agent with a CA refuses an http:// broker URL (no request leaves),
//     unless kube.identity.allowPlainHttp says so; the agent's config and CLI
//     refuse it too, in one line;
//   - the controller's --node-identity-cert-file/--node-identity-key-file are
//     checked at start: one line, exit code 2, nothing started.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import pino from 'pino';
import YAML from 'yaml';
import { BrokeredIdentity } from '../../agent/kube/node-identity.js';
import { ConfigError, loadAgentConfig } from '../../agent/config/agent-config.js';
import { KubeConfig } from '../../kube/kube-config.js';
import { testPki, type Issued, type TestCa, type TestPki } from '../support/test-pki.js';
import { BIN } from './real-agent.js';

const POD_TOKEN = 'pod-bound-token-of-the-agent-0123456789';
const logger = pino({ level: 'silent' });

/** A server standing in for a broker: records every HTTP request that reaches it, answers 401. */
interface Recorder {
  url(host?: string): string;
  requests: { authorization?: string }[];
  handshakes: number;
  close(): Promise<void>;
}

async function recorder(tls?: { cert: string; key: string }): Promise<Recorder> {
  const requests: Recorder['requests'] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push({ authorization: req.headers.authorization });
    req.resume();
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'recorded' }));
  };
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  const r: Recorder = {
    url: (host = '127.0.0.1') => `${tls ? 'https' : 'http'}://${host}:${(server.address() as AddressInfo).port}`,
    requests,
    handshakes: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  server.on('secureConnection', () => r.handshakes++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return r;
}

/** The API server entry the node token would be used against; never contacted here. */
function cluster(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

describe('node identity broker over TLS: the agent verifies it, and sends its token nowhere else', { timeout: 120_000 }, () => {
  let pki: TestPki;
  let agentCa: TestCa;
  let otherCa: TestCa;
  let brokerCert: Issued;
  let selfSigned: Issued;
  let tokenFile: string;

  before(async () => {
    pki = testPki();
    agentCa = await pki.ca('agent-ca');
    otherCa = await pki.ca('other-ca');
    // A self-signed serving certificate for the right name, as an impostor on the node network would make.
    const ss = (ext: string) => path.join(pki.dir, `self-signed.${ext}`);
    await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', ss('key'), '-out', ss('crt')]);
    selfSigned = { certFile: ss('crt'), keyFile: ss('key'), cert: fs.readFileSync(ss('crt'), 'utf8'), key: fs.readFileSync(ss('key'), 'utf8') };
    brokerCert = await agentCa.serving('floodgate-controller-node-identity', { dns: ['localhost'] });
    tokenFile = path.join(pki.dir, 'pod-token');
    fs.writeFileSync(tokenFile, POD_TOKEN);
  });
  after(() => pki?.remove());

  const identity = (url: string, opts: { caFile?: string; allowPlainHttp?: boolean } = {}) =>
    new BrokeredIdentity({ url, tokenFile, cluster: cluster(), node: 'node-a', logger, ...opts });

  it('trusting the agent CA, the agent sends its pod token to a broker with a certificate of that CA for the URL\'s name', async () => {
    const broker = await recorder(brokerCert);
    try {
      await assert.rejects(identity(broker.url('localhost'), { caFile: agentCa.certFile }).client(), /refused \(HTTP 401\): recorded/);
      assert.deepEqual(broker.requests, [{ authorization: `Bearer ${POD_TOKEN}` }], 'the request went through TLS to the broker');
    } finally {
      await broker.close();
    }
  });

  it('refuses a broker whose certificate is of another CA (self-signed, or another CA\'s): no request, no token, reaches it', async () => {
    const otherLeaf = await otherCa.serving('floodgate-controller-node-identity', { dns: ['localhost'] });
    for (const cert of [selfSigned, otherLeaf]) {
      const broker = await recorder(cert);
      try {
        const err = await identity(broker.url('localhost'), { caFile: agentCa.certFile }).client().then(
          () => assert.fail('the agent trusted a broker of another CA'),
          (e: Error) => e,
        );
        assert.match(err.message, /^node identity: https:\/\/localhost:\d+ failed TLS \((SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\b.*the pod token was not sent$/);
        assert.equal(broker.requests.length, 0, `the broker with ${cert.certFile} got a request: ${JSON.stringify(broker.requests)}`);
        assert.equal(broker.handshakes, 0, 'no TLS session was completed either');
      } finally {
        await broker.close();
      }
    }
  });

  it('refuses a broker of the agent CA that is not the name in the URL', async () => {
    const elsewhere = await agentCa.serving('floodgate-controller-node-identity', { dns: ['floodgate-controller.elsewhere.svc'] });
    const broker = await recorder(elsewhere);
    try {
      await assert.rejects(identity(broker.url('localhost'), { caFile: agentCa.certFile }).client(), /failed TLS \(ERR_TLS_CERT_ALTNAME_INVALID.*the pod token was not sent$/);
      assert.equal(broker.requests.length, 0);
    } finally {
      await broker.close();
    }
  });

  it('with a CA configured, refuses an http:// broker URL unless plain HTTP is allowed explicitly', async () => {
    const broker = await recorder();
    try {
      assert.throws(() => identity(broker.url(), { caFile: agentCa.certFile }), /refusing to send the pod token to http:\/\/127\.0\.0\.1:\d+ over plain HTTP while a CA .* is configured/);
      assert.equal(broker.requests.length, 0);
      // The explicit opt-out sends it (the recorder sees it: the test server does record requests).
      await assert.rejects(identity(broker.url(), { caFile: agentCa.certFile, allowPlainHttp: true }).client(), /HTTP 401/);
      assert.deepEqual(broker.requests, [{ authorization: `Bearer ${POD_TOKEN}` }]);
    } finally {
      await broker.close();
    }
  });

  it('the agent\'s config refuses the same in one line: a CA (kube.identity.caFile or tls.clientCaFile) and an http:// broker', () => {
    const write = (cfg: object) => {
      const file = path.join(pki.dir, `agent-${Math.random().toString(36).slice(2)}.yaml`);
      fs.writeFileSync(file, YAML.stringify(cfg));
      return file;
    };
    const tls = { certFile: brokerCert.certFile, keyFile: brokerCert.keyFile, clientCaFile: agentCa.certFile };
    const plain = 'http://floodgate-controller.floodgate-system.svc:8082';
    for (const cfg of [{ tls, kube: { identity: { url: plain } } }, { kube: { identity: { url: plain, caFile: agentCa.certFile } } }]) {
      assert.throws(
        () => loadAgentConfig(write(cfg)),
        (e: Error) => e instanceof ConfigError && /kube\.identity\.url: is http:\/\/ but the agent has a CA .*allowPlainHttp/.test(e.message) && !e.message.includes('\n'),
      );
    }
    assert.equal(loadAgentConfig(write({ tls, kube: { identity: { url: plain, allowPlainHttp: true } } })).kube?.identity?.allowPlainHttp, true);
    assert.equal(loadAgentConfig(write({ kube: { identity: { url: plain } } })).kube?.identity?.url, plain, 'no CA: plain HTTP as before (agent TLS off)');
    assert.throws(() => loadAgentConfig(write({ kube: { identity: { url: 'ftp://broker:21' } } })), /must be an http:\/\/ or https:\/\/ URL/);
  });

  it('`floodgate agent` with such a config exits 2 with one line, before it starts', async () => {
    const file = path.join(pki.dir, 'plain-broker.yaml');
    fs.writeFileSync(file, YAML.stringify({ tls: { certFile: brokerCert.certFile, keyFile: brokerCert.keyFile, clientCaFile: agentCa.certFile }, kube: { identity: { url: 'http://127.0.0.1:9/' } } }));
    const r = await execa(process.execPath, [BIN, 'agent', '--config', file, '-i', 'lo', '--backend', 'dry-run', '--listen', '127.0.0.1:0'], { reject: false, timeout: 30_000 });
    assert.equal(r.exitCode, 2, String(r.stderr));
    const lines = String(r.stderr).trim().split('\n');
    assert.equal(lines.length, 1, String(r.stderr));
    assert.match(lines[0]!, /kube\.identity\.url: is http:\/\/ but the agent has a CA/);
  });

  it('`floodgate controller` checks the broker\'s certificate and key at start: one line, exit code 2', async () => {
    const other = await agentCa.serving('floodgate-controller-node-identity', { dns: ['localhost'] });
    const base = ['controller', '--kubeconfig', path.join(pki.dir, 'no-kubeconfig'), '--node-identity-port', '8082', '--node-identity-agents', 'floodgate-system/floodgate-agent'];
    const cases: [string[], RegExp][] = [
      [['--node-identity-cert-file', path.join(pki.dir, 'missing.crt'), '--node-identity-key-file', brokerCert.keyFile], /--node-identity-cert-file: cannot read TLS certificate .*missing\.crt: ENOENT/],
      [['--node-identity-cert-file', brokerCert.certFile, '--node-identity-key-file', other.keyFile], /--node-identity-cert-file: TLS private key .* does not match certificate/],
      [['--node-identity-cert-file', brokerCert.keyFile, '--node-identity-key-file', brokerCert.keyFile], /holds no PEM certificate/],
      [['--node-identity-cert-file', brokerCert.certFile], /--node-identity-cert-file and --node-identity-key-file go together/],
    ];
    for (const [args, message] of cases) {
      const r = await execa(process.execPath, [BIN, ...base, ...args], { reject: false, timeout: 30_000 });
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${String(r.stderr)}`);
      const lines = String(r.stderr).trim().split('\n');
      assert.equal(lines.length, 1, String(r.stderr));
      assert.match(lines[0]!, message);
    }
    const noPort = await execa(process.execPath, [BIN, 'controller', '--node-identity-cert-file', brokerCert.certFile, '--node-identity-key-file', brokerCert.keyFile], { reject: false, timeout: 30_000 });
    assert.equal(noPort.exitCode, 2);
    assert.match(String(noPort.stderr), /--node-identity-cert-file needs --node-identity-port/);
  });
});
