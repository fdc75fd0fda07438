// The agent's memory of recent traffic, so an analysis of "the last N seconds"
// answers at once. Two tiers keep memory bounded even under a spoofed flood
// (where every slot's table is full):
// - fine: every slot (100 ms by default) of the last `fineMs`, with up to
//   `fineSources` sources each; auto-defense and short analyses read these;
// - coarse: older slots rolled up per `coarseMs` (1 s) with their heaviest
//   `coarseSources` sources and `coarseDestinations` destinations, for
//   `retainMs` (10 minutes): long windows and the traffic series read these.
import type { Slot } from '../../native/lib/types.js';
import { mergeSlots } from '../../detection/window-merge.js';
import { SLOT_SKETCH_REGISTERS } from '../../native/lib/hll.js';

export interface SlotRingOptions {
  retainMs: number;
  fineMs: number;
  fineSources: number;
  coarseMs: number;
  coarseSources: number;
  coarseDestinations: number;
}

export const DEFAULT_RING: SlotRingOptions = {
  retainMs: 10 * 60_000,
  fineMs: 15_000,
  fineSources: 100,
  coarseMs: 1000,
  coarseSources: 64,
  coarseDestinations: 16,
};

/** Merge slots into one slot covering them, keeping the heaviest entries. */
export function rollUp(slots: readonly Slot[], keepSources: number, keepDestinations: number): Slot {
  const w = mergeSlots(slots);
  const sources = [...w.sources].sort((a, b) => b.packetsUpperBound - a.packetsUpperBound).slice(0, keepSources);
  const destinations = [...w.destinations.values()].sort((a, b) => b.packetsUpperBound - a.packetsUpperBound).slice(0, keepDestinations);
  return {
    start: w.start,
    end: w.end,
    coverStart: w.coverStart,
    coverEnd: w.coverEnd,
    firstPacket: slots.reduce((m, s) => (s.firstPacket > 0 && (m === 0 || s.firstPacket < m) ? s.firstPacket : m), 0),
    lastPacket: slots.reduce((m, s) => Math.max(m, s.lastPacket), 0),
    totals: w.totals,
    sources,
    destinations,
    distinctSources: w.distinctSources,
    sourceSketch: w.sourceSketch ?? new Uint8Array(SLOT_SKETCH_REGISTERS),
  };
}

export class SlotRing {
  private coarse: Slot[] = [];
  private fine: Slot[] = [];

  constructor(private readonly opts: SlotRingOptions = DEFAULT_RING) {}

  push(slot: Slot): void {
    if (slot.sources.length > this.opts.fineSources) slot.sources.length = this.opts.fineSources;
    this.fine.push(slot);
    const newest = slot.end;
    // Roll a coarse period up once all of it has left the fine tier.
    const { coarseMs } = this.opts;
    const fineFrom = newest - this.opts.fineMs;
    for (;;) {
      const first = this.fine[0];
      if (!first) break;
      const periodEnd = Math.floor(first.start / coarseMs) * coarseMs + coarseMs;
      if (periodEnd > fineFrom) break;
      let n = 1;
      while (n < this.fine.length && this.fine[n]!.start < periodEnd) n++;
      this.coarse.push(rollUp(this.fine.splice(0, n), this.opts.coarseSources, this.opts.coarseDestinations));
    }
    let drop = 0;
    while (drop < this.coarse.length && this.coarse[drop]!.end <= newest - this.opts.retainMs) drop++;
    if (drop > 0) this.coarse.splice(0, drop);
  }

  private all(): Slot[] {
    return this.coarse.length ? [...this.coarse, ...this.fine] : this.fine;
  }

  /** The slots covering the last `seconds` seconds before the newest slot's end (or `until`). */
  window(seconds: number, until = this.latestEnd()): Slot[] {
    const from = until - seconds * 1000;
    // The fine tier alone answers short windows (the auto-defense hot path) without copying.
    const source = this.fine.length > 0 && this.fine[0]!.start <= from ? this.fine : this.all();
    return source.filter((s) => s.start >= from && s.end <= until);
  }

  /** Slots that start at or after `fromMs` and end by `untilMs`. */
  between(fromMs: number, untilMs: number): Slot[] {
    return this.all().filter((s) => s.start >= fromMs && s.end <= untilMs);
  }

  latestEnd(): number {
    return this.fine.at(-1)?.end ?? this.coarse.at(-1)?.end ?? 0;
  }

  get size(): number {
    return this.coarse.length + this.fine.length;
  }

  /** How much history the ring holds now, in seconds. */
  spanSeconds(): number {
    const first = this.coarse[0] ?? this.fine[0];
    return first ? (this.latestEnd() - first.start) / 1000 : 0;
  }
}
