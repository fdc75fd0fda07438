// The agent's FloodgateNode report: what it holds, its own bans, its last
// sync. Written through the status subresource of its own FloodgateNode with
// its node's identity (node-identity.ts), which may write no other node's.
//
// Writes are coalesced (at most one per minIntervalMs; a change waits at most
// that long) and repeated every heartbeatSeconds, so the controller can tell a
// node that stopped reporting. A write that only says "now held" (progress())
// waits for the node's slot in each nodes / reportsPerSecond seconds: every
// node of a policy gets a ban within a second, and if all of them wrote then,
// the controller and the API server would pay one write per node per ban.
// With slots the nodes of a policy write about reportsPerSecond a second
// together, however many they are and however fast bans come
// (docs/fanout.md).
//
// Where the controller set the node's Lease (spec.lease, api/v1alpha1/node-lease.ts),
// heartbeats and progress renew that Lease instead, which the controller
// lists but does not watch: the FloodgateNode is then written only when
// something else in it changes (a refusal, a release, an own ban, a policy, a
// list), and every REPORT_EVERY_HEARTBEATS heartbeats, as the kubelet writes
// its Node beside its node Lease. Without a Lease (an older controller, or
// one the node may not write), everything goes in the FloodgateNode.
//
// A write that fails marks the agent cut off from
// the API server from that moment; it keeps enforcing what it had, retries
// with backoff, and its first successful write after that says for how long it
// was cut off (status.lastStale, Synced=False reason Stale) until the watch has
// resynced (Synced=True reason Resynced).
import type { Logger } from 'pino';
import { Backoff } from '../../lib/backoff.js';
import { setCondition } from '../../api/v1alpha1/conditions.js';
import {
  FloodgateNodeConditions,
  MAX_REPORT_SECONDS,
  NODE_LEASE_HEARTBEATS,
  nodeLeasePatch,
  type Condition,
  type FloodgateNode,
  type FloodgateNodeStatus,
} from '../../api/v1alpha1/index.js';
import { LEASES } from '../../kube/kube-apis.js';
import { ResourceClient, type NamespacedName } from '../../kube/resource-client.js';
import { errorMessage, statusCodeOf } from '../../kube/util.js';

export interface NodeIdentitySource {
  /** The client that writes the node's report (ensuring a fresh credential first). */
  client(): Promise<ResourceClient<FloodgateNode>>;
  /** The credential was refused (401): get a new one next time. */
  invalidate(): void;
}

export interface NodeReporterOptions {
  node: string;
  identity: NodeIdentitySource;
  logger: Logger;
  heartbeatSeconds?: number;
  minIntervalMs?: number;
  /** What the nodes of one policy write together, at most, a second for progress() reports. Default 20. */
  reportsPerSecond?: number;
  now?: () => number;
  /** In [0, 1): the node's progress slot in each spread, and the heartbeat's jitter. Default Math.random. */
  random?: () => number;
  /** Called after the first successful write that follows failed ones. */
  onReconnected?: () => void;
}

/**
 * With a Lease, the FloodgateNode is written at least every this many
 * heartbeats (and every MAX_REPORT_SECONDS): the kubelet's ratio (its node
 * Lease every 10 s, its Node status every 5 minutes). Every report is an
 * event the controller decodes; at 1,000 nodes every 5 heartbeats was a large
 * part of what its CPU grew by (docs/fanout.md).
 */
export const REPORT_EVERY_HEARTBEATS = 30;
/** A node whose Lease could not be used (none named, 403, 404) looks for it again after this many heartbeats. */
const LEASE_RETRY_HEARTBEATS = 5;

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class NodeReporter {
  private status: FloodgateNodeStatus = {};
  /** When the report, changed, should be written (Infinity: nothing to write but the heartbeat). */
  private wantAt = 0;
  private writing = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private lastWriteAt = 0;
  /** The next heartbeat comes after this part of heartbeatSeconds (0.9-1). */
  private jitter = 1;
  /** Where in each spread this node's progress slot is, 0-1 (progress()). */
  private readonly phase: number;
  private staleSince?: number;
  private readonly backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
  private retryAt = 0;
  private warnedMissing = false;
  private conditions: Condition[] = [];
  /** Something but progress changed since the FloodgateNode was last written. */
  private reportDue = true;
  /** With a Lease: when the report is written again, if nothing changes before. */
  private reportDueAt = 0;
  private startedAt = 0;
  /** The node's Lease: undefined until looked up, null if it has none (looked up again at leaseRetryAt). */
  private lease?: NamespacedName | null;
  private leaseRetryAt = 0;
  /** Writes that reached the API server (FloodgateNode and Lease), for tests and the simulator. */
  writes = 0;
  /** Of them, Lease renewals. */
  leaseWrites = 0;

  constructor(private readonly opts: NodeReporterOptions) {
    this.phase = (opts.random ?? Math.random)();
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  get heartbeatMs(): number {
    return (this.opts.heartbeatSeconds ?? 60) * 1000;
  }

  /** How often the report is written at least: every heartbeat, or with a Lease every REPORT_EVERY_HEARTBEATS. */
  private get reportSeconds(): number {
    const s = this.opts.heartbeatSeconds ?? 60;
    return this.lease ? Math.min(s * REPORT_EVERY_HEARTBEATS, MAX_REPORT_SECONDS) : s;
  }

  /** True while writes fail (the API server cannot be reached). */
  isStale(): boolean {
    return this.staleSince !== undefined;
  }

  start(): void {
    this.startedAt = this.now();
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Merge fields into the report; written within minIntervalMs. */
  update(fields: Partial<FloodgateNodeStatus>): void {
    this.status = { ...this.status, ...fields };
    this.reportDue = true;
    this.want(this.now());
  }

  /**
   * Merge fields that only say more is held now (what the controller counts
   * as "applied on n/N nodes"): written at this node's next slot, within
   * spread = nodes / reportsPerSecond seconds (at most a heartbeat), or with
   * any earlier write. So each node writes progress at most once a spread,
   * and the nodes together about reportsPerSecond a second, however fast
   * bans come. `nodes`: how many nodes enforce what is newly held. With a
   * Lease, written there.
   */
  progress(fields: Partial<FloodgateNodeStatus>, nodes: number): void {
    this.status = { ...this.status, ...fields };
    const minMs = this.opts.minIntervalMs ?? 500;
    const spreadMs = Math.min(this.heartbeatMs, (Math.max(1, nodes) / (this.opts.reportsPerSecond ?? 20)) * 1000);
    if (spreadMs <= minMs) return this.want(this.now());
    // The node's next slot: the wall-clock moments (k + phase) x spread. Slots are a spread
    // apart, so a node writes progress at most once a spread; phases are random, so the nodes
    // write evenly (a random wait per ban would bunch them when bans come fast).
    const k = Math.ceil((this.now() + minMs) / spreadMs - this.phase);
    this.want((k + this.phase) * spreadMs);
  }

  /** The report should be written by `at`. */
  private want(at: number): void {
    if (at >= this.wantAt) return;
    this.wantAt = at;
    this.arm();
  }

  /** Merge fields without asking for a write: the next write (a change, progress or the heartbeat) carries them. */
  quietly(fields: Partial<FloodgateNodeStatus>): void {
    this.status = { ...this.status, ...fields };
  }

  /** Set the Synced condition (kept across updates). */
  synced(status: Condition['status'], reason: string, message: string): void {
    const before = JSON.stringify(this.conditions);
    this.conditions = setCondition(this.conditions, { type: FloodgateNodeConditions.Synced, status, reason, message }, undefined, new Date(this.now()));
    if (JSON.stringify(this.conditions) !== before) this.update({});
  }

  /** The timer: the wanted write, else the heartbeat; not within minIntervalMs of the last write, nor before a retry's backoff. */
  private arm(): void {
    if (this.stopped || this.writing) return; // flush() arms it when it is done
    const wanted = Math.max(this.wantAt, this.lastWriteAt + (this.opts.minIntervalMs ?? 500));
    const at = Math.max(Math.min(wanted, this.lastWriteAt + this.heartbeatMs * this.jitter), this.retryAt);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), Math.max(0, at - this.now()));
  }

  private async flush(): Promise<void> {
    if (this.writing || this.stopped) return;
    this.writing = true;
    const now = this.now();
    const reportDue = this.reportDue;
    try {
      const client = await this.opts.identity.client();
      const reconnected = this.staleSince !== undefined;
      const lease = await this.leaseOf(client, now);
      this.wantAt = Infinity; // changes made while this write runs want their own
      if (lease && !reportDue && !reconnected && now < this.reportDueAt && (await this.renew(client, lease, now))) {
        this.written(now);
        return;
      }
      this.reportDue = false;
      const status: FloodgateNodeStatus = {
        ...this.status,
        heartbeatTime: rfc3339(now),
        heartbeatSeconds: this.reportSeconds,
        ...(this.conditions.length ? { conditions: this.conditions } : {}),
      };
      if (reconnected) {
        status.lastStale = { from: rfc3339(this.staleSince as number), until: rfc3339(now), bans: status.blockEvents?.applied ?? 0 };
        this.status.lastStale = status.lastStale;
        this.conditions = setCondition(
          this.conditions,
          { type: FloodgateNodeConditions.Synced, status: 'False', reason: 'Stale', message: `cut off from the API server from ${status.lastStale.from} to ${status.lastStale.until}; kept enforcing ${status.lastStale.bans} ban(s); resyncing` },
          undefined,
          new Date(now),
        );
        status.conditions = this.conditions;
      }
      await client.patchStatus({ name: this.opts.node }, status);
      // After the writes of a start (listed, synced: before the first heartbeat) the wait is
      // random, so that nodes started together (a rollout, a power cut) spread their reports.
      const random = (this.opts.random ?? Math.random)();
      const starting = now < this.startedAt + this.heartbeatMs * 0.9;
      this.reportDueAt = now + this.reportSeconds * 1000 * (starting ? random : 0.9 + 0.1 * random);
      this.written(now);
      if (reconnected) {
        this.opts.logger.warn({ from: status.lastStale?.from, until: status.lastStale?.until }, 'reached the API server again: reported the time it was cut off');
        this.staleSince = undefined;
        this.opts.onReconnected?.();
      }
    } catch (err) {
      this.wantAt = Math.min(this.wantAt, now);
      this.reportDue ||= reportDue;
      const code = statusCodeOf(err);
      if (code === 401) this.opts.identity.invalidate();
      if (code === 404) {
        if (!this.warnedMissing) this.opts.logger.warn({ node: this.opts.node }, `FloodgateNode ${this.opts.node} does not exist: the controller creates it when it issues this node's identity (or floodgate node-identity for a host agent)`);
        this.warnedMissing = true;
      } else if (code === 403) {
        this.opts.logger.error({ node: this.opts.node, err: errorMessage(err) }, 'this identity may not write this node\'s report');
      } else if (this.staleSince === undefined) {
        // No answer (or a server error): cut off from here on; keep enforcing what we have.
        this.staleSince = now;
        this.opts.logger.warn({ err: errorMessage(err) }, 'cannot reach the API server: enforcing what this agent has until it is back');
      }
      this.retryAt = this.now() + this.backoff.next();
    } finally {
      this.writing = false;
      this.arm();
    }
  }

  private written(now: number): void {
    this.writes++;
    this.lastWriteAt = now;
    // Nodes started together (a rollout, a power cut) would otherwise beat together for ever.
    this.jitter = 0.9 + 0.1 * (this.opts.random ?? Math.random)();
    this.backoff.reset();
    this.retryAt = 0;
    this.warnedMissing = false;
  }

  /** The node's Lease as its FloodgateNode names it (looked up once, and again a while after it failed). */
  private async leaseOf(client: ResourceClient<FloodgateNode>, now: number): Promise<NamespacedName | null> {
    if (this.lease === undefined || (this.lease === null && now >= this.leaseRetryAt)) {
      const own = await client.get({ name: this.opts.node });
      this.lease = own.spec?.lease ?? null;
      if (!this.lease) this.leaseRetryAt = now + LEASE_RETRY_HEARTBEATS * this.heartbeatMs;
    }
    return this.lease;
  }

  /** Renew the Lease with the applied revisions; false if the node may not (its report carries everything meanwhile). */
  private async renew(client: ResourceClient<FloodgateNode>, lease: NamespacedName, now: number): Promise<boolean> {
    const leases = new ResourceClient(client.api.rest, LEASES);
    const heartbeatSeconds = this.opts.heartbeatSeconds ?? 60;
    try {
      await leases.patch(
        lease,
        nodeLeasePatch({
          node: this.opts.node,
          now,
          durationSeconds: NODE_LEASE_HEARTBEATS * heartbeatSeconds,
          blockEvents: this.status.blockEvents,
          signatureRules: this.status.signatureRules,
        }),
      );
      this.leaseWrites++;
      return true;
    } catch (err) {
      const code = statusCodeOf(err);
      if (code !== 403 && code !== 404) throw err;
      this.opts.logger.warn(
        { lease: `${lease.namespace}/${lease.name}`, code, err: errorMessage(err) },
        'cannot renew the node Lease: heartbeats go in the FloodgateNode report (the controller creates the Lease and its Role with the node identity)',
      );
      this.lease = null;
      this.leaseRetryAt = now + LEASE_RETRY_HEARTBEATS * this.heartbeatMs;
      return false;
    }
  }
}
