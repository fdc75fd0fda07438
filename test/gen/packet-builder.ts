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
  if (ipFamily(spec.src) !== ipFamily(spec.dst)) throw new Error(`mixed families: ${spec.src} -> ${spec.dst}`);
  if (ipFamily(spec.src) === 4) {
    if (spec.extensionHeaders?.length) throw new Error('extension headers are IPv6 only');
    return ipv4Packet({ src: spec.src, dst: spec.dst, protocol: spec.protocol, payload: spec.payload, ttl: spec.ttl, id: spec.ipId });
  }
  return ipv6Packet({
    src: spec.src,
    dst: spec.dst,
    nextHeader: spec.protocol,
    payload: spec.payload,
    hopLimit: spec.ttl,
    extensionHeaders: spec.extensionHeaders,
  });
}

export function tcpPacket(spec: IpCommon & TcpSegmentSpec): Buffer {
  return ipPacket({ ...spec, protocol: IPPROTO.TCP, payload: tcpSegment(spec) });
}

export function udpPacket(spec: IpCommon & UdpDatagramSpec): Buffer {
  return ipPacket({ ...spec, protocol: IPPROTO.UDP, payload: udpDatagram(spec) });
}

/** ICMP echo over IPv4, ICMPv6 echo over IPv6. */
export function icmpEchoPacket(spec: IpCommon & { kind: 'request' | 'reply'; id: number; seq: number; payload?: Uint8Array }): Buffer {
  const v6 = ipFamily(spec.src) === 6;
  const body = v6 ? icmpv6Echo(spec.kind, spec.id, spec.seq, spec.payload) : icmpEcho(spec.kind, spec.id, spec.seq, spec.payload);
  return ipPacket({ ...spec, protocol: v6 ? IPPROTO.ICMPV6 : IPPROTO.ICMP, payload: body });
}
