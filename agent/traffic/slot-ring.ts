// The agent's memory of recent traffic: every finished slot for the last
// `retainMs` (10 minutes by default), so an analysis of "the last N seconds"
// answers at once. Slots older than `fineMs` keep only their heaviest
// sources, which bounds memory while the heavy hitters stay visible.
import type { Slot } from '../../native/lib/types.js';

export interface SlotRingOptions {
  retainMs: number;
  /** Slots younger than this keep up to `fineSources` sources. */
  fineMs: number;
  fineSources: number;
  /** Older slots keep this many sources and destinations. */
  coarseSources: number;
}

export const DEFAULT_RING: SlotRingOptions = {
  retainMs: 10 * 60_000,
  fineMs: 60_000,
  fineSources: 2000,
  coarseSources: 64,
};

export class SlotRing {
  private slots: Slot[] = [];
  /** Index of the first slot not yet trimmed to coarse size. */
  private fineFrom = 0;

  constructor(private readonly opts: SlotRingOptions = DEFAULT_RING) {}

  push(slot: Slot): void {
    if (slot.sources.length > this.opts.fineSources) slot.sources.length = this.opts.fineSources;
    this.slots.push(slot);
    const newest = slot.end;
    let drop = 0;
    while (drop < this.slots.length && this.slots[drop]!.end <= newest - this.opts.retainMs) drop++;
    if (drop > 0) {
      this.slots.splice(0, drop);
      this.fineFrom = Math.max(0, this.fineFrom - drop);
    }
    while (this.fineFrom < this.slots.length && this.slots[this.fineFrom]!.end <= newest - this.opts.fineMs) {
      const old = this.slots[this.fineFrom]!;
      if (old.sources.length > this.opts.coarseSources) old.sources.length = this.opts.coarseSources;
      if (old.destinations.length > this.opts.coarseSources) old.destinations.length = this.opts.coarseSources;
      this.fineFrom++;
    }
  }

  /** The slots covering the last `seconds` seconds before the newest slot's end (or `until`). */
  window(seconds: number, until = this.latestEnd()): Slot[] {
    const from = until - seconds * 1000;
    return this.slots.filter((s) => s.start >= from && s.end <= until);
  }

  /** Slots that start at or after `fromMs` and end by `untilMs`. */
  between(fromMs: number, untilMs: number): Slot[] {
    return this.slots.filter((s) => s.start >= fromMs && s.end <= untilMs);
  }

  latestEnd(): number {
    return this.slots.at(-1)?.end ?? 0;
  }

  get size(): number {
    return this.slots.length;
  }

  /** How much history the ring holds now, in seconds. */
  spanSeconds(): number {
    const first = this.slots[0];
    return first ? (this.latestEnd() - first.start) / 1000 : 0;
  }
}
