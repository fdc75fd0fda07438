// A typed ListWatch informer for one resource (namespaced or cluster-scoped).
//
//   LIST (consistent read, paged) -> cache + diff handlers -> WATCH from the
//   list's resourceVersion -> apply events -> ... -> the watch ends -> decide:
//
//   watch ended because            next step
//   ----------------------------   -----------------------------------------
//   server closed it (timeout)     re-watch from the last resourceVersion
//   410 Gone (HTTP or ERROR event) re-LIST, diff against the cache
//   silence watchdog fired         re-watch from the last resourceVersion
//   periodic re-list due           re-LIST, diff against the cache
//   error (connect, other ERROR)   backoff, re-watch from the last resourceVersion
//
// Everything runs in ONE async loop (run()), so there is exactly one LIST or
// one WATCH in flight at any time: a watch's done callback never restarts
// anything itself, it only settles the promise the loop awaits, and a
// generation counter makes callbacks of an older watch no-ops. Errors and
// watches that end without delivering anything back off exponentially with
// jitter (200 ms -> 30 s by default); a watch that delivered an event or ran
// for a while resets the backoff.
//
// Re-list diffing: an object in the list but not in the cache -> onAdd; in
// both with another resourceVersion -> onUpdate; another uid (deleted and
// re-created while we were away) -> onDelete(old) + onAdd(new); in the cache
// but not in the list -> onDelete with the last state we knew.
//
// Handlers run synchronously in event order and must not throw (a throw is
// logged and swallowed); a controller typically just enqueues the object key
// into a WorkQueue. Cached objects are shared: never mutate them.

import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Counter, Gauge } from 'prom-client';
import { counter, gauge } from '../lib/metrics.js';
import type { KubeConfig } from './kube-config.js';
import { RestClient, type WatchFn, type WatchHandle } from './rest-client.js';
import { Backoff, type BackoffOptions } from '../lib/backoff.js';
import { errorMessage, sleep, statusCodeOf, timerMs, withDeadline } from './util.js';

/** Options handed to the list function. Honour them to get paged lists. */
export interface ListOptions {
  limit?: number;
  /** client-node's name for the `continue` token. */
  _continue?: string;
}

export type ListFn<T extends KubernetesObject> = (opts: ListOptions) => Promise<KubernetesListObject<T>>;

export type { WatchFn, WatchHandle } from './rest-client.js';

export type RelistReason = 'initial' | 'gone' | 'periodic';
export type WatchEndReason = 'closed' | 'gone' | 'silence' | 'error' | 'relist';

export interface EventInfo {
  /** 'watch': a watch event; 'list': a diff computed from a (re-)list. */
  origin: 'watch' | 'list';
  relistReason?: RelistReason;
}

export type AddHandler<T> = (obj: T, info: EventInfo) => void;
export type UpdateHandler<T> = (oldObj: T, newObj: T, info: EventInfo) => void;
export type DeleteHandler<T> = (obj: T, info: EventInfo) => void;

export interface InformerOptions<T extends KubernetesObject> {
  /** Names the informer in metrics (label `informer`) and logs, e.g. "widgets". */
  name: string;
  /** LIST, e.g. (o) => customObjects.listNamespacedCustomObject({ group, version, namespace, plural, ...o }). */
  list: ListFn<T>;
  /** WATCH path, e.g. /apis/test.floodgate.dev/v1alpha1/namespaces/default/widgets or /api/v1/nodes. */
  watchPath: string;
  /** Its watch is the default watch function when `watch` is not given (shares its connections). */
  rest?: RestClient;
  /** Builds the default watch function (watchFnFromKubeConfig) when neither `watch` nor `rest` is given. */
  kubeConfig?: KubeConfig;
  /** Injected watch (tests). */
  watch?: WatchFn;
  labelSelector?: string;
  fieldSelector?: string;
  /** Full re-list with diffing every this often; 0 disables. Default 10 min. */
  relistIntervalMs?: number;
  /** Restart a watch that delivered nothing (not even a BOOKMARK) for this long. Default 5 min. */
  silenceTimeoutMs?: number;
  /**
   * Server-side watch timeout (the server then closes the watch cleanly and
   * we re-watch from the last resourceVersion). Default: random per watch in
   * [0.5, 0.8] x silenceTimeoutMs, so a healthy but quiet watch is renewed by
   * the server before the watchdog would call it dead.
   */
  watchTimeoutSeconds?: number;
  backoff?: BackoffOptions;
  /** Deadline of one LIST page. Default 60 s. */
  listTimeoutMs?: number;
  /** `limit` per LIST page; 0 = unpaged. Default 500. */
  pageSize?: number;
  /**
   * Applied to every object before it is cached (e.g. dropping
   * metadata.managedFields, which can be most of an object's size).
   */
  transform?: (obj: T) => T;
  logger?: Logger;
  registry?: Registry;
}

export interface InformerMetrics {
  relists: Counter<'informer' | 'reason'>;
  watchRestarts: Counter<'informer' | 'reason'>;
  events: Counter<'informer' | 'type'>;
  errors: Counter<'informer' | 'op'>;
  objects: Gauge<'informer'>;
}

/** Informer metrics on a registry (get-or-create: several informers share them, labelled by name). */
export function informerMetrics(registry: Registry): InformerMetrics {
  return {
    relists:
      counter(registry, {
        name: 'floodgate_informer_relists_total',
        help: 'Completed LISTs of an informer, by reason (initial, gone = 410, periodic)',
        labelNames: ['informer', 'reason'],
      }),
    watchRestarts:
      counter(registry, {
        name: 'floodgate_informer_watch_restarts_total',
        help: 'Watches that ended and were restarted, by reason (closed, gone, silence, error, relist)',
        labelNames: ['informer', 'reason'],
      }),
    events:
      counter(registry, {
        name: 'floodgate_informer_events_total',
        help: 'Watch events received, by type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR)',
        labelNames: ['informer', 'type'],
      }),
    errors:
      counter(registry, {
        name: 'floodgate_informer_errors_total',
        help: 'Failed LISTs and watches, by operation',
        labelNames: ['informer', 'op'],
      }),
    objects:
      gauge(registry, {
        name: 'floodgate_informer_objects',
        help: 'Objects in the informer cache',
        labelNames: ['informer'],
      }),
  };
}

/** Cache key of an object: "namespace/name", or "name" when cluster-scoped (as client-go). */
export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/** Inverse of objectKey. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export interface KubeWatchOptions {
  /** Give up on a watch request that got no response headers within this. Default 30 s. */
  connectTimeoutMs?: number;
}

/**
 * The default WatchFn: RestClient.watch, a streaming GET with the
 * kubeconfig's TLS and auth, one JSON event per line. The returned handle can
 * abort the request at any time, also while it is still connecting, so a
 * watch the informer gave up on never lingers. abort() does not call onDone.
 */
export function watchFnFromKubeConfig(kc: KubeConfig, opts: KubeWatchOptions = {}): WatchFn {
  return new RestClient(kc, { watchConnectTimeoutMs: opts.connectTimeoutMs }).watch;
}

interface WatchOutcome {
  reason: WatchEndReason | 'stopped';
  err?: unknown;
  durationMs: number;
  /** The watch delivered at least one ADDED/MODIFIED/DELETED/BOOKMARK event. */
  progressed: boolean;
}

/** A watch that lived at least this long counts as healthy (resets the backoff). */
const HEALTHY_WATCH_MS = 5_000;

export class Informer<T extends KubernetesObject> {
  readonly name: string;
  private readonly opts: InformerOptions<T>;
  private readonly watchFn: WatchFn;
  private readonly log: Logger;
  private readonly metrics: InformerMetrics;
  private readonly backoff: Backoff;
  private readonly relistIntervalMs: number;
  private readonly silenceTimeoutMs: number;
  private readonly listTimeoutMs: number;
  private readonly pageSize: number;

  private readonly cache = new Map<string, T>();
  private readonly addHandlers = new Set<AddHandler<T>>();
  private readonly updateHandlers = new Set<UpdateHandler<T>>();
  private readonly deleteHandlers = new Set<DeleteHandler<T>>();
  private readonly syncedHandlers = new Set<() => void>();
  private readonly listedHandlers = new Set<(reason: RelistReason) => void>();

  private resourceVersion = '';
  private synced = false;
  private syncWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private running?: Promise<void>;
  private stopCtl = new AbortController();
  private stopped = false;
  /** Incremented per watch; callbacks of older watches are ignored. */
  private generation = 0;
  private endCurrentWatch?: (reason: WatchEndReason | 'stopped') => void;
  private nextRelistAt = Infinity;
  private lastRelistAt = 0;
  private watchesStarted = 0;

  constructor(opts: InformerOptions<T>) {
    if (!opts.watch && !opts.rest && !opts.kubeConfig) throw new Error(`informer ${opts.name}: give rest, kubeConfig or watch`);
    this.name = opts.name;
    this.opts = opts;
    this.watchFn = opts.watch ?? opts.rest?.watch ?? watchFnFromKubeConfig(opts.kubeConfig as KubeConfig);
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ informer: opts.name });
    this.metrics = informerMetrics(opts.registry ?? new Registry());
    this.backoff = new Backoff(opts.backoff);
    this.relistIntervalMs = opts.relistIntervalMs ?? 10 * 60_000;
    this.silenceTimeoutMs = opts.silenceTimeoutMs ?? 5 * 60_000;
    this.listTimeoutMs = opts.listTimeoutMs ?? 60_000;
    this.pageSize = opts.pageSize ?? 500;
  }

  // ---- handlers -----------------------------------------------------------

  /** Register handlers; each returns a function that unregisters it. */
  onAdd(fn: AddHandler<T>): () => void {
    this.addHandlers.add(fn);
    return () => this.addHandlers.delete(fn);
  }

  onUpdate(fn: UpdateHandler<T>): () => void {
    this.updateHandlers.add(fn);
    return () => this.updateHandlers.delete(fn);
  }

  onDelete(fn: DeleteHandler<T>): () => void {
    this.deleteHandlers.add(fn);
    return () => this.deleteHandlers.delete(fn);
  }

  /** Called once, after the first LIST filled the cache (at once, asynchronously, if already synced). */
  onSynced(fn: () => void): () => void {
    if (this.synced) queueMicrotask(() => this.call('onSynced', () => fn()));
    else this.syncedHandlers.add(fn);
    return () => this.syncedHandlers.delete(fn);
  }

  /**
   * Called after every completed LIST (initial, 410, periodic), once its diff
   * handlers ran: where a level-triggered consumer reconciles everything.
   */
  onListed(fn: (reason: RelistReason) => void): () => void {
    this.listedHandlers.add(fn);
    return () => this.listedHandlers.delete(fn);
  }

  // ---- cache --------------------------------------------------------------

  /** The cached object, by name (and namespace for namespaced resources). */
  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  /** The cached object by its key ("namespace/name" or "name"), as handed to a WorkQueue. */
  getByKey(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** All cached objects, or those of one namespace. */
  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  get size(): number {
    return this.cache.size;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** resourceVersion of the last LIST or watch event applied. */
  lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Resolves once synced; rejects if stopped first, or after timeoutMs when given. */
  waitForSync(timeoutMs?: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error(`informer ${this.name} stopped before sync`));
    const p = new Promise<void>((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
    return timeoutMs === undefined ? p : withDeadline(p, timeoutMs, `informer ${this.name} sync`);
  }

  // ---- lifecycle ----------------------------------------------------------

  /** Start list+watch in the background (idempotent). */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = this.run().catch((err: unknown) => {
      this.log.error({ err: errorMessage(err) }, 'informer loop crashed');
    });
  }

  /** Stop: aborts the watch, any backoff sleep and a pending LIST; resolves when the loop has exited. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.stopCtl.abort();
      this.endCurrentWatch?.('stopped');
      for (const w of this.syncWaiters.splice(0)) w.reject(new Error(`informer ${this.name} stopped before sync`));
    }
    await this.running;
  }

  // ---- the loop -----------------------------------------------------------

  private async run(): Promise<void> {
    let relist: RelistReason | undefined = 'initial';
    // True while the next watch starts right from a fresh LIST: if that watch
    // fails straight away the LIST itself does not help, so back off.
    let fromFreshList = false;
    const signal = this.stopCtl.signal;

    while (!this.stopped) {
      if (relist === undefined && Date.now() >= this.nextRelistAt) relist = 'periodic';
      if (relist !== undefined) {
        try {
          await this.relist(relist);
          relist = undefined;
          fromFreshList = true;
        } catch (err) {
          if (this.stopped) break;
          this.metrics.errors.inc({ informer: this.name, op: 'list' });
          const wait = this.backoff.next();
          this.log.warn({ err: errorMessage(err), reason: relist, retryInMs: wait }, 'list failed');
          await sleep(wait, signal);
          continue;
        }
      }

      const out = await this.watchOnce();
      if (out.reason === 'stopped' || this.stopped) break;
      this.metrics.watchRestarts.inc({ informer: this.name, reason: out.reason });
      const healthy = out.progressed || out.durationMs >= HEALTHY_WATCH_MS;
      if (healthy) this.backoff.reset();
      const wasFresh = fromFreshList;
      fromFreshList = false;

      let wait = 0;
      switch (out.reason) {
        case 'relist':
          relist = 'periodic';
          break;
        case 'gone':
          relist = 'gone';
          // 410 right after a LIST: something is off, do not hammer the server.
          if (wasFresh && !healthy) wait = this.backoff.next();
          break;
        case 'silence':
          // A dead connection; the resourceVersion is still good.
          break;
        case 'closed':
          if (!healthy) wait = this.backoff.next();
          break;
        case 'error':
          this.metrics.errors.inc({ informer: this.name, op: 'watch' });
          wait = this.backoff.next();
          break;
      }
      const lvl = out.reason === 'error' || out.reason === 'silence' ? 'warn' : 'debug';
      this.log[lvl](
        {
          reason: out.reason,
          err: out.err === undefined ? undefined : errorMessage(out.err),
          durationMs: out.durationMs,
          retryInMs: wait,
          resourceVersion: this.resourceVersion,
        },
        'watch ended',
      );
      if (wait > 0) await sleep(wait, signal);
    }
  }

  private async relist(reason: RelistReason): Promise<void> {
    const started = Date.now();
    const { items, resourceVersion } = await this.listAll();
    if (this.stopped) return;
    const info: EventInfo = { origin: 'list', relistReason: reason };
    const fresh = new Map<string, T>();
    for (const obj of items) fresh.set(objectKey(obj), obj);

    let added = 0;
    let updated = 0;
    let deleted = 0;
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.cache.delete(key);
        deleted++;
        this.emitDelete(old, info);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) {
        added++;
        this.emitAdd(obj, info);
      } else if (old.metadata?.uid && obj.metadata?.uid && old.metadata.uid !== obj.metadata.uid) {
        deleted++;
        added++;
        this.emitDelete(old, info);
        this.emitAdd(obj, info);
      } else if (!sameVersion(old, obj)) {
        updated++;
        this.emitUpdate(old, obj, info);
      }
    }
    this.resourceVersion = resourceVersion;
    this.lastRelistAt = Date.now();
    this.nextRelistAt = this.relistIntervalMs > 0 ? this.lastRelistAt + this.relistIntervalMs : Infinity;
    this.metrics.relists.inc({ informer: this.name, reason });
    this.metrics.objects.set({ informer: this.name }, this.cache.size);
    this.log[reason === 'periodic' ? 'debug' : 'info'](
      { reason, objects: this.cache.size, added, updated, deleted, resourceVersion, ms: Date.now() - started },
      'listed',
    );

    for (const fn of [...this.listedHandlers]) this.call('onListed', () => fn(reason));
    if (!this.synced) {
      this.synced = true;
      for (const fn of [...this.syncedHandlers]) this.call('onSynced', () => fn());
      this.syncedHandlers.clear();
      for (const w of this.syncWaiters.splice(0)) w.resolve();
    }
  }

  private async listAll(): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const opts: ListOptions = {};
      if (this.pageSize > 0) opts.limit = this.pageSize;
      if (cont) opts._continue = cont;
      const page = await withDeadline(this.opts.list(opts), this.listTimeoutMs, `list ${this.name}`, this.stopCtl.signal);
      if (!page || !Array.isArray(page.items)) throw new Error(`list ${this.name}: response has no items array`);
      const t = this.opts.transform;
      items.push(...(t ? page.items.map(t) : page.items));
      const meta = (page.metadata ?? {}) as { resourceVersion?: string; _continue?: string; continue?: string };
      rv = meta.resourceVersion || rv;
      cont = meta._continue || meta.continue || undefined;
    } while (cont);
    if (!rv) throw new Error(`list ${this.name}: response has no resourceVersion`);
    return { items, resourceVersion: rv };
  }

  private watchQuery(): Record<string, string | number | boolean | undefined> {
    const timeout =
      this.opts.watchTimeoutSeconds ??
      Math.max(1, Math.floor((this.silenceTimeoutMs / 1000) * (0.5 + 0.3 * Math.random())));
    return {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: timeout,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    };
  }

  /** Run one watch until it ends; never rejects. */
  private watchOnce(): Promise<WatchOutcome> {
    const gen = ++this.generation;
    this.watchesStarted++;
    const started = Date.now();
    let progressed = false;
    const info: EventInfo = { origin: 'watch' };

    return new Promise<WatchOutcome>((resolve) => {
      let settled = false;
      let handle: WatchHandle | undefined;
      const timers: NodeJS.Timeout[] = [];

      const end = (reason: WatchEndReason | 'stopped', err?: unknown): void => {
        if (settled) return;
        settled = true;
        for (const t of timers) clearTimeout(t);
        if (this.endCurrentWatch === end) this.endCurrentWatch = undefined;
        try {
          handle?.abort();
        } catch {
          // already closed
        }
        resolve({ reason, err, durationMs: Date.now() - started, progressed });
      };
      this.endCurrentWatch = end;
      if (this.stopped) {
        end('stopped');
        return;
      }

      const silence = setTimeout(() => end('silence'), timerMs(this.silenceTimeoutMs));
      timers.push(silence);
      if (Number.isFinite(this.nextRelistAt)) {
        timers.push(setTimeout(() => end('relist'), timerMs(this.nextRelistAt - Date.now())));
      }

      const onEvent = (type: string, obj: unknown): void => {
        if (settled || gen !== this.generation) return;
        silence.refresh();
        this.metrics.events.inc({ informer: this.name, type });
        switch (type) {
          case 'ADDED':
          case 'MODIFIED': {
            progressed = true;
            const o = this.opts.transform ? this.opts.transform(obj as T) : (obj as T);
            this.upsert(o, info);
            this.bumpVersion(o);
            break;
          }
          case 'DELETED': {
            progressed = true;
            const o = obj as T;
            const key = objectKey(o);
            const had = this.cache.get(key);
            if (had) {
              this.cache.delete(key);
              this.metrics.objects.set({ informer: this.name }, this.cache.size);
              this.emitDelete(o, info);
            }
            this.bumpVersion(o);
            break;
          }
          case 'BOOKMARK':
            progressed = true;
            this.bumpVersion(obj as T);
            break;
          case 'ERROR': {
            const code = statusCodeOf(obj);
            end(code === 410 ? 'gone' : 'error', obj);
            break;
          }
          default:
            this.log.warn({ type }, 'unknown watch event type');
        }
      };

      const onDone = (err: unknown): void => {
        if (settled || gen !== this.generation) return;
        if (err === null || err === undefined) end('closed');
        else if (statusCodeOf(err) === 410) end('gone', err);
        else end('error', err);
      };

      let pending: Promise<WatchHandle>;
      try {
        pending = this.watchFn(this.opts.watchPath, this.watchQuery(), onEvent, onDone);
      } catch (err) {
        end('error', err);
        return;
      }
      pending.then(
        (h) => {
          handle = h;
          // Ended (stop, watchdog, error) before the request was even open.
          if (settled) h.abort();
        },
        (err: unknown) => end('error', err),
      );
    });
  }

  private upsert(obj: T, info: EventInfo): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (!old) {
      this.metrics.objects.set({ informer: this.name }, this.cache.size);
      this.emitAdd(obj, info);
    } else if (!sameVersion(old, obj)) {
      this.emitUpdate(old, obj, info);
    }
  }

  private bumpVersion(obj: KubernetesObject): void {
    const rv = obj?.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
  }

  // ---- emitting -----------------------------------------------------------

  private emitAdd(obj: T, info: EventInfo): void {
    for (const fn of this.addHandlers) this.call('onAdd', () => fn(obj, info));
  }

  private emitUpdate(oldObj: T, newObj: T, info: EventInfo): void {
    for (const fn of this.updateHandlers) this.call('onUpdate', () => fn(oldObj, newObj, info));
  }

  private emitDelete(obj: T, info: EventInfo): void {
    for (const fn of this.deleteHandlers) this.call('onDelete', () => fn(obj, info));
  }

  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err: errorMessage(err), handler: what }, 'informer handler threw');
    }
  }

  /** For tests and diagnostics. */
  get stats(): { watchesStarted: number; lastRelistAt: number; generation: number } {
    return { watchesStarted: this.watchesStarted, lastRelistAt: this.lastRelistAt, generation: this.generation };
  }
}

function sameVersion(a: KubernetesObject, b: KubernetesObject): boolean {
  const ra = a.metadata?.resourceVersion;
  return ra !== undefined && ra !== '' && ra === b.metadata?.resourceVersion;
}

/** Create (and start) an informer. */
export function createInformer<T extends KubernetesObject>(opts: InformerOptions<T>, start = true): Informer<T> {
  const inf = new Informer<T>(opts);
  if (start) inf.start();
  return inf;
}

/** A transform that drops metadata.managedFields: the controller never reads them. */
export function withoutManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}
