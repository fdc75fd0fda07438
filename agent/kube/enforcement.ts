// Enforcement objects → what this agent holds, level-triggered, for every kind
// alike (BlockEvents: bans; SignatureRules: signature rules). Given every
// object of the kind and every DefensePolicy its informers hold, hold what the
// objects that pick this agent (agent-self.ts) ask for, for the rest of their
// window (api/ban-window.ts), and lift what is gone: deleted, released, moved
// to other agents. Idempotent, so it runs on every change, on every list and
// at start:
//   - what it holds for an object is asked again only when the object wants it
//     longer, or when it is gone;
//   - what it made (source "controller") that no object wants any more is
//     lifted, also what it made before a restart for an object deleted meanwhile;
//   - what disappears before its end without this agent lifting it (an
//     operator removed it here, or the agent's own rules dropped it) is
//     reported as released (the controller then releases the object on every
//     agent) and not put back for that window;
//   - a refusal (never-block rules, caps, an unsafe rule) is reported and not
//     asked again until the object asks for something else.
// What ran out expires on the agent by itself: an object whose window ended
// needs no call. What a kind holds, and how, is its EnforcementSink.
import type { Logger } from 'pino';
import { banWindow, releasedAt } from '../../api/ban-window.js';
import type { DefensePolicy, ReportedFailure, ReportedRelease } from '../../api/v1alpha1/index.js';
import { namesSelf, policyKey, policySelects, type AgentSelf } from './agent-self.js';

/** A gap this close to an end is an expiry; earlier, someone removed it. */
const EXPIRY_SLACK_MS = 2000;

export type EnforcedKind = 'BlockEvent' | 'SignatureRule';

/** What every enforcement object has. */
export interface EnforcedObject {
  metadata: { name?: string; namespace?: string; creationTimestamp?: unknown; deletionTimestamp?: unknown; annotations?: Record<string, string> };
  spec: { policyRef?: { name: string }; agent?: string; durationSeconds: number };
}

/** One object's demand on this agent. */
export interface Wanted<R> {
  key: string;
  namespace: string;
  name: string;
  window: number;
  until: number;
  /** What it asks the sink for (a ban, a rule), for the rest of its window. */
  request: R;
  /** Same request, same fingerprint: a refusal is not asked again. */
  fingerprint: string;
}

export type Applied = { ok: true; id: string } | { ok: false; message: string };

/** How one kind is held on this agent. */
export interface EnforcementSink<O extends EnforcedObject, R> {
  kind: EnforcedKind;
  /** The request of one object that picks this agent, until `until`; a string: refused here, with why. */
  request(obj: O, policy: DefensePolicy | undefined, window: { start: number; until: number }, now: number): R | string;
  /** Cap the window's end (a policy's limit on this kind's duration). */
  until?(obj: O, policy: DefensePolicy | undefined, window: { start: number; end: number }): number;
  /** Hold these, for the seconds each asks; results in order; throws when the firewall failed. */
  apply(requests: readonly { request: R; seconds: number }[]): Promise<Applied[]>;
  /** Lift one. */
  remove(id: string): Promise<void>;
  /** What the agent holds now: id → who made it. */
  current(): Map<string, { source: string }>;
}

export interface EnforcementState {
  /** Objects this agent holds now. */
  applied: number;
  failures: ReportedFailure[];
  released: ReportedRelease[];
  /** Keys (namespace/name) held now: for the simulated nodes' measurements. */
  held: ReadonlySet<string>;
  /**
   * What this agent holds, refused and released, for which windows, one line
   * each. A line that is new is something the controller counts on this node:
   * the report is written then, and not after every event (a status write of
   * the controller's, another node's object, change nothing here). Lines that
   * only go away (lifted, expired) need no write of their own: the controller
   * waits for no node to lift anything, the nodes lift it themselves.
   */
  entries: readonly string[];
}

interface Held {
  id: string;
  until: number;
  window: number;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class Enforcement<O extends EnforcedObject, R> {
  private readonly held = new Map<string, Held>();
  private readonly failed = new Map<string, { fingerprint: string; failure: ReportedFailure }>();
  private readonly released = new Map<string, ReportedRelease & { windowMs: number }>();

  constructor(
    private readonly sink: EnforcementSink<O, R>,
    private readonly deps: { self: AgentSelf; logger: Logger; now?: () => number },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** What one object asks of this agent now, if anything. */
  wanted(obj: O, policies: ReadonlyMap<string, DefensePolicy>, now: number): Wanted<R> | string | undefined {
    if (obj.metadata.deletionTimestamp) return undefined;
    const { self } = this.deps;
    const namespace = obj.metadata.namespace ?? 'default';
    const spec = obj.spec;
    const policy = spec.policyRef ? policies.get(`${namespace}/${spec.policyRef.name}`) : undefined;
    if (spec.agent) {
      // Bound to one agent (an agent's own, recorded for its node).
      if (!namesSelf(spec.agent, self)) return undefined;
    } else if (!policy || !policySelects(policy, self)) return undefined;
    const source = { creationTimestamp: obj.metadata.creationTimestamp, annotations: obj.metadata.annotations ?? {}, durationSeconds: spec.durationSeconds };
    const w = banWindow(source, now);
    if (releasedAt(source, w, w.end) !== undefined) return undefined;
    const until = this.sink.until ? Math.min(w.end, this.sink.until(obj, policy, w)) : w.end;
    if (now >= until) return undefined;
    const request = this.sink.request(obj, policy, { start: w.start, until }, now);
    const key = `${namespace}/${obj.metadata.name ?? ''}`;
    if (typeof request === 'string') return request;
    return { key, namespace, name: obj.metadata.name ?? '', window: w.start, until, request, fingerprint: `${JSON.stringify(request)}|${until}` };
  }

  /**
   * Make what this agent holds match `objects`. `complete` says the objects
   * are the whole collection (the informers are synced): only then is what
   * this agent made and no object wants any more lifted. Throws when the
   * firewall failed; the caller retries (nothing is half-recorded: a thing is
   * held only once applied).
   */
  async reconcile(objects: readonly O[], policies: readonly DefensePolicy[], complete: boolean): Promise<EnforcementState> {
    const now = this.now();
    const { logger } = this.deps;
    const kind = this.sink.kind;
    const byPolicy = new Map(policies.map((p) => [policyKey(p), p]));
    const wanted = new Map<string, Wanted<R>>();
    const refusedHere = new Map<string, ReportedFailure>();
    const present = new Map<string, O>();
    for (const obj of objects) {
      const key = `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name ?? ''}`;
      present.set(key, obj);
      const w = this.wanted(obj, byPolicy, now);
      if (typeof w === 'string') refusedHere.set(key, { kind, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name ?? '', message: w.slice(0, 1024) });
      else if (w) wanted.set(w.key, w);
    }

    // Gone under us before its end: released on this agent.
    const current = this.sink.current();
    for (const [key, h] of this.held) {
      if (current.has(h.id)) continue;
      this.held.delete(key);
      if (now >= h.until - EXPIRY_SLACK_MS) continue;
      const [namespace = '', name = ''] = key.split('/');
      this.released.set(key, { kind, namespace, name, at: rfc3339(now), window: rfc3339(h.window), windowMs: h.window });
      logger.info({ kind, object: key, id: h.id }, 'what this agent held for an object was removed here before its end: reporting it released');
    }
    // A release stays reported until the controller has acted on it (released-at set, new window, object gone).
    for (const [key, r] of this.released) {
      const obj = present.get(key);
      const w = wanted.get(key);
      if (!obj || (w && w.window !== r.windowMs) || obj.metadata.annotations?.['floodgate.dev/released-at']) this.released.delete(key);
    }

    const asked: Wanted<R>[] = [];
    for (const w of wanted.values()) {
      if (this.released.get(w.key)?.windowMs === w.window) continue;
      if (this.failed.get(w.key)?.fingerprint === w.fingerprint) continue;
      const h = this.held.get(w.key);
      if (h && h.until >= w.until && h.window === w.window && current.has(h.id)) continue;
      asked.push(w);
    }
    if (asked.length > 0) {
      const results = await this.sink.apply(asked.map((w) => ({ request: w.request, seconds: Math.max(1, Math.ceil((w.until - now) / 1000)) })));
      results.forEach((r, i) => {
        const w = asked[i] as Wanted<R>;
        if (r.ok) {
          this.held.set(w.key, { id: r.id, until: w.until, window: w.window });
          this.failed.delete(w.key);
        } else {
          this.held.delete(w.key);
          this.failed.set(w.key, { fingerprint: w.fingerprint, failure: { kind, namespace: w.namespace, name: w.name, message: r.message.slice(0, 1024) } });
        }
      });
    }

    // Objects that no longer want it here: lift it, unless another still holds the same thing.
    const lift = new Set<string>();
    for (const [key, h] of this.held) {
      if (wanted.has(key)) continue;
      this.held.delete(key);
      if (now < h.until - EXPIRY_SLACK_MS) lift.add(h.id);
    }
    for (const key of this.failed.keys()) if (!wanted.has(key)) this.failed.delete(key);
    if (complete) {
      // What this agent made for objects that are gone (deleted while it was down or cut off).
      for (const [id, c] of current) if (c.source === 'controller') lift.add(id);
    }
    const stillHeld = new Set([...this.held.values()].map((h) => h.id));
    for (const id of lift) {
      if (stillHeld.has(id) || !current.has(id)) continue;
      await this.sink.remove(id);
      logger.info({ kind, id }, 'lifted what no object wants here any more');
    }

    const failures = [...[...this.failed.values()].map((f) => f.failure), ...refusedHere.values()];
    const parts: string[] = [];
    for (const [key, h] of this.held) parts.push(`h ${key} ${h.id} ${h.window} ${h.until}`);
    for (const [key, f] of this.failed) parts.push(`f ${key} ${f.fingerprint}`);
    for (const [key, f] of refusedHere) parts.push(`f ${key} ${f.message}`);
    for (const [key, r] of this.released) parts.push(`r ${key} ${r.windowMs}`);
    return {
      applied: this.held.size,
      failures,
      released: [...this.released.values()].map(({ windowMs: _w, ...r }) => r),
      held: new Set(this.held.keys()),
      entries: parts.sort(),
    };
  }
}
