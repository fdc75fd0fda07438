// What the controller knows of the agents that watch the API server: one
// entry per FloodgateNode report (api/v1alpha1/floodgate-node.ts), kept from
// the FloodgateNode informer. It answers the questions the reconcilers ask:
//   - which nodes enforce a policy's BlockEvents (their report lists it);
//   - does a node hold an object at a given revision (its applied revision is
//     at least that, and it did not refuse it);
//   - is a resolved agent (a pod, a URL) one of those nodes, so that the
//     controller neither pushes to it nor polls it;
//   - has a node stopped reporting (no heartbeat for 3 of its intervals).
// Reports are read as the agents wrote them; a report that does not parse
// counts as a node that does not report.
//
// A node that renews its Lease (api/v1alpha1/node-lease.ts; listed by
// node-leases.ts) has its heartbeat and applied revisions there: its entry is
// the report merged with the Lease, the later heartbeat, the higher revision.
// The agent writes a refusal in the report before any later renewal, so a
// revision read from the Lease adds only what it holds.
import type { FloodgateNode, FloodgateNodeStatus, NodeLease } from '../../api/v1alpha1/index.js';

/** A node is silent after this many missed heartbeats. */
export const SILENT_AFTER_HEARTBEATS = 3;

export interface NodeEntry {
  name: string;
  mode?: 'in-cluster' | 'kubeconfig';
  pod?: string;
  url?: string;
  policies: ReadonlySet<string>;
  /** Per kind (BlockEvent, SignatureRule): the revision up to which it applied everything. */
  revisions: Readonly<Record<EnforcedKind, number | undefined>>;
  /** kind/namespace/name → message. */
  failures: ReadonlyMap<string, string>;
  heartbeatAt?: number;
  heartbeatMs: number;
  /** The node's Lease as its FloodgateNode's spec names it ("namespace/name"). */
  lease?: string;
  /** The report as written (with a renewed Lease: its counts overlaid). */
  status: FloodgateNodeStatus;
}

/** The kinds a node enforces and reports a revision for. */
export type EnforcedKind = 'BlockEvent' | 'SignatureRule';

export interface NodeCount {
  desired: number;
  applied: number;
  failed: number;
  notReporting: number;
  /** Nodes that have not reported it yet (reporting, behind: applying it, or waiting for their report's slot). */
  pending: number;
  /** A few names per group, for messages. */
  failedNodes: string[];
  failures: string[];
  pendingNodes: string[];
  silentNodes: string[];
}

export function failureKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function normUrl(u: string): string {
  return u.replace(/\/+$/, '').toLowerCase();
}

export function entryOf(node: FloodgateNode): NodeEntry {
  const s = node.status ?? {};
  const heartbeatAt = s.heartbeatTime ? Date.parse(s.heartbeatTime) : undefined;
  return {
    name: node.metadata.name ?? '',
    mode: s.agent?.mode,
    pod: s.agent?.pod,
    url: s.agent?.url,
    policies: new Set(s.policies ?? []),
    revisions: {
      BlockEvent: typeof s.blockEvents?.revision === 'number' ? s.blockEvents.revision : undefined,
      SignatureRule: typeof s.signatureRules?.revision === 'number' ? s.signatureRules.revision : undefined,
    },
    failures: new Map((s.failures ?? []).map((f) => [failureKey(f.kind, f.namespace, f.name), f.message])),
    heartbeatAt: Number.isFinite(heartbeatAt) ? heartbeatAt : undefined,
    heartbeatMs: (s.heartbeatSeconds ?? 60) * 1000,
    lease: node.spec?.lease ? `${node.spec.lease.namespace}/${node.spec.lease.name}` : undefined,
    status: s,
  };
}

const later = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.max(a, b));

/** A report with its node's renewed Lease: the later heartbeat (at the Lease's pace), the higher revision. */
export function withLease(e: NodeEntry, l: NodeLease | undefined): NodeEntry {
  if (!l || l.renewAt === undefined) return e;
  const counts = (kind: 'blockEvents' | 'signatureRules', k: EnforcedKind) => {
    const c = e.status[kind];
    const applied = l.applied[k];
    if (applied === undefined || (e.heartbeatAt !== undefined && e.heartbeatAt >= (l.renewAt as number))) return c;
    return { failed: 0, ...c, applied, ...(l.revisions[k] !== undefined ? { revision: l.revisions[k] } : {}) };
  };
  const blockEvents = counts('blockEvents', 'BlockEvent');
  const signatureRules = counts('signatureRules', 'SignatureRule');
  return {
    ...e,
    revisions: { BlockEvent: later(e.revisions.BlockEvent, l.revisions.BlockEvent), SignatureRule: later(e.revisions.SignatureRule, l.revisions.SignatureRule) },
    heartbeatAt: later(e.heartbeatAt, l.renewAt),
    heartbeatMs: l.durationMs !== undefined ? l.durationMs / SILENT_AFTER_HEARTBEATS : e.heartbeatMs,
    status: { ...e.status, ...(blockEvents ? { blockEvents } : {}), ...(signatureRules ? { signatureRules } : {}) },
  };
}

/** What a Lease says that matters to counts and silence (a renewal alone moves heartbeatAt only). */
function sameLease(a: NodeLease | undefined, b: NodeLease | undefined): boolean {
  return (
    a?.renewAt === b?.renewAt &&
    a?.durationMs === b?.durationMs &&
    a?.revisions.BlockEvent === b?.revisions.BlockEvent &&
    a?.revisions.SignatureRule === b?.revisions.SignatureRule &&
    a?.applied.BlockEvent === b?.applied.BlockEvent &&
    a?.applied.SignatureRule === b?.applied.SignatureRule
  );
}

export class NodeReports {
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly byPolicy = new Map<string, Set<string>>();
  /** Entries as the reports say, before their Lease. */
  private readonly reports = new Map<string, NodeEntry>();
  /** "namespace/name" of a Lease → the node whose report names it. */
  private readonly byLease = new Map<string, string>();
  /** The last listed Lease of each node. */
  private readonly leases = new Map<string, NodeLease>();
  /**
   * The nodes that are silent, kept as entries change and swept when the
   * first heartbeat can have run out (nextSilenceAt), so that asking which of
   * a policy's 1,000 nodes are silent does not check 1,000 heartbeats.
   */
  private readonly silentNames = new Set<string>();
  private nextSilenceAt = Infinity;
  /** Nodes whose silence a sweep changed, for takeSilenceChanges(). */
  private readonly silenceChanged = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A report was added or changed: the entry before (undefined: new). */
  upsert(node: FloodgateNode): { before?: NodeEntry; after: NodeEntry } {
    const report = entryOf(node);
    const prior = this.reports.get(report.name);
    if (prior?.lease && this.byLease.get(prior.lease) === report.name) this.byLease.delete(prior.lease);
    if (report.lease) this.byLease.set(report.lease, report.name);
    this.reports.set(report.name, report);
    return this.put(withLease(report, this.leases.get(report.name)));
  }

  /**
   * The node Leases as listed now: each is matched to the node whose report
   * names it (others are returned as unknown). The entries that moved, beyond
   * a renewal that changes nothing but the heartbeat's time within its lease.
   */
  setLeases(listed: readonly NodeLease[]): { moved: { before?: NodeEntry; after: NodeEntry }[]; unknown: string[] } {
    const moved: { before?: NodeEntry; after: NodeEntry }[] = [];
    const unknown: string[] = [];
    const seen = new Set<string>();
    const apply = (name: string, lease: NodeLease | undefined) => {
      const prior = this.leases.get(name);
      if (sameLease(prior, lease)) return;
      if (lease) this.leases.set(name, lease);
      else this.leases.delete(name);
      const report = this.reports.get(name);
      if (!report) return;
      const before = this.nodes.get(name);
      const after = withLease(report, lease);
      const quiet =
        before !== undefined &&
        before.revisions.BlockEvent === after.revisions.BlockEvent &&
        before.revisions.SignatureRule === after.revisions.SignatureRule &&
        this.silent(before) === this.silent(after);
      if (quiet) {
        this.nodes.set(name, after);
        this.markSilence(after);
      } else moved.push(this.put(after));
    };
    for (const l of listed) {
      const name = this.byLease.get(`${l.namespace}/${l.name}`);
      if (name === undefined) {
        unknown.push(`${l.namespace}/${l.name}`);
        continue;
      }
      seen.add(name);
      apply(name, l);
    }
    for (const name of [...this.leases.keys()]) if (!seen.has(name)) apply(name, undefined);
    return { moved, unknown };
  }

  /** Some report names a Lease (else there is nothing to list). */
  get withLeases(): boolean {
    return this.byLease.size > 0;
  }

  private put(after: NodeEntry): { before?: NodeEntry; after: NodeEntry } {
    const before = this.nodes.get(after.name);
    if (before) for (const p of before.policies) this.byPolicy.get(p)?.delete(after.name);
    for (const p of after.policies) {
      let set = this.byPolicy.get(p);
      if (!set) this.byPolicy.set(p, (set = new Set()));
      set.add(after.name);
    }
    this.nodes.set(after.name, after);
    this.markSilence(after);
    return { before, after };
  }

  private markSilence(e: NodeEntry, now = this.now()): void {
    if (this.silent(e, now)) this.silentNames.add(e.name);
    else {
      this.silentNames.delete(e.name);
      this.nextSilenceAt = Math.min(this.nextSilenceAt, (e.heartbeatAt as number) + SILENT_AFTER_HEARTBEATS * e.heartbeatMs);
    }
  }

  /** Recheck every node's silence if one can have run out since the last sweep. */
  private sweep(now = this.now()): void {
    if (now < this.nextSilenceAt) return;
    this.nextSilenceAt = Infinity;
    for (const e of this.nodes.values()) {
      const was = this.silentNames.has(e.name);
      this.markSilence(e, now);
      if (was !== this.silentNames.has(e.name)) this.silenceChanged.add(e.name);
    }
  }

  /** The entries whose silence changed with time (not with a report or a Lease) since the last call. */
  takeSilenceChanges(now = this.now()): NodeEntry[] {
    this.sweep(now);
    const changed = [...this.silenceChanged].flatMap((n) => this.nodes.get(n) ?? []);
    this.silenceChanged.clear();
    return changed;
  }

  /** How many nodes enforce this policy's objects, and which of them are silent now. */
  policyNodes(policyKey: string, now = this.now()): { count: number; silent: string[] } {
    const set = this.byPolicy.get(policyKey);
    if (!set) return { count: 0, silent: [] };
    this.sweep(now);
    return { count: set.size, silent: this.silentNames.size ? [...this.silentNames].filter((n) => set.has(n)) : [] };
  }

  remove(name: string): NodeEntry | undefined {
    const before = this.nodes.get(name);
    const report = this.reports.get(name);
    if (report?.lease && this.byLease.get(report.lease) === name) this.byLease.delete(report.lease);
    this.reports.delete(name);
    this.leases.delete(name);
    this.silentNames.delete(name);
    this.silenceChanged.delete(name);
    if (!before) return undefined;
    for (const p of before.policies) this.byPolicy.get(p)?.delete(name);
    this.nodes.delete(name);
    return before;
  }

  get(name: string): NodeEntry | undefined {
    return this.nodes.get(name);
  }

  all(): NodeEntry[] {
    return [...this.nodes.values()];
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Names of the nodes whose agent enforces this policy's objects. */
  nodesOf(policyKey: string): string[] {
    return [...(this.byPolicy.get(policyKey) ?? [])];
  }

  silent(e: NodeEntry, now = this.now()): boolean {
    return e.heartbeatAt === undefined || now - e.heartbeatAt > SILENT_AFTER_HEARTBEATS * e.heartbeatMs;
  }

  /** The node that watches for an agent the resolver found: its pod (on that node) or its URL. */
  watcherOf(agent: { url: string; node?: string; pod?: { namespace: string; name: string } }): NodeEntry | undefined {
    if (agent.node) {
      const e = this.nodes.get(agent.node);
      if (e?.mode === 'in-cluster') return e;
    }
    const url = normUrl(agent.url);
    for (const e of this.nodes.values()) if (e.url && normUrl(e.url) === url) return e;
    return undefined;
  }

  /** The node a BlockEvent's spec.agent names ("node/<name>", a pod name, a URL). */
  boundNode(agent: string): NodeEntry | undefined {
    if (agent.startsWith('node/')) return this.nodes.get(agent.slice(5));
    const url = normUrl(agent);
    for (const e of this.nodes.values()) {
      if ((e.url && normUrl(e.url) === url) || (e.pod && e.pod.slice(e.pod.indexOf('/') + 1) === agent)) return e;
    }
    return undefined;
  }

  /**
   * How the given nodes stand with an object whose holding changed last at
   * `revision`: a reporting node whose applied revision is at least that has
   * applied it (or refused it: its failures name it); a silent node counts in
   * desired only.
   */
  count(names: readonly string[], kind: EnforcedKind, revision: number, failure: string, now = this.now()): NodeCount {
    const c: NodeCount = { desired: names.length, applied: 0, failed: 0, notReporting: 0, pending: 0, failedNodes: [], failures: [], pendingNodes: [], silentNodes: [] };
    for (const name of names) {
      const e = this.nodes.get(name);
      if (!e || this.silent(e, now)) {
        c.notReporting++;
        if (c.silentNodes.length < 5) c.silentNodes.push(name);
        continue;
      }
      const message = e.failures.get(failure);
      const applied = e.revisions[kind];
      if (applied === undefined || applied < revision) {
        c.pending++;
        if (c.pendingNodes.length < 5) c.pendingNodes.push(name);
      } else if (message !== undefined) {
        c.failed++;
        if (c.failedNodes.length < 5) {
          c.failedNodes.push(name);
          c.failures.push(`${name}: ${message}`);
        }
      } else c.applied++;
    }
    return c;
  }
}
