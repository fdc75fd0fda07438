// The dashboard end to end in real headless Chromium: the controller (with
// its dashboard) on our own kube-apiserver, a real dry-run agent capturing on
// a veth whose peer namespace sends real packets (hping3 from four addresses,
// then a SYN flood that auto-defense bans), and the page driven by
// playwright-core. Checks what a user sees and what kubectl then says.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { startController, type RunningController } from '../../controller/controller.js';
import { isRoot } from '../support/netns.js';
import {
  createAttackerLink,
  e2eControllerOptions,
  eventually,
  kubectl,
  ownMemoryCgroup,
  startAgent,
  startApiServerWithCrds,
  stopApiServer,
  type AttackerLink,
  type RunningAgent,
} from '../controller/e2e-env.js';

const STATE_DIR = process.env.FLOODGATE_DASH_STATE_DIR || '/tmp/floodgate-cp-dash';
const NS = 'floodgate-dash';
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dashboard-e2e-token-0123456789';
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** This process's v1 memory cgroup, under which the test pod's cgroup is made (as in test/controller). */
const CGROUP_ROOT = ownMemoryCgroup();

const skip = !isRoot() ? 'needs root (network namespaces, capture)' : !fs.existsSync(CHROMIUM) ? `needs Debian's chromium at ${CHROMIUM}` : false;

describe('dashboard in headless Chromium', { skip, timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let link: AttackerLink;
  let agent: RunningAgent;
  let controller: RunningController;
  let browser: Browser;
  let page: Page;
  let url: string;
  let podDir: string | undefined;
  const background: ResultPromise[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fgdash-'));

  const k = (args: string[], input?: string) => kubectl(cp.kubeconfig, args, input);
  const jsonpath = async (args: string[], expr: string) => (await k(['-n', NS, 'get', ...args, '-o', `jsonpath=${expr}`])).stdout;

  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
    // FLOODGATE_DASH_NETNS / _HOSTDEV: names of a parallel run's own.
    link = await createAttackerLink({ ns: process.env.FLOODGATE_DASH_NETNS || 'fgdash-attacker', hostDev: process.env.FLOODGATE_DASH_HOSTDEV || 'fgdash0', subnet: '10.81.0' });
    // Lab-sized victim threshold, so the flood below is classified (vector, victim), not only banned.
    fs.writeFileSync(path.join(tmp, 'agent.yaml'), 'autoDefense:\n  enabled: true\n  thresholds:\n    victimPpsThreshold: 500\n');
    agent = await startAgent(link.hostDev, 25000 + (process.pid % 1000), ['--config', path.join(tmp, 'agent.yaml')]);
    // Steady background traffic from four more addresses, in different protocols and rates, so the chart and the talkers have real numbers.
    const sources: [number, string[]][] = [
      [67, ['--icmp', '-i', 'u40000']],
      [68, ['--udp', '-p', '53', '-i', 'u80000']],
      [69, ['-S', '-p', '443', '-i', 'u150000']],
      [70, ['--icmp', '-i', 'u300000']],
    ];
    for (const [i, args] of sources) {
      await execa('ip', ['netns', 'exec', link.ns, 'ip', 'addr', 'add', `10.81.0.${i}/24`, 'dev', 'eth0']);
      background.push(execa('ip', ['netns', 'exec', link.ns, 'hping3', '-q', ...args, '-a', `10.81.0.${i}`, link.hostIp], { reject: false }));
    }
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${agent.token}`]);
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);

    // A pod for the memory panel: its cgroup is where the kubelet's cgroupfs driver would put it, with a real process using memory.
    await k(['apply', '-f', '-'], `
apiVersion: v1
kind: Pod
metadata: {name: shop-web-0, namespace: ${NS}, labels: {app: shop-web}}
spec: {containers: [{name: web, image: registry.invalid/web:1}]}`);
    if (CGROUP_ROOT) {
      const uid = await jsonpath(['pod', 'shop-web-0'], '{.metadata.uid}');
      podDir = path.join(CGROUP_ROOT, 'kubepods', 'besteffort', `pod${uid}`);
      fs.mkdirSync(podDir, { recursive: true });
      fs.writeFileSync(path.join(podDir, 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
      const hog = execa('sh', ['-c', `echo $$ > ${podDir}/cgroup.procs && exec ${process.execPath} -e "const b=Buffer.alloc(40*1024*1024,1); console.log('ready'); setInterval(()=>b[0]++,1000)"`], { reject: false });
      background.push(hog);
      await new Promise<void>((resolve) => hog.stdout!.once('data', () => resolve()));
    }

    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: web, namespace: ${NS}}
spec:
  targetSelector: {matchLabels: {app: shop-web}}
  trigger: {memoryThresholdPercent: 90, pollIntervalSeconds: 2}
  detection: {windowSeconds: 5, attackerShareThreshold: 0.2}
  mitigation: {banDurationSeconds: 600}
  agents: [{url: ${agent.url}, tokenSecretRef: {name: agent-token, key: token}}]`);

    fs.writeFileSync(path.join(tmp, 'dashboard-token'), `${TOKEN}\n`);
    controller = await startController(
      e2eControllerOptions(cp.kubeconfig, NS, { dashboard: { port: 0, host: '127.0.0.1', tokenFile: path.join(tmp, 'dashboard-token') } }),
    );
    url = controller.dashboardUrl!;
    await eventually('the policy Ready', async () => (await jsonpath(['dp', 'web'], '{.status.conditions[?(@.type=="Ready")].status}')) === 'True', 30_000);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await controller?.stop().catch(() => undefined);
    for (const p of background) p.kill('SIGKILL');
    await Promise.all(background);
    await agent?.stop().catch(() => undefined);
    await link?.destroy().catch(() => undefined);
    if (podDir) for (const dir of [podDir, path.dirname(podDir), path.dirname(path.dirname(podDir))]) await rmdirEventually(dir);
    if (cp) await stopApiServer(STATE_DIR);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const points = async () => Number(await page.getAttribute('#chart-pps', 'data-points'));

  it('shows nothing but the sign-in form until signed in; a read without the token is 401', async () => {
    await page.goto(url);
    assert.equal(await page.title(), 'floodgate dashboard');
    await page.waitForSelector('#auth-state:text("sign in to see the dashboard")');
    assert.equal(await page.isVisible('#login-form'), true);
    assert.equal(await page.isVisible('#signin-needed'), true);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await points(), 0, 'no traffic fetched before sign-in');
    assert.equal(await page.locator('#talkers-body td').count(), 0);
    assert.equal((await fetch(`${url}/api/blocks`)).status, 401);
    assert.equal((await fetch(`${url}/api/traffic`)).status, 401);
  });

  it('after sign-in the live chart gains points as seconds pass', async () => {
    await page.fill('#token-input', TOKEN);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#auth-state:text("signed in")');
    assert.equal(await page.isVisible('#signin-needed'), false);
    const first = await eventually('chart points', async () => ((await points()) > 0 ? points() : undefined), 20_000);
    await eventually('more chart points', async () => (await points()) > first, 10_000);
    assert.equal(await page.locator('#chart-pps canvas').count(), 1);
    assert.match((await page.textContent('#chart-pps .u-legend')) ?? '', new RegExp(agent.url.replace(/[.]/g, '\\.')));
    // The pings show up as talkers, with protocol mix.
    await page.waitForSelector('#talkers-body td:text("10.81.0.67")', { timeout: 15_000 });
    await page.waitForSelector('#talkers-body td:text("10.81.0.68")', { timeout: 15_000 });
    const talkers = (await page.textContent('#talkers-body')) ?? '';
    assert.match(talkers, /icmp 100%/);
    assert.match(talkers, /udp 100%/);
  });

  it('refuses a write without the token, and a signed-in write without the CSRF token', async () => {
    const anon = await fetch(`${url}/api/policies/${NS}/web`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"windowSeconds":6}' });
    assert.equal(anon.status, 401);
    // The session cookie is HttpOnly: the page's scripts cannot read it.
    assert.equal(await page.evaluate('document.cookie'), '');
    const status = await page.evaluate(async (p) => (await fetch(p, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"windowSeconds":6}' })).status, `/api/policies/${NS}/web`);
    assert.equal(status, 403);
    assert.equal(await jsonpath(['dp', 'web'], '{.spec.detection.windowSeconds}'), '5');
  });

  const shareInput = () => page.locator(`form[data-policy="${NS}/web"] input[data-control="attackerShareThreshold"]`);
  const save = () => page.locator(`form[data-policy="${NS}/web"] button[type=submit]`).click();

  it('edits a threshold and the DefensePolicy changes', async () => {
    assert.equal(await shareInput().inputValue(), '0.2');
    await shareInput().fill('0.35');
    await save();
    await page.waitForSelector(`form[data-policy="${NS}/web"] .saved:text("saved")`);
    assert.equal(await jsonpath(['dp', 'web'], '{.spec.detection.attackerShareThreshold}'), '0.35');
  });

  it("an invalid threshold shows the API server's message and changes nothing", async () => {
    const generation = await jsonpath(['dp', 'web'], '{.metadata.generation}');
    await shareInput().fill('50');
    await save();
    const error = page.locator(`form[data-policy="${NS}/web"] .policy-error`);
    await error.waitFor({ state: 'visible' });
    // The CRD's structural schema speaks, not the dashboard.
    assert.match((await error.textContent()) ?? '', /spec\.detection\.attackerShareThreshold.*less than or equal to 1/);
    assert.equal(await jsonpath(['dp', 'web'], '{.spec.detection.attackerShareThreshold}'), '0.35');
    assert.equal(await jsonpath(['dp', 'web'], '{.metadata.generation}'), generation);
    await shareInput().fill('0.35');
  });

  it('a flood is banned, listed under active blocks and attack history; Unblock deletes the BlockEvent after confirmation', async () => {
    // FLOODGATE_DASHBOARD_WARMUP=<s>: let the chart fill before the flood (for the README screenshot).
    await new Promise((r) => setTimeout(r, Number(process.env.FLOODGATE_DASHBOARD_WARMUP ?? 0) * 1000));
    await link.flood(5, ['-S', '-p', '80', '-i', 'u100']);
    const be = await eventually('a BlockEvent for the flooding address', async () => {
      const names = (await k(['-n', NS, 'get', 'be', '-o', `jsonpath={range .items[?(@.spec.ip=="${link.attackerIp}")]}{.metadata.name}{"\\n"}{end}`])).stdout.trim();
      return names.split('\n')[0] || undefined;
    }, 30_000);
    await eventually('the BlockEvent Active', async () => (await jsonpath(['be', be], '{.status.phase}')) === 'Active', 30_000);
    const row = page.locator(`tr[data-blockevent="${NS}/${be}"]`);
    await row.waitFor({ timeout: 15_000 });
    assert.match((await row.textContent()) ?? '', new RegExp(`${link.attackerIp.replace(/[.]/g, '\\.')}.*Active`));
    // Each vector named with service and ports (issue 10), e.g. "TCP SYN flood (tcp dport 80) 100%".
    await page.waitForSelector('#attacks-body td:text("TCP SYN flood")', { timeout: 15_000 });
    assert.match((await page.textContent('#attacks-body')) ?? '', new RegExp(`banned ${link.attackerIp.replace(/[.]/g, '\\.')}`));

    fs.mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: path.join(root, 'test-artifacts', 'dashboard.png'), fullPage: true });

    // Dismissing the confirmation changes nothing.
    page.once('dialog', (d) => void d.dismiss());
    await row.locator('button.unblock').click();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await k(['-n', NS, 'get', 'be', be])).exitCode, 0);

    page.once('dialog', (d) => {
      assert.match(d.message(), new RegExp(`Unblock ${link.attackerIp.replace(/[.]/g, '\\.')}`));
      void d.accept();
    });
    await row.locator('button.unblock').click();
    await eventually('the BlockEvent gone', async () => (await k(['-n', NS, 'get', 'be', be])).stderr.includes('NotFound'), 30_000);
    await row.waitFor({ state: 'detached', timeout: 10_000 });
  });

  it('lists an active signature rule with its drop rate; Remove deletes the SignatureRule and the agent no longer holds it', async () => {
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: SignatureRule
metadata: {name: snmp-amp, namespace: ${NS}}
spec:
  signature: {protocol: udp, destination: ${link.hostIp}, sourcePort: 161}
  action: {type: drop}
  policyRef: {name: web}
  durationSeconds: 600
  vector: udp_amplification
  label: SNMP amplification (udp sport 161)`);
    await eventually('the SignatureRule Active', async () => (await jsonpath(['sr', 'snmp-amp'], '{.status.phase}')) === 'Active', 30_000);
    type Held = { signatures: { id: string; match: { text: string } }[] };
    // The agent may also hold its own rule for the SYN flood earlier in this file: only this one counts here.
    const held = async () => (await agent.api<Held>('GET', '/v1/signatures')).signatures.map((r) => r.match.text).filter((t) => t.startsWith('udp sport 161 '));
    assert.deepEqual(await held(), [`udp sport 161 to ${link.hostIp}`]);
    const row = page.locator(`tr[data-signaturerule="${NS}/snmp-amp"]`);
    await row.waitFor({ timeout: 15_000 });
    const text = (await row.textContent()) ?? '';
    assert.match(text, new RegExp(`${link.hostIp.replace(/[.]/g, '\\.')}SNMP amplification \\(udp sport 161\\)udp sport 161 to ${link.hostIp.replace(/[.]/g, '\\.')}: drop`));
    assert.match((await row.locator('td.drop-rate').textContent()) ?? '', /^\d[\d.]*\s?\w* pps$/);

    page.once('dialog', (d) => void d.dismiss());
    await row.locator('button.remove-signature').click();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await k(['-n', NS, 'get', 'sr', 'snmp-amp'])).exitCode, 0, 'dismissed: nothing removed');

    page.once('dialog', (d) => {
      assert.match(d.message(), /Remove the signature rule "udp sport 161 to [\d.]+: drop"\?/);
      void d.accept();
    });
    await row.locator('button.remove-signature').click();
    await eventually('the SignatureRule gone', async () => (await k(['-n', NS, 'get', 'sr', 'snmp-amp'])).stderr.includes('NotFound'), 30_000);
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    assert.deepEqual(await held(), [], 'the agent no longer holds the rule');
  });

  it('shows the selected pod memory against its limit and the trigger line', { skip: CGROUP_ROOT ? false : 'no cgroup v1 memory hierarchy' }, async () => {
    const mem = page.locator(`#memory-body .mem[data-pod="${NS}/shop-web-0"]`);
    await mem.waitFor({ timeout: 15_000 });
    assert.match((await mem.textContent()) ?? '', /of 64\.0 MiB \(\d+\.\d%\) · trigger at 90%/);
  });
});

async function rmdirEventually(dir: string): Promise<void> {
  for (let i = 0; i < 30; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
