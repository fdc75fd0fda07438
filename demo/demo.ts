// npm run demo: floodgate end to end on one machine, as root.
// A real kube-apiserver with the CRDs and RBAC exactly as `helm template
// charts/floodgate` renders them, the controller running with the chart's
// Deployment arguments as the chart's ServiceAccount (a TokenRequest token, so
// the least-privilege ClusterRole is what it really gets), the lab (victim, attacker and client
// namespaces on a bridge), the agent in the victim with nftables and
// auto-defense, the controller with a DefensePolicy, benign traffic, then an
// hping3 flood: the attacker is banned in under a second and the ban shows up
// as a BlockEvent. One progress line per step; everything is torn down.
import fs from 'node:fs';

import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { ensureControlPlane, stopControlPlane } from '../test/control-plane/control-plane.js';
import { createLab, HOST_LINK_IP, type Lab } from '../test/lab/lab-network.js';
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
const DASHBOARD_PORT = 18080; // not the chart's 8080, likewise

/** A kubeconfig for the chart's ServiceAccount: the admin one's cluster, with a bound token from the TokenRequest API. */
function serviceAccountKubeconfig(adminKubeconfig: string, token: string): string {
  const kc = YAML.parse(fs.readFileSync(adminKubeconfig, 'utf8')) as { users: { name: string; user: Record<string, unknown> }[]; contexts: { context: { user: string } }[] };
  kc.users = [{ name: 'floodgate-controller', user: { token } }];
  for (const c of kc.contexts) c.context.user = 'floodgate-controller';
  return YAML.stringify(kc);
}

async function main() {
  const total = 10;
  fs.rmSync(STATE, { recursive: true, force: true });
  fs.mkdirSync(STATE, { recursive: true });
  const token = `demo-${Math.random().toString(36).slice(2)}-token`;
  fs.writeFileSync(path.join(STATE, 'token'), token, { mode: 0o600 });
  fs.writeFileSync(path.join(STATE, 'dashboard-token'), `demo-dashboard-${Math.random().toString(36).slice(2)}-token`, { mode: 0o600 });

  const cp = await step(1, total, 'start the control plane (etcd + kube-apiserver)', () => ensureControlPlane({ stateDir: path.join(STATE, 'cp') }));
  const kubectl = (args: string[], input?: string) => execa('kubectl', ['--kubeconfig', cp.kubeconfig, ...args], { input });

  const chart = await step(2, total, `install the CRDs and RBAC as \`helm template charts/floodgate -n ${RELEASE_NS}\` renders them`, async () => {
    const objs = await renderObjects();
    const install = objs.filter((o) => INSTALLED_KINDS.has(o.kind));
    await kubectl(['create', 'namespace', RELEASE_NS]);
    await kubectl(['apply', '-f', '-'], install.map((o) => `---\n${YAML.stringify(o)}`).join(''));
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/defensepolicies.floodgate.dev', 'crd/blockevents.floodgate.dev']);
    process.stdout.write(`(${install.map((o) => o.kind).join(', ')}) `);
    return objs;
  });

  lab = await step(3, total, 'create the lab: namespaces victim, attacker, client on a bridge (10.77.0.0/24)', () => createLab('fgdemo', { hostLink: true }));
  const l = lab;

  await step(4, total, 'start a web server in the victim and benign requests from the client', async () => {
    background('ip', ['netns', 'exec', l.victim.ns, process.execPath, '-e', "require('http').createServer((q,s)=>s.end('hello from the victim\\n')).listen(80)"], path.join(STATE, 'web.log'));
    await until('the web server', async () => (await l.exec(l.client.ns, 'curl', ['-s', '-m', '1', `http://${l.victim.ip}/`], { reject: false })).stdout.includes('hello'), 10_000);
    background('ip', ['netns', 'exec', l.client.ns, 'sh', '-c', `while true; do curl -s -m 1 -o /dev/null -w '%{http_code}\\n' http://${l.victim.ip}/; sleep 0.2; done`], path.join(STATE, 'client.log'));
  });

  await step(5, total, 'start the agent in the victim (nftables, auto-defense, API on 10.77.0.10:12345)', async () => {
    fs.writeFileSync(path.join(STATE, 'agent.yaml'), [
      `interface: ${l.victim.dev}`, 'backend: nft', `listen: "${l.victim.ip}:12345"`, `tokenFile: ${path.join(STATE, 'token')}`,
      `stateDir: ${path.join(STATE, 'agent-state')}`, `allowlist: ["${HOST_LINK_IP}/32"]`,
      'autoDefense: {enabled: true, windowSeconds: 1, banDurationSeconds: 120}', 'logLevel: warn', '',
    ].join('\n'));
    background('ip', ['netns', 'exec', l.victim.ns, process.execPath, bin, 'agent', '--config', path.join(STATE, 'agent.yaml')], path.join(STATE, 'agent.log'));
    await until('the agent', async () => (await fetch(`http://${l.victim.ip}:12345/readyz`, { headers: { authorization: `Bearer ${token}` } })).status === 200, 20_000);
  });

  await step(6, total, `start the controller as ServiceAccount ${RELEASE_NS}/floodgate-controller with the chart's arguments, and apply a DefensePolicy`, async () => {
    const saToken = String((await kubectl(['-n', RELEASE_NS, 'create', 'token', 'floodgate-controller', '--duration=2h'])).stdout).trim();
    const saKubeconfig = path.join(STATE, 'controller.kubeconfig');
    fs.writeFileSync(saKubeconfig, serviceAccountKubeconfig(cp.kubeconfig, saToken), { mode: 0o600 });
    const deployment = chart.find((o) => o.kind === 'Deployment') as K8sObject & { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    const args = deployment.spec.template.spec.containers[0]!.args
      .filter((a) => !/^--(probe-port|log-level|dashboard-port|dashboard-token-file|agent-url-allowlist)=/.test(a))
      .concat([`--agent-url-allowlist=http://${l.victim.ip}:12345`, `--probe-port=${PROBE_PORT}`, `--dashboard-port=${DASHBOARD_PORT}`, `--dashboard-token-file=${path.join(STATE, 'dashboard-token')}`,
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
      '  detection: {windowSeconds: 7, attackerShareThreshold: 0.2, victimPpsThreshold: 500}', '  mitigation: {mode: block, banDurationSeconds: 120}',
      `  agents: [{url: "http://${l.victim.ip}:12345", tokenSecretRef: {name: agent-token, key: token}}]`, '',
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
    const blocks = (await (await fetch(`http://${l.victim.ip}:12345/v1/blocks`, { headers: { authorization: `Bearer ${token}` } })).json()) as { blocks: { cidr: string; createdAt: string }[] };
    return blocks.blocks.find((b) => b.cidr === `${l.attacker.ip}/32`);
  });

  await step(9, total, 'check that the client was served throughout and the attacker is cut off', async () => {
    const codes = fs.readFileSync(path.join(STATE, 'client.log'), 'utf8').trim().split('\n');
    const ok = codes.filter((c) => c === '200').length;
    if (ok < codes.length * 0.9) throw new Error(`client got ${ok}/${codes.length} answers`);
    const r = await l.exec(l.attacker.ns, 'curl', ['-s', '-m', '2', `http://${l.victim.ip}/`], { reject: false });
    if (r.exitCode === 0) throw new Error('the attacker still gets answers');
    process.stdout.write(`(client ${ok}/${codes.length} answered) `);
  });

  await step(10, total, 'show what a user sees; the controller was never denied by its RBAC', async () => {
    const denied = fs.readFileSync(path.join(STATE, 'controller.log'), 'utf8').split('\n').filter((l) => /forbidden|HTTP 403/i.test(l));
    if (denied.length) throw new Error(`the controller was denied ${denied.length} time(s) by its RBAC, first: ${denied[0]!.slice(0, 300)}`);
    const show = async (title: string, p: Promise<{ stdout: unknown }>) => console.log(`\n$ ${title}\n${String((await p).stdout).trimEnd()}`);
    console.log('');
    await show(`kubectl get defensepolicies,blockevents -n ${NS}`, kubectl(['-n', NS, 'get', 'defensepolicies,blockevents']));
    await show(`floodgate blocks list --agent http://${l.victim.ip}:12345`, execa(process.execPath, [bin, 'blocks', 'list', '--agent', `http://${l.victim.ip}:12345`, '--token-file', path.join(STATE, 'token')]));
    await show('nft list table inet floodgate   (in the victim namespace)', l.exec(l.victim.ns, 'nft', ['list', 'table', 'inet', 'floodgate']));
    await show(`kubectl get events -n ${NS} --field-selector involvedObject.name=web`, kubectl(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.name=web']));
    const blocks = (await (await fetch(`http://127.0.0.1:${DASHBOARD_PORT}/api/blocks`)).json()) as { blocks?: { ip?: string }[] };
    console.log(`\n$ curl http://127.0.0.1:${DASHBOARD_PORT}/api/blocks   (the dashboard's JSON API; open the page at the same address)\n${JSON.stringify((blocks.blocks ?? []).map((b) => b.ip))}`);
    if (ban) console.log(`\nflood started ${new Date(floodStart).toISOString()}, attacker banned ${ban.createdAt}: ${(Date.parse(ban.createdAt) - floodStart)} ms later`);
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
