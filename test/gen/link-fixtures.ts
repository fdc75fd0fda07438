// Small committed captures, one per link type or parsing feature, each with
// exact expected counts (manifest.json) derived from how every packet was built.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { tallyPackets, type CaptureCounts, type IpPacketClass, type L4Class } from './capture-counts.js';
import { cut, framed, fragmented, malformed, nonIp, otherProtocol, ping, tcp, udp, type DeclaredIp, type FixturePacket } from './fixture-kit.js';
import {
  AF,
  ETHERTYPE,
  IPPROTO,
  LINKTYPE,
  SLL_PACKET_TYPE,
  arpPacket,
  ethernetFrame,
  ipv4Option,
  ipv4Packet,
  ipv6Packet,
  ipv6RouterAlertOption,
  nullFrame,
  qinqFrame,
  sll2Frame,
  sllFrame,
  vlanFrame,
} from './packet-builder.js';
import { openCaptureWriter, type CaptureFormat, type TimestampResolution } from './pcap-writer.js';

export interface LinkFixture {
  file: string;
  format: CaptureFormat;
  linktype: number;
  snaplen: number;
  resolution: TimestampResolution;
  interfaceName?: string;
  description: string;
  packets: FixturePacket[];
}

export interface FixtureManifestEntry extends CaptureCounts {
  format: CaptureFormat;
  linktype: number;
  linktypeName: string;
  snaplen: number;
  /** pcapng if_tsresol / pcap magic resolution. */
  resolution: TimestampResolution;
  description: string;
  /** One line per packet, in file order: the expected classification. */
  packetNotes: string[];
}

export interface FixtureManifest {
  comment: string;
  rules: string[];
  firstTimestampUs: number;
  packetSpacingUs: number;
  fixtures: Record<string, FixtureManifestEntry>;
}

export const FIXTURE_START_US = 1_700_000_000_000_000;
export const FIXTURE_SPACING_US = 1000;

const LINKTYPE_NAMES: Record<number, string> = {
  [LINKTYPE.NULL]: 'NULL',
  [LINKTYPE.ETHERNET]: 'EN10MB',
  [LINKTYPE.RAW]: 'RAW',
  [LINKTYPE.LINUX_SLL]: 'LINUX_SLL',
  [LINKTYPE.LINUX_SLL2]: 'LINUX_SLL2',
  [LINKTYPE.IPV4]: 'IPV4',
  [LINKTYPE.IPV6]: 'IPV6',
};

export const COUNTING_RULES = [
  'malformed: headers cannot be parsed within caplen (link header, IP header incl. IHL<5, IHL*4 past the data, total length < IHL, version not matching the link type, L4 header of an unfragmented/first-fragment packet: TCP<20 bytes or data offset<5, UDP<8, ICMP/ICMPv6<4, IPv6 extension chain past the data). caplen 0 is malformed. Malformed packets count only in packets and malformed.',
  'L4 bounds are the captured bytes and the IP length field (IPv4 total length / IPv6 payload length), whichever is smaller: Ethernet padding is not L4.',
  'nonIp: well-formed link header with a non-IP ethertype (ARP, LLDP, 802.3 length field) or an unknown DLT_NULL family.',
  'fragments: IPv4 MF or offset>0; IPv6 fragment header with M or offset>0 (an atomic fragment header, M=0 offset=0, is not a fragment). Non-first fragments count as other; first fragments count in their L4 protocol with flags.',
  'TCP: syn = SYN&!ACK; synAck = SYN&ACK; rst = RST; ack = ACK&!SYN&!RST&!FIN. FIN+ACK counts in none.',
  'ICMPv6 counts as icmp; other IP protocols (GRE, ESP, IGMP, no-next-header 59) as other.',
  'DLT_NULL family is read in either byte order (host order of the capturing machine): 2 = IPv4; 24, 28, 30 = IPv6.',
  'No protected set: every IP packet is inbound; sources keyed by IP source, destinations by IP destination.',
];

// Addresses: documentation ranges so nothing collides with scenarios.
const C1 = '192.0.2.1';
const C2 = '192.0.2.2';
const C3 = '192.0.2.3';
const C4 = '192.0.2.4';
const DNS = '192.0.2.53';
const V4 = '10.10.10.10';
const V4B = '10.10.10.11';
const C6 = '2001:db8::a';
const C6B = '2001:db8::b';
const V6 = '2001:db8:0:1::10';

const eth = (ip: Buffer): Buffer => ethernetFrame({ payload: ip });
const arpFrame = (op: 'request' | 'reply', senderIp: string, targetIp: string, dst = 'ff:ff:ff:ff:ff:ff'): Buffer =>
  ethernetFrame({
    dst,
    src: '02:00:00:00:00:0a',
    etherType: ETHERTYPE.ARP,
    payload: arpPacket({ operation: op, senderMac: '02:00:00:00:00:0a', senderIp, targetMac: op === 'reply' ? '02:00:00:00:00:0b' : undefined, targetIp }),
  });

function ethernetFixture(): LinkFixture {
  const lldp = ethernetFrame({ dst: '01:80:c2:00:00:0e', etherType: ETHERTYPE.LLDP, payload: Buffer.from('0204076c6c64700404056574683000', 'hex') });
  // 802.3 frame: the type field is a length (<= 1500) followed by LLC (STP BPDU).
  const llc = ethernetFrame({ dst: '01:80:c2:00:00:00', etherType: 38, payload: Buffer.concat([Buffer.from([0x42, 0x42, 0x03]), Buffer.alloc(35)]) });
  // A minimal UDP packet is 28 bytes; the NIC pads the frame to 60. The padding is not UDP.
  const small = udp(C3, V4, 40000, 7, { payload: Buffer.alloc(0) });
  const padded = Buffer.concat([eth(small.bytes), Buffer.alloc(60 - 14 - small.bytes.length)]);
  return {
    file: 'ethernet.pcap',
    format: 'pcap',
    linktype: LINKTYPE.ETHERNET,
    snaplen: 262144,
    resolution: 'us',
    description: 'Ethernet II: a TCP handshake and teardown, RSTs, UDP, DNS, ICMP, GRE, IPv6 TCP/UDP/ICMPv6/ESP, ARP, LLDP, 802.3/LLC, a padded minimum frame.',
    packets: [
      ...framed(
        eth,
        tcp(C1, V4, 40001, 80, { syn: true }),
        tcp(V4, C1, 80, 40001, { syn: true, ack: true }),
        tcp(C1, V4, 40001, 80, { ack: true }),
        tcp(C1, V4, 40001, 80, { psh: true, ack: true }, { payload: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n') }),
        tcp(V4, C1, 80, 40001, { fin: true, ack: true }),
        tcp(C1, V4, 40001, 80, { fin: true, ack: true }),
        tcp(C2, V4, 40002, 443, { rst: true }),
        tcp(V4, C2, 443, 40002, { rst: true, ack: true }),
        udp(C3, V4, 5353, 53),
        udp(DNS, V4, 53, 33333, { payload: Buffer.alloc(120) }),
        ping(C4, V4, 'request'),
        ping(V4, C4, 'reply'),
        otherProtocol(C4, V4B, IPPROTO.GRE),
        tcp(C6, V6, 50000, 443, { syn: true }),
        udp(C6, V6, 50001, 53),
        ping(C6, V6, 'request'),
        otherProtocol(C6B, V6, IPPROTO.ESP),
      ),
      { frame: padded, expect: small.cls, note: `${small.note} (28-byte packet padded to a 60-byte frame)` },
      nonIp(arpFrame('request', V4, '10.10.10.1'), 'ARP request'),
      nonIp(lldp, 'LLDP'),
      nonIp(llc, '802.3 length field with LLC (STP)'),
    ],
  };
}

function vlanFixture(): LinkFixture {
  const q = (vid: number) => (ip: Buffer) => vlanFrame(vid, ip);
  const qinq = (outer: number, inner: number) => (ip: Buffer) => qinqFrame(outer, inner, ip);
  const oldQinq = (ip: Buffer): Buffer => ethernetFrame({ payload: ip, vlanTags: [{ tpid: 0x9100, vid: 10 }, { vid: 20 }] });
  return {
    file: 'vlan-qinq.pcap',
    format: 'pcap',
    linktype: LINKTYPE.ETHERNET,
    snaplen: 262144,
    resolution: 'us',
    description: '802.1Q (vlan 100, 200), QinQ 0x88a8+0x8100 (300/100), legacy 0x9100 QinQ, an ARP inside a VLAN.',
    packets: [
      ...framed(q(100), tcp(C1, V4, 40001, 80, { syn: true }), udp(C6, V6, 50001, 53), ping(C4, V4, 'request')),
      ...framed(q(200), tcp(V4, C1, 80, 40001, { syn: true, ack: true })),
      { frame: vlanFrame(200, arpPacket({ operation: 'request', senderMac: '02:00:00:00:00:0a', senderIp: V4, targetIp: '10.10.10.1' }), ETHERTYPE.ARP), expect: { kind: 'nonIp' }, note: 'non-IP: ARP in vlan 200' },
      ...framed(qinq(300, 100), udp(C2, V4, 123, 40000), tcp(C6, V6, 50000, 443, { syn: true, ack: true }), tcp(C3, V4B, 40003, 22, { ack: true })),
      ...framed(oldQinq, tcp(C2, V4, 40004, 80, { rst: true })),
    ],
  };
}

function sllFixture(): LinkFixture {
  const inbound = (ip: Buffer): Buffer => sllFrame({ payload: ip, packetType: SLL_PACKET_TYPE.HOST });
  const outbound = (ip: Buffer): Buffer => sllFrame({ payload: ip, packetType: SLL_PACKET_TYPE.OUTGOING, linkAddress: '02:00:00:00:00:02' });
  return {
    file: 'sll.pcap',
    format: 'pcap',
    linktype: LINKTYPE.LINUX_SLL,
    snaplen: 262144,
    resolution: 'us',
    description: 'Linux cooked v1 ("any" device): incoming and outgoing IPv4/IPv6, and ARP.',
    packets: [
      ...framed(inbound, tcp(C1, V4, 40001, 80, { syn: true }), udp(C6, V6, 50001, 53), ping(C4, V4, 'request')),
      ...framed(outbound, tcp(V4, C1, 80, 40001, { syn: true, ack: true }), ping(V4, C4, 'reply')),
      nonIp(sllFrame({ payload: arpPacket({ operation: 'request', senderMac: '02:00:00:00:00:0a', senderIp: V4, targetIp: '10.10.10.1' }), protocol: ETHERTYPE.ARP, packetType: SLL_PACKET_TYPE.BROADCAST }), 'ARP (SLL protocol 0x0806)'),
    ],
  };
}

function sll2Fixture(): LinkFixture {
  const on = (ifindex: number, packetType: number = SLL_PACKET_TYPE.HOST) => (ip: Buffer) => sll2Frame({ payload: ip, interfaceIndex: ifindex, packetType });
  return {
    file: 'sll2.pcapng',
    format: 'pcapng',
    linktype: LINKTYPE.LINUX_SLL2,
    snaplen: 262144,
    resolution: 'us',
    interfaceName: 'any',
    description: 'Linux cooked v2 in pcapng (no if_tsresol: microseconds): two interface indexes, IPv4/IPv6, ICMPv6, ARP.',
    packets: [
      ...framed(on(2), tcp(C1, V4, 40001, 80, { syn: true }), udp(C2, V4, 40002, 53), tcp(C1, V4, 40001, 80, { ack: true })),
      ...framed(on(3), tcp(C6, V6, 50000, 443, { syn: true }), ping(C6, V6, 'request')),
      ...framed(on(2, SLL_PACKET_TYPE.OUTGOING), tcp(V4, C1, 80, 40001, { syn: true, ack: true })),
      nonIp(sll2Frame({ payload: arpPacket({ operation: 'reply', senderMac: '02:00:00:00:00:0a', senderIp: '10.10.10.1', targetMac: '02:00:00:00:00:0b', targetIp: V4 }), protocol: ETHERTYPE.ARP, interfaceIndex: 2 }), 'ARP reply'),
    ],
  };
}

function nullFixture(): LinkFixture {
  const fam = (family: number, order: 'le' | 'be' = 'le') => (ip: Buffer) => nullFrame(family, ip, order);
  return {
    file: 'null-loopback.pcap',
    format: 'pcap',
    linktype: LINKTYPE.NULL,
    snaplen: 262144,
    resolution: 'us',
    description: 'BSD loopback: AF_INET (2) and AF_INET6 as 24, 28 and 30, little-endian (this host) and two big-endian headers (captured on a big-endian host), plus an unknown family.',
    packets: [
      ...framed(fam(AF.INET), tcp(C1, V4, 40001, 80, { syn: true }), udp(C2, V4, 40002, 53)),
      ...framed(fam(AF.INET6_DARWIN), tcp(C6, V6, 50000, 443, { syn: true })),
      ...framed(fam(AF.INET6_BSD), ping(C6, V6, 'request')),
      ...framed(fam(AF.INET6_FREEBSD), udp(C6B, V6, 50002, 123)),
      ...framed(fam(AF.INET, 'be'), tcp(V4, C1, 80, 40001, { syn: true, ack: true })),
      ...framed(fam(AF.INET6_BSD, 'be'), ping(V6, C6, 'reply')),
      nonIp(nullFrame(7, Buffer.alloc(40)), 'DLT_NULL family 7 (not IP)'),
    ],
  };
}

function rawFixture(): LinkFixture {
  const raw = (ip: Buffer): Buffer => ip;
  const v5 = Buffer.from(udp(C1, V4, 1, 2).bytes);
  v5[0] = 0x55;
  return {
    file: 'raw-ip.pcap',
    format: 'pcap',
    linktype: LINKTYPE.RAW,
    snaplen: 262144,
    resolution: 'us',
    description: 'LINKTYPE_RAW (101): IPv4 and IPv6 chosen by the version nibble; version 5 is malformed.',
    packets: [
      ...framed(raw, tcp(C1, V4, 40001, 80, { syn: true }), udp(C6, V6, 50001, 53), ping(C4, V4, 'request'), ping(C6, V6, 'request'), tcp(V4, C1, 80, 40001, { rst: true })),
      malformed(v5, 'IP version nibble 5'),
    ],
  };
}

function rawIpv4Fixture(): LinkFixture {
  const raw = (ip: Buffer): Buffer => ip;
  return {
    file: 'raw-ipv4.pcap',
    format: 'pcap',
    linktype: LINKTYPE.IPV4,
    snaplen: 262144,
    resolution: 'us',
    description: 'LINKTYPE_IPV4 (228): IPv4 only; an IPv6 packet here is a version mismatch (malformed).',
    packets: [...framed(raw, tcp(C1, V4, 40001, 80, { syn: true }), udp(C2, V4, 40002, 53)), malformed(udp(C6, V6, 1, 2).bytes, 'IPv6 packet on an IPv4-only link')],
  };
}

function rawIpv6Fixture(): LinkFixture {
  const raw = (ip: Buffer): Buffer => ip;
  return {
    file: 'raw-ipv6.pcapng',
    format: 'pcapng',
    linktype: LINKTYPE.IPV6,
    snaplen: 262144,
    resolution: 'us',
    description: 'LINKTYPE_IPV6 (229) in pcapng: IPv6 only; an IPv4 packet here is a version mismatch (malformed).',
    packets: [...framed(raw, tcp(C6, V6, 50000, 443, { syn: true }), ping(C6B, V6, 'request')), malformed(udp(C1, V4, 1, 2).bytes, 'IPv4 packet on an IPv6-only link')],
  };
}

function ipv6ExtensionFixture(): LinkFixture {
  const hbh = { kind: 'hopByHop' as const, options: ipv6RouterAlertOption() };
  const dst = { kind: 'destinationOptions' as const };
  const rt = { kind: 'routing' as const };
  const atomic = { kind: 'fragment' as const, offset: 0, moreFragments: false, identification: 7 };
  // MLDv2 report (ICMPv6 143) behind a router-alert hop-by-hop header, as hosts send it.
  const mld = ipv6Packet({ src: 'fe80::1', dst: 'ff02::16', nextHeader: IPPROTO.ICMPV6, payload: Buffer.from([143, 0, 0, 0, 0, 0, 0, 0]), extensionHeaders: [hbh], hopLimit: 1 });
  return {
    file: 'ipv6-ext-headers.pcapng',
    format: 'pcapng',
    linktype: LINKTYPE.ETHERNET,
    snaplen: 262144,
    resolution: 'ns',
    description: 'IPv6 extension-header chains in pcapng with if_tsresol=9 (nanoseconds): hop-by-hop, routing, destination options, atomic fragment header, no-next-header, ESP.',
    packets: [
      { frame: eth(mld), expect: ipClass(6, 'fe80::1', 'ff02::16', 'icmp'), note: 'icmpv6 MLDv2 report fe80::1 > ff02::16 behind hop-by-hop (router alert)' },
      ...framed(
        eth,
        tcp(C6, V6, 50000, 443, { syn: true }, { extensionHeaders: [hbh, rt, dst] }),
        udp(C6, V6, 50001, 53, { extensionHeaders: [dst] }),
        tcp(C6B, V6, 50002, 80, { ack: true }, { extensionHeaders: [rt] }),
        udp(C6B, V6, 50003, 123, { extensionHeaders: [hbh, dst, rt, dst] }),
        noted(ping(C6, V6, 'request', { extensionHeaders: [hbh, atomic] }), 'behind an atomic fragment header (M=0, offset 0): not a fragment'),
        otherProtocol(C6, V6, IPPROTO.NONE, { extensionHeaders: [dst], payload: Buffer.alloc(0) }),
        otherProtocol(C6B, V6, IPPROTO.ESP, { extensionHeaders: [hbh] }),
        tcp(V6, C6, 443, 50000, { syn: true, ack: true }, { extensionHeaders: [dst] }),
      ),
    ],
  };
}

function fragmentFixture(): LinkFixture {
  const tinyFirst = ipv4Packet({ src: C2, dst: V4, protocol: IPPROTO.TCP, payload: Buffer.alloc(8), moreFragments: true, id: 99 });
  const loneLater = ipv4Packet({ src: C3, dst: V4B, protocol: IPPROTO.UDP, payload: Buffer.alloc(64), fragmentOffset: 1480, id: 77 });
  return {
    file: 'fragments.pcap',
    format: 'pcap',
    linktype: LINKTYPE.ETHERNET,
    snaplen: 262144,
    resolution: 'us',
    description: 'IPv4 fragments (first with ports, non-first without L4), IPv6 fragment headers (first and non-first, also behind hop-by-hop), a lone non-first fragment and a tiny first fragment too short for TCP.',
    packets: [
      ...framed(
        eth,
        ...fragmented(udp(C1, V4, 40000, 53, { payload: Buffer.alloc(3000) }), 1480),
        ...fragmented(tcp(C2, V4, 40002, 80, { psh: true, ack: true }, { payload: Buffer.alloc(2000) }), 1480),
        ...fragmented(ping(C4, V4, 'request', { payload: Buffer.alloc(2000) }), 1480),
        ...fragmented(udp(C6, V6, 50001, 4500, { payload: Buffer.alloc(3000) }), 1448, 0xabcd),
        ...fragmented(ping(C6B, V6, 'request', { payload: Buffer.alloc(2000), extensionHeaders: [{ kind: 'hopByHop' }] }), 1448, 0xbeef),
      ),
      { frame: eth(loneLater), expect: ipClass(4, C3, V4B, 'other', true), note: 'lone non-first IPv4 fragment (offset 1480, no MF)' },
      malformed(eth(tinyFirst), 'IPv4 first fragment (MF) whose 8-byte payload cannot hold a TCP header'),
    ],
  };
}

function truncatedFixture(): LinkFixture {
  const syn = eth(tcp(C1, V4, 40001, 80, { syn: true }).bytes);
  const dataful = tcp(C2, V4, 40002, 80, { psh: true, ack: true }, { payload: Buffer.alloc(1000) });
  const withDstOpts = eth(udp(C6, V6, 50001, 53, { extensionHeaders: [{ kind: 'hopByHop' }, { kind: 'destinationOptions', options: Buffer.concat([Buffer.from([0x1e, 60]), Buffer.alloc(60)]) }] }).bytes);
  const ihlTooBig = ipv4Packet({ src: C3, dst: V4, protocol: IPPROTO.UDP, payload: Buffer.alloc(8), ihlWords: 15 });
  const ihlTooSmall = ipv4Packet({ src: C3, dst: V4, protocol: IPPROTO.UDP, payload: Buffer.alloc(8), ihlWords: 4 });
  const totalBelowIhl = ipv4Packet({ src: C3, dst: V4, protocol: IPPROTO.UDP, payload: Buffer.alloc(8), totalLength: 12 });
  const v6InV4 = ethernetFrame({ payload: udp(C6, V6, 1, 2).bytes, etherType: ETHERTYPE.IPV4 });
  const badOffset = Buffer.from(tcp(C1, V4, 40001, 80, { ack: true }).bytes);
  badOffset[20 + 12] = 4 << 4;
  const laterFragment = ipv4Packet({ src: C4, dst: V4, protocol: IPPROTO.UDP, payload: Buffer.alloc(500), fragmentOffset: 1480, id: 5 });
  const vlanSyn = vlanFrame(100, tcp(C1, V4, 40001, 80, { syn: true }).bytes);
  const udpFrame = eth(udp(C1, V4, 40000, 53).bytes);
  const pingFrame = eth(ping(C4, V4, 'request').bytes);
  const m = (f: { frame: Buffer; originalLength: number }, note: string): FixturePacket => malformed(f.frame, note, f.originalLength);
  return {
    file: 'truncated.pcap',
    format: 'pcap',
    linktype: LINKTYPE.ETHERNET,
    snaplen: 262144,
    resolution: 'us',
    description: 'Per-packet caplen cuts and invalid headers; three packets are cut only in their payload (or need no L4) and are NOT malformed.',
    packets: [
      m(cut(syn, 10), 'caplen 10: inside the Ethernet header'),
      m(cut(syn, 14), 'caplen 14: Ethernet header only, IPv4 header missing'),
      m(cut(syn, 14 + 10), 'caplen 24: inside the IPv4 header'),
      m(cut(syn, 14 + 20 + 10), 'caplen 44: inside the TCP header'),
      m(cut(udpFrame, 14 + 20 + 4), 'caplen 38: inside the UDP header'),
      m(cut(pingFrame, 14 + 20 + 2), 'caplen 36: inside the ICMP header (< 4 bytes)'),
      m(cut(withDstOpts, 14 + 40 + 8 + 20), 'IPv6 extension chain (destination options of 64 bytes) runs past caplen'),
      m(cut(eth(udp(C6, V6, 1, 2).bytes), 14 + 30), 'caplen 44: inside the IPv6 header'),
      m(cut(vlanSyn, 16), 'caplen 16: inside the 802.1Q tag'),
      malformed(eth(ihlTooBig), 'IHL 15 (60 bytes) but only 28 bytes of IP packet'),
      malformed(eth(ihlTooSmall), 'IHL 4 (< 5)'),
      malformed(eth(totalBelowIhl), 'IPv4 total length 12 < header length 20'),
      malformed(v6InV4, 'ethertype IPv4 carrying a version-6 header'),
      malformed(eth(badOffset), 'TCP data offset 4 (< 5)'),
      { ...cut(eth(dataful.bytes), 14 + 20 + 20 + 10), expect: dataful.cls, note: `${dataful.note}: cut in the payload only (not malformed)` },
      { ...cut(syn, 14 + 20 + 20), expect: tcp(C1, V4, 40001, 80, { syn: true }).cls, note: 'tcp syn cut inside its TCP options (fixed 20 bytes present: not malformed)' },
      { ...cut(eth(laterFragment), 14 + 20), expect: ipClass(4, C4, V4, 'other', true), note: 'non-first IPv4 fragment cut after the IP header (needs no L4: not malformed)' },
    ],
  };
}

function zeroLengthFixture(): LinkFixture {
  return {
    file: 'zero-length.pcap',
    format: 'pcap',
    linktype: LINKTYPE.ETHERNET,
    snaplen: 262144,
    resolution: 'us',
    description: 'Records with caplen 0 (len 0 and len 60) between normal packets.',
    packets: [
      ...framed(eth, tcp(C1, V4, 40001, 80, { syn: true })),
      malformed(Buffer.alloc(0), 'caplen 0, len 0'),
      malformed(Buffer.alloc(0), 'caplen 0, len 60', 60),
      ...framed(eth, udp(C2, V4, 40002, 53)),
    ],
  };
}

function ipv4OptionsFixture(): LinkFixture {
  const ra = ipv4Option.routerAlert();
  const withOptions = (o: Buffer, p: { bytes: Buffer }, id = 0): Buffer => {
    const ihl = 20;
    const protocol = p.bytes[9]!;
    return ipv4Packet({ ...addressesOf(p.bytes), protocol, payload: p.bytes.subarray(ihl), options: o, id });
  };
  const igmp = ipv4Packet({ src: '192.0.2.7', dst: '224.0.0.22', protocol: 2, payload: Buffer.from('2200f9020000000104000000e00000fb', 'hex'), options: ra, ttl: 1 });
  const synP = tcp(C1, V4, 40001, 80, { syn: true });
  const udpP = udp(C2, V4, 40002, 53);
  const pingP = ping(C4, V4, 'request');
  const bigUdp = udp(C3, V4, 40003, 5001, { payload: Buffer.alloc(2000) });
  const rr = ipv4Option.recordRoute(9); // 39 bytes -> IHL 15
  const nops = Buffer.concat([ipv4Option.nop(), ipv4Option.nop(), ipv4Option.nop(), ipv4Option.nop()]);
  const bigWithOptions = withOptions(ra, bigUdp, 42);
  return {
    file: 'ipv4-options.pcap',
    format: 'pcap',
    linktype: LINKTYPE.ETHERNET,
    snaplen: 262144,
    resolution: 'us',
    description: 'IPv4 headers with options (IHL 6 router alert, IHL 15 record route, IHL 6 NOPs), IGMP, and a fragmented datagram with options.',
    packets: [
      { frame: eth(igmp), expect: ipClass(4, '192.0.2.7', '224.0.0.22', 'other'), note: 'IGMPv3 report with router alert (IHL 6): other' },
      { frame: eth(withOptions(ra, synP)), expect: synP.cls, note: `${synP.note} with router alert (IHL 6)` },
      { frame: eth(withOptions(rr, udpP)), expect: udpP.cls, note: `${udpP.note} with record route (IHL 15)` },
      { frame: eth(withOptions(nops, pingP)), expect: pingP.cls, note: `${pingP.note} with 4 NOPs (IHL 6)` },
      ...framed(eth, ...fragmented({ ...bigUdp, bytes: bigWithOptions }, 1480)),
    ],
  };
}

function nonIpFixture(): LinkFixture {
  return {
    file: 'non-ip.pcap',
    format: 'pcap',
    linktype: LINKTYPE.ETHERNET,
    snaplen: 262144,
    resolution: 'us',
    description: 'ARP only: request, reply, gratuitous ARP.',
    packets: [
      nonIp(arpFrame('request', '10.10.10.1', V4), 'ARP request who-has 10.10.10.10'),
      nonIp(arpFrame('reply', V4, '10.10.10.1', '02:00:00:00:00:0b'), 'ARP reply 10.10.10.10 is-at'),
      nonIp(arpFrame('request', V4, V4), 'gratuitous ARP for 10.10.10.10'),
    ],
  };
}

function ipClass(family: 4 | 6, src: string, dst: string, l4: L4Class, fragment = false): IpPacketClass {
  return { kind: 'ip', family, src, dst, l4, fragment };
}

function noted(p: DeclaredIp, extra: string): DeclaredIp {
  return { ...p, note: `${p.note} ${extra}` };
}

function addressesOf(ipv4: Buffer): { src: string; dst: string } {
  return { src: Array.from(ipv4.subarray(12, 16)).join('.'), dst: Array.from(ipv4.subarray(16, 20)).join('.') };
}

/** Every committed link fixture, in manifest order. */
export function buildLinkFixtures(): LinkFixture[] {
  return [
    ethernetFixture(),
    vlanFixture(),
    sllFixture(),
    sll2Fixture(),
    nullFixture(),
    rawFixture(),
    rawIpv4Fixture(),
    rawIpv6Fixture(),
    ipv6ExtensionFixture(),
    fragmentFixture(),
    truncatedFixture(),
    zeroLengthFixture(),
    ipv4OptionsFixture(),
    nonIpFixture(),
  ];
}

export function writeLinkFixture(fixture: LinkFixture, dir: string): string {
  const path = join(dir, fixture.file);
  const w = openCaptureWriter(path, {
    format: fixture.format,
    linktype: fixture.linktype,
    snaplen: fixture.snaplen,
    resolution: fixture.resolution,
    interfaceName: fixture.interfaceName,
  });
  fixture.packets.forEach((p, i) => w.writePacket(p.frame, FIXTURE_START_US + i * FIXTURE_SPACING_US, p.originalLength));
  w.close();
  return path;
}

export function manifestEntry(fixture: LinkFixture): FixtureManifestEntry {
  return {
    format: fixture.format,
    linktype: fixture.linktype,
    linktypeName: LINKTYPE_NAMES[fixture.linktype] ?? String(fixture.linktype),
    snaplen: fixture.snaplen,
    resolution: fixture.resolution,
    description: fixture.description,
    ...tallyPackets(fixture.packets.map((p) => p.expect)),
    packetNotes: fixture.packets.map((p, i) => `#${i} ${p.note}`),
  };
}

export function buildManifest(fixtures: LinkFixture[]): FixtureManifest {
  return {
    comment: 'Generated by test/gen/write-fixtures.ts; do not edit by hand. Counts are what the capture engine must report for each whole file.',
    rules: COUNTING_RULES,
    firstTimestampUs: FIXTURE_START_US,
    packetSpacingUs: FIXTURE_SPACING_US,
    fixtures: Object.fromEntries(fixtures.map((f) => [f.file, manifestEntry(f)])),
  };
}

export function writeManifest(fixtures: LinkFixture[], dir: string): string {
  const path = join(dir, 'manifest.json');
  writeFileSync(path, `${JSON.stringify(buildManifest(fixtures), null, 2)}\n`);
  return path;
}
