import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
// Through the public entry point, so the re-exports are exercised too.
import { analyzeWindow, Baselines, DEFAULT_THRESHOLDS, mitigationSignatureSchema, type Verdict, type VictimReport } from '../../detection/index.js';
import { buildSlot, buildSlots, fromSources, ipv4, type Flow } from './slot-fixtures.js';

const VICTIM = '10.10.10.10';
const SECONDS = 5;

function onlyVictim(v: Verdict): VictimReport {
  assert.equal(v.victims.length, 1, `victims: ${v.victims.map((x) => x.ip).join(', ')}`);
  return v.victims[0]!;
}

/**
 * 2,000 benign web clients, 5k pps in all: each opens a connection (SYN that
 * completes its handshake), sends a request and ACKs, and is answered.
 */
function benignClients(slot: number, n = 2000): Flow[] {
  const flows: Flow[] = [];
  for (const f of fromSources(n, { dst: VICTIM, kind: 'ack', packets: 2, dport: 443, sport: 50000 }, { firstOctet: 172, perSource: (i) => ({ packets: (i + slot) % 2 === 0 ? 1 : 2 }) })) {
    flows.push({ ...f, out: { packets: 2, bytes: 1400 } });
    if ((f.packets as number) === 1) flows.push({ src: f.src, dst: VICTIM, kind: 'syn', packets: 1, dport: 443, handshakes: 1, out: { packets: 1, kind: 'synack' } });
    else flows.push({ src: f.src, dst: VICTIM, kind: 'data', packets: 1, dport: 443, packetBytes: 300 });
  }
  return flows;
}

describe('the share rule chooses attackers; it does not declare attacks', () => {
  // One client sends 30% of the inbound packets (plain ACKs, answered); 70 others share the rest.
  const flows = (scale: number): Flow[] => [
    { src: '203.0.113.7', dst: VICTIM, kind: 'ack', packets: 30 * scale, dport: 443 },
    ...fromSources(70, { dst: VICTIM, kind: 'ack', packets: scale, dport: 443 }),
  ];

  it('a heavy but normal client is no attack and no attacker', () => {
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(4))); // 2,000 inbound packets, 30% from one source
    assert.equal(v.underAttack, false);
    assert.deepEqual(v.attackers, []);
    assert.deepEqual(v.topSource, { ip: '203.0.113.7', packets: 600, share: 0.3 });
  });

  it('on an explicit trigger the share rule picks the top source, as the seed did', () => {
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(4)), {}, { trigger: 'memory' });
    assert.equal(v.underAttack, true);
    assert.equal(v.trigger, 'memory');
    assert.deepEqual(v.attackers.map((a) => [a.ip, a.rules, a.share]), [['203.0.113.7', ['share'], 0.3]]);
    assert.equal(v.victims.length, 0);
  });

  it('divides by inbound packets only: outbound traffic does not dilute the share', () => {
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(4), { otherPackets: 2000 }), {}, { trigger: 'api' });
    assert.equal(v.totals.packets, 12_000);
    assert.equal(v.totals.inboundPackets, 2_000);
    assert.equal(v.attackers[0]?.share, 0.3);
  });

  it('ignores windows below minPackets even on a trigger, but still reports the top source', () => {
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(1)), {}, { trigger: 'api' }); // 500 inbound packets
    assert.equal(v.underAttack, false);
    assert.deepEqual(v.attackers, []);
    assert.equal(v.topSource?.share, 0.3);
  });

  it('honours a custom share threshold', () => {
    const v = analyzeWindow(buildSlots(SECONDS, () => flows(4)), { attackerShareThreshold: 0.35 }, { trigger: 'api' });
    assert.deepEqual(v.attackers, []);
  });

  it('a banned top source does not hide the next source over the share', () => {
    const two = (): Flow[] => [
      { src: '203.0.113.1', dst: VICTIM, kind: 'udp', packets: 180, dport: 53 },
      { src: '203.0.113.2', dst: VICTIM, kind: 'udp', packets: 160, dport: 53 },
      ...fromSources(60, { dst: VICTIM, kind: 'udp', packets: 1, dport: 53 }),
    ];
    const v = analyzeWindow(buildSlots(SECONDS, two), {}, { blocked: new Set(['203.0.113.1']), trigger: 'trigger-defense' });
    assert.deepEqual(v.attackers.map((a) => [a.ip, a.rules]), [['203.0.113.2', ['share']]]);
    assert.equal(v.topSource?.ip, '203.0.113.1');
  });

  it('attackers come only from sources matching the vector: a TCP session is never the attacker of a fragment flood', () => {
    // Issue 10: ~44 pps of DNS fragments from 40 resolvers beside one normal TCP session at 54 pps (27% of a quiet window).
    const slots = buildSlots(20, () => [
      { src: '192.0.2.80', dst: VICTIM, kind: 'data', packets: 54, dport: 22, packetBytes: 120, out: { packets: 50, bytes: 6000 } },
      ...fromSources(40, { dst: VICTIM, kind: 'fragment', packets: 1, packetBytes: 1500 }, { firstOctet: 45, perSource: (i) => ({ packets: i < 4 ? 2 : 1 }) }),
      ...fromSources(100, { dst: VICTIM, kind: 'ack', packets: 1, dport: 443, out: { packets: 1 } }, { firstOctet: 172 }),
    ]);
    const v = analyzeWindow(slots);
    const victim = onlyVictim(v);
    assert.equal(victim.vector, 'fragment_flood');
    assert.equal(victim.vectors[0]!.trigger, 'floor');
    assert.ok(!v.attackers.some((a) => a.ip === '192.0.2.80'), 'the TCP session is not an attacker');
    assert.ok(v.topSource!.share > 0.2, 'the TCP session is the top source');
    assert.deepEqual(v.attackers, []);
    assert.equal(victim.signature.fragment, 'any');
  });
});

describe('per-source rates', () => {
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
      assert.equal(a.vectorLabel, 'UDP flood (udp sport 1234)');
    }
    const victim = onlyVictim(v);
    assert.deepEqual([...victim.heavyHitters].sort(), [...attackers].sort());
    assert.equal(victim.signatureRuleNeeded, false);
    assert.match(victim.note, /per-IP bans apply/);
  });

  it('flags a large-packet source on bits per second', () => {
    const big: Flow = { src: '203.0.113.9', dst: VICTIM, kind: 'udp', packets: 10_000, packetBytes: 1500, dport: 9 };
    const v = analyzeWindow(buildSlots(SECONDS, (i) => [big, ...benignClients(i)]), { sourcePpsThreshold: 50_000 });
    assert.ok(v.attackers[0]?.rules.includes('source_bps'));
    assert.ok(!v.attackers[0]?.rules.includes('source_pps'));
    assert.equal(v.attackers[0]?.bps, 10_000 * 1500 * 8);
  });

  it('rates use the lower-bound packet count, never the Space-Saving over-estimate', () => {
    const slots = buildSlots(SECONDS, (i) => [...benignClients(i)]);
    for (const s of slots) {
      const c = s.sources[0]!;
      c.packetsUpperBound = c.packets + 100_000;
    }
    const v = analyzeWindow(slots);
    assert.equal(v.underAttack, false);
    assert.deepEqual(v.attackers, []);
  });

  it('reports at most maxAttackers, the heaviest ones', () => {
    const many = Array.from({ length: 150 }, (_, i) => ({ src: ipv4(i, 45), dst: VICTIM, kind: 'udp' as const, packets: 6000 + i * 10, dport: 80 }));
    const v = analyzeWindow(buildSlots(SECONDS, () => many));
    assert.equal(v.attackers.length, DEFAULT_THRESHOLDS.maxAttackers);
    assert.equal(v.attackers[0]!.ip, ipv4(149, 45));
    assert.equal(v.attackers.at(-1)!.ip, ipv4(50, 45));
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
      assert.equal(victim.signatureRuleNeeded, false);
      assert.match(victim.note, /2 already blocked/);
    }
  });

  it('an elephant TCP upload at line rate is not banned, and does not make its server a victim', () => {
    // 1 Gbit/s of full-size segments (83k pps) on one connection, ACKed by the server every other segment.
    const upload: Flow = { src: '192.0.2.44', dst: VICTIM, kind: 'data', packets: 83_000, packetBytes: 1500, dport: 873, out: { packets: 41_500, bytes: 41_500 * 66 } };
    const v = analyzeWindow(buildSlots(SECONDS, (i) => [upload, ...benignClients(i)]));
    assert.equal(v.underAttack, false, v.victims.map((x) => x.explanation).join('; '));
    assert.deepEqual(v.attackers, []);
    assert.equal(v.exempt[0]?.ip, '192.0.2.44');
    assert.match(v.exempt[0]!.reason, /established TCP flow sending bulk data/);
  });

  it('a download at line rate (the server sends) is not banned either', () => {
    const download: Flow = { src: '192.0.2.45', dst: VICTIM, kind: 'ack', packets: 41_500, packetBytes: 66, dport: 443, out: { packets: 83_000, bytes: 83_000 * 1500 } };
    const v = analyzeWindow(buildSlots(SECONDS, (i) => [download, ...benignClients(i)]));
    assert.equal(v.underAttack, false);
    assert.match(v.exempt[0]?.reason ?? '', /receiving bulk data/);
  });

  it('a request flood from one source over keep-alive connections is still banned', () => {
    // What `floodgate attack http` sends: small requests (PSH) and ACKs, answered with small responses.
    const flood: Flow[] = [
      { src: '203.0.113.66', dst: VICTIM, kind: 'data', packets: 4000, packetBytes: 180, dport: 80, out: { packets: 4000, bytes: 4000 * 220 } },
      { src: '203.0.113.66', dst: VICTIM, kind: 'ack', packets: 4000, packetBytes: 66, dport: 80 },
    ];
    const v = analyzeWindow(buildSlots(SECONDS, (i) => [...flood, ...benignClients(i)]));
    assert.deepEqual(v.attackers.map((a) => [a.ip, a.rules]), [['203.0.113.66', ['source_pps']]]);
    assert.equal(v.attackers[0]!.vectorLabel, 'TCP request flood over established connections');
    assert.deepEqual(v.exempt, []);
  });
});

describe('floods per victim, cold start (no baseline)', () => {
  it('spoofed SYN flood from 100k sources: signature rule, never thousands of attackers', () => {
    const slots = buildSlots(4, (i) => [
      ...fromSources(25_000, { dst: VICTIM, kind: 'syn', packets: 2, dport: 443 }, { offset: i * 25_000, firstOctet: 100 }),
      ...benignClients(i),
    ]);
    const v = analyzeWindow(slots);
    const victim = onlyVictim(v);
    assert.equal(victim.vector, 'syn_flood');
    assert.equal(victim.signature.text, 'tcp flags syn/syn,ack,rst to 10.10.10.10 dport 443');
    assert.deepEqual(victim.signature.tcpFlags, { mask: ['syn', 'ack', 'rst'], value: ['syn'] });
    assert.equal(victim.signatureRuleNeeded, true);
    assert.match(victim.note, /spoofed or highly distributed flood from ~[\d,]+ sources: per-IP bans cannot stop it; apply the signature rule/);
    assert.ok(Math.abs(victim.distinctSources - 102_000) < 102_000 * 0.2, `distinct ${victim.distinctSources}`);
    assert.deepEqual(v.attackers, []);
    assert.deepEqual(v.vectors, ['syn_flood']);
  });

  it('even with absurdly low per-source thresholds a spoofed flood yields at most maxAttackers', () => {
    const slots = buildSlots(2, (i) => fromSources(20_000, { dst: VICTIM, kind: 'syn', packets: 2, dport: 80 }, { offset: i * 20_000, firstOctet: 100 }));
    const v = analyzeWindow(slots, { sourcePpsThreshold: 0.5, minPackets: 1 });
    assert.equal(v.attackers.length, DEFAULT_THRESHOLDS.maxAttackers);
  });

  it('the 7,400 pps spoofed SYN flood from 37,000 sources among web traffic, with its explanation', () => {
    const slots = buildSlots(5, (i) => [
      ...fromSources(7400, { dst: VICTIM, kind: 'syn', packets: 1, dport: 443 }, { offset: (i * 7400) % 37_000, firstOctet: 101 }),
      ...benignClients(i),
    ]);
    const victim = onlyVictim(analyzeWindow(slots));
    assert.equal(victim.vector, 'syn_flood');
    assert.equal(victim.vectors[0]!.trigger, 'floor');
    assert.ok(victim.handshakeCompletion! < 0.2, `completion ${victim.handshakeCompletion}`);
    assert.match(victim.explanation, /^TCP SYN flood \(tcp dport 443\): 7,400 pps \(floor 1,000 pps; no baseline yet\); [\d.]+% of handshakes completed; ~[\d,]+ new sources \(no baseline yet\)$/);
    assert.ok(victim.newSources > 30_000, `new sources ${victim.newSources}`);
  });

  it('a 2,500 pps SYN flood with ECN/CWR flags is named as such, with a signature for it', () => {
    const slots = buildSlots(5, (i) => [
      ...fromSources(2500, { dst: VICTIM, kind: 'ecnsyn', packets: 1, dport: 80 }, { offset: i * 2500, firstOctet: 102 }),
      ...benignClients(i),
    ]);
    const victim = onlyVictim(analyzeWindow(slots));
    assert.equal(victim.vectors[0]!.label, 'TCP SYN flood with ECN/CWR flags (tcp dport 80)');
    assert.deepEqual(victim.signature.tcpFlags, { mask: ['syn', 'ack', 'rst', 'ece', 'cwr'], value: ['syn', 'ece', 'cwr'] });
    assert.equal(victim.signature.destinationPort, 80);
  });

  it('ISAKMP reflection at 4,000 pps from 2,700 reflectors', () => {
    const slots = buildSlots(5, (i) => [
      ...fromSources(2700, { dst: VICTIM, kind: 'udp', packets: 1, sport: 500, dport: 500, packetBytes: 600 }, { firstOctet: 61, perSource: (j) => ({ packets: (j + i) % 3 === 0 ? 2 : 1 }) }),
      ...benignClients(i),
    ]);
    const victim = onlyVictim(analyzeWindow(slots));
    assert.equal(victim.vectorDetail, 'ISAKMP amplification (udp sport 500)');
    assert.equal(victim.signature.text, 'udp sport 500 to 10.10.10.10');
    assert.match(victim.explanation, /no queries sent to udp 500/);
  });

  it('DNS responses the server asked for are not reflection, however many', () => {
    const resolvers = (i: number): Flow[] =>
      [...fromSources(4, { dst: VICTIM, kind: 'udp', packets: 1500, sport: 53, out: { packets: 1500, kind: 'udp', dport: 53 } }, { firstOctet: 198 })].map((f) => ({ ...f, dport: 40000 + i }));
    const v = analyzeWindow(buildSlots(SECONDS, (i) => [...resolvers(i), ...benignClients(i)]));
    assert.equal(v.underAttack, false, v.victims.map((x) => x.explanation).join());
  });

  it('multi-vector amplification: BACnet 70% + DVR/IoT 25%, each with its share and signature', () => {
    const slots = buildSlots(1, () => [
      ...fromSources(5000, { dst: VICTIM, kind: 'udp', packets: 54, sport: 47808, packetBytes: 1200 }, { firstOctet: 61 }),
      ...fromSources(2000, { dst: VICTIM, kind: 'udp', packets: 48, sport: 37810, packetBytes: 800 }, { firstOctet: 62 }),
      ...fromSources(1000, { dst: VICTIM, kind: 'udp', packets: 19, packetBytes: 100 }, { firstOctet: 63, perSource: (j) => ({ sport: 1024 + j }) }),
    ]);
    const victim = onlyVictim(analyzeWindow(slots));
    assert.equal(victim.multiVector, true);
    assert.deepEqual(victim.vectors.map((x) => [x.label, Math.round(x.share * 100), x.signature.text]), [
      ['BACnet amplification (udp sport 47808)', 70, 'udp sport 47808 to 10.10.10.10'],
      ['DVR/IoT amplification (udp sport 37810)', 25, 'udp sport 37810 to 10.10.10.10'],
    ]);
    assert.equal(victim.vectorDetail, 'multi-vector: BACnet amplification (udp sport 47808) 70% + DVR/IoT amplification (udp sport 37810) 25%');
    for (const x of victim.vectors) assert.ok(mitigationSignatureSchema.safeParse(x.signature).success);
  });

  it('invalid TCP flag floods: NULL, SYN+FIN and XMAS each named with a matching signature', () => {
    const cases = [
      ['null', 'TCP NULL flood (no flags)', 'tcp flags none/fin,syn,rst,psh,ack,urg to 10.10.10.10'],
      ['synfin', 'TCP SYN+FIN flood', 'tcp flags syn,fin to 10.10.10.10'],
      ['xmas', 'TCP FIN/XMAS flood (FIN without ACK)', 'tcp flags fin/fin,ack to 10.10.10.10'],
    ] as const;
    for (const [kind, label, text] of cases) {
      const slots = buildSlots(SECONDS, (i) => [...fromSources(500, { dst: VICTIM, kind, packets: 1 }, { firstOctet: 88 }), ...benignClients(i)]);
      const victim = onlyVictim(analyzeWindow(slots));
      const x = victim.vectors.find((y) => y.vector === 'tcp_flag_anomaly');
      assert.ok(x, `${kind}: ${victim.vectorDetail}`);
      assert.equal(x.label, label);
      assert.equal(x.signature.text, text);
    }
  });

  it('SNMP amplification from 3,000 reflectors', () => {
    const slots = buildSlots(SECONDS, () =>
      fromSources(3000, { dst: VICTIM, kind: 'udp', packets: 20, packetBytes: 1400, sport: 161 }, { firstOctet: 61, perSource: (i) => ({ dport: 1024 + (i % 5000) }) }),
    );
    const v = analyzeWindow(slots);
    const victim = onlyVictim(v);
    assert.equal(victim.vector, 'udp_amplification');
    assert.equal(victim.vectorDetail, 'SNMP amplification (udp sport 161)');
    assert.equal(victim.signature.sourcePort, 161);
    assert.equal(victim.pps, 60_000);
    assert.equal(victim.signatureRuleNeeded, true);
    assert.deepEqual(v.attackers, []);
  });

  it('ICMP flood from 50 bots, none heavy enough to ban: signature rule', () => {
    const slots = buildSlots(SECONDS, () => fromSources(50, { dst: VICTIM, kind: 'icmp', packets: 600 }, { firstOctet: 77 }));
    const victim = onlyVictim(analyzeWindow(slots));
    assert.equal(victim.vector, 'icmp_flood');
    assert.equal(victim.signature.text, 'icmp to 10.10.10.10');
    assert.match(victim.note, /none heavy enough to ban/);
  });

  it('fragment flood from 10 sources: each holds 10% of it, so they are heavy hitters', () => {
    const slots = buildSlots(SECONDS, () => fromSources(10, { dst: VICTIM, kind: 'fragment', packets: 3000 }, { firstOctet: 88 }));
    const v = analyzeWindow(slots);
    const victim = onlyVictim(v);
    assert.equal(victim.vector, 'fragment_flood');
    assert.equal(victim.signature.text, 'ip fragments to 10.10.10.10');
    assert.equal(victim.heavyHitters.length, 10);
    assert.equal(victim.signatureRuleNeeded, false);
    for (const a of v.attackers) assert.deepEqual(a.rules, ['heavy_hitter']);
  });

  it('SYN-ACK reflection from 2,000 reflectors the victim never sent a SYN to', () => {
    const slots = buildSlots(SECONDS, () => fromSources(2000, { dst: VICTIM, kind: 'synack', packets: 15, sport: 443 }, { firstOctet: 93, perSource: (i) => ({ dport: 30000 + i }) }));
    const victim = onlyVictim(analyzeWindow(slots));
    assert.equal(victim.vector, 'synack_reflection');
    assert.equal(victim.signature.text, 'tcp flags syn,ack/syn,ack,rst sport 443 to 10.10.10.10');
    assert.equal(victim.signatureRuleNeeded, true);
  });

  it('flags a 50k pps distributed flood at the defaults (the ceiling)', () => {
    const slots = buildSlots(SECONDS, (i) => [
      ...fromSources(1000, { dst: VICTIM, kind: 'udp', packets: 50, dport: 80, sport: 31337 }, { firstOctet: 66 }),
      ...benignClients(i),
    ]);
    const victim = onlyVictim(analyzeWindow(slots));
    assert.equal(victim.pps, 55_000);
    assert.equal(victim.vector, 'udp_flood');
    assert.equal(victim.vectors[0]!.trigger, 'ceiling');
    assert.equal(victim.signature.text, 'udp sport 31337 to 10.10.10.10 dport 80');
  });

  it('does not flag a busy benign server: 5k pps from 2,000 clients', () => {
    const v = analyzeWindow(buildSlots(SECONDS, (i) => benignClients(i)));
    assert.equal(v.underAttack, false);
    assert.deepEqual(v.victims, []);
    assert.deepEqual(v.vectors, []);
  });

  it('reports each victim separately, heaviest first', () => {
    const other = '10.10.10.11';
    const slots = buildSlots(SECONDS, () => [
      ...fromSources(500, { dst: VICTIM, kind: 'icmp', packets: 50 }, { firstOctet: 77 }),
      ...fromSources(3000, { dst: other, kind: 'udp', packets: 20, sport: 123 }, { firstOctet: 61 }),
    ]);
    const v = analyzeWindow(slots);
    assert.deepEqual(v.victims.map((x) => [x.ip, x.vector]), [[other, 'udp_amplification'], [VICTIM, 'icmp_flood']]);
    assert.deepEqual(v.vectors, ['udp_amplification', 'icmp_flood']);
  });
});

describe('rates over the time the capture covers', () => {
  it('a 20 ms sample of a 186k pps SNMP flood is judged at 186k pps, not over its 1 s slot', () => {
    const start = 1_700_000_000_000;
    const slot = buildSlot({
      start,
      widthMs: 1000,
      coverStart: start + 400,
      coverEnd: start + 420,
      flows: fromSources(1240, { dst: VICTIM, kind: 'udp', packets: 3, sport: 161, packetBytes: 1400 }, { firstOctet: 61 }),
    });
    const v = analyzeWindow([slot]);
    assert.equal(v.window.windowSeconds, 1);
    assert.ok(Math.abs(v.window.seconds - 0.02) < 1e-9);
    const victim = onlyVictim(v);
    assert.equal(Math.round(victim.pps), 186_000);
    assert.equal(victim.vectorDetail, 'SNMP amplification (udp sport 161)');
  });

  it('one or two packets are no rate: a 10 ms floor and the packet minimums', () => {
    const start = 1_700_000_000_000;
    const slot = buildSlot({ start, coverStart: start + 5, coverEnd: start + 5, flows: [{ src: '192.0.2.1', dst: VICTIM, kind: 'fragment', packets: 2 }] });
    const v = analyzeWindow([slot]);
    assert.equal(v.window.seconds, 0.01);
    assert.equal(v.underAttack, false);
  });

  it('missing slots lengthen the window and so lower the rates', () => {
    // 30k pps of ACKs in two 1 s slots, 8 s apart: over the 10 s window that is 6k pps, under the ceiling.
    const flood = [...fromSources(100, { dst: VICTIM, kind: 'ack', packets: 300 }, { firstOctet: 77 })];
    const slots = buildSlots(10, () => flood).filter((_, i) => i === 0 || i === 9);
    const v = analyzeWindow(slots);
    assert.equal(v.window.seconds, 10);
    assert.equal(v.totals.pps, 6000);
    assert.deepEqual(v.victims, []);
  });
});

describe('baselines: floods below the floors, and what is not a flood', () => {
  const t = DEFAULT_THRESHOLDS;
  function learn(b: Baselines, seconds: number, flows: (i: number) => Flow[], startMs = 1_700_000_000_000): number {
    for (let i = 0; i < seconds; i++) b.learnSlots(buildSlots(1, () => flows(i), { startMs: startMs + i * 1000 }), t);
    return startMs + seconds * 1000;
  }

  it('a 400 pps SYN flood, under the 1,000 pps floor, is anomalous against a warm baseline', () => {
    const b = new Baselines();
    const next = learn(b, 90, (i) => benignClients(i, 400));
    const flood = buildSlots(2, (i) => [...fromSources(400, { dst: VICTIM, kind: 'syn', packets: 1, dport: 443 }, { offset: i * 400, firstOctet: 101 }), ...benignClients(i, 400)], { startMs: next });
    assert.equal(analyzeWindow(flood).underAttack, false, 'no baseline: under the floor');
    const victim = onlyVictim(analyzeWindow(flood, {}, { baselines: b }));
    assert.equal(victim.baseline, 'warm');
    assert.equal(victim.vectors[0]!.trigger, 'baseline');
    assert.match(victim.vectors[0]!.evidence, /^TCP SYN flood \(tcp dport 443\): 400 pps vs baseline \d+ ± \d+; /);
  });

  it('a flash crowd (4x the clients, handshakes completing) is no attack; the baseline follows it', () => {
    const b = new Baselines();
    const next = learn(b, 90, (i) => benignClients(i, 500));
    const before = b.view(VICTIM)!.stat('pps').mean;
    const crowd = (i: number) => [...benignClients(i, 2000), ...fromSources(2000, { dst: VICTIM, kind: 'syn', packets: 1, dport: 443, handshakes: 1, out: { packets: 1, kind: 'synack' } }, { firstOctet: 103, offset: i * 2000 })];
    const v = analyzeWindow(buildSlots(1, crowd, { startMs: next }), {}, { baselines: b });
    assert.equal(v.underAttack, false, v.victims.map((x) => x.explanation).join());
    learn(b, 600, crowd, next);
    const after = b.view(VICTIM)!.stat('pps').mean;
    assert.ok(after > 2 * before, `baseline pps ${before.toFixed(0)} -> ${after.toFixed(0)}`);
  });

  it('a window judged under attack is not learned', () => {
    const b = new Baselines();
    const next = learn(b, 70, (i) => benignClients(i, 400));
    const mean = b.view(VICTIM)!.stat('synUnanswered').mean;
    const flood = buildSlots(1, () => fromSources(5000, { dst: VICTIM, kind: 'syn', packets: 1 }, { firstOctet: 101 }), { startMs: next });
    const v = analyzeWindow(flood, {}, { baselines: b });
    b.learnSlots(flood, t, new Set(v.victims.map((x) => x.ip)));
    assert.equal(b.view(VICTIM)!.stat('synUnanswered').mean, mean);
  });
});

describe('verdict shape', () => {
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
    assert.equal(v.window.coverEnd, new Date(slots.at(-1)!.end).toISOString());
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
});

describe('the first slots of a single-source flood', () => {
  // 300 ms of a SYN flood from one address, whose kernel answers each SYN-ACK
  // with a RST: above the SYN floor, but under minPackets, so no attacker is
  // chosen yet. One source carries it all: a ban will stop it once chosen, and
  // no signature rule may be asked for (it would outlive the ban and limit
  // every client's SYNs).
  const attacker = '203.0.113.66';
  const flood = (widthMs: number, syns: number) =>
    buildSlot({
      start: 0,
      widthMs,
      flows: [
        { src: attacker, dst: VICTIM, kind: 'syn', packets: syns, dport: 80, out: { packets: syns, kind: 'synack' } },
        { src: attacker, dst: VICTIM, kind: 'rst', packets: syns, dport: 80 },
      ],
    });
  const slot = flood(300, 342);

  it('is an attack per-IP bans will stop, not one that needs a signature rule', () => {
    const v = analyzeWindow([slot]);
    const victim = onlyVictim(v);
    assert.ok(victim.vectors.some((x) => x.vector === 'syn_flood'), `vectors: ${victim.vectors.map((x) => x.vector).join(', ')}`);
    assert.equal(victim.signatureRuleNeeded, false, victim.note);
    assert.match(victim.note, /too few packets yet/);
  });

  it('with enough packets, the flooder is chosen by the share rule, its RSTs counted with its SYNs', () => {
    const second = flood(1000, 1500);
    const v = analyzeWindow([second]);
    assert.deepEqual(v.attackers.map((a) => a.ip), [attacker], 'under the per-source rate, yet chosen');
    assert.equal(onlyVictim(v).signatureRuleNeeded, false, onlyVictim(v).note);
  });

  it('while the same rate from many sources still needs the rule', () => {
    const spread = buildSlot({
      start: 0,
      widthMs: 300,
      flows: Array.from({ length: 342 }, (_, i) => ({ src: ipv4(i + 1, 198), dst: VICTIM, kind: 'syn' as const, packets: 1, dport: 80 })),
    });
    assert.equal(onlyVictim(analyzeWindow([spread])).signatureRuleNeeded, true);
  });
});
