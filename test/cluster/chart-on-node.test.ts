// floodgate as a user installs it: the chart (`helm install`, DaemonSet on) on a
// running one-node cluster (test/cluster/node.sh: kubelet + dockershim +
// Docker, kube-proxy, kube-controller-manager, kube-scheduler, kube-apiserver),
// with the images built from images/Dockerfile. One scenario, in order:
// install, the agent watching the API server as the chart sets it by default
// (agent.sync=watch: its node identity from the controller's broker, its
// FloodgateNode report), helm test, mutual TLS for the controller's calls to the
// agent, the controller's in-cluster identity and its RBAC as the live pod uses
// it, probes and limits, a flood banned through the live memory trigger (kubelet
// Summary API) and counted on the node (NODES 1/1), a SignatureRule reaching the
// agent's nft through the watch, a controller restart mid-ban, an upgrade that
// keeps tokens and bans (and turns auto-defense on), and an uninstall.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import {
  AGENT,
  CHART_NS as NS,
  CONTROLLER,
  RELEASE,
  assertAgentReportsAsNode,
  buildImage,
  componentPods,
  docker,
  ensureImages,
  ensureLocalBase,
  getJson,
  helm,
  hostBans,
  installChart,
  kubectl,
  kubectlOk,
  newPodReady,
  nftTables,
  nodeChartValues,
  nodeHolds,
  nodeReport,
  readyOf,
  removeChartAndNode,
  startNode,
  stepsOnNode,
  type Condition,
  type Images,
  type KubeNode,
  type Pod,
} from './node.js';
import { eventually } from '../controller/e2e-env.js';
import { AgentApiClient, AgentApiError } from '../../api/agent/v1/client.js';
import { signatureId } from '../../api/signature-rule.js';

const WORKLOAD_IMAGE = 'floodgate-test/memory-hog:dev';
const WORKLOAD_LIMIT_MI = 192;
const THRESHOLD = 75;
/** A second source in the lab, for the auto-defense flood after the upgrade. */
const SECOND_ATTACKER = '10.213.1.67';
/** A spoofed source of UDP "responses" from port 1900 (SSDP), for the SignatureRule. */
const REFLECTOR = '10.213.1.68';

interface K8sList<T> { items: T[] }
interface BlockEvent {
  metadata: { name: string; uid: string; ownerReferences?: unknown[]; finalizers?: string[]; deletionTimestamp?: string };
  spec: { ip: string; policyRef?: { name: string }; reason?: string; agent?: string };
  status?: { phase?: string; backend?: string; nodes?: { summary?: string } };
}

let node: KubeNode;
let images: Images;
let nftTablesBefore: string[] = [];
const figures: string[] = [];
const started = Date.now();
const floods: ResultPromise[] = [];
const step = stepsOnNode(() => node);

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The values a user on this node sets; everything else is the chart's default. */
function chartValues(opts: { sample: boolean }, extra: string[] = []): string[] {
  return [
    ...nodeChartValues(node, images),
    // The live memory path: the kubelet Summary API through the API server's node proxy (no metrics-server here).
    '--set-json', 'controller.memorySources=["kubelet"]',
    '--set', `samplePolicy.enabled=${opts.sample}`, '--set', `samplePolicy.memoryThresholdPercent=${THRESHOLD}`,
    ...extra,
  ];
}

async function podOf(which: 'controller' | 'agent'): Promise<Pod> {
  const found = await componentPods(node, which);
  assert.equal(found.length, 1, `one ${which} pod: ${found.map((p) => p.metadata.name).join(', ')}`);
  return found[0]!;
}

async function blockEvents(): Promise<BlockEvent[]> {
  return (await getJson<K8sList<BlockEvent>>(node, ['blockevents.floodgate.dev', '-n', NS])).items;
}

async function activeBlockEventFor(ip: string): Promise<BlockEvent | undefined> {
  return (await blockEvents()).find((b) => b.spec.ip.replace(/\/32$/, '') === ip && b.status?.phase === 'Active');
}

async function secretValue(name: string, key = 'token'): Promise<string> {
  const s = await getJson<{ data: Record<string, string> }>(node, ['secret', name, '-n', NS]);
  return Buffer.from(s.data[key] ?? '', 'base64').toString('utf8');
}

function containerId(p: Pod): string {
  const id = p.status.containerStatuses?.[0]?.containerID ?? '';
  return id.replace(/^docker:\/\//, '');
}

/** The agent on the node as the controller calls it: HTTPS, the chart's CA and client certificate, the agents' name, the token. */
async function agentClient(opts: { clientCert?: boolean } = {}): Promise<AgentApiClient> {
  const tls = { ca: await secretValue('floodgate-agent-client', 'ca.crt'), servername: `${AGENT}.${NS}.svc` };
  const cert = opts.clientCert === false ? {} : { cert: await secretValue('floodgate-agent-client', 'tls.crt'), key: await secretValue('floodgate-agent-client', 'tls.key') };
  return new AgentApiClient({ url: `https://${node.ip}:12345`, token: await secretValue(`${AGENT}-token`), tls: { ...tls, ...cert } });
}

/** The agent's ban list, through mutual TLS. */
async function agentBans(): Promise<{ blocks: { cidr: string }[] }> {
  return (await agentClient()).listBlocks();
}

async function nftTable(): Promise<string> {
  const r = await execa('nft', ['list', 'table', 'inet', 'floodgate'], { reject: false });
  return r.exitCode === 0 ? String(r.stdout) : '';
}

async function serviceIp(name: string): Promise<string> {
  return (await kubectlOk(node, ['get', 'svc', name, '-n', NS, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
}

function startFlood(args: string[] = []): ResultPromise {
  const p = execa('ip', ['netns', 'exec', node.lab.ns, 'timeout', '150', 'hping3', '-S', '-p', '80', '--flood', ...args, node.lab.hostIp], { reject: false, stdio: 'ignore' });
  floods.push(p);
  return p;
}

async function stopFloods(): Promise<void> {
  for (const f of floods.splice(0)) {
    f.kill('SIGINT');
    await f;
  }
}

before(async () => {
  const t = Date.now();
  images = await ensureImages();
  for (const [image, size] of Object.entries(images.sizes)) console.log(`# image ${image}: ${(size / 1e6).toFixed(1)} MB`);
  await ensureLocalBase('busybox'); // the `helm test` pod's image
  await buildImage('test/cluster/workload', WORKLOAD_IMAGE);
  figures.push(`images ready: ${secs(Date.now() - t)}`);
  const n = Date.now();
  node = await startNode();
  figures.push(`node up (control plane, kubelet, kube-proxy, DNS; Ready): ${secs(Date.now() - n)}`);
  nftTablesBefore = await nftTables();
});

after(async () => {
  await stopFloods();
  // Whatever a failed run left: the release, its namespace, the CRDs kept by `crds.keep`; then the
  // agent's own table (left on purpose by the uninstall, see the last step), unless it was there before.
  await removeChartAndNode(node, nftTablesBefore, async () => {
    for (const be of await blockEvents().catch(() => [] as BlockEvent[])) {
      await kubectl(node, ['patch', 'blockevent.floodgate.dev', be.metadata.name, '-n', NS, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    }
    for (const sr of (await getJson<K8sList<{ metadata: { name: string } }>>(node, ['signaturerules.floodgate.dev', '-n', NS]).catch(() => ({ items: [] }))).items) {
      await kubectl(node, ['patch', 'signaturerule.floodgate.dev', sr.metadata.name, '-n', NS, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    }
    await kubectl(node, ['delete', 'crd', 'defensepolicies.floodgate.dev', 'blockevents.floodgate.dev', 'signaturerules.floodgate.dev', 'floodgatenodes.floodgate.dev', '--ignore-not-found', '--wait=false']);
  });
  console.log(`# cluster test figures:\n${figures.map((f) => `#   ${f}`).join('\n')}\n#   whole file: ${secs(Date.now() - started)}`);
});

step('helm install with samplePolicy on a fresh cluster stops with a clear error and creates nothing', async () => {
  // Helm maps every object before it creates any: a DefensePolicy cannot come with the release that installs its CRD.
  const r = await helm(node, ['install', RELEASE, 'charts/floodgate', '-n', NS, '--create-namespace', ...chartValues({ sample: true })]);
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /samplePolicy\.enabled needs the DefensePolicy CRD in the cluster before this release is applied: install first without it, then `helm upgrade --reuse-values --set samplePolicy\.enabled=true`/);
  assert.equal((await helm(node, ['status', RELEASE, '-n', NS])).exitCode, 1, 'no release');
  assert.equal((await kubectl(node, ['get', 'crd', 'defensepolicies.floodgate.dev'])).exitCode, 1, 'no CRD');
});

step('helm install (agent DaemonSet on): the controller Deployment and the agent DaemonSet are Running and Ready', async () => {
  const t = Date.now();
  await installChart(node, chartValues({ sample: false }));
  const returned = Date.now();
  const deploy = await getJson<{ status: { readyReplicas?: number; replicas?: number } }>(node, ['deployment', CONTROLLER, '-n', NS]);
  assert.equal(deploy.status.readyReplicas, 1, 'the controller Deployment has its replica ready');
  const ds = await getJson<{ status: { numberReady: number; desiredNumberScheduled: number } }>(node, ['daemonset', AGENT, '-n', NS]);
  assert.equal(ds.status.desiredNumberScheduled, 1, 'one node, one agent');
  assert.equal(ds.status.numberReady, 1, 'the agent DaemonSet pod is ready');
  for (const which of ['controller', 'agent'] as const) {
    const p = await podOf(which);
    assert.equal(p.status.phase, 'Running', `${which} Running`);
    assert.equal(readyOf(p)?.status, 'True', `${which} Ready`);
    assert.equal(p.spec.nodeName, node.name);
    const readyAt = Date.parse(readyOf(p)?.lastTransitionTime ?? '');
    figures.push(`helm install -> ${which} pod Ready: ${secs(readyAt - t)} (condition time, 1 s resolution)`);
  }
  figures.push(`helm install --wait returned after ${secs(returned - t)}`);
  assert.equal((await podOf('agent')).spec.hostNetwork, true, 'the agent runs on the node network');
});

step("the agent watches the API server (agent.sync=watch, the chart's default): it gets its node's identity from the controller's broker and reports in its node's FloodgateNode", async () => {
  const agent = await podOf('agent');
  assert.equal(agent.spec.serviceAccountName, AGENT, 'the agents read with a ServiceAccount of their own');
  await assertAgentReportsAsNode(node, agent.metadata.name);
  // What a user sees.
  const table = await kubectlOk(node, ['get', 'fgn']);
  assert.match(table, new RegExp(`^${node.name}\\s.*\\snft\\s+True\\s`, 'm'), table);
});

step('helm test passes: the controller answers /healthz and /readyz by its Service name (cluster DNS + kube-proxy)', async () => {
  const r = await helm(node, ['test', RELEASE, '-n', NS, '--timeout', '3m', '--logs']);
  assert.equal(r.exitCode, 0, `helm test: ${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /Phase:\s+Succeeded/);
});

step('helm upgrade --set samplePolicy.enabled=true: the sample DefensePolicy, on the agent DaemonSet\'s pods, is Ready', async () => {
  const r = await helm(node, ['upgrade', RELEASE, 'charts/floodgate', '-n', NS, '--wait', '--timeout', '5m', ...chartValues({ sample: true })]);
  assert.equal(r.exitCode, 0, `helm upgrade: ${r.stderr}`);
  const dp = await getJson<{ spec: { agentSelector?: unknown; targetSelector?: unknown } }>(node, ['defensepolicy.floodgate.dev', 'web', '-n', NS]);
  assert.ok(dp.spec.agentSelector, 'the DaemonSet variant: agents found by label');
  // The agent sees that the policy picks it (its pod's labels) and says so in its report.
  await eventually(`FloodgateNode ${node.name} lists ${NS}/web`, async () => (await nodeReport(node))?.status?.policies?.includes(`${NS}/web`), 60_000, 1000);
});

step('agent TLS as the chart sets it by default: the DaemonSet agent serves HTTPS with mutual TLS on the node, its kubelet probes pass over HTTPS, and the controller reaches it at https://<podIP>:12345 (docs/tls.md)', async () => {
  const agent = await podOf('agent');
  const c = agent.spec.containers[0]!;
  assert.equal((c.livenessProbe?.httpGet as { scheme?: string } | undefined)?.scheme, 'HTTPS');
  assert.equal(readyOf(agent)?.status, 'True', 'the kubelet\'s HTTPS readiness probe passes (no client certificate needed for /healthz)');
  assert.equal(agent.status.containerStatuses?.[0]?.restartCount, 0);
  const logs = await kubectlOk(node, ['logs', '-n', NS, agent.metadata.name]);
  assert.match(logs, /"mutualTls":true[^\n]*"msg":"agent API serves HTTPS"|"msg":"agent API serves HTTPS"[^\n]*"mutualTls":true/);
  // The controller's view: the sample policy's selector agent answers over mutual TLS.
  await eventually('AgentsReachable=True over TLS', async () => {
    const dp = await getJson<{ status?: { conditions?: Condition[] } }>(node, ['defensepolicy.floodgate.dev', 'web', '-n', NS]);
    return dp.status?.conditions?.find((x) => x.type === 'AgentsReachable')?.status === 'True';
  }, 60_000, 1000);
  // Ours, from the node: with the chart's client certificate it answers; without, the token alone is refused; plain HTTP gets nothing.
  assert.deepEqual(Object.keys(await agentBans()).includes('blocks'), true);
  const noCert = await (await agentClient({ clientCert: false })).listBlocks().catch((e: unknown) => e);
  assert.ok(noCert instanceof AgentApiError && noCert.kind === 'unauthorized' && /client certificate required/.test(noCert.message), String(noCert));
  const plain = await new AgentApiClient({ url: `http://${node.ip}:12345`, token: await secretValue(`${AGENT}-token`), timeoutMs: 3000 }).listBlocks().catch((e: unknown) => e);
  assert.ok(plain instanceof AgentApiError && (plain.kind === 'unreachable' || plain.kind === 'timeout'), String(plain));
});

step('the controller runs with its ServiceAccount (in-cluster token and CA), probes and resource limits as the chart sets them', async () => {
  const p = await podOf('controller');
  assert.equal(p.spec.serviceAccountName, CONTROLLER);
  const mount = p.spec.containers[0]!.volumeMounts?.find((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount');
  assert.ok(mount, 'the ServiceAccount token is mounted');
  const secretName = p.spec.volumes?.find((v) => v.name === mount.name)?.secret?.secretName;
  assert.ok(secretName, 'from its token Secret');
  const caInSecret = await secretValue(secretName, 'ca.crt');
  assert.equal(caInSecret.trim(), fs.readFileSync(path.join(node.cpStateDir, 'pki', 'ca.crt'), 'utf8').trim(), 'the CA in the token Secret is the cluster CA');
  // The controller says where its credentials came from, and it works with them.
  const logs = await kubectlOk(node, ['logs', '-n', NS, p.metadata.name]);
  const apiLine = logs.split('\n').find((l) => l.includes('"msg":"API server"'));
  assert.ok(apiLine, `the controller logs its API server:\n${logs.slice(0, 2000)}`);
  const api = JSON.parse(apiLine) as { kubeconfig: string; server: string; from: string };
  assert.equal(api.kubeconfig, 'in-cluster');
  assert.equal(api.from, '/var/run/secrets/kubernetes.io/serviceaccount');
  assert.match(api.server, /^https:\/\/10\.96\.0\.1:443$/, 'through the kubernetes Service (kube-proxy)');
  const policy = await eventually('the sample policy Ready with its agents reachable', async () => {
    const dp = await getJson<{ status?: { conditions?: Condition[] } }>(node, ['defensepolicy.floodgate.dev', 'web', '-n', NS]);
    const c = (t: string) => dp.status?.conditions?.find((x) => x.type === t)?.status;
    return c('Ready') === 'True' && c('AgentsReachable') === 'True' ? dp : undefined;
  }, 60_000, 1000);
  assert.ok(policy);

  // Probes: as the chart sets them, run by the kubelet (Ready, never restarted).
  const c = p.spec.containers[0]!;
  assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'probe', scheme: 'HTTP' });
  assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'probe', scheme: 'HTTP' });
  assert.equal(p.status.containerStatuses?.[0]?.restartCount, 0);
  // Limits: what Docker enforces for the container (256Mi, 1 CPU), and the pod's QoS.
  const host = JSON.parse((await docker(['inspect', containerId(p)])).stdout)[0].HostConfig as Record<string, unknown>;
  assert.equal(host.Memory, 256 * 1024 * 1024, 'memory limit 256Mi');
  assert.equal(Number(host.CpuQuota) / Number(host.CpuPeriod), 1, 'cpu limit 1');
  assert.equal(host.ReadonlyRootfs, true);
  assert.deepEqual(host.CapDrop, ['ALL']);
  assert.equal(p.status.qosClass, 'Burstable');
  const agent = await podOf('agent');
  const agentHost = JSON.parse((await docker(['inspect', containerId(agent)])).stdout)[0].HostConfig as Record<string, unknown>;
  assert.equal(agentHost.Memory, 384 * 1024 * 1024, 'agent memory limit 384Mi');
  assert.deepEqual((agentHost.CapAdd as string[]).map((c) => c.replace(/^CAP_/, '')).sort(), ['NET_ADMIN', 'NET_RAW'], 'the agent has only NET_ADMIN and NET_RAW');
  assert.equal(agentHost.Privileged, false);
  // hostNetwork: the agent's network namespace is the node's own.
  const agentPid = JSON.parse((await docker(['inspect', containerId(agent)])).stdout)[0].State.Pid as number;
  assert.equal(fs.readlinkSync(`/proc/${agentPid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'the agent shares the node network namespace');
});

step("RBAC as the live pod uses it: the controller's own token may do what the chart grants, and nothing more", async () => {
  const p = await podOf('controller');
  const mount = p.spec.containers[0]!.volumeMounts!.find((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount')!;
  const secretName = p.spec.volumes!.find((v) => v.name === mount.name)!.secret!.secretName;
  const token = await secretValue(secretName, 'token');
  const server = (await kubectlOk(node, ['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fgcluster-sa-'));
  try {
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
      clusters: [{ name: 'c', cluster: { server, 'certificate-authority': path.join(node.cpStateDir, 'pki', 'ca.crt') } }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa', namespace: NS } }],
    }), { mode: 0o600 });
    const asPod = { kubeconfig };
    const can = async (...args: string[]) => (await kubectl(asPod, ['auth', 'can-i', ...args])).stdout.trim();
    assert.equal(await can('watch', 'defensepolicies.floodgate.dev', '-A'), 'yes');
    assert.equal(await can('create', 'blockevents.floodgate.dev', '-n', NS), 'yes');
    assert.equal(await can('patch', 'blockevents.floodgate.dev', '--subresource=status', '-n', NS), 'yes');
    assert.equal(await can('get', 'nodes', '--subresource=proxy'), 'yes', 'memorySources has kubelet: nodes/proxy');
    assert.equal(await can('get', 'secrets', '-n', NS), 'yes', 'the agent token, by name');
    assert.equal(await can('list', 'secrets', '-n', NS), 'no', 'never list Secrets');
    assert.equal(await can('delete', 'pods', '-n', NS), 'no');
    assert.equal(await can('create', 'deployments.apps', '-n', NS), 'no');
    assert.equal(await can('patch', 'nodes'), 'no');
    // The calls the controller makes, made with its token: the Summary API through the node proxy...
    const summary = await kubectl(asPod, ['get', '--raw', `/api/v1/nodes/${node.name}/proxy/stats/summary`]);
    assert.equal(summary.exitCode, 0, `the Summary API with the controller's token: ${summary.stderr}`);
    assert.ok((JSON.parse(summary.stdout) as { pods?: unknown[] }).pods?.length, 'the kubelet reports its pods');
    // ...and what it may not.
    const list = await kubectl(asPod, ['get', 'secrets', '-n', NS]);
    assert.notEqual(list.exitCode, 0);
    assert.match(list.stderr, /forbidden/i);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const logs = await kubectlOk(node, ['logs', '-n', NS, p.metadata.name]);
  assert.doesNotMatch(logs, /forbidden|"code":403/i, 'the controller was never denied');
});

step('a flood from the lab while a selected pod passes its memory threshold (live kubelet Summary API): the BlockEvent turns Active and the agent pod bans with nft', async () => {
  await kubectlOk(node, ['apply', '-n', NS, '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      containers: [{
        name: 'web', image: WORKLOAD_IMAGE, imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }],
        resources: { requests: { memory: '64Mi', cpu: '10m' }, limits: { memory: `${WORKLOAD_LIMIT_MI}Mi`, cpu: '500m' } },
      }],
    },
  }));
  const web = await eventually('the workload pod Running', async () => {
    const p = await getJson<Pod>(node, ['pod', 'web', '-n', NS]);
    return p.status.phase === 'Running' && p.status.podIP && readyOf(p)?.status === 'True' ? p : undefined;
  }, 90_000, 500);
  const workload = `http://${web.status.podIP}:8080`;
  // Before: under the threshold in the controller's own view (the dashboard's memory API, source kubelet), no BlockEvent.
  const dashboard = `http://${await serviceIp(CONTROLLER)}:8080`;
  const dashboardToken = await secretValue('floodgate-dashboard-token');
  const memory = async () => {
    const r = await fetch(`${dashboard}/api/memory`, { headers: { authorization: `Bearer ${dashboardToken}` } });
    assert.equal(r.status, 200, `GET /api/memory: ${r.status}`);
    const { pods: rows } = (await r.json()) as { pods: { pod: string; percent?: number; source?: string; error?: string }[] };
    return rows.find((x) => x.pod === `${NS}/web` || x.pod === 'web');
  };
  const baseline = await eventually('a kubelet reading of the workload', async () => ((await memory())?.source === 'kubelet' ? memory() : undefined), 60_000, 1000);
  assert.ok((baseline?.percent ?? 100) < THRESHOLD, `the workload starts under ${THRESHOLD}%: ${JSON.stringify(baseline)}`);
  assert.equal(await activeBlockEventFor(node.lab.ip), undefined);

  const floodAt = Date.now();
  startFlood();
  // The pod passes its threshold: ~45 MB of node plus 130 MB is ~90 % of 192Mi.
  const grew = await fetch(`${workload}/grow?mb=130`, { method: 'POST' });
  assert.equal(grew.status, 200);
  const grewAt = Date.now();
  const be = await eventually(`an Active BlockEvent for ${node.lab.ip}`, () => activeBlockEventFor(node.lab.ip), 120_000, 500);
  const activeAt = Date.now();
  figures.push(`pod over its memory threshold -> BlockEvent Active: ${secs(activeAt - grewAt)} (flood started ${secs(grewAt - floodAt)} before)`);
  await stopFloods();

  assert.equal(be.spec.policyRef?.name, 'web');
  // The agent applied it from its watch and reported it; the controller counts the node.
  const counted = await eventually('the BlockEvent held on 1/1 nodes', async () => {
    const b = await activeBlockEventFor(node.lab.ip);
    return b?.status?.nodes?.summary === '1/1' ? b : undefined;
  }, 60_000, 500);
  assert.equal(counted.metadata.uid, be.metadata.uid);
  // The trigger was the memory of that pod, read through the kubelet (the only source configured).
  const dp = await getJson<{ status?: { lastTrigger?: { reason: string; pod?: string; memoryPercent?: number } } }>(node, ['defensepolicy.floodgate.dev', 'web', '-n', NS]);
  assert.equal(dp.status?.lastTrigger?.reason, 'memory');
  assert.equal(dp.status?.lastTrigger?.pod, `${NS}/web`);
  assert.ok((dp.status?.lastTrigger?.memoryPercent ?? 0) >= THRESHOLD, JSON.stringify(dp.status?.lastTrigger));
  const after = await memory();
  assert.equal(after?.source, 'kubelet');
  assert.ok((after?.percent ?? 0) >= THRESHOLD, JSON.stringify(after));
  // The same number the kubelet gives anyone who asks (the Summary API, live).
  const summary = JSON.parse(await kubectlOk(node, ['get', '--raw', `/api/v1/nodes/${node.name}/proxy/stats/summary`])) as { pods: { podRef: { name: string; namespace: string }; memory?: { workingSetBytes?: number } }[] };
  const ws = summary.pods.find((x) => x.podRef.name === 'web' && x.podRef.namespace === NS)?.memory?.workingSetBytes ?? 0;
  assert.ok((ws / (WORKLOAD_LIMIT_MI * 1024 * 1024)) * 100 >= THRESHOLD, `kubelet working set ${ws}`);

  // `kubectl get be` as a user sees it.
  const table = await kubectlOk(node, ['get', 'be', '-n', NS]);
  assert.match(table, /\sNODES\s/, table);
  assert.match(table, new RegExp(`${node.lab.ip.replace(/\./g, '\\.')}\\S*\\s+web\\s+Active\\s.*\\s1/1\\s`), table);
  assert.ok((await nodeHolds(node, 'blockevents')) >= 1, 'the node reports the ban applied (its Lease)');
  // The ban is nft's, made inside the agent pod (host network): the same set from the host and from the pod.
  assert.match(await hostBans(), new RegExp(`${node.lab.ip.replace(/\./g, '\\.')}`));
  const inPod = await docker(['exec', containerId(await podOf('agent')), 'nft', 'list', 'set', 'inet', 'floodgate', 'hosts4']);
  assert.equal(inPod.exitCode, 0, inPod.stderr);
  assert.match(inPod.stdout, new RegExp(node.lab.ip.replace(/\./g, '\\.')));
  const ping = await execa('ip', ['netns', 'exec', node.lab.ns, 'ping', '-c', '2', '-W', '1', node.lab.hostIp], { reject: false });
  assert.notEqual(ping.exitCode, 0, 'the attacker is cut off');
});

step("a SignatureRule reaches the agent through its watch: its rule and counter in the node's nft, the reflected packets counted and dropped, the node counted (1/1); deleting it removes the rule", async () => {
  const signature = { protocol: 'udp' as const, destination: node.lab.hostIp, sourcePort: 1900 };
  const id = signatureId(signature);
  await kubectlOk(node, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'floodgate.dev/v1alpha1', kind: 'SignatureRule',
    metadata: { name: 'ssdp', namespace: NS },
    spec: { signature, action: { type: 'drop' }, policyRef: { name: 'web' }, durationSeconds: 600 },
  }));
  const rule = new RegExp(`ip daddr ${node.lab.hostIp.replace(/\./g, '\\.')} .*udp sport 1900 counter name "sig_${id}" drop`);
  await eventually(`sig_${id} in the host's nft table`, async () => rule.test(await nftTable()), 60_000, 250);
  const counter = async () => Number(/packets (\d+)/.exec(String((await execa('nft', ['list', 'counter', 'inet', 'floodgate', `sig_${id}`], { reject: false })).stdout))?.[1] ?? -1);
  const before = await counter();
  // hping3 exits 1 when nothing answers, as here: what counts is that it sent them.
  const sent = await execa('ip', ['netns', 'exec', node.lab.ns, 'hping3', '-2', '-a', REFLECTOR, '-s', '1900', '-k', '-p', '9999', '-c', '20', '-i', 'u10000', node.lab.hostIp], { reject: false, all: true });
  assert.match(String(sent.all), /20 packets transmitted, 0 packets received/, String(sent.all));
  await eventually(`the counter of sig_${id} counts the 20 packets`, async () => (await counter()) - before >= 20, 10_000, 250);
  const sr = await eventually('the SignatureRule Active on 1/1 nodes', async () => {
    const x = await getJson<{ status?: { phase?: string; nodes?: { summary?: string } } }>(node, ['signaturerule.floodgate.dev', 'ssdp', '-n', NS]);
    return x.status?.phase === 'Active' && x.status.nodes?.summary === '1/1' ? x : undefined;
  }, 60_000, 500);
  assert.ok(sr);
  await eventually('the node reports the rule applied (its Lease)', async () => ((await nodeHolds(node, 'signaturerules')) >= 1 ? true : undefined), 60_000, 1000);
  const table = await kubectlOk(node, ['get', 'sr', '-n', NS]);
  assert.match(table, /^ssdp\s.*\sActive\s/m, table);
  await kubectlOk(node, ['delete', 'signaturerule.floodgate.dev', 'ssdp', '-n', NS, '--timeout=60s']);
  await eventually(`sig_${id} gone from nft`, async () => !(await nftTable()).includes(id), 60_000, 250);
});

step('the controller pod restarted mid-ban: the ban and its BlockEvent stay, nothing is duplicated', async () => {
  const before = await activeBlockEventFor(node.lab.ip);
  assert.ok(before);
  const old = await podOf('controller');
  const t = Date.now();
  await kubectlOk(node, ['delete', 'pod', old.metadata.name, '-n', NS, '--wait=false']);
  const fresh = await newPodReady(node, 'controller', old.metadata.name, 120_000);
  figures.push(`controller pod deleted -> new pod Ready: ${secs(Date.now() - t)}`);
  // Long enough for the new leader to re-list and reconcile every BlockEvent (it re-pushes; the agent keeps).
  await eventually('the new controller leads', async () => {
    const lease = await kubectlOk(node, ['get', 'lease', 'floodgate-controller', '-n', NS, '-o', 'jsonpath={.spec.holderIdentity}']);
    return lease.trim().startsWith(`${fresh.metadata.name}_`); // identity: <hostname>_<random>
  }, 60_000, 500);
  await new Promise((r) => setTimeout(r, 5000));
  const same = (await blockEvents()).filter((b) => b.spec.ip.replace(/\/32$/, '') === node.lab.ip);
  assert.equal(same.length, 1, 'one BlockEvent for the attacker');
  assert.equal(same[0]!.metadata.uid, before.metadata.uid, 'the same object');
  assert.equal(same[0]!.status?.phase, 'Active');
  assert.match(await hostBans(), new RegExp(node.lab.ip.replace(/\./g, '\\.')), 'still banned in nft');
  const bans = await agentBans();
  assert.equal(bans.blocks.filter((b) => b.cidr === `${node.lab.ip}/32`).length, 1);
});

step('helm upgrade keeps the tokens and the bans (the agent pod is replaced and restores them), and turns auto-defense on', async () => {
  const tokens = { agent: await secretValue(`${AGENT}-token`), dashboard: await secretValue('floodgate-dashboard-token') };
  const agentCert = await secretValue('floodgate-agent-tls', 'tls.crt');
  const oldAgent = await podOf('agent');
  const beforeBe = await activeBlockEventFor(node.lab.ip);
  assert.ok(beforeBe);
  const r = await helm(node, ['upgrade', RELEASE, 'charts/floodgate', '-n', NS, '--wait', '--timeout', '5m', ...chartValues({ sample: true }, ['--set', 'agent.daemonset.autoDefense=true'])]);
  assert.equal(r.exitCode, 0, `helm upgrade: ${r.stderr}`);
  assert.equal(await secretValue(`${AGENT}-token`), tokens.agent, 'the agent token is kept');
  assert.equal(await secretValue('floodgate-dashboard-token'), tokens.dashboard, 'the dashboard token is kept');
  assert.equal(await secretValue('floodgate-agent-tls', 'tls.crt'), agentCert, 'the agents\' certificate (and its CA) is kept');
  const newAgent = await newPodReady(node, 'agent', oldAgent.metadata.name, 120_000);
  assert.ok(newAgent, 'the config change rolled the DaemonSet');
  const bans = await agentBans();
  assert.ok(bans.blocks.some((b) => b.cidr === `${node.lab.ip}/32`), `the new agent restored the ban from its store on the node: ${JSON.stringify(bans)}`);
  assert.match(await hostBans(), new RegExp(node.lab.ip.replace(/\./g, '\\.')));
  const afterBe = await activeBlockEventFor(node.lab.ip);
  assert.equal(afterBe?.metadata.uid, beforeBe.metadata.uid);

  // Auto-defense: a flood from a second source is banned by the agent on its own, and recorded as a BlockEvent.
  await execa('ip', ['netns', 'exec', node.lab.ns, 'ip', 'addr', 'replace', `${SECOND_ATTACKER}/24`, 'dev', 'eth0']);
  const t = Date.now();
  startFlood(['-a', SECOND_ATTACKER]);
  await eventually(`${SECOND_ATTACKER} in the host nft set`, async () => (await hostBans()).includes(SECOND_ATTACKER), 60_000, 100);
  const bannedAt = Date.now();
  const be = await eventually(`an Active BlockEvent for ${SECOND_ATTACKER}`, () => activeBlockEventFor(SECOND_ATTACKER), 60_000, 250);
  figures.push(`flood (auto-defense on) -> agent ban: ${secs(bannedAt - t)}; -> BlockEvent Active: ${secs(Date.now() - t)}`);
  await stopFloods();
  assert.match(be.spec.reason ?? '', /auto-defense/);
  // Reported in the node's FloodgateNode, recorded bound to the node that banned it, and counted there.
  assert.equal(be.spec.agent, `node/${node.name}`);
  await eventually(`the BlockEvent of ${SECOND_ATTACKER} held on 1/1 nodes`, async () => (await activeBlockEventFor(SECOND_ATTACKER))?.status?.nodes?.summary === '1/1', 60_000, 500);
});

step('kubectl delete be lifts that ban on the agent; helm uninstall leaves the agent table (bans that expire, none without its BlockEvent), its ban store and the CRDs', async () => {
  // A user lifting one ban before uninstalling: the agent sees its BlockEvent go through its watch and lifts it.
  const second = await activeBlockEventFor(SECOND_ATTACKER);
  assert.ok(second);
  // Once the attack is over for the agent too (it may still be judging captured packets): with
  // auto-defense on, a source still sending when its ban is lifted is banned again, escalated.
  // And over for the policy's analysis window (7 s): the controller's memory-triggered defense
  // run would otherwise still see the flood and ban it again (seen: "blocked ... for 600s").
  await eventually(`no packets from ${SECOND_ATTACKER} in the agent's last 8 s`, async () => {
    const talkers = await (await agentClient()).talkers(8, 20);
    return !JSON.stringify(talkers).includes(SECOND_ATTACKER);
  }, 60_000, 500);
  await kubectlOk(node, ['delete', 'blockevent.floodgate.dev', second.metadata.name, '-n', NS, '--timeout=60s']);
  await eventually(`${SECOND_ATTACKER} out of the host nft set`, async () => !(await hostBans()).includes(SECOND_ATTACKER), 30_000, 250);
  assert.match(await hostBans(), new RegExp(node.lab.ip.replace(/\./g, '\\.')), 'the other ban stays');

  const r = await helm(node, ['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '3m']);
  assert.equal(r.exitCode, 0, `helm uninstall: ${r.stderr}`);
  await eventually('no floodgate pods', async () => (await componentPods(node, 'controller')).length + (await componentPods(node, 'agent')).length === 0, 120_000, 1000);
  // The host's nft tables: as before the install, plus the agent's own table.
  const tables = await nftTables();
  const added = nftTablesBefore.includes('table inet floodgate') ? [] : ['table inet floodgate'];
  assert.deepEqual(tables.filter((x) => !nftTablesBefore.includes(x)), added, 'only the agent table was added');
  assert.deepEqual(nftTablesBefore.filter((x) => !tables.includes(x)), [], 'nothing was removed');
  // The CRDs stay (crds.keep). The uninstall deletes the sample policy, the garbage collector then its
  // BlockEvents, while the controller and the agent go too: the agent lifts the bans of the BlockEvents
  // it sees deleted before it stops; the others stay in nft until their timeout. A BlockEvent the
  // controller did not finalize in time waits on its finalizer. Never a ban without its record.
  const crds = await kubectl(node, ['get', 'crd', 'blockevents.floodgate.dev']);
  assert.equal(crds.exitCode, 0, 'crds.keep keeps the CRDs');
  const left = await eventually('the BlockEvents deleted or marked for deletion', async () => {
    const all = await blockEvents();
    return all.every((b) => b.metadata.deletionTimestamp) ? all : undefined;
  }, 60_000, 1000);
  for (const b of left) assert.deepEqual(b.metadata.finalizers, ['floodgate.dev/unblock'], `${b.metadata.name} waits on the unblock finalizer`);
  const set = await hostBans();
  const elements = /elements = \{([^}]*)\}/s.exec(set)?.[1] ?? '';
  const entries = elements.split(',').map((e) => e.trim()).filter(Boolean);
  const recorded = left.map((b) => b.spec.ip.replace(/\/32$/, ''));
  for (const e of entries) assert.ok(recorded.includes(e.split(' ')[0] ?? ''), `the ban left in nft ${e} has its BlockEvent (left: ${recorded.join(', ')})`);
  assert.ok(!set.includes(SECOND_ATTACKER), 'the lifted ban stays lifted');
  for (const e of entries) assert.match(e, /timeout \S+ expires \S+/, `every ban left expires on its own: ${e}`);
  // The ban store on the node (stateHostPath) stays, for a reinstall.
  assert.ok(fs.existsSync(path.join(node.stateDir, 'agent-state', 'bans.json')), 'the ban store stays on the node');
  figures.push(`after uninstall: ${left.length} BlockEvent(s) left, terminating on floodgate.dev/unblock; ${entries.length} ban(s) left in nft, expiring`);
});
