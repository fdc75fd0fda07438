// Every transition of the enforcement lifecycle (TRANSITIONS in
// controller/reconcile/enforcement-lifecycle.ts), driven through the real
// BlockEvent reconciler and agent ban sync against fakes (fakes.ts) with an
// injected clock. The last test fails when a row of TRANSITIONS has no test
// here, so the diagram in docs/lifecycle.md (generated from TRANSITIONS) is
// backed by behaviour.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { UNBLOCK_FINALIZER } from '../../api/v1alpha1/index.js';
import { blockEventName } from '../../controller/reconcile/block-event-names.js';
import { LifecycleAnnotations, TRANSITIONS, UNBLOCK_GIVE_UP_MS, type TransitionId } from '../../controller/reconcile/enforcement-lifecycle.js';
import { rfc3339 } from './fakes.js';
import { Harness, NS, RETENTION_MS } from './harness.js';

const A = 'http://10.0.0.1:12345';
const B = 'http://10.0.0.2:12345';
const covered = new Set<TransitionId>();
const cond = (be: { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } } | undefined) => be?.status?.conditions?.find((c) => c.type === 'Blocked');

describe('BlockEvent lifecycle transitions (fake agents, injected clock)', () => {
  it('created → Pending → Active: the finalizer first, then the push; the window starts at creation and the status holds what the agent answered', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    const be = await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    covered.add('created').add('pushed');
    assert.deepEqual(be.metadata.finalizers, [UNBLOCK_FINALIZER]);
    assert.equal(be.status?.phase, 'Active');
    assert.equal(be.status?.blockedAt, be.metadata.creationTimestamp);
    assert.equal(be.status?.expiresAt, rfc3339(h.clock.now() + 600_000));
    assert.equal(cond(be)?.status, 'True');
    assert.equal(h.agent(A).holds('203.0.113.7'), 600);
    assert.equal(h.agent(A).calls.filter((c) => c.startsWith('block')).length, 1, 'pushed once');
    assert.ok(h.events.reasons().includes('Normal Blocked'));
  });

  it('Pending → Failed when every agent refuses; stays Failed (no more pushes) until the spec changes, then retried → Active', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    h.agent(A).mode = 'refuse';
    let be = await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    covered.add('refused');
    assert.equal(be.status?.phase, 'Failed');
    assert.equal(cond(be)?.reason, 'Refused');
    assert.match(be.status?.message ?? '', /allowlist/);
    assert.ok(h.events.reasons().includes('Warning BlockRefused'));
    const pushes = h.agent(A).calls.length;
    h.clock.advance(30);
    await h.settle();
    assert.equal(h.agent(A).calls.length, pushes, 'a refused spec is not pushed again');

    h.agent(A).mode = 'ok';
    await h.objects.patch({ namespace: NS, name: 'ban-1' }, { spec: { reason: 'allowlist fixed' } });
    await h.settle();
    be = h.be('ban-1')!;
    covered.add('retried');
    assert.equal(be.status?.phase, 'Active');
    assert.equal(h.agent(A).holds('203.0.113.7'), 570, 'the rest of its window, which started at creation');
  });

  it('Pending while agents are unreachable (retried), Active once they answer', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    h.agent(A).mode = 'unreachable';
    let be = await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    covered.add('unreachable');
    assert.equal(be.status?.phase, 'Pending');
    assert.equal(cond(be)?.reason, 'AgentUnreachable');
    assert.match(h.retries.get(`${NS}/ban-1`) ?? '', /unreachable/);
    h.agent(A).mode = 'ok';
    h.clock.advance(10);
    await h.settle();
    be = h.be('ban-1')!;
    assert.equal(be.status?.phase, 'Active');
    assert.equal(h.agent(A).holds('203.0.113.7'), 590);
  });

  it('Pending → Expired when the time runs out before any agent held it', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    h.agent(A).mode = 'unreachable';
    await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 60, policy: 'web' });
    h.clock.advance(61);
    await h.settle();
    const be = h.be('ban-1')!;
    covered.add('expiredUnheld');
    assert.equal(be.status?.phase, 'Expired');
    assert.match(be.status?.message ?? '', /before any agent held it/);
  });

  it('extended: a longer spec.durationSeconds is pushed and the agent\'s new expiry recorded', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    const created = Date.parse(h.be('ban-1')!.metadata.creationTimestamp as unknown as string);
    h.clock.advance(300);
    await h.objects.patch({ namespace: NS, name: 'ban-1' }, { spec: { durationSeconds: 1200 } });
    await h.settle();
    const be = h.be('ban-1')!;
    covered.add('extended');
    assert.equal(be.status?.phase, 'Active');
    assert.equal(be.status?.expiresAt, rfc3339(created + 1200_000));
    assert.equal(h.agent(A).holds('203.0.113.7'), 900, '1200 s from creation, 300 s of which have passed');
  });

  it('Active → Expired at the end of its window, without calling the agent (it expires the ban itself)', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 60, policy: 'web' });
    const calls = h.agent(A).calls.length;
    h.clock.advance(60);
    await h.settle();
    const be = h.be('ban-1')!;
    covered.add('expired');
    assert.equal(be.status?.phase, 'Expired');
    assert.equal(cond(be)?.reason, 'Expired');
    assert.equal(h.agent(A).calls.length, calls, 'no unblock at expiry');
    assert.equal(h.agent(A).holds('203.0.113.7'), undefined, 'the agent expired it too');
    assert.ok(h.events.reasons().includes('Normal Expired'));
  });

  it('uses the expiry the agent reports: Active as long as an agent holds it, and says when an agent holds it less', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    h.agent(A).own('203.0.113.7', 3600); // the agent already bans it for an hour
    let be = await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 60, policy: 'web' });
    assert.equal(be.status?.expiresAt, rfc3339(h.clock.now() + 3600_000));
    assert.match(be.status?.message ?? '', /past the requested/);
    h.clock.advance(120);
    await h.settle();
    assert.equal(h.be('ban-1')!.status?.phase, 'Active', 'still held by the agent');
    h.clock.advance(3500);
    await h.settle();
    assert.equal(h.be('ban-1')!.status?.phase, 'Expired');

    const h2 = new Harness();
    h2.policy('web', [A]);
    h2.agent(A).capSeconds = 30;
    be = await h2.apply({ name: 'ban-2', ip: '203.0.113.8', durationSeconds: 600, policy: 'web' });
    assert.match(be.status?.message ?? '', /holds it only until/);
  });

  it('Active → Released when an operator removes the ban on an agent: lifted on every agent, never pushed again, failures reported', async () => {
    const h = new Harness();
    h.policy('web', [A, B]);
    const name = blockEventName('web', '203.0.113.7');
    await h.apply({ name, ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    await h.poll(); // the sync learns what the agents hold
    assert.equal(h.agent(B).holds('203.0.113.7'), 600);
    h.clock.advance(10);
    h.agent(A).removeByHand('203.0.113.7'); // floodgate blocks rm on agent A
    await h.poll();
    let be = h.be(name)!;
    covered.add('released');
    assert.equal(be.status?.phase, 'Released');
    assert.equal(be.metadata.annotations?.[LifecycleAnnotations.releasedBy], A);
    assert.match(be.status?.message ?? '', /removed on http:\/\/10\.0\.0\.1:12345/);
    assert.equal(h.agent(B).holds('203.0.113.7'), undefined, 'lifted on the other agent too');
    assert.ok(h.events.reasons().includes('Normal Released'));
    h.clock.advance(10);
    await h.poll();
    assert.equal(h.agent(A).holds('203.0.113.7'), undefined, 'not pushed back');
    assert.equal(h.be(name)!.status?.phase, 'Released');

    // With an agent that cannot be reached, the release says so.
    const h2 = new Harness();
    h2.policy('web', [A, B]);
    await h2.apply({ name, ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    await h2.poll();
    h2.agent(A).removeByHand('203.0.113.7');
    h2.agent(B).mode = 'unreachable';
    await h2.poll();
    be = h2.be(name)!;
    assert.equal(be.status?.phase, 'Released');
    assert.match(be.status?.message ?? '', /except http:\/\/10\.0\.0\.2:12345: cannot reach/);
    assert.ok(h2.events.reasons().includes('Warning UnblockFailed'));
  });

  it('an expiry on the agent is no release: the BlockEvent turns Expired, not Released', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    const name = blockEventName('web', '203.0.113.7');
    await h.apply({ name, ip: '203.0.113.7', durationSeconds: 60, policy: 'web' });
    await h.poll();
    h.clock.advance(61);
    await h.poll();
    assert.equal(h.be(name)!.status?.phase, 'Expired');
    assert.equal(h.be(name)!.metadata.annotations?.[LifecycleAnnotations.releasedAt], undefined);
  });

  it('renewed: a new ban on an agent after the BlockEvent expired starts a new window (no status written by the sync)', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    const name = blockEventName('web', '203.0.113.7');
    await h.apply({ name, ip: '203.0.113.7', durationSeconds: 60, policy: 'web' });
    await h.poll();
    h.clock.advance(120);
    await h.poll();
    assert.equal(h.be(name)!.status?.phase, 'Expired');
    h.agent(A).own('203.0.113.7', 300); // auto-defense bans it again
    await h.sync.syncPolicy(h.policies.get(`${NS}/web`)!);
    const statusWrites = h.objects.writes.filter((w) => w.startsWith('status')).length;
    const renewed = h.be(name)!;
    assert.equal(renewed.status?.phase, 'Expired', 'the sync wrote no status');
    assert.equal(renewed.metadata.annotations?.[LifecycleAnnotations.banStart], rfc3339(h.clock.now()));
    await h.settle();
    covered.add('renewed');
    assert.ok(h.objects.writes.filter((w) => w.startsWith('status')).length > statusWrites);
    const be = h.be(name)!;
    assert.equal(be.status?.phase, 'Active');
    assert.equal(be.status?.blockedAt, rfc3339(h.clock.now()));
    assert.equal(be.status?.expiresAt, rfc3339(h.clock.now() + 300_000));
  });

  it('retained: a finished BlockEvent is deleted after the retention period', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 60, policy: 'web' });
    h.clock.advance(61);
    await h.settle();
    assert.equal(h.be('ban-1')!.status?.phase, 'Expired');
    h.clock.advance(RETENTION_MS / 1000 - 10);
    await h.settle();
    assert.ok(h.be('ban-1'), 'kept during retention');
    h.clock.advance(20);
    await h.settle();
    covered.add('retained');
    assert.equal(h.be('ban-1'), undefined);
  });

  it('deleting an Active BlockEvent unblocks it on every agent, then the finalizer goes', async () => {
    const h = new Harness();
    h.policy('web', [A, B]);
    await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    await h.deleteBe('ban-1');
    covered.add('unblocked');
    assert.equal(h.be('ban-1'), undefined);
    assert.equal(h.agent(A).holds('203.0.113.7'), undefined);
    assert.equal(h.agent(B).holds('203.0.113.7'), undefined);
    assert.ok(h.events.reasons().includes('Normal Unblocked'));
  });

  it('deleting an expired BlockEvent drops the finalizer at once, without calling a (dead) agent', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 60, policy: 'web' });
    h.clock.advance(61);
    await h.settle();
    h.agent(A).mode = 'unreachable';
    const calls = h.agent(A).calls.length;
    await h.deleteBe('ban-1');
    covered.add('notHeld');
    assert.equal(h.be('ban-1'), undefined);
    assert.equal(h.agent(A).calls.length, calls);
  });

  it('the floodgate.dev/skip-unblock annotation drops the finalizer at once, with a Warning', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    h.agent(A).mode = 'unreachable';
    await h.objects.patch({ namespace: NS, name: 'ban-1' }, { metadata: { annotations: { [LifecycleAnnotations.skipUnblock]: 'true' } } });
    await h.deleteBe('ban-1');
    covered.add('skipped');
    assert.equal(h.be('ban-1'), undefined);
    assert.ok(h.events.reasons().includes('Warning UnblockSkipped'));
  });

  it('a deletion whose agents keep failing gives up after 2 minutes, with a condition meanwhile and a Warning at the end', async () => {
    const h = new Harness();
    h.policy('web', [A]);
    await h.apply({ name: 'ban-1', ip: '203.0.113.7', durationSeconds: 3600, policy: 'web' });
    h.agent(A).mode = 'unauthorized';
    await h.deleteBe('ban-1');
    let be = h.be('ban-1');
    assert.ok(be, 'still trying');
    assert.equal(cond(be)?.reason, 'Unblocking');
    assert.match(be?.status?.message ?? '', /rejected the token/);
    h.clock.advance(UNBLOCK_GIVE_UP_MS / 1000 - 5);
    await h.settle();
    assert.ok(h.be('ban-1'), 'not before 2 minutes');
    h.clock.advance(6);
    await h.settle();
    be = h.be('ban-1');
    covered.add('abandoned');
    assert.equal(be, undefined);
    assert.ok(h.events.list.some((e) => /^Warning UnblockAbandoned: .*rejected the token/.test(e)));
  });

  after(() => {
    // Runs last: a TRANSITIONS row without a test above fails the file.
    const missing = TRANSITIONS.map((t) => t.id).filter((id) => !covered.has(id));
    assert.deepEqual(missing, [], 'transitions without a test');
  });
});
