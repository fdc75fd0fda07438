// Issue 13, item 2: agent tokens no longer travel in plaintext. Against the
// real agent (`floodgate agent`, dry-run firewall, on lo), the one agent
// client, the CLI, and the real controller on our own API server:
//   - the agent serves HTTPS from its certificate files, and refuses to start
//     on bad ones with one line;
//   - the client verifies the agent: the CA, and the name (a selector agent is
//     dialled by pod IP and must carry the agents' fixed name); plain HTTP to
//     the TLS port gets no answer;
//   - mutual TLS: no client certificate, one of another CA, one with another
//     name, or an agent's own serving certificate are all refused, whatever
//     the token; /healthz stays open for the kubelet's probe;
//   - a rotated certificate is picked up without a restart; a bad rotation
//     is refused and the old certificate kept;
//   - the controller pushes a ban through mutual TLS to an agentSelector
//     agent at https://<podIP>:12345, and an agent of another CA shows as
//     AgentsReachable=False AgentNotTrusted.
//
//   FLOODGATE_CP_STATE_DIR: its API server's state dir (default /tmp/floodgate-cp-tls).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { AgentApiClient, AgentApiError, type AgentErrorKind, type AgentTlsOptions } from '../../api/agent/v1/client.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';
import { startController, type RunningController } from '../../controller/controller.js';
import { AgentResolver } from '../../controller/agents/agent-resolver.js';
import { loadTlsFiles, ReloadingTlsFiles, TlsFileError } from '../../lib/tls-files.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { e2eControllerOptions, eventually, kubectl, kubectlOrThrow, startApiServerWithCrds, stopApiServer } from '../controller/e2e-env.js';
import { isRoot } from '../support/netns.js';
import { testPki, type Issued, type TestCa, type TestPki } from '../support/test-pki.js';
import { AGENT_TOKEN, BIN, startRealAgent, type RealAgent } from './real-agent.js';

const AGENT_NAME = 'floodgate-agent.floodgate-system.svc';
const CONTROLLER_CN = 'floodgate-controller';

async function rejectsWith(p: Promise<unknown>, kind: AgentErrorKind, message?: RegExp): Promise<AgentApiError> {
  const err = await p.then(
    () => assert.fail(`expected an AgentApiError of kind ${kind}, the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AgentApiError, `expected AgentApiError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

/** The certificate a TLS server presents for `servername`, without verifying it. */
function presented(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on('error', reject);
  });
}

/** `floodgate agent ...` that must fail before it starts: exit code and stderr. */
async function agentFails(args: string[]): Promise<{ exitCode: number; stderr: string }> {
  const r = await execa(process.execPath, [BIN, 'agent', '-i', 'lo', '--backend', 'dry-run', '--listen', '127.0.0.1:0', ...args], { reject: false, timeout: 30_000 });
  return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr) };
}

const skip = isRoot() ? false : 'needs root to capture on lo';

describe('agent TLS: files, verification, mutual TLS, rotation (issue 13.2)', { skip, timeout: 180_000 }, () => {
  let pki: TestPki;
  let ca: TestCa;
  let otherCa: TestCa;
  let serving: Issued;
  let rotated: Issued;
  let controllerCert: Issued;

  before(async () => {
    pki = testPki();
    ca = await pki.ca('agent-ca');
    otherCa = await pki.ca('other-ca');
    serving = await ca.serving('floodgate-agent', { dns: [AGENT_NAME] });
    rotated = await ca.serving('floodgate-agent', { dns: [AGENT_NAME] });
    controllerCert = await ca.client(CONTROLLER_CN);
  });
  after(() => pki?.remove());

  it('refuses to start on TLS files it cannot use, with one line and nothing started', async () => {
    const cases: [string[], RegExp][] = [
      [['--tls-cert', path.join(pki.dir, 'missing.crt'), '--tls-key', serving.keyFile], /cannot read TLS certificate .*missing\.crt: ENOENT/],
      [['--tls-cert', serving.certFile, '--tls-key', rotated.keyFile], /private key .* does not match certificate/],
      [['--tls-cert', serving.keyFile, '--tls-key', serving.keyFile], /holds no PEM certificate/],
      [['--tls-cert', serving.certFile, '--tls-key', serving.certFile], /private key .* does not parse/],
      [['--tls-cert', serving.certFile, '--tls-key', serving.keyFile, '--tls-client-ca', serving.keyFile], /CA bundle .* holds no PEM certificate/],
      [['--tls-cert', serving.certFile], /tls\.keyFile/],
    ];
    for (const [args, message] of cases) {
      const r = await agentFails(args);
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, message);
      assert.doesNotMatch(r.stderr, /floodgate agent running/);
    }
    // An expired certificate, or one not valid yet, is refused the same way (the clock moved instead of the file).
    const later = new Date(Date.now() + 11 * 86400_000);
    assert.throws(() => loadTlsFiles({ certFile: serving.certFile, keyFile: serving.keyFile }, later), (e: Error) => e instanceof TlsFileError && /expired at/.test(e.message));
    assert.throws(() => loadTlsFiles({ certFile: serving.certFile, keyFile: serving.keyFile }, new Date(Date.now() - 86400_000)), /not valid before/);
  });

  describe('served over HTTPS with mutual TLS', () => {
    let agent: RealAgent;
    let dir: string;
    const good = (): AgentTlsOptions => ({ ca: ca.cert, cert: controllerCert.cert, key: controllerCert.key, servername: AGENT_NAME });

    before(async () => {
      dir = fs.mkdtempSync(path.join(pki.dir, 'agent-'));
      // The files the agent reads, replaced later as a rotation would.
      fs.copyFileSync(serving.certFile, path.join(dir, 'tls.crt'));
      fs.copyFileSync(serving.keyFile, path.join(dir, 'tls.key'));
      agent = await startRealAgent({
        config: {
          tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), clientCaFile: ca.certFile, clientNames: [CONTROLLER_CN], reloadSeconds: 1 },
        },
      });
    });
    after(async () => agent?.stop());

    it('answers the controller (its CA, its name, its client certificate, the token), and a ban goes in', async () => {
      assert.match(agent.url, /^https:/);
      const c = new AgentApiClient({ url: agent.url, token: AGENT_TOKEN, tls: good() });
      // Ready once capture delivered its first slot.
      await eventually('agent ready over mutual TLS', async () => (await c.readyz()).status === 'ready', 15_000);
      const ban = await c.block({ ip: '198.51.100.7', durationSeconds: 60, reason: 'over TLS' });
      assert.equal(ban.cidr, '198.51.100.7/32');
      assert.ok((await c.listBlocks()).blocks.some((b) => b.cidr === '198.51.100.7/32'));
      const served = agent.lines().find((l) => l.msg === 'agent API serves HTTPS') as { mutualTls?: boolean } | undefined;
      assert.equal(served?.mutualTls, true, agent.output());
    });

    it('plain HTTP to the TLS port gets no answer, and the token is never read', async () => {
      const plain = agent.url.replace('https:', 'http:');
      const err = await new AgentApiClient({ url: plain, token: AGENT_TOKEN, timeoutMs: 3000 }).readyz().catch((e: unknown) => e);
      assert.ok(err instanceof AgentApiError && (err.kind === 'unreachable' || err.kind === 'timeout'), String(err));
      const r = await agent.curl([`${plain}/readyz`, '-H', `Authorization: Bearer ${AGENT_TOKEN}`]);
      assert.equal(r.status, 0, `plain HTTP got HTTP ${r.status}: ${r.body}`);
    });

    it('refuses an agent of another CA, with another name, or with no CA given (untrusted; nothing sent)', async () => {
      const call = (t: AgentTlsOptions) => new AgentApiClient({ url: agent.url, token: AGENT_TOKEN, tls: t }).listBlocks();
      await rejectsWith(call({ ...good(), ca: otherCa.cert }), 'untrusted', /failed TLS as floodgate-agent\.floodgate-system\.svc/);
      await rejectsWith(call({ ...good(), servername: 'floodgate-agent.other-namespace.svc' }), 'untrusted', /ERR_TLS_CERT_ALTNAME_INVALID/);
      // Dialled by IP without the fixed name: the certificate names no IP, so the identity does not match.
      const { servername: _, ...noName } = good();
      await rejectsWith(call(noName), 'untrusted', /ERR_TLS_CERT_ALTNAME_INVALID|IP: 127\.0\.0\.1/);
      await rejectsWith(call({ servername: AGENT_NAME, cert: controllerCert.cert, key: controllerCert.key }), 'untrusted', /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
      // None of those got as far as a request: the agent logged no request at all from them.
      assert.ok(!agent.lines().some((l) => l.msg === 'agent API: client certificate refused' && /other-ca/.test(JSON.stringify(l))));
    });

    it('refuses requests without the controller\'s client certificate, whatever the token; /healthz stays open', async () => {
      const call = (t: AgentTlsOptions) => new AgentApiClient({ url: agent.url, token: AGENT_TOKEN, tls: t }).block({ ip: '198.51.100.8', durationSeconds: 60, reason: 'should not pass' });
      const { cert: _c, key: _k, ...noClientCert } = good();
      await rejectsWith(call(noClientCert), 'unauthorized', /client certificate required/);
      const foreign = await otherCa.client(CONTROLLER_CN);
      await rejectsWith(call({ ...good(), cert: foreign.cert, key: foreign.key }), 'unauthorized', /client certificate required/);
      const intruder = await ca.client('intruder');
      await rejectsWith(call({ ...good(), cert: intruder.cert, key: intruder.key }), 'unauthorized', /"intruder" is not allowed/);
      // A node holds its agent's serving certificate: as a client certificate it is worthless (serverAuth only).
      await rejectsWith(call({ ...good(), cert: serving.cert, key: serving.key }), 'unauthorized', /unsuitable certificate purpose|client certificate required/);
      // The client certificate alone is not enough either: the token is still checked.
      await rejectsWith(new AgentApiClient({ url: agent.url, token: 'wrong-token-0123456789abcdef', tls: good() }).listBlocks(), 'unauthorized', /token/);
      const listed = await new AgentApiClient({ url: agent.url, token: AGENT_TOKEN, tls: good() }).listBlocks();
      assert.ok(!listed.blocks.some((b) => b.cidr === '198.51.100.8/32'), 'a refused request banned');
      // The kubelet's liveness probe has no client certificate (and does not verify the server).
      assert.equal((await agent.curl(['-k', `${agent.url}/healthz`])).status, 200);
      assert.equal((await agent.curl(['-k', `${agent.url}/readyz`, '-H', `Authorization: Bearer ${AGENT_TOKEN}`])).status, 403);
    });

    it('floodgate blocks talks to it with --ca-file, --cert-file, --key-file, --server-name; without the CA it says why in one line', async () => {
      const tokenFile = path.join(dir, 'token');
      fs.writeFileSync(tokenFile, AGENT_TOKEN);
      const base = ['blocks', 'list', '--agent', agent.url, '--token-file', tokenFile, '--json'];
      const ok = await execa(process.execPath, [BIN, ...base, '--ca-file', ca.certFile, '--cert-file', controllerCert.certFile, '--key-file', controllerCert.keyFile, '--server-name', AGENT_NAME], { reject: false });
      assert.equal(ok.exitCode, 0, String(ok.stderr));
      assert.ok((JSON.parse(String(ok.stdout)) as { blocks: { cidr: string }[] }).blocks.some((b) => b.cidr === '198.51.100.7/32'));
      const bad = await execa(process.execPath, [BIN, ...base, '--cert-file', controllerCert.certFile, '--key-file', controllerCert.keyFile, '--server-name', AGENT_NAME], { reject: false });
      assert.equal(bad.exitCode, 1);
      assert.equal(String(bad.stderr).trim().split('\n').length, 1, String(bad.stderr));
      assert.match(String(bad.stderr), /failed TLS .*--ca-file/);
      const noCert = await execa(process.execPath, [BIN, ...base, '--ca-file', ca.certFile, '--server-name', AGENT_NAME], { reject: false });
      assert.match(String(noCert.stderr), /client certificate required.*--cert-file/);
    });

    it('picks up a rotated certificate without a restart, and keeps the old one when the new files are bad', async () => {
      const fp = (i: Issued) => new X509Certificate(i.cert).fingerprint256;
      assert.equal(await presented(agent.port, AGENT_NAME), fp(serving));
      // Replaced the way a Secret volume does it: new files, then an atomic rename.
      const swap = (cert: string, key: string) => {
        fs.writeFileSync(path.join(dir, 'tls.crt.new'), cert);
        fs.writeFileSync(path.join(dir, 'tls.key.new'), key);
        fs.renameSync(path.join(dir, 'tls.key.new'), path.join(dir, 'tls.key'));
        fs.renameSync(path.join(dir, 'tls.crt.new'), path.join(dir, 'tls.crt'));
      };
      swap(rotated.cert, rotated.key);
      await eventually('the rotated certificate served', async () => (await presented(agent.port, AGENT_NAME)) === fp(rotated), 15_000);
      assert.deepEqual(await new AgentApiClient({ url: agent.url, token: AGENT_TOKEN, tls: good() }).readyz(), { status: 'ready' });
      assert.ok(agent.lines().some((l) => l.msg === 'agent API: TLS files changed, new certificate in use'));

      // A certificate with the wrong key: refused, logged, the rotated one still served.
      swap(serving.cert, rotated.key);
      await eventually('the bad files reported', async () => agent.lines().some((l) => l.msg === 'agent API: new TLS files refused, still serving the previous certificate'), 15_000);
      assert.equal(await presented(agent.port, AGENT_NAME), fp(rotated));
      assert.deepEqual(await new AgentApiClient({ url: agent.url, token: AGENT_TOKEN, tls: good() }).readyz(), { status: 'ready' });
      swap(rotated.cert, rotated.key);
    });
  });

  it('warns when the token would cross the network in clear (plain HTTP beyond loopback), not over HTTPS or on loopback', async () => {
    const warning = 'agent API served over plain HTTP beyond loopback: the token crosses the network in clear; configure tls (--tls-cert, --tls-key, --tls-client-ca; docs/tls.md)';
    const plain = await startRealAgent({ listenHost: '0.0.0.0' });
    try {
      assert.ok(plain.lines().some((l) => l.msg === warning && l.level === 40), plain.output());
    } finally {
      await plain.stop();
    }
    const secure = await startRealAgent({ listenHost: '0.0.0.0', config: { tls: { certFile: serving.certFile, keyFile: serving.keyFile } } });
    const loopback = await startRealAgent();
    try {
      assert.ok(!secure.lines().some((l) => l.msg === warning), secure.output());
      assert.ok(!loopback.lines().some((l) => l.msg === warning), loopback.output());
    } finally {
      await secure.stop();
      await loopback.stop();
    }
  });

  it('floodgate doctor reports the TLS files, and warns about plain HTTP beyond loopback', async () => {
    const d = fs.mkdtempSync(path.join(pki.dir, 'doctor-'));
    const cfg = (extra: string) => {
      const f = path.join(d, `agent-${Math.random().toString(36).slice(2)}.yaml`);
      fs.writeFileSync(f, `interface: lo\nbackend: dry-run\nstateDir: ${d}/state\n${extra}`);
      return f;
    };
    const doctor = async (file: string) => String((await execa(process.execPath, [BIN, 'doctor', '--config', file], { reject: false, env: { FLOODGATE_TOKEN: AGENT_TOKEN } })).stdout);
    const good = await doctor(cfg(`listen: "0.0.0.0:12345"\ntls: {certFile: ${serving.certFile}, keyFile: ${serving.keyFile}, clientCaFile: ${ca.certFile}, clientNames: [${CONTROLLER_CN}]}\n`));
    assert.match(good, /ok\s+API TLS: CN=floodgate-agent, expires in \d+ day\(s\), mutual TLS \(floodgate-controller\)/);
    const plain = await doctor(cfg('listen: "0.0.0.0:12345"\n'));
    assert.match(plain, /warn\s+API TLS: plain HTTP on 0\.0\.0\.0: the token crosses the network in clear/);
    const mismatched = await doctor(cfg(`tls: {certFile: ${serving.certFile}, keyFile: ${rotated.keyFile}}\n`));
    assert.match(mismatched, /FAIL\s+API TLS: TLS private key .* does not match certificate/);
  });

  it('the resolver gives every https:// agent the controller\'s CA and client certificate (a policy\'s URLs, a BlockEvent\'s spec.agent), and none to http://', async () => {
    const material = { ca: Buffer.from(ca.cert), cert: Buffer.from(controllerCert.cert), key: Buffer.from(controllerCert.key) };
    const resolver = new AgentResolver(undefined as never, { urlAllowlist: ['https://127.0.0.1:*', 'http://127.0.0.1:*'], secretNamespaces: ['@policy'], tls: { material: () => material, selectorServerName: AGENT_NAME } });
    const policy = { metadata: { namespace: 'team', name: 'p' }, spec: { agents: [{ url: 'https://127.0.0.1:1234' }, { url: 'http://127.0.0.1:1235' }] } } as unknown as DefensePolicy;
    const { agents } = await resolver.resolve(policy);
    assert.deepEqual(agents.map((a) => [a.url, a.tls?.ca === material.ca, a.tls?.cert === material.cert, a.tls?.servername]), [
      ['https://127.0.0.1:1234', true, true, undefined],
      ['http://127.0.0.1:1235', false, false, undefined],
    ]);
    const bound = resolver.explicitTarget('https://127.0.0.1:1234');
    assert.equal(bound.tls?.ca, material.ca);
    assert.equal(resolver.explicitTarget('http://127.0.0.1:1235').tls, undefined);
  });

  it('ReloadingTlsFiles: the controller\'s CA and client certificate are re-read when they change', async () => {
    const d = fs.mkdtempSync(path.join(pki.dir, 'ctl-'));
    const files = { caFile: path.join(d, 'ca.crt'), certFile: path.join(d, 'tls.crt'), keyFile: path.join(d, 'tls.key') };
    fs.writeFileSync(files.caFile, ca.cert);
    fs.writeFileSync(files.certFile, controllerCert.cert);
    fs.writeFileSync(files.keyFile, controllerCert.key);
    const t0 = Date.now();
    let t = t0;
    const errors: string[] = [];
    const r = new ReloadingTlsFiles(files, { checkEveryMs: 1000, now: () => t, onError: (e) => errors.push(e.message) });
    const first = r.current().digest;
    const next = await ca.client(CONTROLLER_CN);
    fs.writeFileSync(files.certFile, next.cert);
    fs.writeFileSync(files.keyFile, next.key);
    assert.equal(r.current().digest, first, 'looked again before checkEveryMs');
    t = t0 + 1000;
    assert.notEqual(r.current().digest, first);
    assert.equal(String(r.current().cert), next.cert);
    fs.writeFileSync(files.keyFile, controllerCert.key);
    t = t0 + 2000;
    assert.equal(String(r.current().cert), next.cert, 'a mismatched pair replaced the good one');
    t = t0 + 3000;
    r.current();
    assert.equal(errors.length, 1, `one report per bad state: ${errors.join(' | ')}`);
    assert.match(errors[0]!, /does not match/);
  });
});

// The controller, on our API server, through mutual TLS to a selector agent.
// Its pod (stored, never run: no kubelet here) says podIP 127.x.y.z, where the
// real agent listens on port 12345, so the controller's https://<podIP>:12345
// reaches it, and must find the agents' fixed name in its certificate.
describe('the controller pushes bans over mutual TLS (issue 13.2)', { skip, timeout: 240_000 }, () => {
  const STATE_DIR = process.env.FLOODGATE_CP_STATE_DIR || '/tmp/floodgate-cp-tls';
  const NS = `fgtls-${process.pid}`;
  const POD_IP = `127.${77 + (process.pid % 100)}.${process.pid % 250}.${1 + (process.pid % 200)}`;
  let cp: ControlPlane;
  let pki: TestPki;
  let agent: RealAgent | undefined;
  let foreign: RealAgent | undefined;
  let controller: RunningController | undefined;
  let ca: TestCa;
  let client: Issued;
  const k = kubectlOrThrow(() => cp.kubeconfig);

  before(async () => {
    pki = testPki();
    ca = await pki.ca('agent-ca');
    const otherCa = await pki.ca('other-ca');
    const serving = await ca.serving('floodgate-agent', { dns: [AGENT_NAME] });
    client = await ca.client(CONTROLLER_CN);
    agent = await startRealAgent({
      listenHost: POD_IP,
      port: 12345,
      config: { tls: { certFile: serving.certFile, keyFile: serving.keyFile, clientCaFile: ca.certFile, clientNames: [CONTROLLER_CN] } },
    });
    // An agent whose certificate has the right name, from a CA the controller does not trust.
    const impostor = await otherCa.serving('floodgate-agent', { dns: [AGENT_NAME] });
    foreign = await startRealAgent({ config: { tls: { certFile: impostor.certFile, keyFile: impostor.keyFile } } });

    cp = await startApiServerWithCrds(STATE_DIR);
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${AGENT_TOKEN}`]);
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    await k(['apply', '-f', '-'], `
apiVersion: v1
kind: Pod
metadata: {name: agent-node1, namespace: ${NS}, labels: {app: floodgate-agent}}
spec: {nodeName: node1, containers: [{name: agent, image: floodgate-agent}]}`);
    await k(['-n', NS, 'patch', 'pod', 'agent-node1', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { podIP: POD_IP, podIPs: [{ ip: POD_IP }] } })]);
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: nodes, namespace: ${NS}}
spec:
  agentSelector: {matchLabels: {app: floodgate-agent}}
  agentTokenSecretRef: {name: agent-token, key: token}
---
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: impostor, namespace: ${NS}}
spec:
  agents: [{url: '${foreign.url}', tokenSecretRef: {name: agent-token, key: token}}]
`);
    controller = await startController(
      e2eControllerOptions(cp.kubeconfig, NS, {
        agentUrlAllowlist: ['https://127.0.0.1:*'],
        agentTls: { caFile: ca.certFile, certFile: client.certFile, keyFile: client.keyFile, serverName: AGENT_NAME },
      }),
    );
  });

  after(async () => {
    await controller?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await foreign?.stop().catch(() => undefined);
    if (cp) {
      await kubectl(cp.kubeconfig, ['delete', 'namespace', NS, '--wait=false']);
      await stopApiServer(STATE_DIR);
    }
    pki?.remove();
  });

  const policy = async (name: string) => JSON.parse(await k(['-n', NS, 'get', 'defensepolicy', name, '-o', 'json'])) as DefensePolicy;
  const reachable = (p: DefensePolicy) => p.status?.conditions?.find((c) => c.type === 'AgentsReachable');

  it('the selector agent at https://<podIP>:12345 answers, and a BlockEvent\'s ban reaches its firewall', async () => {
    const ok = await eventually('AgentsReachable=True', async () => {
      const c = reachable(await policy('nodes'));
      return c?.status === 'True' ? c : undefined;
    }, 30_000);
    assert.equal(ok.reason, 'AllAgentsReachable');
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: tls-ban, namespace: ${NS}}
spec: {ip: 203.0.113.77, policyRef: {name: nodes}, durationSeconds: 600, reason: pushed over mutual TLS}`);
    const be = await eventually('BlockEvent Active', async () => {
      const b = JSON.parse(await k(['-n', NS, 'get', 'be', 'tls-ban', '-o', 'json'])) as BlockEvent;
      return b.status?.phase === 'Active' ? b : undefined;
    }, 30_000);
    assert.equal(be.spec.ip, '203.0.113.77');
    // The agent's own view, through its own API (mutual TLS from here too).
    const c = new AgentApiClient({ url: `https://${POD_IP}:12345`, token: AGENT_TOKEN, tls: { ca: ca.cert, cert: client.cert, key: client.key, servername: AGENT_NAME } });
    assert.ok((await c.listBlocks()).blocks.some((b) => b.cidr === '203.0.113.77/32' && b.policy !== undefined));
  });

  it('an agent whose certificate comes from another CA is not trusted: AgentsReachable=False AgentNotTrusted, and it never sees the token', async () => {
    const c = await eventually('AgentNotTrusted', async () => {
      const cond = reachable(await policy('impostor'));
      return cond?.status === 'False' && cond.reason === 'AgentNotTrusted' ? cond : undefined;
    }, 30_000);
    assert.match(c.message, /failed TLS/);
    // It completed no request: no request line, no token check, nothing banned.
    assert.ok(!foreign!.lines().some((l) => /request|token/i.test(l.msg)), foreign!.output());
  });
});
