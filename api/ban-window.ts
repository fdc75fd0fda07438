// The window of an enforcement object's ban, and the annotations that move it:
// one definition for the controller's lifecycle (controller/reconcile/
// enforcement-lifecycle.ts) and for the agents that apply the objects they
// watch (agent/kube/), so a node and the controller never disagree on when a
// ban starts, ends or was released.
//
//   start = the floodgate.dev/ban-start annotation, else metadata.creationTimestamp
//   end   = expiry(start, spec.durationSeconds)
//   released: floodgate.dev/released-at inside [start, end)
import { expiry } from './ban-time.js';

/** What other writers set to ask the lifecycle for something. */
export const LifecycleAnnotations = Object.freeze({
  /**
   * RFC 3339: when the current ban starts. Set by whoever starts a new ban on
   * an existing object (a repeat offence, a new ban found on an agent);
   * absent: metadata.creationTimestamp.
   */
  banStart: 'floodgate.dev/ban-start',
  /**
   * RFC 3339: an agent stopped holding the ban before its expiry (an operator
   * removed it there, or the agent's own rules dropped it). Set by the agent
   * ban sync, with releasedBy naming the agent. Releases the ban on every agent.
   */
  releasedAt: 'floodgate.dev/released-at',
  releasedBy: 'floodgate.dev/released-by',
  /**
   * "true": on deletion, drop the finalizer without unblocking on the agents.
   * The escape hatch for agents that are gone for good (the controller gives
   * up on its own after UNBLOCK_GIVE_UP_MS anyway).
   */
  skipUnblock: 'floodgate.dev/skip-unblock',
});

/** An RFC 3339 text, a Date or epoch ms as epoch ms; undefined when absent or unparsable. */
export function epochMs(t: unknown): number | undefined {
  if (t === undefined || t === null) return undefined;
  const ms = typeof t === 'number' ? t : t instanceof Date ? t.getTime() : Date.parse(String(t));
  return Number.isFinite(ms) ? ms : undefined;
}

/** What the window needs of an object. */
export interface WindowSource {
  creationTimestamp?: unknown;
  annotations?: Readonly<Record<string, string>>;
  durationSeconds: number;
}

/** The ban's window [start, end) in epoch ms; `now` stands in for a creation time not set yet. */
export function banWindow(o: WindowSource, now: number): { start: number; end: number } {
  const start = epochMs(o.annotations?.[LifecycleAnnotations.banStart]) ?? epochMs(o.creationTimestamp) ?? now;
  return { start, end: expiry(start, o.durationSeconds) };
}

/** When the ban of this window was released (floodgate.dev/released-at inside [start, until)), else undefined. */
export function releasedAt(o: WindowSource, window: { start: number }, until: number): number | undefined {
  const at = epochMs(o.annotations?.[LifecycleAnnotations.releasedAt]);
  return at !== undefined && at >= window.start && at < until ? at : undefined;
}
