// Answers analyses from the slot ring: continuous mode at once over the last
// N seconds, window mode (the seed's) after capturing N seconds from now.
import type { Slot } from '../../native/lib/types.js';
import { exportAggregate, type AggregateExportJson } from '../../detection/aggregate.js';
import { analyzeWindow } from '../../detection/analyze.js';
import type { Baselines } from '../../detection/baseline.js';
import { mergeSlots } from '../../detection/window-merge.js';
import type { AnalysisResult, AnalyzeRequest, BlockedSender, TopTalkers, TrafficPoint } from '../../api/agent/v1/types.js';
import type { TrafficAnalyzer } from './traffic-analyzer-port.js';
import { topTalkers } from './top-talkers.js';
import type { SlotRing } from './slot-ring.js';
import { BlockedMatcher } from './blocked-matcher.js';
import { trafficSeries } from './traffic-series.js';

export interface TrafficAnalyzerDeps {
  ring: SlotRing;
  /** Active ban CIDRs: their sources are reported as blocked-and-still-sending, not as new attackers. */
  activeBans: () => Iterable<string>;
  /** Capture loss between two instants (pcap drops, interface drops, discarded slots). */
  drops: (fromMs: number, untilMs: number) => { dropped: number; ifDropped: number; slotsDropped: number };
  firewallDrops: () => Promise<{ packets: number; bytes: number }>;
  defaultMode: 'continuous' | 'window';
  slotMs: number;
  /** Resolves once a slot ending at or after `ms` has been pushed (window mode waits on it). */
  waitForSlotEnd: (ms: number) => Promise<void>;
  /** The protected addresses' learned baselines (none: floors and ceilings only). */
  baselines?: Baselines;
  now?: () => number;
}

export function blockedSenders(slots: readonly Slot[], matcher: BlockedMatcher): BlockedSender[] {
  const seconds = slots.length ? (slots.at(-1)!.end - slots[0]!.start) / 1000 : 0;
  const counts = new Map<string, number>();
  for (const s of slots) for (const src of s.sources) if (matcher.has(src.addr)) counts.set(src.addr, (counts.get(src.addr) ?? 0) + src.packets);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([ip, packets]) => ({ ip, packets, pps: seconds > 0 ? packets / seconds : 0 }));
}

export class RingTrafficAnalyzer implements TrafficAnalyzer {
  constructor(private readonly deps: TrafficAnalyzerDeps) {}

  get maxWindowSeconds(): number {
    return 600;
  }

  ready(): boolean {
    return this.deps.ring.size > 0;
  }

  async analyze(req: AnalyzeRequest): Promise<AnalysisResult> {
    const mode = req.mode ?? this.deps.defaultMode;
    const now = (this.deps.now ?? Date.now)();
    let slots: Slot[];
    if (mode === 'window') {
      // The seed's behaviour: capture windowSeconds from now, then judge.
      const from = Math.floor(now / this.deps.slotMs) * this.deps.slotMs;
      const until = from + Math.ceil((req.windowSeconds * 1000) / this.deps.slotMs) * this.deps.slotMs;
      await this.deps.waitForSlotEnd(until);
      slots = this.deps.ring.between(from, until);
    } else {
      slots = this.deps.ring.window(req.windowSeconds);
    }
    const matcher = new BlockedMatcher(this.deps.activeBans());
    const verdict = analyzeWindow(slots, req.thresholds ?? {}, {
      blocked: (ip) => matcher.has(ip),
      baselines: this.deps.baselines,
      trigger: req.trigger,
      drops: slots.length ? this.deps.drops(slots[0]!.start, slots.at(-1)!.end) : undefined,
    });
    return {
      verdict,
      blockedStillSending: blockedSenders(slots, matcher),
      firewallDrops: await this.deps.firewallDrops(),
    };
  }

  aggregate(seconds: number, maxSources: number): AggregateExportJson {
    return exportAggregate(mergeSlots(this.deps.ring.window(seconds)), { maxSources, baselines: this.deps.baselines });
  }

  traffic(seconds: number): TrafficPoint[] {
    return trafficSeries(this.deps.ring.window(seconds));
  }

  talkers(seconds: number, limit: number): TopTalkers {
    const matcher = new BlockedMatcher(this.deps.activeBans());
    return topTalkers(this.deps.ring.window(seconds), (ip) => matcher.has(ip), limit);
  }
}
