// Reads the node Leases (api/v1alpha1/node-lease.ts) into NodeReports. The
// controller lists them rather than watching them: a watch decodes every
// renewal of every node one event at a time, and measured at 1,000 nodes that
// cost the controller more than these lists do (docs/fanout.md). While some
// object's count is incomplete it lists every 55 ms per node (0.5 to 60 s):
// the nodes spread what they newly hold over 50 ms per node (20 reports a
// second), so one list after a new object has every node's answer, and a
// count completes in about one spread; lists at a faster pace would read the
// same Leases again for a partial count. Otherwise every 60 ms per node (20
// to 60 s), which still reads every Lease three times before it expires. The
// list comes in pages of PAGE Leases, each read and dropped before the next is
// asked for, so that a list of 1,000 never lives in the controller's heap at
// once (a large short-lived allocation is what costs a garbage collector
// most); a Lease whose resourceVersion did not move since the last list is
// not read again.
import type { Logger } from 'pino';
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../lib/metrics.js';
import { NODE_LEASE_SELECTOR, parseNodeLease, type NodeLease } from '../../api/v1alpha1/index.js';
import { LEASES } from '../../kube/kube-apis.js';
import { ResourceClient } from '../../kube/resource-client.js';
import type { RestClient } from '../../kube/rest-client.js';
import { errorMessage } from '../../kube/util.js';
import type { NodeEntry, NodeReports } from './node-reports.js';

export interface NodeLeaseListerOptions {
  rest: RestClient;
  /** Where the controller made the node Leases (the node identity namespace). */
  namespace: string;
  reports: NodeReports;
  /** An entry moved (a revision, or its silence): recount what it enforces. */
  onMoved: (before: NodeEntry | undefined, after: NodeEntry) => void;
  /** True while some object's node count is incomplete. */
  waiting: () => boolean;
  logger: Logger;
  registry?: Registry;
  /** Between lists while a count waits, per node: default 55 ms (0.5 to 60 s). */
  busyMsPerNode?: number;
  /** Between lists when no count waits, per node: default 60 ms (20 to 60 s). */
  idleMsPerNode?: number;
}

/** Leases per page of a list. */
const PAGE = 100;

type LeaseItem = { metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown } };

export class NodeLeaseLister {
  private timer?: NodeJS.Timeout;
  private nextAt = Infinity;
  private running = false;
  private stopped = false;
  private readonly refused = new Set<string>();
  private readonly elsewhere = new Set<string>();
  private failing = false;
  /** The last read of each Lease, by namespace/name, with its resourceVersion. */
  private read = new Map<string, { rv?: string; lease: NodeLease }>();
  private readonly metrics?: { lists: Counter<'result'>; leases: Gauge; moved: Counter };

  private readonly leases: ResourceClient<LeaseItem>;

  constructor(private readonly opts: NodeLeaseListerOptions) {
    this.leases = new ResourceClient<LeaseItem>(opts.rest, LEASES);
    const r = opts.registry;
    if (r) {
      this.metrics = {
        lists: counter(r, { name: 'floodgate_node_lease_lists_total', help: 'Lists of the node Leases, by result (ok, error)', labelNames: ['result'] }),
        leases: gauge(r, { name: 'floodgate_node_leases', help: 'Node Leases read in the last list' }),
        moved: counter(r, { name: 'floodgate_node_lease_moves_total', help: 'Node Leases whose revision or silence moved between lists (each brings back what it enforces)' }),
      };
    }
  }

  /** Between lists while a count waits. */
  get busyMs(): number {
    return Math.max(500, Math.min(60_000, this.opts.reports.size * (this.opts.busyMsPerNode ?? 55)));
  }

  /** Between lists when no count waits. */
  get idleMs(): number {
    return Math.max(20_000, Math.min(60_000, this.opts.reports.size * (this.opts.idleMsPerNode ?? 60)));
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** A count may have become incomplete (an object's status changed): list within busyMs. */
  nudge(): void {
    this.schedule(this.busyMs);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    const at = Date.now() + ms;
    if (this.running || at >= this.nextAt) return;
    this.nextAt = at;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  /** List now (tests call it directly). */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.nextAt = Infinity;
    try {
      if (!this.opts.reports.withLeases) return;
      const leases: NodeLease[] = [];
      const read = new Map<string, { rv?: string; lease: NodeLease }>();
      let next: string | undefined;
      do {
        const page = await this.leases.list(this.opts.namespace, { labelSelector: NODE_LEASE_SELECTOR, limit: PAGE, continue: next });
        this.readPage(page.items, leases, read);
        next = page.metadata.continue || undefined;
      } while (next);
      this.read = read;
      const { moved } = this.opts.reports.setLeases(leases);
      for (const e of this.opts.reports.all()) {
        if (!e.lease || e.lease.startsWith(`${this.opts.namespace}/`) || this.elsewhere.has(e.name)) continue;
        this.elsewhere.add(e.name);
        this.opts.logger.warn(
          { node: e.name, lease: e.lease, namespace: this.opts.namespace },
          "this node's Lease is not in the controller's namespace, where it lists them: the node is counted by its report alone (run floodgate node-identity with --namespace set to the controller's)",
        );
      }
      for (const m of moved) this.opts.onMoved(m.before, m.after);
      this.opts.logger.debug({ leases: leases.length, moved: moved.length }, 'node Leases listed');
      this.metrics?.lists.inc({ result: 'ok' });
      this.metrics?.leases.set(leases.length);
      this.metrics?.moved.inc(moved.length);
      if (this.failing) this.opts.logger.info({ namespace: this.opts.namespace }, 'node Leases listed again');
      this.failing = false;
    } catch (err) {
      this.metrics?.lists.inc({ result: 'error' });
      if (!this.failing) {
        this.opts.logger.warn(
          { namespace: this.opts.namespace, err: errorMessage(err) },
          'cannot list the node Leases (the controller needs list on leases in this namespace): the Leases last listed are used meanwhile',
        );
      }
      this.failing = true;
    } finally {
      this.running = false;
      this.schedule(this.opts.waiting() ? this.busyMs : this.idleMs);
    }
  }

  /** Read one page of Leases (a Lease that did not move since the last list: as read then). */
  private readPage(items: LeaseItem[], leases: NodeLease[], read: Map<string, { rv?: string; lease: NodeLease }>): void {
    for (const item of items) {
      const key = `${String(item?.metadata?.namespace)}/${String(item?.metadata?.name)}`;
      const rv = typeof item?.metadata?.resourceVersion === 'string' ? item.metadata.resourceVersion : undefined;
      const seen = this.read.get(key);
      if (rv !== undefined && seen?.rv === rv) {
        leases.push(seen.lease);
        read.set(key, seen);
        continue;
      }
      const r = parseNodeLease(item);
      if (r.ok) {
        leases.push(r.lease);
        read.set(key, { rv, lease: r.lease });
      } else if (!this.refused.has(`${key}: ${r.error}`)) {
        // Once per Lease and reason; its node is counted by its report meanwhile.
        this.refused.add(`${key}: ${r.error}`);
        this.opts.logger.warn({ lease: key, why: r.error }, 'node Lease ignored: it does not match the node Lease contract');
      }
    }
  }
}
