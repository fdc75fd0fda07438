import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { TriggerDefenseResponse } from '../../api/agent/v1/types.js';
import { attacker, jsonOf, startTestApi, verdict, type TestApi } from './helpers.js';

describe('POST /trigger-defense', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ defaultMode: 'window' });
  });
  after(() => api.close());
  beforeEach(() => {
    api.bans.bans.clear();
    api.bans.calls = [];
    api.bans.refuse.clear();
    api.bans.failure = undefined;
    api.analyzer.calls = [];
    api.analyzer.result = {
      verdict: verdict([attacker('198.51.100.7', 4200, 0.42), attacker('198.51.100.8', 2500, 0.25)]),
      blockedStillSending: [],
      firewallDrops: { packets: 0, bytes: 0 },
    };
  });

  // The seed's curl, byte for byte: -d '{"wait_time": 7, "thresholdAttacker": 0.2, "ban_duration": 60}'
  const seedBody = '{"wait_time": 7, "thresholdAttacker": 0.2, "ban_duration": 60}';

  it("works with the seed's curl body: analyzes, bans every attacker, answers the seed's shape", async () => {
    const res = await api.request('/trigger-defense', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: seedBody,
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as TriggerDefenseResponse;
    assert.deepEqual(api.analyzer.calls, [
      { windowSeconds: 7, thresholds: { attackerShareThreshold: 0.2 }, trigger: 'trigger-defense', mode: 'window' },
    ]);
    assert.equal(body.under_attack, true);
    assert.equal(body.ip, '198.51.100.7');
    assert.deepEqual(body.ip_counts, { '198.51.100.7': 4200, '198.51.100.8': 2500 });
    assert.deepEqual(body.banned.map((b) => b.cidr), ['198.51.100.7/32', '198.51.100.8/32']);
    assert.deepEqual(body.refused, []);
    assert.equal(body.verdict.attackers.length, 2);
    assert.deepEqual(api.bans.calls[0], {
      method: 'block',
      arg: { cidr: '198.51.100.7', durationSeconds: 60, reason: 'share 0.42 > 0.2', policy: 'trigger-defense', source: 'api' },
    });
  });

  it("accepts the seed code's spelling tresholdAttacker", async () => {
    const res = await api.request('/trigger-defense', {
      method: 'POST',
      json: { wait_time: 3, tresholdAttacker: 0.3, ban_duration: 120 },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(api.analyzer.calls[0]?.thresholds, { attackerShareThreshold: 0.3 });
    assert.equal(api.analyzer.calls[0]?.windowSeconds, 3);
    assert.equal((api.bans.calls[0]?.arg as { durationSeconds: number }).durationSeconds, 120);
  });

  it('accepts both spellings when they agree, refuses them when they differ', async () => {
    let res = await api.request('/trigger-defense', { method: 'POST', json: { thresholdAttacker: 0.3, tresholdAttacker: 0.3 } });
    assert.equal(res.status, 200);
    api.analyzer.calls = [];
    api.bans.calls = [];
    res = await api.request('/trigger-defense', { method: 'POST', json: { thresholdAttacker: 0.3, tresholdAttacker: 0.4 } });
    assert.equal(res.status, 400);
    assert.match(String((await jsonOf(res)).error), /disagree/);
    assert.equal(api.analyzer.calls.length, 0);
    assert.equal(api.bans.calls.length, 0);
  });

  it('refuses a percentage with a clear 400', async () => {
    for (const field of ['thresholdAttacker', 'tresholdAttacker']) {
      const res = await api.request('/trigger-defense', { method: 'POST', json: { wait_time: 7, [field]: 50, ban_duration: 60 } });
      assert.equal(res.status, 400);
      assert.deepEqual(await res.json(), { error: `${field} is a fraction in (0, 1]: use 0.5 for 50%` });
    }
    for (const value of [0, -0.1, 1000]) {
      const res = await api.request('/trigger-defense', { method: 'POST', json: { thresholdAttacker: value } });
      assert.equal(res.status, 400);
      assert.match(String((await jsonOf(res)).error), /thresholdAttacker is a fraction in \(0, 1\]/);
    }
    const res = await api.request('/trigger-defense', { method: 'POST', json: { thresholdAttacker: '0.2' } });
    assert.deepEqual(await res.json(), { error: 'thresholdAttacker: must be a number' });
    assert.equal(api.analyzer.calls.length, 0);
    assert.equal(api.bans.calls.length, 0);
  });

  it("uses the seed's defaults (7 s, 0.2, 60 s) for an empty body and for a bare POST that declares JSON", async () => {
    // The seed's client always sent Content-Type: application/json; a POST without it is refused (415, test/security).
    for (const init of [{ json: {} }, { headers: { 'content-type': 'application/json' } }]) {
      api.analyzer.calls = [];
      api.bans.calls = [];
      const res = await api.request('/trigger-defense', { method: 'POST', ...init });
      assert.equal(res.status, 200);
      assert.deepEqual(api.analyzer.calls, [{ windowSeconds: 7, thresholds: { attackerShareThreshold: 0.2 }, trigger: 'trigger-defense', mode: 'window' }]);
      assert.equal((api.bans.calls[0]?.arg as { durationSeconds: number }).durationSeconds, 60);
    }
  });

  it('defaults wait_time to the longest window when the agent keeps less than 7 s', async () => {
    api.analyzer.maxWindowSeconds = 5;
    try {
      assert.equal((await api.request('/trigger-defense', { method: 'POST', json: {} })).status, 200);
      assert.equal(api.analyzer.calls[0]?.windowSeconds, 5);
      assert.equal((await api.request('/trigger-defense', { method: 'POST', json: { wait_time: 7 } })).status, 400);
    } finally {
      api.analyzer.maxWindowSeconds = 300;
    }
  });

  it('collects refusals and keeps banning the rest', async () => {
    api.bans.refuse.set('198.51.100.7', 'never_block');
    const res = await api.request('/trigger-defense', { method: 'POST', body: seedBody, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as TriggerDefenseResponse;
    assert.deepEqual(body.refused, [{ ip: '198.51.100.7', reason: '198.51.100.7 refused: never_block' }]);
    assert.deepEqual(body.banned.map((b) => b.cidr), ['198.51.100.8/32']);
  });

  it('reports a firewall failure per address without leaking it', async () => {
    api.bans.failure = new Error('nft: secret detail');
    const body = (await (await api.request('/trigger-defense', { method: 'POST', json: {} })).json()) as TriggerDefenseResponse;
    assert.deepEqual(body.banned, []);
    assert.deepEqual(body.refused, [
      { ip: '198.51.100.7', reason: 'ban failed (see the agent log)' },
      { ip: '198.51.100.8', reason: 'ban failed (see the agent log)' },
    ]);
  });

  it('reports a quiet window: no attackers, ip null, top source counted, nothing banned', async () => {
    api.analyzer.result = { verdict: verdict([]), blockedStillSending: [], firewallDrops: { packets: 0, bytes: 0 } };
    const res = await api.request('/trigger-defense', { method: 'POST', json: {} });
    const body = (await res.json()) as TriggerDefenseResponse;
    assert.equal(body.under_attack, false);
    assert.equal(body.ip, null);
    assert.deepEqual(body.ip_counts, { '192.0.2.200': 100 });
    assert.deepEqual(body.banned, []);
    assert.equal(api.bans.calls.length, 0);
  });

  it('lists at most 20 attackers in ip_counts, heaviest first, plus the top source', async () => {
    const many = Array.from({ length: 30 }, (_, i) => attacker(`198.51.100.${i + 1}`, 1000 + i, 0.01));
    api.analyzer.result = { verdict: verdict(many), blockedStillSending: [], firewallDrops: { packets: 0, bytes: 0 } };
    api.analyzer.result.verdict.topSource = { ip: '203.0.113.1', packets: 5000, share: 0.3 };
    const body = (await (await api.request('/trigger-defense', { method: 'POST', json: {} })).json()) as TriggerDefenseResponse;
    const ips = Object.keys(body.ip_counts);
    assert.equal(ips.length, 21);
    assert.equal(body.ip_counts['198.51.100.30'], 1029);
    assert.equal(body.ip_counts['198.51.100.10'], undefined);
    assert.equal(body.ip_counts['203.0.113.1'], 5000);
    assert.equal(body.banned.length, 30);
  });

  it('refuses wait_time beyond the ring and bad ban durations', async () => {
    for (const json of [{ wait_time: 301 }, { wait_time: 0 }, { ban_duration: 0 }, { ban_duration: 2592001 }, { ban_duration: 1.5 }, { waitTime: 7 }]) {
      const res = await api.request('/trigger-defense', { method: 'POST', json });
      assert.equal(res.status, 400, JSON.stringify(json));
    }
    assert.equal(api.analyzer.calls.length, 0);
  });
});
