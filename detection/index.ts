// Public API of the detection module: pure functions from Slot aggregates to a Verdict.

export type * from './types.js';
export { analyzeWindow, type AnalyzeOptions } from './analyze.js';
export {
  DEFAULT_THRESHOLDS,
  detectionThresholdsSchema,
  detectionThresholdOverridesSchema,
  resolveThresholds,
  InvalidThresholdsError,
} from './defaults.js';
export { mergeSlots, WINDOW_TOP_PORTS, type WindowAggregate } from './window-merge.js';
export {
  classifyVector,
  DOMINANT_SHARE,
  AMPLIFICATION_PORT_SHARE,
  type VectorClassification,
} from './vector-classifier.js';
export { AMPLIFICATION_PORTS, amplificationService } from './amplification-ports.js';
export { buildSignature, type SignatureFields } from './mitigation-signature.js';
export { HEAVY_HITTER_SHARE, EXPLAINED_SHARE, DISTRIBUTED_SOURCES } from './victim-analysis.js';
