// The small parts of the watch (unit tier): label selectors as the API server
// reads them, who a policy picks, the downward API labels file, the node
// identity exchange's sealing, node ServiceAccount names, the node report
// index with the node Leases, and the agent's kube: config section.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { labelsMatch } from '../../lib/label-match.js';
import { namesSelf, policySelects, type AgentSelf } from '../../agent/kube/agent-self.js';
import { parseLabelsFile } from '../../agent/kube/start-kube.js';
import { loadAgentConfig, ConfigError } from '../../agent/config/agent-config.js';
import { nodeServiceAccountName, requestKeys, seal } from '../../api/node-identity/v1.js';
import { NodeReports } from '../../controller/nodes/node-reports.js';
import { DEFENSE_POLICY, NODE_LEASE_ANNOTATIONS, nodeLeasePatch, parseNodeLease, resolved, type FloodgateNode, type NodeLease } from '../../api/v1alpha1/index.js';

describe('label selectors (metav1.LabelSelector)', () => {
  const labels = { app: 'agent', tier: 'edge' };
  it('matchLabels and matchExpressions, ANDed', () => {
    assert.equal(labelsMatch({ matchLabels: { app: 'agent' } }, labels), true);
    assert.equal(labelsMatch({ matchLabels: { app: 'agent', tier: 'core' } }, labels), false);
    assert.equal(labelsMatch({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['edge', 'core'] }] }, labels), true);
    assert.equal(labelsMatch({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['edge'] }] }, labels), false);
    assert.equal(labelsMatch({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels), true, 'NotIn matches a missing key');
    assert.equal(labelsMatch({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels), false);
    assert.equal(labelsMatch({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels), true);
    assert.equal(labelsMatch({ matchLabels: { app: 'agent' }, matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels), false);
  });
  it('an empty selector picks everything; no selector picks nothing', () => {
    assert.equal(labelsMatch({}, labels), true);
    assert.equal(labelsMatch(undefined, labels), false);
  });
});

describe('who a policy picks', () => {
  const self: AgentSelf = { node: 'n1', pod: { namespace: 'floodgate', name: 'agent-1' }, labels: { app: 'agent' }, namespace: 'floodgate' };
  const p = (spec: Record<string, unknown>, ns = 'shop') => resolved(DEFENSE_POLICY, { apiVersion: 'floodgate.dev/v1alpha1', kind: 'DefensePolicy', metadata: { name: 'p', namespace: ns }, spec } as never);
  it('agentSelector pods of the token Secret\'s namespace (the policy\'s own without one), as the controller resolves them', () => {
    assert.equal(policySelects(p({ agentSelector: { matchLabels: { app: 'agent' } }, agentTokenSecretRef: { name: 't', key: 'k', namespace: 'floodgate' } }), self), true);
    assert.equal(policySelects(p({ agentSelector: { matchLabels: { app: 'agent' } } }), self), false, 'pods of shop, not floodgate');
    assert.equal(policySelects(p({ agentSelector: { matchLabels: { app: 'agent' } } }, 'floodgate'), self), true);
  });
  it('a host agent by the URL the policy lists', () => {
    const host: AgentSelf = { node: 'mac', labels: {}, url: 'http://host.docker.internal:12345' };
    assert.equal(policySelects(p({ agents: [{ url: 'http://host.docker.internal:12345/' }] }), host), true);
    assert.equal(policySelects(p({ agents: [{ url: 'http://other:12345' }] }), host), false);
  });
  it('spec.agent binds to node/<name>, the pod name or the URL', () => {
    assert.equal(namesSelf('node/n1', self), true);
    assert.equal(namesSelf('agent-1', self), true);
    assert.equal(namesSelf('node/n2', self), false);
  });
  it('reads the downward API labels file', () => {
    assert.deepEqual(parseLabelsFile('app="agent"\ncontroller-revision-hash="5d8f"\npod-template-generation="1"\n'), { app: 'agent', 'controller-revision-hash': '5d8f', 'pod-template-generation': '1' });
  });
});

describe('the node identity exchange', () => {
  it('a token sealed to a request key opens with that request only', () => {
    const keys = requestKeys();
    const sealed = seal(keys.publicKey, 'the-node-token');
    assert.equal(keys.open(sealed), 'the-node-token');
    assert.doesNotMatch(JSON.stringify(sealed), /the-node-token/);
    assert.throws(() => requestKeys().open(sealed));
    assert.throws(() => keys.open({ ...sealed, ciphertext: Buffer.from('tampered!!').toString('base64') }));
  });
  it('refuses a key that is not X25519', () => {
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => seal(publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), 'x'), /not x25519/);
  });
  it('names node ServiceAccounts floodgate-node-<node>, hashed when too long', () => {
    assert.equal(nodeServiceAccountName('worker-1'), 'floodgate-node-worker-1');
    const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}`;
    const name = nodeServiceAccountName(long);
    assert.ok(name.length <= 253);
    assert.match(name, /^floodgate-node-[a-z0-9.-]+-[0-9a-f]{16}$/);
    assert.notEqual(nodeServiceAccountName(`${long}x`.slice(1)), name);
  });
});

describe('the node report index', () => {
  const node = (name: string, status: Record<string, unknown>): FloodgateNode =>
    ({ apiVersion: 'floodgate.dev/v1alpha1', kind: 'FloodgateNode', metadata: { name }, spec: {}, status }) as FloodgateNode;
  it('indexes nodes by policy, follows changes, and tells watchers of pods and URLs', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const r = new NodeReports(() => now);
    r.upsert(node('n1', { policies: ['shop/web'], agent: { version: '1', backend: 'nft', mode: 'in-cluster', pod: 'floodgate/agent-1' }, heartbeatTime: '2026-01-01T00:00:00Z', heartbeatSeconds: 10 }));
    r.upsert(node('mac', { policies: ['shop/web', 'shop/api'], agent: { version: '1', backend: 'pf', mode: 'kubeconfig', url: 'http://host.docker.internal:12345' }, heartbeatTime: '2025-12-31T23:58:00Z', heartbeatSeconds: 10 }));
    assert.deepEqual(r.nodesOf('shop/web').sort(), ['mac', 'n1']);
    assert.equal(r.watcherOf({ url: 'http://10.0.0.5:12345', node: 'n1' })?.name, 'n1');
    assert.equal(r.watcherOf({ url: 'http://10.0.0.6:12345', node: 'n9' }), undefined, 'a pod on a node that does not report is pushed to');
    assert.equal(r.watcherOf({ url: 'http://host.docker.internal:12345/' })?.name, 'mac');
    assert.equal(r.boundNode('node/mac')?.name, 'mac');
    assert.equal(r.silent(r.get('mac')!), true, '2 minutes without a heartbeat of 10 s');
    r.upsert(node('n1', { policies: [], heartbeatTime: '2026-01-01T00:00:00Z' }));
    assert.deepEqual(r.nodesOf('shop/web'), ['mac']);
    r.remove('mac');
    assert.deepEqual(r.nodesOf('shop/api'), []);
  });

  it("says which of a policy's nodes are silent as time passes, and hands each change of silence to the controller once", () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const r = new NodeReports(() => now);
    const beat = (name: string, at: string, policies = ['shop/web']) => r.upsert(node(name, { policies, heartbeatTime: at, heartbeatSeconds: 10 }));
    beat('a', '2026-01-01T00:00:00Z');
    beat('b', '2026-01-01T00:00:20Z');
    beat('c', '2026-01-01T00:00:00Z', ['shop/api']);
    r.upsert(node('never', { policies: ['shop/web'] }));
    assert.deepEqual(r.policyNodes('shop/web'), { count: 3, silent: ['never'] }, 'a node that never beat is silent from the start');
    assert.deepEqual(r.takeSilenceChanges(), [], 'nothing changed with time yet');
    // 31 s: a and c have missed 3 heartbeats of 10 s; b has not.
    now = Date.parse('2026-01-01T00:00:31Z');
    assert.deepEqual(r.policyNodes('shop/web').silent.sort(), ['a', 'never']);
    assert.deepEqual(r.policyNodes('shop/api').silent, ['c']);
    assert.deepEqual(r.takeSilenceChanges().map((e) => e.name).sort(), ['a', 'c'], 'each change once');
    assert.deepEqual(r.takeSilenceChanges(), []);
    // a beats again: not silent, and that change is the report's (the caller sees it in upsert's before/after).
    beat('a', '2026-01-01T00:00:31Z');
    assert.deepEqual(r.policyNodes('shop/web').silent, ['never']);
    assert.deepEqual(r.takeSilenceChanges(), []);
    now = Date.parse('2026-01-01T00:00:52Z');
    assert.deepEqual(r.policyNodes('shop/web').silent.sort(), ['b', 'never']);
    r.remove('b');
    assert.deepEqual(r.takeSilenceChanges(), [], 'a removed node is not handed back');
    assert.deepEqual(r.policyNodes('shop/web'), { count: 2, silent: ['never'] });
    assert.deepEqual(r.policyNodes('shop/none'), { count: 0, silent: [] });
  });

  it("merges each node's Lease, matched by the Lease's name as the report's spec names it, never by what the node wrote in it", () => {
    let now = Date.parse('2026-01-01T00:10:00Z');
    const r = new NodeReports(() => now);
    const withLease = (name: string, status: Record<string, unknown>): FloodgateNode =>
      ({ ...node(name, status), spec: { lease: { namespace: 'floodgate', name: `floodgate-node-${name}` } } }) as FloodgateNode;
    // Reports written 10 minutes ago, every 5 minutes (heartbeatSeconds 300): silent on their own after 15 minutes.
    r.upsert(withLease('n1', { policies: ['shop/web'], heartbeatTime: '2026-01-01T00:00:00Z', heartbeatSeconds: 300, blockEvents: { applied: 1, failed: 1, revision: 100 } }));
    r.upsert(withLease('n2', { policies: ['shop/web'], heartbeatTime: '2026-01-01T00:00:00Z', heartbeatSeconds: 300, blockEvents: { applied: 1, failed: 0, revision: 100 } }));
    const lease = (name: string, renewTime: string, revision: number, applied: number, holder = name) =>
      parseNodeLease({
        metadata: { name: `floodgate-node-${name}`, namespace: 'floodgate', annotations: { [NODE_LEASE_ANNOTATIONS.blockEventsRevision]: String(revision), [NODE_LEASE_ANNOTATIONS.blockEventsApplied]: String(applied) } },
        spec: { holderIdentity: holder, renewTime, leaseDurationSeconds: 180 },
      });
    const l1 = lease('n1', '2026-01-01T00:09:30.000000Z', 140, 5);
    assert.ok(l1.ok);
    // A lease nobody's report names (another node's name in holderIdentity changes nothing).
    const stray = parseNodeLease({ metadata: { name: 'floodgate-node-n3', namespace: 'floodgate', annotations: { [NODE_LEASE_ANNOTATIONS.blockEventsRevision]: '999' } }, spec: { holderIdentity: 'n2', renewTime: '2026-01-01T00:09:59.000000Z' } });
    assert.ok(stray.ok);
    const { moved, unknown } = r.setLeases([l1.lease, stray.lease]);
    assert.deepEqual(unknown, ['floodgate/floodgate-node-n3']);
    assert.deepEqual(moved.map((m) => m.after.name), ['n1']);
    const n1 = r.get('n1')!;
    assert.equal(n1.revisions.BlockEvent, 140, 'the higher revision, from the Lease');
    assert.equal(n1.heartbeatAt, Date.parse('2026-01-01T00:09:30Z'));
    assert.equal(n1.heartbeatMs, 60_000, 'the Lease counts for 3 heartbeats of 60 s');
    assert.equal(n1.status.blockEvents?.applied, 5, 'the newer count');
    assert.equal(n1.status.blockEvents?.failed, 1, 'refusals stay the report\'s');
    assert.equal(r.get('n2')?.revisions.BlockEvent, 100, 'n2 has no Lease: its report');
    assert.equal(r.count(['n1', 'n2'], 'BlockEvent', 120, 'BlockEvent/shop/x').applied, 1, 'n1 holds revision 120 (its Lease), n2 not yet');

    // A renewal that moves nothing but the time: no recount.
    assert.deepEqual(r.setLeases([(lease('n1', '2026-01-01T00:09:50.000000Z', 140, 5) as { lease: NodeLease }).lease]).moved, []);
    assert.equal(r.get('n1')?.heartbeatAt, Date.parse('2026-01-01T00:09:50Z'));
    // The Lease stops being renewed: silent after its 180 s, as the report alone would be after 15 minutes.
    now = Date.parse('2026-01-01T00:13:00Z');
    assert.equal(r.silent(r.get('n1')!), true);
    // A report written later than the Lease is the newer count; the revision stays the higher one.
    r.upsert(withLease('n1', { policies: ['shop/web'], heartbeatTime: '2026-01-01T00:12:59Z', heartbeatSeconds: 300, blockEvents: { applied: 4, failed: 0, revision: 130 } }));
    assert.equal(r.get('n1')?.status.blockEvents?.applied, 4);
    assert.equal(r.get('n1')?.revisions.BlockEvent, 140);
    // The Lease gone from the list: the report alone again.
    assert.equal(r.setLeases([]).moved.length, 1);
    assert.equal(r.get('n1')?.revisions.BlockEvent, 130);
    assert.equal(r.get('n1')?.heartbeatMs, 300_000);
  });

  it('reads a node Lease by its contract, and refuses one that breaks it with one line', () => {
    const bad = parseNodeLease({ metadata: { name: 'floodgate-node-n1', namespace: 'floodgate', annotations: { [NODE_LEASE_ANNOTATIONS.blockEventsRevision]: '12; rm -rf' } }, spec: {} });
    assert.equal(bad.ok, false);
    assert.match((bad as { error: string }).error, /^metadata\.annotations\.floodgate\.dev\/blockevents-revision: a decimal integer$/);
    assert.equal(parseNodeLease({ metadata: { name: 'x', namespace: 'floodgate' }, spec: { leaseDurationSeconds: -1 } }).ok, false);
    const never = parseNodeLease({ metadata: { name: 'x', namespace: 'floodgate' }, spec: { holderIdentity: 'x' } });
    assert.ok(never.ok && never.lease.renewAt === undefined, 'made by the controller, never renewed');
    const patch = nodeLeasePatch({ node: 'n1', now: Date.parse('2026-01-01T00:00:00.123Z'), durationSeconds: 180, blockEvents: { applied: 2, revision: 7 } });
    const read = parseNodeLease({ metadata: { name: 'x', namespace: 'floodgate', ...patch.metadata }, spec: patch.spec });
    assert.ok(read.ok);
    assert.equal(read.lease.renewAt, Date.parse('2026-01-01T00:00:00.123Z'));
    assert.deepEqual(read.lease.revisions, { BlockEvent: 7, SignatureRule: undefined });
    assert.equal(read.lease.durationMs, 180_000);
  });
});

describe('the agent\'s kube: config section', () => {
  it('has defaults and refuses bad values with one line', () => {
    const cfg = loadAgentConfig(undefined, { kube: { nodeName: 'worker-1' } } as never);
    assert.equal(cfg.kube?.heartbeatSeconds, 60);
    assert.deepEqual(cfg.kube?.labels, {});
    assert.throws(() => loadAgentConfig(undefined, { kube: { nodeName: 'Bad_Name' } } as never), (e: unknown) => e instanceof ConfigError && /kube\.nodeName/.test(e.message) && !e.message.includes('\n'));
    assert.throws(() => loadAgentConfig(undefined, { kube: { identity: { url: 'not a url' } } } as never), ConfigError);
    assert.throws(() => loadAgentConfig(undefined, { kube: { heartbeats: 3 } } as never), /heartbeats/);
  });
});
