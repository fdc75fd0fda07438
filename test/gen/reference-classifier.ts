// A JS statement of the engine's parse rules (link layer -> IP -> L4, never
// past caplen), used to cross-check fixture manifests built from declared
// expectations. It mirrors the rules in capture-counts.ts; it is not the engine.
import type { IpPacketClass, L4Class, PacketClass } from './capture-counts.js';
import { formatIp } from './ip-address.js';
import { LINKTYPE } from './link-layer.js';

const MALFORMED: PacketClass = { kind: 'malformed' };
const NON_IP: PacketClass = { kind: 'nonIp' };
const MAX_VLAN_TAGS = 4;
const MAX_IPV6_EXTENSIONS = 8;

export function classifyFrame(linktype: number, frame: Buffer): PacketClass {
  if (frame.length === 0) return MALFORMED;
  switch (linktype) {
    case LINKTYPE.ETHERNET: {
      if (frame.length < 14) return MALFORMED;
      const type = frame.readUInt16BE(12);
      if (type <= 1500) return NON_IP; // 802.3 length field
      return classifyEthertype(type, frame.subarray(14));
    }
    case LINKTYPE.LINUX_SLL:
      if (frame.length < 16) return MALFORMED;
      return classifyEthertype(frame.readUInt16BE(14), frame.subarray(16));
    case LINKTYPE.LINUX_SLL2:
      if (frame.length < 20) return MALFORMED;
      return classifyEthertype(frame.readUInt16BE(0), frame.subarray(20));
    case LINKTYPE.NULL: {
      if (frame.length < 4) return MALFORMED;
      const le = frame.readUInt32LE(0);
      const family = (le & 0xffff0000) === 0 ? le : frame.readUInt32BE(0);
      if (family === 2) return classifyIpv4(frame.subarray(4));
      if (family === 24 || family === 28 || family === 30) return classifyIpv6(frame.subarray(4));
      return NON_IP;
    }
    case LINKTYPE.RAW:
      return frame[0]! >> 4 === 4 ? classifyIpv4(frame) : frame[0]! >> 4 === 6 ? classifyIpv6(frame) : MALFORMED;
    case LINKTYPE.IPV4:
      return classifyIpv4(frame);
    case LINKTYPE.IPV6:
      return classifyIpv6(frame);
    default:
      throw new Error(`reference classifier does not know linktype ${linktype}`);
  }
}

function classifyEthertype(type: number, p: Buffer): PacketClass {
  for (let tags = 0; type === 0x8100 || type === 0x88a8 || type === 0x9100; tags++) {
    if (tags >= MAX_VLAN_TAGS || p.length < 4) return MALFORMED;
    type = p.readUInt16BE(2);
    p = p.subarray(4);
  }
  if (type === 0x0800) return classifyIpv4(p);
  if (type === 0x86dd) return classifyIpv6(p);
  return NON_IP;
}

function classifyIpv4(p: Buffer): PacketClass {
  if (p.length < 20 || p[0]! >> 4 !== 4) return MALFORMED;
  const ihl = (p[0]! & 0x0f) * 4;
  if (ihl < 20 || ihl > p.length) return MALFORMED;
  const total = p.readUInt16BE(2);
  if (total < ihl) return MALFORMED;
  const end = Math.min(total, p.length); // Ethernet padding is not payload
  const flags = p.readUInt16BE(6);
  const offset = flags & 0x1fff;
  const base: IpPacketClass = {
    kind: 'ip',
    family: 4,
    src: formatIp(p.subarray(12, 16)),
    dst: formatIp(p.subarray(16, 20)),
    l4: 'other',
    fragment: offset !== 0 || (flags & 0x2000) !== 0,
  };
  if (offset !== 0) return base;
  return classifyL4(p[9]!, p.subarray(ihl, end), base);
}

function classifyIpv6(p: Buffer): PacketClass {
  if (p.length < 40 || p[0]! >> 4 !== 6) return MALFORMED;
  const payloadLength = p.readUInt16BE(4);
  const end = payloadLength !== 0 && 40 + payloadLength < p.length ? 40 + payloadLength : p.length;
  const base: IpPacketClass = {
    kind: 'ip',
    family: 6,
    src: formatIp(p.subarray(8, 24)),
    dst: formatIp(p.subarray(24, 40)),
    l4: 'other',
    fragment: false,
  };
  let next = p[6]!;
  let at = 40;
  for (let i = 0; i <= MAX_IPV6_EXTENSIONS; i++) {
    const left = end - at;
    switch (next) {
      case 0:
      case 43:
      case 60:
      case 135:
      case 139:
      case 140: {
        if (left < 8) return MALFORMED;
        const len = (p[at + 1]! + 1) * 8;
        if (len > left) return MALFORMED;
        next = p[at]!;
        at += len;
        break;
      }
      case 51: {
        if (left < 8) return MALFORMED;
        const len = (p[at + 1]! + 2) * 4;
        if (len > left) return MALFORMED;
        next = p[at]!;
        at += len;
        break;
      }
      case 44: {
        if (left < 8) return MALFORMED;
        const offset = p.readUInt16BE(at + 2) >> 3;
        if (offset !== 0 || (p[at + 3]! & 1) !== 0) base.fragment = true;
        next = p[at]!;
        at += 8;
        if (offset !== 0) return base;
        break;
      }
      case 59:
        return base;
      default:
        return classifyL4(next, p.subarray(at, end), base);
    }
  }
  return MALFORMED;
}

function classifyL4(protocol: number, l4: Buffer, base: IpPacketClass): PacketClass {
  let cls: L4Class = 'other';
  if (protocol === 6) {
    if (l4.length < 20 || l4[12]! >> 4 < 5) return MALFORMED;
    return { ...base, l4: 'tcp', tcpFlags: l4[13]! };
  }
  if (protocol === 17) {
    if (l4.length < 8) return MALFORMED;
    cls = 'udp';
  } else if (protocol === 1 || protocol === 58) {
    if (l4.length < 4) return MALFORMED;
    cls = 'icmp';
  }
  return { ...base, l4: cls };
}
