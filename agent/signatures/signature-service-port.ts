// What the rest of the agent (its HTTP API, auto-defense, a watch of
// SignatureRule objects) asks of the signature domain: the port
// SignatureManager implements. Records are the wire contract's own shapes.
import type { SignaturePolicySettings, SignatureRecord, SignatureRequest, SignatureSource } from '../../api/agent/v1/types.js';
import type { SignatureOutcome } from './signature-manager.js';

export { SignatureRefusedError, type SignatureOutcome } from './signature-manager.js';

export interface SignatureService {
  /** Hold these rules (added, extended or updated), or say why not; one firewall change for all. */
  applySignatures(requests: readonly (SignatureRequest & { source: SignatureSource })[]): Promise<SignatureOutcome[]>;
  /** Remove a rule with its helper rules; false when there was none. */
  remove(id: string): Promise<boolean>;
  list(): SignatureRecord[];
  /** Changes when the agent starts (GET /v1/signatures carries it). */
  readonly epoch: string;
  /** When the rule runs out (ms), if held. */
  heldUntil(id: string): number | undefined;
  setPolicy(name: string, settings: SignaturePolicySettings): Promise<SignaturePolicySettings>;
  policies(): Record<string, SignaturePolicySettings>;
}
