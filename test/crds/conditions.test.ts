/**
 * api/v1alpha1/conditions.ts: metav1.Condition helpers.
 *
 *   node --import tsx --test test/crds/conditions.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  conditionUnchanged,
  findCondition,
  isFalse,
  isTrue,
  removeCondition,
  setCondition,
  toRfc3339,
} from '../../api/v1alpha1/conditions.js';
import { DefensePolicyConditions, type Condition } from '../../api/v1alpha1/index.js';

const T0 = new Date('2024-05-01T10:00:00.123Z');
const T1 = new Date('2024-05-01T10:05:00Z');
const T2 = new Date('2024-05-01T10:09:00Z');
const { Ready, AgentsReachable, UnderAttack } = DefensePolicyConditions;

describe('setCondition', () => {
  it('appends a new condition with lastTransitionTime = now (RFC 3339, whole seconds)', () => {
    const out = setCondition(undefined, { type: Ready, status: 'True', reason: 'Polling', message: 'ok' }, 3, T0);
    assert.deepEqual(out, [
      { type: Ready, status: 'True', observedGeneration: 3, lastTransitionTime: '2024-05-01T10:00:00Z', reason: 'Polling', message: 'ok' },
    ]);
  });

  it('keeps lastTransitionTime when the status does not change, updates reason/message/generation', () => {
    const a = setCondition([], { type: Ready, status: 'True', reason: 'Polling', message: 'ok' }, 1, T0);
    const b = setCondition(a, { type: Ready, status: 'True', reason: 'StillPolling', message: 'fine' }, 2, T1);
    assert.equal(b.length, 1);
    assert.equal(b[0]?.lastTransitionTime, '2024-05-01T10:00:00Z');
    assert.equal(b[0]?.reason, 'StillPolling');
    assert.equal(b[0]?.message, 'fine');
    assert.equal(b[0]?.observedGeneration, 2);
  });

  it('moves lastTransitionTime when the status changes', () => {
    const a = setCondition([], { type: UnderAttack, status: 'False', reason: 'NoAttack', message: 'm' }, 1, T0);
    const b = setCondition(a, { type: UnderAttack, status: 'True', reason: 'AttackDetected', message: 'syn_flood' }, 1, T1);
    const c = setCondition(b, { type: UnderAttack, status: 'True', reason: 'AttackDetected', message: 'still' }, 1, T2);
    const d = setCondition(c, { type: UnderAttack, status: 'Unknown', reason: 'AgentsUnreachable', message: 'm' }, 1, T2);
    assert.equal(b[0]?.lastTransitionTime, toRfc3339(T1));
    assert.equal(c[0]?.lastTransitionTime, toRfc3339(T1));
    assert.equal(d[0]?.lastTransitionTime, toRfc3339(T2));
  });

  it('does not modify its input and keeps the order of the other conditions', () => {
    let list: Condition[] = [];
    list = setCondition(list, { type: Ready, status: 'True', reason: 'A', message: 'm' }, 1, T0);
    list = setCondition(list, { type: AgentsReachable, status: 'True', reason: 'B', message: 'm' }, 1, T0);
    list = setCondition(list, { type: UnderAttack, status: 'False', reason: 'C', message: 'm' }, 1, T0);
    const frozen = structuredClone(list);
    const out = setCondition(list, { type: AgentsReachable, status: 'False', reason: 'Unreachable', message: 'x' }, 2, T1);
    assert.deepEqual(list, frozen);
    assert.deepEqual(out.map((c) => c.type), [Ready, AgentsReachable, UnderAttack]);
    assert.equal(out[1]?.status, 'False');
    assert.equal(out[0], list[0], 'untouched conditions are reused');
  });

  it('omits observedGeneration when unknown', () => {
    const [c] = setCondition([], { type: Ready, status: 'Unknown', reason: 'Starting', message: 'starting' }, undefined, T0);
    assert.ok(c && !('observedGeneration' in c));
  });

  it('sets lastTransitionTime when an existing condition lacks one', () => {
    const broken = [{ type: Ready, status: 'True', reason: 'X', message: '' } as unknown as Condition];
    const [c] = setCondition(broken, { type: Ready, status: 'True', reason: 'X', message: 'm' }, 1, T1);
    assert.equal(c?.lastTransitionTime, toRfc3339(T1));
  });

  it('throws on a reason the API server would reject', () => {
    for (const reason of ['', 'not camel', 'Bad-Reason', '1st']) {
      assert.throws(() => setCondition([], { type: Ready, status: 'True', reason, message: 'm' }, 1, T0), TypeError);
    }
  });
});

describe('findCondition / isTrue / isFalse / removeCondition / conditionUnchanged', () => {
  const list = setCondition(
    setCondition([], { type: Ready, status: 'True', reason: 'Polling', message: 'm' }, 4, T0),
    { type: UnderAttack, status: 'False', reason: 'NoAttack', message: 'quiet' },
    4,
    T0,
  );

  it('finds by type', () => {
    assert.equal(findCondition(list, UnderAttack)?.message, 'quiet');
    assert.equal(findCondition(list, AgentsReachable), undefined);
    assert.equal(findCondition(undefined, Ready), undefined);
  });

  it('isTrue / isFalse treat an absent condition as neither', () => {
    assert.equal(isTrue(list, Ready), true);
    assert.equal(isTrue(list, UnderAttack), false);
    assert.equal(isFalse(list, UnderAttack), true);
    assert.equal(isTrue(list, AgentsReachable), false);
    assert.equal(isFalse(list, AgentsReachable), false);
    assert.equal(isTrue(undefined, Ready), false);
  });

  it('removeCondition drops one type', () => {
    assert.deepEqual(removeCondition(list, Ready).map((c) => c.type), [UnderAttack]);
    assert.deepEqual(removeCondition(undefined, Ready), []);
  });

  it('conditionUnchanged tells when a status write can be skipped', () => {
    assert.equal(conditionUnchanged(list, { type: UnderAttack, status: 'False', reason: 'NoAttack', message: 'quiet' }, 4), true);
    assert.equal(conditionUnchanged(list, { type: UnderAttack, status: 'False', reason: 'NoAttack', message: 'quiet' }, 5), false);
    assert.equal(conditionUnchanged(list, { type: UnderAttack, status: 'True', reason: 'NoAttack', message: 'quiet' }, 4), false);
    assert.equal(conditionUnchanged(list, { type: Ready, status: 'True', reason: 'Polling', message: 'm' }, 4), true);
    assert.equal(conditionUnchanged(list, { type: AgentsReachable, status: 'True', reason: 'Polling', message: 'm' }, 4), false);
  });
});

describe('toRfc3339', () => {
  it('drops milliseconds like metav1.Time', () => {
    assert.equal(toRfc3339(new Date('2024-01-02T03:04:05.999Z')), '2024-01-02T03:04:05Z');
  });
});
