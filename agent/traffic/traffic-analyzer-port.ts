// What the rest of the agent (its HTTP API, the analysis runner) asks of the
// traffic domain: the port RingTrafficAnalyzer implements. Requests and
// answers are the wire contract's own shapes (api/agent/v1).
import type { AggregateExportJson } from '../../detection/aggregate.js';
import type { AnalysisResult, AnalyzeRequest, TopTalkers, TrafficPoint } from '../../api/agent/v1/types.js';

export interface TrafficAnalyzer {
  analyze(req: AnalyzeRequest): Promise<AnalysisResult>;
  /** Per-second series over the last `seconds` seconds, oldest first. */
  traffic(seconds: number): TrafficPoint[];
  /** The heaviest inbound sources over the last `seconds` seconds. */
  talkers(seconds: number, limit: number): TopTalkers;
  /** The last `seconds` seconds as a mergeable aggregate (GET /v1/aggregate): sums across agents. */
  aggregate(seconds: number, maxSources: number): AggregateExportJson;
  /** Longest window the ring can answer (seconds). */
  readonly maxWindowSeconds: number;
  /** True once the capture runs and has delivered at least one slot. */
  ready(): boolean;
}
