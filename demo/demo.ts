// npm run demo: floodgate end to end on one machine, as root.
// A real kube-apiserver with the CRDs, the lab (victim, attacker and client
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

async function main() {
  const total = 9;
  fs.rmSync(STATE, { recursive: true, force: true });
  fs.mkdirSync(STATE, { recursive: true });
  const token = `demo-${Math.random().toString(36).slice(2)}-token`;
  fs.writeFileSync(path.join(STATE, 'token'), token, { mode: 0o600 });

  const cp = await step(1, total, 'start the control plane (etcd + kube-apiserver) and install the CRDs', async () => {
    const cp = await ensureControlPlane({ stateDir: path.join(STATE, 'cp') });
    await execa('kubectl', ['--kubeconfig', cp.kubeconfig, 'apply', '-f', path.join(root, 'crds')]);
    await execa('kubectl', ['--kubeconfig', cp.kubeconfig, 'wait', '--for=condition=Established', '--timeout=60s', 'crd/defensepolicies.floodgate.dev', 'crd/blockevents.floodgate.dev']);
    return cp;
  });
  const kubectl = (args: string[], input?: string) => execa('kubectl', ['--kubeconfig', cp.kubeconfig, ...args], { input });

  lab = await step(2, total, 'create the lab: namespaces victim, attacker, client on a bridge (10.77.0.0/24)', () => createLab('fgdemo', { hostLink: true }));
  const l = lab;

  await step(3, total, 'start a web server in the victim and benign requests from the client', async () => {
    background('ip', ['netns', 'exec', l.victim.ns, process.execPath, '-e', "require('http').createServer((q,s)=>s.end('hello from the victim\\n')).listen(80)"], path.join(STATE, 'web.log'));
    await until('the web server', async () => (await l.exec(l.client.ns, 'curl', ['-s', '-m', '1', `http://${l.victim.ip}/`], { reject: false })).stdout.includes('hello'), 10_000);
    background('ip', ['netns', 'exec', l.client.ns, 'sh', '-c', `while true; do curl -s -m 1 -o /dev/null -w '%{http_code}\\n' http://${l.victim.ip}/; sleep 0.2; done`], path.join(STATE, 'client.log'));
  });

  await step(4, total, 'start the agent in the victim (nftables, auto-defense, API on 10.77.0.10:12345)', async () => {
    fs.writeFileSync(path.join(STATE, 'agent.yaml'), [
      `interface: ${l.victim.dev}`, 'backend: nft', `listen: "${l.victim.ip}:12345"`, `tokenFile: ${path.join(STATE, 'token')}`,
      `stateDir: ${path.join(STATE, 'agent-state')}`, `allowlist: ["${HOST_LINK_IP}/32"]`,
      'autoDefense: {enabled: true, windowSeconds: 1, banDurationSeconds: 120}', 'logLevel: warn', '',
    ].join('\n'));
    background('ip', ['netns', 'exec', l.victim.ns, process.execPath, bin, 'agent', '--config', path.join(STATE, 'agent.yaml')], path.join(STATE, 'agent.log'));
    await until('the agent', async () => (await fetch(`http://${l.victim.ip}:12345/readyz`, { headers: { authorization: `Bearer ${token}` } })).status === 200, 20_000);
  });

  await step(5, total, 'start the controller and apply a DefensePolicy that uses the agent', async () => {
    background(process.execPath, [bin, 'controller', '--kubeconfig', cp.kubeconfig, '--lease-namespace', 'default', '--probe-port', '18081', '--log-level', 'warn'], path.join(STATE, 'controller.log'));
    await kubectl(['create', 'namespace', NS]);
    await kubectl(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${token}`]);
    await kubectl(['apply', '-f', '-'], [
      'apiVersion: floodgate.dev/v1alpha1', 'kind: DefensePolicy', `metadata: {name: web, namespace: ${NS}}`, 'spec:',
      '  trigger: {continuous: true, pollIntervalSeconds: 2}',
      '  detection: {windowSeconds: 7, attackerShareThreshold: 0.2}', '  mitigation: {mode: block, banDurationSeconds: 120}',
      `  agents: [{url: "http://${l.victim.ip}:12345", tokenSecretRef: {name: agent-token, key: token}}]`, '',
    ].join('\n'));
    await until('Ready=True', async () => {
      const r = await kubectl(['-n', NS, 'get', 'dp', 'web', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return String(r.stdout) === 'True';
    }, 30_000);
  });

  const floodStart = await step(6, total, 'flood the victim from the attacker: hping3 -S --flood (5 s)', async () => {
    await sleep(1500); // a little benign history first
    const start = Date.now();
    await l.exec(l.attacker.ns, 'timeout', ['5', 'hping3', '-S', '-p', '80', '--flood', l.victim.ip], { reject: false });
    return start;
  });

  const ban = await step(7, total, 'wait for UnderAttack and the BlockEvent of the attacker to be Active', async () => {
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

  await step(8, total, 'check that the client was served throughout and the attacker is cut off', async () => {
    const codes = fs.readFileSync(path.join(STATE, 'client.log'), 'utf8').trim().split('\n');
    const ok = codes.filter((c) => c === '200').length;
    if (ok < codes.length * 0.9) throw new Error(`client got ${ok}/${codes.length} answers`);
    const r = await l.exec(l.attacker.ns, 'curl', ['-s', '-m', '2', `http://${l.victim.ip}/`], { reject: false });
    if (r.exitCode === 0) throw new Error('the attacker still gets answers');
    process.stdout.write(`(client ${ok}/${codes.length} answered) `);
  });

  await step(9, total, 'show what a user sees', async () => {
    const show = async (title: string, p: Promise<{ stdout: unknown }>) => console.log(`\n$ ${title}\n${String((await p).stdout).trimEnd()}`);
    console.log('');
    await show(`kubectl get defensepolicies,blockevents -n ${NS}`, kubectl(['-n', NS, 'get', 'defensepolicies,blockevents']));
    await show(`floodgate blocks list --agent http://${l.victim.ip}:12345`, execa(process.execPath, [bin, 'blocks', 'list', '--agent', `http://${l.victim.ip}:12345`, '--token-file', path.join(STATE, 'token')]));
    await show('nft list table inet floodgate   (in the victim namespace)', l.exec(l.victim.ns, 'nft', ['list', 'table', 'inet', 'floodgate']));
    await show(`kubectl get events -n ${NS} --field-selector involvedObject.name=web`, kubectl(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.name=web']));
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
