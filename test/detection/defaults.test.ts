import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_THRESHOLDS,
  detectionThresholdsSchema,
  InvalidThresholdsError,
  resolveThresholds,
} from '../../detection/defaults.js';
import { analyzeWindow } from '../../detection/analyze.js';

describe('detection thresholds', () => {
  it('defaults validate against the strict schema', () => {
    assert.deepEqual(detectionThresholdsSchema.parse({ ...DEFAULT_THRESHOLDS }), DEFAULT_THRESHOLDS);
  });

  it('merges overrides over the defaults and ignores undefined values', () => {
    const t = resolveThresholds({ minPackets: 50, victimPpsThreshold: undefined });
    assert.equal(t.minPackets, 50);
    assert.equal(t.victimPpsThreshold, DEFAULT_THRESHOLDS.victimPpsThreshold);
    assert.equal(t.attackerShareThreshold, 0.2);
    assert.deepEqual(resolveThresholds(), DEFAULT_THRESHOLDS);
    assert.deepEqual(resolveThresholds(undefined), DEFAULT_THRESHOLDS);
  });

  it('rejects a share given as a percentage, explaining it is a fraction', () => {
    assert.throws(
      () => resolveThresholds({ attackerShareThreshold: 50 }),
      (err: unknown) => err instanceof InvalidThresholdsError && /fraction/.test(err.message) && /0\.2 means 20%/.test(err.message),
    );
    assert.throws(() => resolveThresholds({ attackerShareThreshold: 0 }), /fraction/);
    assert.equal(resolveThresholds({ attackerShareThreshold: 1 }).attackerShareThreshold, 1);
    assert.equal(resolveThresholds({ attackerShareThreshold: 0.05 }).attackerShareThreshold, 0.05);
  });

  it('rejects unknown keys, naming them', () => {
    assert.throws(() => resolveThresholds({ attackerShare: 0.3 }), /attackerShare/);
  });

  it('rejects non-positive, non-finite and non-numeric values', () => {
    assert.throws(() => resolveThresholds({ sourcePpsThreshold: 0 }), /sourcePpsThreshold/);
    assert.throws(() => resolveThresholds({ victimBpsThreshold: -1 }), /victimBpsThreshold/);
    assert.throws(() => resolveThresholds({ minPackets: Infinity }), /minPackets/);
    assert.throws(() => resolveThresholds({ sourceBpsThreshold: Number.NaN }), /sourceBpsThreshold/);
    assert.throws(() => resolveThresholds({ victimPpsThreshold: '20000' }), /victimPpsThreshold/);
  });

  it('requires maxAttackers to be an integer in 1..10000', () => {
    for (const bad of [0, 1.5, 10001]) assert.throws(() => resolveThresholds({ maxAttackers: bad }), /maxAttackers/);
    assert.equal(resolveThresholds({ maxAttackers: 10000 }).maxAttackers, 10000);
    assert.equal(resolveThresholds({ maxAttackers: 1 }).maxAttackers, 1);
  });

  it('reports every problem at once', () => {
    assert.throws(
      () => resolveThresholds({ attackerShareThreshold: 20, maxAttackers: 0 }),
      (err: unknown) =>
        err instanceof InvalidThresholdsError && err.issues.length === 2 && /fraction/.test(err.message) && /maxAttackers/.test(err.message),
    );
  });

  it('analyzeWindow refuses invalid thresholds instead of guessing', () => {
    assert.throws(() => analyzeWindow([], { attackerShareThreshold: 50 }), InvalidThresholdsError);
  });
});
