// The agent's watch on the API server (docs/fanout.md): informers on
// BlockEvents and DefensePolicies (the same informer as the controller's,
// kube/informer.ts), the ban enforcement (ban-enforcement.ts) run on every
// change, every relist and at start, and the node's report (node-report.ts).
//
// One reconcile runs at a time; changes that arrive meanwhile coalesce into
// the next one. The report's appliedRevision is the BlockEvent informer's
// resourceVersion read before a reconcile that then succeeded: everything up
// to it is in the firewall. The controller compares it with each
// BlockEvent's status.nodes.revision to count the nodes that hold it.
//
// Without the API server the agent keeps what it has: the caches stay as they
// were, the bans stay in the firewall, its own bans keep being made; the
// report says how long it was cut off once it is back.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BLOCK_EVENT, DEFENSE_POLICY, MAX_REPORTED_OWN_BANS, resolveObject, type BlockEvent, type DefensePolicy, type FloodgateNodeStatus, type ReportedFailure, type ReportedOwnBan } from '../../api/v1alpha1/index.js';
import { Backoff } from '../../lib/backoff.js';
import { counter, gauge, histogram } from '../../lib/metrics.js';
import { Informer, objectKey, type RelistReason } from '../../kube/informer.js';
import { ResourceClient } from '../../kube/resource-client.js';
import type { RestClient } from '../../kube/rest-client.js';
import { errorMessage } from '../../kube/util.js';
import { policyKey, policySelects, type AgentSelf } from './agent-self.js';
import { BanEnforcement, type BanSink, type EnforcementState } from './ban-enforcement.js';
import type { NodeReporter } from './node-report.js';

export interface KubeWatchOptions {
  self: AgentSelf;
  /** Reads (list/watch): the agent pod's ServiceAccount, or the host agent's kubeconfig. */
  reader: RestClient;
  bans: BanSink;
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

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Objects as the agent keeps them: spec resolved by the kind's schema, no status or managedFields (never read here). */
function admit<T extends BlockEvent | DefensePolicy>(kind: typeof BLOCK_EVENT | typeof DEFENSE_POLICY, invalid: Map<string, string>) {
  return (raw: T): T => {
    const { object, problems } = resolveObject(kind, raw);
    const key = objectKey(object);
    if (problems.length) invalid.set(key, problems.join('; '));
    else invalid.delete(key);
    delete object.metadata.managedFields;
    if (kind === BLOCK_EVENT) delete (object as { status?: unknown }).status;
    return object as T;
  };
}

export class KubeWatch {
  readonly blockEvents: Informer<BlockEvent>;
  readonly policies: Informer<DefensePolicy>;
  private readonly enforcement: BanEnforcement;
  private readonly invalidBlockEvents = new Map<string, string>();
  private readonly invalidPolicies = new Map<string, string>();
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
  private running = false;
  private again = false;
  private resync = false;
  private listed = false;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private retryTimer?: NodeJS.Timeout;
  private lastBanVersion = '';
  private lastFields = '';
  private lastEntries = new Set<string>();
  private appliedRevision?: number;
  /** Reconciles that completed, for tests. */
  reconciles = 0;
  private readonly metrics;

  constructor(private readonly opts: KubeWatchOptions) {
    const { reader, logger, registry } = opts;
    const client = <T,>(kind: typeof BLOCK_EVENT | typeof DEFENSE_POLICY) => new ResourceClient<T>(reader, kind);
    const informer = <T extends BlockEvent | DefensePolicy>(kind: typeof BLOCK_EVENT | typeof DEFENSE_POLICY, invalid: Map<string, string>) => {
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
    this.metrics = {
      reconciles: counter(registry, { name: 'floodgate_agent_kube_reconciles_total', help: 'Reconciles of the bans with the BlockEvents this agent watches, by result', labelNames: ['result'] }),
      seconds: histogram(registry, { name: 'floodgate_agent_kube_reconcile_seconds', help: 'Time of one reconcile (firewall included)', buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10] }),
      held: gauge(registry, { name: 'floodgate_agent_kube_blockevents_held', help: 'BlockEvents whose ban this agent holds' }),
    };
    const changed = () => this.trigger();
    for (const inf of [this.blockEvents, this.policies] as Informer<BlockEvent | DefensePolicy>[]) {
      inf.onAdd(changed);
      inf.onUpdate(changed);
      inf.onDelete(changed);
      inf.onListed((reason: RelistReason) => {
        opts.logger.debug({ informer: inf.name, reason }, 'relisted: reconciling everything');
        this.trigger('listed');
      });
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    this.blockEvents.start();
    this.policies.start();
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
    await Promise.all([this.blockEvents.stop(), this.policies.stop(), this.opts.reporter?.stop()]);
  }

  /** The reporter is back in touch with the API server: reconcile everything and say when it is synced again. */
  reconnected(): void {
    this.trigger('listed');
  }

  /**
   * Run a reconcile soon (coalesced). 'listed': after a LIST or a reconnect,
   * recorded as the report's lastSync; 'resync': the periodic one.
   */
  trigger(why: 'change' | 'resync' | 'listed' = 'change'): void {
    if (this.stopped) return;
    if (why === 'listed') this.listed = true;
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
        if (!this.blockEvents.hasSynced() || !this.policies.hasSynced()) return; // onListed brings us back
        const listed = this.listed;
        this.listed = false;
        this.resync = false;
        await this.reconcileOnce(listed);
      } while ((this.again || this.resync || this.listed) && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  private async reconcileOnce(listed: boolean): Promise<void> {
    const started = this.now();
    // Read first: everything up to this version is in the caches we reconcile from.
    const revision = Number(this.blockEvents.lastSyncResourceVersion());
    const objects = this.blockEvents.list().filter((b) => !this.invalidBlockEvents.has(objectKey(b)));
    const policies = this.policies.list().filter((p) => !this.invalidPolicies.has(objectKey(p)));
    let state: EnforcementState;
    try {
      state = await this.enforcement.reconcile(objects, policies, true);
    } catch (err) {
      this.metrics.reconciles.inc({ result: 'error' });
      const wait = this.backoff.next();
      this.opts.logger.error({ err: errorMessage(err), retryInMs: wait }, 'applying the watched BlockEvents failed');
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.trigger(listed ? 'listed' : 'change'), wait);
      return;
    }
    this.backoff.reset();
    this.reconciles++;
    const done = this.now();
    this.metrics.reconciles.inc({ result: 'ok' });
    this.metrics.seconds.observe((done - started) / 1000);
    this.metrics.held.set(state.applied);
    if (Number.isSafeInteger(revision) && revision > 0) this.appliedRevision = revision;
    this.opts.onReconciled?.(state, done);
    this.report(state, policies, listed, done);
  }

  private report(state: EnforcementState, policies: readonly DefensePolicy[], listed: boolean, now: number): void {
    const reporter = this.opts.reporter;
    if (!reporter) return;
    const invalid: ReportedFailure[] = [...this.invalidBlockEvents].map(([key, message]) => {
      const [namespace = '', name = ''] = key.split('/');
      return { kind: 'BlockEvent', namespace, name, message: `does not match the BlockEvent schema: ${message}`.slice(0, 1024) };
    });
    const failures = [...state.failures, ...invalid].slice(0, 100);
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
    const fields: Partial<FloodgateNodeStatus> = {
      agent: this.opts.agent,
      policies: policies.filter((p) => policySelects(p, this.opts.self)).map(policyKey).sort(),
      blockEvents: { applied: state.applied, failed: failures.length },
      failures,
      released: state.released,
      ownBans,
      ownBansTotal: own.length,
    };
    const revision = this.appliedRevision !== undefined ? { appliedRevision: this.appliedRevision } : {};
    // Written when the controller would count something new on this node (held, refused,
    // released), or the other fields changed, with the revision it is current to. Anything
    // else (the controller's status write of an object, another node's object, a ban lifted
    // or expired here) moves the report only in memory: the next write or heartbeat carries it.
    const { blockEvents: _counts, ...compared } = fields;
    const text = JSON.stringify(compared);
    const news = state.entries.some((e) => !this.lastEntries.has(e));
    this.lastEntries = new Set(state.entries);
    if (news || text !== this.lastFields || listed) {
      this.lastFields = text;
      reporter.update({ ...fields, ...revision, ...(listed ? { lastSync: rfc3339(now) } : {}) });
    } else reporter.quietly({ ...fields, ...revision });
    if (listed && !reporter.isStale()) reporter.synced('True', 'Resynced', `listed and applied at ${rfc3339(now)}`);
  }
}
