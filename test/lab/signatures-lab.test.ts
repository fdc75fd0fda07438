// Issue 11 in the lab, with real parts: network namespaces (sgl-*,
// 10.91.0.0/24, a host link so the controller in the root namespace reaches
// the agent), a live web server in the victim, the real agent (nftables,
// auto-defense, synproxy managed in its own namespace), the controller on our
// own API server (FLOODGATE_CP_STATE_DIR, default /tmp/floodgate-cp-sig) with
// a DefensePolicy (signatures: auto, continuous trigger), a benign client
// fetching a page every 0.4 s, and three floods from an attacker namespace:
//   - a spoofed SYN flood to the web server (hping3 -S -p 80 --flood --rand-source);
//   - a UDP amplification from many sources with a fixed source port
//     (hping3 -2 -s 161 -k --rand-source);
//   - a fragment flood (hping3 -2 -f: 16-byte fragments, --rand-source).
// For each: the rule appears (a SignatureRule, Active, and in nft with its own
// counter), its counter rises and reaches the object's status, no per-IP bans
// pile up, the client keeps being served, the rule survives an agent restart,
// and deleting the object removes it (helper rules included). The SYN rule is
// left to expire on time instead. Then bad inputs are refused with a clear
// message and nothing applied. Prints what kubectl and nft show.
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
import type { SignatureRule } from '../../api/v1alpha1/index.js';
import type { SignatureList } from '../../api/agent/v1/types.js';
import { createLab, type Lab } from './lab-network.js';
import { startLabAgent, type LabAgent, type LabAgentOptions } from './lab-agent.js';
import { eventually, kubectl, startApiServerWithCrds, stopApiServer } from '../controller/e2e-env.js';

const CP_STATE_DIR = process.env.FLOODGATE_CP_STATE_DIR || '/tmp/floodgate-cp-sig';
const NS = 'sig-lab';
const RULE_SECONDS = 40;
const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, nftables, capture)';

const t0 = Date.now();
const progress = (msg: string) => console.error(`[sig-lab +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('signature rules in the lab (real agent, nftables, controller, hping3 floods)', { skip, timeout: 600_000 }, () => {
  let cp: ControlPlane | undefined;
  let lab: Lab | undefined;
  let agent: LabAgent | undefined;
  let agentOpts: LabAgentOptions;
  let controller: RunningController | undefined;
  const children: ResultPromise[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgl-'));
  const clientLog = path.join(tmp, 'client.log');
  const k = (args: string[], input?: string) => kubectl(cp!.kubeconfig, args, input);
  const rules = async () => (JSON.parse((await k(['-n', NS, 'get', 'sr', '-o', 'json'])).stdout) as { items: SignatureRule[] }).items;
  const nftTable = async () => (await lab!.exec(lab!.victim.ns, 'nft', ['list', 'table', 'inet', 'floodgate'], { reject: false })).stdout;
  const nftCounter = async (id: string) => {
    const r = await lab!.exec(lab!.victim.ns, 'nft', ['-j', 'list', 'counter', 'inet', 'floodgate', `sig_${id}`], { reject: false });
    if (r.exitCode !== 0) return undefined;
    const c = (JSON.parse(r.stdout) as { nftables: { counter?: { packets: number } }[] }).nftables.find((i) => i.counter)?.counter;
    return c?.packets;
  };
  const agentRules = async () => (await agent!.api<SignatureList>('GET', '/v1/signatures')).body.signatures;
  const bans = async () => (await agent!.api<{ blocks: unknown[] }>('GET', '/v1/blocks')).body.blocks.length;
  /** The client's answers (epoch ms, ok) since `from`. */
  const client = (from: number, until = Infinity) => {
    const lines = fs.existsSync(clientLog) ? fs.readFileSync(clientLog, 'utf8').trim().split('\n') : [];
    const rs = lines.map((l) => l.split(' ')).filter(([at]) => Number(at) >= from && Number(at) < until).map(([, code]) => code === '200');
    return { total: rs.length, ok: rs.filter(Boolean).length };
  };

  /** hping3 from the attacker namespace, bounded by timeout. */
  const flood = (seconds: number, args: string[]) =>
    lab!.exec(lab!.attacker.ns, 'timeout', ['-k', '2', String(seconds), 'hping3', ...args, '--flood', lab!.victim.ip], { reject: false, timeoutMs: (seconds + 10) * 1000 });

  before(async () => {
    cp = await startApiServerWithCrds(CP_STATE_DIR);
    lab = await createLab('sgl', { hostLink: true, subnet: '10.91.0' });
    const l = lab;
    children.push(execa('ip', ['netns', 'exec', l.victim.ns, process.execPath, '-e', "require('http').createServer((q,s)=>s.end('hello from the victim\\n')).listen(80)"], { reject: false }));
    await eventually('the web server', async () => (await l.exec(l.client.ns, 'curl', ['-s', '-m', '1', `http://${l.victim.ip}/`], { reject: false })).stdout.includes('hello'), 10_000);
    agentOpts = {
      ns: l.victim.ns,
      dev: l.victim.dev,
      backend: 'nft',
      stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'sgl-agent-')),
      config: {
        listen: '0.0.0.0:12345',
        allowlist: [`${l.hostLinkIp}/32`],
        logLevel: 'warn',
        autoDefense: { enabled: true, windowSeconds: 1, banDurationSeconds: 60 },
        // synproxy's nf_conntrack_tcp_loose=0 is set in the victim's own namespace only.
        signatures: { durationSeconds: RULE_SECONDS, synproxy: 'manage' },
      },
    };
    agent = await startLabAgent(l, agentOpts);
    agentOpts.token = agent.token;
    controller = await startController({
      kubeconfig: cp.kubeconfig,
      leaseNamespace: 'default',
      identity: 'sig-lab',
      retentionMs: 3_600_000,
      memorySources: ['cgroup'],
      agentUrlAllowlist: [`http://${l.victim.ip}:12345`],
      logger: pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' }),
      registry: new Registry(),
    });
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${agent.token}`]);
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    const applied = await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: web, namespace: ${NS}}
spec:
  trigger: {continuous: true, pollIntervalSeconds: 1}
  detection: {windowSeconds: 1}
  mitigation: {signatures: auto, signatureLimits: {durationSeconds: ${RULE_SECONDS}, maxActive: 8}}
  agents: [{url: "http://${l.victim.ip}:12345", tokenSecretRef: {name: agent-token, key: token}}]
`);
    assert.equal(applied.exitCode, 0, applied.stderr);
    await eventually('the policy with its agent reachable', async () => (await k(['-n', NS, 'get', 'dp', 'web', '-o', 'jsonpath={.status.conditions[?(@.type=="AgentsReachable")].status}'])).stdout === 'True', 30_000);
    // The benign client of the issue: one page every 0.4 s, each answer logged with its time.
    children.push(execa('ip', ['netns', 'exec', l.client.ns, 'sh', '-c', `while true; do echo "$(date +%s%3N) $(curl -s -m 2 -o /dev/null -w '%{http_code}' http://${l.victim.ip}/)" >> ${clientLog}; sleep 0.4; done`], { reject: false }));
    await sleep(2000);
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.catch(() => undefined)));
    await controller?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await lab?.destroy();
    if (cp) await stopApiServer(CP_STATE_DIR);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /**
   * One flood: the rule appears (object Active, nft rule with its counter), the
   * counter rises during the flood and reaches status, no per-IP bans, the
   * client is served. Returns the SignatureRule.
   */
  async function floodAndCheck(what: string, vector: string, seconds: number, args: string[], nftRule: RegExp): Promise<SignatureRule> {
    const bansBefore = await bans();
    const started = Date.now();
    progress(`${what}: hping3 ${args.join(' ')} --flood for ${seconds} s`);
    const done = flood(seconds, args);
    const sr = await eventually(`an Active SignatureRule for the ${vector}`, async () => (await rules()).find((r) => r.spec.vector === vector && r.status?.phase === 'Active'), 20_000, 250);
    progress(`${what}: SignatureRule ${sr.metadata.name} Active ${((Date.now() - started) / 1000).toFixed(1)} s after the flood started: ${sr.status?.rule}`);
    const id = (await agentRules()).find((r) => r.vector === vector)?.id;
    assert.ok(id, `the agent holds a ${vector} rule`);
    const table = await nftTable();
    assert.match(table, nftRule);
    assert.match(table, new RegExp(`counter name "sig_${id}"`));
    const first = (await nftCounter(id)) ?? 0;
    await sleep(1500);
    const second = (await nftCounter(id)) ?? 0;
    assert.ok(second > first, `the counter of sig_${id} rises during the flood (${first} -> ${second})`);
    await done;
    const ended = Date.now();
    const dropped = await eventually('the counters in the SignatureRule\'s status', async () => {
      const cur = (await rules()).find((r) => r.metadata.name === sr.metadata.name);
      return (cur?.status?.packetsDropped ?? 0) > 0 ? cur!.status!.packetsDropped : undefined;
    }, 20_000);
    progress(`${what}: ${dropped} packets matched the rule (status.packetsDropped)`);
    assert.ok((await bans()) - bansBefore <= 1, 'no per-IP bans pile up for a spoofed flood');
    const served = client(started, ended);
    progress(`${what}: the client got ${served.ok} of ${served.total} answers during the flood`);
    assert.ok(served.total >= Math.floor(seconds / 0.6) && served.ok >= served.total * 0.9, `the client was served: ${served.ok} of ${served.total}`);
    console.error(`\n$ kubectl get sr -n ${NS}\n${(await k(['-n', NS, 'get', 'sr'])).stdout}`);
    return (await rules()).find((r) => r.metadata.name === sr.metadata.name)!;
  }

  /** The agent restarts (same state dir, same token): the rule is there again, same expiry, in nft. */
  async function restartKeeps(sr: SignatureRule): Promise<void> {
    const before = (await agentRules()).find((r) => r.vector === sr.spec.vector)!;
    await agent!.stop();
    assert.match(await nftTable(), new RegExp(`sig_${before.id}`), 'the firewall keeps the rule while the agent is down');
    agent = await startLabAgent(lab!, agentOpts);
    const after = (await agentRules()).find((r) => r.id === before.id);
    // Restored with its expiry (a push of the SignatureRule may round it up by under a second, never shorten it).
    const drift = Date.parse(after?.expiresAt ?? '') - Date.parse(before.expiresAt);
    assert.ok(drift >= 0 && drift < 2000, `restored with its expiry: ${before.expiresAt} -> ${after?.expiresAt}`);
    assert.match(await nftTable(), new RegExp(`counter name "sig_${before.id}"`));
  }

  /** Deleting the object removes the rule and every helper rule it added. */
  async function deleteRemoves(sr: SignatureRule, id: string): Promise<void> {
    await k(['-n', NS, 'delete', 'sr', sr.metadata.name!, '--wait=true', '--timeout=30s']);
    await eventually('the rule gone from the agent', async () => !(await agentRules()).some((r) => r.id === id), 15_000);
    assert.doesNotMatch(await nftTable(), new RegExp(id), 'no rule, helper rule or counter of it in nft');
  }

  const quiet = async () => {
    // The detection windows (agent 1 s, policy 1 s) pass without the flood.
    await sleep(3000);
  };

  let synRule: { sr: SignatureRule; id: string } | undefined;

  it('a spoofed SYN flood to the live web server: synproxy (notrack + proxy), counted; it survives an agent restart and expires on time', async () => {
    const sr = await floodAndCheck('SYN flood', 'syn_flood', 10, ['-S', '-p', '80', '--rand-source'], /tcp dport 80 tcp flags syn \/ syn,rst,ack counter name "sig_[0-9a-f]{16}" notrack/);
    assert.equal(sr.spec.action.type, 'synproxy');
    assert.match(sr.status?.applied ?? '', /^synproxy mss \d+ wscale \d+/);
    assert.match(await nftTable(), /synproxy mss \d+ wscale \d+ timestamp sack-perm/);
    const id = (await agentRules()).find((r) => r.vector === 'syn_flood')!.id;
    synRule = { sr, id };
    await quiet();
    await restartKeeps(sr);
    // Left to run out: the agent removes it at its expiry, and the object turns Expired.
    const expires = Date.parse(sr.status!.expiresAt!);
    progress(`SYN flood: waiting for the rule's expiry at ${sr.status!.expiresAt}`);
    await eventually('the SYN rule gone from nft at its expiry', async () => !(await nftTable()).includes(id), Math.max(0, expires - Date.now()) + 20_000, 500);
    assert.ok(Date.now() >= expires - 1000, 'not removed before its expiry');
    await eventually('the SignatureRule Expired', async () => (await rules()).find((r) => r.metadata.name === sr.metadata.name)?.status?.phase === 'Expired', 20_000);
  });

  it('a UDP amplification (fixed source port 161, random sources): dropped by source port; survives a restart; deleting the object removes it', async () => {
    const sr = await floodAndCheck('SNMP amplification', 'udp_amplification', 8, ['-2', '-s', '161', '-k', '-p', '9999', '-d', '400', '--rand-source'], /ip daddr 10\.91\.0\.10 ip saddr != @sig_nb4 udp sport 161 counter name "sig_[0-9a-f]{16}" drop/);
    assert.equal(sr.spec.action.type, 'drop');
    await quiet();
    const id = (await agentRules()).find((r) => r.vector === 'udp_amplification')!.id;
    await restartKeeps(sr);
    await deleteRemoves(sr, id);
  });

  it('a fragment flood: fragments dropped before reassembly; survives a restart; deleting the object removes it', async () => {
    const sr = await floodAndCheck('fragment flood', 'fragment_flood', 8, ['-2', '-f', '-d', '200', '-p', '9999', '--rand-source'], /ip frag-off & 16383 != 0 counter name "sig_[0-9a-f]{16}" drop/);
    assert.match(await nftTable(), /chain sig_early \{\s+type filter hook prerouting priority -450/);
    await quiet();
    const id = (await agentRules()).find((r) => r.vector === 'fragment_flood')!.id;
    await restartKeeps(sr);
    await deleteRemoves(sr, id);
  });

  it('floodgate blocks list shows the agent\'s signature rules', async () => {
    const token = path.join(tmp, 'token');
    fs.writeFileSync(token, agent!.token);
    // A rule to show (made through the agent API, so it is mirrored as a SignatureRule too).
    const add = await agent!.api('POST', '/v1/signatures', { match: { protocol: 'udp', destination: lab!.victim.ip, sourcePort: 1900 }, action: { type: 'drop' }, durationSeconds: 30, reason: 'SSDP reflection seen upstream' });
    assert.equal(add.status, 201);
    const r = await lab!.exec(lab!.victim.ns, process.execPath, [bin, 'blocks', 'list', '--agent', 'http://127.0.0.1:12345', '--token-file', token]);
    console.error(`\n$ floodgate blocks list\n${r.stdout}`);
    assert.match(r.stdout, /ID +VICTIM +VECTOR +RULE +APPLIED +DROPPED/);
    assert.match(r.stdout, /udp sport 1900 to 10\.91\.0\.10 +drop/);
    await eventually('the API-made rule recorded as a SignatureRule', async () => (await rules()).some((x) => x.spec.signature.sourcePort === 1900 && x.status?.phase === 'Active'), 20_000);
  });

  it('bad inputs are refused with a clear message and nothing is applied', async () => {
    const l = lab!;
    const before = await nftTable();
    const heldBefore = (await agentRules()).map((r) => r.id).sort();
    const post = (match: object, action: object = { type: 'drop' }) => agent!.api<{ error: string }>('POST', '/v1/signatures', { match, action, durationSeconds: 60, reason: 'test' });
    const cases: [object, number, RegExp][] = [
      [{ protocol: 'udp', destination: l.victim.ip, sourcePort: 123, source: `${l.hostLinkIp}/32` }, 403, /overlaps allowlisted 10\.91\.0\.1\/32 \(never blocked\)/],
      [{ protocol: 'udp', destination: l.victim.ip, destinationPorts: { from: 0, to: 65535 } }, 422, /destinationPorts 0-65535 is every port/],
      [{ protocol: 'udp', destination: l.client.ip, sourcePort: 161 }, 403, /10\.91\.0\.20 is not an address this agent protects/],
    ];
    for (const [match, status, re] of cases) {
      const r = await post(match);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.match(r.body.error, re);
      assert.doesNotMatch(r.body.error, /\n/);
    }
    const syn = await post({ protocol: 'tcp', destination: l.victim.ip, destinationPort: 80, tcpFlags: { mask: ['syn', 'ack', 'rst'], value: ['syn'] } });
    assert.equal(syn.status, 422);
    assert.match(syn.body.error, /never a blanket drop of SYNs/);

    // The same through Kubernetes: the object is Failed with the reason, no agent got it.
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: SignatureRule
metadata: {name: not-protected, namespace: ${NS}}
spec:
  signature: {protocol: udp, destination: ${l.client.ip}, sourcePort: 161}
  action: {type: drop}
  policyRef: {name: web}
  durationSeconds: 60`);
    const failed = await eventually('the SignatureRule Failed', async () => (await rules()).find((r) => r.metadata.name === 'not-protected' && r.status?.phase === 'Failed'), 20_000);
    assert.match(failed.status?.message ?? '', /10\.91\.0\.20 is not an address this agent protects/);
    console.error(`\n$ kubectl get sr -n ${NS} -o wide\n${(await k(['-n', NS, 'get', 'sr', '-o', 'wide'])).stdout}`);
    assert.deepEqual((await agentRules()).map((r) => r.id).sort(), heldBefore, 'the agent holds nothing new');
    // Counters of the rules already held may move (a client's SYNs meet the SYN rule's notrack).
    const rulesOnly = (t: string) => t.replace(/packets \d+ bytes \d+/g, 'packets _ bytes _');
    assert.equal(rulesOnly(await nftTable()), rulesOnly(before), 'nft unchanged');
    void synRule;
  });
});
