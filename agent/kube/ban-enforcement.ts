// BlockEvents → this agent's bans, level-triggered: given every BlockEvent
// and DefensePolicy the agent's informers hold, hold the bans of those that
// pick this agent (agent-self.ts) for the rest of their window
// (api/ban-window.ts), and lift the ones that are gone: deleted, released,
// moved to other agents. Idempotent, so it runs on every change, on every
// relist and at start:
//   - a ban it holds for an object is asked again only when the object wants
//     it longer, or when the ban is gone;
//   - a ban it made (source "controller" in the ban store) that no object
//     wants any more is lifted, also one made before a restart for an object
//     deleted meanwhile;
//   - a ban that disappears before its end without this agent lifting it (an
//     operator ran `floodgate blocks rm`, or the never-block rules dropped it)
//     is reported as released (the controller then releases the object on
//     every agent) and not put back for that window;
//   - a refusal (never-block rules, caps) is reported and not retried until
//     the object asks for something else.
// Bans expire on the agent by themselves: an object whose window ended needs
// no call.
import type { Logger } from 'pino';
import { banWindow, releasedAt } from '../../api/ban-window.js';
import type { BlockEvent, DefensePolicy, ReportedFailure, ReportedRelease } from '../../api/v1alpha1/index.js';
import type { BanRecord } from '../../api/agent/v1/types.js';
import type { BanService, BlockRequest } from '../bans/ban-service-port.js';
import { namesSelf, policyKey, policySelects, type AgentSelf } from './agent-self.js';

/** What the enforcement needs of the ban domain. */
export type BanSink = Pick<BanService, 'blockMany' | 'unblock' | 'list'>;

/** A ban gone this close to its end expired; earlier, someone removed it. */
const EXPIRY_SLACK_MS = 2000;

interface Wanted {
  key: string;
  namespace: string;
  name: string;
  /** spec.ip: an address or a CIDR. */
  target: string;
  window: number;
  until: number;
  reason: string;
  policy: string;
}

interface Held {
  /** The CIDR the ban manager holds it as (an IPv6 address becomes its /64). */
  cidr: string;
  until: number;
  window: number;
}

export interface EnforcementState {
  /** Objects whose ban this agent holds now. */
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
   * only go away (a ban lifted or expired) need no write of their own: the
   * controller waits for no node to lift a ban, the nodes lift it themselves.
   */
  entries: readonly string[];
}

function keyOf(o: { metadata: { namespace?: string; name?: string } }): string {
  return `${o.metadata.namespace ?? 'default'}/${o.metadata.name ?? ''}`;
}

function reasonOf(be: BlockEvent): string {
  return (be.spec.reason || `BlockEvent ${be.metadata.namespace}/${be.metadata.name}`).replace(/[\p{C}\p{Zl}\p{Zp}]+/gu, ' ').trim().slice(0, 200);
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** What one BlockEvent asks of this agent now, if anything. */
export function wantedBan(be: BlockEvent, policies: ReadonlyMap<string, DefensePolicy>, self: AgentSelf, now: number): Wanted | undefined {
  if (be.metadata.deletionTimestamp) return undefined;
  const namespace = be.metadata.namespace ?? 'default';
  const spec = be.spec;
  if (spec.agent) {
    // Bound to one agent (an agent's own ban, recorded for its node).
    if (!namesSelf(spec.agent, self)) return undefined;
  } else {
    const policy = spec.policyRef ? policies.get(`${namespace}/${spec.policyRef.name}`) : undefined;
    if (!policy || !policySelects(policy, self)) return undefined;
  }
  const annotations = be.metadata.annotations ?? {};
  const source = { creationTimestamp: be.metadata.creationTimestamp, annotations, durationSeconds: spec.durationSeconds };
  const w = banWindow(source, now);
  if (releasedAt(source, w, w.end) !== undefined || now >= w.end) return undefined;
  return {
    key: `${namespace}/${be.metadata.name ?? ''}`,
    namespace,
    name: be.metadata.name ?? '',
    target: spec.ip,
    window: w.start,
    until: w.end,
    reason: reasonOf(be),
    policy: (spec.policyRef?.name ?? `node/${self.node}`).slice(0, 200),
  };
}

export class BanEnforcement {
  private readonly held = new Map<string, Held>();
  private readonly failed = new Map<string, { fingerprint: string; failure: ReportedFailure }>();
  private readonly released = new Map<string, ReportedRelease & { windowMs: number }>();

  constructor(
    private readonly deps: { self: AgentSelf; bans: BanSink; logger: Logger; now?: () => number },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /**
   * Make the bans match `objects`. `complete` says the objects are the whole
   * collection (the informers are synced): only then are bans of this agent's
   * that no object wants lifted. Throws when the firewall failed; the caller
   * retries (nothing is half-recorded: a ban is held only once applied).
   */
  async reconcile(objects: readonly BlockEvent[], policies: readonly DefensePolicy[], complete: boolean): Promise<EnforcementState> {
    const now = this.now();
    const { self, bans, logger } = this.deps;
    const byPolicy = new Map(policies.map((p) => [policyKey(p), p]));
    const wanted = new Map<string, Wanted>();
    const present = new Map<string, BlockEvent>();
    for (const be of objects) {
      present.set(keyOf(be), be);
      const w = wantedBan(be, byPolicy, self, now);
      if (w) wanted.set(w.key, w);
    }

    // Bans that went away under us, before their end: released on this agent.
    const current = new Map<string, BanRecord>(bans.list().map((b) => [b.cidr, b]));
    for (const [key, h] of this.held) {
      if (current.has(h.cidr)) continue;
      this.held.delete(key);
      if (now >= h.until - EXPIRY_SLACK_MS) continue;
      const [namespace = '', name = ''] = key.split('/');
      this.released.set(key, { kind: 'BlockEvent', namespace, name, at: rfc3339(now), window: rfc3339(h.window), windowMs: h.window });
      logger.info({ blockEvent: key, cidr: h.cidr }, 'a ban this agent held for a BlockEvent was removed here before its end: reporting it released');
    }
    // A release stays reported until the controller has acted on it (released-at set, new window, object gone).
    for (const [key, r] of this.released) {
      const be = present.get(key);
      const w = wanted.get(key);
      if (!be || (w && w.window !== r.windowMs) || be.metadata.annotations?.['floodgate.dev/released-at']) this.released.delete(key);
    }

    const requests: BlockRequest[] = [];
    const asked: Wanted[] = [];
    for (const w of wanted.values()) {
      if (this.released.get(w.key)?.windowMs === w.window) continue;
      const fingerprint = `${w.target}|${w.until}`;
      if (this.failed.get(w.key)?.fingerprint === fingerprint) continue;
      const h = this.held.get(w.key);
      if (h && h.until >= w.until && h.window === w.window && current.has(h.cidr)) continue;
      requests.push({ cidr: w.target, durationSeconds: Math.max(1, Math.ceil((w.until - now) / 1000)), reason: w.reason, policy: w.policy, source: 'controller' });
      asked.push(w);
    }
    if (requests.length > 0) {
      const { results, applied } = await bans.blockMany(requests);
      await applied; // held only once it is in the firewall and on disk
      results.forEach((r, i) => {
        const w = asked[i] as Wanted;
        if (r.ok) {
          this.held.set(w.key, { cidr: r.cidr, until: w.until, window: w.window });
          this.failed.delete(w.key);
        } else {
          this.held.delete(w.key);
          this.failed.set(w.key, { fingerprint: `${w.target}|${w.until}`, failure: { kind: 'BlockEvent', namespace: w.namespace, name: w.name, message: r.error.slice(0, 1024) } });
        }
      });
    }

    // Objects that no longer want their ban here: lift it, unless another still holds that CIDR.
    const lift = new Set<string>();
    for (const [key, h] of this.held) {
      if (wanted.has(key)) continue;
      this.held.delete(key);
      if (now < h.until - EXPIRY_SLACK_MS) lift.add(h.cidr);
    }
    for (const key of this.failed.keys()) if (!wanted.has(key)) this.failed.delete(key);
    if (complete) {
      // Bans this agent made for objects that are gone (deleted while it was down or cut off).
      for (const b of current.values()) if (b.source === 'controller') lift.add(b.cidr);
    }
    const stillHeld = new Set([...this.held.values()].map((h) => h.cidr));
    for (const cidr of lift) {
      if (stillHeld.has(cidr) || !current.has(cidr)) continue;
      await bans.unblock(cidr);
      logger.info({ cidr }, 'lifted a ban no BlockEvent wants here any more');
    }

    const parts: string[] = [];
    for (const [key, h] of this.held) parts.push(`h ${key} ${h.cidr} ${h.window} ${h.until}`);
    for (const [key, f] of this.failed) parts.push(`f ${key} ${f.fingerprint}`);
    for (const [key, r] of this.released) parts.push(`r ${key} ${r.windowMs}`);
    return {
      applied: this.held.size,
      failures: [...this.failed.values()].map((f) => f.failure),
      released: [...this.released.values()].map(({ windowMs: _w, ...r }) => r),
      held: new Set(this.held.keys()),
      entries: parts.sort(),
    };
  }
}
