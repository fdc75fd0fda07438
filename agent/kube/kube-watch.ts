// The agent's watch on the API server (docs/fanout.md): informers on
// BlockEvents, SignatureRules and DefensePolicies (the same informer as the
// controller's, kube/informer.ts), the enforcement of each kind
// (ban-enforcement.ts, signature-enforcement.ts) run on every change, every
// relist and at start, and the node's report (node-report.ts).
//
// One reconcile runs at a time; changes that arrive meanwhile coalesce into
// the next one. A kind's revision in the report is its informer's
// resourceVersion read before a reconcile that then succeeded: everything up
// to it is in the firewall. The controller compares it with each object's
// status.nodes.revision to count the nodes that hold it. A kind whose
// informer cannot list (an older chart's RBAC without SignatureRules) holds
// up nothing of the other's.
//
// Without the API server the agent keeps what it has: the caches stay as they
// were, the bans stay in the firewall, its own bans keep being made; the
// report says how long it was cut off once it is back.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import {
  BLOCK_EVENT,
  DEFENSE_POLICY,
  MAX_REPORTED_FAILURES,
  MAX_REPORTED_OWN_BANS,
  SIGNATURE_RULE,
  resolveObject,
  type BlockEvent,
  type DefensePolicy,
  type FloodgateNodeStatus,
  type ReportedFailure,
  type ReportedOwnBan,
  type SignatureRule,
} from '../../api/v1alpha1/index.js';
import { Backoff } from '../../lib/backoff.js';
import { counter, gauge, histogram } from '../../lib/metrics.js';
import { Informer, objectKey, type RelistReason } from '../../kube/informer.js';
import { ResourceClient } from '../../kube/resource-client.js';
import type { RestClient } from '../../kube/rest-client.js';
import { errorMessage } from '../../kube/util.js';
import { policyKey, policySelects, type AgentSelf } from './agent-self.js';
import { BanEnforcement, type BanSink } from './ban-enforcement.js';
import type { EnforcedKind, EnforcementState } from './enforcement.js';
import { SignatureEnforcement, type SignatureSink } from './signature-enforcement.js';
import type { NodeReporter } from './node-report.js';

export interface KubeWatchOptions {
  self: AgentSelf;
  /** Reads (list/watch): the agent pod's ServiceAccount, or the host agent's kubeconfig. */
  reader: RestClient;
  bans: BanSink;
  /** The agent's signature rules; absent: SignatureRules are not watched. */
  signatures?: SignatureSink;
  /** The node's report; absent: apply only (tests). */
  reporter?: NodeReporter;
  agent: NonNullable<FloodgateNodeStatus['agent']>;
  logger: Logger;
  registry: Registry;
  /** A version that changes whenever the agent's bans change (its ban journal): own bans reach the report at once. */
  banVersion?: () => string;
  /** Full relist of the informers. Default 5 minutes. */
  relistMs?: number;
  /** Reconcile even without changes this often (local releases, the report's own bans). Default 30 s. */
  resyncMs?: number;
  now?: () => number;
  /** After each reconcile (the simulated nodes' measurements). */
  onReconciled?: (state: EnforcementState, at: number) => void;
}

/**
 * How many nodes report on the objects behind new report entries ("<b|s> <h|f|r>
 * <namespace>/<name> ...", EnforcementState.entries): the most any of their
 * policies counts (status.enforcingNodes, written by the controller); 1 for
 * an object bound to one node, or when the policy does not say.
 */
export function fanOut(news: readonly string[], policies: readonly DefensePolicy[], get: (kind: string, key: string) => BlockEvent | SignatureRule | undefined): number {
  const nodesOf = new Map(policies.map((p) => [policyKey(p), p.status?.enforcingNodes ?? 1]));
  let most = 1;
  for (const line of news) {
    const [kind = '', , key = ''] = line.split(' ');
    const obj = get(kind, key);
    if (!obj || obj.spec.agent || !obj.spec.policyRef) continue;
    most = Math.max(most, nodesOf.get(`${obj.metadata.namespace ?? 'default'}/${obj.spec.policyRef.name}`) ?? 1);
  }
  return most;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Objects as the agent keeps them: spec resolved by the kind's schema, no status or managedFields (never read here). */
type Watched = BlockEvent | DefensePolicy | SignatureRule;
type WatchedKind = typeof BLOCK_EVENT | typeof DEFENSE_POLICY | typeof SIGNATURE_RULE;

function admit<T extends Watched>(kind: WatchedKind, invalid: Map<string, string>) {
  return (raw: T): T => {
    const { object, problems } = resolveObject(kind, raw);
    const key = objectKey(object);
    if (problems.length) invalid.set(key, problems.join('; '));
    else invalid.delete(key);
    delete object.metadata.managedFields;
    if (kind !== DEFENSE_POLICY) delete (object as { status?: unknown }).status;
    return object as T;
  };
}

/** What a reconcile follows: a list to write at once, a periodic relist to write with the next report, or neither. */
type Listed = 'listed' | 'relisted' | undefined;

export class KubeWatch {
  readonly blockEvents: Informer<BlockEvent>;
  readonly policies: Informer<DefensePolicy>;
  readonly signatureRules?: Informer<SignatureRule>;
  private readonly enforcement: BanEnforcement;
  private readonly signatureEnforcement?: SignatureEnforcement;
  private readonly invalidBlockEvents = new Map<string, string>();
  private readonly invalidSignatureRules = new Map<string, string>();
  private readonly invalidPolicies = new Map<string, string>();
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
  private running = false;
  private again = false;
  private resync = false;
  private listed = false;
  /** A periodic relist (nothing was missed): its lastSync rides with the next report write. */
  private relisted = false;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private retryTimer?: NodeJS.Timeout;
  private lastBanVersion = '';
  private lastFields = '';
  private lastEntries = new Set<string>();
  private readonly revisions: Partial<Record<EnforcedKind, number>> = {};
  private readonly states: Partial<Record<EnforcedKind, EnforcementState>> = {};
  /** Reconciles that completed, for tests. */
  reconciles = 0;
  private readonly metrics;

  constructor(private readonly opts: KubeWatchOptions) {
    const { reader, logger, registry } = opts;
    const client = <T,>(kind: WatchedKind) => new ResourceClient<T>(reader, kind);
    const informer = <T extends Watched>(kind: WatchedKind, invalid: Map<string, string>) => {
      const api = client<T>(kind);
      return new Informer<T>({
        name: `agent-${kind.plural}`,
        rest: reader,
        list: (o) => api.list(undefined, { limit: o.limit, continue: o._continue }) as never,
        watchPath: api.watchPath(),
        relistIntervalMs: opts.relistMs ?? 5 * 60_000,
        transform: admit<T>(kind, invalid),
        logger,
        registry,
      });
    };
    this.blockEvents = informer<BlockEvent>(BLOCK_EVENT, this.invalidBlockEvents);
    this.policies = informer<DefensePolicy>(DEFENSE_POLICY, this.invalidPolicies);
    this.enforcement = new BanEnforcement({ self: opts.self, bans: opts.bans, logger, now: opts.now });
    if (opts.signatures) {
      this.signatureRules = informer<SignatureRule>(SIGNATURE_RULE, this.invalidSignatureRules);
      this.signatureEnforcement = new SignatureEnforcement({ self: opts.self, signatures: opts.signatures, logger, now: opts.now });
    }
    this.metrics = {
      reconciles: counter(registry, { name: 'floodgate_agent_kube_reconciles_total', help: 'Reconciles of the bans with the BlockEvents this agent watches, by result', labelNames: ['result'] }),
      seconds: histogram(registry, { name: 'floodgate_agent_kube_reconcile_seconds', help: 'Time of one reconcile (firewall included)', buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10] }),
      held: gauge(registry, { name: 'floodgate_agent_kube_blockevents_held', help: 'BlockEvents whose ban this agent holds' }),
    };
    const changed = () => this.trigger();
    for (const inf of this.informers()) {
      inf.onAdd(changed);
      inf.onUpdate(changed);
      inf.onDelete(changed);
      inf.onListed((reason: RelistReason) => {
        opts.logger.debug({ informer: inf.name, reason }, 'relisted: reconciling everything');
        this.trigger(reason === 'periodic' ? 'relisted' : 'listed');
      });
    }
  }

  private informers(): Informer<Watched>[] {
    return [this.blockEvents, this.policies, ...(this.signatureRules ? [this.signatureRules] : [])] as Informer<Watched>[];
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    for (const inf of this.informers()) inf.start();
    this.opts.reporter?.start();
    this.opts.reporter?.synced('False', 'Starting', 'listing BlockEvents and DefensePolicies');
    this.timers.push(setInterval(() => this.trigger('resync'), this.opts.resyncMs ?? 30_000));
    if (this.opts.banVersion) {
      const version = this.opts.banVersion;
      this.timers.push(
        setInterval(() => {
          const v = version();
          if (v !== this.lastBanVersion) {
            this.lastBanVersion = v;
            this.trigger();
          }
        }, 250),
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all([...this.informers().map((i) => i.stop()), this.opts.reporter?.stop()]);
  }

  /** The reporter is back in touch with the API server: reconcile everything and say when it is synced again. */
  reconnected(): void {
    this.trigger('listed');
  }

  /**
   * Run a reconcile soon (coalesced). 'listed': after a LIST or a reconnect,
   * recorded as the report's lastSync and written at once; 'relisted': after
   * an informer's periodic LIST, recorded too but written with the next
   * report (every node relists every few minutes: a write each would cost the
   * controller what the node Lease spares it); 'resync': the periodic reconcile.
   */
  trigger(why: 'change' | 'resync' | 'listed' | 'relisted' = 'change'): void {
    if (this.stopped) return;
    if (why === 'listed') this.listed = true;
    if (why === 'relisted') this.relisted = true;
    if (why === 'resync') this.resync = true;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        if (!this.policies.hasSynced() || (!this.blockEvents.hasSynced() && !this.signatureRules?.hasSynced())) return; // onListed brings us back
        const listed: Listed = this.listed ? 'listed' : this.relisted ? 'relisted' : undefined;
        this.listed = false;
        this.relisted = false;
        this.resync = false;
        await this.reconcileOnce(listed);
      } while ((this.again || this.resync || this.listed || this.relisted) && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  private async reconcileOnce(listed: Listed): Promise<void> {
    const started = this.now();
    const policies = this.policies.list().filter((p) => !this.invalidPolicies.has(objectKey(p)));
    // Read first: everything up to these versions is in the caches we reconcile from.
    const kinds: [EnforcedKind, () => Promise<EnforcementState>, string][] = [];
    if (this.blockEvents.hasSynced()) {
      const revision = Number(this.blockEvents.lastSyncResourceVersion());
      const objects = this.blockEvents.list().filter((b) => !this.invalidBlockEvents.has(objectKey(b)));
      kinds.push(['BlockEvent', () => this.enforcement.reconcile(objects, policies, true), String(revision)]);
    }
    const sr = this.signatureRules;
    const se = this.signatureEnforcement;
    if (sr?.hasSynced() && se) {
      const revision = Number(sr.lastSyncResourceVersion());
      const objects = sr.list().filter((o) => !this.invalidSignatureRules.has(objectKey(o)));
      kinds.push(['SignatureRule', () => se.reconcile(objects, policies, true), String(revision)]);
    }
    for (const [kind, reconcile, revisionText] of kinds) {
      try {
        this.states[kind] = await reconcile();
      } catch (err) {
        this.metrics.reconciles.inc({ result: 'error' });
        const wait = this.backoff.next();
        this.opts.logger.error({ kind, err: errorMessage(err), retryInMs: wait }, 'applying what this agent watches failed');
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.trigger(listed ?? 'change'), wait);
        return;
      }
      const revision = Number(revisionText);
      if (Number.isSafeInteger(revision) && revision > 0) this.revisions[kind] = revision;
    }
    this.backoff.reset();
    this.reconciles++;
    const done = this.now();
    this.metrics.reconciles.inc({ result: 'ok' });
    this.metrics.seconds.observe((done - started) / 1000);
    const bans = this.states.BlockEvent;
    if (bans) {
      this.metrics.held.set(bans.applied);
      this.opts.onReconciled?.(bans, done);
    }
    this.report(policies, listed, done);
  }

  private report(policies: readonly DefensePolicy[], listed: Listed, now: number): void {
    const reporter = this.opts.reporter;
    if (!reporter) return;
    const invalid = (kind: EnforcedKind, map: Map<string, string>): ReportedFailure[] =>
      [...map].map(([key, message]) => {
        const [namespace = '', name = ''] = key.split('/');
        return { kind, namespace, name, message: `does not match the ${kind} schema: ${message}`.slice(0, 1024) };
      });
    const bans = this.states.BlockEvent;
    const rules = this.states.SignatureRule;
    const banFailures = [...(bans?.failures ?? []), ...invalid('BlockEvent', this.invalidBlockEvents)];
    const ruleFailures = [...(rules?.failures ?? []), ...invalid('SignatureRule', this.invalidSignatureRules)];
    const own = this.opts.bans
      .list()
      .filter((b) => b.source !== 'controller' && Date.parse(b.expiresAt) > now)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    const ownBans: ReportedOwnBan[] = own.slice(0, MAX_REPORTED_OWN_BANS).map((b) => ({
      cidr: b.cidr,
      source: b.source,
      reason: b.reason.slice(0, 500),
      createdAt: rfc3339(Date.parse(b.createdAt)),
      expiresAt: rfc3339(Date.parse(b.expiresAt)),
      offenceCount: Math.max(1, b.offenceCount),
    }));
    const counts = (state: EnforcementState | undefined, failed: number, kind: EnforcedKind) => ({
      applied: state?.applied ?? 0,
      failed,
      ...(this.revisions[kind] !== undefined ? { revision: this.revisions[kind] } : {}),
    });
    const fields: Partial<FloodgateNodeStatus> = {
      agent: this.opts.agent,
      policies: policies.filter((p) => policySelects(p, this.opts.self)).map(policyKey).sort(),
      failures: [...banFailures, ...ruleFailures].slice(0, MAX_REPORTED_FAILURES),
      released: [...(bans?.released ?? []), ...(rules?.released ?? [])].slice(0, 100),
      ownBans,
      ownBansTotal: own.length,
    };
    const withCounts = {
      ...fields,
      blockEvents: counts(bans, banFailures.length, 'BlockEvent'),
      ...(this.signatureRules ? { signatureRules: counts(rules, ruleFailures.length, 'SignatureRule') } : {}),
    };
    // Written at once when the fields changed (refused, released, policies, own bans) or after
    // a list, with the revisions it is current to; something newly held, and nothing else, is
    // progress, written at the node's slot (node-report.ts) since every node of the policy has
    // it too. Anything else (the controller's status write of an object, another node's
    // object, something lifted or expired here) moves the report only in memory: the next
    // write or heartbeat carries it.
    const text = JSON.stringify(fields);
    const entries = [...(bans?.entries ?? []).map((e) => `b ${e}`), ...(rules?.entries ?? []).map((e) => `s ${e}`)];
    const news = entries.filter((e) => !this.lastEntries.has(e));
    this.lastEntries = new Set(entries);
    const synced = listed ? { lastSync: rfc3339(now) } : {};
    if (text !== this.lastFields || listed === 'listed') {
      this.lastFields = text;
      reporter.update({ ...withCounts, ...synced });
    } else if (news.length) {
      reporter.progress({ ...withCounts, ...synced }, fanOut(news, policies, (kind, key) => (kind === 'b' ? this.blockEvents.getByKey(key) : this.signatureRules?.getByKey(key))));
    } else reporter.quietly({ ...withCounts, ...synced });
    if (listed === 'listed' && !reporter.isStale()) reporter.synced('True', 'Resynced', `listed and applied at ${rfc3339(now)}`);
  }
}
