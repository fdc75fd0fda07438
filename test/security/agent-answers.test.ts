// Issue 13, items 1b and 5, against a real API server, the real controller and
// the real agent: what a policy author (or a broken or compromised agent) can
// do to the controller through agent URLs.
//   - 1b: an "agent" answering {} to every call (before: the controller
//     process died with "TypeError: candidates is not iterable"), one
//     answering garbage, and one streaming an endless body, each degrade only
//     their own policy (AgentsReachable=False, reason InvalidResponse, and an
//     Event); a policy with a real agent beside them keeps working.
//   - 5: a BlockEvent whose spec.agent is an address no agent may have
//     (0.0.0.0 here, which would reach a local server; 169.254.169.254 is the
//     cloud metadata service) turns Failed and nothing is sent there.
//
//   FLOODGATE_CP_SECURITY_STATE_DIR (default /tmp/floodgate-cp-security): its API server's state dir.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startController, type RunningController } from '../../controller/controller.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { recordingServer, type RecordingServer } from '../support/http-recorder.js';
import { isRoot } from '../support/netns.js';
import { e2eControllerOptions, eventually, kubectlOrThrow, startAgent, startApiServerWithCrds, stopApiServer, type RunningAgent } from '../controller/e2e-env.js';

const STATE_DIR = process.env.FLOODGATE_CP_SECURITY_STATE_DIR || '/tmp/floodgate-cp-security';
const NS = `fgsec-answers-${process.pid}`;

type Hostile = RecordingServer;
const hostile = recordingServer;

describe('agent answers cannot take the controller down (issue 13.1b, 13.5)', { skip: isRoot() ? false : 'needs root to capture on lo', timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let agent: RunningAgent;
  let controller: RunningController;
  const servers: Hostile[] = [];
  let empty: Hostile;
  let garbage: Hostile;
  let endless: Hostile;
  let canary: Hostile;

  const k = kubectlOrThrow(() => cp.kubeconfig);
  const policy = async (name: string) => JSON.parse(await k(['-n', NS, 'get', 'dp', name, '-o', 'json'])) as DefensePolicy;
  const reachable = (p: DefensePolicy) => p.status?.conditions?.find((c) => c.type === 'AgentsReachable');
  const applyPolicy = (name: string, url: string) =>
    k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: ${name}, namespace: ${NS}}
spec:
  agents: [{url: '${url}', tokenSecretRef: {name: agent-token, key: token}}]
`);

  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
    agent = await startAgent('lo', 22000 + (process.pid % 20000));
    empty = await hostile((_req, res) => res.setHeader('content-type', 'application/json').end('{}'));
    garbage = await hostile((_req, res) => res.end('<html>\u0000not json'));
    endless = await hostile((_req, res) => {
      // An endless JSON array, written as fast as the client reads, until it hangs up.
      res.setHeader('content-type', 'application/json');
      res.write('{"blocks":[');
      const chunk = Buffer.from('{"cidr":"10.0.0.1/32"},'.repeat(2048));
      let open = true;
      res.on('close', () => (open = false));
      const pump = () => {
        while (open) if (!res.write(chunk)) return void res.once('drain', pump);
      };
      pump();
    });
    canary = await hostile((_req, res) => res.end('{"status":"ok"}'));
    servers.push(empty, garbage, endless, canary);
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${agent.token}`]);
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    controller = await startController(
      e2eControllerOptions(cp.kubeconfig, NS, { logger: pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' }), banSyncIntervalMs: 300 }),
    );
  });

  after(async () => {
    await controller?.stop().catch(() => undefined);
    for (const s of servers) await s.close().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    if (cp) await stopApiServer(STATE_DIR);
  });

  it('agents answering {}, garbage or an endless body degrade only their own policy, with InvalidResponse and an Event', async () => {
    await applyPolicy('good', agent.url);
    await applyPolicy('empty', empty.url);
    await applyPolicy('garbage', garbage.url);
    await applyPolicy('endless', endless.url);
    for (const [name, why] of [['empty', /not the agent API v1/], ['garbage', /not JSON/], ['endless', /more than \d+ bytes/]] as const) {
      const p = await eventually(`${name}: AgentsReachable=False InvalidResponse`, async () => {
        const p = await policy(name);
        return reachable(p)?.reason === 'InvalidResponse' ? p : undefined;
      }, 60_000);
      assert.equal(reachable(p)?.status, 'False');
      assert.match(reachable(p)!.message, why);
      const events = await k(['-n', NS, 'get', 'events', '--field-selector', `involvedObject.name=${name},reason=InvalidResponse`, '-o', 'name']);
      assert.notEqual(events.trim(), '', `an InvalidResponse Event on ${name}`);
    }
    // The ban sync has polled the bad agents many times by now (every 300 ms); the controller still works.
    assert.ok(empty.requests.some((r) => r.startsWith('GET /v1/blocks')), 'the sync did read the {} agent');
    const good = await eventually('good: AgentsReachable=True', async () => {
      const p = await policy('good');
      return reachable(p)?.status === 'True' ? p : undefined;
    });
    assert.equal(reachable(good)?.reason, 'AllAgentsReachable');
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: still-works, namespace: ${NS}}
spec: {ip: 198.51.100.40, policyRef: {name: good}, durationSeconds: 300, reason: the controller still works}`);
    await eventually('the good policy still blocks', async () => {
      const be = JSON.parse(await k(['-n', NS, 'get', 'be', 'still-works', '-o', 'json'])) as BlockEvent;
      return be.status?.phase === 'Active';
    });
    const onAgent = await agent.api<{ blocks: { cidr: string }[] }>('GET', '/v1/blocks');
    assert.ok(onAgent.blocks.some((b) => b.cidr === '198.51.100.40/32'));
    assert.ok(controller.isLeader(), 'the controller is alive and leading');
  });

  it('a BlockEvent cannot send the controller to an address no agent may have (0.0.0.0 reaches this host; 169.254.169.254 is cloud metadata)', async () => {
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: ssrf-unspecified, namespace: ${NS}}
spec: {ip: 198.51.100.41, agent: 'http://0.0.0.0:${canary.port}', durationSeconds: 300, reason: ssrf}
---
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: ssrf-metadata, namespace: ${NS}}
spec: {ip: 198.51.100.42, agent: 'http://169.254.169.254', durationSeconds: 300, reason: ssrf}`);
    for (const [name, why] of [['ssrf-unspecified', /unspecified/], ['ssrf-metadata', /link-local/]] as const) {
      const be = await eventually(`${name} Failed`, async () => {
        const be = JSON.parse(await k(['-n', NS, 'get', 'be', name, '-o', 'json'])) as BlockEvent;
        return be.status?.phase === 'Failed' ? be : undefined;
      });
      assert.match(be.status?.message ?? '', why);
    }
    assert.deepEqual(canary.requests, [], 'nothing reached the server behind 0.0.0.0');
  });
});
