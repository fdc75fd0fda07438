// Scenario captures re-read independently (own reader + reference
// classifier, and tcpdump for one) and checked against their ground truth.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { isExcludedIpv4 } from '../gen/address-pools.js';
import { uint32FromIpv4 } from '../gen/ip-address.js';
import { readCaptureFile } from '../gen/pcap-reader.js';
import { classifyFrame } from '../gen/reference-classifier.js';
import { SCENARIO_NAMES, SCENARIO_START_US, VICTIM, writeScenario, type ScenarioName, type ScenarioResult, type ScenarioTruth } from '../gen/scenarios.js';
import { skipWithoutTcpdump, tcpdump, tempDir } from './helpers.js';

interface Observed {
  records: number;
  inbound: number;
  outbound: number;
  nonIp: number;
  malformed: number;
  bySource: Map<string, number>;
  /** Inbound packets per source per whole second. */
  perSecond: Map<string, number[]>;
  inboundPerSecond: number[];
  udpSrcPorts: Map<number, number>;
  maxCaplen: number;
  /** Smallest wire length among inbound UDP packets from port 161. */
  minSnmpLen: number;
  monotonic: boolean;
  inWindow: boolean;
}

function observe(path: string, truth: ScenarioTruth): Observed {
  const cap = readCaptureFile(path);
  const o: Observed = { records: cap.records.length, inbound: 0, outbound: 0, nonIp: 0, malformed: 0, bySource: new Map(), perSecond: new Map(), inboundPerSecond: [], udpSrcPorts: new Map(), maxCaplen: 0, minSnmpLen: Infinity, monotonic: true, inWindow: true };
  const end = SCENARIO_START_US + truth.durationSeconds * 1e6;
  let last = 0;
  for (const r of cap.records) {
    if (r.timestampUs < last) o.monotonic = false;
    last = r.timestampUs;
    if (r.timestampUs < SCENARIO_START_US || r.timestampUs >= end) o.inWindow = false;
    o.maxCaplen = Math.max(o.maxCaplen, r.caplen);
    const c = classifyFrame(r.linktype, r.data);
    if (c.kind === 'nonIp') o.nonIp++;
    if (c.kind === 'malformed') o.malformed++;
    if (c.kind !== 'ip') continue;
    if (c.src === VICTIM) o.outbound++;
    if (c.dst !== VICTIM) continue;
    o.inbound++;
    o.bySource.set(c.src, (o.bySource.get(c.src) ?? 0) + 1);
    const second = Math.floor((r.timestampUs - SCENARIO_START_US) / 1e6);
    o.inboundPerSecond[second] = (o.inboundPerSecond[second] ?? 0) + 1;
    if (truth.attackers.includes(c.src)) {
      const s = o.perSecond.get(c.src) ?? [];
      s[second] = (s[second] ?? 0) + 1;
      o.perSecond.set(c.src, s);
    }
    if (c.l4 === 'udp') {
      const ihl = (r.data[14]! & 0x0f) * 4;
      const sport = r.data.readUInt16BE(14 + ihl);
      o.udpSrcPorts.set(sport, (o.udpSrcPorts.get(sport) ?? 0) + 1);
      if (sport === 161) o.minSnmpLen = Math.min(o.minSnmpLen, r.len);
    }
  }
  return o;
}

function topShare(o: Observed, exclude: readonly string[] = []): number {
  let top = 0;
  for (const [ip, n] of o.bySource) if (!exclude.includes(ip)) top = Math.max(top, n);
  return top / o.inbound;
}

const { dir, cleanup } = tempDir('scenarios');
const results = new Map<ScenarioName, { result: ScenarioResult; seen: Observed }>();
before(() => {
  for (const name of SCENARIO_NAMES) {
    const result = writeScenario(name, dir);
    results.set(name, { result, seen: observe(result.capturePath, result.truth) });
  }
});
after(cleanup);

const get = (name: ScenarioName): { truth: ScenarioTruth; seen: Observed; result: ScenarioResult } => {
  const r = results.get(name)!;
  return { truth: r.result.truth, seen: r.seen, result: r.result };
};

describe('every scenario', () => {
  for (const name of SCENARIO_NAMES) {
    it(`${name}: file matches its truth totals`, () => {
      const { truth, seen, result } = get(name);
      assert.deepEqual(JSON.parse(readFileSync(result.truthPath, 'utf8')), truth);
      assert.equal(truth.name, name);
      assert.equal(truth.victim, '10.10.10.10');
      assert.equal(seen.records, truth.totalPackets);
      assert.equal(seen.inbound, truth.inboundPackets);
      assert.equal(seen.outbound, truth.outboundPackets);
      assert.equal(seen.nonIp, truth.nonIpPackets);
      assert.equal(seen.malformed, 0);
      assert.equal(truth.totalPackets, truth.inboundPackets + truth.outboundPackets + truth.nonIpPackets);
      assert.equal(seen.bySource.size, truth.distinctSourcesApprox);
      assert.equal(seen.bySource.get(truth.topSource.ip), truth.topSource.packets);
      assert.ok(seen.monotonic, 'timestamps go backwards');
      assert.ok(seen.inWindow, 'timestamps outside [start, start + duration)');
      assert.ok(truth.durationSeconds <= 10);
      assert.ok(truth.outboundPackets > 0.02 * truth.inboundPackets, 'victim replies are part of every scenario');
      assert.ok(!seen.bySource.has(VICTIM));
      // Each whole second carries the nominal inbound rate.
      assert.equal(seen.inboundPerSecond.length, truth.durationSeconds);
      const nominal = truth.nominal.benignInboundPps + truth.nominal.attackPps;
      for (const n of seen.inboundPerSecond) assert.ok(Math.abs(n - nominal) <= nominal * 0.01 + 5, `${n} pps vs nominal ${nominal}`);
    });
  }
});

describe('scenario ground truth', () => {
  it('single-source-flood: one attacker far above 20% at 8000 pps, every benign client tiny', () => {
    const { truth, seen } = get('single-source-flood');
    assert.deepEqual(truth.attackers, ['203.0.113.7']);
    assert.equal(truth.underAttack, true);
    assert.equal(truth.vector, 'syn_flood');
    assert.equal(truth.topSource.ip, '203.0.113.7');
    assert.ok(truth.topSource.share > 0.8);
    for (const n of seen.perSecond.get('203.0.113.7')!) assert.ok(Math.abs(n - 8000) <= 1);
    assert.ok(topShare(seen, truth.attackers) < 0.005);
    assert.equal(seen.bySource.size, 301);
  });

  it('five-attackers: five sources at 8000 pps each, each just under a 20% share', () => {
    const { truth, seen } = get('five-attackers');
    assert.deepEqual(truth.attackers, ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5']);
    for (const a of truth.attackers) {
      assert.equal(seen.bySource.get(a), 40000);
      for (const n of seen.perSecond.get(a)!) assert.ok(Math.abs(n - 8000) <= 1);
      assert.ok(seen.bySource.get(a)! / seen.inbound > 0.19 && seen.bySource.get(a)! / seen.inbound < 0.2);
    }
    assert.ok(topShare(seen, truth.attackers) < 0.005);
  });

  it('spoofed-syn-flood: 100k spoofed sources, nobody above 2%, no reserved addresses', () => {
    const { truth, seen } = get('spoofed-syn-flood');
    assert.deepEqual(truth.attackers, []);
    assert.equal(truth.vector, 'syn_flood');
    assert.equal(truth.distinctAttackSources, 100_000);
    assert.ok(topShare(seen) < 0.02);
    assert.ok(Math.abs(truth.nominal.attackPps - 50_000) < 1000);
    let spoofed = 0;
    for (const [ip, n] of seen.bySource) {
      if (ip.startsWith('100.64.')) continue; // benign pool
      spoofed++;
      assert.ok(n >= 1 && n <= 2, `${ip} sent ${n}`);
      const v = uint32FromIpv4(ip);
      assert.ok(!isExcludedIpv4(v) && v >>> 24 !== 0 && v >>> 24 !== 127 && v >>> 28 < 14, ip);
    }
    assert.equal(spoofed, 100_000);
  });

  it('udp-amplification-snmp: source port 161 dominates, ~3000 reflectors, true lengths under snaplen 128', () => {
    const { truth, seen } = get('udp-amplification-snmp');
    assert.equal(truth.vector, 'udp_amplification');
    assert.equal(truth.dominantSourcePort, 161);
    assert.equal(truth.distinctAttackSources, 3000);
    assert.ok(Math.abs(truth.distinctSourcesApprox! - 3300) <= 1);
    assert.equal(seen.udpSrcPorts.get(161), 200_000);
    assert.ok(seen.udpSrcPorts.get(161)! / seen.inbound > 0.9);
    assert.equal(truth.capture.snaplen, 128);
    assert.ok(seen.maxCaplen <= 128);
    assert.ok(seen.minSnmpLen >= 14 + 20 + 8 + 1000);
    assert.ok(topShare(seen) < 0.01);
  });

  it('benign-only: 5000 inbound pps from ~2000 clients, nothing to flag', () => {
    const { truth, seen } = get('benign-only');
    assert.equal(truth.underAttack, false);
    assert.deepEqual(truth.attackers, []);
    assert.equal(truth.vector, undefined);
    assert.ok(seen.bySource.size >= 2000);
    assert.ok(topShare(seen) < 0.05);
    assert.ok((seen.udpSrcPorts.get(53) ?? 0) > 2000, 'legitimate DNS responses are present');
  });

  it('distributed-flood-50k: 5000 bots at exactly 10 pps each', () => {
    const { truth, seen } = get('distributed-flood-50k');
    assert.equal(truth.underAttack, true);
    assert.equal(truth.vector, 'udp_flood');
    assert.equal(truth.distinctAttackSources, 5000);
    let bots = 0;
    for (const [ip, n] of seen.bySource) {
      if (ip.startsWith('100.64.')) continue;
      bots++;
      assert.equal(n, 10 * truth.durationSeconds);
    }
    assert.equal(bots, 5000);
  });
});

describe('scenario files and tcpdump', { skip: skipWithoutTcpdump }, () => {
  it('tcpdump reads single-source-flood completely', () => {
    const { truth, result } = get('single-source-flood');
    const out = tcpdump(result.capturePath, ['-q']);
    assert.equal(out.packets.length, truth.totalPackets);
    assert.equal(out.packets.filter((l) => l.includes(' IP 203.0.113.7.')).length, truth.attackPackets);
  });

  it('the pcapng variant holds the same packets and truth', () => {
    const { dir: ngDir, cleanup: ngCleanup } = tempDir('scenario-ng');
    try {
      const ng = writeScenario('benign-only', ngDir, { format: 'pcapng' });
      const pcap = get('benign-only');
      const { capture: _a, ...ngTruth } = ng.truth;
      const { capture: _b, ...pcapTruth } = pcap.truth;
      assert.deepEqual(ngTruth, pcapTruth);
      assert.equal(tcpdump(ng.capturePath, ['-q']).packets.length, ng.truth.totalPackets);
      const a = readCaptureFile(ng.capturePath).records;
      const b = readCaptureFile(pcap.result.capturePath).records;
      assert.equal(a.length, b.length);
      for (let i = 0; i < a.length; i += 997) assert.ok(a[i]!.data.equals(b[i]!.data) && a[i]!.timestampUs === b[i]!.timestampUs);
    } finally {
      ngCleanup();
    }
  });
});
