// Aggregates that cross between agents: one agent's window, exported as JSON
// (GET /v1/aggregate), merged with other agents' windows of the same period,
// and judged on the sum. A flood spread over several nodes (behind a load
// balancer each node sees a third of it) is then judged as the whole it is.
//
// What merges and how (Agarwal et al., "Mergeable summaries", PODS 2012):
//  - counters and totals add up;
//  - the source lists are Space-Saving summaries cut to their heaviest
//    entries: lower bounds (packets) add up, and an address one agent did not
//    list may still have sent it up to that list's smallest count, so its
//    upper bound (packetsUpperBound) grows by the floors of the lists it is
//    missing from;
//  - HyperLogLog sketches (slot-wide and per destination) merge register-wise;
//  - port lists add up by port;
//  - baselines add up too (mergeBaselineSnapshots).
// The merge does not care how the exports arrive (a controller's HTTP calls
// today, per-node report objects later): it takes validated objects.

import net from 'node:net';
import { z } from 'zod';
import { DEST_SKETCH_REGISTERS, estimateSketch, mergeSketch, SLOT_SKETCH_REGISTERS } from '../native/lib/hll.js';
import type { AddressCounters, DestinationCounters, SlotTotals } from '../native/lib/types.js';
import { mergeBaselineSnapshots, type BaselineLookup, type Baselines, type BaselineSnapshot } from './baseline.js';
import { BASELINE_SIGNALS } from './signals.js';
import { addCounters, addPortLists, copyCounters, emptyPortTallies, emptyTotals, MIN_SPAN_SECONDS, topPortLists, type PortTallies, type WindowAggregate } from './window-merge.js';

export const AGGREGATE_VERSION = 1;
/** Sources an export lists at most by default (heaviest first). */
export const DEFAULT_EXPORT_SOURCES = 1000;
export const MAX_EXPORT_SOURCES = 20_000;
export const MAX_EXPORT_DESTINATIONS = 4096;

const COUNTER_KEYS = [
  'packets', 'packetsUpperBound', 'bytes', 'tcp', 'udp', 'icmp', 'other', 'syn', 'synAck', 'ack', 'rst', 'fragments',
  'fin', 'synEcn', 'badFlags', 'handshakes', 'outPackets', 'outBytes', 'outSyn', 'outSynAck', 'outRst',
  'udpSrcPort', 'udpSrcPortPackets', 'tcpNull', 'synFin', 'psh',
] as const satisfies readonly (keyof AddressCounters)[];

const count = z.number().finite().min(0).max(2 ** 53);
const ip = z.string().max(45).refine((s) => net.isIP(s) !== 0, { message: 'must be an IP address' });
const countersShape = Object.fromEntries(COUNTER_KEYS.map((k) => [k, count])) as Record<(typeof COUNTER_KEYS)[number], typeof count>;
const portList = z.array(z.strictObject({ port: z.number().int().min(0).max(65535), packets: count })).max(64);
const sketchText = (registers: number) =>
  z
    .string()
    .max(Math.ceil(registers / 3) * 4 + 4)
    .transform((s, ctx) => {
      const b = Buffer.from(s, 'base64');
      if (b.length !== registers || b.some((r) => r > 64)) {
        ctx.addIssue({ code: 'custom', message: `must be ${registers} HyperLogLog registers in base64` });
        return z.NEVER;
      }
      return new Uint8Array(b);
    });

const sourceSchema = z.strictObject({ addr: ip, ...countersShape });
const destinationSchema = z.strictObject({
  addr: ip,
  ...countersShape,
  udpSrcPorts: portList,
  tcpSrcPorts: portList,
  udpDstPorts: portList,
  tcpDstPorts: portList,
  outUdpDstPorts: portList,
  synDstPorts: portList,
  synAckSrcPorts: portList,
  distinctSources: count,
  sourceSketch: sketchText(DEST_SKETCH_REGISTERS),
});
const baselineSchema = z.strictObject({
  addr: ip,
  seconds: count,
  stats: z.strictObject(Object.fromEntries(BASELINE_SIGNALS.map((s) => [s, z.tuple([count, count])])) as Record<(typeof BASELINE_SIGNALS)[number], z.ZodTuple<[typeof count, typeof count]>>),
  known: sketchText(DEST_SKETCH_REGISTERS),
});
const totalsSchema = z.strictObject(Object.fromEntries(Object.keys(emptyTotals()).map((k) => [k, count])) as Record<keyof SlotTotals, typeof count>);
const ms = z.number().finite().min(0).max(1e14);

/** The one schema of an aggregate export (what GET /v1/aggregate answers, and what the merge accepts). */
export const aggregateExportSchema = z
  .strictObject({
    version: z.literal(AGGREGATE_VERSION),
    window: z.strictObject({ start: ms, end: ms, coverStart: ms, coverEnd: ms }),
    totals: totalsSchema,
    distinctSources: count,
    sourceSketch: sketchText(SLOT_SKETCH_REGISTERS).nullable(),
    sources: z.array(sourceSchema).max(MAX_EXPORT_SOURCES),
    /** The smallest packetsUpperBound listed when the list was cut, else 0: what an unlisted source may have sent. */
    sourceFloor: count,
    destinations: z.array(destinationSchema).max(MAX_EXPORT_DESTINATIONS),
    baselines: z.array(baselineSchema).max(MAX_EXPORT_DESTINATIONS),
  })
  .refine((a) => a.window.end >= a.window.start && a.window.coverEnd >= a.window.coverStart, { message: 'window ends before it starts' });

/** An export after validation (sketches decoded). */
export type AggregateExport = z.output<typeof aggregateExportSchema>;
/** An export as JSON on the wire (sketches in base64). */
export type AggregateExportJson = z.input<typeof aggregateExportSchema>;

const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');

function plainCounters(c: AddressCounters): Omit<AddressCounters, 'family'> {
  const out = { addr: c.addr } as Omit<AddressCounters, 'family'>;
  for (const k of COUNTER_KEYS) out[k] = c[k];
  return out;
}

/** One window as JSON: the `maxSources` heaviest sources, every destination, and the destinations' baselines. */
export function exportAggregate(w: WindowAggregate, opts: { maxSources?: number; baselines?: Baselines } = {}): AggregateExportJson {
  const max = Math.min(MAX_EXPORT_SOURCES, opts.maxSources ?? DEFAULT_EXPORT_SOURCES);
  const sorted = [...w.sources].sort((a, b) => b.packetsUpperBound - a.packetsUpperBound);
  const listed = sorted.slice(0, max);
  const destinations = [...w.destinations.values()].sort((a, b) => b.packets - a.packets).slice(0, MAX_EXPORT_DESTINATIONS);
  const snaps: BaselineSnapshot[] = opts.baselines ? opts.baselines.export(destinations.map((d) => d.addr)) : [];
  return {
    version: AGGREGATE_VERSION,
    window: { start: w.start, end: w.end, coverStart: w.coverStart, coverEnd: w.coverEnd },
    totals: { ...w.totals },
    distinctSources: w.distinctSources,
    sourceSketch: w.sourceSketch ? b64(w.sourceSketch) : null,
    sources: listed.map(plainCounters),
    sourceFloor: sorted.length > max ? (listed.at(-1)?.packetsUpperBound ?? 0) : 0,
    destinations: destinations.map((d) => ({
      ...plainCounters(d),
      udpSrcPorts: d.udpSrcPorts,
      tcpSrcPorts: d.tcpSrcPorts,
      udpDstPorts: d.udpDstPorts,
      tcpDstPorts: d.tcpDstPorts,
      outUdpDstPorts: d.outUdpDstPorts,
      synDstPorts: d.synDstPorts,
      synAckSrcPorts: d.synAckSrcPorts,
      distinctSources: d.distinctSources,
      sourceSketch: b64(d.sourceSketch.length === DEST_SKETCH_REGISTERS ? d.sourceSketch : new Uint8Array(DEST_SKETCH_REGISTERS)),
    })),
    baselines: snaps.map((s) => ({ addr: s.addr, seconds: s.seconds, stats: s.stats, known: b64(s.known) })),
  };
}

/** Validate an export (e.g. an agent's answer); throws a ZodError on anything else. */
export function parseAggregate(input: unknown): AggregateExport {
  return aggregateExportSchema.parse(input);
}

function withFamily<T extends { addr: string }>(c: T): T & { family: 4 | 6 } {
  return { ...c, family: net.isIP(c.addr) === 6 ? 6 : 4 };
}

/**
 * Merge validated exports of the same period into one window aggregate and
 * the summed baselines, ready for judgeAggregate().
 */
export function mergeAggregates(exports: readonly AggregateExport[]): { window: WindowAggregate; baselines: BaselineLookup } {
  const totals = emptyTotals();
  const sources = new Map<string, AddressCounters>();
  let floors = 0;
  const dests = new Map<string, { c: AddressCounters; ports: PortTallies; sketch: Uint8Array }>();
  let sketch: Uint8Array | null = null;
  let start = Infinity, end = -Infinity, coverStart = Infinity, coverEnd = -Infinity;
  let maxDistinct = 0;

  for (const e of exports) {
    start = Math.min(start, e.window.start);
    end = Math.max(end, e.window.end);
    coverStart = Math.min(coverStart, e.window.coverStart);
    coverEnd = Math.max(coverEnd, e.window.coverEnd);
    for (const k of Object.keys(totals) as (keyof SlotTotals)[]) totals[k] += e.totals[k];
    floors += e.sourceFloor;
    for (const s of e.sources) {
      const acc = sources.get(s.addr);
      if (acc) addCounters(acc, withFamily(s));
      else sources.set(s.addr, copyCounters(withFamily(s)));
    }
    for (const d of e.destinations) {
      let acc = dests.get(d.addr);
      if (!acc) {
        acc = {
          c: copyCounters(withFamily(d)),
          ports: emptyPortTallies(),
          sketch: new Uint8Array(DEST_SKETCH_REGISTERS),
        };
        dests.set(d.addr, acc);
      } else {
        addCounters(acc.c, withFamily(d));
      }
      addPortLists(acc.ports, d);
      mergeSketch(acc.sketch, d.sourceSketch);
    }
    if (e.sourceSketch) {
      if (!sketch) sketch = new Uint8Array(e.sourceSketch);
      else mergeSketch(sketch, e.sourceSketch);
    }
    maxDistinct = Math.max(maxDistinct, e.distinctSources);
  }
  // A source missing from some lists may have sent up to those lists' floors there.
  if (floors > 0) {
    for (const e of exports) {
      if (e.sourceFloor === 0) continue;
      const listed = new Set(e.sources.map((s) => s.addr));
      for (const s of sources.values()) if (!listed.has(s.addr)) s.packetsUpperBound += e.sourceFloor;
    }
  }
  const destinations = new Map<string, DestinationCounters>();
  for (const [addr, acc] of dests) {
    destinations.set(addr, {
      ...acc.c,
      ...topPortLists(acc.ports),
      distinctSources: estimateSketch(acc.sketch),
      sourceSketch: acc.sketch,
    });
  }
  const empty = exports.length === 0;
  const window: WindowAggregate = {
    start: empty ? 0 : start,
    end: empty ? 0 : end,
    coverStart: empty ? 0 : coverStart,
    coverEnd: empty ? 0 : coverEnd,
    seconds: empty ? 0 : Math.max(MIN_SPAN_SECONDS, (coverEnd - coverStart) / 1000),
    windowSeconds: empty ? 0 : Math.max(0, (end - start) / 1000),
    slotCount: exports.length,
    totals,
    sources: [...sources.values()],
    destinations,
    distinctSources: sketch ? estimateSketch(sketch) : maxDistinct,
    sourceSketch: sketch,
  };
  const baselines = mergeBaselineSnapshots(exports.flatMap((e) => e.baselines.map((b) => ({ ...b, stats: b.stats as BaselineSnapshot['stats'] }))));
  return { window, baselines };
}
