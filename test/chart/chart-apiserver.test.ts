// The chart against a real kube-apiserver (test/control-plane, own state dir):
// every rendered object and manifests/ pass `kubectl apply --dry-run=server`,
// the ServiceAccount can do what the controller calls and nothing more
// (`kubectl auth can-i --as`), and `lookup` keeps a token across upgrades.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import YAML from 'yaml';
import { ensureControlPlane, stopControlPlane, type ControlPlane } from '../control-plane/control-plane.js';
import { makeKubectl, type Kubectl } from '../crds/helpers.js';
import { ALL_FEATURES, helmTemplate, NAMESPACE, parseObjects, renderObjects } from '../../deploy/helm.js';
import { MANIFESTS_DIR } from '../../deploy/manifests.js';

const STATE_DIR = process.env.FLOODGATE_CHART_STATE_DIR ?? '/tmp/floodgate-cp-chart';
const SA = `system:serviceaccount:${NAMESPACE}:floodgate-controller`;
let cp: ControlPlane;
let kubectl: Kubectl;

// A stand-in for the Prometheus Operator's CRD, so a ServiceMonitor can be dry-run.
const SERVICE_MONITOR_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: { kind: 'ServiceMonitor', listKind: 'ServiceMonitorList', plural: 'servicemonitors', singular: 'servicemonitor' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
};

const apply = (yaml: string, dryRun: boolean) =>
  kubectl(['apply', ...(dryRun ? ['--dry-run=server'] : []), '-f', '-'], { input: yaml, reject: false });
const stream = (objs: unknown[]) => objs.map((o) => `---\n${YAML.stringify(o)}`).join('');
const canI = async (verb: string, resource: string, ns?: string, subresource?: string) => {
  const r = await kubectl(['auth', 'can-i', verb, resource, `--as=${SA}`, ...(ns ? ['-n', ns] : ['--all-namespaces']), ...(subresource ? [`--subresource=${subresource}`] : [])], { reject: false });
  return r.stdout.trim() === 'yes';
};

before(async () => {
  cp = await ensureControlPlane({ stateDir: STATE_DIR });
  kubectl = makeKubectl(cp.kubeconfig);
  for (const ns of [NAMESPACE, 'shop', 'web', 'lookup-ns']) await kubectl(['create', 'namespace', ns], { reject: false });
  // CRDs for real first: a dry run of a DefensePolicy needs its CRD to exist.
  const crds = (await renderObjects({ extra: ['--show-only', 'templates/crds.yaml'] }));
  const r = await apply(stream([...crds, SERVICE_MONITOR_CRD]), false);
  assert.equal(r.exitCode, 0, r.stderr);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/defensepolicies.floodgate.dev', 'crd/blockevents.floodgate.dev', 'crd/signaturerules.floodgate.dev', 'crd/servicemonitors.monitoring.coreos.com']);
});

after(async () => {
  if (process.env.FLOODGATE_CP_KEEP !== '1') await stopControlPlane({ stateDir: STATE_DIR, wipe: true });
});

test('kubectl apply --dry-run=server accepts every object the chart renders, with defaults and with every feature on', async () => {
  for (const set of [[], ALL_FEATURES]) {
    const objs = await renderObjects({ set, withTests: true });
    const r = await apply(stream(objs), true);
    assert.equal(r.exitCode, 0, `--set ${set.join(',')}: ${r.stderr}`);
    const accepted = r.stdout.split('\n').filter((l) => /\(server dry run\)$/.test(l));
    assert.equal(accepted.length, objs.length, r.stdout);
  }
});

test('the dry run really validates: a Deployment with negative replicas is refused', async () => {
  const objs = await renderObjects({ set: ['agent.daemonset.enabled=true'] });
  const dep = objs.find((o) => o.kind === 'Deployment') as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  dep.spec.replicas = -1;
  const r = await apply(stream([dep]), true);
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /replicas/);
});

test('manifests/ and manifests/samples/ pass kubectl apply --dry-run=server', async () => {
  const r = await kubectl(['apply', '--dry-run=server', '-f', MANIFESTS_DIR, '-f', path.join(MANIFESTS_DIR, 'samples')], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /deployment.apps\/floodgate-controller (created|configured|unchanged) \(server dry run\)/);
  assert.match(r.stdout, /defensepolicy.floodgate.dev\/web (created|configured|unchanged) \(server dry run\)/);
});

test('RBAC: the ServiceAccount can do what the controller calls and nothing it does not (kubectl auth can-i --as)', async () => {
  const rbacOf = async (set: string[]) =>
    stream(await renderObjects({ set, extra: ['--show-only', 'templates/serviceaccount.yaml', '--show-only', 'templates/rbac.yaml'] }));
  assert.equal((await apply(await rbacOf([]), false)).exitCode, 0);

  // resource/name is kubectl's syntax for a named object; subresources go in the fourth field.
  const yes: [string, string, string?, string?][] = [
    ['list', 'defensepolicies.floodgate.dev'], ['watch', 'defensepolicies.floodgate.dev'],
    ['patch', 'defensepolicies.floodgate.dev', 'shop', 'status'], ['update', 'defensepolicies.floodgate.dev', 'shop', 'finalizers'],
    ['watch', 'blockevents.floodgate.dev'], ['create', 'blockevents.floodgate.dev', 'shop'], ['patch', 'blockevents.floodgate.dev', 'shop'],
    ['delete', 'blockevents.floodgate.dev', 'shop'], ['patch', 'blockevents.floodgate.dev', 'shop', 'status'],
    ['watch', 'signaturerules.floodgate.dev'], ['create', 'signaturerules.floodgate.dev', 'shop'], ['delete', 'signaturerules.floodgate.dev', 'shop'],
    ['patch', 'signaturerules.floodgate.dev', 'shop', 'status'],
    ['list', 'pods', 'shop'], ['watch', 'pods'],
    ['create', 'events', 'shop'], ['patch', 'events', 'shop'], ['get', 'secrets', 'shop'],
    ['create', 'leases.coordination.k8s.io', NAMESPACE], ['update', 'leases.coordination.k8s.io/floodgate-controller', NAMESPACE],
  ];
  const no: [string, string, string?, string?][] = [
    ['list', 'secrets'], ['watch', 'secrets', 'shop'], ['create', 'secrets', 'shop'],
    ['get', 'nodes', undefined, 'proxy'], ['get', 'nodes'],
    ['delete', 'defensepolicies.floodgate.dev', 'shop'], ['patch', 'defensepolicies.floodgate.dev', 'shop'],
    ['update', 'defensepolicies.floodgate.dev', 'shop', 'status'],
    ['delete', 'pods', 'shop'], ['create', 'pods', 'shop'], ['delete', 'events', 'shop'],
    ['update', 'leases.coordination.k8s.io/someone-else', NAMESPACE], ['create', 'leases.coordination.k8s.io', 'shop'],
    ['create', 'clusterrolebindings.rbac.authorization.k8s.io'], ['update', 'customresourcedefinitions.apiextensions.k8s.io'],
  ];
  // metrics.k8s.io is not served here (no metrics-server), so kubectl cannot map
  // it for can-i: ask the authorizer directly with a SubjectAccessReview.
  const sar = async (verb: string, group: string, resource: string) => {
    const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: SA, groups: ['system:serviceaccounts', 'system:authenticated'], resourceAttributes: { verb, group, resource, namespace: 'shop', name: 'web-1' } } };
    const r = await kubectl(['create', '-o', 'jsonpath={.status.allowed}', '-f', '-'], { input: JSON.stringify(review) });
    return r.stdout.trim() === 'true';
  };
  assert.ok(await sar('get', 'metrics.k8s.io', 'pods'), 'the controller needs: get pods.metrics.k8s.io');
  assert.ok(!(await sar('list', 'metrics.k8s.io', 'pods')), 'the controller must not: list pods.metrics.k8s.io');
  for (const [v, r, ns, sub] of yes) assert.ok(await canI(v, r, ns, sub), `the controller needs: ${v} ${r}${sub ? `/${sub}` : ''} ${ns ?? '(all namespaces)'}`);
  for (const [v, r, ns, sub] of no) assert.ok(!(await canI(v, r, ns, sub)), `the controller must not: ${v} ${r}${sub ? `/${sub}` : ''} ${ns ?? '(all namespaces)'}`);

  // The kubelet memory source adds nodes/proxy get, nothing else on nodes.
  assert.equal((await apply(await rbacOf(['controller.memorySources={metrics-api,kubelet}']), false)).exitCode, 0);
  assert.ok(await canI('get', 'nodes', undefined, 'proxy'));
  assert.ok(!(await canI('get', 'nodes')));

  // Secrets only in the listed namespaces.
  assert.equal((await apply(await rbacOf(['rbac.secretNamespaces={shop}']), false)).exitCode, 0);
  assert.ok(await canI('get', 'secrets', 'shop'));
  assert.ok(!(await canI('get', 'secrets', 'web')));
  assert.ok(!(await canI('get', 'nodes', undefined, 'proxy')), 'applying the default sources again removes nodes/proxy');
  await kubectl(['-n', 'shop', 'delete', 'role,rolebinding', 'floodgate-controller-agent-tokens']);
  assert.equal((await apply(await rbacOf([]), false)).exitCode, 0);
});

test('lookup: an upgrade keeps the agent token of the existing Secret (helm template --dry-run=server)', async () => {
  // The Secret as the first install left it (with Helm's ownership metadata).
  const kept = 'kept-from-the-first-install-0123';
  const secret = {
    apiVersion: 'v1', kind: 'Secret',
    metadata: { name: 'lk-floodgate-agent-token', namespace: 'lookup-ns', labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'lk', 'meta.helm.sh/release-namespace': 'lookup-ns' } },
    stringData: { token: kept },
  };
  assert.equal((await apply(stream([secret]), false)).exitCode, 0);
  const yaml = await helmTemplate({ release: 'lk', namespace: 'lookup-ns', kubeconfig: cp.kubeconfig, set: ['crds.enabled=false'], extra: ['--dry-run=server', '--show-only', 'templates/secrets.yaml'] });
  const secrets = parseObjects(yaml) as unknown as { metadata: { name: string }; data: { token: string } }[];
  const token = (name: string) => Buffer.from(secrets.find((s) => s.metadata.name === name)!.data.token, 'base64').toString();
  assert.equal(token('lk-floodgate-agent-token'), kept);
  assert.notEqual(token('lk-floodgate-dashboard-token'), kept);
  assert.ok(token('lk-floodgate-dashboard-token').length >= 32, 'no Secret yet: a new random token');
});

test('lookup: an upgrade keeps the Helm-made agent CA and certificates, and makes new ones only when the names or the CA change (agent TLS)', async () => {
  type Tls = { metadata: { name: string; annotations?: Record<string, string> }; kind: string; data: Record<string, string> };
  const render = async (set: string[] = []) =>
    parseObjects(
      await helmTemplate({ release: 'tl', namespace: 'lookup-ns', kubeconfig: cp.kubeconfig, set: ['crds.enabled=false', 'agent.daemonset.enabled=true', 'agent.tls.provider=helm', ...set], extra: ['--dry-run=server', '--show-only', 'templates/agent-tls.yaml'] }),
    ) as unknown as Tls[];
  const data = (objs: Tls[], name: string, key: string) => objs.find((o) => o.metadata.name === name)!.data[key]!;
  // The first install: Helm's Secrets, stored with its ownership metadata.
  const first = await render();
  const owned = first.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: 'lookup-ns', labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { ...o.metadata.annotations, 'meta.helm.sh/release-name': 'tl', 'meta.helm.sh/release-namespace': 'lookup-ns' } } }));
  const stored = await apply(stream(owned), false);
  assert.equal(stored.exitCode, 0, stored.stderr);

  const upgrade = await render();
  for (const name of ['tl-floodgate-agent-ca', 'tl-floodgate-agent-tls', 'tl-floodgate-agent-client', 'tl-floodgate-host-agent-tls', 'tl-floodgate-node-identity-tls']) {
    assert.equal(data(upgrade, name, 'tls.crt'), data(first, name, 'tls.crt'), `${name} changed on upgrade`);
    assert.equal(data(upgrade, name, 'tls.key'), data(first, name, 'tls.key'), `${name}'s key changed on upgrade`);
  }
  // A new name for the host agent: its certificate is made anew, by the same CA; the others stay.
  const renamed = await render(['agent.tls.hostNames={agent.example.internal}']);
  assert.notEqual(data(renamed, 'tl-floodgate-host-agent-tls', 'tls.crt'), data(first, 'tl-floodgate-host-agent-tls', 'tls.crt'));
  assert.equal(data(renamed, 'tl-floodgate-host-agent-tls', 'ca.crt'), data(first, 'tl-floodgate-agent-ca', 'tls.crt'));
  assert.equal(data(renamed, 'tl-floodgate-agent-tls', 'tls.crt'), data(first, 'tl-floodgate-agent-tls', 'tls.crt'));
  assert.equal(data(renamed, 'tl-floodgate-node-identity-tls', 'tls.crt'), data(first, 'tl-floodgate-node-identity-tls', 'tls.crt'));
  // The CA deleted: a new one, and every certificate signed anew by it.
  await kubectl(['-n', 'lookup-ns', 'delete', 'secret', 'tl-floodgate-agent-ca']);
  const fresh = await render();
  assert.notEqual(data(fresh, 'tl-floodgate-agent-ca', 'tls.crt'), data(first, 'tl-floodgate-agent-ca', 'tls.crt'));
  for (const name of ['tl-floodgate-agent-tls', 'tl-floodgate-agent-client', 'tl-floodgate-host-agent-tls', 'tl-floodgate-node-identity-tls']) {
    assert.equal(data(fresh, name, 'ca.crt'), data(fresh, 'tl-floodgate-agent-ca', 'tls.crt'), `${name} not re-signed by the new CA`);
  }
});
