// npm run demo: floodgate end to end on one machine, as root.
// A real kube-apiserver with the CRDs and RBAC exactly as `helm template
// charts/floodgate` renders them, the controller running with the chart's
// Deployment arguments as the chart's ServiceAccount (a TokenRequest token, so
// the least-privilege ClusterRole is what it really gets), the lab (victim, attacker and client
// namespaces on a bridge), the agent in the victim with nftables and
// auto-defense, the controller with a DefensePolicy, benign traffic, then an
// hping3 flood: the attacker is banned in under a second and the ban shows up
// as a BlockEvent. Act two: a SYN flood from spoofed random sources, which no
// per-IP ban can stop: the agent applies a signature rule (synproxy for the
// web port, docs/mitigation.md) within a second, the controller records it as
// an Active SignatureRule, no per-IP bans pile up, and the benign client keeps
// being served throughout. One progress line per step; everything is torn down.
// The agent is the chart's host agent (agent.host.url is the victim's
// address): it serves HTTPS with the certificate the chart made for it and
// answers only the controller's client certificate (mutual TLS, docs/tls.md).
import fs from 'node:fs';

import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { ensureControlPlane, stopControlPlane } from '../test/control-plane/control-plane.js';
import { createLab, HOST_LINK_IP, type Lab } from '../test/lab/lab-network.js';
import { AgentApiClient } from '../api/agent/v1/client.js';
import type { DefensePolicy, SignatureRule } from '../api/v1alpha1/index.js';
import YAML from 'yaml';
import { NAMESPACE as RELEASE_NS, renderObjects, type K8sObject } from '../deploy/helm.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = path.join(root, 'bin', 'floodgate.js');
const STATE = '/tmp/floodgate-demo';
const NS = 'shop';
const t0 = Date.now();
const elapsed = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;
const children: ResultPromise[] = [];
let lab: Lab | undefined;

async function step<T>(n: number, total: number, what: string, fn: () => Promise<T>): Promise<T> {
  process.stdout.write(`[${elapsed()}] step ${n}/${total}: ${what} ... `);
  try {
    const r = await fn();
    process.stdout.write('ok\n');
    return r;
  } catch (err) {
    process.stdout.write('FAILED\n');
    throw new Error(`step ${n} (${what}) failed: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function background(cmd: string, args: string[], logFile: string): ResultPromise {
  const child = execa(cmd, args, { reject: false, all: true, buffer: false });
  child.all?.pipe(fs.createWriteStream(logFile, { flags: 'a' }));
  children.push(child);
  return child;
}

/** The chart's objects that make up "CRDs and RBAC", as helm template renders them. */
const INSTALLED_KINDS = new Set(['CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
const PROBE_PORT = 18081; // not the chart's 8081: this runs on a shared host
/** The victim's address in the lab (createLab's default subnet), the chart's agent.host.url. */
const VICTIM_IP = '10.77.0.10';
const AGENT_URL = `https://${VICTIM_IP}:12345`;

/** A key of a Secret the chart rendered, written to STATE/<dir>/<key> (as a Secret volume would mount it). */
function secretFile(objs: K8sObject[], secret: string, key: string, dir: string): string {
  const s = objs.find((o) => o.kind === 'Secret' && o.metadata.name === secret) as (K8sObject & { data?: Record<string, string> }) | undefined;
  const b64 = s?.data?.[key];
  if (!b64) throw new Error(`the chart rendered no Secret ${secret} with ${key}`);
  const file = path.join(STATE, dir, key);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.from(b64, 'base64'), { mode: 0o600 });
  return file;
}
const DASHBOARD_PORT = 18080; // not the chart's 8080, likewise

/** A kubeconfig for the chart's ServiceAccount: the admin one's cluster, with a bound token from the TokenRequest API. */
function serviceAccountKubeconfig(adminKubeconfig: string, token: string): string {
  const kc = YAML.parse(fs.readFileSync(adminKubeconfig, 'utf8')) as { users: { name: string; user: Record<string, unknown> }[]; contexts: { context: { user: string } }[] };
  kc.users = [{ name: 'floodgate-controller', user: { token } }];
  for (const c of kc.contexts) c.context.user = 'floodgate-controller';
  return YAML.stringify(kc);
}

/** The client's answers (epoch ms, HTTP code) logged since `from` and before `until`. */
function clientAnswers(from = 0, until = Infinity): { total: number; ok: number } {
  const lines = fs.readFileSync(path.join(STATE, 'client.log'), 'utf8').trim().split('\n');
  const codes = lines.map((l) => l.split(' ')).filter(([at]) => Number(at) >= from && Number(at) < until).map(([, code]) => code);
  return { total: codes.length, ok: codes.filter((c) => c === '200').length };
}

async function main() {
  const total = 13;
  fs.rmSync(STATE, { recursive: true, force: true });
  fs.mkdirSync(STATE, { recursive: true });
  const token = `demo-${Math.random().toString(36).slice(2)}-token`;
  fs.writeFileSync(path.join(STATE, 'token'), token, { mode: 0o600 });
  fs.writeFileSync(path.join(STATE, 'dashboard-token'), `demo-dashboard-${Math.random().toString(36).slice(2)}-token`, { mode: 0o600 });

  const cp = await step(1, total, 'start the control plane (etcd + kube-apiserver)', () => ensureControlPlane({ stateDir: path.join(STATE, 'cp') }));
  const kubectl = (args: string[], input?: string) => execa('kubectl', ['--kubeconfig', cp.kubeconfig, ...args], { input });

  const chart = await step(2, total, `install the CRDs and RBAC as \`helm template charts/floodgate -n ${RELEASE_NS}\` renders them`, async () => {
    // agent.host.url: the agent in the victim, so the chart makes its certificate for that address.
    const objs = await renderObjects({ set: [`agent.host.url=${AGENT_URL}`] });
    const install = objs.filter((o) => INSTALLED_KINDS.has(o.kind));
    await kubectl(['create', 'namespace', RELEASE_NS]);
    await kubectl(['apply', '-f', '-'], install.map((o) => `---\n${YAML.stringify(o)}`).join(''));
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/defensepolicies.floodgate.dev', 'crd/blockevents.floodgate.dev', 'crd/signaturerules.floodgate.dev']);
    process.stdout.write(`(${install.map((o) => o.kind).join(', ')}) `);
    return objs;
  });

  lab = await step(3, total, 'create the lab: namespaces victim, attacker, client on a bridge (10.77.0.0/24)', () => createLab('fgdemo', { hostLink: true }));
  const l = lab;
  if (l.victim.ip !== VICTIM_IP) throw new Error(`the lab's victim is ${l.victim.ip}, not ${VICTIM_IP}`);
  // The chart's certificates, where its Secret volumes would put them: the host agent's, and the controller's client certificate.
  const agentTls = { cert: secretFile(chart, 'floodgate-host-agent-tls', 'tls.crt', 'agent-tls'), key: secretFile(chart, 'floodgate-host-agent-tls', 'tls.key', 'agent-tls'), ca: secretFile(chart, 'floodgate-host-agent-tls', 'ca.crt', 'agent-tls') };
  const clientTls = { cert: secretFile(chart, 'floodgate-agent-client', 'tls.crt', 'controller-tls'), key: secretFile(chart, 'floodgate-agent-client', 'tls.key', 'controller-tls'), ca: secretFile(chart, 'floodgate-agent-client', 'ca.crt', 'controller-tls') };
  const agentClient = new AgentApiClient({
    url: AGENT_URL,
    token,
    tls: { ca: fs.readFileSync(clientTls.ca), cert: fs.readFileSync(clientTls.cert), key: fs.readFileSync(clientTls.key) },
  });

  await step(4, total, 'start a web server in the victim and benign requests from the client', async () => {
    background('ip', ['netns', 'exec', l.victim.ns, process.execPath, '-e', "require('http').createServer((q,s)=>s.end('hello from the victim\\n')).listen(80)"], path.join(STATE, 'web.log'));
    await until('the web server', async () => (await l.exec(l.client.ns, 'curl', ['-s', '-m', '1', `http://${l.victim.ip}/`], { reject: false })).stdout.includes('hello'), 10_000);
    // -m 2: an answer after one SYN retransmit (1 s; a flood at ~75k pps overflows the veths' queues now and then) still counts as served.
    background('ip', ['netns', 'exec', l.client.ns, 'sh', '-c', `while true; do echo "$(date +%s%3N) $(curl -s -m 2 -o /dev/null -w '%{http_code}' http://${l.victim.ip}/)"; sleep 0.2; done`], path.join(STATE, 'client.log'));
  });

  await step(5, total, `start the agent in the victim (nftables, auto-defense, API on ${AGENT_URL} with mutual TLS)`, async () => {
    fs.writeFileSync(path.join(STATE, 'agent.yaml'), [
      `interface: ${l.victim.dev}`, 'backend: nft', `listen: "${l.victim.ip}:12345"`, `tokenFile: ${path.join(STATE, 'token')}`,
      `stateDir: ${path.join(STATE, 'agent-state')}`, `allowlist: ["${HOST_LINK_IP}/32"]`,
      'autoDefense: {enabled: true, windowSeconds: 1, banDurationSeconds: 120}', 'logLevel: warn',
      // Its own rules last 60 s; synproxy: manage sets nf_conntrack_tcp_loose=0 in the victim's namespace only.
      'signatures: {durationSeconds: 60, synproxy: manage}',
      `tls: {certFile: ${agentTls.cert}, keyFile: ${agentTls.key}, clientCaFile: ${agentTls.ca}, clientNames: [floodgate-controller]}`, '',
    ].join('\n'));
    background('ip', ['netns', 'exec', l.victim.ns, process.execPath, bin, 'agent', '--config', path.join(STATE, 'agent.yaml')], path.join(STATE, 'agent.log'));
    await until('the agent', async () => (await agentClient.readyz()).status === 'ready', 20_000);
  });

  await step(6, total, `start the controller as ServiceAccount ${RELEASE_NS}/floodgate-controller with the chart's arguments, and apply a DefensePolicy`, async () => {
    const saToken = String((await kubectl(['-n', RELEASE_NS, 'create', 'token', 'floodgate-controller', '--duration=2h'])).stdout).trim();
    const saKubeconfig = path.join(STATE, 'controller.kubeconfig');
    fs.writeFileSync(saKubeconfig, serviceAccountKubeconfig(cp.kubeconfig, saToken), { mode: 0o600 });
    const deployment = chart.find((o) => o.kind === 'Deployment') as K8sObject & { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    // The chart's arguments, with the files where this demo keeps them instead of the pod's mount paths.
    const moved: Record<string, string> = { 'agent-ca-file': clientTls.ca, 'agent-client-cert-file': clientTls.cert, 'agent-client-key-file': clientTls.key };
    const args = deployment.spec.template.spec.containers[0]!.args
      .filter((a) => !/^--(probe-port|log-level|dashboard-port|dashboard-token-file)=/.test(a))
      .map((a) => {
        const m = /^--([a-z-]+)=/.exec(a);
        return m && moved[m[1]!] ? `--${m[1]}=${moved[m[1]!]}` : a;
      })
      .concat([`--probe-port=${PROBE_PORT}`, `--dashboard-port=${DASHBOARD_PORT}`, `--dashboard-token-file=${path.join(STATE, 'dashboard-token')}`,
        '--log-level=info', '--kubeconfig', saKubeconfig]); // info: RBAC denials in a defense run are logged there
    background(process.execPath, [bin, ...args], path.join(STATE, 'controller.log'));
    await kubectl(['create', 'namespace', NS]);
    await kubectl(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${token}`]);
    await kubectl(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    await kubectl(['apply', '-f', '-'], [
      'apiVersion: floodgate.dev/v1alpha1', 'kind: DefensePolicy', `metadata: {name: web, namespace: ${NS}}`, 'spec:',
      '  trigger: {continuous: true, pollIntervalSeconds: 2}',
      // Once auto-defense has banned the attacker, the analysis reports it as blocked, so UnderAttack
      // rests on the victim's rate: the lab's victim serves ~5 requests/s, and hping3's rate on a
      // busy 2-core machine can be as low as ~1,000 pps, far below the 20,000 pps default.
      '  detection: {windowSeconds: 7, attackerShareThreshold: 0.2, victimPpsThreshold: 500}', '  mitigation: {mode: block, banDurationSeconds: 120, signatures: auto, signatureLimits: {durationSeconds: 60, maxActive: 8}}',
      `  agents: [{url: "${AGENT_URL}", tokenSecretRef: {name: agent-token, key: token}}]`, '',
    ].join('\n'));
    await until('Ready=True', async () => {
      const r = await kubectl(['-n', NS, 'get', 'dp', 'web', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return String(r.stdout) === 'True';
    }, 30_000);
  });

  const floodStart = await step(7, total, 'flood the victim from the attacker: hping3 -S --flood (5 s)', async () => {
    await sleep(1500); // a little benign history first
    const start = Date.now();
    await l.exec(l.attacker.ns, 'timeout', ['5', 'hping3', '-S', '-p', '80', '--flood', l.victim.ip], { reject: false });
    return start;
  });

  const ban = await step(8, total, 'wait for UnderAttack and the BlockEvent of the attacker to be Active', async () => {
    await until('UnderAttack=True', async () => {
      const r = await kubectl(['-n', NS, 'get', 'dp', 'web', '-o', 'jsonpath={.status.conditions[?(@.type=="UnderAttack")].status}']);
      return String(r.stdout) === 'True';
    }, 30_000);
    await until('an Active BlockEvent', async () => {
      const r = await kubectl(['-n', NS, 'get', 'be', '-o', 'jsonpath={range .items[*]}{.spec.ip} {.status.phase}{"\\n"}{end}']);
      return String(r.stdout).includes(`${l.attacker.ip} Active`);
    }, 30_000);
    return (await agentClient.listBlocks()).blocks.find((b) => b.cidr === `${l.attacker.ip}/32`);
  });

  await step(9, total, 'check that the client was served throughout and the attacker is cut off', async () => {
    const { total: asked, ok } = clientAnswers();
    if (ok < asked * 0.9) throw new Error(`client got ${ok}/${asked} answers`);
    const r = await l.exec(l.attacker.ns, 'curl', ['-s', '-m', '2', `http://${l.victim.ip}/`], { reject: false });
    if (r.exitCode === 0) throw new Error('the attacker still gets answers');
    process.stdout.write(`(client ${ok}/${asked} answered) `);
  });

  // Act two: a flood from spoofed random sources. Every packet has another source address, so
  // neither auto-defense nor the controller finds an attacker to ban; a signature rule stops it.
  const policyStatus = async () =>
    (JSON.parse(String((await kubectl(['-n', NS, 'get', 'dp', 'web', '-o', 'json'])).stdout)) as { status?: DefensePolicy['status'] }).status;
  const underAttack = (st: DefensePolicy['status']) => st?.conditions?.find((c) => c.type === 'UnderAttack')?.status;
  const blockEventCount = async () => (JSON.parse(String((await kubectl(['-n', NS, 'get', 'be', '-o', 'json'])).stdout)) as { items: unknown[] }).items.length;
  const signatureRules = async () => (JSON.parse(String((await kubectl(['-n', NS, 'get', 'sr', '-o', 'json'])).stdout)) as { items: SignatureRule[] }).items;

  await step(10, total, 'act two: wait until the policy sees the first attack over (UnderAttack=False)', async () => {
    await until('UnderAttack=False', async () => underAttack(await policyStatus()) === 'False', 30_000);
    // A ban was enough for the single-source flood: no signature rule was needed for it.
    const held = (await signatureRules()).filter((r) => r.status?.phase === 'Active' || r.status?.phase === 'Pending');
    if (held.length) throw new Error(`signature rules already held before the spoofed flood: ${held.map((r) => `${r.metadata.name} (${r.spec.vector})`).join(', ')}`);
  });

  const SPOOF_SECONDS = 8;
  const act2 = await step(11, total, `flood the victim from spoofed random sources: hping3 -S -p 80 --flood --rand-source (${SPOOF_SECONDS} s); wait for the SignatureRule to be Active on the agent`, async () => {
    const blockEventsBefore = await blockEventCount();
    const bansBefore = (await agentClient.listBlocks()).blocks.length;
    const start = Date.now();
    const flood = l.exec(l.attacker.ns, 'timeout', ['-k', '2', String(SPOOF_SECONDS), 'hping3', '-S', '-p', '80', '--flood', '--rand-source', l.victim.ip], { reject: false, timeoutMs: (SPOOF_SECONDS + 10) * 1000 });
    try {
      const sr = await until('an Active SignatureRule for the SYN flood', async () => (await signatureRules()).find((r) => r.spec.vector === 'syn_flood' && r.status?.phase === 'Active'), 30_000);
      const activeAt = Date.now();
      const held = await until('the rule held by the agent', async () => (await agentClient.signatures()).signatures.find((r) => r.vector === 'syn_flood'), 10_000);
      const nft = String((await l.exec(l.victim.ns, 'nft', ['list', 'table', 'inet', 'floodgate'])).stdout);
      if (!nft.includes(`counter name "sig_${held.id}"`)) throw new Error(`the agent holds rule ${held.id} but nft has no counter sig_${held.id}`);
      process.stdout.write(`(${sr.metadata.name}: ${sr.status?.rule}; applied on the agent ${Date.parse(held.createdAt) - start} ms after the flood started, Active in Kubernetes after ${activeAt - start} ms) `);
      // The policy's own verdict of the flood (its continuous trigger, every 2 s).
      const st = await until('the policy to report the spoofed flood', async () => {
        const cur = await policyStatus();
        const a = cur?.lastAnalysis;
        return underAttack(cur) === 'True' && a && Date.parse(a.time) > start ? cur : undefined;
      }, 20_000);
      return { start, sr, held, status: st, blockEventsBefore, bansBefore };
    } finally {
      await flood;
    }
  });
  const act2End = Date.now();

  await step(12, total, 'check that the client was served during the spoofed flood, no per-IP bans piled up, and the rule dropped the flood', async () => {
    const served = clientAnswers(act2.start, act2End);
    if (served.total < Math.floor(SPOOF_SECONDS / 0.6) || served.ok < served.total * 0.9) throw new Error(`client got ${served.ok}/${served.total} answers during the spoofed flood`);
    const newBlockEvents = (await blockEventCount()) - act2.blockEventsBefore;
    const newBans = (await agentClient.listBlocks()).blocks.length - act2.bansBefore;
    if (newBlockEvents > 2 || newBans > 2) throw new Error(`per-IP bans piled up for spoofed sources: ${newBlockEvents} new BlockEvents, ${newBans} new bans on the agent`);
    const dropped = await until('the rule\'s counter in the SignatureRule\'s status', async () => {
      const cur = (await signatureRules()).find((r) => r.metadata.name === act2.sr.metadata.name);
      return (cur?.status?.packetsDropped ?? 0) > 0 ? cur!.status!.packetsDropped : undefined;
    }, 20_000);
    process.stdout.write(`(client ${served.ok}/${served.total} answered during the flood; ${newBlockEvents} new BlockEvents, ${newBans} new bans; ${dropped} packets matched the rule; policy saw: ${(act2.status.lastAnalysis?.vectors ?? []).join(', ') || 'an attack'}${(act2.status.lastAnalysis?.signatures ?? []).map((x) => `; ${x.rule} ${x.applied ? 'applied' : `proposed (${x.why ?? ''})`}`).join('')}) `);
  });

  await step(13, total, 'show what a user sees; the controller was never denied by its RBAC', async () => {
    const denied = fs.readFileSync(path.join(STATE, 'controller.log'), 'utf8').split('\n').filter((l) => /forbidden|HTTP 403/i.test(l));
    if (denied.length) throw new Error(`the controller was denied ${denied.length} time(s) by its RBAC, first: ${denied[0]!.slice(0, 300)}`);
    const show = async (title: string, p: Promise<{ stdout: unknown }>) => console.log(`\n$ ${title}\n${String((await p).stdout).trimEnd()}`);
    console.log('');
    await show(`kubectl get floodgate -n ${NS}   (the category: DefensePolicies, BlockEvents, SignatureRules)`, kubectl(['-n', NS, 'get', 'floodgate']));
    const tlsFlags = ['--ca-file', clientTls.ca, '--cert-file', clientTls.cert, '--key-file', clientTls.key];
    await show(
      `floodgate blocks list --agent ${AGENT_URL} --ca-file ca.crt --cert-file tls.crt --key-file tls.key   (the controller's client certificate: the agent answers no other)`,
      execa(process.execPath, [bin, 'blocks', 'list', '--agent', AGENT_URL, '--token-file', path.join(STATE, 'token'), ...tlsFlags]),
    );
    await show('nft list table inet floodgate   (in the victim namespace)', l.exec(l.victim.ns, 'nft', ['list', 'table', 'inet', 'floodgate']));
    await show(`kubectl get events -n ${NS} --field-selector involvedObject.name=web`, kubectl(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.name=web']));
    // The dashboard's API needs its token, as a bearer header or a signed-in session.
    const dashboardTokenFile = path.join(STATE, 'dashboard-token');
    const dashboardToken = fs.readFileSync(dashboardTokenFile, 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${DASHBOARD_PORT}/api/blocks`, { headers: { authorization: `Bearer ${dashboardToken}` } });
    if (res.status !== 200) throw new Error(`the dashboard's /api/blocks answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const blocks = (await res.json()) as { blocks?: { ip?: string }[] };
    console.log(
      `\n$ curl -H "Authorization: Bearer $(cat ${dashboardTokenFile})" http://127.0.0.1:${DASHBOARD_PORT}/api/blocks   (the dashboard's JSON API; open the page at the same address and sign in with that token)\n${JSON.stringify((blocks.blocks ?? []).map((b) => b.ip))}`,
    );
    if (ban) console.log(`\nact one: flood started ${new Date(floodStart).toISOString()}, attacker banned ${ban.createdAt}: ${(Date.parse(ban.createdAt) - floodStart)} ms later`);
    console.log(
      `act two: spoofed flood started ${new Date(act2.start).toISOString()}, SignatureRule applied on the agent ${act2.held.createdAt}: ${Date.parse(act2.held.createdAt) - act2.start} ms later ` +
        `(${act2.held.applied}); the client was served throughout`,
    );
  });
}

async function teardown() {
  process.stdout.write(`[${elapsed()}] teardown: stopping processes, removing the lab and the control plane ... `);
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => Promise.race([c, sleep(5000)])));
  for (const c of children) c.kill('SIGKILL');
  await lab?.destroy();
  await stopControlPlane({ stateDir: path.join(STATE, 'cp'), wipe: true }).catch(() => undefined);
  process.stdout.write('done\n');
}

if (process.getuid?.() !== 0) {
  console.error('demo: run as root (network namespaces, nftables and packet capture need it)');
  process.exit(1);
}
let failed = false;
process.once('SIGINT', () => void teardown().then(() => process.exit(130)));
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`\ndemo: ${(err as Error).message}\n  logs: ${STATE}/*.log`);
} finally {
  await teardown();
}
process.exit(failed ? 1 : 0);
