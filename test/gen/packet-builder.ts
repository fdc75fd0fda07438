// One import for building frames: transport headers, IP packets, link-layer
// wrappers, plus family-agnostic helpers that pick IPv4 or IPv6 from the
// address text.
import { ipFamily } from './ip-address.js';
import { ipv4Packet, ipv6Packet, type Ipv6ExtensionHeader } from './ip-packet.js';
import { IPPROTO, icmpEcho, icmpv6Echo, tcpSegment, udpDatagram, type TcpSegmentSpec, type UdpDatagramSpec } from './transport.js';

export * from './transport.js';
export * from './ip-packet.js';
export * from './link-layer.js';

export interface IpCommon {
  src: string;
  dst: string;
  ttl?: number;
  /** IPv4 identification (ignored for IPv6). */
  ipId?: number;
  /** IPv6 only. */
  extensionHeaders?: Ipv6ExtensionHeader[];
}

/** An IPv4 or IPv6 packet, chosen by the address family of `src`. */
export function ipPacket(spec: IpCommon & { protocol: number; payload: Uint8Array }): Buffer {
  return buildIp(spec, spec.protocol, spec.payload);
}

// Internal form without object spreads: spreading caller objects on every
// packet was a large share of scenario generation time.
function buildIp(ip: IpCommon, protocol: number, payload: Uint8Array): Buffer {
  const family = ipFamily(ip.src);
  if (family !== ipFamily(ip.dst)) throw new Error(`mixed families: ${ip.src} -> ${ip.dst}`);
  if (family === 4) {
    if (ip.extensionHeaders?.length) throw new Error('extension headers are IPv6 only');
    return ipv4Packet({ src: ip.src, dst: ip.dst, protocol, payload, ttl: ip.ttl, id: ip.ipId });
  }
  return ipv6Packet({ src: ip.src, dst: ip.dst, nextHeader: protocol, payload, hopLimit: ip.ttl, extensionHeaders: ip.extensionHeaders });
}

export function tcpPacket(spec: IpCommon & TcpSegmentSpec): Buffer {
  return buildIp(spec, IPPROTO.TCP, tcpSegment(spec));
}

export function udpPacket(spec: IpCommon & UdpDatagramSpec): Buffer {
  return buildIp(spec, IPPROTO.UDP, udpDatagram(spec));
}

/** ICMP echo over IPv4, ICMPv6 echo over IPv6. */
export function icmpEchoPacket(spec: IpCommon & { kind: 'request' | 'reply'; id: number; seq: number; payload?: Uint8Array }): Buffer {
  const v6 = ipFamily(spec.src) === 6;
  const body = v6 ? icmpv6Echo(spec.kind, spec.id, spec.seq, spec.payload) : icmpEcho(spec.kind, spec.id, spec.seq, spec.payload);
  return buildIp(spec, v6 ? IPPROTO.ICMPV6 : IPPROTO.ICMP, body);
}
