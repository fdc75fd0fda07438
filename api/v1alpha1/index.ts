// floodgate.dev/v1alpha1: the CRD kinds, each with one source (its zod schema
// and kind definition) for the CRD manifest, the TypeScript types and the
// defaults. See docs/crds.md.

import { BLOCK_EVENT } from './block-event.js';
import { DEFENSE_POLICY } from './defense-policy.js';
import { SIGNATURE_RULE } from './signature-rule.js';
import { FLOODGATE_NODE } from './floodgate-node.js';
import type { KindDefinition } from './kind.js';

export * from './types.js';
export * from './kind.js';
export * from './defense-policy.js';
export * from './block-event.js';
export * from './signature-rule.js';
export * from './floodgate-node.js';
export * from './node-lease.js';

/** Every kind of the API, in CRD apply order; deploy/crds.ts writes one CRD per entry. */
export const KINDS: readonly KindDefinition[] = Object.freeze([DEFENSE_POLICY, BLOCK_EVENT, SIGNATURE_RULE, FLOODGATE_NODE]);
