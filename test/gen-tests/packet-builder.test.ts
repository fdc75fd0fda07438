// Header layouts, checksums and fragmentation of the frame builders.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { internetChecksum } from '../gen/checksum.js';
import { formatIp, ipv6ToBytes } from '../gen/ip-address.js';
import {
  AF,
  ETHERTYPE,
  IPPROTO,
  LINKTYPE,
  arpPacket,
  ethernetFrame,
  fragmentIpv4,
  fragmentIpv6,
  icmpEchoPacket,
  ipv4Option,
  ipv4Packet,
  nullFrame,
  qinqFrame,
  sll2Frame,
  sllFrame,
  tcpPacket,
  tcpSynOptions,
  udpPacket,
} from '../gen/packet-builder.js';
import { writeCaptureFile } from '../gen/pcap-writer.js';
import { skipWithoutTcpdump, tcpdump, tempDir } from './helpers.js';

const { dir, cleanup } = tempDir('builder');
after(cleanup);

describe('IP builders', () => {
  it('IPv4: header fields, options and a valid header checksum', () => {
    const p = ipv4Packet({ src: '192.0.2.1', dst: '10.10.10.10', protocol: IPPROTO.UDP, payload: Buffer.alloc(8), options: ipv4Option.recordRoute(9), id: 7, ttl: 3 });
    assert.equal(p[0], 0x4f); // IHL 15
    assert.equal(p.readUInt16BE(2), p.length);
    assert.equal(p.readUInt16BE(4), 7);
    assert.equal(p[8], 3);
    assert.equal(internetChecksum(p.subarray(0, 60)), 0);
  });

  it('TCP: data offset covers options, flags byte', () => {
    const p = tcpPacket({ src: '192.0.2.1', dst: '10.10.10.10', srcPort: 1, dstPort: 2, flags: { syn: true, ack: true }, options: tcpSynOptions() });
    assert.equal(p[20 + 12]! >> 4, 10);
    assert.equal(p[20 + 13], 0x12);
  });

  it('IPv6: extension headers chain to the upper layer in 8-byte units', () => {
    const p = udpPacket({ src: '2001:db8::1', dst: '2001:db8::2', srcPort: 1, dstPort: 2, extensionHeaders: [{ kind: 'hopByHop' }, { kind: 'routing' }, { kind: 'destinationOptions', options: Buffer.alloc(9) }] });
    assert.equal(p[6], IPPROTO.HOPOPTS);
    let at = 40;
    const chain: number[] = [];
    let next: number = p[6]!;
    while (next === IPPROTO.HOPOPTS || next === IPPROTO.ROUTING || next === IPPROTO.DSTOPTS) {
      chain.push(next);
      next = p[at]!;
      at += (p[at + 1]! + 1) * 8;
    }
    assert.deepEqual(chain, [IPPROTO.HOPOPTS, IPPROTO.ROUTING, IPPROTO.DSTOPTS]);
    assert.equal(next, IPPROTO.UDP);
    assert.equal(p.readUInt16BE(at + 4), 8); // UDP length
    assert.equal(p.readUInt16BE(4), p.length - 40);
  });

  it('IPv4 fragmentation: 8-byte offsets, MF on all but the last, payload reassembles', () => {
    const whole = udpPacket({ src: '192.0.2.1', dst: '10.10.10.10', srcPort: 1, dstPort: 2, payload: Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 255)) });
    const frags = fragmentIpv4(whole, 1480);
    assert.equal(frags.length, 3);
    assert.deepEqual(frags.map((f) => f.readUInt16BE(6) & 0x1fff), [0, 185, 370]);
    assert.deepEqual(frags.map((f) => (f.readUInt16BE(6) & 0x2000) !== 0), [true, true, false]);
    for (const f of frags) assert.equal(internetChecksum(f.subarray(0, 20)), 0);
    assert.ok(Buffer.concat(frags.map((f) => f.subarray(20))).equals(whole.subarray(20)));
  });

  it('IPv6 fragmentation: hop-by-hop stays unfragmentable, fragment header follows it', () => {
    const whole = icmpEchoPacket({ src: '2001:db8::1', dst: '2001:db8::2', kind: 'request', id: 1, seq: 1, payload: Buffer.alloc(2000, 7), extensionHeaders: [{ kind: 'hopByHop' }] });
    const frags = fragmentIpv6(whole, 1448, 0xfeed);
    assert.equal(frags.length, 2);
    for (const [i, f] of frags.entries()) {
      assert.equal(f[6], IPPROTO.HOPOPTS);
      assert.equal(f[40], IPPROTO.FRAGMENT);
      assert.equal(f[48], IPPROTO.ICMPV6);
      assert.equal(f.readUInt32BE(52), 0xfeed);
      assert.equal(f.readUInt16BE(50) & 1, i === 0 ? 1 : 0);
      assert.equal(f.readUInt16BE(4), f.length - 40);
    }
    assert.equal(frags[1]!.readUInt16BE(50) >> 3, 1448 / 8);
    assert.ok(Buffer.concat(frags.map((f) => f.subarray(56))).equals(whole.subarray(48)));
  });
});

describe('link layers', () => {
  const ip = udpPacket({ src: '192.0.2.1', dst: '10.10.10.10', srcPort: 1, dstPort: 2 });
  it('Ethernet, QinQ, SLL, SLL2, NULL header sizes and type fields', () => {
    assert.equal(ethernetFrame({ payload: ip }).readUInt16BE(12), ETHERTYPE.IPV4);
    const q = qinqFrame(300, 100, ip);
    assert.deepEqual([q.readUInt16BE(12), q.readUInt16BE(14) & 0xfff, q.readUInt16BE(16), q.readUInt16BE(18) & 0xfff, q.readUInt16BE(20)], [0x88a8, 300, 0x8100, 100, 0x0800]);
    assert.equal(sllFrame({ payload: ip }).length, 16 + ip.length);
    assert.equal(sllFrame({ payload: ip }).readUInt16BE(14), ETHERTYPE.IPV4);
    const s2 = sll2Frame({ payload: ip, interfaceIndex: 5 });
    assert.deepEqual([s2.length - ip.length, s2.readUInt16BE(0), s2.readUInt32BE(4)], [20, ETHERTYPE.IPV4, 5]);
    assert.equal(nullFrame(AF.INET6_DARWIN, ip).readUInt32LE(0), 30);
    assert.equal(nullFrame(AF.INET, ip, 'be').readUInt32BE(0), 2);
    assert.equal(arpPacket({ operation: 'reply', senderMac: '02:00:00:00:00:01', senderIp: '10.0.0.1', targetIp: '10.0.0.2' }).length, 28);
  });
});

describe('addresses', () => {
  it('IPv6 text round-trips to the canonical form', () => {
    for (const [input, canonical] of [
      ['2001:db8::1', '2001:db8::1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['::', '::'],
      ['fe80::', 'fe80::'],
      ['2001:db8:0:1::10', '2001:db8:0:1::10'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ] as const) {
      assert.equal(formatIp(ipv6ToBytes(input)), canonical, input);
    }
  });
});

describe('checksums as tcpdump sees them', { skip: skipWithoutTcpdump }, () => {
  it('TCP, UDP, ICMP, ICMPv6 over IPv4 (with options) and IPv6 (with extension headers) all verify', () => {
    const packets = [
      tcpPacket({ src: '192.0.2.1', dst: '10.10.10.10', srcPort: 1000, dstPort: 80, flags: { syn: true }, options: tcpSynOptions() }),
      ipv4Packet({ src: '192.0.2.1', dst: '10.10.10.10', protocol: IPPROTO.UDP, payload: udpPacket({ src: '192.0.2.1', dst: '10.10.10.10', srcPort: 5, dstPort: 6, payload: Buffer.alloc(33, 1) }).subarray(20), options: ipv4Option.routerAlert() }),
      icmpEchoPacket({ src: '192.0.2.1', dst: '10.10.10.10', kind: 'request', id: 1, seq: 2 }),
      tcpPacket({ src: '2001:db8::1', dst: '2001:db8::2', srcPort: 1000, dstPort: 443, flags: { psh: true, ack: true }, payload: Buffer.alloc(101, 9), extensionHeaders: [{ kind: 'hopByHop' }, { kind: 'routing' }] }),
      udpPacket({ src: '2001:db8::1', dst: '2001:db8::2', srcPort: 5, dstPort: 6, payload: Buffer.alloc(17, 3), extensionHeaders: [{ kind: 'destinationOptions' }] }),
      icmpEchoPacket({ src: '2001:db8::1', dst: '2001:db8::2', kind: 'reply', id: 1, seq: 2 }),
    ];
    const path = join(dir, 'checksums.pcap');
    writeCaptureFile(path, { linktype: LINKTYPE.ETHERNET }, packets.map((p, i) => ({ frame: ethernetFrame({ payload: p }), timestampUs: 1_700_000_000_000_000 + i })));
    const out = tcpdump(path, ['-vv']).stdout;
    // tcpdump reports ICMPv4 checksums only when wrong; the others it confirms.
    assert.ok(!/bad|incorrect|wrong/.test(out), out);
    assert.equal((out.match(/\(correct\)|udp sum ok|icmp6 sum ok/g) ?? []).length, 5, out);
  });
});
