import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
// Through the public entry point, so the re-exports are exercised too.
import { analyzeWindow, DEFAULT_THRESHOLDS, type Verdict, type VictimReport } from '../../detection/index.js';
import { buildSlots, fromSources, ipv4, type Flow } from './slot-fixtures.js';

const VICTIM = '10.10.10.10';
const SECONDS = 5;

function onlyVictim(v: Verdict): VictimReport {
  assert.equal(v.victims.length, 1, `victims: ${v.victims.map((x) => x.ip).join(', ')}`);
  return v.victims[0]!;
}

/** 2,000 benign clients at 2.5 pps each (5k pps) of ACK/data to port 443. */
function benignClients(slot: number, n = 2000): Iterable<Flow> {
  return fromSources(n, { dst: VICTIM, kind: 'ack', packets: 2, dport: 443, sport: 50000 }, {
    firstOctet: 172,
    perSource: (i) => ({ packets: (i + slot) % 2 === 0 ? 2 : 3 }),
  });
}

describe('analyzeWindow: seed share rule', () => {
  // One client sends 30% of the inbound packets; 70 others share the rest.
  const flows = (scale: number): Flow[] => [
    { src: '203.0.113.7', dst: VICTIM, kind: 'ack', packets: 30 * scale, dport: 443 },
    ...fromSources(70, { dst: VICTIM, kind: 'ack', packets: scale, dport: 443 }),
  ];

  it('flags the top source when its share of inbound packets exceeds the threshold', () => {
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(4))); // 2,000 inbound packets
    assert.equal(v.underAttack, true);
    assert.equal(v.attackers.length, 1);
    assert.equal(v.attackers[0]!.ip, '203.0.113.7');
    assert.deepEqual(v.attackers[0]!.rules, ['share']);
    assert.equal(v.attackers[0]!.share, 0.3);
    assert.deepEqual(v.topSource, { ip: '203.0.113.7', packets: 600, share: 0.3 });
    assert.equal(v.victims.length, 0);
  });

  it('divides by inbound packets only: outbound traffic does not dilute the share', () => {
    // 2,000 inbound plus 10,000 non-inbound packets: the share stays 30% of inbound.
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(4), { otherPackets: 2000 }));
    assert.equal(v.totals.packets, 12_000);
    assert.equal(v.totals.inboundPackets, 2_000);
    assert.equal(v.attackers[0]?.share, 0.3);
  });

  it('ignores windows below minPackets but still reports the top source', () => {
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(1))); // 500 inbound packets
    assert.equal(v.underAttack, false);
    assert.deepEqual(v.attackers, []);
    assert.equal(v.topSource?.ip, '203.0.113.7');
    assert.equal(v.topSource?.share, 0.3);
  });

  it('honours a custom share threshold', () => {
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(4)), { attackerShareThreshold: 0.35 });
    assert.deepEqual(v.attackers, []);
  });

  it('a banned top source does not hide the next source over the share', () => {
    const two = (): Flow[] => [
      { src: '203.0.113.1', dst: VICTIM, kind: 'udp', packets: 180, dport: 53 },
      { src: '203.0.113.2', dst: VICTIM, kind: 'udp', packets: 160, dport: 53 },
      ...fromSources(60, { dst: VICTIM, kind: 'udp', packets: 1, dport: 53 }),
    ];
    const v = analyzeWindow(buildSlots(SECONDS, two), {}, { blocked: new Set(['203.0.113.1']) });
    assert.deepEqual(
      v.attackers.map((a) => [a.ip, a.rules]),
      [['203.0.113.2', ['share']]],
    );
    assert.equal(v.topSource?.ip, '203.0.113.1');
  });
});

describe('analyzeWindow: per-source rates', () => {
  const attackers = Array.from({ length: 5 }, (_, i) => `203.0.113.${i + 1}`);
  const flows = (slot: number): Flow[] => [
    ...attackers.map((src) => ({ src, dst: VICTIM, kind: 'udp' as const, packets: 6000, dport: 80, sport: 1234 })),
    ...benignClients(slot),
  ];

  it('flags every source at or above the pps threshold, heaviest first', () => {
    const v = analyzeWindow(buildSlots(SECONDS, flows));
    assert.deepEqual(v.attackers.map((a) => a.ip).sort(), [...attackers].sort());
    for (const a of v.attackers) {
      assert.ok(a.rules.includes('source_pps'));
      assert.equal(a.pps, 6000);
      assert.equal(a.protocols.udp, 30_000);
    }
    const victim = onlyVictim(v);
    assert.deepEqual([...victim.heavyHitters].sort(), [...attackers].sort());
    assert.equal(victim.signatureRuleNeeded, false);
    assert.match(victim.note, /per-IP bans apply/);
  });

  it('flags a large-packet source on bits per second', () => {
    const big: Flow = { src: '203.0.113.9', dst: VICTIM, kind: 'udp', packets: 10_000, packetBytes: 1500, dport: 9 };
    const v = analyzeWindow(buildSlots(SECONDS, (i) => [big, ...benignClients(i)]), { sourcePpsThreshold: 50_000 });
    // 120 Mbit/s at 10k pps: over the bps threshold, under the raised pps one.
    assert.ok(v.attackers[0]?.rules.includes('source_bps'));
    assert.ok(!v.attackers[0]?.rules.includes('source_pps'));
    assert.equal(v.attackers[0]?.bps, 10_000 * 1500 * 8);
  });

  it('rates use the lower-bound packet count, never the Space-Saving over-estimate', () => {
    const slots = buildSlots(SECONDS, (i) => [...benignClients(i)]);
    // Pretend a client inherited a huge evicted count: its upper bound is far over the pps threshold.
    for (const s of slots) {
      const c = s.sources[0]!;
      c.packetsUpperBound = c.packets + 100_000;
    }
    const v = analyzeWindow(slots);
    assert.equal(v.underAttack, false);
    assert.deepEqual(v.attackers, []);
  });

  it('reports at most maxAttackers, the heaviest ones', () => {
    const many = Array.from({ length: 150 }, (_, i) => ({
      src: ipv4(i, 45),
      dst: VICTIM,
      kind: 'udp' as const,
      packets: 6000 + i * 10,
      dport: 80,
    }));
    const v = analyzeWindow(buildSlots(SECONDS, () => many));
    assert.equal(v.attackers.length, DEFAULT_THRESHOLDS.maxAttackers);
    assert.equal(v.attackers[0]!.ip, ipv4(149, 45));
    assert.equal(v.attackers.at(-1)!.ip, ipv4(50, 45));
    for (let i = 1; i < v.attackers.length; i++) assert.ok(v.attackers[i - 1]!.packets >= v.attackers[i]!.packets);

    const capped = analyzeWindow(buildSlots(SECONDS, () => many), { maxAttackers: 10 });
    assert.equal(capped.attackers.length, 10);
    assert.ok(onlyVictim(capped).heavyHitters.length <= 10);
  });

  it('leaves already blocked sources out of attackers and heavy hitters', () => {
    const blocked = new Set([attackers[0]!, attackers[1]!]);
    for (const opt of [blocked, (ip: string) => blocked.has(ip)]) {
      const v = analyzeWindow(buildSlots(SECONDS, flows), {}, { blocked: opt });
      assert.deepEqual(v.attackers.map((a) => a.ip).sort(), attackers.slice(2).sort());
      const victim = onlyVictim(v);
      assert.ok(!victim.heavyHitters.some((ip) => blocked.has(ip)));
      // Blocked sources are still handled by their bans, so per-IP bans still explain the flood.
      assert.equal(victim.signatureRuleNeeded, false);
      assert.match(victim.note, /2 already blocked/);
    }
  });
});

describe('analyzeWindow: floods per victim', () => {
  it('spoofed SYN flood from 100k sources: signature rule, never thousands of attackers', () => {
    // 4 s x 25,000 fresh spoofed sources x 2 SYNs = 50k pps, plus the benign clients.
    const slots = buildSlots(4, (i) => [
      ...fromSources(25_000, { dst: VICTIM, kind: 'syn', packets: 2, dport: 443 }, { offset: i * 25_000, firstOctet: 100 }),
      ...benignClients(i),
    ]);
    const v = analyzeWindow(slots);
    const victim = onlyVictim(v);
    assert.equal(victim.vector, 'syn_flood');
    assert.equal(victim.signature.text, 'tcp flags syn to 10.10.10.10 dport 443');
    assert.equal(victim.signatureRuleNeeded, true);
    assert.match(victim.note, /spoofed or highly distributed flood from ~[\d,]+ sources: per-IP bans cannot stop it; apply the signature rule/);
    assert.ok(Math.abs(victim.distinctSources - 102_000) < 102_000 * 0.2, `distinct ${victim.distinctSources}`);
    assert.deepEqual(v.attackers, []);
    assert.deepEqual(victim.heavyHitters, []);
    assert.deepEqual(v.vectors, ['syn_flood']);
    assert.equal(v.underAttack, true);
  });

  it('even with absurdly low per-source thresholds a spoofed flood yields at most maxAttackers', () => {
    const slots = buildSlots(2, (i) =>
      fromSources(20_000, { dst: VICTIM, kind: 'syn', packets: 2, dport: 80 }, { offset: i * 20_000, firstOctet: 100 }),
    );
    const v = analyzeWindow(slots, { sourcePpsThreshold: 0.5, minPackets: 1 });
    assert.equal(v.attackers.length, DEFAULT_THRESHOLDS.maxAttackers);
  });

  it('SNMP amplification from 3,000 reflectors', () => {
    const slots = buildSlots(SECONDS, () =>
      fromSources(3000, { dst: VICTIM, kind: 'udp', packets: 20, packetBytes: 1400, sport: 161 }, {
        firstOctet: 61,
        perSource: (i) => ({ dport: 1024 + (i % 5000) }),
      }),
    );
    const v = analyzeWindow(slots);
    const victim = onlyVictim(v);
    assert.equal(victim.vector, 'udp_amplification');
    assert.equal(victim.vectorDetail, 'SNMP amplification (udp sport 161)');
    assert.equal(victim.signature.text, 'udp sport 161 to 10.10.10.10');
    assert.equal(victim.signature.protocol, 'udp');
    assert.equal(victim.signature.sourcePort, 161);
    assert.equal(victim.pps, 60_000);
    assert.equal(victim.signatureRuleNeeded, true);
    assert.deepEqual(v.attackers, []);
  });

  it('ICMP flood from 50 bots, none heavy enough to ban: signature rule', () => {
    const slots = buildSlots(SECONDS, () => fromSources(50, { dst: VICTIM, kind: 'icmp', packets: 600 }, { firstOctet: 77 }));
    const v = analyzeWindow(slots);
    const victim = onlyVictim(v);
    assert.equal(victim.vector, 'icmp_flood');
    assert.equal(victim.signature.text, 'icmp to 10.10.10.10');
    assert.equal(victim.signatureRuleNeeded, true);
    assert.match(victim.note, /none heavy enough to ban/);
    assert.deepEqual(v.attackers, []);
  });

  it('fragment flood from 10 sources: each holds 10% of the victim, so they are heavy hitters', () => {
    const slots = buildSlots(SECONDS, () => fromSources(10, { dst: VICTIM, kind: 'fragment', packets: 3000 }, { firstOctet: 88 }));
    const v = analyzeWindow(slots);
    const victim = onlyVictim(v);
    assert.equal(victim.vector, 'fragment_flood');
    assert.equal(victim.signature.text, 'ip fragments to 10.10.10.10');
    assert.equal(victim.heavyHitters.length, 10);
    assert.equal(victim.signatureRuleNeeded, false);
    assert.equal(v.attackers.length, 10);
    for (const a of v.attackers) assert.deepEqual(a.rules, ['heavy_hitter']);
  });

  it('SYN-ACK reflection from 2,000 reflectors', () => {
    const slots = buildSlots(SECONDS, () =>
      fromSources(2000, { dst: VICTIM, kind: 'synack', packets: 15, sport: 443 }, {
        firstOctet: 93,
        perSource: (i) => ({ dport: 30000 + i }),
      }),
    );
    const victim = onlyVictim(analyzeWindow(slots));
    assert.equal(victim.vector, 'synack_reflection');
    assert.equal(victim.signature.text, 'tcp flags syn-ack sport 443 to 10.10.10.10');
    assert.equal(victim.signatureRuleNeeded, true);
  });

  it('flags a 50k pps distributed flood at the defaults', () => {
    const slots = buildSlots(SECONDS, (i) => [
      ...fromSources(1000, { dst: VICTIM, kind: 'udp', packets: 50, dport: 80, sport: 31337 }, { firstOctet: 66 }),
      ...benignClients(i),
    ]);
    const v = analyzeWindow(slots);
    assert.equal(v.underAttack, true);
    const victim = onlyVictim(v);
    assert.equal(victim.pps, 55_000);
    assert.equal(victim.vector, 'udp_flood');
    assert.equal(victim.signature.text, 'udp sport 31337 to 10.10.10.10 dport 80');
  });

  it('does not flag a busy benign server: 5k pps from 2,000 clients', () => {
    const v = analyzeWindow(buildSlots(SECONDS, (i) => benignClients(i)));
    assert.equal(v.totals.pps, 5000);
    assert.equal(v.underAttack, false);
    assert.deepEqual(v.victims, []);
    assert.deepEqual(v.attackers, []);
    assert.deepEqual(v.vectors, []);
  });

  it('reports each victim separately, heaviest first', () => {
    const other = '10.10.10.11';
    const slots = buildSlots(SECONDS, () => [
      ...fromSources(500, { dst: VICTIM, kind: 'icmp', packets: 50 }, { firstOctet: 77 }),
      ...fromSources(3000, { dst: other, kind: 'udp', packets: 20, sport: 123 }, { firstOctet: 61 }),
    ]);
    const v = analyzeWindow(slots);
    assert.deepEqual(v.victims.map((x) => [x.ip, x.vector]), [
      [other, 'udp_amplification'],
      [VICTIM, 'icmp_flood'],
    ]);
    assert.deepEqual(v.vectors, ['udp_amplification', 'icmp_flood']);
  });
});

describe('analyzeWindow: verdict shape', () => {
  it('is plain JSON: survives a JSON round trip unchanged', () => {
    const slots = buildSlots(SECONDS, (i) => [
      ...fromSources(3000, { dst: VICTIM, kind: 'udp', packets: 20, sport: 161 }, { firstOctet: 61 }),
      { src: '203.0.113.1', dst: VICTIM, kind: 'syn', packets: 6000, dport: 22 },
      ...benignClients(i),
    ]);
    const v = analyzeWindow(slots, {}, { drops: { dropped: 12 } });
    assert.deepEqual(JSON.parse(JSON.stringify(v)), v);
    assert.deepEqual(v.drops, { dropped: 12, ifDropped: 0, slotsDropped: 0 });
    assert.equal(v.window.seconds, SECONDS);
    assert.equal(v.window.start, new Date(slots[0]!.start).toISOString());
    assert.equal(v.window.end, new Date(slots.at(-1)!.end).toISOString());
    assert.deepEqual(v.thresholds, DEFAULT_THRESHOLDS);
  });

  it('an empty window is a quiet verdict, not an error', () => {
    const v = analyzeWindow([]);
    assert.equal(v.underAttack, false);
    assert.equal(v.window.seconds, 0);
    assert.equal(v.totals.pps, 0);
    assert.equal(v.topSource, null);
    assert.deepEqual(JSON.parse(JSON.stringify(v)), v);
  });

  it('missing slots lengthen the window and so lower the rates', () => {
    // 30k pps in two 1 s slots, 8 s apart: over the 10 s window that is 6k pps, under the victim threshold.
    const flood = [...fromSources(100, { dst: VICTIM, kind: 'icmp', packets: 300 }, { firstOctet: 77 })];
    const slots = buildSlots(10, () => flood).filter((_, i) => i === 0 || i === 9);
    const v = analyzeWindow(slots);
    assert.equal(v.window.seconds, 10);
    assert.equal(v.totals.pps, 6000);
    assert.deepEqual(v.victims, []);
  });
});
