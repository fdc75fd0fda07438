import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyVector } from '../../detection/vector-classifier.js';
import { AMPLIFICATION_PORTS } from '../../detection/amplification-ports.js';
import { buildSignature, mitigationSignatureSchema } from '../../detection/mitigation-signature.js';
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

describe('classifyVector: the heaviest component, named with service and ports', () => {
  it('SYN flood with the targeted port in the label and the signature', () => {
    const c = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'syn', packets: 900, dport: 443 }, { src: '1.0.0.2', kind: 'ack', packets: 100, dport: 443 }]));
    assert.equal(c.vector, 'syn_flood');
    assert.equal(c.detail, 'TCP SYN flood (tcp dport 443)');
    assert.equal(c.signature.text, 'tcp flags syn/syn,ack,rst to 10.10.10.10 dport 443');
    assert.equal(c.signature.destinationPort, 443);
  });

  it('leaves the port out when no single port carries most of the flood', () => {
    const flows = Array.from({ length: 4 }, (_, i) => ({ src: '1.0.0.1', kind: 'syn' as const, packets: 100, dport: 80 + i }));
    const c = classifyVector(victimOf(flows));
    assert.equal(c.detail, 'TCP SYN flood');
    assert.equal(c.signature.destinationPort, undefined);
  });

  it('SYN-ACK reflection matches on the reflectors\u2019 source port', () => {
    const c = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'synack', packets: 1000, sport: 443, dport: 40000 }]));
    assert.equal(c.vector, 'synack_reflection');
    assert.equal(c.detail, 'TCP SYN-ACK reflection (tcp sport 443)');
    assert.equal(c.signature.sourcePort, 443);
  });

  it('ACK and RST floods', () => {
    assert.equal(classifyVector(victimOf([{ src: '1.0.0.1', kind: 'ack', packets: 800, dport: 80 }])).signature.text, 'tcp flags ack/syn,ack,rst,fin to 10.10.10.10 dport 80');
    const rst = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'rst', packets: 800 }, { src: '1.0.0.2', kind: 'ack', packets: 200 }]));
    assert.equal(rst.vector, 'rst_flood');
    assert.equal(rst.signature.text, 'tcp flags rst to 10.10.10.10');
  });

  it('UDP amplification names the service from the source port', () => {
    for (const [port, service] of [[53, 'DNS'], [123, 'NTP'], [11211, 'memcached'], [389, 'CLDAP'], [47808, 'BACnet'], [37810, 'DVR/IoT']] as const) {
      const c = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'udp', packets: 1000, sport: port, dport: 5555 }]));
      assert.equal(c.vector, 'udp_amplification');
      assert.equal(c.detail, `${service} amplification (udp sport ${port})`);
      assert.equal(c.signature.text, `udp sport ${port} to 10.10.10.10`);
    }
  });

  it('a fixed non-amplification source port gives a UDP flood with that port', () => {
    const c = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'udp', packets: 1000, sport: 4444, dport: 80 }]));
    assert.equal(c.vector, 'udp_flood');
    assert.equal(c.signature.text, 'udp sport 4444 to 10.10.10.10 dport 80');
  });

  it('ICMP, fragments and other protocols', () => {
    assert.equal(classifyVector(victimOf([{ src: '1.0.0.1', kind: 'icmp', packets: 1000 }])).signature.text, 'icmp to 10.10.10.10');
    const frag = classifyVector(victimOf([{ src: '1.0.0.1', kind: 'fragment', packets: 700 }, { src: '1.0.0.1', kind: 'udp', packets: 300, sport: 53 }]));
    assert.equal(frag.vector, 'fragment_flood');
    assert.equal(frag.detail, 'DNS fragment reflection (udp sport 53, IP fragments)');
    assert.equal(frag.signature.text, 'ip fragments to 10.10.10.10');
  });

  it('the amplification table covers the services of public DDoS reports', () => {
    const required: [number, string][] = [
      [53, 'DNS'], [123, 'NTP'], [161, 'SNMP'], [389, 'CLDAP'], [11211, 'memcached'], [1900, 'SSDP'], [500, 'ISAKMP'],
      [37810, 'DVR/IoT'], [47808, 'BACnet'], [19, 'CharGEN'], [17, 'QOTD'], [111, 'Portmap'], [137, 'NetBIOS'], [3702, 'WS-Discovery'],
      [5353, 'mDNS'], [3283, 'ARD'], [10001, 'Ubiquiti'], [1434, 'MS-SQL'], [5683, 'CoAP'], [427, 'SLP'], [10074, 'TP240'],
      [32414, 'Plex'], [623, 'IPMI'], [3478, 'STUN'], [69, 'TFTP'],
    ];
    for (const [port, service] of required) assert.equal(AMPLIFICATION_PORTS.get(port), service, `port ${port}`);
  });
});

describe('mitigation signatures are structured and validated', () => {
  it('every field a firewall rule needs, and the text', () => {
    const s = buildSignature({ protocol: 'tcp', destination: VICTIM, destinationPort: 443, tcpFlags: { mask: ['syn', 'ack'], value: ['syn'] } });
    assert.deepEqual(s, { text: 'tcp flags syn/syn,ack to 10.10.10.10 dport 443', protocol: 'tcp', destination: VICTIM, destinationPort: 443, tcpFlags: { mask: ['syn', 'ack'], value: ['syn'] } });
  });

  it('refuses combinations no rule can express', () => {
    assert.throws(() => buildSignature({ protocol: 'icmp', destination: VICTIM, sourcePort: 53 }), /ports need protocol tcp or udp/);
    assert.throws(() => buildSignature({ protocol: 'udp', destination: VICTIM, tcpFlags: { mask: ['syn'], value: ['syn'] } }), /tcpFlags need protocol tcp/);
    assert.throws(() => buildSignature({ protocol: 'udp', destination: VICTIM, fragment: 'non-first' }), /non-first fragments carry no ports/);
    assert.throws(() => buildSignature({ protocol: 'any', destination: '10.0.0.0/8' }), /one IP address/);
    assert.throws(() => buildSignature({ protocol: 'tcp', destination: VICTIM, tcpFlags: { mask: ['ack'], value: ['syn'] } }), /subset/);
    assert.equal(mitigationSignatureSchema.safeParse({ text: 'x', protocol: 'udp', destination: VICTIM, sourcePort: 70000 }).success, false);
    assert.equal(mitigationSignatureSchema.safeParse({ text: 'x', protocol: 'udp', destination: VICTIM, extra: 1 }).success, false);
  });
});
