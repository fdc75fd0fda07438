/**
 * An in-memory stand-in for one Kubernetes resource, enough to drive the
 * Informer without a server: LIST at the current resourceVersion, WATCH from
 * a resourceVersion (replaying history), compaction (watch from before it ->
 * ERROR 410 event), an outage (watches fail to connect), and silent changes
 * that no open watch sees. It counts calls and concurrent watches.
 */
import type { KubernetesListObject } from '@kubernetes/client-node';
import type { ListOptions, WatchFn, WatchHandle } from '../../kube/informer.js';

export interface Widget {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  spec?: { size?: number };
}

interface HistoryEntry {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: Widget;
}

interface ActiveWatch {
  id: number;
  onEvent: (type: string, obj: unknown) => void;
  onDone: (err: unknown) => void;
  closed: boolean;
  /** Replay done: live events are delivered. */
  live?: boolean;
}

export class FakeApi {
  rv = 1000;
  private uidSeq = 0;
  readonly objects = new Map<string, Widget>();
  private history: HistoryEntry[] = [];
  /** Watches from a resourceVersion below this get ERROR 410. */
  compactedRv = 0;
  /** Watch connections fail (as ECONNREFUSED) while true. */
  down = false;
  /** Watches connect but never send anything while true. */
  mute = false;
  /** How the next watches fail: 'http410' makes the request itself fail with statusCode 410. */
  failWatchWith?: 'http410' | 'error';
  /** LIST fails while set. */
  failList?: Error;
  /** LIST never answers while true. */
  hangList = false;

  readonly active = new Map<number, ActiveWatch>();
  private watchSeq = 0;
  maxConcurrentWatches = 0;
  watchCalls = 0;
  listCalls = 0;
  readonly watchQueries: Record<string, unknown>[] = [];

  constructor(readonly namespace = 'default') {}

  private key(name: string): string {
    return `${this.namespace}/${name}`;
  }

  private record(type: HistoryEntry['type'], obj: Widget, silent: boolean): void {
    // A silent change is lost: no open watch sees it and no replay has it.
    if (silent) return;
    this.history.push({ rv: this.rv, type, obj });
    if (this.mute) return;
    for (const w of this.active.values()) if (!w.closed && w.live) w.onEvent(type, obj);
  }

  create(name: string, size: number, opts: { silent?: boolean } = {}): Widget {
    this.rv++;
    const obj: Widget = {
      apiVersion: 'test.floodgate.dev/v1alpha1',
      kind: 'Widget',
      metadata: { name, namespace: this.namespace, uid: `uid-${++this.uidSeq}`, resourceVersion: String(this.rv) },
      spec: { size },
    };
    this.objects.set(this.key(name), obj);
    this.record('ADDED', obj, opts.silent ?? false);
    return obj;
  }

  update(name: string, size: number, opts: { silent?: boolean } = {}): Widget {
    const old = this.objects.get(this.key(name));
    if (!old) throw new Error(`no ${name}`);
    this.rv++;
    const obj: Widget = { ...old, metadata: { ...old.metadata, resourceVersion: String(this.rv) }, spec: { size } };
    this.objects.set(this.key(name), obj);
    this.record('MODIFIED', obj, opts.silent ?? false);
    return obj;
  }

  remove(name: string, opts: { silent?: boolean } = {}): void {
    const old = this.objects.get(this.key(name));
    if (!old) throw new Error(`no ${name}`);
    this.rv++;
    this.objects.delete(this.key(name));
    this.record('DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: String(this.rv) } }, opts.silent ?? false);
  }

  /** Forget history: watches from before now get 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** Send a BOOKMARK to open watches. */
  bookmark(): void {
    for (const w of this.active.values()) {
      if (!w.closed && w.live) w.onEvent('BOOKMARK', { kind: 'Widget', metadata: { resourceVersion: String(this.rv) } });
    }
  }

  /** Drop every open watch, as a dying server would (done with an error, or cleanly). */
  dropWatches(err: unknown = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })): void {
    for (const w of [...this.active.values()]) this.close(w, err);
  }

  private close(w: ActiveWatch, err: unknown): void {
    if (w.closed) return;
    w.closed = true;
    this.active.delete(w.id);
    w.onDone(err);
  }

  list = async (_opts: ListOptions): Promise<KubernetesListObject<Widget>> => {
    this.listCalls++;
    await Promise.resolve();
    if (this.hangList) await new Promise(() => {});
    if (this.failList) throw this.failList;
    return {
      apiVersion: 'test.floodgate.dev/v1alpha1',
      kind: 'WidgetList',
      metadata: { resourceVersion: String(this.rv) },
      items: [...this.objects.values()],
    };
  };

  watch: WatchFn = async (_path, query, onEvent, onDone): Promise<WatchHandle> => {
    this.watchCalls++;
    this.watchQueries.push({ ...query });
    const w: ActiveWatch = { id: ++this.watchSeq, onEvent, onDone, closed: false };
    const handle: WatchHandle = {
      abort: () => this.close(w, Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' })),
    };
    if (this.down || this.failWatchWith === 'error') {
      // client-node calls done() before watch() resolves when the request fails.
      w.closed = true;
      onDone(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }));
      return handle;
    }
    if (this.failWatchWith === 'http410') {
      w.closed = true;
      onDone(Object.assign(new Error('Gone'), { statusCode: 410 }));
      return handle;
    }
    // Open: counts as a running watch from now on; history is replayed on
    // the next tick, then live events follow.
    this.active.set(w.id, w);
    this.maxConcurrentWatches = Math.max(this.maxConcurrentWatches, this.active.size);
    w.live = false;
    const from = Number(query.resourceVersion);
    setImmediate(() => {
      if (w.closed) return;
      if (from < this.compactedRv) {
        onEvent('ERROR', {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Expired',
          code: 410,
          message: `too old resource version: ${from} (${this.compactedRv})`,
        });
        this.close(w, null);
        return;
      }
      if (!this.mute) for (const h of this.history) if (h.rv > from && !w.closed) onEvent(h.type, h.obj);
      w.live = true;
    });
    return handle;
  };
}
