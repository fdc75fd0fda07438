// How far an enforcement object has reached the nodes that watch the API
// server, as its status says it (status.nodes, written by the reconciler that
// owns the object's status). Pure.
//
// The revision is the object's resourceVersion when what the nodes must hold
// last changed (its target, its window, a release, its deletion): a node whose
// report has applied that revision holds it. The digest of that content is
// kept beside it in the status, so a restarted controller keeps the revision
// while the content is the same, and takes the current resourceVersion when it
// changed (never too early: a node that applied a later version has applied
// this one).
import crypto from 'node:crypto';
import type { NodeCount } from './node-reports.js';

export interface Rollout {
  revision: number;
  digest: string;
}

export interface RolloutStatus extends Rollout {
  desired: number;
  applied: number;
  failed: number;
  notReporting: number;
  summary: string;
}

/** What the nodes must hold of an object, as a short hash. */
export function rolloutDigest(content: { what: string; start: number; end: number; releasedAt?: number; deleting: boolean; agent?: string; policy?: string }): string {
  return crypto.createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 22);
}

/** The revision to count against: the recorded one while the content is unchanged, else the object's resourceVersion. */
export function rolloutOf(recorded: { revision?: number; digest?: string } | undefined, digest: string, resourceVersion: string | undefined): Rollout {
  if (recorded?.digest === digest && typeof recorded.revision === 'number') return { revision: recorded.revision, digest };
  const rv = Number(resourceVersion);
  // A resourceVersion that is not an integer (not etcd) cannot be compared: no node counts until it is.
  return { revision: Number.isSafeInteger(rv) ? rv : Number.MAX_SAFE_INTEGER, digest };
}

export function rolloutStatus(r: Rollout, c: NodeCount): RolloutStatus {
  return { ...r, desired: c.desired, applied: c.applied, failed: c.failed, notReporting: c.notReporting, summary: `${c.applied}/${c.desired}` };
}

/**
 * One line for the object's message, e.g. "applied on 998/1000 nodes; 2 yet to report (n1, n2)".
 * A node reports a new ban at its slot (docs/fanout.md): "yet to report" is mostly "holds it, says so soon".
 */
export function describeNodes(c: NodeCount, verb = 'applied on'): string {
  const more = (names: string[], total: number) => `${names.join(', ')}${total > names.length ? `, +${total - names.length}` : ''}`;
  return [
    `${verb} ${c.applied}/${c.desired} nodes`,
    ...(c.failed ? [`${c.failed} refused (${c.failures.join('; ')}${c.failed > c.failures.length ? '; ...' : ''})`] : []),
    ...(c.pending ? [`${c.pending} yet to report (${more(c.pendingNodes, c.pending)})`] : []),
    ...(c.notReporting ? [`${c.notReporting} not reporting (${more(c.silentNodes, c.notReporting)})`] : []),
  ].join('; ');
}
