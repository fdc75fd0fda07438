// The lifecycle of an enforcement object: something the controller makes every
// agent of a policy hold until it expires, and takes off them when the object
// goes (today a BlockEvent's ban; issue 11's signature rules are the next
// kind). Pure: given what the object says and the time, it decides what to do;
// enforcement-reconciler.ts does it and writes the status. The reconciler is
// the only writer of status. Other writers (the defense runner, the agent ban
// sync, users) write spec and the annotations below, never status.
//
// The ban's window is [start, end):
//   start = the ban-start annotation, else metadata.creationTimestamp;
//   end   = expiry(start, spec.durationSeconds)  (api/ban-time.ts)
// and the object stays Active until the later of `end` and the latest expiry
// an agent reported for this window (status.expiresAt). An extension is a
// longer spec.durationSeconds; a new ban on a finished object (a repeat
// offence) is a later ban-start. TRANSITIONS lists every phase change; the
// diagram in docs/lifecycle.md is generated from it and checked by a test.
import { LifecycleAnnotations, banWindow as windowOf, epochMs, releasedAt as releasedIn } from '../../api/ban-window.js';

export type EnforcementPhase = 'Pending' | 'Active' | 'Expired' | 'Released' | 'Failed';
export const TERMINAL_PHASES: ReadonlySet<EnforcementPhase> = new Set(['Expired', 'Released', 'Failed']);

// The annotations and the window rule are shared with the agents that watch the API server.
export { LifecycleAnnotations } from '../../api/ban-window.js';

/** How long a deletion keeps trying to unblock on failing agents before it gives up (and says so). */
export const UNBLOCK_GIVE_UP_MS = 120_000;
/** Retry period of a deletion whose agents fail, within UNBLOCK_GIVE_UP_MS. */
export const UNBLOCK_RETRY_MS = 10_000;

export type TransitionId =
  | 'created'
  | 'pushed'
  | 'refused'
  | 'unreachable'
  | 'expiredUnheld'
  | 'extended'
  | 'expired'
  | 'released'
  | 'renewed'
  | 'retried'
  | 'retained'
  | 'unblocked'
  | 'notHeld'
  | 'skipped'
  | 'abandoned';

export interface Transition {
  id: TransitionId;
  from: readonly (EnforcementPhase | 'new')[];
  to: EnforcementPhase | 'deleted';
  when: string;
}

/**
 * Every phase change the reconciler makes. The reconcile unit tests drive each
 * one (test/reconcile/lifecycle-transitions.test.ts fails on a row without a
 * test), and docs/lifecycle.md's diagram is renderDiagram() of this list.
 */
export const TRANSITIONS: readonly Transition[] = Object.freeze([
  { id: 'created', from: ['new'], to: 'Pending', when: 'created; the finalizer is added' },
  { id: 'pushed', from: ['Pending'], to: 'Active', when: 'an agent holds the ban' },
  { id: 'refused', from: ['Pending'], to: 'Failed', when: 'every agent refused it, or its agents are unusable' },
  { id: 'unreachable', from: ['Pending'], to: 'Pending', when: 'agents unreachable: retried with backoff' },
  { id: 'expiredUnheld', from: ['Pending'], to: 'Expired', when: 'its time ran out before an agent held it' },
  { id: 'extended', from: ['Active'], to: 'Active', when: 'a longer spec.durationSeconds is pushed' },
  { id: 'expired', from: ['Active'], to: 'Expired', when: 'its end and every agent\'s expiry passed' },
  { id: 'released', from: ['Active'], to: 'Released', when: 'an agent dropped it before its expiry: lifted on every agent' },
  { id: 'renewed', from: ['Expired', 'Released'], to: 'Active', when: 'a new ban (later ban-start), pushed' },
  { id: 'retried', from: ['Failed'], to: 'Active', when: 'spec changed or a new ban, and an agent holds it' },
  { id: 'retained', from: ['Expired', 'Released', 'Failed'], to: 'deleted', when: 'kept for --retention, then deleted' },
  { id: 'unblocked', from: ['Pending', 'Active'], to: 'deleted', when: 'deleted: unblocked on every agent, then the finalizer goes' },
  { id: 'notHeld', from: ['Expired', 'Released', 'Failed'], to: 'deleted', when: 'deleted when no agent holds it: the finalizer goes at once' },
  { id: 'skipped', from: ['Pending', 'Active'], to: 'deleted', when: 'deleted with floodgate.dev/skip-unblock: the finalizer goes at once (Warning UnblockSkipped)' },
  { id: 'abandoned', from: ['Pending', 'Active'], to: 'deleted', when: 'deleted, agents failing for 2 minutes: the finalizer goes (Warning UnblockAbandoned)' },
]);

/** The state diagram (Mermaid) of TRANSITIONS, as docs/lifecycle.md shows it. */
export function renderDiagram(): string {
  const node = (s: string) => (s === 'new' || s === 'deleted' ? '[*]' : s);
  const lines = ['stateDiagram-v2'];
  for (const t of TRANSITIONS) for (const from of t.from) lines.push(`    ${node(from)} --> ${node(t.to)}: ${t.id}`);
  return lines.join('\n');
}

/** What the lifecycle needs to know of an object (every time as epoch ms). */
export interface LifecycleView {
  now: number;
  generation?: number;
  creationTimestamp?: number;
  deletionTimestamp?: number;
  hasFinalizer: boolean;
  annotations: Readonly<Record<string, string>>;
  durationSeconds: number;
  status: {
    phase?: EnforcementPhase;
    blockedAt?: string;
    expiresAt?: string;
    observedGeneration?: number;
    /** When the phase last changed (the Blocked condition's lastTransitionTime): where retention counts from. */
    phaseSince?: string;
  };
}

export interface BanWindow {
  start: number;
  /** start + spec.durationSeconds. */
  end: number;
  /** The later of `end` and what the agents reported for this window. */
  heldUntil: number;
}

export type Plan =
  | { do: 'nothing' }
  | { do: 'addFinalizer' }
  /** Deletion: drop the finalizer now, without calling agents. */
  | { do: 'finalize'; why: 'notHeld' | 'skipped' }
  /** Deletion: unblock on every agent, then finalize; give up at giveUpAt. */
  | { do: 'unblock'; giveUpAt: number }
  /** Terminal: nothing to do until retention ends. */
  | { do: 'retain'; phase: EnforcementPhase; until: number }
  | { do: 'delete' }
  | { do: 'expire'; window: BanWindow }
  | { do: 'release'; window: BanWindow; releasedAt: number; by: string }
  /** Still held by an agent past `end`: nothing to push; look again at heldUntil. */
  | { do: 'hold'; window: BanWindow }
  /** Push the ban for `seconds` (the rest of the window). */
  | { do: 'push'; window: BanWindow; seconds: number };

const time = (text: string | undefined): number | undefined => epochMs(text);

/** RFC 3339 to the second (as the API server stores times). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The ban's current window (see the top of this file). */
export function banWindow(v: LifecycleView): BanWindow {
  const { start, end } = windowOf({ creationTimestamp: v.creationTimestamp, annotations: v.annotations, durationSeconds: v.durationSeconds }, v.now);
  // What the agents reported counts only for this window: a new ban starts afresh.
  const sameWindow = time(v.status.blockedAt) === Math.floor(start / 1000) * 1000;
  const reported = sameWindow ? time(v.status.expiresAt) : undefined;
  return { start, end, heldUntil: Math.max(end, reported ?? end) };
}

/** Decide the next step for one object. */
export function plan(v: LifecycleView, retentionMs: number, giveUpMs = UNBLOCK_GIVE_UP_MS): Plan {
  const phase = v.status.phase;
  const w = banWindow(v);
  const sameWindow = time(v.status.blockedAt) === Math.floor(w.start / 1000) * 1000;

  if (v.deletionTimestamp !== undefined) {
    if (!v.hasFinalizer) return { do: 'nothing' };
    if (v.annotations[LifecycleAnnotations.skipUnblock] === 'true') return { do: 'finalize', why: 'skipped' };
    // Nothing can be held once the ban ran out, was lifted, or was never taken.
    if ((phase !== undefined && TERMINAL_PHASES.has(phase) && sameWindow) || v.now >= w.heldUntil) return { do: 'finalize', why: 'notHeld' };
    return { do: 'unblock', giveUpAt: v.deletionTimestamp + giveUpMs };
  }
  if (!v.hasFinalizer) return { do: 'addFinalizer' };

  const retain = (p: EnforcementPhase, since: number | undefined): Plan => {
    const until = (since ?? v.creationTimestamp ?? v.now) + retentionMs;
    return v.now >= until ? { do: 'delete' } : { do: 'retain', phase: p, until };
  };

  // Refused for this very spec and window: stays so until one of them changes.
  if (phase === 'Failed' && sameWindow && v.status.observedGeneration === v.generation) return retain('Failed', time(v.status.phaseSince));

  const releasedAt = releasedIn({ annotations: v.annotations, durationSeconds: v.durationSeconds }, w, w.heldUntil);
  if (releasedAt !== undefined) {
    if (phase === 'Released' && sameWindow) return retain('Released', releasedAt);
    return { do: 'release', window: w, releasedAt, by: v.annotations[LifecycleAnnotations.releasedBy] ?? 'an agent' };
  }

  if (v.now >= w.heldUntil) {
    if (phase === 'Expired' && sameWindow) return retain('Expired', w.heldUntil);
    return { do: 'expire', window: w };
  }
  if (v.now >= w.end) return { do: 'hold', window: w };
  return { do: 'push', window: w, seconds: Math.max(1, Math.ceil((w.end - v.now) / 1000)) };
}

/** One agent's answer to a push. */
export type PushResult =
  | { agent: string; ok: true; expiresAt: number; backend?: string; offenceCount?: number }
  | { agent: string; ok: false; refused: boolean; message: string };

export interface PushOutcome {
  phase: EnforcementPhase;
  /** The latest expiry an agent reported (undefined: none took it). */
  expiresAt?: number;
  held: string[];
  refused: string[];
  failed: string[];
  /** Retry soon (some agent could not be reached). */
  retry: boolean;
}

/** What a push to every agent of the object amounts to. */
export function settlePush(results: readonly PushResult[]): PushOutcome {
  const held: string[] = [];
  const refused: string[] = [];
  const failed: string[] = [];
  let expiresAt: number | undefined;
  for (const r of results) {
    if (r.ok) {
      held.push(r.agent);
      expiresAt = Math.max(expiresAt ?? 0, r.expiresAt);
    } else (r.refused ? refused : failed).push(`${r.agent}: ${r.message}`);
  }
  const phase: EnforcementPhase = held.length > 0 ? 'Active' : failed.length === 0 && refused.length > 0 ? 'Failed' : 'Pending';
  return { phase, expiresAt, held, refused, failed, retry: failed.length > 0 };
}

export type UnblockSettlement = { do: 'finalize' } | { do: 'retry'; afterMs: number; failures: string[] } | { do: 'abandon'; failures: string[] };

/** After trying to unblock on every agent during a deletion. */
export function settleUnblock(failures: readonly string[], now: number, giveUpAt: number): UnblockSettlement {
  if (failures.length === 0) return { do: 'finalize' };
  if (now >= giveUpAt) return { do: 'abandon', failures: [...failures] };
  return { do: 'retry', afterMs: Math.max(100, Math.min(UNBLOCK_RETRY_MS, giveUpAt - now)), failures: [...failures] };
}
