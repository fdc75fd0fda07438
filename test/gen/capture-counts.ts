// The counting rules the native engine implements, stated once: how a
// classified packet adds to the totals and to the per-address tables.
// Fixtures declare a PacketClass per packet; the manifest is the tally.

export type L4Class = 'tcp' | 'udp' | 'icmp' | 'other';

export interface IpPacketClass {
  kind: 'ip';
  family: 4 | 6;
  src: string;
  dst: string;
  l4: L4Class;
  /** First or non-first fragment (IPv4 MF/offset, IPv6 fragment header with M or offset). */
  fragment: boolean;
  /** Raw TCP flags byte when l4 is tcp. */
  tcpFlags?: number;
}

export type PacketClass = { kind: 'malformed' } | { kind: 'nonIp' } | IpPacketClass;

export interface AddressCounts {
  packets: number;
  tcp: number;
  udp: number;
  icmp: number;
  other: number;
  syn: number;
  synAck: number;
  ack: number;
  rst: number;
  fragments: number;
}

export interface CaptureCounts extends AddressCounts {
  ipv4: number;
  ipv6: number;
  nonIp: number;
  malformed: number;
  /** Packets per IP source address (all IP packets count as inbound: no protected set). */
  sources: Record<string, number>;
  /** Packets per IP destination address. */
  destinations: Record<string, number>;
  sourceDetail: Record<string, AddressCounts>;
  destinationDetail: Record<string, AddressCounts>;
}

export type TcpFlagClass = 'syn' | 'synAck' | 'ack' | 'rst' | null;

/** syn = SYN&!ACK; synAck = SYN&ACK; rst = RST (any others); ack = ACK&!SYN&!RST&!FIN. FIN+ACK is none. */
export function tcpFlagClass(flags: number): TcpFlagClass {
  const fin = (flags & 0x01) !== 0;
  const syn = (flags & 0x02) !== 0;
  const rst = (flags & 0x04) !== 0;
  const ack = (flags & 0x10) !== 0;
  if (rst) return 'rst';
  if (syn) return ack ? 'synAck' : 'syn';
  if (ack && !fin) return 'ack';
  return null;
}

export function emptyAddressCounts(): AddressCounts {
  return { packets: 0, tcp: 0, udp: 0, icmp: 0, other: 0, syn: 0, synAck: 0, ack: 0, rst: 0, fragments: 0 };
}

function addIp(c: AddressCounts, p: IpPacketClass): void {
  c.packets++;
  c[p.l4]++;
  if (p.fragment) c.fragments++;
  if (p.l4 === 'tcp' && p.tcpFlags !== undefined) {
    const cls = tcpFlagClass(p.tcpFlags);
    if (cls) c[cls]++;
  }
}

/** Tally classified packets. Malformed packets count only in packets and malformed. */
export function tallyPackets(classes: Iterable<PacketClass>): CaptureCounts {
  const total: CaptureCounts = {
    ...emptyAddressCounts(),
    ipv4: 0,
    ipv6: 0,
    nonIp: 0,
    malformed: 0,
    sources: {},
    destinations: {},
    sourceDetail: {},
    destinationDetail: {},
  };
  for (const p of classes) {
    if (p.kind === 'malformed') {
      total.packets++;
      total.malformed++;
      continue;
    }
    if (p.kind === 'nonIp') {
      total.packets++;
      total.nonIp++;
      continue;
    }
    addIp(total, p);
    if (p.family === 4) total.ipv4++;
    else total.ipv6++;
    addIp((total.sourceDetail[p.src] ??= emptyAddressCounts()), p);
    addIp((total.destinationDetail[p.dst] ??= emptyAddressCounts()), p);
  }
  total.sourceDetail = sortedRecord(total.sourceDetail);
  total.destinationDetail = sortedRecord(total.destinationDetail);
  for (const [ip, c] of Object.entries(total.sourceDetail)) total.sources[ip] = c.packets;
  for (const [ip, c] of Object.entries(total.destinationDetail)) total.destinations[ip] = c.packets;
  return total;
}

function sortedRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
