// Issue 13, item 1: creating a DefensePolicy must not amount to reading any
// Secret. Against a real API server, the real controller (the CLI, with the
// chart's flags) and the real agent. Before, a policy naming any Secret and a
// URL of the author's own made the controller send the Secret's value there as
// "Authorization: Bearer ...".
//   - a Secret without the label floodgate.dev/agent-token: "true" is refused
//     (AgentsReachable=False SecretRefused, an Event); nothing is sent, even to
//     an allowed URL, and its value appears nowhere;
//   - a labelled Secret from a namespace the controller does not allow is refused;
//   - a URL outside --agent-url-allowlist is never called (AgentUrlNotAllowed),
//     and its Secret is never read;
//   - the chart's own token Secret carries the label;
//   - a labelled token in the release namespace only ever goes to agent pods
//     of that namespace, not to pods of the policy's (resolver, fake API).
//
//   FLOODGATE_CP_SECURITY_STATE_DIR (default /tmp/floodgate-cp-security): its API server's state dir.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { AgentResolver } from '../../controller/agents/agent-resolver.js';
import { DEFENSE_POLICY, resolved, type DefensePolicy, type InputOf } from '../../api/v1alpha1/index.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { renderObjects } from '../../deploy/helm.js';
import { recordingServer } from '../support/http-recorder.js';
import { isRoot } from '../support/netns.js';
import { eventually, kubectlOrThrow, startAgent, startApiServerWithCrds, stopApiServer, type RunningAgent } from '../controller/e2e-env.js';

const STATE_DIR = process.env.FLOODGATE_CP_SECURITY_STATE_DIR || '/tmp/floodgate-cp-security';
const BIN = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
const TEAM = `fgsec-team-${process.pid}`;
const RELEASE = `fgsec-release-${process.pid}`;
const VAULT = `fgsec-vault-${process.pid}`;
const DB_PASSWORD = 's3cr3t-db-password-do-not-leak';
const VAULT_TOKEN = 'vault-labelled-token-do-not-leak';

/** A server recording every request and its Authorization header, answering like a ready agent. */
const canary = () => recordingServer((_req, res) => res.setHeader('content-type', 'application/json').end('{"status":"ready"}'), '127.0.0.1');

describe('a DefensePolicy cannot read Secrets (issue 13.1)', { skip: isRoot() ? false : 'needs root to capture on lo', timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let agent: RunningAgent;
  let allowed: Awaited<ReturnType<typeof canary>>;
  let notAllowed: Awaited<ReturnType<typeof canary>>;
  let controller: ResultPromise;
  let log = '';

  const k = kubectlOrThrow(() => cp.kubeconfig);
  const policy = async (name: string) => JSON.parse(await k(['-n', TEAM, 'get', 'dp', name, '-o', 'json'])) as DefensePolicy;
  const reachable = (p: DefensePolicy) => p.status?.conditions?.find((c) => c.type === 'AgentsReachable');
  const applyPolicy = (name: string, url: string, ref: string) =>
    k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: ${name}, namespace: ${TEAM}}
spec:
  agents: [{url: '${url}', tokenSecretRef: ${ref}}]
`);

  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
    agent = await startAgent('lo', 25000 + (process.pid % 20000));
    allowed = await canary();
    notAllowed = await canary();
    for (const ns of [TEAM, RELEASE, VAULT]) await k(['create', 'namespace', ns]);
    await k(['-n', TEAM, 'create', 'secret', 'generic', 'db-password', `--from-literal=password=${DB_PASSWORD}`]);
    await k(['-n', TEAM, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${agent.token}`]);
    await k(['-n', TEAM, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    await k(['-n', VAULT, 'create', 'secret', 'generic', 'labelled', `--from-literal=token=${VAULT_TOKEN}`]);
    await k(['-n', VAULT, 'label', 'secret', 'labelled', 'floodgate.dev/agent-token=true']);
    const probePort = 26000 + (process.pid % 20000);
    // The controller as the chart runs it: the release namespace, the allowlist (here: the real agent and one more URL).
    controller = execa(process.execPath, [
      BIN, 'controller', '--kubeconfig', cp.kubeconfig, '--lease-namespace', RELEASE, '--probe-port', String(probePort), '--dashboard-port', '0',
      '--memory-sources', 'cgroup', '--log-level', 'debug',
      `--agent-url-allowlist=${agent.url},${allowed.url}`, `--agent-secret-namespaces=@policy,${RELEASE}`,
    ], { reject: false, all: true, env: { KUBECONFIG: '' } });
    controller.all!.on('data', (d: Buffer) => (log += String(d)));
    await eventually('the controller leads', async () => {
      const r = await fetch(`http://127.0.0.1:${probePort}/leader`).then((x) => x.json() as Promise<{ self: boolean }>).catch(() => undefined);
      return r?.self === true;
    }, 60_000);
  });

  after(async () => {
    controller?.kill('SIGTERM');
    await controller;
    await allowed?.close();
    await notAllowed?.close();
    await agent?.stop().catch(() => undefined);
    if (cp) await stopApiServer(STATE_DIR);
  });

  it('an unlabelled Secret is refused, even for an allowed URL: nothing is sent, and the refusal shows in conditions and Events', async () => {
    await applyPolicy('steal', allowed.url, '{name: db-password, key: password}');
    const p = await eventually('AgentsReachable=False SecretRefused', async () => {
      const p = await policy('steal');
      return reachable(p)?.reason === 'SecretRefused' ? p : undefined;
    }, 60_000);
    assert.equal(reachable(p)?.status, 'False');
    assert.match(reachable(p)!.message, new RegExp(`secret ${TEAM}/db-password refused: it is not labelled floodgate.dev/agent-token`));
    const events = await k(['-n', TEAM, 'get', 'events', '--field-selector', 'involvedObject.name=steal,reason=SecretRefused', '-o', 'jsonpath={.items[*].message}']);
    assert.match(events, /db-password refused/);
    assert.deepEqual(allowed.requests, [], 'the URL was not called at all');
  });

  it('a labelled Secret in a namespace the controller does not allow is refused', async () => {
    await applyPolicy('cross', allowed.url, `{name: labelled, key: token, namespace: ${VAULT}}`);
    const p = await eventually('SecretRefused', async () => {
      const p = await policy('cross');
      return reachable(p)?.reason === 'SecretRefused' ? p : undefined;
    }, 60_000);
    assert.match(reachable(p)!.message, new RegExp(`secret ${VAULT}/labelled refused: agent tokens are read only from the policy's own namespace, ${RELEASE}`));
    assert.deepEqual(allowed.requests, []);
  });

  it('a URL outside the allowlist is never called, not even with a proper token', async () => {
    await applyPolicy('elsewhere', notAllowed.url, '{name: agent-token, key: token}');
    const p = await eventually('AgentUrlNotAllowed', async () => {
      const p = await policy('elsewhere');
      return reachable(p)?.reason === 'AgentUrlNotAllowed' ? p : undefined;
    }, 60_000);
    assert.match(reachable(p)!.message, /is not an allowed agent URL/);
    const events = await k(['-n', TEAM, 'get', 'events', '--field-selector', 'involvedObject.name=elsewhere,reason=AgentUrlNotAllowed', '-o', 'name']);
    assert.notEqual(events.trim(), '');
    assert.deepEqual(notAllowed.requests, []);
  });

  it('a labelled Secret of the policy\'s namespace with an allowed agent works', async () => {
    await applyPolicy('fine', agent.url, '{name: agent-token, key: token}');
    await eventually('AgentsReachable=True', async () => reachable(await policy('fine'))?.status === 'True', 60_000);
  });

  it('no refused value appears in the policies, the Events or the controller log', async () => {
    const everything = [await k(['-n', TEAM, 'get', 'dp', '-o', 'yaml']), await k(['-n', TEAM, 'get', 'events', '-o', 'yaml']), log].join('\n');
    assert.doesNotMatch(everything, new RegExp(DB_PASSWORD));
    assert.doesNotMatch(everything, new RegExp(VAULT_TOKEN));
    assert.equal(controller.exitCode, null, 'the controller is still running');
  });
});

describe('where a token may go (resolver rules, fake API)', () => {
  const secret = (labels: Record<string, string> | undefined, token: string) => ({ metadata: { labels }, data: { token: Buffer.from(token).toString('base64') } });
  const policyWith = (spec: InputOf<typeof DEFENSE_POLICY>['spec'], namespace = 'team'): DefensePolicy =>
    resolved(DEFENSE_POLICY, { apiVersion: 'floodgate.dev/v1alpha1', kind: 'DefensePolicy', metadata: { name: 'p', namespace }, spec });

  it('agentSelector picks pods of the token Secret\'s namespace only, so the release namespace\'s token never reaches a pod of the policy\'s', async () => {
    const listed: string[] = [];
    const core = {
      readNamespacedSecret: async ({ namespace, name }: { namespace: string; name: string }) => {
        if (namespace === 'floodgate-system' && name === 'floodgate-agent-token') return secret({ 'floodgate.dev/agent-token': 'true' }, 'release-token-0123456789');
        throw Object.assign(new Error('not found'), { code: 404 });
      },
      listNamespacedPod: async ({ namespace }: { namespace: string }) => {
        listed.push(namespace);
        const pods = { team: [{ metadata: { name: 'evil' }, status: { podIP: '10.9.9.9' } }], 'floodgate-system': [{ metadata: { name: 'agent-abc' }, status: { podIP: '10.1.1.1' } }] };
        return { items: pods[namespace as keyof typeof pods] ?? [] };
      },
    };
    const resolver = new AgentResolver(core as never, { urlAllowlist: [], secretNamespaces: ['@policy', 'floodgate-system'] });
    const r = await resolver.resolve(policyWith({ agentSelector: { matchLabels: { app: 'floodgate-agent' } }, agentTokenSecretRef: { name: 'floodgate-agent-token', key: 'token', namespace: 'floodgate-system' } }));
    assert.deepEqual(listed, ['floodgate-system']);
    assert.deepEqual(r.agents, [{ name: 'agent-abc', url: 'http://10.1.1.1:12345', token: 'release-token-0123456789', pod: { namespace: 'floodgate-system', name: 'agent-abc' } }]);
  });

  it('a refused Secret leaves its agents out entirely (no tokenless calls)', async () => {
    const core = {
      readNamespacedSecret: async () => secret({ 'floodgate.dev/agent-token': 'yes' }, 'almost-labelled-token'),
      listNamespacedPod: async () => ({ items: [{ metadata: { name: 'agent' }, status: { podIP: '10.1.1.1' } }] }),
    };
    const resolver = new AgentResolver(core as never, { urlAllowlist: ['http://10.0.0.0/8:*'], secretNamespaces: ['@policy'] });
    const r = await resolver.resolve(policyWith({ agents: [{ url: 'http://10.2.2.2:12345', tokenSecretRef: { name: 's', key: 'token' } }] }));
    assert.deepEqual(r.agents, []);
    assert.equal(r.refusals?.[0]?.reason, 'SecretRefused', 'the label value must be exactly "true"');
    const s = await resolver.resolve(policyWith({ agentSelector: { matchLabels: { app: 'a' } }, agentTokenSecretRef: { name: 's', key: 'token' } }));
    assert.deepEqual(s.agents, []);
  });

  it('the chart\'s own agent token Secret carries the label, and the controller gets the chart\'s allowlist and namespaces', async () => {
    const objects = await renderObjects({ set: [] });
    const token = objects.find((o) => o.kind === 'Secret' && /agent-token/.test(String(o.metadata?.name)));
    assert.equal(token?.metadata?.labels?.['floodgate.dev/agent-token'], 'true');
    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    const args = deployment.spec.template.spec.containers[0]!.args;
    assert.ok(args.includes('--agent-url-allowlist=https://host.docker.internal:12345'), args.join(' '));
    assert.ok(args.some((a) => /^--agent-secret-namespaces=@policy,\S+$/.test(a)), args.join(' '));
  });
});

