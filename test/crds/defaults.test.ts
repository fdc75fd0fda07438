/**
 * api/v1alpha1: defaults come from parsing with the kind's schema (resolveSpec,
 * resolveObject), the policy's detection defaults are the agent's own, and
 * ban escalation reads the resolved spec.
 *
 *   node --test dist/test/crds/defaults.test.js
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_THRESHOLDS, detectionThresholdOverridesSchema, resolveThresholds } from '../../detection/defaults.js';
import { MAX_BAN_SECONDS } from '../../api/ban-time.js';
import {
  BLOCK_EVENT,
  DEFENSE_POLICY,
  banDurationSeconds,
  defensePolicySpecSchema,
  resolveObject,
  resolveSpec,
  resolved,
  type DefensePolicySpec,
  type DefensePolicySpecInput,
} from '../../api/v1alpha1/index.js';

const FULL_DEFAULTS = {
  trigger: { memoryThresholdPercent: 75, pollIntervalSeconds: 3, continuous: false },
  detection: {
    windowSeconds: 7,
    attackerShareThreshold: 0.2,
    minPackets: 1000,
    sourcePpsThreshold: 5000,
    sourceBpsThreshold: 100e6,
    victimPpsThreshold: 20000,
    victimBpsThreshold: 1e9,
    maxAttackers: 100,
    synFloodPps: 1000,
    reflectionPps: 1000,
    fragmentPps: 20,
    fragmentShare: 0.1,
    badFlagsPps: 100,
    icmpFloodPps: 1000,
    rstFloodPps: 1000,
    baselineSigmas: 5,
    baselineMinPps: 100,
    baselineMinRatio: 3,
    warmupSeconds: 60,
    baselineHalfLifeSeconds: 300,
  },
  mitigation: {
    mode: 'block',
    banDurationSeconds: 60,
    escalation: { factor: 2, maxBanDurationSeconds: 86400 },
    maxActiveBlocks: 1000,
    signatures: 'auto',
    signatureLimits: { durationSeconds: 300, maxActive: 16, maxDurationSeconds: 86400 },
  },
};

/** A resolved spec from a literal (test input must be valid). */
const spec = (s: DefensePolicySpecInput): DefensePolicySpec => {
  const r = resolveSpec(defensePolicySpecSchema, s);
  assert.deepEqual(r.problems, []);
  return r.spec;
};

describe('resolveSpec (defaults by parsing the DefensePolicy schema)', () => {
  it('fills an empty spec with the seed defaults (an object stored before defaults existed)', () => {
    for (const empty of [{}, undefined, null]) {
      const r = resolveSpec(defensePolicySpecSchema, empty);
      assert.deepEqual(r, { spec: FULL_DEFAULTS, problems: [] });
    }
  });

  it("uses the agent's own detection defaults (one declaration, detection/defaults.ts)", () => {
    const { windowSeconds, ...thresholds } = spec({}).detection;
    assert.equal(windowSeconds, 7);
    assert.deepEqual(thresholds, DEFAULT_THRESHOLDS);
  });

  it('keeps the values that are set, and the other spec fields', () => {
    const input: DefensePolicySpecInput = {
      targetSelector: { matchLabels: { app: 'web' } },
      trigger: { memoryThresholdPercent: 90, schedule: '*/5 * * * *' },
      detection: { windowSeconds: 2.5, attackerShareThreshold: 0.5 },
      mitigation: { mode: 'observe', escalation: { factor: 1 }, allowlist: ['10.0.0.0/8'] },
      agents: [{ url: 'http://host.docker.internal:12345', tokenSecretRef: { name: 't', key: 'token' } }],
    };
    const out = spec(input);
    assert.deepEqual(out.targetSelector, input.targetSelector);
    assert.deepEqual(out.agents, input.agents);
    assert.deepEqual(out.trigger, { memoryThresholdPercent: 90, pollIntervalSeconds: 3, continuous: false, schedule: '*/5 * * * *' });
    assert.equal(out.detection.windowSeconds, 2.5);
    assert.equal(out.detection.attackerShareThreshold, 0.5);
    assert.equal(out.detection.minPackets, 1000);
    assert.equal(out.mitigation.mode, 'observe');
    assert.deepEqual(out.mitigation.escalation, { factor: 1, maxBanDurationSeconds: 86400 });
    assert.deepEqual(out.mitigation.allowlist, ['10.0.0.0/8']);
    assert.equal(out.mitigation.banDurationSeconds, 60);
  });

  it('does not modify its input, and drops unknown fields (as the API server prunes them)', () => {
    const input = { detection: { windowSeconds: 3, windw: 9 }, bogus: true };
    const copy = structuredClone(input);
    const r = resolveSpec(defensePolicySpecSchema, input);
    assert.deepEqual(input, copy);
    assert.deepEqual(r.problems, []);
    assert.ok(!('bogus' in r.spec));
    assert.ok(!('windw' in r.spec.detection));
  });

  it('an object the schema rejects: every problem listed, each bad field replaced by its default', () => {
    const r = resolveSpec(defensePolicySpecSchema, {
      trigger: { memoryThresholdPercent: '80', pollIntervalSeconds: 2.5, continuous: 'yes' },
      detection: { windowSeconds: null, attackerShareThreshold: 50, minPackets: Infinity, maxAttackers: 1.5 },
      mitigation: { mode: 'nuke', banDurationSeconds: MAX_BAN_SECONDS + 1, escalation: 'x', allowlist: ['10.0.0.1', '10.0.0.0/33'], maxActiveBlocks: [] },
    });
    assert.deepEqual(r.spec.trigger, FULL_DEFAULTS.trigger);
    assert.deepEqual(r.spec.detection, FULL_DEFAULTS.detection);
    assert.deepEqual(r.spec.mitigation, { ...FULL_DEFAULTS.mitigation, allowlist: ['10.0.0.1'] });
    const fields = r.problems.map((p) => p.split(':')[0]);
    assert.deepEqual(fields, [
      'spec.trigger.memoryThresholdPercent',
      'spec.trigger.pollIntervalSeconds',
      'spec.trigger.continuous',
      'spec.detection.windowSeconds',
      'spec.detection.attackerShareThreshold',
      'spec.detection.minPackets',
      'spec.detection.maxAttackers',
      'spec.mitigation.mode',
      'spec.mitigation.banDurationSeconds',
      'spec.mitigation.escalation',
      'spec.mitigation.allowlist.1',
      'spec.mitigation.maxActiveBlocks',
    ]);
    assert.match(r.problems[4]!, /fraction/, "the agent's own message for the share");
  });

  it('drops an invalid list entry, and the parent of a bad required field', () => {
    const r = resolveSpec(defensePolicySpecSchema, {
      agents: [{ url: 'http://ok:1' }, { url: 'ftp://x' }, { tokenSecretRef: { name: 'Bad_Name', key: 'k' }, url: 'http://b:1' }],
    });
    assert.deepEqual(r.spec.agents, [{ url: 'http://ok:1' }, { url: 'http://b:1' }]);
    assert.deepEqual(
      r.problems.map((p) => p.split(':')[0]),
      ['spec.agents.1.url', 'spec.agents.2.tokenSecretRef.name'],
    );
  });
});

describe('resolveObject / resolved', () => {
  it('resolves the spec and passes metadata and status through', () => {
    const obj = {
      apiVersion: 'floodgate.dev/v1alpha1',
      kind: 'DefensePolicy',
      metadata: { name: 'p', namespace: 'n', resourceVersion: '7' },
      spec: { agentSelector: {} },
      status: { activeBlocks: 3 },
    };
    const r = resolveObject(DEFENSE_POLICY, obj);
    assert.deepEqual(r.problems, []);
    assert.equal(r.object.metadata, obj.metadata);
    assert.equal(r.object.status, obj.status);
    assert.deepEqual(r.object.spec, { ...FULL_DEFAULTS, agentSelector: {} });
  });

  it('a BlockEvent whose own required field is invalid stays unresolved and says so', () => {
    const r = resolveObject(BLOCK_EVENT, { metadata: { name: 'b' }, spec: { ip: '1.2.3.999', durationSeconds: 60 } });
    assert.equal(r.object.spec.ip, '1.2.3.999');
    assert.deepEqual(r.problems.map((p) => p.split(':')[0]), ['spec.ip', 'spec']);
  });

  it('resolved() throws on an invalid object (objects built in code must be valid)', () => {
    assert.throws(
      () => resolved(BLOCK_EVENT, { apiVersion: 'floodgate.dev/v1alpha1', kind: 'BlockEvent', metadata: {}, spec: { ip: '1.2.3.4', durationSeconds: 0 } }),
      /invalid BlockEvent: spec\.durationSeconds/,
    );
  });
});

describe("the policy's thresholds on the agent", () => {
  it('spec.detection without windowSeconds is a valid set of agent threshold overrides', () => {
    const { windowSeconds: _w, ...thresholds } = spec({ detection: { attackerShareThreshold: 0.5, sourceBpsThreshold: 5e6 } }).detection;
    assert.ok(detectionThresholdOverridesSchema.safeParse(thresholds).success);
    const onAgent = resolveThresholds(thresholds);
    assert.equal(onAgent.attackerShareThreshold, 0.5);
    assert.equal(onAgent.sourceBpsThreshold, 5e6);
    assert.equal(onAgent.victimBpsThreshold, DEFAULT_THRESHOLDS.victimBpsThreshold);
  });

  it('the policy and the agent refuse the same values, with the same message', () => {
    const policy = resolveSpec(defensePolicySpecSchema, { detection: { attackerShareThreshold: 50 } }).problems;
    assert.throws(() => resolveThresholds({ attackerShareThreshold: 50 }), (err: Error) => err.message.includes(policy[0]!.split(': ').slice(1).join(': ')));
  });
});

describe('banDurationSeconds', () => {
  it('escalates by factor^(offences-1) up to the cap', () => {
    const s = spec({ mitigation: { banDurationSeconds: 60, escalation: { factor: 2, maxBanDurationSeconds: 300 } } });
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => banDurationSeconds(s, n)), [60, 120, 240, 300, 300]);
  });

  it('uses the defaults (60 s, x2, 1 day) and treats bad counts as a first offence', () => {
    assert.equal(banDurationSeconds(spec({})), 60);
    assert.equal(banDurationSeconds(spec({}), 2), 120);
    assert.equal(banDurationSeconds(spec({}), 100), 86400);
    assert.equal(banDurationSeconds(spec({}), 0), 60);
    assert.equal(banDurationSeconds(spec({}), Number.NaN), 60);
  });

  it('never goes below banDurationSeconds or above 30 days', () => {
    assert.equal(banDurationSeconds(spec({ mitigation: { banDurationSeconds: 600, escalation: { maxBanDurationSeconds: 60 } } }), 3), 600);
    assert.equal(banDurationSeconds(spec({ mitigation: { banDurationSeconds: MAX_BAN_SECONDS, escalation: { factor: 100 } } }), 9), MAX_BAN_SECONDS);
    assert.equal(banDurationSeconds(spec({ mitigation: { escalation: { factor: 1 } } }), 50), 60);
  });
});
