// The one-line answer "what is this traffic?" for a victim's counters: its
// heaviest component (signals.ts), as the ceiling rule would name it. The
// full analysis (victim-analysis.ts) reports every vector that fires, each
// with its share; this is the shortcut for a single label.

import type { DestinationCounters } from '../native/lib/types.js';
import { DEFAULT_THRESHOLDS } from './defaults.js';
import { buildSignature } from './mitigation-signature.js';
import { victimComponents } from './signals.js';
import type { AttackVector, DetectionThresholds, MitigationSignature } from './types.js';

export { DOMINANT_SHARE } from './signals.js';

export interface VectorClassification {
  vector: AttackVector;
  /** Human description with service and ports, e.g. "SNMP amplification (udp sport 161)". */
  detail: string;
  signature: MitigationSignature;
}

/** Classify the vector of traffic towards one victim by its heaviest component. */
export function classifyVector(v: DestinationCounters, t: DetectionThresholds = DEFAULT_THRESHOLDS): VectorClassification {
  const top = victimComponents(v, t).sort((a, b) => b.packets - a.packets)[0];
  if (!top) return { vector: 'generic', detail: 'no traffic', signature: buildSignature({ protocol: 'any', destination: v.addr }) };
  return { vector: top.vector, detail: top.label, signature: top.signature };
}
