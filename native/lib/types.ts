// Aggregates produced by the native engine. The C side fills fixed-layout
// typed arrays; native/lib/slot-decoder.ts turns them into these objects.
// JS never sees single packets: one Slot summarises every packet whose
// timestamp falls in [start, end).

/** Counters kept per address (source or destination) within one slot. */
export interface AddressCounters {
  /** Textual IPv4 or IPv6 address. */
  addr: string;
  family: 4 | 6;
  /** Packets actually observed for this address while it was tracked (a lower bound). */
  packets: number;
  /**
   * Space-Saving estimate (an upper bound): packets plus the count inherited
   * when this address took over an evicted table entry. Equal to packets
   * unless the table overflowed.
   */
  packetsUpperBound: number;
  bytes: number;
  tcp: number;
  udp: number;
  icmp: number;
  /** Other IP protocols (GRE, ESP, ...), and non-first fragments whose protocol header is absent. */
  other: number;
  /** TCP SYN without ACK (connection attempts). RST takes precedence over the other flag classes. */
  syn: number;
  /** TCP SYN+ACK. */
  synAck: number;
  /** TCP with ACK only among SYN/FIN/RST (bare ACKs and data segments). */
  ack: number;
  /** TCP with RST set. */
  rst: number;
  /** IP fragments (first and non-first, IPv4 MF/offset or IPv6 fragment header). */
  fragments: number;
  /** TCP with FIN set and neither SYN nor RST (normal closes, and FIN scans). */
  fin: number;
  /** TCP SYN without ACK carrying ECE or CWR (ECN setup; also the "ECN/CWR" SYN flood variants). */
  synEcn: number;
  /** TCP flag mixes no stack sends: NULL, SYN+FIN, SYN+RST, FIN without ACK (FIN scan, XMAS). */
  badFlags: number;
  /** TCP handshakes completed in this direction: a SYN, then the ACK of it (and of the SYN+ACK when that is visible). */
  handshakes: number;
  /** The protected side's packets back (to this source; from this destination). */
  outPackets: number;
  outBytes: number;
  /** SYNs the protected side sent (it is the client of the connection). */
  outSyn: number;
  /** SYN+ACKs the protected side sent (it answered connection attempts). */
  outSynAck: number;
  outRst: number;
  /** The first UDP source port seen from this address (0 when none), and the inbound UDP packets from exactly that port. */
  udpSrcPort: number;
  udpSrcPortPackets: number;
  /** Of badFlags: no flag at all (NULL scans and floods). */
  tcpNull: number;
  /** Of badFlags: SYN with FIN or RST. The rest of badFlags is FIN without ACK (FIN scans, XMAS). */
  synFin: number;
  /** TCP with PSH: segments that end a write (requests, records); bulk transfers set it rarely. */
  psh: number;
}

export interface PortCount {
  port: number;
  packets: number;
}

/** A destination entry additionally keeps the heaviest ports and a distinct-source estimate. */
export interface DestinationCounters extends AddressCounters {
  /** Top UDP source ports towards this destination (amplification shows here: 53, 123, 161, ...). */
  udpSrcPorts: PortCount[];
  tcpSrcPorts: PortCount[];
  udpDstPorts: PortCount[];
  tcpDstPorts: PortCount[];
  /** UDP destination ports the protected address itself sent to (its own queries: 53, 123, ...). */
  outUdpDstPorts: PortCount[];
  /** Destination ports of SYNs alone, and source ports of SYN-ACKs alone (a flood's port, not its neighbours'). */
  synDstPorts: PortCount[];
  synAckSrcPorts: PortCount[];
  /** HyperLogLog estimate of distinct source addresses that sent to this destination in the slot. */
  distinctSources: number;
  /** Raw HLL registers (DEST_SKETCH_REGISTERS of them) so windows can merge slots. */
  sourceSketch: Uint8Array;
}

/** Whole-slot totals, including traffic that was not attributed to a table entry. */
export interface SlotTotals {
  /** Every packet seen in the slot (after the BPF filter). */
  packets: number;
  bytes: number;
  /** Packets to a protected address (all IP packets when no protected set is configured). The protocol and flag totals below count these inbound packets only. */
  inboundPackets: number;
  inboundBytes: number;
  ipv4: number;
  ipv6: number;
  /** Frames that carry no IP (ARP, LLDP, ...). Not an error. */
  nonIp: number;
  /** Truncated or malformed packets: counted, never read past their captured length. */
  malformed: number;
  tcp: number;
  udp: number;
  icmp: number;
  other: number;
  syn: number;
  synAck: number;
  ack: number;
  rst: number;
  fragments: number;
  /** Inbound packets whose source lost its table entry to a heavier one (table full). */
  sourceEvictions: number;
  destinationEvictions: number;
  fin: number;
  synEcn: number;
  badFlags: number;
  /** TCP handshakes completed towards protected addresses. */
  handshakes: number;
  /** Packets the protected addresses sent (replies, their own connections). */
  outPackets: number;
  outBytes: number;
  outSyn: number;
  outSynAck: number;
  outRst: number;
  /** SYNs whose half-open entry was overwritten (table full) before their handshake could complete. */
  halfOpenEvictions: number;
  tcpNull: number;
  synFin: number;
  psh: number;
}

export interface Slot {
  /** Slot start, ms since the epoch, aligned to a multiple of the slot width. */
  start: number;
  /** Exclusive end, ms since the epoch. */
  end: number;
  /**
   * The time the slot's data really covers (ms): from the capture's start or a
   * file's first packet in the first slot, to a file's last packet or a live
   * capture's stop in the last one; [start, end) otherwise. Rates divide by this.
   */
  coverStart: number;
  coverEnd: number;
  /** Timestamps of the first and last packet in the slot (0 when it is empty). */
  firstPacket: number;
  lastPacket: number;
  totals: SlotTotals;
  /** Inbound sources, heaviest first (by packetsUpperBound). */
  sources: AddressCounters[];
  /** Destinations (protected addresses when a protected set is configured), heaviest first. */
  destinations: DestinationCounters[];
  /** HyperLogLog estimate of distinct inbound sources in the slot. */
  distinctSources: number;
  /** Raw HLL registers (so windows can merge slots exactly). */
  sourceSketch: Uint8Array;
}

/** libpcap's counters plus the engine's own. */
export interface CaptureStats {
  /** pcap_stats ps_recv (live only; 0 for files). */
  received: number;
  /** pcap_stats ps_drop: dropped because the buffer was full. */
  dropped: number;
  /** pcap_stats ps_ifdrop: dropped by the interface or driver. */
  ifDropped: number;
  /** Packets the engine processed. */
  processed: number;
  malformed: number;
  /** Finished slots discarded because JS did not pull them in time (live only). */
  slotsDropped: number;
}

export interface CaptureOptions {
  /** Slot width in ms: 100..60000, default 1000. */
  slotMs?: number;
  /** Protected addresses or CIDRs. Only packets to these count as inbound and enter the tables. Empty: all IP packets. */
  protect?: string[];
  /** Max source entries per slot (memory cap). */
  maxSources?: number;
  /** Max destination entries per slot. */
  maxDestinations?: number;
  /** BPF filter expression. */
  filter?: string;
  /** Also write every captured packet to this pcap file. */
  writeFile?: string;
  /** Finished slots held for JS before the oldest is dropped (live) or the reader waits (files). */
  queueDepth?: number;
  /** Decode at most this many sources per slot into JS (heaviest first). */
  keepSources?: number;
  /** Read and parse on the capture thread, update the tables on a second thread (default true). */
  pipeline?: boolean;
}

export interface LiveCaptureOptions extends CaptureOptions {
  interface: string;
  promiscuous?: boolean;
  snaplen?: number;
  /** Kernel buffer size in bytes. */
  bufferSize?: number;
}
