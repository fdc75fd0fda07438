import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { attacker, jsonOf, startTestApi, verdict, type TestApi } from './helpers.js';

describe('POST /v1/analyze', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());
  beforeEach(() => {
    api.analyzer.calls = [];
    api.analyzer.failWith = undefined;
    api.analyzer.isReady = true;
  });

  it('returns the AnalysisResult and passes window, thresholds and the default mode', async () => {
    api.analyzer.result = {
      verdict: verdict([attacker('198.51.100.7', 5000, 0.5)]),
      blockedStillSending: [{ ip: '203.0.113.9', packets: 10, pps: 1 }],
      firewallDrops: { packets: 3, bytes: 180 },
    };
    const res = await api.request('/v1/analyze', {
      method: 'POST',
      json: { windowSeconds: 10, thresholds: { attackerShareThreshold: 0.3, minPackets: 10 } },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), api.analyzer.result);
    assert.deepEqual(api.analyzer.calls, [
      { windowSeconds: 10, thresholds: { attackerShareThreshold: 0.3, minPackets: 10 }, mode: 'continuous' },
    ]);
  });

  it('passes an explicit mode', async () => {
    const res = await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 2.5, mode: 'window' } });
    assert.equal(res.status, 200);
    assert.deepEqual(api.analyzer.calls, [{ windowSeconds: 2.5, mode: 'window' }]);
  });

  it('passes an explicit trigger (the share rule then picks among all sources), and refuses an unknown one', async () => {
    const res = await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 1, trigger: 'memory' } });
    assert.equal(res.status, 200);
    assert.deepEqual(api.analyzer.calls, [{ windowSeconds: 1, trigger: 'memory', mode: 'continuous' }]);
    const bad = await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 1, trigger: 'panic' } });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /^trigger: must be one of api, trigger-defense, memory, annotation, schedule/);
  });

  it('refuses windows beyond the analyzer ring, and non-positive ones, with a clear message', async () => {
    for (const [windowSeconds, message] of [
      [301, /windowSeconds: must be at most 300 seconds/],
      [0, /windowSeconds: must be greater than 0/],
      [-5, /windowSeconds: must be greater than 0/],
      ['7', /windowSeconds: must be a number/],
    ] as const) {
      const res = await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds } });
      assert.equal(res.status, 400, String(windowSeconds));
      assert.match(String((await jsonOf(res)).error), message);
    }
    assert.equal(api.analyzer.calls.length, 0);
  });

  it('refuses a share threshold given as a percentage, with the fraction message', async () => {
    const res = await api.request('/v1/analyze', {
      method: 'POST',
      json: { windowSeconds: 5, thresholds: { attackerShareThreshold: 50 } },
    });
    assert.equal(res.status, 400);
    assert.match(String((await jsonOf(res)).error), /thresholds\.attackerShareThreshold: attackerShareThreshold is a fraction/);
  });

  it('answers 429 with Retry-After beyond maxConcurrentAnalyses, and serves again once released', async () => {
    api.analyzer.hold();
    const running = [1, 2].map(() => api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } }));
    await api.analyzer.waitForCalls(2);
    const refused = await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } });
    assert.equal(refused.status, 429);
    assert.match(refused.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
    assert.match(String((await jsonOf(refused)).error), /too many concurrent analyses \(limit 2\)/);
    // trigger-defense shares the same bound.
    const trigger = await api.request('/trigger-defense', { method: 'POST', json: {} });
    assert.equal(trigger.status, 429);
    assert.equal(api.analyzer.calls.length, 2);

    api.analyzer.release();
    for (const res of await Promise.all(running)) assert.equal(res.status, 200);
    assert.equal((await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } })).status, 200);
  });

  it('estimates Retry-After from the running window-mode analysis', async () => {
    api.analyzer.hold();
    const running = [1, 2].map(() =>
      api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 30, mode: 'window' } }),
    );
    await api.analyzer.waitForCalls(2);
    const refused = await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } });
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 29 && retryAfter <= 30, String(retryAfter));
    api.analyzer.release();
    await Promise.all(running);
  });

  it('hides analyzer failures behind a one-line 500, or 503 before the capture is ready', async () => {
    api.analyzer.failWith = new Error('ring exploded at /secret/path\n    at stack frame');
    let res = await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } });
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.doesNotMatch(text, /secret|stack frame|exploded/);
    assert.deepEqual(JSON.parse(text), { error: 'analysis failed (see the agent log)' });

    api.analyzer.isReady = false;
    res = await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } });
    assert.equal(res.status, 503);
  });
});

describe('GET /v1/traffic and probes', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('returns points for the default 60 s and for ?seconds=N', async () => {
    let res = await api.request('/v1/traffic');
    assert.equal(res.status, 200);
    const body = await jsonOf(res);
    assert.ok(Array.isArray(body.points));
    assert.equal((body.points as unknown[]).length, 1);
    res = await api.request('/v1/traffic?seconds=600');
    assert.equal(res.status, 200);
    assert.deepEqual(api.analyzer.trafficCalls, [60, 600]);
  });

  it('refuses seconds outside 1..600, non-integers, repeats and unknown parameters', async () => {
    api.analyzer.trafficCalls = [];
    for (const q of ['seconds=0', 'seconds=601', 'seconds=-1', 'seconds=1.5', 'seconds=1e2', 'seconds=abc', 'seconds=', 'seconds=5&seconds=6', 'secs=5', 'seconds[a]=1']) {
      const res = await api.request(`/v1/traffic?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(typeof (await jsonOf(res)).error, 'string');
    }
    assert.deepEqual(api.analyzer.trafficCalls, []);
  });

  it('/readyz follows analyzer.ready()', async () => {
    api.analyzer.isReady = false;
    let res = await api.request('/readyz');
    assert.equal(res.status, 503);
    assert.equal((await jsonOf(res)).status, 'not ready');
    api.analyzer.isReady = true;
    res = await api.request('/readyz');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ready' });
  });
});
