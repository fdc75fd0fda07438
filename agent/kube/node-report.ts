// The agent's FloodgateNode report: what it holds, its own bans, its last
// sync. Written through the status subresource of its own FloodgateNode with
// its node's identity (node-identity.ts), which may write no other node's.
//
// Writes are coalesced (at most one per minIntervalMs; a change waits at most
// that long) and repeated every heartbeatSeconds, so the controller can tell a
// node that stopped reporting. A write that fails marks the agent cut off from
// the API server from that moment; it keeps enforcing what it had, retries
// with backoff, and its first successful write after that says for how long it
// was cut off (status.lastStale, Synced=False reason Stale) until the watch has
// resynced (Synced=True reason Resynced).
import type { Logger } from 'pino';
import { Backoff } from '../../lib/backoff.js';
import { setCondition } from '../../api/v1alpha1/conditions.js';
import { FloodgateNodeConditions, type Condition, type FloodgateNode, type FloodgateNodeStatus } from '../../api/v1alpha1/index.js';
import type { ResourceClient } from '../../kube/resource-client.js';
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
  now?: () => number;
  /** Called after the first successful write that follows failed ones. */
  onReconnected?: () => void;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class NodeReporter {
  private status: FloodgateNodeStatus = {};
  private dirty = true;
  private writing = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private lastWriteAt = 0;
  private staleSince?: number;
  private readonly backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
  private retryAt = 0;
  private warnedMissing = false;
  private conditions: Condition[] = [];
  /** Writes that reached the API server, for tests and the simulator. */
  writes = 0;

  constructor(private readonly opts: NodeReporterOptions) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  get heartbeatMs(): number {
    return (this.opts.heartbeatSeconds ?? 60) * 1000;
  }

  /** True while writes fail (the API server cannot be reached). */
  isStale(): boolean {
    return this.staleSince !== undefined;
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Merge fields into the report; written within minIntervalMs. */
  update(fields: Partial<FloodgateNodeStatus>): void {
    this.status = { ...this.status, ...fields };
    this.dirty = true;
    this.schedule(Math.max(0, this.lastWriteAt + (this.opts.minIntervalMs ?? 500) - this.now()));
  }

  /** Merge fields without asking for a write: the next write (a change or the heartbeat) carries them. */
  quietly(fields: Partial<FloodgateNodeStatus>): void {
    this.status = { ...this.status, ...fields };
  }

  /** Set the Synced condition (kept across updates). */
  synced(status: Condition['status'], reason: string, message: string): void {
    const before = JSON.stringify(this.conditions);
    this.conditions = setCondition(this.conditions, { type: FloodgateNodeConditions.Synced, status, reason, message }, undefined, new Date(this.now()));
    if (JSON.stringify(this.conditions) !== before) this.update({});
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    const at = Math.max(ms, this.retryAt - this.now());
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), Math.max(0, at));
  }

  private async flush(): Promise<void> {
    if (this.writing || this.stopped) return;
    this.writing = true;
    const now = this.now();
    try {
      const client = await this.opts.identity.client();
      const status: FloodgateNodeStatus = {
        ...this.status,
        heartbeatTime: rfc3339(now),
        heartbeatSeconds: this.opts.heartbeatSeconds ?? 60,
        ...(this.conditions.length ? { conditions: this.conditions } : {}),
      };
      const reconnected = this.staleSince !== undefined;
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
      this.dirty = false;
      await client.patchStatus({ name: this.opts.node }, status);
      this.writes++;
      this.lastWriteAt = now;
      this.backoff.reset();
      this.retryAt = 0;
      this.warnedMissing = false;
      if (reconnected) {
        this.opts.logger.warn({ from: status.lastStale?.from, until: status.lastStale?.until }, 'reached the API server again: reported the time it was cut off');
        this.staleSince = undefined;
        this.opts.onReconnected?.();
      }
    } catch (err) {
      this.dirty = true;
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
      this.schedule(this.dirty ? 0 : this.heartbeatMs);
    }
  }
}
