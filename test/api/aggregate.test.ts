// GET /v1/aggregate: the agent's last N seconds as a mergeable aggregate,
// from the real slot ring and analyzer, behind the token, validated by the
// one aggregate schema.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseAggregate } from '../../detection/aggregate.js';
import { SlotRing } from '../../agent/traffic/slot-ring.js';
import { RingTrafficAnalyzer } from '../../agent/traffic/traffic-analyzer.js';
import { buildSlots, fromSources } from '../detection/slot-fixtures.js';
import { startTestApi, type TestApi } from './helpers.js';

describe('GET /v1/aggregate', () => {
  let api: TestApi;
  before(async () => {
    const ring = new SlotRing();
    const start = Date.now() - 3000;
    for (const s of buildSlots(30, () => fromSources(200, { dst: '10.10.10.10', kind: 'udp', packets: 2, sport: 123 }, { firstOctet: 61 }), { startMs: start, widthMs: 100 })) ring.push(s);
    const analyzer = new RingTrafficAnalyzer({
      ring,
      activeBans: () => [],
      drops: () => ({ dropped: 0, ifDropped: 0, slotsDropped: 0 }),
      firewallDrops: async () => ({ packets: 0, bytes: 0 }),
      defaultMode: 'continuous',
      slotMs: 100,
      waitForSlotEnd: async () => undefined,
    });
    api = await startTestApi({ analyzer });
  });
  after(() => api.close());

  it('needs the token', async () => {
    assert.equal((await api.request('/v1/aggregate', { auth: false })).status, 401);
  });

  it('answers the window as an aggregate the merge accepts, with at most `sources` sources', async () => {
    const res = await api.request('/v1/aggregate?seconds=2&sources=50');
    assert.equal(res.status, 200);
    const agg = parseAggregate(await res.json());
    assert.equal(agg.sources.length, 50);
    assert.ok(agg.sourceFloor > 0, 'the list was cut: its floor is reported');
    assert.equal(agg.destinations[0]!.addr, '10.10.10.10');
    assert.equal(agg.destinations[0]!.udpSrcPorts[0]!.port, 123);
    assert.ok(Math.abs((agg.window.coverEnd - agg.window.coverStart) / 1000 - 2) < 0.01);
    assert.equal(agg.totals.inboundPackets, 20 * 200 * 2);
  });

  it('refuses a bad query with one line', async () => {
    const res = await api.request('/v1/aggregate?sources=999999');
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /^sources: /);
  });
});
