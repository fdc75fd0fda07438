// Public API of the detection module: pure functions from Slot aggregates to a Verdict.

export type * from './types.js';
export { analyzeWindow, judgeAggregate, sourceVector, type AnalyzeOptions } from './analyze.js';
export {
  DEFAULT_THRESHOLDS,
  detectionThresholdsSchema,
  detectionThresholdOverridesSchema,
  resolveThresholds,
  InvalidThresholdsError,
} from './defaults.js';
export { mergeSlots, MIN_SPAN_SECONDS, WINDOW_TOP_PORTS, type WindowAggregate } from './window-merge.js';
export { classifyVector, DOMINANT_SHARE, type VectorClassification } from './vector-classifier.js';
export { victimComponents, BASELINE_SIGNALS, type BaselineSignal, type Component } from './signals.js';
export {
  Baselines,
  baselineStatus,
  mergeBaselineSnapshots,
  type BaselineLookup,
  type BaselineSnapshot,
  type BaselineView,
} from './baseline.js';
export { AMPLIFICATION_PORTS, amplificationService } from './amplification-ports.js';
export { buildSignature, mitigationSignatureSchema, type SignatureFields } from './mitigation-signature.js';
export {
  HEAVY_HITTER_SHARE,
  EXPLAINED_SHARE,
  DISTRIBUTED_SOURCES,
  MIN_VECTOR_PACKETS,
  CEILING_VECTOR_SHARE,
} from './victim-analysis.js';
export { exemptionReason } from './source-rules.js';
export {
  exportAggregate,
  mergeAggregates,
  parseAggregate,
  aggregateExportSchema,
  AGGREGATE_VERSION,
  type AggregateExport,
  type AggregateExportJson,
} from './aggregate.js';
