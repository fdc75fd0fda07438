// The agent ban sync, through the real sync and reconciler against fake agents
// with an injected clock: agents' own bans become BlockEvents (with their own
// start and length, and no status written by the sync), incremental reads,
// tombstones, removals before expiry (released), a ban an agent lost (pushed
// again), broken answers (recorded for the policy, backed off), and renewals
// only for bans newer than what the BlockEvent already shows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockEventName } from '../../controller/reconcile/block-event-names.js';
import { LifecycleAnnotations } from '../../controller/reconcile/enforcement-lifecycle.js';
import { rfc3339 } from './fakes.js';
import { Harness, NS } from './harness.js';

const A = 'http://10.0.0.1:12345';
const B = 'http://10.0.0.2:12345';

describe('agent ban sync (fake agents, injected clock)', () => {
  it('an agent\'s own ban becomes a BlockEvent bound to that agent, with the ban\'s start and length; the reconciler makes it Active', async () => {
    const h = new Harness();
    const web = h.policy('web', [A, B]);
    const started = h.clock.now();
    h.agent(A).own('203.0.113.7', 600);
    h.clock.advance(5);
    assert.equal(await h.sync.syncPolicy(web), 1);
    const name = blockEventName('web', '203.0.113.7');
    let be = h.be(name)!;
    assert.equal(be.status, undefined, 'the sync writes no status');
    assert.equal(be.spec.agent, A);
    assert.equal(be.spec.durationSeconds, 600);
    assert.equal(be.metadata.annotations?.[LifecycleAnnotations.banStart], rfc3339(started));
    assert.equal(be.metadata.labels?.['floodgate.dev/source'], 'auto');
    await h.settle();
    be = h.be(name)!;
    assert.equal(be.status?.phase, 'Active');
    assert.equal(be.status?.blockedAt, rfc3339(started));
    assert.equal(be.status?.expiresAt, rfc3339(started + 600_000));
    assert.equal(h.agent(B).holds('203.0.113.7'), undefined, 'bound to the agent that made it');
  });

  it('reads the whole list first, then only changes; a tombstoned (just deleted) ban waits for its tombstone', async () => {
    const h = new Harness();
    const web = h.policy('web', [A]);
    h.agent(A).own('203.0.113.1', 600);
    await h.sync.syncPolicy(web);
    assert.deepEqual(h.sync.reads, { full: 1, incremental: 0 });
    h.agent(A).own('203.0.113.2', 600);
    assert.equal(await h.sync.syncPolicy(web), 1);
    assert.deepEqual(h.sync.reads, { full: 1, incremental: 1 });
    assert.deepEqual(h.agent(A).calls.filter((c) => c.startsWith('list')).map((c) => c.split(' ')[1] === 'all'), [true, false]);

    h.agent(A).own('203.0.113.3', 600);
    h.sync.noteDeleted({ metadata: { namespace: NS, name: blockEventName('web', '203.0.113.3') } } as never);
    assert.equal(await h.sync.syncPolicy(web), 0);
    h.clock.advance(61);
    assert.equal(await h.sync.syncPolicy(web), 1, 'recorded once the tombstone is gone, with no new change on the agent');
  });

  it('a ban removed on the agent before its expiry releases the BlockEvent; at its expiry it does not', async () => {
    const h = new Harness();
    const web = h.policy('web', [A]);
    h.agent(A).own('203.0.113.7', 600);
    h.agent(A).own('203.0.113.8', 60);
    await h.poll();
    h.clock.advance(10);
    h.agent(A).removeByHand('203.0.113.7');
    h.clock.advance(55);
    await h.sync.syncPolicy(web);
    assert.equal(h.be(blockEventName('web', '203.0.113.7'))!.metadata.annotations?.[LifecycleAnnotations.releasedBy], A);
    assert.equal(h.be(blockEventName('web', '203.0.113.8'))!.metadata.annotations?.[LifecycleAnnotations.releasedAt], undefined, 'expired, not removed');
    await h.settle();
    assert.equal(h.be(blockEventName('web', '203.0.113.7'))!.status?.phase, 'Released');
    assert.equal(h.be(blockEventName('web', '203.0.113.8'))!.status?.phase, 'Expired');
  });

  it('a ban an agent lost without a removal (restarted without its store) is pushed again', async () => {
    const h = new Harness();
    const web = h.policy('web', [A]);
    await h.apply({ name: blockEventName('web', '203.0.113.7'), ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    await h.poll();
    h.agent(A).restartEmpty();
    h.clock.advance(31); // the next read is a full one (a new epoch, and the 30 s resync)
    await h.sync.syncPolicy(web);
    assert.deepEqual(h.lost, [blockEventName('web', '203.0.113.7')]);
    await h.settle();
    assert.equal(h.agent(A).holds('203.0.113.7'), 569);
  });

  it('a broken answer is recorded for the policy (InvalidResponse), the other agents are read, and the broken one is backed off', async () => {
    const h = new Harness();
    const web = h.policy('web', [A, B]);
    h.agent(A).mode = 'invalid';
    h.agent(B).own('203.0.113.9', 600);
    await h.sync.syncPolicy(web);
    assert.deepEqual(h.health.problems(web).map((p) => [p.agent, p.kind]), [[A, 'invalid']]);
    assert.ok(h.be(blockEventName('web', '203.0.113.9')), 'agent B still synced');
    const tries = () => h.agent(A).calls.filter((c) => c.startsWith('list')).length;
    const first = tries();
    await h.sync.syncPolicy(web);
    assert.equal(tries(), first, 'not asked again at once');
    h.agent(A).mode = 'ok';
    h.clock.advance(1);
    await h.sync.syncPolicy(web);
    assert.equal(tries(), first + 1);
    assert.deepEqual(h.health.problems(web), [], 'a good answer clears it');
  });

  it('renews a finished BlockEvent only for a ban newer than its window (or release)', async () => {
    const h = new Harness();
    h.policy('web', [A, B]);
    const name = blockEventName('web', '203.0.113.7');
    await h.apply({ name, ip: '203.0.113.7', durationSeconds: 600, policy: 'web' });
    await h.poll();
    // Released through agent A while agent B cannot be reached: B still holds the old ban.
    h.agent(B).mode = 'unreachable';
    h.agent(A).removeByHand('203.0.113.7');
    h.clock.advance(5);
    await h.poll();
    assert.equal(h.be(name)!.status?.phase, 'Released');
    h.agent(B).mode = 'ok';
    h.clock.advance(5);
    await h.poll();
    assert.equal(h.be(name)!.status?.phase, 'Released', 'B\'s older ban does not renew it');
    // A new ban after the release does.
    h.agent(A).own('203.0.113.7', 300);
    await h.poll();
    const renewed = h.be(name)!;
    assert.equal(renewed.status?.phase, 'Active');
    assert.equal(renewed.metadata.annotations?.[LifecycleAnnotations.banStart], rfc3339(h.clock.now()));
    assert.equal(renewed.spec.agent, undefined, 'still the policy\'s, on every agent');
    assert.equal(h.agent(A).holds('203.0.113.7'), 300);
    assert.equal(h.agent(B).holds('203.0.113.7'), 590, 'B kept its older, longer ban');
    assert.equal(renewed.status?.expiresAt, rfc3339(h.clock.now() + 590_000), 'so the BlockEvent lasts as long as B holds it');
  });

  it('the controller\'s own pushes are not recorded again, also when the agent widens an IPv6 address to its /64; a removal of that /64 releases what it held', async () => {
    const h = new Harness();
    const web = h.policy('web', [A]);
    h.agent(A).ipv6Prefix = 64;
    await h.apply({ name: blockEventName('web', '2001:db8::1'), ip: '2001:db8::1', durationSeconds: 600, policy: 'web' });
    await h.apply({ name: blockEventName('web', '2001:db8::2'), ip: '2001:db8::2', durationSeconds: 600, policy: 'web' });
    assert.deepEqual([...h.agent(A).bans.keys()], ['2001:db8::/64'], 'one ban on the agent for both');
    await h.poll();
    assert.equal(h.objects.list().length, 2, 'no BlockEvent for 2001:db8::/64');
    h.clock.advance(10);
    h.agent(A).removeByHand('2001:db8::/64');
    await h.sync.syncPolicy(web);
    await h.settle();
    assert.deepEqual(h.objects.list().map((b) => b.status?.phase), ['Released', 'Released']);
  });
});
