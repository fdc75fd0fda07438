// GET /v1/talkers: the heaviest inbound sources of a window, with share,
// rates, protocol mix and whether a ban covers them; no verdict, no bans.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { topTalkers } from '../../agent/traffic/top-talkers.js';
import { SlotRing } from '../../agent/traffic/slot-ring.js';
import { RingTrafficAnalyzer } from '../../agent/traffic/traffic-analyzer.js';
import { buildSlot, buildSlots } from '../detection/slot-fixtures.js';
import { startTestApi, type TestApi } from './helpers.js';

describe('topTalkers over slots', () => {
  // 4 one-second slots: a SYN flood, a UDP+ICMP source, and a light ICMP source.
  const slots = buildSlots(4, () => [
    { src: '198.51.100.7', dst: '10.0.0.1', kind: 'syn', packets: 900 },
    { src: '203.0.113.5', dst: '10.0.0.1', kind: 'udp', packets: 60 },
    { src: '203.0.113.5', dst: '10.0.0.1', kind: 'icmp', packets: 20 },
    { src: '192.0.2.9', dst: '10.0.0.1', kind: 'icmp', packets: 20 },
  ]);

  it('lists sources heaviest first with share, pps, bps, protocol mix and the blocked flag', () => {
    const r = topTalkers(slots, (ip) => ip === '198.51.100.7', 10);
    assert.equal(r.inboundPackets, 4000);
    assert.equal(r.window?.seconds, 4);
    assert.deepEqual(r.talkers.map((t) => t.ip), ['198.51.100.7', '203.0.113.5', '192.0.2.9']);
    const [flood, mixed, light] = r.talkers;
    assert.equal(flood!.packets, 3600);
    assert.equal(flood!.share, 0.9);
    assert.equal(flood!.pps, 900);
    assert.equal(flood!.bps, 900 * 60 * 8);
    assert.equal(flood!.blocked, true);
    assert.deepEqual(mixed!.protocols, { tcp: 0, udp: 240, icmp: 80, other: 0 });
    assert.equal(mixed!.blocked, false);
    assert.equal(light!.share, 0.02);
  });

  it('keeps only `limit` sources and answers an empty window without a window', () => {
    assert.equal(topTalkers(slots, () => false, 2).talkers.length, 2);
    assert.deepEqual(topTalkers([], () => false, 5), { window: null, inboundPackets: 0, talkers: [] });
  });
});

describe('RingTrafficAnalyzer.talkers', () => {
  it('answers over the last N seconds of the ring and marks sources inside a banned CIDR', () => {
    const ring = new SlotRing();
    // 30 slots of 100 ms: 203.0.113.7 sends throughout, 192.0.2.50 only in the first second.
    for (let i = 0; i < 30; i++) {
      const flows = [{ src: '203.0.113.7', dst: '10.0.0.1', kind: 'syn' as const, packets: 100 }];
      if (i < 10) flows.push({ src: '192.0.2.50', dst: '10.0.0.1', kind: 'syn' as const, packets: 500 });
      ring.push(buildSlot({ start: 1_700_000_000_000 + i * 100, widthMs: 100, flows }));
    }
    const analyzer = new RingTrafficAnalyzer({
      ring,
      activeBans: () => ['203.0.113.0/24'],
      drops: () => ({ dropped: 0, ifDropped: 0, slotsDropped: 0 }),
      firewallDrops: async () => ({ packets: 0, bytes: 0 }),
      defaultMode: 'continuous',
      slotMs: 100,
      waitForSlotEnd: async () => undefined,
    });
    const last = analyzer.talkers(1, 10);
    assert.deepEqual(last.talkers.map((t) => [t.ip, t.packets, t.blocked]), [['203.0.113.7', 1000, true]]);
    const all = analyzer.talkers(3, 10);
    assert.deepEqual(all.talkers.map((t) => [t.ip, t.packets, t.blocked]), [['192.0.2.50', 5000, false], ['203.0.113.7', 3000, true]]);
  });
});

describe('GET /v1/talkers', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());
  beforeEach(() => {
    api.analyzer.talkersCalls = [];
  });

  it('needs the token', async () => {
    assert.equal((await api.request('/v1/talkers', { auth: false })).status, 401);
  });

  it('defaults to the last 7 s and 20 sources, and passes explicit ones', async () => {
    assert.equal((await api.request('/v1/talkers')).status, 200);
    assert.equal((await api.request('/v1/talkers?seconds=30&limit=5')).status, 200);
    assert.deepEqual(api.analyzer.talkersCalls, [[7, 20], [30, 5]]);
  });

  it('refuses a bad limit or window with one line and asks nothing of the analyzer', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'seconds=601', 'other=1']) {
      const res = await api.request(`/v1/talkers?${q}`);
      assert.equal(res.status, 400, q);
      const { error } = (await res.json()) as { error: string };
      assert.ok(error && !error.includes('\n'), `${q}: ${error}`);
    }
    assert.deepEqual(api.analyzer.talkersCalls, []);
  });
});
