// Agent TLS in the chart (issue 13.2, docs/tls.md), rendered by the real helm:
//   - on by default: the DaemonSet agents serve HTTPS with mutual TLS, the
//     controller gets the CA, its client certificate and the agents' fixed
//     name, the host agent's URL is https://, its certificate is made;
//   - provider helm: the CA and certificates Helm makes work together (a real
//     TLS handshake with the one agent client: the agent's name, the client
//     certificate, the CN the agents accept), and the CA's key is mounted by
//     no pod;
//   - provider cert-manager (auto when the cluster serves cert-manager.io/v1):
//     Issuers and Certificates instead of Helm-made Secrets;
//   - agent.tls.enabled=false: plain HTTP as before;
//   - the node identity broker (agent.sync=watch): https:// with the agent CA
//     and a certificate for the controller's Service that a real handshake
//     accepts, http:// only with TLS off.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import YAML from 'yaml';
import { AgentApiClient, AgentApiError } from '../../api/agent/v1/client.js';
import { agentConfigSchema } from '../../agent/config/agent-config.js';
import { renderObjects, type K8sObject } from '../../deploy/helm.js';
import { NODE_IDENTITY_PATH } from '../../api/node-identity/v1.js';
import { NodeIdentityBroker, startNodeIdentityServer } from '../../controller/nodes/node-identity.js';
import type { RestClient } from '../../kube/rest-client.js';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const find = (objs: K8sObject[], kind: string, name?: string): Any => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `no ${kind}${name ? ` ${name}` : ''} rendered (got ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')})`);
  return o as Any;
};
const secretFile = (objs: K8sObject[], name: string, key: string): string => Buffer.from(find(objs, 'Secret', name).data[key] as string, 'base64').toString('utf8');
const agentConfig = (objs: K8sObject[]) => agentConfigSchema.parse(YAML.parse(find(objs, 'ConfigMap', 'floodgate-agent').data['agent.yaml'] as string));
const controllerArgs = (objs: K8sObject[]): string[] => find(objs, 'Deployment').spec.template.spec.containers[0].args as string[];

test('TLS is on by default: HTTPS agents with mutual TLS, the controller with the CA, its client certificate and the agents\' name', async () => {
  const objs = await renderObjects({ set: ['agent.daemonset.enabled=true', 'samplePolicy.enabled=true'] });
  const cfg = agentConfig(objs);
  assert.deepEqual(cfg.tls, {
    certFile: '/var/run/floodgate/tls/tls.crt',
    keyFile: '/var/run/floodgate/tls/tls.key',
    clientCaFile: '/var/run/floodgate/tls/ca.crt',
    clientNames: ['floodgate-controller'],
    reloadSeconds: 10,
  });
  const ds = find(objs, 'DaemonSet').spec.template.spec;
  const agent = ds.containers[0];
  assert.equal(agent.livenessProbe.httpGet.scheme, 'HTTPS');
  if (agent.readinessProbe) assert.equal(agent.readinessProbe.httpGet.scheme, 'HTTPS');
  const tlsVolume = ds.volumes.find((v: Any) => v.name === 'tls');
  assert.equal(tlsVolume.secret.secretName, 'floodgate-agent-tls');
  assert.deepEqual(tlsVolume.secret.items.map((i: Any) => i.key).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  assert.ok(agent.volumeMounts.some((m: Any) => m.name === 'tls' && m.mountPath === '/var/run/floodgate/tls' && m.readOnly));

  const args = controllerArgs(objs);
  for (const a of [
    '--agent-ca-file=/var/run/floodgate/agent-tls/ca.crt',
    '--agent-client-cert-file=/var/run/floodgate/agent-tls/tls.crt',
    '--agent-client-key-file=/var/run/floodgate/agent-tls/tls.key',
    '--agent-server-name=floodgate-agent.floodgate-system.svc',
    '--agent-url-allowlist=https://host.docker.internal:12345',
  ]) assert.ok(args.includes(a), `${a} not in ${args.join(' ')}`);
  const pod = find(objs, 'Deployment').spec.template.spec;
  assert.equal(pod.volumes.find((v: Any) => v.name === 'agent-tls').secret.secretName, 'floodgate-agent-client');

  // The CA's key is in no pod: no volume of any pod names the CA Secret.
  for (const o of objs.filter((x) => x.kind === 'DaemonSet' || x.kind === 'Deployment' || x.kind === 'Pod')) {
    const spec = ((o as Any).spec.template?.spec ?? (o as Any).spec) as Any;
    assert.ok(!JSON.stringify(spec.volumes ?? []).includes('floodgate-agent-ca'), `${o.kind}/${o.metadata.name} mounts the CA Secret`);
  }
});

test('provider helm: the CA and certificates it makes work together over a real mutual TLS handshake', async () => {
  const objs = await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.tls.provider=helm'] });
  const ca = new X509Certificate(secretFile(objs, 'floodgate-agent-ca', 'tls.crt'));
  assert.ok(ca.ca, 'the agent CA is a CA');
  for (const name of ['floodgate-agent-tls', 'floodgate-agent-client', 'floodgate-host-agent-tls']) {
    const leaf = new X509Certificate(secretFile(objs, name, 'tls.crt'));
    assert.ok(leaf.verify(ca.publicKey), `${name} is signed by the agent CA`);
    assert.equal(secretFile(objs, name, 'ca.crt'), secretFile(objs, 'floodgate-agent-ca', 'tls.crt'), `${name} carries the CA`);
    assert.equal(find(objs, 'Secret', name).type, 'kubernetes.io/tls');
  }
  const serving = new X509Certificate(secretFile(objs, 'floodgate-agent-tls', 'tls.crt'));
  assert.equal(serving.checkHost('floodgate-agent.floodgate-system.svc'), 'floodgate-agent.floodgate-system.svc');
  const host = new X509Certificate(secretFile(objs, 'floodgate-host-agent-tls', 'tls.crt'));
  assert.equal(host.checkHost('host.docker.internal'), 'host.docker.internal');
  assert.equal(host.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(find(objs, 'Secret', 'floodgate-agent-ca').metadata.annotations['helm.sh/resource-policy'], 'keep');

  // An HTTPS server with the agents' Secret, asking for client certificates as the agent does,
  // answering only the CN the chart configures; the one client with the controller's Secret.
  const names = agentConfig(objs).tls!.clientNames;
  const server = https.createServer(
    { cert: secretFile(objs, 'floodgate-agent-tls', 'tls.crt'), key: secretFile(objs, 'floodgate-agent-tls', 'tls.key'), ca: secretFile(objs, 'floodgate-agent-tls', 'ca.crt'), requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const s = req.socket as TLSSocket;
      const ok = s.authorized && names.includes(String(s.getPeerCertificate().subject.CN));
      res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' }).end(JSON.stringify(ok ? { status: 'ok' } : { error: 'client certificate required' }));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const tls = (secret: string) => ({ ca: secretFile(objs, 'floodgate-agent-client', 'ca.crt'), cert: secretFile(objs, secret, 'tls.crt'), key: secretFile(objs, secret, 'tls.key'), servername: 'floodgate-agent.floodgate-system.svc' });
    assert.deepEqual(await new AgentApiClient({ url, tls: tls('floodgate-agent-client') }).healthz(), { status: 'ok' });
    // Helm's certificates allow client use: a node's serving certificate is refused by its CN.
    const err = await new AgentApiClient({ url, tls: tls('floodgate-agent-tls') }).healthz().catch((e: unknown) => e);
    assert.ok(err instanceof AgentApiError && err.kind === 'unauthorized', String(err));
    const wrongName = await new AgentApiClient({ url, tls: { ...tls('floodgate-agent-client'), servername: 'floodgate-agent.elsewhere.svc' } }).healthz().catch((e: unknown) => e);
    assert.ok(wrongName instanceof AgentApiError && wrongName.kind === 'untrusted', String(wrongName));
  } finally {
    server.close();
  }

  // A fresh install makes a fresh CA (helm template cannot look up the old one; helm upgrade does: test/chart/chart-apiserver).
  const again = await renderObjects({ set: ['agent.tls.provider=helm'] });
  assert.notEqual(secretFile(again, 'floodgate-agent-ca', 'tls.crt'), secretFile(objs, 'floodgate-agent-ca', 'tls.crt'));
});

test('provider cert-manager (auto when the cluster serves cert-manager.io/v1): Issuers and Certificates, no Helm-made keys', async () => {
  const objs = await renderObjects({ set: ['agent.daemonset.enabled=true'], extra: ['--api-versions', 'cert-manager.io/v1'] });
  assert.ok(!objs.some((o) => o.kind === 'Secret' && /tls|agent-ca|agent-client/.test(o.metadata.name)), 'cert-manager makes the TLS Secrets, not Helm');
  assert.ok(find(objs, 'Issuer', 'floodgate-agent-ca-bootstrap').spec.selfSigned);
  const caCert = find(objs, 'Certificate', 'floodgate-agent-ca').spec;
  assert.equal(caCert.isCA, true);
  assert.equal(caCert.privateKey.rotationPolicy, 'Never', 'a renewed CA keeps its key, so what it signed stays valid');
  assert.equal(find(objs, 'Issuer', 'floodgate-agent-ca').spec.ca.secretName, 'floodgate-agent-ca');
  const serving = find(objs, 'Certificate', 'floodgate-agent-tls').spec;
  assert.deepEqual(serving.dnsNames, ['floodgate-agent.floodgate-system.svc']);
  assert.deepEqual(serving.usages, ['digital signature', 'server auth']);
  assert.equal(serving.issuerRef.name, 'floodgate-agent-ca');
  const client = find(objs, 'Certificate', 'floodgate-agent-client').spec;
  assert.equal(client.commonName, 'floodgate-controller');
  assert.deepEqual(client.usages, ['digital signature', 'client auth']);
  const host = find(objs, 'Certificate', 'floodgate-host-agent-tls').spec;
  assert.ok(host.dnsNames.includes('host.docker.internal') && host.ipAddresses.includes('127.0.0.1'));
  // The pods mount the Secrets cert-manager writes, by the same names.
  assert.equal(find(objs, 'DaemonSet').spec.template.spec.volumes.find((v: Any) => v.name === 'tls').secret.secretName, 'floodgate-agent-tls');

  const forced = await renderObjects({ set: ['agent.tls.provider=helm'], extra: ['--api-versions', 'cert-manager.io/v1'] });
  assert.ok(!forced.some((o) => o.kind === 'Certificate'));
  assert.ok(forced.some((o) => o.kind === 'Secret' && o.metadata.name === 'floodgate-agent-ca'));
  await assert.rejects(renderObjects({ set: ['agent.tls.provider=cert-manager'] }), /no cert-manager\.io\/v1 API/);
});

test('agent.tls.enabled=false: plain HTTP as before (no certificates, http:// host agent, no TLS flags)', async () => {
  const objs = await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.tls.enabled=false'] });
  assert.equal(agentConfig(objs).tls, undefined);
  assert.ok(!objs.some((o) => o.kind === 'Certificate' || (o.kind === 'Secret' && /tls|agent-ca|agent-client/.test(o.metadata.name))));
  const args = controllerArgs(objs);
  assert.ok(!args.some((a) => a.startsWith('--agent-ca-file')));
  assert.ok(args.includes('--agent-url-allowlist=http://host.docker.internal:12345'));
  assert.equal(find(objs, 'DaemonSet').spec.template.spec.containers[0].livenessProbe.httpGet.scheme, 'HTTP');
  // Mutual TLS can be turned off on its own.
  const noMtls = agentConfig(await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.tls.requireClientCert=false'] }));
  assert.equal(noMtls.tls?.clientCaFile, undefined);
  assert.equal(noMtls.tls?.certFile, '/var/run/floodgate/tls/tls.crt');
});

test('the node identity broker: https:// with the agent CA when TLS is on (a certificate of that CA for the controller\'s Service), http:// only when it is off', async () => {
  const SERVICE = 'floodgate-controller.floodgate-system.svc';
  const on = await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.tls.provider=helm'] });
  const identity = agentConfig(on).kube?.identity;
  assert.equal(identity?.url, `https://${SERVICE}:8082`);
  assert.equal(identity?.caFile, '/var/run/floodgate/tls/ca.crt', 'the agent CA, mounted from the agents\' Secret');
  assert.equal(identity?.allowPlainHttp, false);
  const args = controllerArgs(on);
  for (const a of ['--node-identity-cert-file=/var/run/floodgate/node-identity-tls/tls.crt', '--node-identity-key-file=/var/run/floodgate/node-identity-tls/tls.key']) {
    assert.ok(args.includes(a), `${a} not in ${args.join(' ')}`);
  }
  const pod = find(on, 'Deployment').spec.template.spec;
  const vol = pod.volumes.find((v: Any) => v.name === 'node-identity-tls');
  assert.equal(vol.secret.secretName, 'floodgate-node-identity-tls');
  assert.deepEqual(vol.secret.items.map((i: Any) => i.key).sort(), ['tls.crt', 'tls.key'], 'the broker\'s certificate and key, not the CA\'s key');
  assert.ok(pod.containers[0].volumeMounts.some((m: Any) => m.name === 'node-identity-tls' && m.mountPath === '/var/run/floodgate/node-identity-tls' && m.readOnly));
  const ca = new X509Certificate(secretFile(on, 'floodgate-agent-ca', 'tls.crt'));
  const leaf = new X509Certificate(secretFile(on, 'floodgate-node-identity-tls', 'tls.crt'));
  assert.ok(leaf.verify(ca.publicKey), 'signed by the agent CA');
  assert.equal(leaf.checkHost(SERVICE), SERVICE);
  // Helm's certificates allow client use too: its CN is not one the agents accept from a client.
  assert.ok(!agentConfig(on).tls!.clientNames.includes(/CN=([^\n]+)/.exec(leaf.subject)?.[1] ?? ''), leaf.subject);

  // The real broker server with the chart's Secret, and a client that trusts only the agent CA, for the Service's name.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-broker-chart-'));
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  fs.writeFileSync(certFile, secretFile(on, 'floodgate-node-identity-tls', 'tls.crt'));
  fs.writeFileSync(keyFile, secretFile(on, 'floodgate-node-identity-tls', 'tls.key'));
  const logger = pino({ level: 'silent' });
  const broker = new NodeIdentityBroker({ rest: {} as RestClient, namespace: 'floodgate-system', agentServiceAccounts: ['floodgate-system/floodgate-agent'], logger });
  const server = await startNodeIdentityServer(broker, { port: 0, host: '127.0.0.1', tls: { certFile, keyFile }, logger });
  const get = (servername: string) =>
    new Promise<number>((resolve, reject) => {
      const req = https.request(new URL(NODE_IDENTITY_PATH, server.url), { ca: secretFile(on, 'floodgate-agent-tls', 'ca.crt'), servername, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  try {
    assert.match(server.url, /^https:/);
    assert.equal(await get(SERVICE), 405, 'the handshake passes and the broker answers (POST only)');
    await assert.rejects(get('floodgate-controller.elsewhere.svc'), /ERR_TLS_CERT_ALTNAME_INVALID|does not match|altnames/);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // cert-manager: a Certificate of the agent CA Issuer for the same name, server auth only.
  const cm = await renderObjects({ set: ['agent.daemonset.enabled=true'], extra: ['--api-versions', 'cert-manager.io/v1'] });
  const cert = find(cm, 'Certificate', 'floodgate-node-identity-tls').spec;
  assert.deepEqual([cert.dnsNames, cert.usages, cert.issuerRef.name], [[SERVICE], ['digital signature', 'server auth'], 'floodgate-agent-ca']);
  assert.equal(agentConfig(cm).kube?.identity?.url, `https://${SERVICE}:8082`);

  // Mutual TLS off: the agents still verify the broker against the CA they mount.
  const noMtls = agentConfig(await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.tls.requireClientCert=false'] }));
  assert.deepEqual([noMtls.kube?.identity?.url, noMtls.kube?.identity?.caFile], [`https://${SERVICE}:8082`, '/var/run/floodgate/tls/ca.crt']);

  // TLS off: http://, no CA, no broker certificate.
  const off = await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.tls.enabled=false'] });
  const plain = agentConfig(off).kube?.identity;
  assert.deepEqual([plain?.url, plain?.caFile], [`http://${SERVICE}:8082`, undefined]);
  assert.ok(!controllerArgs(off).some((a) => a.startsWith('--node-identity-cert-file')));
  assert.ok(!off.some((o) => o.metadata.name === 'floodgate-node-identity-tls'));
  // Push mode has no broker at all.
  const push = await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.sync=push'] });
  assert.ok(!push.some((o) => o.metadata.name === 'floodgate-node-identity-tls'));
  assert.ok(!controllerArgs(push).some((a) => a.startsWith('--node-identity')));
});
