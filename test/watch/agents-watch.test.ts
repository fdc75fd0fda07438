// Agents that watch the API server instead of waiting for pushes
// (docs/fanout.md), end to end on the real API server with the real
// controller and the real agent CLI (dry-run firewall, capturing on lo):
//   - a BlockEvent reaches the watching agent; its status counts the node;
//     deleting it lifts the ban there before the finalizer goes;
//   - an agent picks up a ban made while it was down, and lifts one deleted
//     meanwhile;
//   - cut off from the API server (its own connection only), an agent keeps
//     enforcing and keeps banning on its own, and once back it reports how
//     long it was stale and catches up;
//   - its own bans become BlockEvents bound to its node;
//   - a node's identity writes its own report and Lease and no other's
//     (kubectl auth can-i --as, and real attempts answered 403);
//   - heartbeats renew the node's Lease, not its report, and the
//     controller counts a ban from the Lease; periodic relists do not
//     write the report;
//   - the node identity broker gives a pod its node's identity, once per pod
//     token, and nothing to tokens that are not pod-bound agent tokens;
//   - the push path of a host agent without a kubeconfig still works beside.
//
//   FLOODGATE_CP_STATE_DIR (default /tmp/floodgate-cp-watch): the API server's state dir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { NODE_IDENTITY_AUDIENCE, NODE_IDENTITY_PATH, requestKeys } from '../../api/node-identity/v1.js';
import { BLOCK_EVENT, FLOODGATE_NODE, NODE_LEASE_ANNOTATIONS, nodeLeasePatch, type BlockEvent, type FloodgateNode } from '../../api/v1alpha1/index.js';
import { BrokeredIdentity } from '../../agent/kube/node-identity.js';
import { startController, type RunningController } from '../../controller/controller.js';
import { loadKubeConfig } from '../../kube/kube-config.js';
import { ResourceClient } from '../../kube/resource-client.js';
import { RestClient } from '../../kube/rest-client.js';
import { statusCodeOf } from '../../kube/util.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { e2eControllerOptions, eventually, kubectl, kubectlOrThrow, startApiServerWithCrds, stopApiServer } from '../controller/e2e-env.js';
import { labelsMatch } from '../../lib/label-match.js';
import { selectorString } from '../../controller/agents/label-selector.js';
import type { LabelSelector } from '../../api/v1alpha1/index.js';
import { kubeconfigToken, nodeKubeconfig, startRelay, startWatchAgent, type Relay, type WatchAgent } from './helpers.js';

const STATE_DIR = process.env.FLOODGATE_CP_STATE_DIR || '/tmp/floodgate-cp-watch';
const NS = `fgw-${Date.now().toString(36)}`;
const logger = pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' });
const registry = new Registry();

describe('agents that watch the API server (real API server, controller and agent)', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let controller: RunningController;
  let relay: Relay;
  let rest: RestClient;
  let blockEvents: ResourceClient<BlockEvent>;
  let nodes: ResourceClient<FloodgateNode>;
  let agentA: WatchAgent;
  let dirA: string;
  let kcA: string;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fgw-test-'));
  const k = kubectlOrThrow(() => cp.kubeconfig);

  const configA = () => ({ kube: { kubeconfig: kcA, nodeName: 'host-a', labels: { app: 'fgw-agent' }, namespace: NS, heartbeatSeconds: 2 } });
  const be = (name: string, ip: string, extra: Record<string, unknown> = {}): BlockEvent =>
    ({ apiVersion: 'floodgate.dev/v1alpha1', kind: 'BlockEvent', metadata: { name, namespace: NS }, spec: { ip, policyRef: { name: 'watched' }, durationSeconds: 600, reason: 'test', ...extra } }) as BlockEvent;
  const holds = async (agent: WatchAgent, cidr: string) => (await agent.blocks()).find((b) => b.cidr === cidr);
  const report = () => nodes.get({ name: 'host-a' });

  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
    await k(['wait', '--for=condition=Established', '--timeout=60s', 'crd/floodgatenodes.floodgate.dev']);
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'serviceaccount', 'floodgate-agent']);
    await k(
      ['apply', '-f', '-'],
      `apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: watched, namespace: ${NS}}
spec:
  mitigation: {banDurationSeconds: 600}
  agentSelector: {matchLabels: {app: fgw-agent}}
`,
    );
    rest = new RestClient(loadKubeConfig({ kubeconfig: cp.kubeconfig }));
    blockEvents = new ResourceClient<BlockEvent>(rest, BLOCK_EVENT);
    nodes = new ResourceClient<FloodgateNode>(rest, FLOODGATE_NODE);
    controller = await startController(
      e2eControllerOptions(cp.kubeconfig, NS, {
        selectorAgentsWatch: true,
        nodeCountDelayMs: 200,
        unblockGiveUpMs: 60_000,
        nodeIdentity: { port: 0, host: '127.0.0.1', agentServiceAccounts: [`${NS}/floodgate-agent`], tokenSeconds: 600 },
        registry,
      }),
    );
    relay = await startRelay(cp.server);
    kcA = await nodeKubeconfig(cp.kubeconfig, 'host-a', NS, tmp, relay.url);
    dirA = fs.mkdtempSync(path.join(tmp, 'a-'));
    agentA = await startWatchAgent({ config: configA(), dir: dirA });
  });

  after(async () => {
    await agentA?.stop().catch(() => undefined);
    await controller?.stop().catch(() => undefined);
    await relay?.close().catch(() => undefined);
    rest?.close();
    await kubectl(cp.kubeconfig, ['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
    await stopApiServer(STATE_DIR);
  });

  it('the node reports itself: its policies, mode and a heartbeat', async () => {
    const n = await eventually('host-a reports', async () => {
      const r = await report();
      return r.status?.heartbeatTime && r.status.policies?.includes(`${NS}/watched`) ? r : undefined;
    });
    assert.equal(n.status?.agent?.mode, 'kubeconfig');
    assert.equal(n.status?.agent?.backend, 'dry-run');
    assert.equal(n.spec.serviceAccount?.name, 'floodgate-node-host-a');
    const synced = n.status?.conditions?.find((c) => c.type === 'Synced');
    assert.ok(synced, 'a Synced condition');
    // The policy's agents are its watching nodes.
    await eventually('policy AgentsReachable from the reports', async () => {
      const r = await kubectl(cp.kubeconfig, ['-n', NS, 'get', 'dp', 'watched', '-o', 'jsonpath={.status.conditions[?(@.type=="AgentsReachable")].reason}']);
      return r.stdout === 'NodesReporting';
    });
    // ...and their number, which the agents spread their progress reports over.
    await eventually('policy status.enforcingNodes counts the watching nodes', async () => {
      const r = await kubectl(cp.kubeconfig, ['-n', NS, 'get', 'dp', 'watched', '-o', 'jsonpath={.status.enforcingNodes}']);
      const reports = JSON.parse((await kubectl(cp.kubeconfig, ['get', 'floodgatenodes', '-o', 'json'])).stdout) as { items: FloodgateNode[] };
      const listing = reports.items.filter((i) => i.status?.policies?.includes(`${NS}/watched`)).length;
      return listing > 0 && r.stdout === String(listing) ? true : undefined;
    });
  });

  it('a BlockEvent reaches the watching agent, its status counts the node, and deleting it lifts the ban there', async () => {
    await blockEvents.create(NS, be('first', '203.0.113.10'));
    const ban = await eventually('the agent holds 203.0.113.10', () => holds(agentA, '203.0.113.10/32'));
    assert.equal(ban.source, 'controller');
    assert.equal(ban.policy, 'watched');
    const active = await eventually('BlockEvent Active on 1/1 nodes', async () => {
      const b = await blockEvents.get({ namespace: NS, name: 'first' });
      return b.status?.phase === 'Active' && b.status.nodes?.summary === '1/1' ? b : undefined;
    });
    assert.match(active.status?.message ?? '', /applied on 1\/1 nodes/);
    // The node says it holds it: in its Lease at once, in its report at the report's next write.
    const leaseSays = async () =>
      (await rest.request<{ metadata: { annotations?: Record<string, string> } }>({ path: `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/floodgate-node-host-a` })).metadata.annotations?.[NODE_LEASE_ANNOTATIONS.blockEventsApplied];
    assert.ok(await eventually('the Lease counts it', async () => ((await leaseSays()) === '1' ? true : undefined)));

    await blockEvents.delete({ namespace: NS, name: 'first' });
    await eventually('the ban is lifted on the agent', async () => !(await holds(agentA, '203.0.113.10/32')));
    await eventually('the BlockEvent is gone', async () => {
      try {
        await blockEvents.get({ namespace: NS, name: 'first' });
        return false;
      } catch (err) {
        return statusCodeOf(err) === 404;
      }
    });
  });

  it('an agent picks up a ban made while it was down, and lifts one deleted meanwhile', async () => {
    await blockEvents.create(NS, be('gone-while-down', '203.0.113.12'));
    await eventually('held before the agent stops', () => holds(agentA, '203.0.113.12/32'));
    await agentA.stop();
    await blockEvents.create(NS, be('made-while-down', '203.0.113.11'));
    await blockEvents.delete({ namespace: NS, name: 'gone-while-down' });
    // The silent node no longer holds the deletion back (3 missed heartbeats).
    await eventually(
      'the deleted BlockEvent goes once the node is silent',
      async () => {
        try {
          await blockEvents.get({ namespace: NS, name: 'gone-while-down' });
          return false;
        } catch (err) {
          return statusCodeOf(err) === 404;
        }
      },
      30_000,
    );
    agentA = await startWatchAgent({ config: configA(), dir: dirA });
    await eventually('the ban made while it was down is held', () => holds(agentA, '203.0.113.11/32'));
    await eventually('the ban deleted while it was down is lifted', async () => !(await holds(agentA, '203.0.113.12/32')));
    await eventually('Active on 1/1 nodes', async () => (await blockEvents.get({ namespace: NS, name: 'made-while-down' })).status?.nodes?.summary === '1/1');
  });

  it('cut off from the API server, the agent keeps enforcing and banning, and reports it was stale once back', async () => {
    await eventually('held before the cut', () => holds(agentA, '203.0.113.11/32'));
    await relay.cut();
    try {
      // Cut off: what it held stays, and it still bans on its own (its API, auto-defense).
      await new Promise((r) => setTimeout(r, 5000));
      assert.ok(await holds(agentA, '203.0.113.11/32'), 'still enforcing what it had');
      const own = await agentA.api<{ cidr: string }>('POST', '/v1/blocks', { ip: '198.51.100.77', durationSeconds: 600, reason: 'own verdict while cut off' });
      assert.equal(own.status, 201);
      await blockEvents.create(NS, be('made-while-cut', '203.0.113.13'));
      await blockEvents.delete({ namespace: NS, name: 'made-while-down' });
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(await holds(agentA, '203.0.113.13/32'), undefined, 'it cannot see what changed meanwhile');
      assert.ok(await holds(agentA, '203.0.113.11/32'), 'nor lift what was deleted meanwhile');
    } finally {
      await relay.restore();
    }
    const back = await eventually(
      'the report says when it was cut off',
      async () => {
        const r = await report();
        return r.status?.lastStale ? r : undefined;
      },
      60_000,
    );
    const stale = back.status?.lastStale;
    assert.ok(stale && Date.parse(stale.until) - Date.parse(stale.from) >= 4000, `a stale period of seconds: ${JSON.stringify(stale)}`);
    assert.ok((stale?.bans ?? 0) >= 1, 'with the bans it kept enforcing');
    await eventually('it catches up: the new ban', () => holds(agentA, '203.0.113.13/32'), 60_000);
    await eventually('it catches up: the deleted one is lifted', async () => !(await holds(agentA, '203.0.113.11/32')), 60_000);
    await eventually('Synced again', async () => (await report()).status?.conditions?.find((c) => c.type === 'Synced')?.reason === 'Resynced', 60_000);
    // Its own ban, made while cut off, is recorded as a BlockEvent bound to its node.
    const recorded = await eventually('its own ban becomes a BlockEvent', async () => {
      const list = await blockEvents.list(NS);
      return list.items.find((b) => b.spec.ip === '198.51.100.77');
    });
    assert.equal(recorded.spec.agent, 'node/host-a');
    assert.equal(recorded.spec.policyRef?.name, 'watched');
    await eventually('and it is Active on its node', async () => (await blockEvents.get({ namespace: NS, name: recorded.metadata.name ?? '' })).status?.nodes?.summary === '1/1');
  });

  it('an agent that cannot reach the API server at start still starts, serves its API and bans; it reports once the API server answers', async () => {
    const kcC = await nodeKubeconfig(cp.kubeconfig, 'host-c', NS, tmp, relay.url);
    await relay.cut();
    let agentC: WatchAgent | undefined;
    try {
      agentC = await startWatchAgent({ config: { kube: { kubeconfig: kcC, nodeName: 'host-c', labels: { app: 'fgw-agent' }, namespace: NS, heartbeatSeconds: 2 } } });
      const ban = await agentC.api<{ cidr: string }>('POST', '/v1/blocks', { ip: '198.51.100.88', durationSeconds: 600, reason: 'its own verdict, API server away' });
      assert.equal(ban.status, 201);
      assert.ok(await holds(agentC, '198.51.100.88/32'));
      await new Promise((r) => setTimeout(r, 3000));
      await relay.restore();
      // Its first report may come before its policy informer has listed (it started cut off): wait for the policy.
      const n = await eventually('host-c reports its policy, and that it was cut off', async () => {
        const r = await nodes.get({ name: 'host-c' });
        return r.status?.heartbeatTime && r.status.lastStale && r.status.policies?.includes(`${NS}/watched`) ? r : undefined;
      }, 60_000);
      assert.ok(n.status?.lastStale);
    } finally {
      await relay.restore().catch(() => undefined);
      await agentC?.stop();
    }
  });

  it('agentSelector: the agents pick themselves exactly as the API server selects pods', async () => {
    const labelsOf: Record<string, Record<string, string>> = {
      'sel-a': { app: 'fgw-agent', zone: 'a' },
      'sel-b': { app: 'fgw-agent', zone: 'b', canary: 'true' },
      'sel-c': { app: 'other' },
    };
    for (const [name, labels] of Object.entries(labelsOf)) {
      await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels }, spec: { containers: [{ name: 'c', image: 'x' }] } }));
    }
    const selectors: LabelSelector[] = [
      { matchLabels: { app: 'fgw-agent' } },
      { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b', 'c'] }] },
      { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] },
      { matchExpressions: [{ key: 'canary', operator: 'Exists' }] },
      { matchLabels: { app: 'fgw-agent' }, matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] },
    ];
    for (const sel of selectors) {
      const listed = (await k(['-n', NS, 'get', 'pods', '-l', selectorString(sel), '-o', 'jsonpath={.items[*].metadata.name}'])).split(/\s+/).filter((n) => n.startsWith('sel-')).sort();
      const ours = Object.entries(labelsOf).filter(([, l]) => labelsMatch(sel, l)).map(([n]) => n).sort();
      assert.deepEqual(ours, listed, `selector ${selectorString(sel)}`);
    }
  });

  it("a node's identity writes its own report and no other's (RBAC, checked with kubectl auth can-i --as and a real write)", async () => {
    const kcB = await nodeKubeconfig(cp.kubeconfig, 'host-b', NS, tmp);
    const asName = `system:serviceaccount:${NS}:floodgate-node-host-a`;
    const can = async (args: string[]) => (await kubectl(cp.kubeconfig, ['auth', 'can-i', ...args, `--as=${asName}`])).stdout.trim();
    assert.equal(await can(['patch', 'floodgatenodes.floodgate.dev/host-a', '--subresource=status']), 'yes');
    assert.equal(await can(['patch', 'floodgatenodes.floodgate.dev/host-b', '--subresource=status']), 'no');
    assert.equal(await can(['update', 'floodgatenodes.floodgate.dev/host-b', '--subresource=status']), 'no');
    assert.equal(await can(['patch', 'floodgatenodes.floodgate.dev/host-a']), 'no', 'not even its own spec');
    assert.equal(await can(['delete', 'floodgatenodes.floodgate.dev/host-a']), 'no');
    assert.equal(await can(['create', 'floodgatenodes.floodgate.dev']), 'no');
    assert.equal(await can(['patch', 'blockevents.floodgate.dev', '-n', NS]), 'no', 'it reads BlockEvents, never writes them');
    assert.equal(await can(['watch', 'blockevents.floodgate.dev', '-n', NS]), 'yes');
    assert.equal(await can(['get', 'secrets', '-n', NS]), 'no');
    // Its own Lease: renew it; nobody else's, and never create or delete one.
    assert.equal(await can(['patch', 'leases.coordination.k8s.io/floodgate-node-host-a', '-n', NS]), 'yes');
    assert.equal(await can(['patch', 'leases.coordination.k8s.io/floodgate-node-host-b', '-n', NS]), 'no');
    assert.equal(await can(['update', 'leases.coordination.k8s.io/floodgate-node-host-b', '-n', NS]), 'no');
    assert.equal(await can(['delete', 'leases.coordination.k8s.io/floodgate-node-host-a', '-n', NS]), 'no');
    assert.equal(await can(['create', 'leases.coordination.k8s.io', '-n', NS]), 'no');
    assert.equal(await can(['list', 'leases.coordination.k8s.io', '-n', NS]), 'no');

    // A real attempt with host-a's identity (its kubeconfig) on host-b's report: 403.
    const tokenA = kubeconfigToken(kcA);
    assert.notEqual(tokenA, kubeconfigToken(kcB));
    const asA = new RestClient(loadKubeConfig({ kubeconfig: kcA }));
    await assert.rejects(
      new ResourceClient<FloodgateNode>(asA, FLOODGATE_NODE).patchStatus({ name: 'host-b' }, { ownBansTotal: 99 }),
      (err: unknown) => statusCodeOf(err) === 403,
    );
    // ...and on host-b's Lease, to claim it holds everything: 403.
    await assert.rejects(
      asA.request({ method: 'PATCH', path: `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/floodgate-node-host-b`, body: nodeLeasePatch({ node: 'host-b', now: Date.now(), durationSeconds: 180, blockEvents: { applied: 1, revision: 1e12 } }), contentType: 'application/merge-patch+json' }),
      (err: unknown) => statusCodeOf(err) === 403,
    );
    asA.close();
    const b = await nodes.get({ name: 'host-b' });
    assert.notEqual(b.status?.ownBansTotal, 99);

    // A Lease of a node's name that floodgate did not make is never handed to the node.
    await k(['-n', NS, 'create', '-f', '-'], `apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: floodgate-node-host-x}\nspec: {holderIdentity: someone-else}\n`);
    await assert.rejects(nodeKubeconfig(cp.kubeconfig, 'host-x', NS, tmp), /Lease .*floodgate-node-host-x exists and is not a floodgate node Lease/);
    const asX = await kubectl(cp.kubeconfig, ['auth', 'can-i', 'patch', 'leases.coordination.k8s.io/floodgate-node-host-x', '-n', NS, `--as=system:serviceaccount:${NS}:floodgate-node-host-x`]);
    assert.equal(asX.stdout.trim(), 'no');
  });

  it("heartbeats renew the node's Lease, not its FloodgateNode; what it newly holds goes in the Lease and is counted", async () => {
    const lease = () => rest.request<{ spec?: { renewTime?: string; holderIdentity?: string; leaseDurationSeconds?: number }; metadata: { annotations?: Record<string, string> } }>({ path: `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/floodgate-node-host-a` });
    assert.deepEqual((await report()).spec.lease, { namespace: NS, name: 'floodgate-node-host-a' });
    // Idle for 6 s (heartbeats of 2 s): the Lease is renewed at every heartbeat, the report at most once (every 30 heartbeats).
    await eventually('the Lease renewed', async () => ((await lease()).spec?.renewTime ? true : undefined));
    const renewals = new Set<string>();
    const reports = new Set<string>();
    for (const end = Date.now() + 6000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
      renewals.add((await lease()).spec?.renewTime ?? '');
      reports.add((await report()).metadata.resourceVersion ?? '');
    }
    assert.ok(renewals.size >= 3, `renewals in 6 s: ${renewals.size}`);
    assert.ok(reports.size <= 2, `report writes in 6 s: ${reports.size - 1}`);
    const l = await lease();
    assert.equal(l.spec?.holderIdentity, 'host-a');
    assert.equal(l.spec?.leaseDurationSeconds, 6, '3 heartbeats');

    // A ban newly held is progress: it goes in the Lease, and the BlockEvent's count follows from it.
    await blockEvents.create(NS, be('by-lease', '203.0.113.40'));
    await eventually('held on host-a', () => holds(agentA, '203.0.113.40/32'));
    const counted = await eventually('counted on 1 node', async () => {
      const x = await blockEvents.get({ namespace: NS, name: 'by-lease' });
      return x.status?.nodes?.applied === 1 ? x : undefined;
    });
    const revision = counted.status?.nodes?.revision as number;
    // The count may come from the report (its turn every 30 heartbeats) or from the Lease; the Lease says so too.
    await eventually('the Lease says it has applied that revision', async () => (Number((await lease()).metadata.annotations?.[NODE_LEASE_ANNOTATIONS.blockEventsRevision]) >= revision ? true : undefined));
    await blockEvents.delete({ namespace: NS, name: 'by-lease' });
    await eventually('lifted on host-a', async () => !(await holds(agentA, '203.0.113.40/32')));
    // The controller says what it listed.
    const metric = async (name: string) => Number(/^(\S+) (\S+)$/m.exec((await registry.getSingleMetricAsString(name)).split('\n').filter((l) => l.startsWith(name) && !l.includes('result="error"')).join('\n'))?.[2]);
    assert.ok((await metric('floodgate_node_lease_lists_total')) >= 1);
    assert.ok((await metric('floodgate_node_leases')) >= 1, 'host-a\'s Lease at least');
  });

  it("an agent's periodic relists do not write its report (their lastSync rides with the next write)", async () => {
    const kcR = await nodeKubeconfig(cp.kubeconfig, 'host-r', NS, tmp, relay.url);
    const agentR = await startWatchAgent({
      // Debug: the informers log their periodic relists at that level.
      config: { logLevel: 'debug', kube: { kubeconfig: kcR, nodeName: 'host-r', labels: { app: 'fgw-agent' }, namespace: NS, heartbeatSeconds: 600, relistSeconds: 10 } },
      dir: fs.mkdtempSync(path.join(tmp, 'r-')),
    });
    try {
      const synced = await eventually('host-r reports Synced', async () => {
        const r = await nodes.get({ name: 'host-r' });
        return r.status?.conditions?.some((c) => c.type === 'Synced' && c.status === 'True') ? r : undefined;
      });
      const periodic = () => agentR.log().split('\n').filter((l) => l.includes('"reason":"periodic"')).length;
      await eventually('two periodic relists of each informer', async () => (periodic() >= 4 ? true : undefined), 40_000, 500);
      const after = await nodes.get({ name: 'host-r' });
      // Every node relists every few minutes; a report write each would bring back what the node Lease spares the controller.
      assert.equal(after.metadata.resourceVersion, synced.metadata.resourceVersion, `the report was written ${periodic()} relists later`);
    } finally {
      await agentR.stop();
    }
  });

  it('the node identity broker gives a pod its node\'s identity, once per pod token, and nothing else', async () => {
    const url = controller.nodeIdentityUrl as string;
    assert.ok(url);
    const pod = (name: string, sa: string, node: string) =>
      k(['apply', '-f', '-'], `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${NS}}
spec:
  nodeName: ${node}
  serviceAccountName: ${sa}
  containers: [{name: agent, image: floodgate-agent:test}]
`);
    await pod('agent-on-c', 'floodgate-agent', 'node-c');
    await pod('other-on-c', 'default', 'node-c');
    await k(['-n', NS, 'create', 'serviceaccount', 'default']).catch(() => undefined);
    // What the kubelet does for a projected serviceAccountToken volume: a token bound to the pod.
    const podToken = async (sa: string, podName?: string) => {
      const podUid = podName ? JSON.parse(await k(['-n', NS, 'get', 'pod', podName, '-o', 'json'])).metadata.uid : undefined;
      const r = await rest.request<{ status: { token: string } }>({
        method: 'POST',
        path: `/api/v1/namespaces/${NS}/serviceaccounts/${sa}/token`,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [NODE_IDENTITY_AUDIENCE], expirationSeconds: 600, ...(podName ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: podName, uid: podUid } } : {}) } },
      });
      return r.status.token;
    };
    const tokenFile = path.join(tmp, 'pod-token');
    const token = await podToken('floodgate-agent', 'agent-on-c');
    fs.writeFileSync(tokenFile, token);
    const identity = new BrokeredIdentity({ url, tokenFile, cluster: loadKubeConfig({ kubeconfig: cp.kubeconfig }), node: 'node-c', logger });
    const client = await identity.client();
    await client.patchStatus({ name: 'node-c' }, { ownBansTotal: 1 });
    assert.equal((await nodes.get({ name: 'node-c' })).status?.ownBansTotal, 1);
    await assert.rejects(client.patchStatus({ name: 'host-a' }, { ownBansTotal: 5 }), (err: unknown) => statusCodeOf(err) === 403);

    const ask = async (bearer: string) => {
      const res = await fetch(new URL(NODE_IDENTITY_PATH, url), { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ publicKey: requestKeys().publicKey }) });
      return { status: res.status, body: (await res.json()) as { error?: string } };
    };
    const again = await ask(token);
    assert.equal(again.status, 401);
    assert.match(again.body.error ?? '', /used already/);
    const unbound = await ask(await podToken('floodgate-agent'));
    assert.equal(unbound.status, 403);
    assert.match(unbound.body.error ?? '', /not bound to a pod/);
    const otherSa = await ask(await podToken('default', 'other-on-c'));
    assert.equal(otherSa.status, 403);
    assert.match(otherSa.body.error ?? '', /not an agent ServiceAccount/);
    const garbage = await ask('not-a-token');
    assert.equal(garbage.status, 401);
    identity.close();
  });

  it('a host agent without a kubeconfig still gets its bans pushed (the push path beside the watch)', async () => {
    const pushDir = fs.mkdtempSync(path.join(tmp, 'push-'));
    const push = await startWatchAgent({ config: {}, dir: pushDir });
    try {
      await k(['-n', NS, 'create', 'secret', 'generic', 'push-token', `--from-literal=token=${push.token}`]);
      await k(['-n', NS, 'label', 'secret', 'push-token', 'floodgate.dev/agent-token=true']);
      await k(
        ['apply', '-f', '-'],
        `apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: pushed, namespace: ${NS}}
spec:
  mitigation: {banDurationSeconds: 600}
  agents: [{url: "${push.url}", tokenSecretRef: {name: push-token, key: token}}]
`,
      );
      await blockEvents.create(NS, be('pushed-ban', '203.0.113.20', { policyRef: { name: 'pushed' } }));
      const ban = await eventually('the push agent holds it', () => holds(push, '203.0.113.20/32'));
      assert.equal(ban.source, 'api');
      const b = await eventually('Active, held by 1 agent', async () => {
        const x = await blockEvents.get({ namespace: NS, name: 'pushed-ban' });
        return x.status?.phase === 'Active' ? x : undefined;
      });
      assert.match(b.status?.message ?? '', /held by 1 agent/);
      assert.equal(b.status?.nodes, undefined, 'no nodes count for a pushed policy');
      assert.equal(await holds(agentA, '203.0.113.20/32'), undefined, 'the watching agent is not selected by that policy');
    } finally {
      await push.stop();
    }
  });
});
