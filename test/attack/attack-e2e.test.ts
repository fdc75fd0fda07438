// Issue 6's "done when": `floodgate attack http` against the lab's victim
// triggers a BlockEvent. The lab (fgatk-*, 10.82.0.0/24, with a host link so
// the controller in the root namespace reaches the agent), a web server and
// the real agent (nftables, auto-defense with a per-source rate threshold) in
// the victim, the controller on our own API server (/tmp/floodgate-cp-attack)
// with a DefensePolicy that uses the agent, a benign client polling the web
// server, then the HTTP flood from the attacker namespace through the CLI.
// The attacker's BlockEvent must turn Active; the client is never blocked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { startController, type RunningController } from '../../controller/controller.js';
import type { BlockEvent } from '../../api/v1alpha1/index.js';
import { createLab, type Lab } from '../lab/lab-network.js';
import { startLabAgent, type LabAgent } from '../lab/lab-agent.js';
import { eventually, kubectl, startApiServerWithCrds, stopApiServer } from '../controller/e2e-env.js';
import type { HttpFloodSummary } from '../../attack/http-flood.js';
import { renderHttpSummary } from '../../attack/report.js';

export const ATTACK_CP_STATE_DIR = '/tmp/floodgate-cp-attack';
const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
const NS = 'attack-e2e';
/** Per-source packets per second above which auto-defense bans: far above the benign client's ~30. */
const SOURCE_PPS = 300;

const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, nftables, capture)';

describe('floodgate attack http against the lab victim', { skip, timeout: 240_000 }, () => {
  let cp: ControlPlane | undefined;
  let lab: Lab | undefined;
  let agent: LabAgent | undefined;
  let controller: RunningController | undefined;
  const children: ResultPromise[] = [];
  const clientLog = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fgatk-e2e-')), 'client.log');
  const k = (args: string[], input?: string) => kubectl(cp!.kubeconfig, args, input);
  const blockEvents = async () => (JSON.parse((await k(['-n', NS, 'get', 'be', '-o', 'json'])).stdout) as { items: BlockEvent[] }).items;

  before(async () => {
    cp = await startApiServerWithCrds(ATTACK_CP_STATE_DIR);
    lab = await createLab('fgatk', { hostLink: true, subnet: '10.82.0' });
    const l = lab;
    children.push(execa('ip', ['netns', 'exec', l.victim.ns, process.execPath, '-e', "require('http').createServer((q,s)=>s.end('hello from the victim\\n')).listen(80)"], { reject: false }));
    await eventually('the web server', async () => (await l.exec(l.client.ns, 'curl', ['-s', '-m', '1', `http://${l.victim.ip}/`], { reject: false })).stdout.includes('hello'), 10_000);
    agent = await startLabAgent(l, {
      ns: l.victim.ns,
      dev: l.victim.dev,
      backend: 'nft',
      config: {
        // All addresses, so the controller reaches it over the host link; the token guards it.
        listen: '0.0.0.0:12345',
        allowlist: [`${l.hostLinkIp}/32`],
        logLevel: 'warn',
        autoDefense: { enabled: true, windowSeconds: 1, banDurationSeconds: 120, thresholds: { sourcePpsThreshold: SOURCE_PPS } },
      },
    });
    controller = await startController({
      kubeconfig: cp.kubeconfig,
      leaseNamespace: 'default',
      identity: 'attack-e2e',
      retentionMs: 3_600_000,
      memorySources: ['cgroup'], // unused: the policy has no memory trigger
      agentUrlAllowlist: [`http://${l.victim.ip}:12345`],
      logger: pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' }),
      registry: new Registry(),
    });
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${agent.token}`]);
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    const applied = await k(['apply', '-f', '-'], [
      'apiVersion: floodgate.dev/v1alpha1', 'kind: DefensePolicy', `metadata: {name: web, namespace: ${NS}}`, 'spec:',
      '  mitigation: {mode: block, banDurationSeconds: 120}',
      `  agents: [{url: "http://${l.victim.ip}:12345", tokenSecretRef: {name: agent-token, key: token}}]`, '',
    ].join('\n'));
    assert.equal(applied.exitCode, 0, applied.stderr);
    await eventually('the policy Ready with its agent reachable', async () => {
      const r = await k(['-n', NS, 'get', 'dp', 'web', '-o', 'jsonpath={.status.conditions[?(@.type=="AgentsReachable")].status}']);
      return r.stdout === 'True';
    }, 30_000);
    // The benign client: one request every 0.2 s, each answer's status logged.
    children.push(execa('ip', ['netns', 'exec', l.client.ns, 'sh', '-c', `while true; do curl -s -m 1 -o /dev/null -w '%{http_code}\\n' http://${l.victim.ip}/ >> ${clientLog}; sleep 0.2; done`], { reject: false }));
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.catch(() => undefined)));
    await controller?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await lab?.destroy();
    if (cp) await stopApiServer(ATTACK_CP_STATE_DIR);
    fs.rmSync(path.dirname(clientLog), { recursive: true, force: true });
  });

  it('the flood gets the attacker an Active BlockEvent through the rate trigger; the client is never blocked', async () => {
    const l = lab!;
    await new Promise((r) => setTimeout(r, 1500)); // some benign history first
    const r = await execa('ip', ['netns', 'exec', l.attacker.ns, process.execPath, bin, 'attack', 'http', `http://${l.victim.ip}/`, '--concurrency', '32', '--duration', '8', '--timeout', '2', '--json'], { reject: false, timeout: 60_000 });
    assert.equal(r.exitCode, 0, String(r.stderr));
    const summary = JSON.parse(String(r.stdout)) as HttpFloodSummary;
    console.error(`\n${String(r.stderr)}\n${renderHttpSummary(summary)}`);
    assert.match(String(r.stderr), /\(10\.82\.0\.10: on a subnet of lab namespace fgatk-attacker\)/);
    assert.ok(summary.requests.completed > SOURCE_PPS, `the flood got ${summary.requests.completed} answers before the ban`);

    const be = await eventually('an Active BlockEvent for the attacker', async () => {
      const items = await blockEvents();
      return items.find((b) => b.spec.ip === l.attacker.ip && b.status?.phase === 'Active');
    }, 30_000);
    assert.match(be.spec.reason ?? '', /^auto-defense: .*source_pps/, 'banned by the per-source rate rule');
    // A ban the agent made on its own is mirrored with the agent's reason: "auto-defense: <rules>, <pps> pps, <share> of inbound".
    assert.ok(Number(/, (\d+) pps,/.exec(be.spec.reason ?? '')?.[1]) >= SOURCE_PPS, be.spec.reason);
    const table = (await k(['-n', NS, 'get', 'be'])).stdout;
    console.error(`\n$ kubectl get be -n ${NS}\n${table}`);
    assert.match(table, /10\.82\.0\.66\s+web\s+Active/);

    // The attacker is cut off, the client is not.
    const cut = await l.exec(l.attacker.ns, 'curl', ['-s', '-m', '2', `http://${l.victim.ip}/`], { reject: false });
    assert.notEqual(cut.exitCode, 0, 'the attacker still gets answers');
    const blocks = await agent!.api<{ blocks: { cidr: string }[] }>('GET', '/v1/blocks');
    assert.deepEqual(blocks.body.blocks.map((b) => b.cidr), [`${l.attacker.ip}/32`]);
    assert.ok(!(await blockEvents()).some((b) => b.spec.ip === l.client.ip), 'no BlockEvent for the client');
    // What the Grafana "Drops per second" panel reads: the nft drop counter, through the agent's /metrics.
    const metrics = await l.exec(l.victim.ns, 'curl', ['-s', '-H', `Authorization: Bearer ${agent!.token}`, 'http://127.0.0.1:12345/metrics']);
    const dropped = Number(/^floodgate_firewall_dropped_packets_total\{backend="nft"\} (\d+)$/m.exec(metrics.stdout)?.[1]);
    assert.ok(dropped > 0, `nft dropped ${dropped} packets of the banned attacker`);
    const codes = fs.readFileSync(clientLog, 'utf8').trim().split('\n');
    const ok = codes.filter((c) => c === '200').length;
    assert.ok(codes.length >= 20 && ok >= codes.length * 0.9, `the client got ${ok} of ${codes.length} answers`);
  });
});
