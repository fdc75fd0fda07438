import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, mergeSlots, type WindowAggregate } from '../../detection/window-merge.js';
import type { AddressCounters, Slot } from '../../native/lib/types.js';
import { buildSlot, buildSlots, emptyCounters, fromSources, ipv4, sourceOnlySlot, type Flow } from './slot-fixtures.js';

function byAddr(w: WindowAggregate): Map<string, AddressCounters> {
  return new Map(w.sources.map((s) => [s.addr, s]));
}

const T0 = 1_700_000_000_000;
const VICTIM = '10.10.10.10';

describe('mergeSlots', () => {
  it('sums per-source counters by address across slots', () => {
    const slots = [
      buildSlot({ start: T0, flows: [{ src: '1.1.1.1', dst: VICTIM, kind: 'syn', packets: 10 }] }),
      buildSlot({
        start: T0 + 1000,
        flows: [
          { src: '1.1.1.1', dst: VICTIM, kind: 'udp', packets: 5, packetBytes: 100 },
          { src: '2.2.2.2', dst: VICTIM, kind: 'icmp', packets: 3 },
        ],
      }),
    ];
    const w = mergeSlots(slots);
    const sources = byAddr(w);
    const a = sources.get('1.1.1.1');
    assert.ok(a);
    assert.equal(a.packets, 15);
    assert.equal(a.packetsUpperBound, 15);
    assert.equal(a.bytes, 10 * 60 + 5 * 100);
    assert.equal(a.tcp, 10);
    assert.equal(a.syn, 10);
    assert.equal(a.udp, 5);
    assert.equal(sources.get('2.2.2.2')?.icmp, 3);
    assert.equal(w.sources.length, 2);
    assert.equal(w.totals.inboundPackets, 18);
    assert.equal(w.totals.packets, 18);
    assert.equal(w.totals.syn, 10);
    assert.equal(w.destinations.get(VICTIM)?.packets, 18);
  });

  it('merges port lists by port and keeps the 8 heaviest', () => {
    // Slot 0: ports 1..10 with 10..100 packets; slot 1: port 1 gets 1000 more.
    const portFlows = (extra: number): Flow[] =>
      Array.from({ length: 10 }, (_, i) => ({
        src: '3.3.3.3',
        dst: VICTIM,
        kind: 'udp' as const,
        packets: (i + 1) * 10 + (i === 0 ? extra : 0),
        sport: i + 1,
      }));
    // The per-slot builder keeps 8 ports, as the engine does, so slot 0 already lacks ports 1 and 2.
    const w = mergeSlots([buildSlot({ start: T0, flows: portFlows(0) }), buildSlot({ start: T0 + 1000, flows: portFlows(1000) })]);
    const ports = w.destinations.get(VICTIM)?.udpSrcPorts;
    assert.ok(ports);
    assert.equal(ports.length, 8);
    assert.deepEqual(ports[0], { port: 1, packets: 1010 });
    assert.deepEqual(ports[1], { port: 10, packets: 200 }); // 100 in each slot, summed
    assert.ok(!ports.some((p) => p.port === 2 || p.port === 3), 'lightest ports are cut');
  });

  it('merges HLL sketches as a union, not a sum', () => {
    const slots = [
      buildSlot({ start: T0, flows: fromSources(3000, { dst: VICTIM, kind: 'syn', packets: 1 }) }),
      buildSlot({ start: T0 + 1000, flows: fromSources(3000, { dst: VICTIM, kind: 'syn', packets: 1 }, { offset: 2000 }) }),
    ];
    const w = mergeSlots(slots);
    // 5000 distinct addresses overall (2000..2999 appear in both slots).
    assert.ok(Math.abs(w.distinctSources - 5000) < 5000 * 0.05, `slot-wide estimate ${w.distinctSources}`);
    const dest = w.destinations.get(VICTIM);
    assert.ok(dest);
    assert.ok(Math.abs(dest.distinctSources - 5000) < 5000 * 0.2, `destination estimate ${dest.distinctSources}`);
  });

  it('spans first start to last end, gaps included, whatever the input order', () => {
    const a = buildSlot({ start: T0, flows: [] });
    const b = buildSlot({ start: T0 + 3000, flows: [] });
    const w = mergeSlots([b, a]);
    assert.equal(w.start, T0);
    assert.equal(w.end, T0 + 4000);
    assert.equal(w.seconds, 4);
  });

  it('does not modify the input slots', () => {
    const slots = buildSlots(2, () => [
      { src: '4.4.4.4', dst: VICTIM, kind: 'udp', packets: 7, sport: 53 },
    ]);
    const before = structuredClone(slots);
    mergeSlots(slots);
    mergeSlots(slots);
    assert.deepEqual(slots, before);
  });

  it('handles an empty window', () => {
    const w = mergeSlots([]);
    assert.equal(w.seconds, 0);
    assert.equal(w.sources.length, 0);
    assert.equal(w.distinctSources, 0);
  });

  it('keeps IPv4 and IPv6 sources apart and merges each by address', () => {
    const v6 = '2001:db8::1';
    const flows: Flow[] = [
      { src: v6, dst: VICTIM, kind: 'udp', packets: 4 },
      { src: '255.255.255.254', dst: VICTIM, kind: 'udp', packets: 2 },
      { src: '0.0.0.1', dst: VICTIM, kind: 'udp', packets: 1 },
    ];
    const sources = byAddr(mergeSlots(buildSlots(3, () => flows)));
    assert.equal(sources.size, 3);
    assert.equal(sources.get(v6)?.packets, 12);
    assert.equal(sources.get('255.255.255.254')?.packets, 6);
    assert.equal(sources.get('0.0.0.1')?.packets, 3);
  });

  it('merges 10 full slots of 65,536 sources (sizing sanity, no timing assertion)', () => {
    // Every slot holds the same 60,000 steady clients plus 5,536 seen only in that slot.
    const entry = (n: number, packets: number): AddressCounters => ({
      ...emptyCounters(ipv4(n, 198)),
      packets,
      packetsUpperBound: packets,
      bytes: packets * 60,
      tcp: packets,
      ack: packets,
    });
    const slots: Slot[] = Array.from({ length: 10 }, (_, i) => {
      const sources: AddressCounters[] = [];
      for (let n = 0; n < 60_000; n++) sources.push(entry(n, 2));
      for (let n = 0; n < 5_536; n++) sources.push(entry(100_000 + i * 5_536 + n, 1));
      return sourceOnlySlot(T0 + i * 1000, sources);
    });
    const w = mergeSlots(slots);
    assert.equal(w.sources.length, 60_000 + 10 * 5_536);
    const sources = byAddr(w);
    assert.equal(sources.get(ipv4(0, 198))?.packets, 20);
    assert.equal(sources.get(ipv4(59_999, 198))?.ack, 20);
    assert.equal(sources.get(ipv4(100_000, 198))?.packets, 1);
    assert.equal(w.totals.inboundPackets, 10 * (120_000 + 5_536));
    assert.equal(w.seconds, 10);
  });
});

describe('addressKey', () => {
  it('gives distinct IPv4 addresses distinct keys and leaves other text as is', () => {
    const keys = new Set(['1.2.3.4', '4.3.2.1', '255.255.255.255', '0.0.0.0', '128.0.0.1', '1.2.3.40'].map(addressKey));
    assert.equal(keys.size, 6);
    for (const odd of ['2001:db8::1', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1..3.4', '1.2.3.4x', '']) {
      assert.equal(addressKey(odd), odd);
    }
  });
});
