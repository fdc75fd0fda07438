// Fakes for the reconcile unit tests: no API server, no agent process, no
// network. Each fake keeps the rules of the real thing that the reconcilers
// rely on, and nothing else:
//   - FakeObjects: a namespaced object store with the API server's write
//     semantics (JSON merge patch, generation bumped by spec changes only,
//     resourceVersion on every write, the status subresource, optimistic
//     concurrency on metadata.resourceVersion, finalizers holding a deletion,
//     keys read back sorted, as the API server stores custom resources);
//   - FakeAgent: an agent's ban list as the agent API exposes it (a repeat
//     ban keeps the later expiry, removals and expiries in a change journal),
//     with switches for the failures the reconcilers must survive;
//   - a clock that only moves when told to.
import { DEFAULT_THRESHOLDS } from '../../detection/defaults.js';
import { AgentApiError } from '../../api/agent/v1/client.js';
import { parseCidr } from '../../lib/cidr.js';
import { exportAggregate, parseAggregate, type AggregateExport } from '../../detection/aggregate.js';
import { mergeSlots } from '../../detection/window-merge.js';
import type { AnalysisResult, BanRecord, BlockBody, SignatureList, SignaturePolicySettings, SignatureRecord, SignatureRequest } from '../../api/agent/v1/types.js';
import { actionText, matchText, normalizeMatch, signatureId } from '../../api/signature-rule.js';
import type { AgentCalls, AgentClientFactory } from '../../controller/agents/agent-clients.js';
import type { AgentTarget, ResolvedAgents } from '../../controller/agents/agent-resolver.js';
import { DEFENSE_POLICY, resolved, type DefensePolicy, type InputOf } from '../../api/v1alpha1/index.js';

type DefensePolicyInput = InputOf<typeof DEFENSE_POLICY>;
import type { NamespacedName } from '../../kube/resource-client.js';
import pino from 'pino';

export const silent = pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' });

export class Clock {
  constructor(public ms = Date.parse('2026-03-01T12:00:00Z')) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** RFC 3339 to the second, as the API server writes times. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

class ApiStatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON value with every object's keys sorted (how the API server returns a custom resource). */
export function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Json = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface Obj {
  metadata: { name?: string; namespace?: string; resourceVersion?: string; generation?: number; finalizers?: string[]; deletionTimestamp?: unknown; creationTimestamp?: unknown; annotations?: Record<string, string> };
  spec?: unknown;
  status?: unknown;
}

export class FakeObjects<T extends Obj> {
  private readonly items = new Map<string, T>();
  private rv = 100;
  /** Every write, in order: "create ns/name", "patch ns/name", "status ns/name", "delete ns/name". */
  readonly writes: string[] = [];

  constructor(private readonly clock: Clock) {}

  private key(ns: string, name: string): string {
    return `${ns}/${name}`;
  }

  get(key: string): T | undefined {
    const o = this.items.get(key);
    return o ? structuredClone(o) : undefined;
  }

  getIn(namespace: string, name: string): T | undefined {
    return this.get(this.key(namespace, name));
  }

  list(): T[] {
    return [...this.items.values()].map((o) => structuredClone(o));
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  private stored(ref: NamespacedName): T {
    const o = this.items.get(this.key(ref.namespace, ref.name));
    if (!o) throw new ApiStatusError(404, `${ref.namespace}/${ref.name} not found`);
    return o;
  }

  private put(written: T): T {
    const o = sortKeys(written) as T;
    o.metadata.resourceVersion = String(++this.rv);
    if ((o.metadata.finalizers ?? []).length === 0 && o.metadata.deletionTimestamp) {
      this.items.delete(this.key(o.metadata.namespace ?? 'default', o.metadata.name ?? ''));
    } else {
      this.items.set(this.key(o.metadata.namespace ?? 'default', o.metadata.name ?? ''), o);
    }
    return structuredClone(o);
  }

  async create(namespace: string, body: T): Promise<T> {
    const name = body.metadata.name ?? '';
    this.writes.push(`create ${namespace}/${name}`);
    if (this.items.has(this.key(namespace, name))) throw new ApiStatusError(409, `${namespace}/${name} already exists`);
    const o = structuredClone(body);
    o.metadata = { ...o.metadata, namespace, generation: 1, creationTimestamp: rfc3339(this.clock.now()) };
    delete o.status;
    return this.put(o);
  }

  async patch(ref: NamespacedName, body: object): Promise<T> {
    this.writes.push(`patch ${ref.namespace}/${ref.name}`);
    const current = this.stored(ref);
    const b = body as { metadata?: { resourceVersion?: string }; status?: unknown };
    if (b.metadata?.resourceVersion !== undefined && b.metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw new ApiStatusError(409, 'the object has been modified');
    }
    const { status: _ignored, ...rest } = body as Json;
    const next = mergePatch(structuredClone(current), rest) as T;
    next.status = current.status; // the main resource ignores status
    if (JSON.stringify(next.spec) !== JSON.stringify(current.spec)) next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    return this.put(next);
  }

  async patchStatus(ref: NamespacedName, status: object): Promise<T> {
    this.writes.push(`status ${ref.namespace}/${ref.name}`);
    const current = this.stored(ref);
    const next = structuredClone(current);
    next.status = mergePatch(current.status, status);
    return this.put(next);
  }

  async delete(ref: NamespacedName): Promise<void> {
    this.writes.push(`delete ${ref.namespace}/${ref.name}`);
    const current = this.stored(ref);
    if ((current.metadata.finalizers ?? []).length > 0) {
      if (!current.metadata.deletionTimestamp) {
        const next = structuredClone(current);
        next.metadata.deletionTimestamp = rfc3339(this.clock.now());
        this.put(next);
      }
      return;
    }
    this.items.delete(this.key(ref.namespace, ref.name));
  }
}

export type AgentMode = 'ok' | 'unreachable' | 'refuse' | 'invalid' | 'unauthorized';

/** An agent's ban list behind the agent API's calls. */
export class FakeAgent implements AgentCalls {
  mode: AgentMode = 'ok';
  /** Expiry the agent caps a ban at, seconds (its own limit); undefined: none. */
  capSeconds?: number;
  readonly bans = new Map<string, BanRecord>();
  readonly calls: string[] = [];
  private version = 0;
  private epoch = Math.random().toString(16).slice(2, 10);
  private journal: { v: number; cidr: string; removed: boolean }[] = [];
  /** What /v1/analyze answers: attackers() builds one. */
  analysis: AnalysisResult = analysisOf([]);

  constructor(
    readonly name: string,
    private readonly clock: Clock,
  ) {}

  private fail(): void {
    if (this.mode === 'unreachable') throw new AgentApiError(`cannot reach agent ${this.name}: ECONNREFUSED`, 'unreachable');
    if (this.mode === 'unauthorized') throw new AgentApiError(`agent ${this.name} rejected the token: invalid token`, 'unauthorized', 401);
    if (this.mode === 'invalid') throw new AgentApiError(`agent ${this.name} answered with something that is not the agent API v1: blocks: expected array`, 'invalid', 200);
  }

  private sweep(): void {
    for (const [cidr, b] of this.bans) {
      if (Date.parse(b.expiresAt) <= this.clock.now()) {
        this.bans.delete(cidr);
        this.journal.push({ v: ++this.version, cidr, removed: true });
      }
    }
  }

  /** Like the agent's bans.ipv6Prefix: an IPv6 address is banned as its network of this length. */
  ipv6Prefix = 128;

  private cidrOf(target: string): string {
    if (target.includes('/')) return target;
    if (!target.includes(':')) return `${target}/32`;
    return parseCidr(`${target}/${this.ipv6Prefix}`)!.text;
  }

  /** A ban the agent made on its own (auto-defense). */
  own(ip: string, seconds: number, reason = 'auto-defense'): BanRecord {
    return this.put(this.cidrOf(ip), seconds, reason, 'auto');
  }

  /** The agent restarts without its ban store: a new epoch, no bans, no journal. */
  restartEmpty(): void {
    this.epoch = Math.random().toString(16).slice(2, 10);
    this.version = 0;
    this.journal = [];
    this.bans.clear();
  }

  /** An operator removes a ban on the agent (floodgate blocks rm). */
  removeByHand(ip: string): void {
    const cidr = this.cidrOf(ip);
    if (this.bans.delete(cidr)) this.journal.push({ v: ++this.version, cidr, removed: true });
  }

  private put(cidr: string, seconds: number, reason: string, source: BanRecord['source'], policy?: string): BanRecord {
    const now = this.clock.now();
    const held = Math.min(seconds, this.capSeconds ?? seconds);
    const existing = this.bans.get(cidr);
    const expiresAt = Math.max(existing ? Date.parse(existing.expiresAt) : 0, now + held * 1000);
    const createdAt = existing?.createdAt ?? new Date(now).toISOString();
    const ban: BanRecord = {
      cidr,
      family: cidr.includes(':') ? 6 : 4,
      reason,
      ...(policy ? { policy } : {}),
      source,
      createdAt,
      expiresAt: new Date(expiresAt).toISOString(),
      offenceCount: existing?.offenceCount ?? 1,
      durationSeconds: Math.round((expiresAt - Date.parse(createdAt)) / 1000),
      backend: 'dry-run',
    };
    this.bans.set(cidr, ban);
    this.journal.push({ v: ++this.version, cidr, removed: false });
    return ban;
  }

  async readyz() {
    this.calls.push('readyz');
    this.fail();
    return { status: 'ready' };
  }

  async analyze(): Promise<AnalysisResult> {
    this.calls.push('analyze');
    this.fail();
    return structuredClone(this.analysis);
  }

  async traffic() {
    return [];
  }

  async talkers() {
    return { window: null, inboundPackets: 0, talkers: [] };
  }

  async attacks() {
    return [];
  }

  /** What /v1/aggregate answers (detection's export of a window); default: nothing seen. */
  aggregateOf: AggregateExport = parseAggregate(exportAggregate(mergeSlots([])));
  async aggregate(): Promise<AggregateExport> {
    this.calls.push('aggregate');
    this.fail();
    return this.aggregateOf;
  }

  async listBlocksSince(since: string | undefined) {
    this.calls.push(`list ${since ?? 'all'}`);
    this.fail();
    this.sweep();
    const version = `${this.epoch}.${this.version}`;
    const m = since === undefined ? null : /^([0-9a-f]+)\.(\d+)$/.exec(since);
    if (!m || m[1] !== this.epoch) return { blocks: [...this.bans.values()], removed: [], version, full: true };
    const after = this.journal.filter((j) => j.v > Number(m[2]));
    const changed = new Set(after.filter((j) => !j.removed).map((j) => j.cidr));
    const removed = [...new Set(after.filter((j) => j.removed && !this.bans.has(j.cidr)).map((j) => j.cidr))];
    return { blocks: [...changed].flatMap((c) => (this.bans.has(c) ? [this.bans.get(c)!] : [])), removed, version, full: false };
  }

  async block(body: BlockBody): Promise<BanRecord> {
    const target = body.ip ?? body.cidr ?? '';
    this.calls.push(`block ${target} ${body.durationSeconds}`);
    this.fail();
    if (this.mode === 'refuse') throw new AgentApiError(`refusing to block ${target}: it is in the allowlist`, 'refused', 403);
    this.sweep();
    return this.put(this.cidrOf(target), body.durationSeconds, body.reason, 'api', body.policy);
  }

  // ---- signature rules: a store of records like the agent's (id = hash of the match, later expiry wins).
  readonly rules = new Map<string, SignatureRecord>();
  readonly signatureSettings: Record<string, SignaturePolicySettings> = {};
  private signatureEpoch = Math.random().toString(16).slice(2, 10);
  /** Packets each rule's counter shows (set by tests). */
  readonly signatureCounters = new Map<string, { packets: number; pps: number }>();

  private sweepSignatures(): void {
    for (const [id, r] of this.rules) if (Date.parse(r.expiresAt) <= this.clock.now()) this.rules.delete(id);
  }

  private putSignature(req: SignatureRequest, source: SignatureRecord['source']): { action: 'added' | 'extended' | 'updated' | 'unchanged'; rule: SignatureRecord } {
    const now = this.clock.now();
    const match = normalizeMatch(req.match);
    const id = signatureId(match);
    const existing = this.rules.get(id);
    const held = Math.min(req.durationSeconds, this.capSeconds ?? req.durationSeconds);
    const expiresAt = Math.max(existing ? Date.parse(existing.expiresAt) : 0, now + held * 1000);
    const createdAt = existing?.createdAt ?? new Date(now).toISOString();
    const rule: SignatureRecord = {
      id,
      match,
      action: req.action,
      applied: actionText(req.action),
      ...(req.vector ? { vector: req.vector } : {}),
      ...(req.label ? { label: req.label } : {}),
      reason: req.reason,
      ...(existing?.policy ?? req.policy ? { policy: existing?.policy ?? req.policy } : {}),
      source: existing?.source ?? source,
      createdAt,
      expiresAt: new Date(expiresAt).toISOString(),
      durationSeconds: Math.round((expiresAt - Date.parse(createdAt)) / 1000),
      backend: 'dry-run',
      packets: this.signatureCounters.get(id)?.packets ?? 0,
      bytes: 0,
      packetsPerSecond: this.signatureCounters.get(id)?.pps ?? 0,
    };
    this.rules.set(id, rule);
    return { action: existing ? (expiresAt > Date.parse(existing.expiresAt) ? 'extended' : 'unchanged') : 'added', rule };
  }

  /** A rule the agent applied on its own (auto-defense). */
  ownSignature(req: Omit<SignatureRequest, 'reason'> & { reason?: string }): SignatureRecord {
    return this.putSignature({ reason: 'auto-defense', ...req }, 'auto').rule;
  }

  /** An operator removes a rule on the agent. */
  removeSignatureByHand(id: string): void {
    this.rules.delete(id);
  }

  /** The agent restarts without its signature store. */
  restartSignaturesEmpty(): void {
    this.signatureEpoch = Math.random().toString(16).slice(2, 10);
    this.rules.clear();
  }

  async signatures(): Promise<SignatureList> {
    this.calls.push('signatures');
    this.fail();
    this.sweepSignatures();
    const list = [...this.rules.values()].map((r) => ({ ...r, packets: this.signatureCounters.get(r.id)?.packets ?? r.packets, packetsPerSecond: this.signatureCounters.get(r.id)?.pps ?? r.packetsPerSecond }));
    return { signatures: list, epoch: this.signatureEpoch, policies: { ...this.signatureSettings } };
  }

  async addSignature(req: SignatureRequest) {
    this.calls.push(`addSignature ${signatureId(req.match)} ${req.durationSeconds}`);
    this.fail();
    if (this.mode === 'refuse') throw new AgentApiError(`refusing signature ${matchText(req.match)}: 10.0.0.9 is not an address this agent protects`, 'refused', 403);
    this.sweepSignatures();
    return { ok: true as const, ...this.putSignature(req, 'api') };
  }

  async removeSignature(id: string): Promise<{ removed: boolean }> {
    this.calls.push(`removeSignature ${id}`);
    this.fail();
    return { removed: this.rules.delete(id) };
  }

  async setSignaturePolicy(policy: string, settings: SignaturePolicySettings): Promise<SignaturePolicySettings> {
    this.calls.push(`setSignaturePolicy ${policy} ${settings.mode}`);
    this.fail();
    this.signatureSettings[policy] = settings;
    return settings;
  }

  async unblock(target: string): Promise<{ removed: boolean }> {
    this.calls.push(`unblock ${target}`);
    this.fail();
    const cidr = this.cidrOf(target);
    const removed = this.bans.delete(cidr);
    if (removed) this.journal.push({ v: ++this.version, cidr, removed: true });
    return { removed };
  }

  /** Remaining seconds of the ban of `ip` (undefined: none). */
  holds(ip: string): number | undefined {
    this.sweep();
    const b = this.bans.get(this.cidrOf(ip));
    return b ? Math.round((Date.parse(b.expiresAt) - this.clock.now()) / 1000) : undefined;
  }
}

/** An analysis whose verdict flags these sources (at 50,000 pps each, by the share rule). */
export function analysisOf(attackers: string[]): AnalysisResult {
  const t = '2026-03-01T12:00:00.000Z';
  const zero = { tcp: 0, udp: 0, icmp: 0, other: 0 };
  return {
    verdict: {
      underAttack: attackers.length > 0,
      window: { start: t, end: t, seconds: 7, windowSeconds: 7, coverStart: t, coverEnd: t },
      thresholds: { ...DEFAULT_THRESHOLDS },
      totals: { packets: 0, bytes: 0, inboundPackets: 0, inboundBytes: 0, pps: 0, bps: 0, distinctSources: 0, malformed: 0, sourceEvictions: 0 },
      victims: [],
      vectors: attackers.length ? ['syn_flood'] : [],
      attackers: attackers.map((ip) => ({ ip, rules: ['share'], packets: 350_000, bytes: 21_000_000, share: 0.5, pps: 50_000, bps: 24_000_000, protocols: { ...zero, tcp: 350_000 } })),
      topSource: null,
      exempt: [],
      drops: { dropped: 0, ifDropped: 0, slotsDropped: 0 },
    },
    blockedStillSending: [],
    firewallDrops: { packets: 0, bytes: 0 },
  };
}

/** Agents by URL, and the factory the reconcilers take. */
export class FakeAgents {
  readonly byUrl = new Map<string, FakeAgent>();

  constructor(private readonly clock: Clock) {}

  add(url: string): FakeAgent {
    const a = new FakeAgent(url, this.clock);
    this.byUrl.set(url, a);
    return a;
  }

  readonly factory: AgentClientFactory = (target: AgentTarget) => {
    const a = this.byUrl.get(target.url);
    if (!a) throw new Error(`no fake agent at ${target.url}`);
    return a;
  };
}

/** A resolver that gives each policy its spec.agents' URLs (no Secrets, no pods). */
export const fakeResolver = {
  async resolve(policy: DefensePolicy): Promise<ResolvedAgents> {
    const agents = (policy.spec.agents ?? []).map((a) => ({ name: a.url, url: a.url }));
    return { agents, problems: agents.length ? [] : ['the policy names no agents'] };
  },
  checkAgentUrl(url: string): string | undefined {
    return url.startsWith('http://') ? undefined : `${url}: not an agent URL`;
  },
  explicitTarget(url: string): AgentTarget {
    return { name: url, url };
  },
};

/** Events as "<Type> <Reason>: <message>". */
export class FakeEvents {
  readonly list: string[] = [];
  async event(obj: unknown, type: string, reason: string, message: string): Promise<void> {
    this.list.push(`${type} ${reason}: ${message}`);
  }
  async warning(obj: unknown, reason: string, message: string): Promise<void> {
    return this.event(obj, 'Warning', reason, message);
  }
  async normal(obj: unknown, reason: string, message: string): Promise<void> {
    return this.event(obj, 'Normal', reason, message);
  }
  reasons(): string[] {
    return this.list.map((e) => e.split(':')[0]!);
  }
}

/** A DefensePolicy as the controller sees it: resolved once, defaults filled in (api/v1alpha1). */
export function policy(name: string, agents: string[], spec: DefensePolicyInput['spec'] = {}, namespace = 'shop'): DefensePolicy {
  return resolved(DEFENSE_POLICY, {
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'DefensePolicy',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 1 },
    spec: { agents: agents.map((url) => ({ url })), ...spec },
  });
}
