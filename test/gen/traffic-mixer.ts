// Merges timed packet streams into one capture in timestamp order and keeps
// the tallies that ground truth is built from. A stream emits packet i at a
// timestamp fixed by its rate, and may schedule later packets (replies).
import { MinHeap } from './min-heap.js';
import type { Prng } from './prng.js';
import { openCaptureWriter, type CaptureWriterOptions } from './pcap-writer.js';

export type PacketRole = 'benign' | 'attack' | 'outbound' | 'noise';

export interface MixedPacket {
  tsUs: number;
  frame: Uint8Array;
  /** On-the-wire length when the frame holds only the first bytes. */
  originalLength?: number;
  role: PacketRole;
  /** IP source/destination; absent for non-IP frames. */
  src?: string;
  dst?: string;
  /** UDP source port, for dominant-port ground truth. */
  udpSrcPort?: number;
}

export type Emit = (p: MixedPacket) => void;

export interface TrafficStream {
  name: string;
  /** Packets per second of the stream's own packets (replies not included). */
  rate: number;
  count: number;
  /** Offset of the first slot from the capture start. */
  startOffsetUs?: number;
  /** Emit packet i (timestamp tsUs) and any replies it provokes (timestamps >= tsUs). */
  emit(i: number, tsUs: number, out: Emit): void;
}

/** Tallies over everything written, keyed the way detection sees traffic. */
export interface TrafficTally {
  totalPackets: number;
  inboundPackets: number;
  outboundPackets: number;
  nonIpPackets: number;
  /** Inbound packets per role. */
  inboundByRole: Record<PacketRole, number>;
  /** Inbound packets per IP source. */
  inboundBySource: Map<string, number>;
  /** Inbound packets from attack streams, per source. */
  attackBySource: Map<string, number>;
  /** Inbound UDP packets per source port. */
  inboundUdpBySrcPort: Map<number, number>;
  /** Inbound packets in each whole second from the start. */
  inboundPerSecond: number[];
  firstTsUs: number;
  lastTsUs: number;
}

export interface MixOptions {
  path: string;
  writer: CaptureWriterOptions;
  victim: string;
  startUs: number;
  durationUs: number;
  streams: TrafficStream[];
  /** Jitter source for slot timestamps. */
  prng: Prng;
}

type HeapEntry = { kind: 'tick'; stream: number; index: number } | { kind: 'packet'; packet: MixedPacket };

/** Timestamp of packet i: evenly spaced at `rate`, jittered within its own slot so order is kept. */
function slotTimestamp(startUs: number, i: number, rate: number, jitter: number): number {
  return startUs + Math.floor(((i + jitter) * 1e6) / rate);
}

export function mixTraffic(o: MixOptions): TrafficTally {
  const endUs = o.startUs + o.durationUs;
  const tally: TrafficTally = {
    totalPackets: 0,
    inboundPackets: 0,
    outboundPackets: 0,
    nonIpPackets: 0,
    inboundByRole: { benign: 0, attack: 0, outbound: 0, noise: 0 },
    inboundBySource: new Map(),
    attackBySource: new Map(),
    inboundUdpBySrcPort: new Map(),
    inboundPerSecond: new Array<number>(Math.ceil(o.durationUs / 1e6)).fill(0),
    firstTsUs: Number.POSITIVE_INFINITY,
    lastTsUs: 0,
  };
  const heap = new MinHeap<HeapEntry>();
  const schedule = (stream: number, index: number): void => {
    const s = o.streams[stream]!;
    if (index >= s.count) return;
    const ts = slotTimestamp(o.startUs + (s.startOffsetUs ?? 0), index, s.rate, o.prng.next());
    heap.push(ts, { kind: 'tick', stream, index });
  };
  o.streams.forEach((_, i) => schedule(i, 0));
  const emit: Emit = (p) => heap.push(p.tsUs, { kind: 'packet', packet: p });

  const writer = openCaptureWriter(o.path, o.writer);
  try {
    while (heap.size > 0) {
      const ts = heap.peekKey()!;
      const entry = heap.pop()!;
      if (entry.kind === 'tick') {
        o.streams[entry.stream]!.emit(entry.index, ts, emit);
        schedule(entry.stream, entry.index + 1);
        continue;
      }
      const p = entry.packet;
      if (p.tsUs >= endUs) continue; // replies after the capture stopped are not seen
      writer.writePacket(p.frame, p.tsUs, p.originalLength);
      count(tally, p, o.victim, o.startUs);
    }
  } finally {
    writer.close();
  }
  return tally;
}

function count(t: TrafficTally, p: MixedPacket, victim: string, startUs: number): void {
  t.totalPackets++;
  t.firstTsUs = Math.min(t.firstTsUs, p.tsUs);
  t.lastTsUs = Math.max(t.lastTsUs, p.tsUs);
  if (p.src === undefined || p.dst === undefined) {
    t.nonIpPackets++;
    return;
  }
  if (p.src === victim) t.outboundPackets++;
  if (p.dst !== victim) return;
  t.inboundPackets++;
  t.inboundByRole[p.role]++;
  t.inboundBySource.set(p.src, (t.inboundBySource.get(p.src) ?? 0) + 1);
  if (p.role === 'attack') t.attackBySource.set(p.src, (t.attackBySource.get(p.src) ?? 0) + 1);
  if (p.udpSrcPort !== undefined) t.inboundUdpBySrcPort.set(p.udpSrcPort, (t.inboundUdpBySrcPort.get(p.udpSrcPort) ?? 0) + 1);
  const second = Math.floor((p.tsUs - startUs) / 1e6);
  t.inboundPerSecond[second] = (t.inboundPerSecond[second] ?? 0) + 1;
}
