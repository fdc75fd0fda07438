/**
 * controller/resources/admission.ts: the informers' transform resolves each
 * object once (spec defaulted and typed) and remembers, per object key, why one
 * that fails its schema is not to be acted on. No API server;
 * test/controller/older-crd.test.ts runs it in the controller.
 *
 *   node --test dist/test/crds/admission.test.js
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { BLOCK_EVENT, DEFENSE_POLICY } from '../../api/v1alpha1/index.js';
import { Admission } from '../../controller/resources/admission.js';

const policy = (spec: object, resourceVersion = '1') => ({
  apiVersion: 'floodgate.dev/v1alpha1',
  kind: 'DefensePolicy',
  metadata: { name: 'web', namespace: 'shop', resourceVersion },
  spec,
});

describe('Admission', () => {
  it('hands the informer a resolved object: every default present', () => {
    const a = new Admission(DEFENSE_POLICY);
    const p = a.admit(policy({ agentSelector: {} }));
    assert.equal(p.spec.detection.windowSeconds, 7);
    assert.equal(p.spec.mitigation.escalation.maxBanDurationSeconds, 86400);
    assert.equal(p.spec.trigger.continuous, false);
    assert.equal(a.problem('shop/web'), undefined);
  });

  it('remembers why an invalid object is not acted on, logs it once per version, and forgets it when fixed', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const a = new Admission(DEFENSE_POLICY, logger);
    const bad = a.admit(policy({ agentSelector: {}, detection: { attackerShareThreshold: 5, windowSeconds: 3 } }));
    assert.equal(bad.spec.detection.attackerShareThreshold, 0.2, 'the bad field takes its default');
    assert.equal(bad.spec.detection.windowSeconds, 3, 'the good ones are kept');
    assert.match(a.problem('shop/web') ?? '', /^spec\.detection\.attackerShareThreshold: attackerShareThreshold is a fraction/);
    a.admit(policy({ agentSelector: {}, detection: { attackerShareThreshold: 5 } })); // a re-list: same version
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /object does not match its schema/);
    a.admit(policy({ agentSelector: {}, detection: { attackerShareThreshold: 0.5 } }, '2'));
    assert.equal(a.problem('shop/web'), undefined);
  });

  it('forgets a deleted object, and keys cluster-scoped ones by name', () => {
    const a = new Admission(BLOCK_EVENT);
    a.admit({ metadata: { name: 'x', namespace: 'ns' }, spec: { ip: '1.2.3.4', durationSeconds: 0 } });
    assert.match(a.problem('ns/x') ?? '', /spec\.durationSeconds/);
    a.forget('ns/x');
    assert.equal(a.problem('ns/x'), undefined);
    a.admit({ metadata: { name: 'y' }, spec: { ip: '1.2.3.4', durationSeconds: 0 } });
    assert.match(a.problem('y') ?? '', /spec\.durationSeconds/);
  });
});
