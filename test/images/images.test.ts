// The two images as users build them (images/Dockerfile's targets controller and
// agent on node:24-bookworm-slim, scripts/build-images.sh), run for real: one
// shared build under both, what is in them, the controller
// container against a real API server, and the agent container on the host's
// network with only NET_ADMIN and NET_RAW, capturing a flood and banning with nft.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { ensureImages, docker, REPO_ROOT, type Images } from '../cluster/node.js';
import { ensureControlPlane, stopControlPlane } from '../control-plane/control-plane.js';
import { createAttackerLink, eventually, type AttackerLink } from '../controller/e2e-env.js';

const CP_STATE_DIR = process.env.FLOODGATE_CP_STATE_DIR || '/tmp/floodgate-cp-images';
// Names of this file's own (interface names max 15 characters): the host is .1, the attacker .66.
const LINK = { ns: 'fgimg-lab', hostDev: 'fgimg0', subnet: '10.214.0' };
const API_BAN_IP = '10.214.0.77';
let link: AttackerLink | undefined;

let images: Images;
/** Set when this file's agent made the host's `inet floodgate` table (it did not exist before). */
let madeNftTable = false;
const containers: string[] = [];
const dirs: string[] = [];

/** A directory of files a container user can read (mounted read-only). */
function configDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fgimg-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content, { mode: 0o444 });
  fs.chmodSync(dir, 0o755);
  return dir;
}

async function run(image: string, args: string[]): Promise<string> {
  const r = await docker(['run', '-d', ...args.slice(0, args.indexOf('--')), image, ...args.slice(args.indexOf('--') + 1)]);
  assert.equal(r.exitCode, 0, `docker run ${image}: ${r.stderr}`);
  const id = r.stdout.trim();
  containers.push(id);
  return id;
}

async function logsOf(id: string): Promise<string> {
  const r = await docker(['logs', id]);
  return `${r.stdout}\n${r.stderr}`;
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  images = await ensureImages();
  for (const [image, size] of Object.entries(images.sizes)) console.log(`# image ${image}: ${(size / 1e6).toFixed(1)} MB`);
});

after(async () => {
  for (const id of containers) await docker(['rm', '-f', id]);
  if (madeNftTable) await execa('nft', ['delete', 'table', 'inet', 'floodgate'], { reject: false });
  await link?.destroy();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await stopControlPlane({ stateDir: CP_STATE_DIR, wipe: true });
});

test('the images hold what runs and nothing else: no tests, no compiler, no dev or optional packages', async () => {
  for (const image of [images.controller, images.agent]) {
    const inspect = JSON.parse((await docker(['image', 'inspect', image])).stdout)[0];
    const entrypoint: string[] = inspect.Config.Entrypoint;
    assert.equal(entrypoint.at(-1), '/app/bin/floodgate.js', `${image}: the CLI is the entrypoint`);
    // --network none: nothing here needs a network (and Docker warns on stderr when the host does not forward).
    const sh = async (script: string) => (await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', image, '-c', script])).stdout.trim();
    assert.match(await sh('node --version'), /^v24\./, `${image}: Node 24 LTS`);
    assert.equal(await sh("find /app \\( -name '*.test.js' -o -name '*.test.mjs' -o -name '*.test.cjs' \\) | wc -l"), '0', `${image}: no test files under /app`);
    assert.equal(await sh('ls -d /app/dist/test /app/dist/bench /app/dist/demo 2>/dev/null | wc -l'), '0', `${image}: no test, bench or demo code`);
    assert.equal(await sh('for c in gcc cc g++ make python3; do command -v $c; done; true'), '', `${image}: no compiler or build tools in the runtime`);
    assert.equal(await sh('test -e /app/node_modules/autocannon && echo present || echo absent'), 'absent', `${image}: autocannon (floodgate attack http only) is not installed`);
    assert.equal(await sh('test -e /app/node_modules/typescript && echo present || echo absent'), 'absent', `${image}: no dev dependencies`);
    assert.equal(await sh('test -f /app/native/binding.gyp && test -f /app/native/build/Release/floodgate_native.node && echo ok'), 'ok', `${image}: the engine and the file that locates it`);
    // The one command that needs autocannon says why it cannot run, in one line.
    const attack = await docker(['run', '--rm', '--network', 'none', image, 'attack', 'http', 'http://127.0.0.1:9/']);
    assert.equal(attack.exitCode, 1, `${image}: attack http exits 1 (${attack.stderr})`);
    assert.match(attack.stderr.trim(), /^floodgate: attack http needs the optional package autocannon, which this install omits/m);
    assert.equal(attack.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
  }
  const controllerSh = async (script: string) => (await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', images.controller, '-c', script])).stdout.trim();
  assert.equal(await controllerSh('test -f /app/controller/dashboard/public/index.html && echo ok'), 'ok', 'the dashboard page ships');
  assert.equal(await controllerSh("find /app/controller /app/dist/controller/dashboard -name '*.test.*' | wc -l"), '0', 'no dashboard test files');
  assert.equal(await controllerSh('id -u'), '65532', 'the controller runs as 65532');
  const agentSh = async (script: string) => (await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', images.agent, '-c', script])).stdout.trim();
  assert.match(await agentSh('nft --version'), /^nftables v1\./, 'the agent has nft');
});

test("the two targets share one build: the same layers up to /app (packages, dist, engine), then only each image's own", async () => {
  const layers = async (image: string) => JSON.parse((await docker(['image', 'inspect', image])).stdout)[0].RootFS.Layers as string[];
  const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(fs.readFileSync(path.join(REPO_ROOT, 'images', 'Dockerfile'), 'utf8'))?.[1];
  assert.ok(base, 'images/Dockerfile names its base');
  const [b, c, a] = [await layers(base), await layers(images.controller), await layers(images.agent)];
  assert.deepEqual(c.slice(0, b.length), b, `the controller is built on ${base}`);
  assert.deepEqual(a.slice(0, b.length), b, `the agent is built on ${base}`);
  let shared = 0;
  while (shared < Math.min(c.length, a.length) && c[shared] === a[shared]) shared++;
  assert.ok(shared > b.length, 'layers beyond the base are shared');
  // Beyond the shared runtime: the controller adds its CRDs and the dashboard's page, the agent nftables.
  assert.equal(c.length - shared, 2, `the controller's own layers: ${c.length - shared}`);
  assert.equal(a.length - shared, 1, `the agent's own layers: ${a.length - shared}`);
});

test('the controller container against a real API server: Ready, leader, dashboard served; @kubernetes/client-node is never loaded', async () => {
  const cp = await ensureControlPlane({ stateDir: CP_STATE_DIR });
  const crds = await execa('kubectl', ['--kubeconfig', cp.kubeconfig, 'apply', '-f', path.join(REPO_ROOT, 'crds')], { reject: false });
  assert.equal(crds.exitCode, 0, String(crds.stderr));
  const token = 'images-test-dashboard-token-0123456789';
  const cfg = configDir({ kubeconfig: fs.readFileSync(cp.kubeconfig, 'utf8'), token });
  const probePort = await freePort();
  const dashboardPort = await freePort();
  // As the chart runs it: non-root, read-only root filesystem, no capabilities.
  // An empty read-only directory over @kubernetes/client-node proves the
  // controller never needs it at run time (it is used for types only).
  const id = await run(images.controller, [
    '--network', 'host', '--read-only', '--tmpfs', '/tmp', '--user', '65532:65532', '--cap-drop', 'ALL',
    '--security-opt', 'no-new-privileges', '-v', `${cfg}:/cfg:ro`, '--tmpfs', '/app/node_modules/@kubernetes:ro',
    '--', 'controller', '--kubeconfig', '/cfg/kubeconfig', '--lease-namespace', 'default',
    `--probe-port=${probePort}`, `--dashboard-port=${dashboardPort}`, '--dashboard-token-file', '/cfg/token',
  ]);
  await eventually('the controller container /readyz', async () => {
    const state = JSON.parse((await docker(['inspect', id])).stdout)[0].State;
    if (!state.Running) throw new Error(`the controller container exited (${state.ExitCode}):\n${await logsOf(id)}`);
    const r = await fetch(`http://127.0.0.1:${probePort}/readyz`).catch(() => undefined);
    return r?.status === 200;
  }, 60_000, 500);
  const lease = await execa('kubectl', ['--kubeconfig', cp.kubeconfig, '-n', 'default', 'get', 'lease', 'floodgate-controller', '-o', 'jsonpath={.spec.holderIdentity}'], { reject: false });
  assert.ok(String(lease.stdout).length > 0, 'the container holds the leader Lease');
  const page = await fetch(`http://127.0.0.1:${dashboardPort}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i, 'the dashboard page');
  const uplot = await fetch(`http://127.0.0.1:${dashboardPort}/vendor/uplot/uPlot.esm.js`);
  assert.equal(uplot.status, 200, 'uPlot is served from node_modules');
  const logs = await logsOf(id);
  assert.doesNotMatch(logs, /"level":(50|60)/, `no errors logged:\n${logs}`);
});

test('the agent container, host network, only NET_ADMIN and NET_RAW: captures a flood and bans with nft on the host', async (t) => {
  const hadTable = (await execa('nft', ['list', 'table', 'inet', 'floodgate'], { reject: false })).exitCode === 0;
  if (hadTable) return t.skip('an nft table inet floodgate already exists on this host; not mixing with it');
  madeNftTable = true;
  link = await createAttackerLink(LINK);
  const { hostDev, hostIp, attackerIp, ns } = link;

  const token = 'images-test-agent-token-0123456789';
  const cfg = configDir({ token });
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'fgimg-state-'));
  dirs.push(state);
  const port = await freePort();
  const id = await run(images.agent, [
    '--network', 'host', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
    '--read-only', '--tmpfs', '/tmp', '--security-opt', 'no-new-privileges',
    '-v', `${cfg}:/cfg:ro`, '-v', `${state}:/var/lib/floodgate`, '--tmpfs', '/app/node_modules/@kubernetes:ro',
    '--', 'agent', '--interface', hostDev, '--backend', 'nft', '--listen', `127.0.0.1:${port}`,
    '--token-file', '/cfg/token', '--auto-defense',
  ]);
  const url = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  await eventually('the agent container /readyz', async () => {
    const s = JSON.parse((await docker(['inspect', id])).stdout)[0].State;
    if (!s.Running) throw new Error(`the agent container exited (${s.ExitCode}):\n${await logsOf(id)}`);
    return (await fetch(`${url}/readyz`, { headers: auth }).catch(() => undefined))?.status === 200;
  }, 60_000, 500);
  const hostConfig = JSON.parse((await docker(['inspect', id])).stdout)[0].HostConfig as { CapAdd: string[]; CapDrop: string[]; Privileged: boolean; NetworkMode: string };
  assert.deepEqual(hostConfig.CapAdd.map((c) => c.replace(/^CAP_/, '')).sort(), ['NET_ADMIN', 'NET_RAW']);
  assert.deepEqual(hostConfig.CapDrop.map((c) => c.replace(/^CAP_/, '')), ['ALL']);
  assert.equal(hostConfig.Privileged, false);
  assert.equal(hostConfig.NetworkMode, 'host');

  // A SYN flood from the lab namespace: captured by libpcap inside the container, judged, banned by auto-defense.
  await link.flood(4);
  const bans = await eventually('the attacker in the agent ban list', async () => {
    const r = (await (await fetch(`${url}/v1/blocks`, { headers: auth })).json()) as { blocks: { cidr: string; source: string }[] };
    return r.blocks.some((b) => b.cidr === `${attackerIp}/32`) ? r.blocks : undefined;
  }, 20_000, 300);
  assert.equal(bans.find((b) => b.cidr === `${attackerIp}/32`)?.source, 'auto');
  const talkers = (await (await fetch(`${url}/v1/talkers?seconds=60&limit=5`, { headers: auth })).json()) as { talkers?: { ip: string; packets: number }[] };
  assert.ok(JSON.stringify(talkers).includes(attackerIp), `the capture saw the attacker: ${JSON.stringify(talkers)}`);

  // A ban through the API.
  const add = await fetch(`${url}/v1/blocks`, { method: 'POST', headers: auth, body: JSON.stringify({ ip: API_BAN_IP, durationSeconds: 120, reason: 'images test' }) });
  assert.ok(add.status < 300, `POST /v1/blocks: ${add.status} ${await add.text()}`);

  // Both are in the host's nft set, put there by nft inside the container.
  const set = await eventually('both bans in the host nft set', async () => {
    const r = await execa('nft', ['list', 'set', 'inet', 'floodgate', 'hosts4'], { reject: false });
    const s = String(r.stdout);
    return s.includes(attackerIp) && s.includes(API_BAN_IP) ? s : undefined;
  }, 10_000, 200);
  assert.match(set, /flags timeout/);
  // And they bite: the attacker's pings are dropped.
  const ping = await execa('ip', ['netns', 'exec', ns, 'ping', '-c', '2', '-W', '1', hostIp], { reject: false });
  assert.notEqual(ping.exitCode, 0, 'the banned attacker no longer reaches the host');

  // Clean up the host firewall: lift the bans, stop the agent, remove the table it made (it did not exist before).
  const rm = await fetch(`${url}/v1/blocks?all=true`, { method: 'DELETE', headers: auth });
  assert.ok(rm.status < 300);
  await docker(['stop', '-t', '10', id]);
});
