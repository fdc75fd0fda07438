// SignatureRules through the real reconciler, signature sync and defense
// runner against fake agents with an injected clock (no API server): the
// BlockEvent lifecycle's guarantees for the second kind (pushed to every agent
// of the policy, removed from every agent on deletion, expired on time,
// refused when unsafe), agents' own rules recorded and their counters
// written to status by the one writer, early removal released everywhere, a
// lost rule pushed again, and the defense runner's auto/propose/limits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signatureId } from '../../api/signature-rule.js';
import { signatureRuleName } from '../../controller/reconcile/signature-rule-names.js';
import { LifecycleAnnotations } from '../../controller/reconcile/enforcement-lifecycle.js';
import { analyzeWindow } from '../../detection/analyze.js';
import { buildSlots, fromSources } from '../detection/slot-fixtures.js';
import { rfc3339 } from './fakes.js';
import { NS, SignatureRuleHarness } from './harness.js';

const A = 'http://10.0.0.1:12345';
const B = 'http://10.0.0.2:12345';
const VICTIM = '10.10.10.10';
const SYN = { mask: ['syn' as const, 'ack' as const, 'rst' as const], value: ['syn' as const] };

const ampSpec = { signature: { protocol: 'udp' as const, destination: VICTIM, sourcePort: 161 }, action: { type: 'drop' as const }, durationSeconds: 600, vector: 'udp_amplification', policy: 'web' };
const ampId = signatureId(ampSpec.signature);

describe('SignatureRule lifecycle (fake agents, injected clock)', () => {
  it('is pushed to every agent of its policy and becomes Active, with the rule in words; deleting it removes it from every agent', async () => {
    const h = new SignatureRuleHarness();
    h.policy('web', [A, B]);
    const sr = await h.apply('snmp', ampSpec);
    assert.equal(sr.status?.phase, 'Active');
    assert.equal(sr.status?.rule, 'udp sport 161 to 10.10.10.10: drop');
    assert.equal(sr.status?.expiresAt, rfc3339(h.clock.now() + 600_000));
    assert.ok(sr.metadata.finalizers?.includes('floodgate.dev/unblock'));
    for (const url of [A, B]) assert.ok(h.agent(url).rules.has(ampId), url);

    await h.objects.delete({ namespace: NS, name: 'snmp' });
    await h.settle();
    assert.equal(h.sr('snmp'), undefined);
    for (const url of [A, B]) {
      assert.equal(h.agent(url).rules.has(ampId), false, url);
      assert.ok(h.agent(url).calls.includes(`removeSignature ${ampId}`));
    }
  });

  it('expires on time; the policy\'s longest duration caps what is pushed', async () => {
    const h = new SignatureRuleHarness();
    h.policy('web', [A], { mitigation: { signatureLimits: { maxDurationSeconds: 120 } } });
    await h.apply('snmp', { ...ampSpec, durationSeconds: 100 });
    assert.ok(h.agent(A).calls.includes(`addSignature ${ampId} 100`));
    h.clock.advance(101);
    await h.settle();
    assert.equal(h.sr('snmp')?.status?.phase, 'Expired');
    assert.ok(h.events.reasons().includes('Normal Expired'));

    await h.apply('long', { ...ampSpec, signature: { ...ampSpec.signature, sourcePort: 123 }, durationSeconds: 3600 });
    assert.ok(h.agent(A).calls.some((c) => /^addSignature [0-9a-f]{16} 120$/.test(c)), h.agent(A).calls.join());
  });

  it('an unsafe rule (a blanket SYN drop) is Failed with the reason and never sent to an agent', async () => {
    const h = new SignatureRuleHarness();
    h.policy('web', [A, B]);
    const sr = await h.apply('bad', { signature: { protocol: 'tcp', destination: VICTIM, destinationPort: 80, tcpFlags: SYN }, action: { type: 'drop' }, durationSeconds: 60, policy: 'web' });
    assert.equal(sr.status?.phase, 'Failed');
    assert.match(sr.status?.message ?? '', /never a blanket drop of SYNs to 10\.10\.10\.10/);
    for (const url of [A, B]) assert.ok(!h.agent(url).calls.some((c) => c.startsWith('addSignature')), url);
    assert.ok(h.events.reasons().includes('Warning BlockRefused'));
  });

  it('every agent refusing (a victim it does not protect) makes it Failed with the agents\' reason', async () => {
    const h = new SignatureRuleHarness();
    h.policy('web', [A]);
    h.agent(A).mode = 'refuse';
    const sr = await h.apply('snmp', ampSpec);
    assert.equal(sr.status?.phase, 'Failed');
    assert.match(sr.status?.message ?? '', /not an address this agent protects/);
  });
});

describe('agents\' own rules and counters (signature sync)', () => {
  it('an agent\'s auto rule becomes a SignatureRule for every agent of the policy; counters are summed into status', async () => {
    const h = new SignatureRuleHarness();
    const web = h.policy('web', [A, B]);
    const started = h.clock.now();
    h.agent(A).ownSignature({ match: ampSpec.signature, action: ampSpec.action, durationSeconds: 300, vector: 'udp_amplification', label: 'SNMP amplification (udp sport 161)' });
    h.clock.advance(1);
    assert.equal(await h.sync.syncPolicy(web), 1);
    const name = signatureRuleName('web', ampId);
    let sr = h.sr(name)!;
    assert.equal(sr.status, undefined, 'the sync writes no status');
    assert.equal(sr.spec.agent, undefined, 'not bound to the agent that found it');
    assert.equal(sr.metadata.annotations?.['floodgate.dev/found-by'], A);
    assert.equal(sr.metadata.annotations?.[LifecycleAnnotations.banStart], rfc3339(started));
    assert.equal(sr.metadata.labels?.['floodgate.dev/source'], 'auto');
    await h.settle();
    sr = h.sr(name)!;
    assert.equal(sr.status?.phase, 'Active');
    assert.ok(h.agent(B).rules.has(ampId), 'the other agent holds it too');

    h.agent(A).signatureCounters.set(ampId, { packets: 90_000, pps: 30_000 });
    h.agent(B).signatureCounters.set(ampId, { packets: 10_000, pps: 2_000 });
    h.clock.advance(6);
    await h.sync.syncPolicy(web);
    assert.deepEqual(h.countersAsked, [name]);
    await h.settle();
    sr = h.sr(name)!;
    assert.equal(sr.status?.packetsDropped, 100_000);
    assert.equal(sr.status?.dropRatePps, 32_000);
    assert.equal(sr.status?.agentsHolding, 2);
  });

  it('a rule removed on an agent before its expiry releases the SignatureRule on every agent; one lost in a restart is pushed again', async () => {
    const h = new SignatureRuleHarness();
    const web = h.policy('web', [A, B]);
    await h.apply('snmp', ampSpec);
    await h.poll();
    h.agent(A).removeSignatureByHand(ampId);
    h.clock.advance(1);
    await h.poll();
    const sr = h.sr('snmp')!;
    assert.equal(sr.status?.phase, 'Released');
    assert.equal(h.agent(B).rules.has(ampId), false, 'lifted on the other agent too');

    const h2 = new SignatureRuleHarness();
    const web2 = h2.policy('web', [A]);
    await h2.apply('snmp', ampSpec);
    await h2.sync.syncPolicy(web2);
    h2.agent(A).restartSignaturesEmpty();
    h2.clock.advance(1);
    await h2.sync.syncPolicy(web2);
    assert.deepEqual(h2.lost, ['snmp']);
    await h2.settle();
    assert.ok(h2.agent(A).rules.has(ampId), 'pushed again');
    void web;
  });
});

describe('defense runner: signature rules from the verdict', () => {
  const synFlood = () => {
    const v = analyzeWindow(buildSlots(3, () => [...fromSources(20_000, { dst: VICTIM, kind: 'syn', packets: 1, dport: 443 }, { firstOctet: 100 })]));
    return { verdict: v, blockedStillSending: [], firewallDrops: { packets: 0, bytes: 0 } };
  };

  it('auto: a SYN flood gets a synproxy SignatureRule (no per-IP bans), extended while the attack lasts', async () => {
    const h = new SignatureRuleHarness();
    h.policy('web', [A], { mitigation: { signatureLimits: { durationSeconds: 300 } } });
    h.agent(A).analysis = synFlood();
    const out = await h.runner.defend(h.policies.get(`${NS}/web`)!, { reason: 'continuous' });
    assert.deepEqual(out.created, []);
    assert.equal(out.signatureRules.length, 1);
    await h.settle();
    const sr = h.sr(out.signatureRules[0]!)!;
    assert.equal(sr.spec.action.type, 'synproxy');
    assert.equal(sr.status?.phase, 'Active');
    const status = h.policyObjects.getIn(NS, 'web')?.status;
    assert.equal(status?.lastAnalysis?.signatures?.[0]?.applied, true);
    assert.match(status?.lastAnalysis?.signatures?.[0]?.rule ?? '', /^tcp flags syn\/syn,rst,ack to 10\.10\.10\.10 dport 443: synproxy/);

    h.clock.advance(100);
    const again = await h.runner.defend(h.policies.get(`${NS}/web`)!, { reason: 'continuous' });
    assert.deepEqual(again.signatureRules, [], 'not extended while most of its time is left');
    h.clock.advance(100);
    const later = await h.runner.defend(h.policies.get(`${NS}/web`)!, { reason: 'continuous' });
    assert.deepEqual(later.signatureRules, [sr.metadata.name]);
    assert.equal(h.sr(sr.metadata.name!)!.spec.durationSeconds, 500, 'lasts 300 s from now');
  });

  it('propose (and observe mode): no SignatureRule, the proposal in status and one Event', async () => {
    for (const mitigation of [{ signatures: 'propose' as const }, { mode: 'observe' as const }]) {
      const h = new SignatureRuleHarness();
      h.policy('web', [A], { mitigation });
      h.agent(A).analysis = synFlood();
      await h.runner.defend(h.policies.get(`${NS}/web`)!, { reason: 'continuous' });
      await h.runner.defend(h.policies.get(`${NS}/web`)!, { reason: 'continuous' });
      assert.deepEqual(h.objects.list(), []);
      const entry = h.policyObjects.getIn(NS, 'web')?.status?.lastAnalysis?.signatures?.[0];
      assert.deepEqual([entry?.applied, entry?.why], [false, 'signatures: propose']);
      assert.equal(h.events.reasons().filter((r) => r === 'Normal SignatureProposed').length, 1);
    }
  });

  it('disabled: nothing planned; maxActive: the rest is skipped with a Warning', async () => {
    const h = new SignatureRuleHarness();
    h.policy('web', [A], { mitigation: { signatures: 'disabled' } });
    h.agent(A).analysis = synFlood();
    const out = await h.runner.defend(h.policies.get(`${NS}/web`)!, { reason: 'continuous' });
    assert.deepEqual([out.signatureRules, h.policyObjects.getIn(NS, 'web')?.status?.lastAnalysis?.signatures], [[], []]);

    const h2 = new SignatureRuleHarness();
    h2.policy('web', [A], { mitigation: { signatureLimits: { maxActive: 1 } } });
    const multi = analyzeWindow(buildSlots(2, () => [
      ...fromSources(3000, { dst: VICTIM, kind: 'udp', packets: 20, sport: 47808 }, { firstOctet: 61 }),
      ...fromSources(1500, { dst: VICTIM, kind: 'udp', packets: 15, sport: 37810 }, { firstOctet: 62 }),
    ]));
    h2.agent(A).analysis = { verdict: multi, blockedStillSending: [], firewallDrops: { packets: 0, bytes: 0 } };
    const o = await h2.runner.defend(h2.policies.get(`${NS}/web`)!, { reason: 'continuous' });
    assert.equal(o.signatureRules.length, 1);
    assert.ok(h2.events.reasons().includes('Warning MaxSignatureRules'));
  });
});
