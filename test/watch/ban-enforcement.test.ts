// BlockEvents → an agent's bans (agent/kube/ban-enforcement.ts), on the real
// ban manager with the dry-run firewall and a clock the test moves: which
// objects pick this agent, windows and releases, lifting, refusals, bans
// removed on the agent, bans left over from before a restart, and when the
// report must be written. Unit tier: no API server.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { ManagerBanService } from '../../agent/bans/ban-service.js';
import type { BanService } from '../../agent/bans/ban-service-port.js';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { BanEnforcement } from '../../agent/kube/ban-enforcement.js';
import type { AgentSelf } from '../../agent/kube/agent-self.js';
import { DEFENSE_POLICY, resolved, type BlockEvent, type DefensePolicy } from '../../api/v1alpha1/index.js';
import { fakeClock, makeManager, tempStateDir } from '../bans/setup.js';

const SELF: AgentSelf = { node: 'node-a', pod: { namespace: 'floodgate', name: 'agent-xyz' }, labels: { app: 'agent', zone: 'a' }, namespace: 'floodgate' };
const T0 = Date.parse('2026-01-01T00:00:00Z');

function policy(name: string, namespace: string, spec: Record<string, unknown>): DefensePolicy {
  return resolved(DEFENSE_POLICY, { apiVersion: 'floodgate.dev/v1alpha1', kind: 'DefensePolicy', metadata: { name, namespace }, spec } as never);
}

function be(name: string, ip: string, o: { policy?: string; agent?: string; duration?: number; created?: number; annotations?: Record<string, string>; deleting?: boolean; namespace?: string } = {}): BlockEvent {
  return {
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'BlockEvent',
    metadata: {
      name,
      namespace: o.namespace ?? 'shop',
      creationTimestamp: new Date(o.created ?? T0).toISOString() as never,
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.deleting ? { deletionTimestamp: new Date(T0).toISOString() as never } : {}),
    },
    spec: { ip, durationSeconds: o.duration ?? 600, ...(o.policy ? { policyRef: { name: o.policy } } : {}), ...(o.agent ? { agent: o.agent } : {}) },
  } as BlockEvent;
}

// Pods of "floodgate" with app=agent; the token Secret's namespace decides where the agents are.
const SELECTS = policy('web', 'shop', { agentSelector: { matchLabels: { app: 'agent' } }, agentTokenSecretRef: { name: 't', key: 'token', namespace: 'floodgate' } });
const OTHER_ZONE = policy('other', 'shop', { agentSelector: { matchLabels: { zone: 'b' } }, agentTokenSecretRef: { name: 't', key: 'token', namespace: 'floodgate' } });
const WRONG_NS = policy('local', 'shop', { agentSelector: { matchLabels: { app: 'agent' } } });

async function setup() {
  const state = await tempStateDir();
  const clock = fakeClock(T0);
  const { manager } = await makeManager(new DryRunBackend(), state.dir, { now: clock.now });
  await manager.start({ timers: false });
  const bans: BanService = new ManagerBanService(manager, 'dry-run');
  let calls = 0;
  const counted = { ...bans, list: () => bans.list(), unblock: (c: string) => bans.unblock(c), blockMany: (r: Parameters<BanService['blockMany']>[0]) => ((calls += r.length), bans.blockMany(r)) };
  const enforcement = new BanEnforcement({ self: SELF, bans: counted, logger: pino({ level: 'silent' }), now: clock.now });
  return { state, clock, bans, enforcement, calls: () => calls };
}

const cidrs = (bans: BanService) => bans.list().map((b) => b.cidr).sort();

describe('BlockEvents to bans on one agent', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => Promise.all(cleanups.map((c) => c())));

  it('holds the bans of the policies that pick this agent, and no others', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    const state = await s.enforcement.reconcile(
      [be('a', '203.0.113.1', { policy: 'web' }), be('b', '203.0.113.2', { policy: 'other' }), be('c', '203.0.113.3', { policy: 'local' }), be('d', '203.0.113.4', { policy: 'missing' })],
      [SELECTS, OTHER_ZONE, WRONG_NS],
      true,
    );
    assert.deepEqual(cidrs(s.bans), ['203.0.113.1/32']);
    assert.equal(state.applied, 1);
    const ban = s.bans.list()[0];
    assert.equal(ban?.source, 'controller');
    assert.equal(ban?.policy, 'web');
    assert.equal(Date.parse(ban?.expiresAt ?? ''), T0 + 600_000, 'until the end of its window');
  });

  it('a BlockEvent bound to an agent (spec.agent) is held by that agent only', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    await s.enforcement.reconcile([be('own', '198.51.100.1', { policy: 'web', agent: 'node/node-a' }), be('theirs', '198.51.100.2', { policy: 'web', agent: 'node/node-b' }), be('pod', '198.51.100.3', { agent: 'agent-xyz' })], [SELECTS], true);
    assert.deepEqual(cidrs(s.bans), ['198.51.100.1/32', '198.51.100.3/32']);
  });

  it('follows the window: ban-start, expiry, an extension, a release', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    // Started 500 s ago for 600 s: 100 s left.
    await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web', annotations: { 'floodgate.dev/ban-start': new Date(T0 - 500_000).toISOString() } })], [SELECTS], true);
    assert.equal(Date.parse(s.bans.list()[0]?.expiresAt ?? ''), T0 + 100_000);
    // Already over: nothing asked.
    await s.enforcement.reconcile([be('old', '203.0.113.9', { policy: 'web', created: T0 - 700_000 })], [SELECTS], true);
    assert.ok(!cidrs(s.bans).includes('203.0.113.9/32'));
    // Longer: extended.
    await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web', duration: 3600, annotations: { 'floodgate.dev/ban-start': new Date(T0 - 500_000).toISOString() } })], [SELECTS], true);
    assert.equal(Date.parse(s.bans.list().find((b) => b.cidr === '203.0.113.1/32')?.expiresAt ?? ''), T0 + 3_100_000);
    // Released (by an agent, the controller marked it): lifted here too.
    await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web', duration: 3600, annotations: { 'floodgate.dev/ban-start': new Date(T0 - 500_000).toISOString(), 'floodgate.dev/released-at': new Date(T0).toISOString() } })], [SELECTS], true);
    assert.deepEqual(cidrs(s.bans), []);
  });

  it('lifts a deleted BlockEvent, unless another still holds the address', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    const other = policy('web2', 'shop', { agentSelector: { matchLabels: { app: 'agent' } }, agentTokenSecretRef: { name: 't', key: 'token', namespace: 'floodgate' } });
    await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web' }), be('b', '203.0.113.1', { policy: 'web2' })], [SELECTS, other], true);
    await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web', deleting: true }), be('b', '203.0.113.1', { policy: 'web2' })], [SELECTS, other], true);
    assert.deepEqual(cidrs(s.bans), ['203.0.113.1/32'], 'b still holds it');
    const state = await s.enforcement.reconcile([be('b', '203.0.113.1', { policy: 'web2' })], [SELECTS, other], true);
    assert.equal(state.applied, 1);
    await s.enforcement.reconcile([], [SELECTS, other], true);
    assert.deepEqual(cidrs(s.bans), []);
  });

  it('a policy that stops picking this agent lifts its bans here', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web' })], [SELECTS], true);
    const moved = policy('web', 'shop', { agentSelector: { matchLabels: { zone: 'b' } }, agentTokenSecretRef: { name: 't', key: 'token', namespace: 'floodgate' } });
    await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web' })], [moved], true);
    assert.deepEqual(cidrs(s.bans), []);
  });

  it('a ban removed here before its end is reported released and not put back for that window', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    const a = be('a', '203.0.113.1', { policy: 'web' });
    await s.enforcement.reconcile([a], [SELECTS], true);
    await s.bans.unblock('203.0.113.1'); // floodgate blocks rm
    s.clock.advance(10);
    let state = await s.enforcement.reconcile([a], [SELECTS], true);
    assert.deepEqual(cidrs(s.bans), [], 'not re-applied');
    assert.deepEqual(state.released.map((r) => [r.namespace, r.name, r.window]), [['shop', 'a', '2026-01-01T00:00:00Z']]);
    state = await s.enforcement.reconcile([a], [SELECTS], true);
    assert.equal(state.released.length, 1, 'reported until the controller acts on it');
    // The controller released it: the report drops it.
    state = await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web', annotations: { 'floodgate.dev/released-at': new Date(T0 + 5000).toISOString() } })], [SELECTS], true);
    assert.equal(state.released.length, 0);
    // A new ban (a later ban-start) is applied again.
    await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web', annotations: { 'floodgate.dev/released-at': new Date(T0 + 5000).toISOString(), 'floodgate.dev/ban-start': new Date(T0 + 8000).toISOString() } })], [SELECTS], true);
    assert.deepEqual(cidrs(s.bans), ['203.0.113.1/32']);
  });

  it('a refusal is reported and not asked again until the object asks for something else', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    // 10.244.0.0/16 is the test address policy's allowlist (a cluster CIDR).
    const a = be('pod', '10.244.1.5', { policy: 'web' });
    let state = await s.enforcement.reconcile([a], [SELECTS], true);
    assert.equal(state.failures.length, 1);
    assert.match(state.failures[0]?.message ?? '', /allowlist|never/i);
    const asked = s.calls();
    state = await s.enforcement.reconcile([a], [SELECTS], true);
    assert.equal(s.calls(), asked, 'not asked again');
    assert.equal(state.failures.length, 1);
    await s.enforcement.reconcile([be('pod', '10.244.1.5', { policy: 'web', duration: 900 })], [SELECTS], true);
    assert.equal(s.calls(), asked + 1, 'asked again for the new spec');
    state = await s.enforcement.reconcile([], [SELECTS], true);
    assert.equal(state.failures.length, 0, 'forgotten with its object');
  });

  it('lifts bans it made for objects that are gone (deleted while it was down), only once it has them all', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    await s.bans.blockMany([{ cidr: '203.0.113.50', durationSeconds: 600, reason: 'from before a restart', policy: 'web', source: 'controller' }]).then((r) => r.applied);
    await s.bans.block({ cidr: '203.0.113.60', durationSeconds: 600, reason: 'its own verdict', policy: 'auto', source: 'auto' });
    const fresh = new BanEnforcement({ self: SELF, bans: s.bans, logger: pino({ level: 'silent' }), now: s.clock.now });
    await fresh.reconcile([], [SELECTS], false);
    assert.deepEqual(cidrs(s.bans), ['203.0.113.50/32', '203.0.113.60/32'], 'not while the list may be incomplete');
    await fresh.reconcile([], [SELECTS], true);
    assert.deepEqual(cidrs(s.bans), ['203.0.113.60/32'], 'its own ban stays; the leftover goes');
  });

  it('says what is new to the controller (a write of the report), and what only went away (no write of its own)', async () => {
    const s = await setup();
    cleanups.push(s.state.cleanup);
    const fresh = (before: readonly string[], after: readonly string[]) => after.filter((e) => !before.includes(e));
    const a = be('a', '203.0.113.1', { policy: 'web' });
    const one = await s.enforcement.reconcile([a], [SELECTS], true);
    assert.equal(one.entries.length, 1);
    const same = await s.enforcement.reconcile([a, be('b', '203.0.113.2', { policy: 'other' })], [SELECTS, OTHER_ZONE], true);
    assert.deepEqual(fresh(one.entries, same.entries), [], "another agent's object is nothing new here");
    const longer = await s.enforcement.reconcile([be('a', '203.0.113.1', { policy: 'web', duration: 1200 })], [SELECTS], true);
    assert.equal(fresh(same.entries, longer.entries).length, 1, 'a longer ban is');
    const gone = await s.enforcement.reconcile([], [SELECTS], true);
    assert.deepEqual(fresh(longer.entries, gone.entries), [], 'a lifted ban only goes away');
    assert.equal(gone.entries.length, 0);
  });
});
