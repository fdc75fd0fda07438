// Transport-layer headers: TCP, UDP, ICMP, ICMPv6. TCP/UDP/ICMPv6 checksums
// need the IP pseudo-header, so they are left zero here and filled in by the
// IP builders (ip-packet.ts); ICMPv4 has no pseudo-header and is finished here.
import { zeroed } from './bytes.js';
import { internetChecksum } from './checksum.js';

export const IPPROTO = {
  HOPOPTS: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  GRE: 47,
  ESP: 50,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
} as const;

export interface TcpFlags {
  fin?: boolean;
  syn?: boolean;
  rst?: boolean;
  psh?: boolean;
  ack?: boolean;
  urg?: boolean;
  ece?: boolean;
  cwr?: boolean;
}

export function tcpFlagsByte(flags: TcpFlags): number {
  return (
    (flags.fin ? 0x01 : 0) |
    (flags.syn ? 0x02 : 0) |
    (flags.rst ? 0x04 : 0) |
    (flags.psh ? 0x08 : 0) |
    (flags.ack ? 0x10 : 0) |
    (flags.urg ? 0x20 : 0) |
    (flags.ece ? 0x40 : 0) |
    (flags.cwr ? 0x80 : 0)
  );
}

export interface TcpSegmentSpec {
  srcPort: number;
  dstPort: number;
  flags: TcpFlags;
  seq?: number;
  ack?: number;
  window?: number;
  /** Raw option bytes, zero-padded (EOL) to a 4-byte multiple. */
  options?: Uint8Array;
  payload?: Uint8Array;
  /** Override the data offset (32-bit words) to build invalid headers. */
  dataOffsetWords?: number;
}

export function tcpSegment(spec: TcpSegmentSpec): Buffer {
  const options = padTo4(spec.options ?? new Uint8Array(0));
  const payload = spec.payload ?? new Uint8Array(0);
  const headerLength = 20 + options.length;
  const seg = zeroed(headerLength + payload.length);
  seg.writeUInt16BE(spec.srcPort, 0);
  seg.writeUInt16BE(spec.dstPort, 2);
  seg.writeUInt32BE((spec.seq ?? 0) >>> 0, 4);
  seg.writeUInt32BE((spec.ack ?? 0) >>> 0, 8);
  seg[12] = (spec.dataOffsetWords ?? headerLength / 4) << 4;
  seg[13] = tcpFlagsByte(spec.flags);
  seg.writeUInt16BE(spec.window ?? 64240, 14);
  seg.set(options, 20);
  seg.set(payload, headerLength);
  return seg;
}

/** The option block Linux puts on a SYN: MSS, SACK-permitted, timestamps, NOP, window scale (20 bytes). */
export function tcpSynOptions(mss = 1460, tsVal = 1, windowScale = 7): Buffer {
  const o = zeroed(20);
  o.writeUInt8(2, 0); // MSS
  o.writeUInt8(4, 1);
  o.writeUInt16BE(mss, 2);
  o.writeUInt8(4, 4); // SACK permitted
  o.writeUInt8(2, 5);
  o.writeUInt8(8, 6); // timestamps
  o.writeUInt8(10, 7);
  o.writeUInt32BE(tsVal >>> 0, 8);
  o.writeUInt32BE(0, 12);
  o.writeUInt8(1, 16); // NOP
  o.writeUInt8(3, 17); // window scale
  o.writeUInt8(3, 18);
  o.writeUInt8(windowScale, 19);
  return o;
}

export interface UdpDatagramSpec {
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
}

export function udpDatagram(spec: UdpDatagramSpec): Buffer {
  const payload = spec.payload ?? new Uint8Array(0);
  const d = zeroed(8 + payload.length);
  d.writeUInt16BE(spec.srcPort, 0);
  d.writeUInt16BE(spec.dstPort, 2);
  d.writeUInt16BE(d.length & 0xffff, 4);
  d.set(payload, 8);
  return d;
}

/** ICMPv4 message with its checksum computed. `rest` is the 4 bytes after the checksum (id/seq, unused, ...). */
export function icmpMessage(type: number, code: number, rest: number, body: Uint8Array = new Uint8Array(0)): Buffer {
  const m = icmpHeader(type, code, rest, body);
  m.writeUInt16BE(internetChecksum(m), 2);
  return m;
}

export function icmpEcho(kind: 'request' | 'reply', id: number, seq: number, payload: Uint8Array = zeroed(56)): Buffer {
  return icmpMessage(kind === 'request' ? 8 : 0, 0, ((id & 0xffff) << 16) | (seq & 0xffff), payload);
}

/** Destination unreachable (type 3) quoting the offending datagram's IP header and first 8 payload bytes. */
export function icmpUnreachable(code: number, offendingIpPacket: Uint8Array): Buffer {
  const ihl = (offendingIpPacket[0]! & 0x0f) * 4;
  return icmpMessage(3, code, 0, offendingIpPacket.subarray(0, Math.min(offendingIpPacket.length, ihl + 8)));
}

/** ICMPv6 message; the checksum is filled by ipv6Packet. */
export function icmpv6Message(type: number, code: number, rest: number, body: Uint8Array = new Uint8Array(0)): Buffer {
  return icmpHeader(type, code, rest, body);
}

export function icmpv6Echo(kind: 'request' | 'reply', id: number, seq: number, payload: Uint8Array = zeroed(56)): Buffer {
  return icmpv6Message(kind === 'request' ? 128 : 129, 0, ((id & 0xffff) << 16) | (seq & 0xffff), payload);
}

function icmpHeader(type: number, code: number, rest: number, body: Uint8Array): Buffer {
  const m = zeroed(8 + body.length);
  m[0] = type;
  m[1] = code;
  m.writeUInt32BE(rest >>> 0, 4);
  m.set(body, 8);
  return m;
}

function padTo4(bytes: Uint8Array): Uint8Array {
  const padded = Math.ceil(bytes.length / 4) * 4;
  if (padded === bytes.length) return bytes;
  const out = new Uint8Array(padded);
  out.set(bytes);
  return out;
}
