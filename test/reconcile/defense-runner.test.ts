// The defense runner's side of the BlockEvent lifecycle, through the real
// runner, reconciler and fakes with an injected clock: a flagged attacker
// becomes a BlockEvent, a repeat while it is held extends it, a repeat after
// it ended starts a new escalated ban on the same object, and the agent keeps
// each duration exactly as asked (escalation happens once, here). It writes
// spec and annotations only, never status.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_BAN_SECONDS } from '../../api/ban-time.js';
import { blockEventFallbackName, blockEventName } from '../../controller/reconcile/block-event-names.js';
import { LifecycleAnnotations } from '../../controller/reconcile/enforcement-lifecycle.js';
import { analysisOf, rfc3339 } from './fakes.js';
import { Harness, NS } from './harness.js';

const A = 'http://10.0.0.1:12345';
const ESCALATING = { mitigation: { banDurationSeconds: 60, escalation: { factor: 2, maxBanDurationSeconds: 200 } } };

function setup(spec: object = ESCALATING) {
  const h = new Harness();
  h.policy('web', [A], spec);
  return h;
}

describe('defense runner: create, extend, escalate (fake agents, injected clock)', () => {
  it('a flagged attacker becomes a BlockEvent of its policy, held on the agent for banDurationSeconds', async () => {
    const h = setup();
    h.agent(A).analysis = analysisOf(['203.0.113.7']);
    const outcome = await h.defend('web');
    assert.deepEqual(outcome.created, ['203.0.113.7']);
    const be = h.be(blockEventName('web', '203.0.113.7'))!;
    assert.equal(be.spec.durationSeconds, 60);
    assert.equal(be.spec.policyRef?.name, 'web');
    assert.equal(be.metadata.annotations?.['floodgate.dev/offences'], '1');
    assert.equal(be.status?.phase, 'Active');
    assert.equal(h.agent(A).holds('203.0.113.7'), 60);
  });

  it('a repeat while the ban is held extends it from now, at the same offence count', async () => {
    const h = setup();
    h.agent(A).analysis = analysisOf(['203.0.113.7']);
    await h.defend('web');
    h.clock.advance(30);
    const outcome = await h.defend('web');
    assert.deepEqual(outcome.extended, ['203.0.113.7']);
    const be = h.be(blockEventName('web', '203.0.113.7'))!;
    assert.equal(be.spec.durationSeconds, 90, '60 s from now, counted from the window\'s start 30 s ago');
    assert.equal(be.metadata.annotations?.['floodgate.dev/offences'], '1');
    assert.equal(be.status?.expiresAt, rfc3339(h.clock.now() + 60_000));
    assert.equal(h.agent(A).holds('203.0.113.7'), 60);
    // Within a second of what it holds already: nothing to write.
    const before = h.objects.writes.length;
    await h.defend('web');
    assert.equal(h.objects.writes.length, before);
  });

  it('repeats after the ban ended escalate (60, 120, 200 capped) on the same object, and the agent holds exactly that', async () => {
    const h = setup();
    h.agent(A).analysis = analysisOf(['203.0.113.7']);
    const name = blockEventName('web', '203.0.113.7');
    const held: number[] = [];
    for (let i = 0; i < 3; i++) {
      await h.defend('web');
      held.push(h.agent(A).holds('203.0.113.7')!);
      const be = h.be(name)!;
      assert.equal(be.metadata.annotations?.['floodgate.dev/offences'], String(i + 1));
      assert.equal(be.status?.phase, 'Active');
      if (i > 0) assert.equal(be.metadata.annotations?.[LifecycleAnnotations.banStart], rfc3339(h.clock.now()), 'a new window starts now');
      h.clock.advance(held[i]! + 5);
      await h.settle();
      assert.equal(h.be(name)!.status?.phase, 'Expired');
    }
    assert.deepEqual(held, [60, 120, 200]);
    assert.equal(h.objects.list().length, 1, 'one object per address');
  });

  it('an extension that would reach past 30 days from the window\'s start starts a new window instead', async () => {
    const h = setup({ mitigation: { banDurationSeconds: 20 * 86_400 } });
    h.agent(A).analysis = analysisOf(['203.0.113.7']);
    await h.defend('web');
    h.clock.advance(15 * 86_400);
    await h.defend('web');
    const be = h.be(blockEventName('web', '203.0.113.7'))!;
    assert.ok(be.spec.durationSeconds <= MAX_BAN_SECONDS);
    assert.equal(be.metadata.annotations?.[LifecycleAnnotations.banStart], rfc3339(h.clock.now()));
    assert.equal(be.status?.phase, 'Active');
    assert.equal(h.agent(A).holds('203.0.113.7'), 20 * 86_400);
  });

  it('skips allowlisted addresses, a refused (Failed) address, and attackers beyond maxActiveBlocks', async () => {
    const h = setup({ mitigation: { banDurationSeconds: 60, allowlist: ['198.51.100.0/24'], maxActiveBlocks: 2 } });
    h.agent(A).analysis = analysisOf(['198.51.100.9', '203.0.113.1', '203.0.113.2', '203.0.113.3']);
    const outcome = await h.defend('web');
    assert.deepEqual(outcome.created, ['203.0.113.1', '203.0.113.2']);
    assert.deepEqual(outcome.skipped.map((s) => s.ip), ['198.51.100.9', '203.0.113.3']);
    assert.match(outcome.skipped[1]!.why, /maxActiveBlocks 2/);
    assert.ok(h.events.list.some((e) => /^Warning MaxActiveBlocks/.test(e)));

    const h2 = setup();
    h2.agent(A).mode = 'refuse';
    h2.agent(A).analysis = analysisOf(['203.0.113.7']);
    await h2.defend('web');
    assert.equal(h2.be(blockEventName('web', '203.0.113.7'))!.status?.phase, 'Failed');
    h2.agent(A).mode = 'ok';
    const again = await h2.defend('web');
    assert.match(again.skipped[0]?.why ?? '', /its agents refused it/);
  });

  it('an address whose name is taken by a hand-made object for another address gets the fallback name; the other object is left alone', async () => {
    const h = setup();
    const squatted = blockEventName('web', '203.0.113.7');
    await h.apply({ name: squatted, ip: '203.0.113.99', durationSeconds: 600, policy: 'web' });
    h.agent(A).analysis = analysisOf(['203.0.113.7']);
    const outcome = await h.defend('web');
    assert.deepEqual(outcome.created, ['203.0.113.7']);
    assert.equal(h.be(blockEventFallbackName('web', '203.0.113.7'))!.spec.ip, '203.0.113.7');
    assert.equal(h.be(squatted)!.spec.ip, '203.0.113.99');
    assert.equal(h.be(squatted)!.spec.durationSeconds, 600);
  });

  it('writes no BlockEvent status: every status write comes from the reconciler', async () => {
    const h = setup();
    h.agent(A).analysis = analysisOf(['203.0.113.7', '203.0.113.8']);
    const statusWrites = () => h.objects.writes.filter((w) => w.startsWith('status')).length;
    await h.runner.defend(h.policies.get(`${NS}/web`)!, { reason: 'manual' });
    assert.equal(statusWrites(), 0);
    h.clock.advance(120);
    await h.settle();
    const before = statusWrites();
    await h.runner.defend(h.policies.get(`${NS}/web`)!, { reason: 'manual' });
    assert.equal(statusWrites(), before);
  });
});
