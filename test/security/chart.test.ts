// The chart's share of issues 13.3 and 13.10, against our own kube-apiserver
// (flock /tmp/floodgate-heavy.lock; FLOODGATE_SEC_STATE_DIR, default
// /tmp/floodgate-cp-harden):
//   - a NetworkPolicy lets only the probe port in (the dashboard is reached
//     through kubectl port-forward; with agents that watch, the node identity
//     broker's port too), and the API server accepts it. Whether a
//     CNI enforces it cannot be shown here: this API server has no nodes or CNI;
//   - the dashboard answers its Service's names (--dashboard-allowed-hosts);
//   - the agent's allowlist holds the cluster's pod CIDRs, node addresses and
//     API server addresses, discovered with Helm's lookup, and the real agent
//     with that config refuses to ban a node.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { agentConfigSchema } from '../../agent/config/agent-config.js';
import { helmTemplate, parseObjects, renderObjects, type K8sObject } from '../../deploy/helm.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { kubectl, startApiServerWithCrds, stopApiServer } from '../controller/e2e-env.js';
import { isRoot } from '../support/netns.js';
import { AGENT_TOKEN, startRealAgent } from './real-agent.js';

const STATE_DIR = process.env.FLOODGATE_SEC_STATE_DIR || '/tmp/floodgate-cp-harden';
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const find = (objs: K8sObject[], kind: string): Any => {
  const o = objs.find((x) => x.kind === kind);
  assert.ok(o, `no ${kind}`);
  return o as Any;
};

describe('chart: NetworkPolicy, dashboard Host names, cluster allowlist (real API server)', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
  });
  after(async () => {
    if (cp) {
      await kubectl(cp.kubeconfig, ['delete', 'node', 'fgsec-node-a', 'fgsec-node-b', '--ignore-not-found']);
      await stopApiServer(STATE_DIR);
    }
  });

  it('a NetworkPolicy admits only the probe port by default, and the dashboard port only from the configured peers', async () => {
    const np = find(await renderObjects(), 'NetworkPolicy');
    assert.deepEqual(np.spec.podSelector.matchLabels['app.kubernetes.io/component'], 'controller');
    assert.deepEqual(np.spec.policyTypes, ['Ingress']);
    assert.deepEqual(np.spec.ingress.map((r: Any) => r.ports.map((p: Any) => p.port)), [['probe']]);
    const open = find(await renderObjects({ set: ['networkPolicy.dashboardFrom[0].namespaceSelector.matchLabels.name=ingress'] }), 'NetworkPolicy');
    assert.deepEqual(open.spec.ingress.map((r: Any) => r.ports[0].port), ['probe', 'dashboard']);
    assert.deepEqual(open.spec.ingress[1].from, [{ namespaceSelector: { matchLabels: { name: 'ingress' } } }]);
    // Agents that watch (the DaemonSet's default) reach the node identity broker from the host network:
    // node addresses no selector matches, so that port is open to all (the broker authenticates each request).
    const watching = find(await renderObjects({ set: ['agent.daemonset.enabled=true'] }), 'NetworkPolicy');
    assert.deepEqual(watching.spec.ingress.map((r: Any) => r.ports.map((p: Any) => p.port)), [['probe'], ['node-identity']]);
    assert.equal(watching.spec.ingress[1].from, undefined);
    const pushed = find(await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.sync=push'] }), 'NetworkPolicy');
    assert.deepEqual(pushed.spec.ingress.map((r: Any) => r.ports.map((p: Any) => p.port)), [['probe']]);
    await kubectl(cp.kubeconfig, ['create', 'namespace', 'floodgate-system']);
    const r = await kubectl(cp.kubeconfig, ['apply', '--dry-run=server', '-f', '-'], `---\n${YAML.stringify(np)}---\n${YAML.stringify(open)}---\n${YAML.stringify(watching)}`);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(find(await renderObjects({ set: ['networkPolicy.enabled=false'] }), 'Deployment').kind, 'Deployment');
    assert.ok(!(await renderObjects({ set: ['networkPolicy.enabled=false'] })).some((o) => o.kind === 'NetworkPolicy'));
  });

  it("the dashboard is told its Service's names and the configured ones", async () => {
    const dep = find(await renderObjects({ set: ['dashboard.allowedHosts={floodgate.example.com}'] }), 'Deployment');
    const arg = (dep.spec.template.spec.containers[0].args as string[]).find((a) => a.startsWith('--dashboard-allowed-hosts='));
    assert.equal(
      arg,
      '--dashboard-allowed-hosts=floodgate-controller,floodgate-controller.floodgate-system,floodgate-controller.floodgate-system.svc,floodgate-controller.floodgate-system.svc.cluster.local,floodgate.example.com',
    );
  });

  it("discovers the nodes' pod CIDRs and addresses and the API server's addresses for the agent's allowlist", async () => {
    const k = (args: string[], input?: string) => kubectl(cp.kubeconfig, args, input);
    for (const [name, podCIDR, ip] of [['fgsec-node-a', '10.244.1.0/24', '192.168.50.11'], ['fgsec-node-b', '10.244.2.0/24', '192.168.50.12']] as const) {
      assert.equal((await k(['apply', '-f', '-'], YAML.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR, podCIDRs: [podCIDR] } }))).exitCode, 0);
      const patch = JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } });
      const r = await k(['patch', 'node', name, '--subresource=status', '--type=merge', '-p', patch]);
      assert.equal(r.exitCode, 0, r.stderr);
    }
    // A real cluster's API server publishes its addresses in default/kubernetes;
    // this one advertises 127.0.0.1, which an Endpoints object may not hold, so
    // the test publishes one as a cluster would, unless it is there already.
    if ((await k(['-n', 'default', 'get', 'endpoints', 'kubernetes'])).exitCode !== 0) {
      const ep = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'kubernetes', namespace: 'default' }, subsets: [{ addresses: [{ ip: '192.168.50.5' }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }] };
      assert.equal((await k(['apply', '-f', '-'], YAML.stringify(ep))).exitCode, 0);
    }
    const endpoints = (await k(['-n', 'default', 'get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].addresses[*].ip}'])).stdout.trim().split(/\s+/);
    const clusterIP = (await k(['-n', 'default', 'get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}'])).stdout.trim();
    assert.ok(endpoints.length > 0 && endpoints[0] !== '' && clusterIP, 'the API server publishes its endpoints');

    const yaml = await helmTemplate({
      kubeconfig: cp.kubeconfig,
      set: ['crds.enabled=false', 'agent.daemonset.enabled=true', 'agent.daemonset.allowlist={203.0.113.0/24}', 'agent.daemonset.clusterAllowlist.serviceCIDRs={10.96.0.0/12}'],
      extra: ['--dry-run=server', '--show-only', 'templates/agent-daemonset.yaml'],
    });
    const cm = parseObjects(yaml).find((o) => o.kind === 'ConfigMap') as Any;
    const cfg = agentConfigSchema.parse(YAML.parse(cm.data['agent.yaml']));
    for (const want of ['203.0.113.0/24', '10.96.0.0/12', '10.244.1.0/24', '10.244.2.0/24', '192.168.50.11', '192.168.50.12', ...endpoints, clusterIP]) {
      assert.ok(cfg.allowlist.includes(want), `${want} in ${JSON.stringify(cfg.allowlist)}`);
    }
    assert.ok(!cfg.allowlist.includes('fgsec-node-a'), 'host names are not addresses');
    // helm template without a cluster discovers nothing and still renders.
    const offline = parseObjects(await helmTemplate({ set: ['agent.daemonset.enabled=true'], extra: ['--show-only', 'templates/agent-daemonset.yaml'] })).find((o) => o.kind === 'ConfigMap') as Any;
    assert.deepEqual(agentConfigSchema.parse(YAML.parse(offline.data['agent.yaml'])).allowlist, []);

    if (!isRoot()) return;
    // The real agent with that allowlist: a node and a pod are never banned.
    const agent = await startRealAgent({ config: { allowlist: cfg.allowlist } });
    try {
      for (const ip of ['192.168.50.12', '10.244.2.7']) {
        const r = await agent.curl(['-X', 'POST', `${agent.url}/v1/blocks`, '-H', `Authorization: Bearer ${AGENT_TOKEN}`, '-H', 'Content-Type: application/json', '-d', JSON.stringify({ ip, durationSeconds: 60, reason: 't' })]);
        assert.equal(r.status, 403, `${ip}: ${r.body}`);
        assert.match(r.body, /allowlisted/);
      }
    } finally {
      await agent.stop();
    }
  });
});
