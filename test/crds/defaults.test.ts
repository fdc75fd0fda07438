/**
 * controller/api/defaults.ts: spec defaults in TS, the agent thresholds
 * mapping, ban escalation.
 *
 *   node --import tsx --test test/crds/defaults.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_THRESHOLDS, resolveThresholds } from '../../detection/defaults.js';
import {
  banDurationSeconds,
  DEFENSE_POLICY_DEFAULTS,
  MAX_BAN_SECONDS,
  policyToThresholds,
  withDefaults,
} from '../../controller/api/defaults.js';
import type { DefensePolicySpec } from '../../api/v1alpha1/types.js';

const FULL_DEFAULTS = {
  trigger: { memoryThresholdPercent: 75, pollIntervalSeconds: 3, continuous: false },
  detection: {
    windowSeconds: 7,
    attackerShareThreshold: 0.2,
    minPackets: 1000,
    sourcePpsThreshold: 5000,
    victimPpsThreshold: 20000,
    maxAttackers: 100,
  },
  mitigation: {
    mode: 'block',
    banDurationSeconds: 60,
    escalation: { factor: 2, maxBanDurationSeconds: 86400 },
    allowlist: [],
    maxActiveBlocks: 1000,
  },
};

describe('withDefaults', () => {
  it('fills an empty spec with the seed defaults (an object stored before defaults existed)', () => {
    assert.deepEqual(withDefaults({}), FULL_DEFAULTS);
    assert.deepEqual(withDefaults(undefined), FULL_DEFAULTS);
    assert.deepEqual(withDefaults(null), FULL_DEFAULTS);
  });

  it('matches DEFENSE_POLICY_DEFAULTS', () => {
    const { allowlist: _a, ...mitigation } = DEFENSE_POLICY_DEFAULTS.mitigation;
    const { allowlist: _b, ...resolved } = withDefaults({}).mitigation;
    assert.deepEqual(resolved, mitigation);
    assert.deepEqual(withDefaults({}).detection, DEFENSE_POLICY_DEFAULTS.detection);
    assert.deepEqual(withDefaults({}).trigger, DEFENSE_POLICY_DEFAULTS.trigger);
  });

  it('keeps the values that are set, and the other spec fields', () => {
    const spec: DefensePolicySpec = {
      targetSelector: { matchLabels: { app: 'web' } },
      trigger: { memoryThresholdPercent: 90, schedule: '*/5 * * * *' },
      detection: { windowSeconds: 2.5, attackerShareThreshold: 0.5 },
      mitigation: { mode: 'observe', escalation: { factor: 1 }, allowlist: ['10.0.0.0/8'] },
      agents: [{ url: 'http://host.docker.internal:12345', tokenSecretRef: { name: 't', key: 'token' } }],
    };
    const out = withDefaults(spec);
    assert.deepEqual(out.targetSelector, spec.targetSelector);
    assert.deepEqual(out.agents, spec.agents);
    assert.deepEqual(out.trigger, { memoryThresholdPercent: 90, pollIntervalSeconds: 3, continuous: false, schedule: '*/5 * * * *' });
    assert.equal(out.detection.windowSeconds, 2.5);
    assert.equal(out.detection.attackerShareThreshold, 0.5);
    assert.equal(out.detection.minPackets, 1000);
    assert.equal(out.mitigation.mode, 'observe');
    assert.deepEqual(out.mitigation.escalation, { factor: 1, maxBanDurationSeconds: 86400 });
    assert.deepEqual(out.mitigation.allowlist, ['10.0.0.0/8']);
    assert.equal(out.mitigation.banDurationSeconds, 60);
  });

  it('does not modify its input', () => {
    const spec = { detection: { windowSeconds: 3 } };
    const copy = structuredClone(spec);
    withDefaults(spec);
    assert.deepEqual(spec, copy);
  });

  it('replaces values of the wrong type instead of passing them on', () => {
    const out = withDefaults({
      trigger: { memoryThresholdPercent: '80', pollIntervalSeconds: 2.5, continuous: 'yes', schedule: '  ' },
      detection: { windowSeconds: null, attackerShareThreshold: Number.NaN, minPackets: Infinity, maxAttackers: 1.5 },
      mitigation: { mode: 'nuke', banDurationSeconds: '60', escalation: 'x', allowlist: ['10.0.0.1', 7], maxActiveBlocks: [] },
    });
    assert.deepEqual(out.trigger, FULL_DEFAULTS.trigger);
    assert.deepEqual(out.detection, FULL_DEFAULTS.detection);
    assert.deepEqual(out.mitigation, { ...FULL_DEFAULTS.mitigation, allowlist: ['10.0.0.1'] });
  });
});

describe('policyToThresholds', () => {
  it('maps the detection fields to the agent threshold keys, seed defaults when unset', () => {
    assert.deepEqual(policyToThresholds({}), {
      attackerShareThreshold: 0.2,
      minPackets: 1000,
      sourcePpsThreshold: 5000,
      victimPpsThreshold: 20000,
      maxAttackers: 100,
    });
  });

  it('passes the policy values; windowSeconds is not a threshold', () => {
    const t = policyToThresholds({
      detection: { windowSeconds: 3, attackerShareThreshold: 0.35, minPackets: 50, sourcePpsThreshold: 900, victimPpsThreshold: 4000, maxAttackers: 7 },
    });
    assert.deepEqual(t, { attackerShareThreshold: 0.35, minPackets: 50, sourcePpsThreshold: 900, victimPpsThreshold: 4000, maxAttackers: 7 });
    assert.ok(!('windowSeconds' in t));
  });

  it('is accepted by the agent as threshold overrides, and the agent keeps its byte-rate defaults', () => {
    const resolved = resolveThresholds(policyToThresholds({ detection: { attackerShareThreshold: 0.5 } }));
    assert.equal(resolved.attackerShareThreshold, 0.5);
    assert.equal(resolved.sourceBpsThreshold, DEFAULT_THRESHOLDS.sourceBpsThreshold);
    assert.equal(resolved.victimBpsThreshold, DEFAULT_THRESHOLDS.victimBpsThreshold);
  });

  it("has the agent's own defaults for the keys it sets", () => {
    const t = policyToThresholds({});
    for (const [k, v] of Object.entries(t)) assert.equal(v, DEFAULT_THRESHOLDS[k as keyof typeof DEFAULT_THRESHOLDS], k);
  });
});

describe('banDurationSeconds', () => {
  it('escalates by factor^(offences-1) up to the cap', () => {
    const spec = { mitigation: { banDurationSeconds: 60, escalation: { factor: 2, maxBanDurationSeconds: 300 } } };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => banDurationSeconds(spec, n)), [60, 120, 240, 300, 300]);
  });

  it('uses the defaults (60 s, x2, 1 day) and treats bad counts as a first offence', () => {
    assert.equal(banDurationSeconds({}), 60);
    assert.equal(banDurationSeconds({}, 2), 120);
    assert.equal(banDurationSeconds({}, 100), 86400);
    assert.equal(banDurationSeconds({}, 0), 60);
    assert.equal(banDurationSeconds({}, Number.NaN), 60);
  });

  it('never goes below banDurationSeconds or above 30 days', () => {
    assert.equal(banDurationSeconds({ mitigation: { banDurationSeconds: 600, escalation: { maxBanDurationSeconds: 60 } } }, 3), 600);
    assert.equal(banDurationSeconds({ mitigation: { banDurationSeconds: MAX_BAN_SECONDS, escalation: { factor: 100 } } }, 9), MAX_BAN_SECONDS);
    assert.equal(banDurationSeconds({ mitigation: { escalation: { factor: 1 } } }, 50), 60);
  });
});
