// The DaemonSet's agents watching the API server, as a user installs them
// (docs/fanout.md): the chart (`helm install`, agent.sync=watch, its default)
// on the running one-node cluster of test/cluster/node.sh, with the images
// built from images/Dockerfile. In order:
//   - the agent pod gets its node's own identity from the controller's broker
//     (HTTPS with the chart's certificate of the agent CA) with the token the
//     kubelet bound to it, and reports in its FloodgateNode;
//   - RBAC: the node's identity may write its own report and no other's
//     (kubectl auth can-i --as, and a real write answered 403); the agent's
//     ServiceAccount reads BlockEvents and DefensePolicies and nothing else;
//   - a BlockEvent lands in the node's nft set, and its status counts the node;
//   - with the agent pod gone, a ban made meanwhile is picked up and a ban
//     deleted meanwhile is lifted once it is back;
//   - deleting a BlockEvent lifts it from nft.
// chart-on-node.test.ts covers the install as a user makes it (the identity,
// the report, a ban counted 1/1, a SignatureRule); this file the watch's own
// guarantees. Heavy: run it under the shared lock (the test command runs it
// with the other cluster tests, on the same images: FLOODGATE_IMAGE_TAG).
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  AGENT,
  CHART_NS as NS,
  RELEASE,
  assertAgentReportsAsNode,
  componentPods,
  ensureImages,
  getJson,
  hostBans,
  installChart,
  kubectl,
  kubectlOk,
  newPodReady,
  nftTables,
  nodeChartValues,
  removeChartAndNode,
  startNode,
  stepsOnNode,
  type Images,
  type KubeNode,
} from './node.js';
import { eventually } from '../controller/e2e-env.js';

let node: KubeNode;
let images: Images;
let nftTablesBefore: string[] = [];
const step = stepsOnNode(() => node);

const agentPod = async () => (await componentPods(node, 'agent'))[0];
const inNft = async (ip: string) => (await hostBans()).includes(ip);

function blockEvent(name: string, ip: string): string {
  return `apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: ${name}, namespace: ${NS}}
spec: {ip: "${ip}", policyRef: {name: watched}, durationSeconds: 900, reason: watch test}
`;
}

before(async () => {
  images = await ensureImages();
  node = await startNode();
  nftTablesBefore = await nftTables();
});

after(async () => {
  await removeChartAndNode(node, nftTablesBefore);
});

step('helm install (DaemonSet on, agent.sync=watch): the agent gets its node identity from the broker and reports in its FloodgateNode', async () => {
  await installChart(node, [...nodeChartValues(node, images), '--set', 'agent.daemonset.heartbeatSeconds=5']);
  // A policy that picks the DaemonSet's pods.
  await kubectlOk(node, ['apply', '-f', '-'], `apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: watched, namespace: ${NS}}
spec:
  agentSelector:
    matchLabels: {app.kubernetes.io/name: floodgate, app.kubernetes.io/instance: ${RELEASE}, app.kubernetes.io/component: agent}
  agentTokenSecretRef: {name: ${AGENT}-token, key: token}
  mitigation: {banDurationSeconds: 900}
`);
  const pod = await agentPod();
  assert.ok(pod, 'the agent pod');
  assert.equal(pod.spec.serviceAccountName, AGENT);
  await assertAgentReportsAsNode(node, pod.metadata.name, (x) => x.status?.policies?.includes(`${NS}/watched`) === true);
  // Over HTTPS (agent TLS, the chart's default): the controller serves the broker with the chart's
  // certificate, and the agent was given https:// and the agent CA (docs/node-identity.md).
  const controllerLogs = await kubectlOk(node, ['logs', '-n', NS, '-l', 'app.kubernetes.io/component=controller', '--tail=-1']);
  assert.match(controllerLogs, /node identity broker serves HTTPS/);
  assert.match(controllerLogs, /issued a node identity/);
  const agentYaml = (await getJson<{ data: Record<string, string> }>(node, ['configmap', '-n', NS, AGENT])).data['agent.yaml'] ?? '';
  assert.match(agentYaml, /url: https:\/\/floodgate-controller\.floodgate-system\.svc:8082\n\s*caFile: \/var\/run\/floodgate\/tls\/ca\.crt/);
});

step("RBAC: the node's identity writes its own report and no other's; the agent's ServiceAccount only reads", async () => {
  const asNode = `system:serviceaccount:${NS}:floodgate-node-${node.name}`;
  const asAgent = `system:serviceaccount:${NS}:${AGENT}`;
  const can = async (as: string, ...args: string[]) => (await kubectl(node, ['auth', 'can-i', ...args, `--as=${as}`])).stdout.trim();
  assert.equal(await can(asNode, 'patch', `floodgatenodes.floodgate.dev/${node.name}`, '--subresource=status'), 'yes');
  assert.equal(await can(asNode, 'patch', 'floodgatenodes.floodgate.dev/another-node', '--subresource=status'), 'no');
  assert.equal(await can(asNode, 'delete', `floodgatenodes.floodgate.dev/${node.name}`), 'no');
  assert.equal(await can(asAgent, 'watch', 'blockevents.floodgate.dev', '-A'), 'yes');
  assert.equal(await can(asAgent, 'list', 'defensepolicies.floodgate.dev', '-A'), 'yes');
  assert.equal(await can(asAgent, 'patch', `floodgatenodes.floodgate.dev/${node.name}`, '--subresource=status'), 'no', 'the shared identity writes no report');
  assert.equal(await can(asAgent, 'get', 'secrets', '-n', NS), 'no');
  assert.equal(await can(asAgent, 'patch', 'blockevents.floodgate.dev', '-n', NS), 'no');
  // Its Lease, and no other (docs/fanout.md): renew, never create or delete.
  const lease = `leases.coordination.k8s.io/floodgate-node-${node.name}`;
  assert.equal(await can(asNode, 'patch', lease, '-n', NS), 'yes');
  assert.equal(await can(asNode, 'patch', 'leases.coordination.k8s.io/floodgate-node-another-node', '-n', NS), 'no');
  assert.equal(await can(asNode, 'patch', 'leases.coordination.k8s.io/floodgate-controller', '-n', NS), 'no', 'not the controller\'s leader Lease');
  assert.equal(await can(asNode, 'delete', lease, '-n', NS), 'no');
  assert.equal(await can(asNode, 'create', 'leases.coordination.k8s.io', '-n', NS), 'no');
  assert.equal(await can(asAgent, 'patch', lease, '-n', NS), 'no', 'the shared identity renews no Lease');

  // A real write with the node's identity on another node's report: 403.
  await kubectlOk(node, ['apply', '-f', '-'], 'apiVersion: floodgate.dev/v1alpha1\nkind: FloodgateNode\nmetadata: {name: another-node}\nspec: {}\n');
  const token = (await kubectlOk(node, ['create', 'token', `floodgate-node-${node.name}`, '-n', NS, '--duration=10m'])).trim();
  const other = await kubectl(node, ['--token', token, 'patch', 'floodgatenode.floodgate.dev', 'another-node', '--subresource=status', '--type=merge', '-p', '{"status":{"ownBansTotal":7}}']);
  assert.notEqual(other.exitCode, 0);
  assert.match(other.stderr, /forbidden/i);
  const own = await kubectl(node, ['--token', token, 'get', 'floodgatenode.floodgate.dev', node.name]);
  assert.equal(own.exitCode, 0, own.stderr);

  // The agent renews its node's Lease (heartbeats of 5 s), which its FloodgateNode names.
  const fgn = await getJson<{ spec?: { lease?: { namespace?: string; name?: string } } }>(node, ['floodgatenode.floodgate.dev', node.name]);
  assert.deepEqual(fgn.spec?.lease, { namespace: NS, name: `floodgate-node-${node.name}` });
  const renewed = async () => (await getJson<{ spec?: { renewTime?: string; holderIdentity?: string } }>(node, ['lease', '-n', NS, `floodgate-node-${node.name}`])).spec;
  const first = await eventually('the node Lease renewed', async () => {
    const l = await renewed();
    return l?.renewTime ? l : undefined;
  }, 60_000, 1000);
  assert.equal(first?.holderIdentity, node.name);
  await eventually('renewed again', async () => ((await renewed())?.renewTime !== first?.renewTime ? true : undefined), 60_000, 1000);
});

step('a BlockEvent lands in the node\'s nft set through the watch, and its status counts the node', async () => {
  await kubectlOk(node, ['apply', '-f', '-'], blockEvent('first', '203.0.113.81'));
  await eventually('203.0.113.81 in the host nft set', () => inNft('203.0.113.81'), 60_000, 250);
  const be = await eventually('Active on 1/1 nodes', async () => {
    const x = await getJson<{ status?: { phase?: string; nodes?: { summary?: string } } }>(node, ['blockevent.floodgate.dev', 'first', '-n', NS]);
    return x.status?.phase === 'Active' && x.status.nodes?.summary === '1/1' ? x : undefined;
  }, 60_000, 500);
  assert.ok(be);
});

step('with the agent pod gone, a ban made meanwhile is picked up and a ban deleted meanwhile is lifted once it is back', async () => {
  const before = await agentPod();
  // No node matches: the DaemonSet removes its pod (the bans stay in nft and in the store on the node).
  await kubectlOk(node, ['patch', 'daemonset', AGENT, '-n', NS, '--type=merge', '-p', '{"spec":{"template":{"spec":{"nodeSelector":{"floodgate.dev/test-no-node":"x"}}}}}']);
  await eventually('the agent pod gone', async () => !(await agentPod()), 120_000, 1000);
  await kubectlOk(node, ['apply', '-f', '-'], blockEvent('made-while-down', '203.0.113.82'));
  await kubectlOk(node, ['delete', 'blockevent.floodgate.dev', 'first', '-n', NS, '--timeout=60s']);
  assert.ok(await inNft('203.0.113.81'), 'nobody lifted it while the agent was away');
  assert.ok(!(await inNft('203.0.113.82')));
  await kubectlOk(node, ['patch', 'daemonset', AGENT, '-n', NS, '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/nodeSelector","value":{"kubernetes.io/os":"linux"}}]']);
  await newPodReady(node, 'agent', before?.metadata.name, 180_000);
  await eventually('the ban made while it was down is in nft', () => inNft('203.0.113.82'), 60_000, 250);
  await eventually('the ban deleted while it was down is lifted', async () => !(await inNft('203.0.113.81')), 60_000, 250);
});

step('deleting a BlockEvent lifts it from nft', async () => {
  await kubectlOk(node, ['delete', 'blockevent.floodgate.dev', 'made-while-down', '-n', NS, '--timeout=60s']);
  await eventually('203.0.113.82 out of nft', async () => !(await inNft('203.0.113.82')), 60_000, 250);
});
