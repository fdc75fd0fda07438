/**
 * The controller's Kubernetes plumbing against a real kube-apiserver (1.20,
 * test/control-plane): informer (incl. API server restarts and a real 410),
 * leader election, event recorder. One file, so the API server restarts never
 * hit another test process; its own state dir, stopped (and wiped) at the end
 * unless FLOODGATE_CP_KEEP=1.
 *
 *   node --import tsx --test test/kube/integration.test.ts
 *
 * Env: FLOODGATE_CP_KUBE_STATE_DIR (default /tmp/floodgate-cp-kube),
 * FLOODGATE_TEST_LOG=debug to see the plumbing's logs. With an exported
 * KUBECONFIG (kind, k3d) the restart tests are skipped.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig as ClientNodeKubeConfig,
  type KubernetesListObject,
} from '@kubernetes/client-node';
import { execa } from 'execa';
import pino from 'pino';
import { Registry } from 'prom-client';
import { EventRecorder } from '../../kube/event-recorder.js';
import {
  type EventInfo,
  Informer,
  watchFnFromKubeConfig,
  type WatchFn,
  type WatchHandle,
} from '../../kube/informer.js';
import { loadKubeConfig, type KubeConfig } from '../../kube/kube-config.js';
import { CoreClient, CustomObjectsClient, LeaseClient } from '../../kube/kube-apis.js';
import { RestClient } from '../../kube/rest-client.js';
import { LeaderElector } from '../../kube/leader-election.js';
import { statusCodeOf } from '../../kube/util.js';
import { type ControlPlane, ensureControlPlane, restartApiServer, stopControlPlane } from '../control-plane/control-plane.js';

const STATE_DIR = process.env.FLOODGATE_CP_KUBE_STATE_DIR ?? '/tmp/floodgate-cp-kube';
const KUBECTL = existsSync('/usr/local/bin/kubectl') ? '/usr/local/bin/kubectl' : 'kubectl';
const GROUP = 'test.floodgate.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'widgets';
const logger = pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' });

interface Widget {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  spec?: { size?: number };
}

let cp: ControlPlane;
/** Ours: what the components under test use. */
let kc: KubeConfig;
let rest: RestClient;
let ourCore: CoreClient;
let ourLeases: LeaseClient;
let ourCustom: CustomObjectsClient;
/** client-node's, for the test's own setup and checks. */
let cnkc: ClientNodeKubeConfig;
let custom: CustomObjectsApi;
let core: CoreV1Api;
let coordination: CoordinationV1Api;
let ns: string;

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(25);
  }
}

async function kubectl(args: string[]): Promise<string> {
  const r = await execa(KUBECTL, ['--kubeconfig', cp.kubeconfig, ...args], { timeout: 60_000, env: { KUBECONFIG: cp.kubeconfig } });
  return r.stdout;
}

/** Retry an API call while the API server is coming back. */
async function retrying<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
      await delay(200);
    }
  }
}

const widgets = {
  create: (name: string, size: number): Promise<Widget> =>
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Widget', metadata: { name, namespace: ns }, spec: { size } },
    }) as Promise<Widget>,
  setSize: (name: string, size: number): Promise<Widget> =>
    custom.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name,
      body: [{ op: 'replace', path: '/spec/size', value: size }],
    }) as Promise<Widget>,
  remove: (name: string): Promise<unknown> =>
    custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name }),
};

async function ensureCrd(): Promise<void> {
  const ext = cnkc.makeApiClient(ApiextensionsV1Api);
  try {
    await ext.createCustomResourceDefinition({
      body: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${PLURAL}.${GROUP}` },
        spec: {
          group: GROUP,
          scope: 'Namespaced',
          names: { plural: PLURAL, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: VERSION,
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 0 } } } },
                },
              },
            },
          ],
        },
      },
    });
  } catch (err) {
    if (statusCodeOf(err) !== 409) throw err;
  }
  await until(
    async () => {
      try {
        await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL });
        return true;
      } catch {
        return false;
      }
    },
    30_000,
    'the Widget CRD to be served',
  );
}

/** A watch function the test can cut off (the informer then sees errors) and let through again. */
function pausableWatch(inner: WatchFn) {
  let paused = false;
  let current: { handle?: WatchHandle; onDone: (err: unknown) => void } | undefined;
  const fn: WatchFn = async (path, query, onEvent, onDone) => {
    if (paused) {
      onDone(new Error('connection refused (paused by test)'));
      return { abort: () => undefined };
    }
    const entry: { handle?: WatchHandle; onDone: (err: unknown) => void } = { onDone };
    current = entry;
    entry.handle = await inner(path, query, onEvent, onDone);
    return entry.handle;
  };
  return {
    fn,
    pause(): void {
      paused = true;
      const c = current;
      current = undefined;
      c?.onDone(new Error('connection reset (paused by test)'));
      c?.handle?.abort();
    },
    resume(): void {
      paused = false;
    },
  };
}

function widgetInformer(name: string, watch?: WatchFn) {
  const registry = new Registry();
  const seen: { type: string; name: string; size?: number; info: EventInfo }[] = [];
  const inf = new Informer<Widget>({
    name,
    rest,
    watch,
    list: (o) =>
      ourCustom.list<KubernetesListObject<Widget>>({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL }, { limit: o.limit, continue: o._continue }),
    watchPath: `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`,
    backoff: { initialMs: 200, maxMs: 1000 },
    pageSize: 2, // exercise paging
    logger,
    registry,
  });
  inf.onAdd((o, info) => seen.push({ type: 'add', name: o.metadata?.name ?? '', size: o.spec?.size, info }));
  inf.onUpdate((_o, n, info) => seen.push({ type: 'update', name: n.metadata?.name ?? '', size: n.spec?.size, info }));
  inf.onDelete((o, info) => seen.push({ type: 'delete', name: o.metadata?.name ?? '', size: o.spec?.size, info }));
  const metric = async (m: string, labels: Record<string, string>): Promise<number> => {
    const got = await registry.getSingleMetric(m)?.get();
    return (
      got?.values
        .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
        .reduce((a, v) => a + v.value, 0) ?? 0
    );
  };
  return { inf, seen, metric };
}

const sizeOf = (inf: Informer<Widget>, name: string): number | undefined => inf.get(name, ns)?.spec?.size;

before(async () => {
  cp = await ensureControlPlane({ stateDir: STATE_DIR });
  kc = loadKubeConfig({ kubeconfig: cp.kubeconfig });
  rest = new RestClient(kc);
  ourCore = new CoreClient(rest);
  ourLeases = new LeaseClient(rest);
  ourCustom = new CustomObjectsClient(rest);
  cnkc = new ClientNodeKubeConfig();
  cnkc.loadFromFile(cp.kubeconfig);
  custom = cnkc.makeApiClient(CustomObjectsApi);
  core = cnkc.makeApiClient(CoreV1Api);
  coordination = cnkc.makeApiClient(CoordinationV1Api);
  await ensureCrd();
  ns = `fg-kube-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

after(async () => {
  rest?.close();
  if (cp && !cp.external && process.env.FLOODGATE_CP_KEEP !== '1') await stopControlPlane({ stateDir: STATE_DIR, wipe: true });
});

describe('Informer (real API server)', () => {
  it('lists existing objects (paged) and follows add/update/delete through the watch', async () => {
    for (const [n, s] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const) {
      await widgets.create(n, s);
    }
    const { inf, seen } = widgetInformer('widgets-basic');
    try {
      inf.start();
      await inf.waitForSync(15_000);
      assert.deepEqual(inf.keys().sort(), [`${ns}/a`, `${ns}/b`, `${ns}/c`]);
      assert.equal(sizeOf(inf, 'b'), 2);
      seen.length = 0;
      await widgets.create('d', 4);
      await widgets.setSize('a', 10);
      await widgets.remove('b');
      await until(() => seen.length >= 3, 10_000, 'three watch events');
      assert.deepEqual(
        seen.map((s) => [s.type, s.name, s.size, s.info.origin]),
        [
          ['add', 'd', 4, 'watch'],
          ['update', 'a', 10, 'watch'],
          ['delete', 'b', 2, 'watch'],
        ],
      );
      assert.deepEqual(inf.keys().sort(), [`${ns}/a`, `${ns}/c`, `${ns}/d`]);
    } finally {
      await inf.stop();
    }
  });

  it('survives an API server restart mid-watch (and a leader steps down and comes back)', { timeout: 120_000 }, async (t) => {
    if (cp.external) {
      t.skip('external cluster');
      return;
    }
    const { inf, seen, metric } = widgetInformer('widgets-restart');
    const leaderEvents: string[] = [];
    const le = new LeaderElector({
      coordination: ourLeases,
      namespace: ns,
      name: 'restart-lease',
      identity: 'restart-elector',
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 500,
      onStartedLeading: () => void leaderEvents.push('started'),
      onStoppedLeading: () => void leaderEvents.push('stopped'),
      logger,
    });
    try {
      inf.start();
      le.start();
      await inf.waitForSync(15_000);
      await until(() => le.isLeader(), 10_000, 'elector leads');
      const before = seen.length;

      await restartApiServer({ stateDir: STATE_DIR });

      // Straight after the restart: change things and let the informer find its way back.
      await retrying(() => widgets.create('r-new', 7));
      await retrying(() => widgets.setSize('c', 33));
      await retrying(() => widgets.remove('d'));
      await until(
        () => inf.get('r-new', ns) !== undefined && sizeOf(inf, 'c') === 33 && inf.get('d', ns) === undefined,
        30_000,
        'the cache to converge after the restart',
      );
      const after = seen.slice(before);
      assert.ok(after.some((s) => s.type === 'add' && s.name === 'r-new'), JSON.stringify(after));
      assert.ok(after.some((s) => s.type === 'update' && s.name === 'c' && s.size === 33));
      assert.ok(after.some((s) => s.type === 'delete' && s.name === 'd'));
      assert.ok((await metric('floodgate_informer_watch_restarts_total', {})) >= 1, 'the watch was restarted');
      // Live again through the watch.
      const mark = seen.length;
      await widgets.setSize('a', 11);
      await until(() => seen.slice(mark).some((s) => s.name === 'a' && s.size === 11 && s.info.origin === 'watch'), 10_000, 'a watch event');

      // The leader could not renew for > renewDeadline: it stepped down, and leads again now.
      await until(() => le.isLeader(), 15_000, 'elector leads again');
      assert.deepEqual(leaderEvents.slice(0, 3), ['started', 'stopped', 'started']);
    } finally {
      await inf.stop();
      await le.stop();
    }
  });

  it('410 after a restart: objects deleted while disconnected come out of the re-list as onDelete', { timeout: 120_000 }, async (t) => {
    if (cp.external) {
      t.skip('external cluster');
      return;
    }
    await widgets.create('x1', 1);
    await widgets.create('x2', 2);
    const pw = pausableWatch(watchFnFromKubeConfig(kc));
    const { inf, seen, metric } = widgetInformer('widgets-gone', pw.fn);
    try {
      inf.start();
      await inf.waitForSync(15_000);
      await until(() => inf.get('x2', ns) !== undefined, 5000, 'x2 cached');
      const staleRv = inf.lastSyncResourceVersion();
      pw.pause();
      await widgets.remove('x1');
      await widgets.setSize('x2', 20);
      await widgets.create('x3', 3);
      // A fresh API server's watch cache starts at the current etcd revision:
      // a watch from our older resourceVersion is "too old" -> 410.
      await restartApiServer({ stateDir: STATE_DIR });
      const mark = seen.length;
      pw.resume();
      await until(
        () => inf.get('x1', ns) === undefined && sizeOf(inf, 'x2') === 20 && inf.get('x3', ns) !== undefined,
        30_000,
        'the cache to converge through the re-list',
      );
      const got = seen.slice(mark).filter((s) => s.name.startsWith('x'));
      assert.deepEqual(
        got.map((s) => [s.type, s.name, s.size, s.info.origin, s.info.relistReason]).sort(),
        [
          ['add', 'x3', 3, 'list', 'gone'],
          ['delete', 'x1', 1, 'list', 'gone'],
          ['update', 'x2', 20, 'list', 'gone'],
        ],
      );
      assert.equal(await metric('floodgate_informer_relists_total', { reason: 'gone' }), 1);
      assert.notEqual(inf.lastSyncResourceVersion(), staleRv);
    } finally {
      await inf.stop();
    }
  });
});

describe('LeaderElector (real API server)', () => {
  const opts = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500, logger };

  function candidate(lease: string, identity: string, extra: { releaseOnStop?: boolean } = {}) {
    const log: string[] = [];
    const leaders: string[] = [];
    let signal: AbortSignal | undefined;
    const le = new LeaderElector({
      coordination: ourLeases,
      namespace: ns,
      name: lease,
      identity,
      ...opts,
      ...extra,
      onStartedLeading: (s) => {
        signal = s;
        log.push('started');
      },
      onStoppedLeading: () => void log.push('stopped'),
      onNewLeader: (id) => void leaders.push(id),
    });
    return { le, log, leaders, signal: () => signal };
  }

  it('two electors elect exactly one leader; on release the other takes over at once', { timeout: 60_000 }, async () => {
    const a = candidate('le-release', 'cand-a');
    const b = candidate('le-release', 'cand-b');
    try {
      a.le.start();
      b.le.start();
      await until(() => a.le.isLeader() || b.le.isLeader(), 10_000, 'a leader');
      // Watch for 4 s (> a lease duration): always exactly one leader, the same one.
      const first = a.le.isLeader() ? a : b;
      const second = first === a ? b : a;
      const end = Date.now() + 4000;
      while (Date.now() < end) {
        assert.equal(Number(a.le.isLeader()) + Number(b.le.isLeader()), 1, 'exactly one leader');
        assert.equal(first.le.isLeader(), true, 'no flapping');
        await delay(50);
      }
      const lease = await coordination.readNamespacedLease({ name: 'le-release', namespace: ns });
      assert.equal(lease.spec?.holderIdentity, first.le.identity);
      assert.equal(lease.spec?.leaseDurationSeconds, 3);
      assert.equal(second.le.getLeader(), first.le.identity);
      assert.deepEqual(second.leaders, [first.le.identity]);

      const t0 = Date.now();
      await first.le.stop();
      assert.equal(first.signal()?.aborted, true, 'leader signal aborted on stop');
      assert.deepEqual(first.log, ['started', 'stopped']);
      await until(() => second.le.isLeader(), 3000, 'the other to take over within the lease duration');
      const took = Date.now() - t0;
      assert.ok(took < 2000, `takeover after release took ${took} ms`);
      assert.deepEqual(second.leaders, [first.le.identity, second.le.identity]);
      const after = await coordination.readNamespacedLease({ name: 'le-release', namespace: ns });
      assert.equal(after.spec?.holderIdentity, second.le.identity);
      assert.equal(after.spec?.leaseTransitions, 1);
    } finally {
      await a.le.stop();
      await b.le.stop();
    }
    const released = await coordination.readNamespacedLease({ name: 'le-release', namespace: ns });
    assert.ok(!released.spec?.holderIdentity, 'released on stop');
  });

  it('a leader that dies without releasing is replaced once the lease expires', { timeout: 60_000 }, async () => {
    const a = candidate('le-expire', 'cand-a', { releaseOnStop: false });
    const b = candidate('le-expire', 'cand-b');
    try {
      a.le.start();
      await until(() => a.le.isLeader(), 10_000, 'a leads');
      b.le.start();
      await until(() => b.le.getLeader() === 'cand-a', 5000, 'b sees a');
      await delay(1000);
      assert.equal(b.le.isLeader(), false);
      // "Kill" a: it stops renewing and does not release.
      const t0 = Date.now();
      await a.le.stop();
      const lease = await coordination.readNamespacedLease({ name: 'le-expire', namespace: ns });
      assert.equal(lease.spec?.holderIdentity, 'cand-a', 'not released');
      await until(() => b.le.isLeader(), 8000, 'b takes over');
      const took = Date.now() - t0;
      // Lease 3 s, counted from b's last sight of a renewal (<= one retry period before the kill).
      assert.ok(took >= 2000 && took <= 5000, `takeover after expiry took ${took} ms`);
    } finally {
      await a.le.stop();
      await b.le.stop();
    }
  });
});

describe('EventRecorder (real API server)', () => {
  interface EventList {
    items: { metadata: { name: string }; count?: number; reason?: string; type?: string; message?: string; source?: { component?: string }; involvedObject?: { uid?: string; kind?: string } }[];
  }
  const events = async (name: string, namespace = ns): Promise<EventList['items']> =>
    (JSON.parse(await kubectl(['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`, '-o', 'json'])) as EventList).items;

  it('creates an Event visible with kubectl and aggregates a repeat into count 2', { timeout: 60_000 }, async () => {
    const w = await widgets.create('ev-target', 1);
    const registry = new Registry();
    const rec = new EventRecorder({ core: ourCore, component: 'floodgate-controller', host: 'test-host', logger, registry });

    await rec.event(w, 'Normal', 'WidgetSeen', 'saw the widget');
    let items = await events('ev-target');
    assert.equal(items.length, 1);
    assert.equal(items[0]?.count, 1);
    assert.equal(items[0]?.reason, 'WidgetSeen');
    assert.equal(items[0]?.type, 'Normal');
    assert.equal(items[0]?.source?.component, 'floodgate-controller');
    assert.equal(items[0]?.involvedObject?.uid, w.metadata?.uid);
    assert.equal(items[0]?.involvedObject?.kind, 'Widget');
    const table = await kubectl(['get', 'events', '-n', ns]);
    assert.match(table, /WidgetSeen/);

    await rec.event(w, 'Normal', 'WidgetSeen', 'saw the widget');
    items = await events('ev-target');
    assert.equal(items.length, 1, 'aggregated, not a second Event');
    assert.equal(items[0]?.count, 2);

    // Concurrent repeats are serialised: still one Event.
    await Promise.all([rec.event(w, 'Normal', 'WidgetSeen', 'saw the widget'), rec.event(w, 'Normal', 'WidgetSeen', 'saw the widget')]);
    items = await events('ev-target');
    assert.equal(items.length, 1);
    assert.equal(items[0]?.count, 4);

    // Another message or type is another Event.
    await rec.warning(w, 'WidgetTooBig', 'size 1 is over the limit');
    items = await events('ev-target');
    assert.equal(items.length, 2);
    assert.equal(items.find((i) => i.reason === 'WidgetTooBig')?.type, 'Warning');

    // An invalid reason is dropped (and logged), never thrown.
    await rec.event(w, 'Normal', 'not camel case', 'x');
    await rec.event(w, 'Normal', 'widget_seen', 'x');
    assert.equal((await events('ev-target')).length, 2);
    const m = await registry.getSingleMetricAsString('floodgate_k8s_events_total');
    assert.match(m, /outcome="invalid"\} 2/);
    assert.match(m, /type="Normal",outcome="aggregated"\} 3/);

    // Cluster-scoped objects get their Events in "default".
    await rec.normal({ apiVersion: 'v1', kind: 'Namespace', name: ns }, 'NamespaceSeen', 'hello');
    assert.equal((await events(ns, 'default')).length, 1);
  });

  it('never throws when the API fails', async () => {
    const rec = new EventRecorder({ core: ourCore, component: 'x', logger });
    // Namespace that does not exist: the create fails with 404.
    await rec.event({ apiVersion: 'v1', kind: 'Pod', name: 'p', namespace: 'no-such-ns-here' }, 'Normal', 'Fine', 'x');
    await rec.flush();
  });
});
