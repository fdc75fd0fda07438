// Sums across agents: each agent exports its window (GET /v1/aggregate), the
// exports merge (counters add, Space-Saving lists merge with their floors,
// HyperLogLog sketches union, baselines add) and the sum is judged. A flood
// spread over three nodes, under every threshold at each, is caught on the sum.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  analyzeWindow,
  Baselines,
  DEFAULT_THRESHOLDS,
  exportAggregate,
  judgeAggregate,
  mergeAggregates,
  mergeSlots,
  parseAggregate,
} from '../../detection/index.js';
import { buildSlots, fromSources, type Flow } from './slot-fixtures.js';

const VICTIM = '10.10.10.10';

/** What one of three nodes behind a load balancer sees: a third of the bots, a third of the clients. */
function node(k: number, slot: number): Flow[] {
  return [
    // UDP flood to port 80 from 3,000 bots, 45k pps in all: 15k pps per node, under the 20k ceiling.
    ...fromSources(1000, { dst: VICTIM, kind: 'udp', packets: 15, dport: 80, sport: 40000 }, { offset: k * 1000, firstOctet: 66 }),
    // A SYN flood of 2,400 pps in all: 800 per node, under the 1,000 pps floor.
    ...fromSources(800, { dst: VICTIM, kind: 'syn', packets: 1, dport: 443 }, { offset: (k * 800 + slot * 2400) % 60_000, firstOctet: 101 }),
    // The same 300 benign clients reach every node.
    ...fromSources(300, { dst: VICTIM, kind: 'ack', packets: 3, dport: 443, out: { packets: 3 } }, { firstOctet: 172 }),
  ];
}

const wire = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;

describe('aggregates across agents', () => {
  const perNode = [0, 1, 2].map((k) => mergeSlots(buildSlots(5, (i) => node(k, i))));

  it('no node alone sees an attack', () => {
    for (const w of perNode) assert.equal(judgeAggregate(w).underAttack, false);
  });

  it('the sum of the three exports is judged: UDP flood over the ceiling, SYN flood over the floor', () => {
    const exports = perNode.map((w) => parseAggregate(wire(exportAggregate(w))));
    const { window, baselines } = mergeAggregates(exports);
    assert.equal(window.totals.inboundPackets, perNode.reduce((n, w) => n + w.totals.inboundPackets, 0));
    const v = judgeAggregate(window, {}, { baselines });
    assert.equal(v.underAttack, true);
    const victim = v.victims[0]!;
    assert.equal(victim.ip, VICTIM);
    assert.deepEqual(victim.vectors.map((x) => [x.label, x.trigger]), [
      ['UDP flood (udp sport 40000, dport 80)', 'ceiling'],
      ['TCP SYN flood (tcp dport 443)', 'floor'],
    ]);
    assert.equal(Math.round(victim.pps), 45_000 + 2400 + 3 * 900);
    // The benign clients reached all three nodes: sketches union, they are not counted three times.
    assert.ok(v.totals.distinctSources < 3000 + 12_000 + 300 + 600, `distinct ${v.totals.distinctSources}`);
  });

  it('merging the same slots gives the verdict analyzing them together gives', () => {
    const slots = [0, 1, 2].flatMap((k) => buildSlots(5, (i) => node(k, i)));
    const whole = analyzeWindow(slots);
    const { window } = mergeAggregates(perNode.map((w) => parseAggregate(wire(exportAggregate(w, { maxSources: 20_000 })))));
    const merged = judgeAggregate(window);
    assert.deepEqual(merged.victims.map((x) => x.vectorDetail), whole.victims.map((x) => x.vectorDetail));
    assert.equal(merged.totals.inboundPackets, whole.totals.inboundPackets);
  });

  it('a cut source list keeps what unlisted sources may have sent as upper bounds', () => {
    const a = mergeSlots(buildSlots(1, () => [{ src: '192.0.2.1', dst: VICTIM, kind: 'udp', packets: 500 }, ...fromSources(50, { dst: VICTIM, kind: 'udp', packets: 10 })]));
    const b = mergeSlots(buildSlots(1, () => [{ src: '192.0.2.2', dst: VICTIM, kind: 'udp', packets: 400 }, ...fromSources(50, { dst: VICTIM, kind: 'udp', packets: 20 })]));
    const ea = parseAggregate(wire(exportAggregate(a, { maxSources: 1 })));
    const eb = parseAggregate(wire(exportAggregate(b, { maxSources: 1 })));
    assert.equal(ea.sourceFloor, 500);
    const { window } = mergeAggregates([ea, eb]);
    const s1 = window.sources.find((s) => s.addr === '192.0.2.1')!;
    assert.equal(s1.packets, 500, 'the lower bound is what was listed');
    assert.equal(s1.packetsUpperBound, 500 + 400, 'it may have sent up to the other list\u2019s floor there');
  });

  it('baselines add up: the sum of three warm nodes is warm with the summed mean', () => {
    const exports = [0, 1, 2].map((k) => {
      const b = new Baselines();
      for (let i = 0; i < 70; i++) b.learnSlots(buildSlots(1, () => fromSources(100, { dst: VICTIM, kind: 'ack', packets: k + 1 }), { startMs: 1_700_000_000_000 + i * 1000 }), DEFAULT_THRESHOLDS);
      return parseAggregate(wire(exportAggregate(mergeSlots(buildSlots(1, () => fromSources(100, { dst: VICTIM, kind: 'ack', packets: 1 }))), { baselines: b })));
    });
    const { baselines } = mergeAggregates(exports);
    const view = baselines.view(VICTIM)!;
    assert.ok(view.seconds >= 70);
    assert.ok(Math.abs(view.stat('pps').mean - 600) < 1, `mean ${view.stat('pps').mean}`);
  });

  it('the schema refuses what an agent must not send', () => {
    const good = wire(exportAggregate(perNode[0]!)) as Record<string, unknown>;
    assert.doesNotThrow(() => parseAggregate(good));
    const bad: [string, unknown][] = [
      ['version', { ...good, version: 2 }],
      ['unknown field', { ...good, extra: true }],
      ['negative counter', { ...good, totals: { ...(good.totals as object), packets: -1 } }],
      ['sketch size', { ...good, sourceSketch: Buffer.alloc(10).toString('base64') }],
      ['address', { ...good, sources: [{ ...(good.sources as object[])[0], addr: 'evil.example' }] }],
      ['window', { ...good, window: { start: 10, end: 5, coverStart: 0, coverEnd: 0 } }],
    ];
    for (const [what, input] of bad) assert.throws(() => parseAggregate(input), /./, what);
  });
});
