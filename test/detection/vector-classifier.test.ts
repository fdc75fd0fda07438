import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyVector } from '../../detection/vector-classifier.js';
import { AMPLIFICATION_PORTS } from '../../detection/amplification-ports.js';
import type { DestinationCounters } from '../../native/lib/types.js';
import { buildSlot, type Flow } from './slot-fixtures.js';

const VICTIM = '10.10.10.10';

/** The victim's counters after aggregating `flows` (all sent to VICTIM). */
function victimOf(flows: Omit<Flow, 'dst'>[]): DestinationCounters {
  const slot = buildSlot({ start: 0, flows: flows.map((f) => ({ ...f, dst: VICTIM })) });
  const d = slot.destinations.find((x) => x.addr === VICTIM);
  assert.ok(d);
  return d;
}

describe('classifyVector', () => {
  it('SYN flood with the targeted port in the signature', () => {
    const c = classifyVector(
      victimOf([
        { src: '1.0.0.1', kind: 'syn', packets: 900, dport: 443 },
        { src: '1.0.0.2', kind: 'ack', packets: 100, dport: 443 },
      ]),
    );
    assert.equal(c.vector, 'syn_flood');
    assert.equal(c.signature.text, 'tcp flags syn to 10.10.10.10 dport 443');
    assert.equal(c.signature.tcpFlags, 'syn');
    assert.equal(c.signature.destinationPort, 443);
  });

  it('leaves the port out when no single port carries most of the flood', () => {
    const flows = Array.from({ length: 4 }, (_, i) => ({ src: '1.0.0.1', kind: 'syn' as const, packets: 100, dport: 80 + i }));
    const c = classifyVector(victimOf(flows));
    assert.equal(c.vector, 'syn_flood');
    assert.equal(c.signature.text, 'tcp flags syn to 10.10.10.10');
    assert.equal(c.signature.destinationPort, undefined);
  });

  it('SYN-ACK reflection matches on the reflectors\u2019 source port', () => {
    const c = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'synack', packets: 1000, sport: 443, dport: 40000 }]));
    assert.equal(c.vector, 'synack_reflection');
    assert.equal(c.signature.text, 'tcp flags syn-ack sport 443 to 10.10.10.10');
    assert.equal(c.signature.sourcePort, 443);
  });

  it('ACK and RST floods', () => {
    assert.equal(classifyVector(victimOf([{ src: '1.0.0.1', kind: 'ack', packets: 800, dport: 80 }])).signature.text, 'tcp flags ack to 10.10.10.10 dport 80');
    const rst = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'rst', packets: 800 }, { src: '1.0.0.2', kind: 'ack', packets: 200 }]));
    assert.equal(rst.vector, 'rst_flood');
    assert.equal(rst.signature.text, 'tcp flags rst to 10.10.10.10');
  });

  it('TCP with no dominant flag is generic but still a TCP rule', () => {
    const c = classifyVector(
      victimOf([
        { src: '1.0.0.1', kind: 'syn', packets: 400, dport: 22 },
        { src: '1.0.0.1', kind: 'ack', packets: 400, dport: 22 },
        { src: '1.0.0.1', kind: 'rst', packets: 200, dport: 22 },
      ]),
    );
    assert.equal(c.vector, 'generic');
    assert.equal(c.signature.protocol, 'tcp');
    assert.equal(c.signature.text, 'tcp to 10.10.10.10 dport 22');
  });

  it('UDP amplification names the service from the source port', () => {
    for (const [port, service] of [[53, 'DNS'], [123, 'NTP'], [11211, 'memcached'], [389, 'CLDAP']] as const) {
      const c = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'udp', packets: 1000, sport: port, dport: 5555 }]));
      assert.equal(c.vector, 'udp_amplification');
      assert.equal(c.detail, `${service} amplification (udp sport ${port})`);
      assert.equal(c.signature.text, `udp sport ${port} to 10.10.10.10`);
    }
  });

  it('an amplification port that is not a clear majority of the UDP packets is a plain UDP flood', () => {
    const c = classifyVector(
      victimOf([
        { src: '1.0.0.1', kind: 'udp', packets: 550, sport: 53 },
        { src: '1.0.0.2', kind: 'udp', packets: 450, sport: 123 },
      ]),
    );
    assert.equal(c.vector, 'udp_flood');
    // 55% of UDP is above "dominant" (50%), so the port still narrows the rule.
    assert.equal(c.signature.text, 'udp sport 53 to 10.10.10.10');
  });

  it('a fixed non-amplification source port gives a UDP flood with that port', () => {
    const c = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'udp', packets: 1000, sport: 4444, dport: 80 }]));
    assert.equal(c.vector, 'udp_flood');
    assert.equal(c.signature.text, 'udp sport 4444 to 10.10.10.10 dport 80');
  });

  it('ICMP, fragments and mixed traffic', () => {
    assert.equal(classifyVector(victimOf([{ src: '1.0.0.1', kind: 'icmp', packets: 1000 }])).signature.text, 'icmp to 10.10.10.10');
    const frag = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'fragment', packets: 700 }, { src: '1.0.0.1', kind: 'udp', packets: 300, sport: 53 }]));
    assert.equal(frag.vector, 'fragment_flood');
    assert.equal(frag.signature.text, 'ip fragments to 10.10.10.10');
    assert.equal(frag.signature.protocol, 'any');
    const mixed = classifyVector(
      victimOf([
        { src: '1.0.0.1', kind: 'icmp', packets: 400 },
        { src: '1.0.0.1', kind: 'udp', packets: 350, dport: 9 },
        { src: '1.0.0.1', kind: 'syn', packets: 250 },
      ]),
    );
    assert.equal(mixed.vector, 'generic');
    assert.equal(mixed.signature.text, 'ip to 10.10.10.10');
    assert.match(mixed.detail, /icmp 40%/);
  });

  it('the amplification table covers the required services', () => {
    const required: [number, string][] = [
      [53, 'DNS'], [123, 'NTP'], [161, 'SNMP'], [389, 'CLDAP'], [11211, 'memcached'], [1900, 'SSDP'], [500, 'ISAKMP'],
      [37810, 'DVR'], [19, 'chargen'], [17, 'QOTD'], [111, 'portmap'], [137, 'NetBIOS'], [3702, 'WS-Discovery'],
      [5353, 'mDNS'], [3283, 'ARD'], [10001, 'Ubiquiti'], [1434, 'MSSQL'],
    ];
    for (const [port, service] of required) assert.equal(AMPLIFICATION_PORTS.get(port), service, `port ${port}`);
  });
});
