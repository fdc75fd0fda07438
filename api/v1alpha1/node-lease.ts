// A node's Lease (coordination.k8s.io/v1), beside its FloodgateNode: what
// changes every few seconds on every node. As the kubelet's node Lease
// (KEP-589) takes heartbeats out of the Node object, this takes them out of
// the FloodgateNode, which the controller watches: renewing it (spec.renewTime)
// says the agent is alive, and its annotations say up to which revision it has
// applied each kind and how much it holds. The controller lists the Leases
// (docs/fanout.md); it does not watch them, so 1,000 nodes renewing cost it
// one list every few seconds, not one decoded event per renewal.
//
// The controller creates the Lease with the node's identity (docs/node-identity.md)
// and names it in the FloodgateNode's spec.lease; the node's Role may get and
// patch that one Lease. A Lease is matched to its node by its name (which the
// node cannot change), never by what the node wrote in it.
import { z } from 'zod';

/** Labels of node Leases (the controller lists them by these). */
export const NODE_LEASE_LABELS = Object.freeze({ 'app.kubernetes.io/managed-by': 'floodgate-controller', 'app.kubernetes.io/component': 'node-lease' });
export const NODE_LEASE_SELECTOR = Object.entries(NODE_LEASE_LABELS)
  .map(([k, v]) => `${k}=${v}`)
  .join(',');

/** Annotations the agent writes: per kind, its applied revision and how many it holds. */
export const NODE_LEASE_ANNOTATIONS = Object.freeze({
  blockEventsRevision: 'floodgate.dev/blockevents-revision',
  blockEventsApplied: 'floodgate.dev/blockevents-applied',
  signatureRulesRevision: 'floodgate.dev/signaturerules-revision',
  signatureRulesApplied: 'floodgate.dev/signaturerules-applied',
});

/** A renewal counts for this many of the agent's heartbeats (its leaseDurationSeconds). */
export const NODE_LEASE_HEARTBEATS = 3;

/** A node Lease as the controller reads it. */
export interface NodeLease {
  namespace: string;
  name: string;
  /** The last renewal (undefined: never renewed, e.g. an agent from before Leases). */
  renewAt?: number;
  /** How long a renewal counts (the agent sets 3 heartbeats). */
  durationMs?: number;
  revisions: { BlockEvent?: number; SignatureRule?: number };
  applied: { BlockEvent?: number; SignatureRule?: number };
}

const counter = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14})$/, 'a decimal integer')
  .transform(Number)
  .optional();

const leaseSchema = z.object({
  metadata: z.object({
    name: z.string().min(1).max(253),
    namespace: z.string().min(1).max(63),
    annotations: z
      .object({
        [NODE_LEASE_ANNOTATIONS.blockEventsRevision]: counter,
        [NODE_LEASE_ANNOTATIONS.blockEventsApplied]: counter,
        [NODE_LEASE_ANNOTATIONS.signatureRulesRevision]: counter,
        [NODE_LEASE_ANNOTATIONS.signatureRulesApplied]: counter,
      })
      .optional(),
  }),
  spec: z
    .object({
      renewTime: z.iso.datetime({ offset: true }).optional(),
      leaseDurationSeconds: z.number().int().min(1).max(86_400).optional(),
    })
    .optional(),
});

/** Read a node Lease; a Lease that does not match the contract gets one line saying why. */
export function parseNodeLease(raw: unknown): { ok: true; lease: NodeLease } | { ok: false; error: string } {
  const r = leaseSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { ok: false, error: `${issue?.path.join('.') || 'lease'}: ${issue?.message ?? 'invalid'}` };
  }
  const { metadata, spec } = r.data;
  const a = metadata.annotations ?? {};
  const renewAt = spec?.renewTime ? Date.parse(spec.renewTime) : undefined;
  return {
    ok: true,
    lease: {
      namespace: metadata.namespace,
      name: metadata.name,
      renewAt: Number.isFinite(renewAt) ? renewAt : undefined,
      durationMs: spec?.leaseDurationSeconds !== undefined ? spec.leaseDurationSeconds * 1000 : undefined,
      revisions: { BlockEvent: a[NODE_LEASE_ANNOTATIONS.blockEventsRevision], SignatureRule: a[NODE_LEASE_ANNOTATIONS.signatureRulesRevision] },
      applied: { BlockEvent: a[NODE_LEASE_ANNOTATIONS.blockEventsApplied], SignatureRule: a[NODE_LEASE_ANNOTATIONS.signatureRulesApplied] },
    },
  };
}

/** A Lease's MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** The agent's renewal: a JSON merge patch of its Lease. */
export function nodeLeasePatch(o: {
  node: string;
  now: number;
  durationSeconds: number;
  blockEvents?: { applied: number; revision?: number };
  signatureRules?: { applied: number; revision?: number };
}) {
  const annotations: Record<string, string> = {};
  if (o.blockEvents) {
    annotations[NODE_LEASE_ANNOTATIONS.blockEventsApplied] = String(o.blockEvents.applied);
    if (o.blockEvents.revision !== undefined) annotations[NODE_LEASE_ANNOTATIONS.blockEventsRevision] = String(o.blockEvents.revision);
  }
  if (o.signatureRules) {
    annotations[NODE_LEASE_ANNOTATIONS.signatureRulesApplied] = String(o.signatureRules.applied);
    if (o.signatureRules.revision !== undefined) annotations[NODE_LEASE_ANNOTATIONS.signatureRulesRevision] = String(o.signatureRules.revision);
  }
  return {
    metadata: { annotations },
    spec: { holderIdentity: o.node, renewTime: microTime(o.now), leaseDurationSeconds: o.durationSeconds },
  };
}
