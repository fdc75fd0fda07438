// Link-layer framing for every link type the capture engine reads, plus ARP
// (the non-IP frame used to check nonIp counting).
import { zeroed } from './bytes.js';
import { ipv4ToBytes } from './ip-address.js';

/** pcap LINKTYPE_* values as written in file headers / IDBs. */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export const ETHERTYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPV6: 0x86dd,
  QINQ: 0x88a8,
  LLDP: 0x88cc,
} as const;

/** BSD loopback (DLT_NULL) address families: IPv6 differs per OS. */
export const AF = {
  INET: 2,
  /** NetBSD / OpenBSD */
  INET6_BSD: 24,
  /** FreeBSD */
  INET6_FREEBSD: 28,
  /** macOS */
  INET6_DARWIN: 30,
} as const;

/** Linux sockaddr_ll packet types used in SLL/SLL2 headers. */
export const SLL_PACKET_TYPE = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4 } as const;

const ARPHRD_ETHER = 1;

const macCache = new Map<string, Buffer>();

/** Parsed MAC bytes (cached: scenario generators reuse a handful of MACs millions of times). Do not mutate. */
export function macToBytes(mac: string): Buffer {
  let b = macCache.get(mac);
  if (b === undefined) {
    b = Buffer.from(mac.replaceAll(':', ''), 'hex');
    if (b.length !== 6) throw new Error(`bad MAC ${mac}`);
    macCache.set(mac, b);
  }
  return b;
}

/** Ethertype matching an IP packet's version nibble. */
export function etherTypeOf(ipPacket: Uint8Array): number {
  return ipPacket[0]! >> 4 === 6 ? ETHERTYPE.IPV6 : ETHERTYPE.IPV4;
}

export interface VlanTag {
  /** 0x8100 (802.1Q) by default, 0x88a8 for a QinQ service tag. */
  tpid?: number;
  vid: number;
  pcp?: number;
}

export interface EthernetSpec {
  payload: Uint8Array;
  /** Defaults to etherTypeOf(payload). */
  etherType?: number;
  src?: string;
  dst?: string;
  /** Outermost first. */
  vlanTags?: VlanTag[];
}

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';

export function ethernetFrame(spec: EthernetSpec): Buffer {
  const tags = spec.vlanTags ?? [];
  const f = zeroed(14 + 4 * tags.length + spec.payload.length);
  macToBytes(spec.dst ?? DEFAULT_DST_MAC).copy(f, 0);
  macToBytes(spec.src ?? DEFAULT_SRC_MAC).copy(f, 6);
  let at = 12;
  for (const tag of tags) {
    f.writeUInt16BE(tag.tpid ?? ETHERTYPE.VLAN, at);
    f.writeUInt16BE((((tag.pcp ?? 0) & 7) << 13) | (tag.vid & 0x0fff), at + 2);
    at += 4;
  }
  f.writeUInt16BE(spec.etherType ?? etherTypeOf(spec.payload), at);
  f.set(spec.payload, at + 2);
  return f;
}

/** 802.1Q single tag. */
export function vlanFrame(vid: number, payload: Uint8Array, etherType?: number): Buffer {
  return ethernetFrame({ payload, etherType, vlanTags: [{ vid }] });
}

/** 802.1ad QinQ: 0x88a8 service tag outside, 0x8100 customer tag inside. */
export function qinqFrame(outerVid: number, innerVid: number, payload: Uint8Array, etherType?: number): Buffer {
  return ethernetFrame({ payload, etherType, vlanTags: [{ tpid: ETHERTYPE.QINQ, vid: outerVid }, { vid: innerVid }] });
}

export interface SllSpec {
  payload: Uint8Array;
  /** Defaults to etherTypeOf(payload). */
  protocol?: number;
  packetType?: number;
  arphrdType?: number;
  linkAddress?: string;
}

/** Linux cooked capture v1 (DLT_LINUX_SLL, 16-byte header). */
export function sllFrame(spec: SllSpec): Buffer {
  const f = zeroed(16 + spec.payload.length);
  f.writeUInt16BE(spec.packetType ?? SLL_PACKET_TYPE.HOST, 0);
  f.writeUInt16BE(spec.arphrdType ?? ARPHRD_ETHER, 2);
  f.writeUInt16BE(6, 4);
  macToBytes(spec.linkAddress ?? DEFAULT_SRC_MAC).copy(f, 6);
  f.writeUInt16BE(spec.protocol ?? etherTypeOf(spec.payload), 14);
  f.set(spec.payload, 16);
  return f;
}

export interface Sll2Spec extends SllSpec {
  interfaceIndex: number;
}

/** Linux cooked capture v2 (DLT_LINUX_SLL2, 20-byte header with interface index). */
export function sll2Frame(spec: Sll2Spec): Buffer {
  const f = zeroed(20 + spec.payload.length);
  f.writeUInt16BE(spec.protocol ?? etherTypeOf(spec.payload), 0);
  f.writeUInt32BE(spec.interfaceIndex >>> 0, 4);
  f.writeUInt16BE(spec.arphrdType ?? ARPHRD_ETHER, 8);
  f[10] = spec.packetType ?? SLL_PACKET_TYPE.HOST;
  f[11] = 6;
  macToBytes(spec.linkAddress ?? DEFAULT_SRC_MAC).copy(f, 12);
  f.set(spec.payload, 20);
  return f;
}

/** BSD loopback (DLT_NULL): 4-byte family in the capturing host's byte order. */
export function nullFrame(family: number, payload: Uint8Array, byteOrder: 'le' | 'be' = 'le'): Buffer {
  const f = zeroed(4 + payload.length);
  if (byteOrder === 'le') f.writeUInt32LE(family, 0);
  else f.writeUInt32BE(family, 0);
  f.set(payload, 4);
  return f;
}

export interface ArpSpec {
  operation: 'request' | 'reply';
  senderMac: string;
  senderIp: string;
  targetMac?: string;
  targetIp: string;
}

/** ARP body for Ethernet/IPv4 (28 bytes); wrap with ethertype ETHERTYPE.ARP. */
export function arpPacket(spec: ArpSpec): Buffer {
  const a = zeroed(28);
  a.writeUInt16BE(ARPHRD_ETHER, 0);
  a.writeUInt16BE(ETHERTYPE.IPV4, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(spec.operation === 'request' ? 1 : 2, 6);
  macToBytes(spec.senderMac).copy(a, 8);
  ipv4ToBytes(spec.senderIp).copy(a, 14);
  macToBytes(spec.targetMac ?? '00:00:00:00:00:00').copy(a, 18);
  ipv4ToBytes(spec.targetIp).copy(a, 24);
  return a;
}

/** A broadcast ARP request frame, the usual background noise on a LAN. */
export function arpRequestFrame(senderMac: string, senderIp: string, targetIp: string): Buffer {
  return ethernetFrame({
    dst: 'ff:ff:ff:ff:ff:ff',
    src: senderMac,
    etherType: ETHERTYPE.ARP,
    payload: arpPacket({ operation: 'request', senderMac, senderIp, targetIp }),
  });
}
