// Records core/v1 Events about objects (what `kubectl describe` and
// `kubectl get events` show), like client-go's record.EventRecorder:
//
// - type Normal or Warning, a CamelCase reason (validated: an invalid one is
//   logged and the event dropped), a human message (trimmed to 1024 chars);
// - the Event lives in the involved object's namespace ("default" for
//   cluster-scoped objects) and is named "<object name>.<hex nanoseconds>";
// - repeats aggregate: the same involved object + type + reason + message
//   within the aggregation window (10 min) patches the existing Event's
//   `count` and `lastTimestamp` instead of creating a new one (if that Event
//   is gone, a new one is created);
// - calls for the same aggregation key are serialised, so two quick repeats
//   cannot both create;
// - never throws into the caller: event() returns a promise that always
//   resolves; failures are logged and counted.
//
// Not done (client-go has them): the "similar events" combining of messages
// and the per-object spam token bucket.

import os from 'node:os';
import type { CoreV1Event, KubernetesObject } from '@kubernetes/client-node';
import type { CoreApi } from './kube-apis.js';
import type { Logger } from 'pino';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Counter } from 'prom-client';
import { counter } from '../lib/metrics.js';
import { errorMessage, statusCodeOf, withDeadline } from './util.js';

export type EventType = 'Normal' | 'Warning';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** Absent for cluster-scoped objects. */
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export interface EventRecorderOptions {
  /** new CoreClient(rest), or client-node's CoreV1Api */
  core: CoreApi;
  /** source.component and reportingComponent, e.g. "floodgate-controller". */
  component: string;
  /** source.host. Default os.hostname(). */
  host?: string;
  /** reportingInstance. Default "<component>-<host>". */
  instance?: string;
  /** Repeats within this window are aggregated. Default 10 min. */
  aggregationWindowMs?: number;
  /** Aggregation keys remembered (LRU). Default 4096. */
  maxCacheEntries?: number;
  /** Deadline of one API call. Default 10 s. */
  requestTimeoutMs?: number;
  logger?: Logger;
  registry?: Registry;
  /** For tests. */
  now?: () => number;
}

const REASON_RE = /^[A-Z][A-Za-z0-9]*$/;
const MAX_REASON = 128;
const MAX_MESSAGE = 1024;

/** True for a CamelCase reason such as "BanApplied" (letters and digits, leading capital, <= 128 chars). */
export function isCamelCaseReason(reason: string): boolean {
  return reason.length <= MAX_REASON && REASON_RE.test(reason);
}

/**
 * The involved-object reference of a Kubernetes object. Items of built-in
 * LIST responses carry no apiVersion/kind: give them as defaults then.
 */
export function involvedObjectOf(
  obj: KubernetesObject,
  opts: { apiVersion?: string; kind?: string; fieldPath?: string } = {},
): InvolvedObject {
  const fieldPath = opts.fieldPath;
  return {
    apiVersion: obj.apiVersion || opts.apiVersion || '',
    kind: obj.kind || opts.kind || '',
    name: obj.metadata?.name ?? '',
    namespace: obj.metadata?.namespace || undefined,
    uid: obj.metadata?.uid,
    resourceVersion: obj.metadata?.resourceVersion,
    fieldPath,
  };
}

interface Aggregate {
  namespace: string;
  eventName: string;
  count: number;
  lastSeen: number;
}

interface RecorderMetrics {
  events: Counter<'type' | 'outcome'>;
}

function recorderMetrics(registry: Registry): RecorderMetrics {
  const name = 'floodgate_k8s_events_total';
  return {
    events:
      counter(registry, {
        name,
        help: 'Kubernetes Events recorded, by type and outcome (created, aggregated, invalid, failed)',
        labelNames: ['type', 'outcome'],
      }),
  };
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class EventRecorder {
  private readonly api: CoreApi;
  private readonly component: string;
  private readonly host: string;
  private readonly instance: string;
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly metrics: RecorderMetrics;
  private readonly now: () => number;
  private readonly cache = new Map<string, Aggregate>();
  private readonly chains = new Map<string, Promise<void>>();
  private seq = 0;

  constructor(opts: EventRecorderOptions) {
    this.api = opts.core;
    this.component = opts.component;
    this.host = opts.host ?? os.hostname();
    this.instance = opts.instance ?? `${opts.component}-${this.host}`;
    this.windowMs = opts.aggregationWindowMs ?? 10 * 60_000;
    this.maxEntries = Math.max(1, opts.maxCacheEntries ?? 4096);
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'event-recorder' });
    this.metrics = recorderMetrics(opts.registry ?? new Registry());
    this.now = opts.now ?? Date.now;
  }

  /**
   * Record an Event about `obj` (a reference or the object itself). Always
   * resolves; awaiting it is optional (fire and forget is fine).
   */
  event(obj: InvolvedObject | KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    try {
      const ref = isInvolvedObject(obj) ? obj : involvedObjectOf(obj);
      if (type !== 'Normal' && type !== 'Warning') {
        return this.invalid(ref, type, reason, `type must be Normal or Warning, got ${String(type)}`);
      }
      if (!isCamelCaseReason(reason)) {
        return this.invalid(ref, type, reason, 'reason must be CamelCase (e.g. BanApplied), letters and digits, <= 128 chars');
      }
      if (!ref.name || !ref.kind) return this.invalid(ref, type, reason, 'involved object needs kind and name');
      const msg = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
      const key = JSON.stringify([
        ref.apiVersion,
        ref.kind,
        ref.namespace ?? '',
        ref.name,
        ref.uid ?? '',
        ref.fieldPath ?? '',
        type,
        reason,
        msg,
      ]);
      const prev = this.chains.get(key) ?? Promise.resolve();
      const next = prev.then(() => this.send(key, ref, type, reason, msg));
      this.chains.set(key, next);
      void next.then(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
      });
      return next;
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'event recording failed');
      return Promise.resolve();
    }
  }

  /** Shorthands. */
  normal(obj: InvolvedObject | KubernetesObject, reason: string, message: string): Promise<void> {
    return this.event(obj, 'Normal', reason, message);
  }

  warning(obj: InvolvedObject | KubernetesObject, reason: string, message: string): Promise<void> {
    return this.event(obj, 'Warning', reason, message);
  }

  /** Wait until every event handed in so far has been sent (or failed). */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private invalid(ref: InvolvedObject, type: string, reason: string, why: string): Promise<void> {
    this.metrics.events.inc({ type: String(type), outcome: 'invalid' });
    this.log.error({ kind: ref.kind, name: ref.name, type, reason, why }, 'invalid event dropped');
    return Promise.resolve();
  }

  private async send(key: string, ref: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    try {
      const now = this.now();
      const agg = this.cache.get(key);
      if (agg && now - agg.lastSeen < this.windowMs) {
        const count = agg.count + 1;
        try {
          await withDeadline(
            this.api.patchNamespacedEvent({
              name: agg.eventName,
              namespace: agg.namespace,
              // JSON Patch: client-node 1.4's default patch content type.
              body: [
                { op: 'replace', path: '/count', value: count },
                { op: 'replace', path: '/lastTimestamp', value: rfc3339(now) },
              ],
            }),
            this.timeoutMs,
            'event patch',
          );
          agg.count = count;
          agg.lastSeen = now;
          this.touch(key, agg);
          this.metrics.events.inc({ type, outcome: 'aggregated' });
          return;
        } catch (err) {
          if (statusCodeOf(err) !== 404 && statusCodeOf(err) !== 422) throw err;
          // The Event expired (TTL) or was deleted: start a new one.
          this.cache.delete(key);
        }
      }

      const namespace = ref.namespace || 'default';
      const eventName = this.eventName(ref.name, now);
      const body: CoreV1Event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: eventName, namespace },
        involvedObject: {
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          name: ref.name,
          namespace: ref.namespace,
          uid: ref.uid,
          resourceVersion: ref.resourceVersion,
          fieldPath: ref.fieldPath,
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: new Date(rfc3339(now)),
        lastTimestamp: new Date(rfc3339(now)),
        source: { component: this.component, host: this.host },
        reportingComponent: this.component,
        reportingInstance: this.instance,
      };
      await withDeadline(this.api.createNamespacedEvent({ namespace, body }), this.timeoutMs, 'event create');
      this.touch(key, { namespace, eventName, count: 1, lastSeen: now });
      this.metrics.events.inc({ type, outcome: 'created' });
    } catch (err) {
      this.metrics.events.inc({ type, outcome: 'failed' });
      this.log.warn(
        { err: errorMessage(err), kind: ref.kind, name: ref.name, namespace: ref.namespace, type, reason },
        'could not record event',
      );
    }
  }

  private eventName(objName: string, now: number): string {
    const suffix = (BigInt(now) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16);
    return `${objName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
  }

  private touch(key: string, agg: Aggregate): void {
    this.cache.delete(key);
    this.cache.set(key, agg);
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }
}

function isInvolvedObject(o: InvolvedObject | KubernetesObject): o is InvolvedObject {
  return typeof (o as InvolvedObject).name === 'string' && typeof (o as InvolvedObject).kind === 'string' && !('metadata' in o);
}
