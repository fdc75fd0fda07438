// Issue 13, item 7, against a real API server and the real controller, with
// the agent API served by the agent's own app and ban manager (dry-run
// firewall) and a scripted verdict (no IPv6 flood generator here: hping3 is
// IPv4 only). Before, 10.77.0.66 and 10:77:0:66:: got the same BlockEvent
// name, and so did 2001:db8::1 and 2001:db8:1::: the controller "extended"
// the other address's BlockEvent and never recorded the second attacker's ban.
// A hand-made object sitting on an address's name is not taken for it either.
//
//   FLOODGATE_CP_SECURITY_STATE_DIR (default /tmp/floodgate-cp-security): its API server's state dir.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ManagerBanService } from '../../agent/bans/ban-service.js';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { startController, type RunningController } from '../../controller/controller.js';
import type { BlockEvent } from '../../api/v1alpha1/index.js';
import { blockEventName } from '../../controller/reconcile/block-event-names.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { attacker, startTestApi, TOKEN, verdict, type TestApi } from '../api/helpers.js';
import { makeManager, tempStateDir } from '../bans/setup.js';
import { e2eControllerOptions, eventually, kubectlOrThrow, startApiServerWithCrds, stopApiServer } from '../controller/e2e-env.js';

const STATE_DIR = process.env.FLOODGATE_CP_SECURITY_STATE_DIR || '/tmp/floodgate-cp-security';
const NS = `fgsec-names-${process.pid}`;

describe('BlockEvent names never collide across addresses (issue 13.7)', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let api: TestApi;
  let state: { dir: string; cleanup(): Promise<void> };
  let service: ManagerBanService;
  let controller: RunningController;

  const k = kubectlOrThrow(() => cp.kubeconfig);
  const blockEvents = async () => (JSON.parse(await k(['-n', NS, 'get', 'be', '-o', 'json'])) as { items: BlockEvent[] }).items;
  const attack = async (ips: string[]) => {
    api.analyzer.result = { verdict: verdict(ips.map((ip) => attacker(ip, 50_000, 0.2))), blockedStillSending: [], firewallDrops: { packets: 0, bytes: 0 } };
    await k(['-n', NS, 'annotate', 'dp', 'edge', `floodgate.dev/trigger=${Date.now()}`, '--overwrite']);
  };

  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
    state = await tempStateDir();
    const { manager } = await makeManager(new DryRunBackend(), state.dir);
    await manager.start({ timers: false });
    service = new ManagerBanService(manager, 'dry-run');
    api = await startTestApi({ bans: service });
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${TOKEN}`]);
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: edge, namespace: ${NS}}
spec:
  mitigation: {banDurationSeconds: 600}
  agents: [{url: '${api.url}', tokenSecretRef: {name: agent-token, key: token}}]
`);
    controller = await startController(e2eControllerOptions(cp.kubeconfig, NS, { logger: pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' }) }));
  });

  after(async () => {
    await controller?.stop().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await state?.cleanup();
    if (cp) await stopApiServer(STATE_DIR);
  });

  it('addresses whose text reads alike (10.77.0.66 and 10:77:0:66::, 2001:db8::1 and 2001:db8:1::) each get their own BlockEvent and ban', async () => {
    const ips = ['10.77.0.66', '10:77:0:66::', '2001:db8::1', '2001:db8:1::'];
    await attack(ips);
    const items = await eventually('an Active BlockEvent for each address', async () => {
      const items = (await blockEvents()).filter((b) => b.status?.phase === 'Active' && ips.includes(b.spec.ip));
      return items.length === 4 ? items : undefined;
    }, 60_000);
    assert.deepEqual(items.map((b) => b.spec.ip).sort(), [...ips].sort());
    // Several ban-sync rounds later (every 300 ms), still one object per address: the bans the
    // controller pushed, which the agent widened to /64s, are not recorded a second time.
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual((await blockEvents()).map((b) => b.spec.ip).sort(), [...ips].sort());
    assert.equal(new Set(items.map((b) => b.metadata.name)).size, 4);
    for (const b of items) assert.match(b.metadata.name ?? '', /^edge-v[46]-[0-9a-z-]+-[0-9a-f]{8}$/);
    // Each address is banned on the agent (IPv6 single addresses widen to their /64 there).
    const held = service.list().map((b) => b.cidr).sort();
    assert.deepEqual(held, ['10.77.0.66/32', '10:77:0:66::/64', '2001:db8:1::/64', '2001:db8::/64'].sort());
  });

  it('a hand-made BlockEvent sitting on an address\'s name is not taken for that address', async () => {
    const squatted = blockEventName('edge', '198.51.100.9');
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: ${squatted}, namespace: ${NS}}
spec: {ip: 198.51.100.10, policyRef: {name: edge}, durationSeconds: 60, reason: hand-made}`);
    await attack(['198.51.100.9']);
    const mine = await eventually('a BlockEvent for 198.51.100.9', async () => (await blockEvents()).find((b) => b.spec.ip === '198.51.100.9' && b.status?.phase === 'Active'), 60_000);
    assert.notEqual(mine.metadata.name, squatted);
    const squatter = (await blockEvents()).find((b) => b.metadata.name === squatted)!;
    assert.equal(squatter.spec.ip, '198.51.100.10', 'untouched');
    assert.equal(squatter.spec.durationSeconds, 60, 'not "extended"');
    assert.equal(squatter.metadata.annotations?.['floodgate.dev/offences'], undefined);
  });
});
