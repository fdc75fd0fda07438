import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Counter } from 'prom-client';
import { createAgentApi } from '../../agent/api/app.js';
import { attacker, capturingLogger, FakeAnalyzer, RecordingBanService, startTestApi, TOKEN, verdict, type TestApi } from './helpers.js';

describe('GET /metrics', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
    // The registry is the agent's: metrics registered elsewhere must show too.
    new Counter({ name: 'floodgate_other_total', help: 'registered by another module', registers: [api.registry] }).inc();
  });
  after(() => api.close());

  it('exposes HTTP, analysis and shared-registry metrics in Prometheus text format', async () => {
    await api.request('/v1/blocks');
    await api.request('/v1/blocks/10.0.0.0%2F24', { method: 'DELETE' });
    await api.request('/v1/blocks', { method: 'POST', json: { ip: 'nope', durationSeconds: 1, reason: 'x' } });
    await api.request('/nope');
    await api.request('/v1/blocks', { auth: false });
    api.analyzer.result = { ...api.analyzer.result, verdict: verdict([attacker('198.51.100.7', 10, 0.5)]) };
    await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } });
    api.analyzer.result = { ...api.analyzer.result, verdict: verdict([]) };
    await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } });

    const res = await api.request('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const line of [
      'floodgate_api_requests_total{method="GET",route="/v1/blocks",status="200"} 1',
      'floodgate_api_requests_total{method="DELETE",route="/v1/blocks/:ip",status="200"} 1',
      'floodgate_api_requests_total{method="POST",route="/v1/blocks",status="400"} 1',
      'floodgate_api_requests_total{method="GET",route="unmatched",status="404"} 1',
      'floodgate_api_requests_total{method="GET",route="unmatched",status="401"} 1',
      'floodgate_api_request_duration_seconds_count{method="POST",route="/v1/analyze"} 2',
      'floodgate_api_analyses_total{result="attack"} 1',
      'floodgate_api_analyses_total{result="clean"} 1',
      'floodgate_api_analyses_in_flight 0',
      'floodgate_other_total 1',
    ]) {
      assert.ok(text.includes(line), `missing: ${line}\n${text}`);
    }
    assert.match(text, /# TYPE floodgate_api_request_duration_seconds histogram/);
  });

  it('counts rejected analyses and shows the in-flight gauge', async () => {
    const before = api.analyzer.calls.length;
    api.analyzer.hold();
    const running = [1, 2].map(() => api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } }));
    await api.analyzer.waitForCalls(before + 2);
    await api.request('/v1/analyze', { method: 'POST', json: { windowSeconds: 5 } });
    const text = await (await api.request('/metrics')).text();
    assert.ok(text.includes('floodgate_api_analyses_in_flight 2'), text);
    assert.ok(text.includes('floodgate_api_analyses_total{result="rejected"} 1'), text);
    api.analyzer.release();
    await Promise.all(running);
  });

  it('needs the token', async () => {
    assert.equal((await api.request('/metrics', { auth: false })).status, 401);
  });

  it('a second app on the same registry reuses the metrics instead of throwing', () => {
    assert.doesNotThrow(() =>
      createAgentApi({
        analyzer: new FakeAnalyzer(),
        bans: new RecordingBanService(),
        logger: capturingLogger().logger,
        registry: api.registry,
        limits: { maxConcurrentAnalyses: 1 },
        defaultMode: 'continuous',
        token: TOKEN,
      }),
    );
  });
});

describe('request logging', () => {
  it('logs one pino-http style line per request, without the token', async () => {
    const api = await startTestApi();
    try {
      await api.request('/v1/blocks?x=1');
      await api.request('/healthz');
      await api.request('/v1/blocks', { auth: false });
      const requests = api.lines.filter((l) => l.msg === 'request completed');
      assert.equal(requests.length, 3);
      const [list, health, denied] = requests as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
      assert.deepEqual((list.req as Record<string, unknown>).url, '/v1/blocks?x=1');
      assert.deepEqual(list.res, { statusCode: 200 });
      assert.equal(list.route, '/v1/blocks');
      assert.equal(typeof list.responseTime, 'number');
      assert.equal(list.level, 30);
      assert.equal(health.level, 20, 'successful probes log at debug');
      assert.equal(denied.level, 40, '4xx logs at warn');
      assert.ok(!JSON.stringify(api.lines).includes(TOKEN));
    } finally {
      await api.close();
    }
  });
});
