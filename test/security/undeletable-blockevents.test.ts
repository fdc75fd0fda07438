// Issue 13, item 4, against a real API server, the real controller and the
// real agent: a BlockEvent whose agent is gone for good can still be deleted.
// Before, the deletion retried the unblock forever, and the BlockEvent (and
// with it its namespace) could never go.
//   - an expired BlockEvent goes at once, without its (dead) agent;
//   - an Active one goes after the give-up period (2 minutes by default; a few
//     seconds here through the controller option), with a Warning Event
//     UnblockAbandoned naming the agent;
//   - floodgate.dev/skip-unblock lets it go at once, with a Warning Event.
//
//   FLOODGATE_CP_SECURITY_STATE_DIR (default /tmp/floodgate-cp-security): its API server's state dir.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startController, type RunningController } from '../../controller/controller.js';
import type { BlockEvent } from '../../api/v1alpha1/index.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { isRoot } from '../support/netns.js';
import { e2eControllerOptions, eventually, kubectl, kubectlOrThrow, startAgent, startApiServerWithCrds, stopApiServer, type RunningAgent } from '../controller/e2e-env.js';

const STATE_DIR = process.env.FLOODGATE_CP_SECURITY_STATE_DIR || '/tmp/floodgate-cp-security';
const NS = `fgsec-delete-${process.pid}`;
const GIVE_UP_MS = 5000;

describe('a BlockEvent whose agent is gone can be deleted (issue 13.4)', { skip: isRoot() ? false : 'needs root to capture on lo', timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let agent: RunningAgent | undefined;
  let controller: RunningController;

  const k = kubectlOrThrow(() => cp.kubeconfig);
  const be = async (name: string) => {
    const r = await kubectl(cp.kubeconfig, ['-n', NS, 'get', 'be', name, '-o', 'json']);
    return r.exitCode === 0 ? (JSON.parse(r.stdout) as BlockEvent) : undefined;
  };
  const events = (reason: string) => k(['-n', NS, 'get', 'events', '--field-selector', `reason=${reason}`, '-o', 'jsonpath={range .items[*]}{.message}{"\\n"}{end}']);
  const applyBe = (name: string, ip: string, seconds: number) =>
    k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: ${name}, namespace: ${NS}}
spec: {ip: ${ip}, policyRef: {name: web}, durationSeconds: ${seconds}, reason: deletion test}`);

  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
    agent = await startAgent('lo', 23000 + (process.pid % 20000));
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${agent.token}`]);
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: web, namespace: ${NS}}
spec:
  agents: [{url: '${agent.url}', tokenSecretRef: {name: agent-token, key: token}}]
`);
    controller = await startController(
      e2eControllerOptions(cp.kubeconfig, NS, { logger: pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' }), unblockGiveUpMs: GIVE_UP_MS }),
    );
    await applyBe('held', '198.51.100.50', 3600);
    await applyBe('hatch', '198.51.100.51', 3600);
    await applyBe('short', '198.51.100.52', 3);
    for (const name of ['held', 'hatch']) await eventually(`${name} Active`, async () => (await be(name))?.status?.phase === 'Active');
    await eventually('short Expired', async () => (await be('short'))?.status?.phase === 'Expired', 30_000);
    // The agent goes away for good, its bans with it.
    await agent.stop();
    agent = undefined;
  });

  after(async () => {
    await controller?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    if (cp) await stopApiServer(STATE_DIR);
  });

  it('an expired BlockEvent is deleted at once, without its agent', async () => {
    await k(['-n', NS, 'delete', 'be', 'short', '--wait=false']);
    await eventually('short gone', async () => (await be('short')) === undefined, 10_000);
    assert.doesNotMatch(await events('UnblockAbandoned'), /198\.51\.100\.52/);
  });

  it('an Active BlockEvent whose agent is gone is deleted after the give-up period, with a Warning Event', async () => {
    await k(['-n', NS, 'delete', 'be', 'held', '--wait=false']);
    const trying = await eventually('Unblocking while it tries', async () => {
      const b = await be('held');
      return b?.status?.conditions?.find((c) => c.type === 'Blocked' && c.reason === 'Unblocking') ? b : undefined;
    });
    assert.match(trying.status?.message ?? '', /cannot reach agent/);
    await eventually('held gone', async () => (await be('held')) === undefined, 60_000);
    assert.match(await events('UnblockAbandoned'), /gave up unblocking 198\.51\.100\.50 .*cannot reach agent/);
  });

  it('floodgate.dev/skip-unblock lets it go at once, with a Warning Event', async () => {
    await k(['-n', NS, 'annotate', 'be', 'hatch', 'floodgate.dev/skip-unblock=true']);
    await k(['-n', NS, 'delete', 'be', 'hatch', '--wait=false']);
    await eventually('hatch gone', async () => (await be('hatch')) === undefined, 10_000);
    assert.match(await events('UnblockSkipped'), /hatch: finalizer removed without unblocking 198\.51\.100\.51/);
  });
});
