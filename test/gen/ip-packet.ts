// IPv4 and IPv6 packets (with IPv4 options and IPv6 extension headers) and
// fragmentation of a finished packet, the way a host's stack would do it.
import { zeroed } from './bytes.js';
import { internetChecksum, pseudoHeaderSum } from './checksum.js';
import { ipv4ToBytes, ipv6ToBytes } from './ip-address.js';
import { IPPROTO } from './transport.js';

export interface Ipv4PacketSpec {
  src: string;
  dst: string;
  protocol: number;
  payload: Uint8Array;
  ttl?: number;
  id?: number;
  tos?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragmentOffset?: number;
  /** Option bytes (<= 40), zero-padded to a 4-byte multiple; makes IHL > 5. */
  options?: Uint8Array;
  /** Overrides for deliberately invalid headers. */
  version?: number;
  ihlWords?: number;
  totalLength?: number;
}

export function ipv4Packet(spec: Ipv4PacketSpec): Buffer {
  const options = padTo(spec.options ?? new Uint8Array(0), 4);
  if (options.length > 40) throw new Error('IPv4 options exceed 40 bytes');
  const headerLength = 20 + options.length;
  const src = ipv4ToBytes(spec.src);
  const dst = ipv4ToBytes(spec.dst);
  const offset = spec.fragmentOffset ?? 0;
  if (offset % 8 !== 0) throw new Error('fragment offset must be a multiple of 8');
  const complete = offset === 0 && !spec.moreFragments;

  const p = zeroed(headerLength + spec.payload.length);
  p[0] = ((spec.version ?? 4) << 4) | (spec.ihlWords ?? headerLength / 4);
  p[1] = spec.tos ?? 0;
  p.writeUInt16BE(spec.totalLength ?? p.length, 2);
  p.writeUInt16BE(spec.id ?? 0, 4);
  p.writeUInt16BE((spec.dontFragment ? 0x4000 : 0) | (spec.moreFragments ? 0x2000 : 0) | (offset / 8), 6);
  p[8] = spec.ttl ?? 64;
  p[9] = spec.protocol;
  src.copy(p, 12);
  dst.copy(p, 16);
  p.set(options, 20);
  p.writeUInt16BE(internetChecksum(p.subarray(0, headerLength)), 10);
  p.set(spec.payload, headerLength);
  if (complete) fillTransportChecksum(p.subarray(headerLength), spec.protocol, src, dst);
  return p;
}

/** IPv4 option encoders for IHL > 5 headers. */
export const ipv4Option = {
  nop: (): Buffer => Buffer.from([1]),
  /** RFC 2113 router alert (copied flag set, as IGMP/RSVP use it). */
  routerAlert: (): Buffer => Buffer.from([0x94, 4, 0, 0]),
  /** Record route with room for `slots` addresses. */
  recordRoute: (slots: number): Buffer => {
    const o = zeroed(3 + 4 * slots);
    o[0] = 7;
    o[1] = o.length;
    o[2] = 4;
    return o;
  },
};

export type Ipv6ExtensionHeader =
  | { kind: 'hopByHop'; options?: Uint8Array }
  | { kind: 'destinationOptions'; options?: Uint8Array }
  /** `data` follows the 4 fixed bytes (type-specific reserved field first). */
  | { kind: 'routing'; routingType?: number; segmentsLeft?: number; data?: Uint8Array }
  /** offset in bytes (a multiple of 8). */
  | { kind: 'fragment'; offset: number; moreFragments: boolean; identification: number };

export interface Ipv6PacketSpec {
  src: string;
  dst: string;
  /** Upper-layer protocol after all extension headers. */
  nextHeader: number;
  payload: Uint8Array;
  extensionHeaders?: Ipv6ExtensionHeader[];
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  /** Overrides for deliberately invalid headers. */
  version?: number;
  payloadLength?: number;
}

export function ipv6Packet(spec: Ipv6PacketSpec): Buffer {
  const src = ipv6ToBytes(spec.src);
  const dst = ipv6ToBytes(spec.dst);
  const exts = spec.extensionHeaders ?? [];
  const fragmented = exts.some((h) => h.kind === 'fragment' && (h.offset !== 0 || h.moreFragments));

  const encoded = exts.map((h, i) =>
    encodeExtensionHeader(withRoutingDefault(h, dst), i + 1 < exts.length ? extensionType(exts[i + 1]!) : spec.nextHeader),
  );
  const p = Buffer.concat([zeroed(40), ...encoded, spec.payload]);
  p.writeUInt32BE((((spec.version ?? 6) << 28) | ((spec.trafficClass ?? 0) << 20) | ((spec.flowLabel ?? 0) & 0xfffff)) >>> 0, 0);
  p.writeUInt16BE(spec.payloadLength ?? p.length - 40, 4);
  p[6] = exts.length > 0 ? extensionType(exts[0]!) : spec.nextHeader;
  p[7] = spec.hopLimit ?? 64;
  src.copy(p, 8);
  dst.copy(p, 24);
  if (!fragmented) fillTransportChecksum(p.subarray(p.length - spec.payload.length), spec.nextHeader, src, dst);
  return p;
}

/** Router-alert TLV (value 0: MLD) for a hop-by-hop header; the header builder adds the padding. */
export function ipv6RouterAlertOption(): Buffer {
  return Buffer.from([0x05, 0x02, 0x00, 0x00]);
}

/**
 * Split a complete IPv4 packet into fragments of at most `maxFragmentPayload`
 * payload bytes (rounded down to a multiple of 8). Header and options are copied.
 */
export function fragmentIpv4(packet: Uint8Array, maxFragmentPayload: number): Buffer[] {
  const p = Buffer.from(packet);
  const ihl = (p[0]! & 0x0f) * 4;
  const total = p.readUInt16BE(2);
  const flags = p.readUInt16BE(6);
  const baseOffset = (flags & 0x1fff) * 8;
  const payload = p.subarray(ihl, total);
  const step = Math.floor(maxFragmentPayload / 8) * 8;
  if (step <= 0) throw new Error('fragment payload too small');
  const out: Buffer[] = [];
  for (let start = 0; start < payload.length; start += step) {
    const chunk = payload.subarray(start, start + step);
    const last = start + step >= payload.length;
    const f = zeroed(ihl + chunk.length);
    p.copy(f, 0, 0, ihl);
    f.writeUInt16BE(f.length, 2);
    const more = !last || (flags & 0x2000) !== 0;
    f.writeUInt16BE((flags & 0x4000) | (more ? 0x2000 : 0) | ((baseOffset + start) / 8), 6);
    f.writeUInt16BE(0, 10);
    f.writeUInt16BE(internetChecksum(f.subarray(0, ihl)), 10);
    f.set(chunk, ihl);
    out.push(f);
  }
  return out;
}

/**
 * Split a complete IPv6 packet: the unfragmentable part (fixed header plus any
 * hop-by-hop and routing headers) is repeated, a fragment header is inserted.
 */
export function fragmentIpv6(packet: Uint8Array, maxFragmentPayload: number, identification: number): Buffer[] {
  const p = Buffer.from(packet);
  let next = p[6]!;
  let nextFieldAt = 6;
  let end = 40;
  while (next === IPPROTO.HOPOPTS || next === IPPROTO.ROUTING) {
    nextFieldAt = end;
    next = p[end]!;
    end += (p[end + 1]! + 1) * 8;
  }
  const unfragmentable = p.subarray(0, end);
  const fragmentable = p.subarray(end, 40 + p.readUInt16BE(4));
  const step = Math.floor(maxFragmentPayload / 8) * 8;
  if (step <= 0) throw new Error('fragment payload too small');
  const out: Buffer[] = [];
  for (let start = 0; start < fragmentable.length; start += step) {
    const chunk = fragmentable.subarray(start, start + step);
    const more = start + step < fragmentable.length;
    const fh = encodeExtensionHeader({ kind: 'fragment', offset: start, moreFragments: more, identification }, next);
    const f = Buffer.concat([unfragmentable, fh, chunk]);
    f[nextFieldAt] = IPPROTO.FRAGMENT;
    f.writeUInt16BE(f.length - 40, 4);
    out.push(f);
  }
  return out;
}

/**
 * A routing header without data gets a type-0 list holding only the final
 * destination, so readers that take the last listed hop as the checksum
 * destination (tcpdump does) agree with the fixed header.
 */
function withRoutingDefault(h: Ipv6ExtensionHeader, dst: Buffer): Ipv6ExtensionHeader {
  if (h.kind !== 'routing' || h.data !== undefined) return h;
  return { ...h, data: Buffer.concat([zeroed(4), dst]) };
}

function extensionType(h: Ipv6ExtensionHeader): number {
  switch (h.kind) {
    case 'hopByHop':
      return IPPROTO.HOPOPTS;
    case 'destinationOptions':
      return IPPROTO.DSTOPTS;
    case 'routing':
      return IPPROTO.ROUTING;
    case 'fragment':
      return IPPROTO.FRAGMENT;
  }
}

function encodeExtensionHeader(h: Ipv6ExtensionHeader, next: number): Buffer {
  switch (h.kind) {
    case 'hopByHop':
    case 'destinationOptions': {
      const body = padOptionsTlv(h.options ?? new Uint8Array(0));
      const out = zeroed(2 + body.length);
      out[0] = next;
      out[1] = out.length / 8 - 1;
      out.set(body, 2);
      return out;
    }
    case 'routing': {
      const data = h.data ?? zeroed(4);
      const hdr = zeroed(Math.ceil((4 + data.length) / 8) * 8);
      hdr[0] = next;
      hdr[1] = hdr.length / 8 - 1;
      hdr[2] = h.routingType ?? 0;
      hdr[3] = h.segmentsLeft ?? 0;
      hdr.set(data, 4);
      return hdr;
    }
    case 'fragment': {
      if (h.offset % 8 !== 0) throw new Error('fragment offset must be a multiple of 8');
      const out = zeroed(8);
      out[0] = next;
      out.writeUInt16BE(h.offset | (h.moreFragments ? 1 : 0), 2);
      out.writeUInt32BE(h.identification >>> 0, 4);
      return out;
    }
  }
}

/** Pad TLV options so that 2 + length is a multiple of 8 (Pad1 for one byte, PadN otherwise). */
function padOptionsTlv(options: Uint8Array): Buffer {
  const pad = (8 - ((2 + options.length) % 8)) % 8;
  const out = zeroed(options.length + pad);
  out.set(options);
  if (pad === 1) out[options.length] = 0;
  else if (pad >= 2) {
    out[options.length] = 1;
    out[options.length + 1] = pad - 2;
  }
  return out;
}

/** Fill the TCP/UDP/ICMPv6 checksum of a complete transport payload, if it is long enough to hold one. */
function fillTransportChecksum(segment: Buffer, protocol: number, src: Uint8Array, dst: Uint8Array): void {
  const at = protocol === IPPROTO.TCP ? 16 : protocol === IPPROTO.UDP ? 6 : protocol === IPPROTO.ICMPV6 && src.length === 16 ? 2 : -1;
  if (at < 0 || segment.length < at + 2) return;
  if (protocol === IPPROTO.TCP && segment.length < 20) return;
  if (protocol === IPPROTO.UDP && segment.length < 8) return;
  segment.writeUInt16BE(0, at);
  let sum = internetChecksum(segment, pseudoHeaderSum(src, dst, protocol, segment.length));
  if (protocol === IPPROTO.UDP && sum === 0) sum = 0xffff; // 0 means "no checksum" in UDP
  segment.writeUInt16BE(sum, at);
}

function padTo(bytes: Uint8Array, multiple: number): Uint8Array {
  const padded = Math.ceil(bytes.length / multiple) * multiple;
  if (padded === bytes.length) return bytes;
  const out = new Uint8Array(padded);
  out.set(bytes);
  return out;
}
