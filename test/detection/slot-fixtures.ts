// Build synthetic Slots the way the native engine would: describe traffic as
// flows (source, destination, kind, packets) and let the builder aggregate
// per-source and per-destination counters, top ports, HLL sketches and totals.
// The HLL hash here is not the engine's; only merge/estimate are exercised.

import { DEST_SKETCH_REGISTERS, estimateSketch as estimate, SLOT_SKETCH_REGISTERS } from '../../native/lib/hll.js';
import type { AddressCounters, DestinationCounters, PortCount, Slot } from '../../native/lib/types.js';

export type FlowKind =
  | 'syn'
  | 'ecnsyn'
  | 'synack'
  | 'ack'
  | 'data'
  | 'fin'
  | 'rst'
  | 'null'
  | 'synfin'
  | 'xmas'
  | 'udp'
  | 'icmp'
  | 'fragment';

export interface Flow {
  src: string;
  dst: string;
  kind: FlowKind;
  packets: number;
  /** Bytes per packet; defaults by kind (60 for TCP control, 512 UDP, 84 ICMP, 1500 fragments). */
  packetBytes?: number;
  sport?: number;
  dport?: number;
  /** SYN flows: how many of the SYNs completed a handshake (the completing ACKs are not added). */
  handshakes?: number;
  /** The protected side's answers to this source, counted as outbound. */
  out?: { packets: number; bytes?: number; kind?: 'syn' | 'synack' | 'rst' | 'ack' | 'udp'; dport?: number };
}

export interface SlotSpec {
  start: number;
  widthMs?: number;
  flows: Iterable<Flow>;
  /** Source table size: lighter sources beyond it are dropped and counted as evictions. */
  maxSources?: number;
  /** Non-inbound traffic (outbound, non-IP) added to totals.packets/bytes only. */
  otherPackets?: number;
  otherBytes?: number;
  /** The time the slot's data covers (default: the whole slot). */
  coverStart?: number;
  coverEnd?: number;
}

const DEFAULT_PACKET_BYTES: Record<FlowKind, number> = {
  syn: 60,
  ecnsyn: 60,
  synack: 60,
  ack: 60,
  data: 200,
  fin: 60,
  rst: 60,
  null: 60,
  synfin: 60,
  xmas: 60,
  udp: 512,
  icmp: 84,
  fragment: 1500,
};

const TOP_PORTS_PER_SLOT = 8;

/** The n-th address of 10.0.0.0/8 (or another /8 via `firstOctet`). */
export function ipv4(n: number, firstOctet = 10): string {
  return `${firstOctet}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

// FNV-1a then murmur3's finaliser: enough avalanche for sequential addresses.
function hash32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Add an element to HLL registers: index from the top p bits of a 64-bit hash, rank = 1 + leading zeros of the rest. */
export function sketchAdd(registers: Uint8Array, value: string): void {
  const p = Math.log2(registers.length);
  const hi = hash32(value, 0);
  const lo = hash32(value, 0x9e3779b9);
  const index = hi >>> (32 - p);
  const rest = (hi << p) >>> 0;
  const rank = rest !== 0 ? Math.clz32(rest) + 1 : 32 - p + Math.clz32(lo) + 1;
  if (rank > registers[index]!) registers[index] = rank;
}

export function sketchOf(values: Iterable<string>, registers = SLOT_SKETCH_REGISTERS): Uint8Array {
  const r = new Uint8Array(registers);
  for (const v of values) sketchAdd(r, v);
  return r;
}

export function emptyCounters(addr: string): AddressCounters {
  return {
    addr,
    family: addr.includes(':') ? 6 : 4,
    packets: 0,
    packetsUpperBound: 0,
    bytes: 0,
    tcp: 0,
    udp: 0,
    icmp: 0,
    other: 0,
    syn: 0,
    synAck: 0,
    ack: 0,
    rst: 0,
    fragments: 0,
    fin: 0,
    synEcn: 0,
    badFlags: 0,
    handshakes: 0,
    outPackets: 0,
    outBytes: 0,
    outSyn: 0,
    outSynAck: 0,
    outRst: 0,
    udpSrcPort: 0,
    udpSrcPortPackets: 0,
    tcpNull: 0,
    synFin: 0,
    psh: 0,
  };
}

type Counted = Omit<AddressCounters, 'addr' | 'family' | 'packetsUpperBound' | 'udpSrcPort' | 'udpSrcPortPackets'>;

/** The engine's counting rules for `f` (inbound), and its `out` answers. */
function count(c: Counted, f: Flow, bytes: number): void {
  const n = f.packets;
  c.packets += n;
  c.bytes += bytes;
  switch (f.kind) {
    case 'syn':
      c.tcp += n;
      c.syn += n;
      c.handshakes += f.handshakes ?? 0;
      break;
    case 'ecnsyn':
      c.tcp += n;
      c.syn += n;
      c.synEcn += n;
      c.handshakes += f.handshakes ?? 0;
      break;
    case 'synack':
      c.tcp += n;
      c.synAck += n;
      break;
    case 'ack':
      c.tcp += n;
      c.ack += n;
      break;
    case 'data':
      c.tcp += n;
      c.ack += n;
      c.psh += n;
      break;
    case 'fin':
      c.tcp += n;
      c.fin += n;
      break;
    case 'rst':
      c.tcp += n;
      c.rst += n;
      break;
    case 'null':
      c.tcp += n;
      c.badFlags += n;
      c.tcpNull += n;
      break;
    case 'synfin':
      c.tcp += n;
      c.syn += n; // SYN without ACK: the engine's syn class too
      c.badFlags += n;
      c.synFin += n;
      break;
    case 'xmas':
      c.tcp += n;
      c.fin += n;
      c.psh += n;
      c.badFlags += n;
      break;
    case 'udp':
      c.udp += n;
      break;
    case 'icmp':
      c.icmp += n;
      break;
    case 'fragment':
      // Non-first fragments: no transport header, so the engine counts them as "other".
      c.other += n;
      c.fragments += n;
      break;
  }
  if (f.out) {
    c.outPackets += f.out.packets;
    c.outBytes += f.out.bytes ?? f.out.packets * 60;
    if (f.out.kind === 'syn') c.outSyn += f.out.packets;
    if (f.out.kind === 'synack') c.outSynAck += f.out.packets;
    if (f.out.kind === 'rst') c.outRst += f.out.packets;
  }
}

function addPort(m: Map<number, number>, port: number | undefined, packets: number): void {
  if (port !== undefined) m.set(port, (m.get(port) ?? 0) + packets);
}

function top(m: Map<number, number>): PortCount[] {
  return [...m]
    .map(([port, packets]) => ({ port, packets }))
    .sort((a, b) => b.packets - a.packets || a.port - b.port)
    .slice(0, TOP_PORTS_PER_SLOT);
}

interface DestAcc {
  counters: AddressCounters;
  udpSrc: Map<number, number>;
  tcpSrc: Map<number, number>;
  udpDst: Map<number, number>;
  tcpDst: Map<number, number>;
  outUdpDst: Map<number, number>;
  synDst: Map<number, number>;
  synAckSrc: Map<number, number>;
  sketch: Uint8Array;
}

import { emptyTotals } from '../../detection/window-merge.js';
export { emptyTotals };

/** Aggregate flows into one Slot, as the engine would for [start, start + widthMs). */
export function buildSlot(spec: SlotSpec): Slot {
  const totals = emptyTotals();
  const sources = new Map<string, AddressCounters>();
  const dests = new Map<string, DestAcc>();
  const slotSketch = new Uint8Array(SLOT_SKETCH_REGISTERS);

  for (const f of spec.flows) {
    const bytes = f.packets * (f.packetBytes ?? DEFAULT_PACKET_BYTES[f.kind]);
    count(totals, f, bytes);
    totals.inboundPackets += f.packets;
    totals.inboundBytes += bytes;
    if (f.src.includes(':')) totals.ipv6 += f.packets;
    else totals.ipv4 += f.packets;

    let s = sources.get(f.src);
    if (s === undefined) sources.set(f.src, (s = emptyCounters(f.src)));
    count(s, f, bytes);
    s.packetsUpperBound = s.packets;
    if (f.kind === 'udp' && f.sport !== undefined) {
      // The engine follows the first UDP source port it sees from an address.
      if (s.udpSrcPortPackets === 0) s.udpSrcPort = f.sport;
      if (s.udpSrcPort === f.sport) s.udpSrcPortPackets += f.packets;
    }


    let d = dests.get(f.dst);
    if (d === undefined) {
      d = {
        counters: emptyCounters(f.dst),
        udpSrc: new Map(),
        tcpSrc: new Map(),
        udpDst: new Map(),
        tcpDst: new Map(),
        outUdpDst: new Map(),
        synDst: new Map(),
        synAckSrc: new Map(),
        sketch: new Uint8Array(DEST_SKETCH_REGISTERS),
      };
      dests.set(f.dst, d);
    }
    count(d.counters, f, bytes);
    d.counters.packetsUpperBound = d.counters.packets;
    if (f.out?.kind === 'udp') addPort(d.outUdpDst, f.out.dport, f.out.packets);
    if (f.kind === 'udp') {
      addPort(d.udpSrc, f.sport, f.packets);
      addPort(d.udpDst, f.dport, f.packets);
    } else if (f.kind !== 'icmp' && f.kind !== 'fragment') {
      addPort(d.tcpSrc, f.sport, f.packets);
      addPort(d.tcpDst, f.dport, f.packets);
      if (f.kind === 'syn' || f.kind === 'ecnsyn' || f.kind === 'synfin') addPort(d.synDst, f.dport, f.packets);
      if (f.kind === 'synack') addPort(d.synAckSrc, f.sport, f.packets);
    }
    sketchAdd(d.sketch, f.src);
    sketchAdd(slotSketch, f.src);
  }

  totals.packets += spec.otherPackets ?? 0;
  totals.bytes += spec.otherBytes ?? 0;

  let sourceList = [...sources.values()].sort((a, b) => b.packetsUpperBound - a.packetsUpperBound);
  if (spec.maxSources !== undefined && sourceList.length > spec.maxSources) {
    for (const evicted of sourceList.slice(spec.maxSources)) totals.sourceEvictions += evicted.packets;
    sourceList = sourceList.slice(0, spec.maxSources);
  }

  const destinations: DestinationCounters[] = [...dests.values()]
    .map((d) => ({
      ...d.counters,
      udpSrcPorts: top(d.udpSrc),
      tcpSrcPorts: top(d.tcpSrc),
      udpDstPorts: top(d.udpDst),
      tcpDstPorts: top(d.tcpDst),
      outUdpDstPorts: top(d.outUdpDst),
      synDstPorts: top(d.synDst),
      synAckSrcPorts: top(d.synAckSrc),
      distinctSources: estimate(d.sketch),
      sourceSketch: d.sketch,
    }))
    .sort((a, b) => b.packets - a.packets);

  const end = spec.start + (spec.widthMs ?? 1000);
  return {
    start: spec.start,
    end,
    coverStart: spec.coverStart ?? spec.start,
    coverEnd: spec.coverEnd ?? end,
    firstPacket: spec.start,
    lastPacket: end - 1,
    totals,
    sources: sourceList,
    destinations,
    distinctSources: estimate(slotSketch),
    sourceSketch: slotSketch,
  };
}

/** `count` consecutive 1-second slots starting at `startMs`; `flowsFor(i)` gives slot i's traffic. */
export function buildSlots(
  count: number,
  flowsFor: (slotIndex: number) => Iterable<Flow>,
  opts: { startMs?: number; widthMs?: number; maxSources?: number; otherPackets?: number } = {},
): Slot[] {
  const startMs = opts.startMs ?? 1_700_000_000_000;
  const widthMs = opts.widthMs ?? 1000;
  const slots: Slot[] = [];
  for (let i = 0; i < count; i++) {
    slots.push(
      buildSlot({
        start: startMs + i * widthMs,
        widthMs,
        flows: flowsFor(i),
        maxSources: opts.maxSources,
        otherPackets: opts.otherPackets,
      }),
    );
  }
  return slots;
}

/** Flows from `n` sources (ipv4(offset + i) in the given /8), `packets` each per slot. */
export function* fromSources(
  n: number,
  flow: Omit<Flow, 'src'>,
  opts: { offset?: number; firstOctet?: number; perSource?: (i: number) => Partial<Flow> } = {},
): Generator<Flow> {
  for (let i = 0; i < n; i++) {
    yield { ...flow, src: ipv4((opts.offset ?? 0) + i, opts.firstOctet ?? 198), ...opts.perSource?.(i) };
  }
}

/**
 * A slot holding only pre-built source entries (no destinations): cheap to make
 * in bulk for merge sizing tests, where per-flow aggregation would dominate.
 */
export function sourceOnlySlot(start: number, sources: AddressCounters[], widthMs = 1000): Slot {
  const totals = emptyTotals();
  for (const s of sources) {
    totals.packets += s.packets;
    totals.inboundPackets += s.packets;
    totals.bytes += s.bytes;
    totals.inboundBytes += s.bytes;
  }
  const end = start + widthMs;
  return { start, end, coverStart: start, coverEnd: end, firstPacket: start, lastPacket: end - 1, totals, sources, destinations: [], distinctSources: 0, sourceSketch: new Uint8Array(0) };
}
