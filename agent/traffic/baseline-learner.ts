// Feeds the detection baselines from the live capture: slots are grouped by
// whole second and each finished second is learned, except at the protected
// addresses that second's own verdict finds under attack (an attack must not
// teach itself as normal). Judging the second needs the baselines as they
// were before it, so the learner judges first, then learns.
import { judgeAggregate } from '../../detection/analyze.js';
import { Baselines } from '../../detection/baseline.js';
import { resolveThresholds } from '../../detection/defaults.js';
import type { DetectionThresholds } from '../../detection/types.js';
import { mergeSlots } from '../../detection/window-merge.js';
import type { Slot } from '../../native/lib/types.js';

export class BaselineLearner {
  readonly baselines: Baselines;
  private pending: Slot[] = [];
  private second = -1;
  private t: DetectionThresholds;

  constructor(thresholds: Partial<DetectionThresholds> = {}, baselines = new Baselines()) {
    this.t = resolveThresholds(thresholds);
    this.baselines = baselines;
  }

  setThresholds(thresholds: Partial<DetectionThresholds>): void {
    this.t = resolveThresholds(thresholds);
  }

  /** Call with every finished slot, in order. */
  push(slot: Slot): void {
    const sec = Math.floor(slot.start / 1000);
    if (sec !== this.second && this.pending.length > 0) this.flush();
    this.second = sec;
    this.pending.push(slot);
  }

  private flush(): void {
    const w = mergeSlots(this.pending);
    this.pending = [];
    const verdict = judgeAggregate(w, this.t, { baselines: this.baselines });
    this.baselines.learn(w, this.t, new Set(verdict.victims.map((v) => v.ip)));
  }
}
