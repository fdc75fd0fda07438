/**
 * Informer against an in-memory fake (fake-api.ts): cache and handlers, the
 * 410 paths (ERROR event in the stream, HTTP 410) with re-list diffs, the
 * silence watchdog, periodic re-list, backoff without restart storms, stop().
 * The same informer against a real API server: integration.test.ts.
 *
 *   node --import tsx --test test/kube/informer.test.ts
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { type EventInfo, Informer, type InformerOptions, objectKey, splitKey } from '../../kube/informer.js';
import { Backoff } from '../../lib/backoff.js';
import { FakeApi, type Widget } from './fake-api.js';

async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

interface Seen {
  type: 'add' | 'update' | 'delete';
  name: string;
  size?: number;
  oldSize?: number;
  info: EventInfo;
}

const started: Informer<Widget>[] = [];

function setup(fake: FakeApi, extra: Partial<InformerOptions<Widget>> = {}) {
  const registry = new Registry();
  const seen: Seen[] = [];
  const inf = new Informer<Widget>({
    name: 'widgets',
    list: fake.list,
    watch: fake.watch,
    watchPath: '/apis/test.floodgate.dev/v1alpha1/namespaces/default/widgets',
    registry,
    backoff: { initialMs: 20, maxMs: 200, jitter: 0 },
    ...extra,
  });
  inf.onAdd((o, info) => seen.push({ type: 'add', name: o.metadata?.name ?? '', size: o.spec?.size, info }));
  inf.onUpdate((o, n, info) =>
    seen.push({ type: 'update', name: n.metadata?.name ?? '', size: n.spec?.size, oldSize: o.spec?.size, info }),
  );
  inf.onDelete((o, info) => seen.push({ type: 'delete', name: o.metadata?.name ?? '', size: o.spec?.size, info }));
  started.push(inf);
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const m = await registry.getSingleMetric(name)?.get();
    const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
    return v?.value ?? 0;
  };
  return { inf, seen, registry, metric };
}

afterEach(async () => {
  for (const inf of started.splice(0)) await inf.stop();
});

describe('Informer (fake API)', () => {
  it('lists, syncs, then applies watch add/update/delete to the cache and handlers', async () => {
    const fake = new FakeApi();
    fake.create('a', 1);
    fake.create('b', 2);
    const { inf, seen } = setup(fake);
    let syncedCalls = 0;
    inf.onSynced(() => syncedCalls++);
    inf.start();
    await inf.waitForSync(2000);
    assert.equal(syncedCalls, 1);
    assert.deepEqual(inf.keys().sort(), ['default/a', 'default/b']);
    assert.equal(inf.get('a', 'default')?.spec?.size, 1);
    assert.equal(inf.getByKey('default/b')?.spec?.size, 2);
    assert.deepEqual(
      seen.map((s) => [s.type, s.name, s.info.origin, s.info.relistReason]),
      [
        ['add', 'a', 'list', 'initial'],
        ['add', 'b', 'list', 'initial'],
      ],
    );
    await until(() => fake.active.size === 1, 1000, 'watch open');
    await delay(5);
    seen.length = 0;
    fake.create('c', 3);
    fake.update('a', 10);
    fake.remove('b');
    await until(() => seen.length === 3, 1000, 'three watch events');
    assert.deepEqual(
      seen.map((s) => [s.type, s.name, s.size, s.info.origin]),
      [
        ['add', 'c', 3, 'watch'],
        ['update', 'a', 10, 'watch'],
        ['delete', 'b', 2, 'watch'],
      ],
    );
    assert.equal(seen[1]?.oldSize, 1);
    assert.deepEqual(inf.keys().sort(), ['default/a', 'default/c']);
    assert.equal(inf.lastSyncResourceVersion(), String(fake.rv));
    assert.equal(inf.list('default').length, 2);
    assert.equal(inf.list('other').length, 0);
    // The watch asked for bookmarks and started at the list's resourceVersion.
    assert.equal(fake.watchQueries[0]?.allowWatchBookmarks, true);
    assert.equal(fake.watchQueries[0]?.resourceVersion, '1002');
    // onSynced registered after sync still fires (once).
    let late = 0;
    inf.onSynced(() => late++);
    await delay(1);
    assert.equal(late, 1);
  });

  it('ERROR 410 in the watch stream -> re-list with synthetic diffs (delete while disconnected -> onDelete)', async () => {
    const fake = new FakeApi();
    fake.create('a', 1);
    fake.create('b', 2);
    fake.create('c', 3);
    const { inf, seen, metric } = setup(fake);
    inf.start();
    await inf.waitForSync(2000);
    await until(() => fake.active.size === 1, 1000, 'watch open');
    seen.length = 0;

    // Outage: watches drop and cannot reconnect; meanwhile the world changes
    // and the server's history is compacted past our resourceVersion.
    fake.down = true;
    fake.dropWatches();
    fake.remove('b');
    fake.update('c', 30);
    fake.create('d', 4);
    fake.remove('a');
    fake.create('a', 5); // re-created: new uid
    fake.compact();
    await delay(60);
    assert.equal(seen.length, 0, 'nothing seen while down');
    fake.down = false;

    await until(() => seen.length >= 5, 3000, 'diffs after re-list');
    await delay(20);
    const got = seen.map((s) => [s.type, s.name, s.size, s.info.origin, s.info.relistReason]);
    assert.deepEqual(
      got.filter((g) => g[0] === 'delete').sort(),
      [
        ['delete', 'a', 1, 'list', 'gone'],
        ['delete', 'b', 2, 'list', 'gone'],
      ],
    );
    assert.deepEqual(
      got.filter((g) => g[0] !== 'delete').sort(),
      [
        ['add', 'a', 5, 'list', 'gone'],
        ['add', 'd', 4, 'list', 'gone'],
        ['update', 'c', 30, 'list', 'gone'],
      ],
    );
    assert.deepEqual(inf.keys().sort(), ['default/a', 'default/c', 'default/d']);
    assert.equal(await metric('floodgate_informer_relists_total', { reason: 'gone' }), 1);
    assert.equal(await metric('floodgate_informer_watch_restarts_total', { reason: 'gone' }), 1);
    assert.ok((await metric('floodgate_informer_watch_restarts_total', { reason: 'error' })) >= 1);
    assert.equal(await metric('floodgate_informer_events_total', { type: 'ERROR' }), 1);
    assert.equal(await metric('floodgate_informer_objects', {}), 3);
    assert.equal(fake.maxConcurrentWatches, 1, 'never two watches at once');

    // And it keeps watching from the new list's resourceVersion.
    await until(() => fake.active.size === 1, 1000, 'watch reopened');
    await delay(5);
    seen.length = 0;
    fake.update('d', 40);
    await until(() => seen.length === 1, 1000, 'update after re-list');
    assert.deepEqual([seen[0]?.type, seen[0]?.info.origin], ['update', 'watch']);
  });

  it('HTTP 410 on the watch request also re-lists', async () => {
    const fake = new FakeApi();
    fake.create('a', 1);
    const { inf, seen, metric } = setup(fake);
    inf.start();
    await inf.waitForSync(2000);
    await until(() => fake.active.size === 1, 1000, 'watch open');
    fake.failWatchWith = 'http410';
    fake.remove('a', { silent: true });
    fake.dropWatches(null); // server closes cleanly; the re-watch gets HTTP 410
    await until(() => seen.some((s) => s.type === 'delete'), 2000, 'synthetic delete');
    fake.failWatchWith = undefined;
    assert.equal(inf.size, 0);
    assert.ok((await metric('floodgate_informer_relists_total', { reason: 'gone' })) >= 1);
  });

  it('the silence watchdog restarts a watch that delivers nothing, keeping its resourceVersion', async () => {
    const fake = new FakeApi();
    fake.create('a', 1);
    fake.mute = true;
    const { inf, metric } = setup(fake, { silenceTimeoutMs: 150 });
    inf.start();
    await inf.waitForSync(2000);
    await until(() => fake.watchCalls >= 4, 3000, 'watchdog restarts');
    assert.ok((await metric('floodgate_informer_watch_restarts_total', { reason: 'silence' })) >= 3);
    assert.equal(await metric('floodgate_informer_relists_total', {}), 1, 'only the initial list: resourceVersion kept');
    assert.ok(fake.watchQueries.every((q) => q.resourceVersion === '1001'));
    assert.equal(fake.maxConcurrentWatches, 1);
    // Server-side timeout below the watchdog, so a healthy quiet watch is renewed by the server first.
    assert.ok(fake.watchQueries.every((q) => typeof q.timeoutSeconds === 'number'));
  });

  it('BOOKMARKs keep the watchdog quiet', async () => {
    const fake = new FakeApi();
    const { inf, metric } = setup(fake, { silenceTimeoutMs: 150 });
    inf.start();
    await inf.waitForSync(2000);
    const timer = setInterval(() => fake.bookmark(), 40);
    await delay(500);
    clearInterval(timer);
    assert.equal(await metric('floodgate_informer_watch_restarts_total', { reason: 'silence' }), 0);
    assert.equal(fake.watchCalls, 1);
    assert.ok((await metric('floodgate_informer_events_total', { type: 'BOOKMARK' })) >= 5);
  });

  it('re-lists periodically and diffs what the watch missed', async () => {
    const fake = new FakeApi();
    fake.create('a', 1);
    fake.create('b', 2);
    const { inf, seen, metric } = setup(fake, { relistIntervalMs: 250 });
    inf.start();
    await inf.waitForSync(2000);
    await until(() => fake.active.size === 1, 1000, 'watch open');
    seen.length = 0;
    // Changes no watch sees (as if events were lost).
    fake.update('a', 11, { silent: true });
    fake.remove('b', { silent: true });
    await until(() => seen.length >= 2, 2000, 'periodic re-list diffs');
    assert.deepEqual(
      seen.map((s) => [s.type, s.name, s.info.origin, s.info.relistReason]).sort(),
      [
        ['delete', 'b', 'list', 'periodic'],
        ['update', 'a', 'list', 'periodic'],
      ],
    );
    assert.ok((await metric('floodgate_informer_relists_total', { reason: 'periodic' })) >= 1);
    assert.ok((await metric('floodgate_informer_watch_restarts_total', { reason: 'relist' })) >= 1);
    assert.equal(fake.maxConcurrentWatches, 1);
  });

  it('backs off on errors: no restart storm, one watch at a time', async () => {
    const fake = new FakeApi();
    fake.create('a', 1);
    const { inf, metric } = setup(fake, { backoff: { initialMs: 50, maxMs: 400, jitter: 0 } });
    inf.start();
    await inf.waitForSync(2000);
    await until(() => fake.active.size === 1, 1000, 'watch open');
    fake.down = true;
    const before = fake.watchCalls;
    fake.dropWatches();
    await delay(1200);
    const attempts = fake.watchCalls - before;
    // Delays 50, 100, 200, 400, 400, ... -> about 5-6 attempts in 1.2 s (a storm would be thousands).
    assert.ok(attempts >= 4 && attempts <= 8, `attempts ${attempts}`);
    assert.ok((await metric('floodgate_informer_errors_total', { op: 'watch' })) >= 4);
    assert.equal(fake.maxConcurrentWatches, 1);
    // Recovery resets the backoff: the next failure retries fast again.
    fake.down = false;
    await until(() => fake.active.size === 1, 2000, 'reconnected');
    fake.create('b', 2);
    await until(() => inf.size === 2, 1000, 'event after reconnect');
  });

  it('backs off when LIST fails, and syncs once it works', async () => {
    const fake = new FakeApi();
    fake.create('a', 1);
    fake.failList = Object.assign(new Error('HTTP 503'), { code: 503 });
    const { inf, metric } = setup(fake, { backoff: { initialMs: 40, maxMs: 160, jitter: 0 } });
    inf.start();
    await delay(400);
    assert.equal(inf.hasSynced(), false);
    assert.ok(fake.listCalls >= 3 && fake.listCalls <= 7, `list calls ${fake.listCalls}`);
    assert.equal(fake.watchCalls, 0, 'no watch before a list succeeded');
    fake.failList = undefined;
    await inf.waitForSync(2000);
    assert.ok((await metric('floodgate_informer_errors_total', { op: 'list' })) >= 3);
  });

  it('a throwing handler does not break the informer', async () => {
    const fake = new FakeApi();
    const { inf } = setup(fake);
    inf.onAdd(() => {
      throw new Error('handler bug');
    });
    inf.start();
    await inf.waitForSync(2000);
    await until(() => fake.active.size === 1, 1000, 'watch open');
    fake.create('a', 1);
    fake.create('b', 2);
    await until(() => inf.size === 2, 1000, 'both cached');
  });

  it('stop() aborts the watch and a hanging LIST, and nothing restarts afterwards', async () => {
    const fake = new FakeApi();
    const { inf } = setup(fake);
    inf.start();
    await inf.waitForSync(2000);
    await until(() => fake.active.size === 1, 1000, 'watch open');
    await inf.stop();
    assert.equal(fake.active.size, 0);
    const calls = fake.watchCalls;
    await delay(100);
    assert.equal(fake.watchCalls, calls);

    const fake2 = new FakeApi();
    fake2.hangList = true;
    const { inf: inf2 } = setup(fake2);
    inf2.start();
    const waiting = inf2.waitForSync();
    await delay(30);
    const t0 = Date.now();
    await inf2.stop();
    assert.ok(Date.now() - t0 < 200, 'stop does not wait for the hanging LIST');
    await assert.rejects(waiting, /stopped before sync/);
  });
});

describe('informer helpers', () => {
  it('objectKey / splitKey', () => {
    assert.equal(objectKey({ metadata: { name: 'n', namespace: 'ns' } }), 'ns/n');
    assert.equal(objectKey({ metadata: { name: 'node-1' } }), 'node-1');
    assert.deepEqual(splitKey('ns/n'), { namespace: 'ns', name: 'n' });
    assert.deepEqual(splitKey('node-1'), { name: 'node-1' });
  });

  it('Backoff grows exponentially to its ceiling, with bounded jitter, and resets', () => {
    const b = new Backoff({ initialMs: 200, maxMs: 30_000, jitter: 0 });
    const seq = Array.from({ length: 10 }, () => b.next());
    assert.deepEqual(seq, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
    b.reset();
    assert.equal(b.next(), 200);
    const j = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 });
    for (let i = 0; i < 50; i++) {
      const d = j.next();
      assert.ok(d >= 800 && d <= 1000, String(d));
    }
  });
});
