// DashboardData against a real agent API server (loopback, fake analyzer):
// however many browsers ask at once, each agent gets one request per kind
// per TTL; answers are reshaped for the chart; a dead agent is an error line,
// not a failed page.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startTestApi, type TestApi } from '../../test/api/helpers.js';
import { AgentResolver } from '../agents/agent-resolver.js';
import { DEFENSE_POLICY, resolved, type DefensePolicy } from '../../api/v1alpha1/index.js';
import { MemoryMonitor } from '../memory/memory-monitor.js';
import { DashboardData } from './dashboard-data.js';

const policyFor = (...urls: string[]): DefensePolicy =>
  resolved(DEFENSE_POLICY, {
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'DefensePolicy',
    metadata: { namespace: 'prod', name: 'web' },
    spec: { detection: { windowSeconds: 5 }, agents: urls.map((url) => ({ url })) },
  });

describe('dashboard data from agents', () => {
  let agent: TestApi;
  let clock = Date.parse('2025-01-01T00:00:00Z');
  let data: DashboardData;
  before(async () => {
    agent = await startTestApi({ noToken: true });
    data = new DashboardData({
      listPolicies: () => [policyFor(agent.url)],
      listPods: async () => [],
      // Explicit agents without a token Secret: the resolver never calls the API server.
      resolver: new AgentResolver(undefined as never),
      memory: new MemoryMonitor([]),
      logger: pino({ level: 'silent' }),
      now: () => clock,
    });
  });
  after(() => agent.close());

  it('turns the agent series into chart columns: seconds, packets/s, bits/s', async () => {
    const [series] = await data.traffic();
    assert.deepEqual(series, { agent: agent.url, t: [Date.parse('2024-01-01T00:00:00Z') / 1000], pps: [8], bps: [480 * 8] });
  });

  it('many simultaneous browsers cost each agent one request per TTL', async () => {
    clock += 5000;
    agent.analyzer.trafficCalls = [];
    agent.analyzer.talkersCalls = [];
    await Promise.all(Array.from({ length: 25 }, () => Promise.all([data.traffic(), data.topTalkers()])));
    assert.deepEqual(agent.analyzer.trafficCalls, [600]);
    // The talkers window is the policy's windowSeconds.
    assert.deepEqual(agent.analyzer.talkersCalls, [[5, 20]]);
    await data.traffic();
    assert.equal(agent.analyzer.trafficCalls.length, 1, 'still cached within the TTL');
    clock += 1500;
    await data.traffic();
    assert.equal(agent.analyzer.trafficCalls.length, 2, 'asked again once the TTL passed');
  });

  it('reports an unreachable agent per agent instead of failing', async () => {
    const dead = new DashboardData({
      listPolicies: () => [policyFor(agent.url, 'http://127.0.0.1:9')],
      listPods: async () => [],
      resolver: new AgentResolver(undefined as never),
      memory: new MemoryMonitor([]),
      logger: pino({ level: 'silent' }),
    });
    const series = await dead.traffic();
    assert.equal(series.length, 2);
    assert.equal(series[0]!.error, undefined);
    assert.match(series[1]!.error ?? '', /cannot reach agent http:\/\/127\.0\.0\.1:9/);
    const { errors } = await dead.attacks();
    assert.deepEqual(errors.map((e) => e.agent), ['http://127.0.0.1:9']);
  });
});
