// Learned baselines per protected address: for each signal (signals.ts) an
// exponentially weighted moving average of its rate and an exponentially
// weighted variance, updated from consecutive windows (about a second each).
//
// Method (docs/detection.md has the references):
//  - EWMA control charts (Roberts 1959; Lucas & Saccucci 1990): the mean
//    tracks the level; an observation far above mean + k deviations is out
//    of control;
//  - the incremental exponentially weighted variance of Finch (2009,
//    "Incrementally updating mean and variance"): diff = x - mean;
//    incr = a*diff; mean += incr; var = (1 - a)(var + diff*incr);
//  - Brutlag's aberrant-behaviour detection (LISA 2000) without the seasonal
//    term: a confidence band of mean +- k deviations, learned only from
//    values the band accepts, so an attack does not teach itself as normal.
// The smoothing factor follows the time each window covers,
// a = 1 - 2^(-dt/halfLife), so irregular windows weigh by their length.
// A victim judged under attack does not learn that window at all; a spike
// the band rejects without an attack (a flash crowd) is learned clamped to
// the band's edge, so the baseline follows a lasting change within a few
// half-lives instead of jumping.
//
// Pure and deterministic: time comes from the windows, nothing else.

import { DEST_SKETCH_REGISTERS, estimateSketch, mergeSketch } from '../native/lib/hll.js';
import type { DestinationCounters } from '../native/lib/types.js';
import { BASELINE_SIGNALS, type BaselineSignal, signalRates, victimComponents } from './signals.js';
import type { BaselineStat, DetectionThresholds } from './types.js';
import { mergeSlots, type WindowAggregate } from './window-merge.js';
import type { Slot } from '../native/lib/types.js';

interface Ewma {
  mean: number;
  variance: number;
}

interface AddressState {
  seconds: number;
  /** End (ms) of the last window learned; also the eviction order. */
  updatedAt: number;
  stats: Record<BaselineSignal, Ewma>;
  /** Sources seen at this address: the current and the previous epoch, unioned (HLL). */
  known: Uint8Array;
  previous: Uint8Array;
  epochStart: number;
}

/** What judging needs from one address's baseline (also what crosses between agents). */
export interface BaselineView {
  seconds: number;
  stat(signal: BaselineSignal): BaselineStat;
  /** Distinct sources of `sketch` not among the known ones (all of them when nothing is known). */
  newSources(sketch: Uint8Array, distinct: number): number;
}

export interface BaselineLookup {
  view(addr: string): BaselineView | undefined;
}

/** How a baseline's view is judged: 'warm' once it learned warmupSeconds. */
export function baselineStatus(view: BaselineView | undefined, t: DetectionThresholds): 'cold' | 'warming' | 'warm' {
  if (!view || view.seconds <= 0) return 'cold';
  return view.seconds >= t.warmupSeconds ? 'warm' : 'warming';
}

/**
 * The deviation an observation over `spanSeconds` is compared with: the
 * learned one, but never below the Poisson noise of a count at that mean
 * over that span, nor a tenth of the mean.
 */
export function effectiveStd(stat: BaselineStat, spanSeconds: number): number {
  const span = Math.min(1, Math.max(spanSeconds, 0.01));
  return Math.max(stat.std, Math.sqrt(Math.max(stat.mean, 1) / span), 0.1 * stat.mean);
}

/** Is `x` (per second) anomalous against `stat`? */
export function isAnomalous(x: number, stat: BaselineStat, t: DetectionThresholds, spanSeconds: number, minFactor = 1): boolean {
  if (x < t.baselineMinPps * minFactor) return false;
  if (x < t.baselineMinRatio * stat.mean) return false;
  return x > stat.mean + t.baselineSigmas * effectiveStd(stat, spanSeconds);
}

const KNOWN_EPOCH_MS = 10 * 60_000;

function newState(at: number): AddressState {
  const stats = {} as Record<BaselineSignal, Ewma>;
  for (const s of BASELINE_SIGNALS) stats[s] = { mean: 0, variance: 0 };
  return { seconds: 0, updatedAt: at, stats, known: new Uint8Array(DEST_SKETCH_REGISTERS), previous: new Uint8Array(DEST_SKETCH_REGISTERS), epochStart: at };
}

function viewOf(st: AddressState): BaselineView {
  return {
    seconds: st.seconds,
    stat: (signal) => {
      const e = st.stats[signal];
      return { mean: e.mean, std: Math.sqrt(Math.max(0, e.variance)), seconds: st.seconds };
    },
    newSources: (sketch, distinct) => newSourcesAgainst([st.known, st.previous], sketch, distinct),
  };
}

/** Estimate of the sources in `sketch` that none of `known` holds: |known ∪ new| - |known|, within [0, distinct]. */
export function newSourcesAgainst(known: readonly Uint8Array[], sketch: Uint8Array, distinct: number): number {
  if (sketch.length !== DEST_SKETCH_REGISTERS) return distinct;
  const union = new Uint8Array(DEST_SKETCH_REGISTERS);
  for (const k of known) mergeSketch(union, k);
  const before = estimateSketch(union);
  if (before === 0) return distinct;
  mergeSketch(union, sketch);
  return Math.max(0, Math.min(distinct, estimateSketch(union) - before));
}

export interface BaselinesOptions {
  /** Addresses tracked at most; the least recently updated is forgotten first. */
  maxAddresses?: number;
}

export class Baselines implements BaselineLookup {
  private readonly byAddr = new Map<string, AddressState>();
  private readonly maxAddresses: number;

  constructor(opts: BaselinesOptions = {}) {
    this.maxAddresses = opts.maxAddresses ?? 4096;
  }

  get size(): number {
    return this.byAddr.size;
  }

  view(addr: string): BaselineView | undefined {
    const st = this.byAddr.get(addr);
    return st ? viewOf(st) : undefined;
  }

  /**
   * Learn one window (about a second) for every destination in it, except
   * those in `attacked` (judged under attack in this window).
   */
  learn(w: WindowAggregate, t: DetectionThresholds, attacked: ReadonlySet<string> = new Set()): void {
    if (w.slotCount === 0 || w.seconds <= 0) return;
    const dt = w.seconds;
    const alpha = 1 - 2 ** (-dt / t.baselineHalfLifeSeconds);
    for (const d of w.destinations.values()) {
      if (attacked.has(d.addr)) continue;
      this.learnAddress(d, w, t, dt, alpha);
    }
  }

  /** Learn slots one whole second at a time (the cadence the baselines are tuned for). */
  learnSlots(slots: readonly Slot[], t: DetectionThresholds, attacked: ReadonlySet<string> = new Set()): void {
    let group: Slot[] = [];
    let second = -1;
    for (const s of slots) {
      const sec = Math.floor(s.start / 1000);
      if (sec !== second && group.length > 0) {
        this.learn(mergeSlots(group), t, attacked);
        group = [];
      }
      second = sec;
      group.push(s);
    }
    if (group.length > 0) this.learn(mergeSlots(group), t, attacked);
  }

  private learnAddress(d: DestinationCounters, w: WindowAggregate, t: DetectionThresholds, dt: number, alpha: number): void {
    let st = this.byAddr.get(d.addr);
    if (st === undefined) {
      if (this.byAddr.size >= this.maxAddresses) this.forgetOldest();
      st = newState(w.start);
      this.byAddr.set(d.addr, st);
    }
    const components = victimComponents(d, t);
    const fresh = newSourcesAgainst([st.known, st.previous], d.sourceSketch, d.distinctSources);
    const rates = signalRates(d, components, dt, st.seconds > 0 ? fresh : 0);
    const warm = st.seconds >= t.warmupSeconds;
    for (const signal of BASELINE_SIGNALS) {
      const e = st.stats[signal];
      let x = rates[signal];
      if (warm) {
        // Learn a value the band rejects only up to the band's edge.
        const edge = e.mean + t.baselineSigmas * effectiveStd({ mean: e.mean, std: Math.sqrt(e.variance), seconds: st.seconds }, dt);
        x = Math.min(x, edge);
      }
      if (st.seconds === 0) {
        e.mean = x;
        e.variance = 0;
        continue;
      }
      const diff = x - e.mean;
      const incr = alpha * diff;
      e.mean += incr;
      e.variance = (1 - alpha) * (e.variance + diff * incr);
    }
    st.seconds += dt;
    st.updatedAt = w.end;
    if (d.sourceSketch.length === DEST_SKETCH_REGISTERS) mergeSketch(st.known, d.sourceSketch);
    if (w.end - st.epochStart >= KNOWN_EPOCH_MS) {
      st.previous = st.known;
      st.known = new Uint8Array(DEST_SKETCH_REGISTERS);
      st.epochStart = w.end;
    }
  }

  private forgetOldest(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [addr, st] of this.byAddr) {
      if (st.updatedAt < at) {
        at = st.updatedAt;
        oldest = addr;
      }
    }
    if (oldest !== undefined) this.byAddr.delete(oldest);
  }

  /** A serialisable snapshot of some addresses' baselines (for the aggregate export). */
  export(addrs: Iterable<string>): BaselineSnapshot[] {
    const out: BaselineSnapshot[] = [];
    for (const addr of addrs) {
      const st = this.byAddr.get(addr);
      if (!st) continue;
      const known = new Uint8Array(st.known);
      mergeSketch(known, st.previous);
      out.push({
        addr,
        seconds: st.seconds,
        stats: Object.fromEntries(BASELINE_SIGNALS.map((s) => [s, [st.stats[s].mean, Math.sqrt(Math.max(0, st.stats[s].variance))]])) as BaselineSnapshot['stats'],
        known,
      });
    }
    return out;
  }
}

/** One address's baseline as it crosses between agents and the controller. */
export interface BaselineSnapshot {
  addr: string;
  seconds: number;
  /** [mean, std] per signal. */
  stats: Record<BaselineSignal, [number, number]>;
  /** The known-sources sketch (DEST_SKETCH_REGISTERS registers). */
  known: Uint8Array;
}

/**
 * The baseline of a sum: several agents each see part of a victim's traffic,
 * so the merged mean is the sum of means and (treating the parts as
 * independent) the variance the sum of variances; it is as warm as its
 * coldest part, and knows every source any part knows.
 */
export function mergeBaselineSnapshots(snaps: readonly BaselineSnapshot[]): BaselineLookup {
  const byAddr = new Map<string, BaselineSnapshot>();
  for (const s of snaps) {
    const acc = byAddr.get(s.addr);
    if (!acc) {
      byAddr.set(s.addr, { addr: s.addr, seconds: s.seconds, stats: { ...s.stats }, known: new Uint8Array(s.known) });
      continue;
    }
    acc.seconds = Math.min(acc.seconds, s.seconds);
    for (const signal of BASELINE_SIGNALS) {
      const [m1, d1] = acc.stats[signal];
      const [m2, d2] = s.stats[signal];
      acc.stats[signal] = [m1 + m2, Math.sqrt(d1 * d1 + d2 * d2)];
    }
    mergeSketch(acc.known, s.known);
  }
  return {
    view(addr) {
      const s = byAddr.get(addr);
      if (!s) return undefined;
      return {
        seconds: s.seconds,
        stat: (signal) => ({ mean: s.stats[signal][0], std: s.stats[signal][1], seconds: s.seconds }),
        newSources: (sketch, distinct) => newSourcesAgainst([s.known], sketch, distinct),
      };
    },
  };
}
