// Helpers that build an IP packet and declare, from the same inputs, how the
// engine must classify it, so fixture manifests come from construction and
// not from re-parsing the bytes.
import type { IpPacketClass, L4Class, PacketClass } from './capture-counts.js';
import { ipFamily } from './ip-address.js';
import { type Ipv6ExtensionHeader, fragmentIpv4, fragmentIpv6 } from './ip-packet.js';
import { ipPacket, tcpPacket, udpPacket, icmpEchoPacket, tcpSynOptions } from './packet-builder.js';
import { tcpFlagsByte, type TcpFlags } from './transport.js';

/** An IP packet plus its declared classification and a human note. */
export interface DeclaredIp {
  bytes: Buffer;
  cls: IpPacketClass;
  note: string;
}

/** A link-layer frame ready for a fixture file. */
export interface FixturePacket {
  /** Captured bytes (already cut when the packet is truncated). */
  frame: Buffer;
  /** On-the-wire length; defaults to frame.length. */
  originalLength?: number;
  expect: PacketClass;
  note: string;
}

function declared(bytes: Buffer, src: string, dst: string, l4: L4Class, note: string, extra: Partial<IpPacketClass> = {}): DeclaredIp {
  return { bytes, cls: { kind: 'ip', family: ipFamily(src), src, dst, l4, fragment: false, ...extra }, note };
}

function flagText(f: TcpFlags): string {
  const names = (['syn', 'ack', 'psh', 'fin', 'rst', 'urg'] as const).filter((k) => f[k]);
  return names.join('+');
}

export interface DeclareOptions {
  extensionHeaders?: Ipv6ExtensionHeader[];
  payload?: Uint8Array;
}

export function tcp(src: string, dst: string, srcPort: number, dstPort: number, flags: TcpFlags, o: DeclareOptions = {}): DeclaredIp {
  const bytes = tcpPacket({
    src,
    dst,
    srcPort,
    dstPort,
    flags,
    seq: 1000,
    ack: flags.ack ? 2000 : 0,
    options: flags.syn ? tcpSynOptions() : undefined,
    payload: o.payload,
    extensionHeaders: o.extensionHeaders,
  });
  return declared(bytes, src, dst, 'tcp', `tcp ${flagText(flags)} ${src}:${srcPort} > ${dst}:${dstPort}`, { tcpFlags: tcpFlagsByte(flags) });
}

export function udp(src: string, dst: string, srcPort: number, dstPort: number, o: DeclareOptions = {}): DeclaredIp {
  const bytes = udpPacket({ src, dst, srcPort, dstPort, payload: o.payload ?? Buffer.alloc(32), extensionHeaders: o.extensionHeaders });
  return declared(bytes, src, dst, 'udp', `udp ${src}:${srcPort} > ${dst}:${dstPort}`);
}

export function ping(src: string, dst: string, kind: 'request' | 'reply', o: DeclareOptions = {}): DeclaredIp {
  const bytes = icmpEchoPacket({ src, dst, kind, id: 0x4242, seq: 1, payload: o.payload, extensionHeaders: o.extensionHeaders });
  return declared(bytes, src, dst, 'icmp', `icmp${ipFamily(src) === 6 ? 'v6' : ''} echo ${kind} ${src} > ${dst}`);
}

/** Any other IP protocol (GRE, ESP, IGMP, ...) with an opaque payload. */
export function otherProtocol(src: string, dst: string, protocol: number, o: DeclareOptions = {}): DeclaredIp {
  const bytes = ipPacket({ src, dst, protocol, payload: o.payload ?? Buffer.alloc(24), extensionHeaders: o.extensionHeaders });
  return declared(bytes, src, dst, 'other', `ip proto ${protocol} ${src} > ${dst}`);
}

/**
 * Fragment a declared packet. The first fragment keeps the L4 class (its
 * header is present); later ones are `other`. All are fragments.
 */
export function fragmented(p: DeclaredIp, maxFragmentPayload: number, identification = 0x1234): DeclaredIp[] {
  const pieces = p.cls.family === 4 ? fragmentIpv4(p.bytes, maxFragmentPayload) : fragmentIpv6(p.bytes, maxFragmentPayload, identification);
  return pieces.map((bytes, i) => {
    const cls: IpPacketClass = i === 0 ? { ...p.cls, fragment: true } : { kind: 'ip', family: p.cls.family, src: p.cls.src, dst: p.cls.dst, l4: 'other', fragment: true };
    return { bytes, cls, note: `${i === 0 ? 'first' : 'non-first'} fragment ${i + 1}/${pieces.length} of ${p.note}` };
  });
}

/** Wrap declared IP packets with a link-layer function. */
export function framed(wrap: (ip: Buffer) => Buffer, ...packets: DeclaredIp[]): FixturePacket[] {
  return packets.map((p) => ({ frame: wrap(p.bytes), expect: p.cls, note: p.note }));
}

/** A frame whose headers cannot be parsed within caplen. */
export function malformed(frame: Buffer, note: string, originalLength?: number): FixturePacket {
  return { frame, originalLength, expect: { kind: 'malformed' }, note: `malformed: ${note}` };
}

/** Keep only the first `caplen` bytes, as a short snaplen would. */
export function cut(frame: Buffer, caplen: number): { frame: Buffer; originalLength: number } {
  return { frame: frame.subarray(0, caplen), originalLength: frame.length };
}

export function nonIp(frame: Buffer, note: string): FixturePacket {
  return { frame, expect: { kind: 'nonIp' }, note: `non-IP: ${note}` };
}
