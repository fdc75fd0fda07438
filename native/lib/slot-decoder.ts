// Turns the addon's typed arrays into the Slot objects of types.ts. Field
// positions come from the addon's own name lists, so C and TS cannot drift.
import type { NativeBinding, RawSlot, RawTable } from './binding.js';
import type { AddressCounters, DestinationCounters, PortCount, Slot, SlotTotals } from './types.js';
import { formatAddressKey } from './address-format.js';
import { estimateSketch } from './hll.js';

const COUNTER_FIELDS = [
  'packetsUpperBound', 'packets', 'bytes', 'tcp', 'udp', 'icmp', 'other',
  'syn', 'synAck', 'ack', 'rst', 'fragments', 'fin', 'synEcn', 'badFlags', 'handshakes',
  'outPackets', 'outBytes', 'outSyn', 'outSynAck', 'outRst', 'udpSrcPort', 'udpSrcPortPackets', 'tcpNull', 'synFin', 'psh',
] as const satisfies readonly (keyof AddressCounters)[];

const TOTAL_FIELDS: (keyof SlotTotals)[] = [
  'packets', 'bytes', 'inboundPackets', 'inboundBytes', 'ipv4', 'ipv6', 'nonIp', 'malformed',
  'tcp', 'udp', 'icmp', 'other', 'syn', 'synAck', 'ack', 'rst', 'fragments',
  'sourceEvictions', 'destinationEvictions', 'fin', 'synEcn', 'badFlags', 'handshakes',
  'outPackets', 'outBytes', 'outSyn', 'outSynAck', 'outRst', 'halfOpenEvictions', 'tcpNull', 'synFin', 'psh',
];

const PORT_LISTS = ['udpSrcPorts', 'tcpSrcPorts', 'udpDstPorts', 'tcpDstPorts', 'outUdpDstPorts', 'synDstPorts', 'synAckSrcPorts'] as const;

/** Fails loudly at load time if the addon's layout is not the one this decoder reads. */
export function checkLayout(b: Pick<NativeBinding, 'counterNames' | 'totalNames' | 'portLists'>): void {
  const same = (a: readonly string[], c: readonly string[]) => a.length === c.length && a.every((x, i) => x === c[i]);
  if (!same(b.counterNames, COUNTER_FIELDS) || !same(b.totalNames, TOTAL_FIELDS) || b.portLists !== PORT_LISTS.length) {
    throw new Error('native engine layout does not match this version of the TypeScript wrapper; rebuild with "npm run build"');
  }
}

export interface DecodeOptions {
  /** Keep at most this many sources (heaviest first). */
  maxSources?: number;
  maxDestinations?: number;
  portTopK: number;
  destSketchRegisters: number;
}

function decodeCounters(t: RawTable, i: number): AddressCounters {
  const { addr, family } = formatAddressKey(t.keys, i * 16);
  const base = i * COUNTER_FIELDS.length;
  const c = t.counters;
  const out = { addr, family } as AddressCounters;
  for (let f = 0; f < COUNTER_FIELDS.length; f++) out[COUNTER_FIELDS[f]!] = c[base + f]!;
  return out;
}

export function decodeSlot(raw: RawSlot, opts: DecodeOptions): Slot {
  const totals = {} as SlotTotals;
  TOTAL_FIELDS.forEach((name, i) => (totals[name] = raw.totals[i]!));

  const nSrc = Math.min(raw.sources.count, opts.maxSources ?? Infinity);
  const sources: AddressCounters[] = new Array(nSrc);
  for (let i = 0; i < nSrc; i++) sources[i] = decodeCounters(raw.sources, i);

  const d = raw.destinations;
  const nDst = Math.min(d.count, opts.maxDestinations ?? Infinity);
  const destinations: DestinationCounters[] = new Array(nDst);
  const k = opts.portTopK;
  const regs = opts.destSketchRegisters;
  for (let i = 0; i < nDst; i++) {
    const base = decodeCounters(d, i);
    const lists: Record<(typeof PORT_LISTS)[number], PortCount[]> = {
      udpSrcPorts: [], tcpSrcPorts: [], udpDstPorts: [], tcpDstPorts: [], outUdpDstPorts: [], synDstPorts: [], synAckSrcPorts: [],
    };
    PORT_LISTS.forEach((name, li) => {
      const off = (i * PORT_LISTS.length + li) * k * 2;
      for (let q = 0; q < k; q++) {
        const packets = d.ports![off + q * 2 + 1]!;
        if (packets > 0) lists[name].push({ port: d.ports![off + q * 2]!, packets });
      }
      lists[name].sort((a, b) => b.packets - a.packets);
    });
    const sourceSketch = d.sketches!.slice(i * regs, (i + 1) * regs);
    destinations[i] = { ...base, ...lists, sourceSketch, distinctSources: estimateSketch(sourceSketch) };
  }
  return {
    start: raw.start,
    end: raw.end,
    coverStart: raw.coverStart,
    coverEnd: raw.coverEnd,
    firstPacket: raw.firstPacket,
    lastPacket: raw.lastPacket,
    totals,
    sources,
    destinations,
    sourceSketch: raw.sketch,
    distinctSources: estimateSketch(raw.sketch),
  };
}
