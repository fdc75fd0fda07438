/**
 * The default watch function (watchFnFromKubeConfig) against a local HTTP
 * server: query and auth, event lines, clean end, HTTP errors with their
 * status, abort while still connecting, connect timeout.
 *
 *   node --import tsx --test test/kube/kube-watch.test.ts
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeConfig } from '../../kube/kube-config.js';
import { watchFnFromKubeConfig } from '../../kube/informer.js';

type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let route: Route = (_req, res) => res.end();
let server: http.Server;
let kc: KubeConfig;
const openSockets = new Set<import('node:net').Socket>();

before(async () => {
  server = http.createServer((req, res) => route(req, res));
  server.on('connection', (s) => {
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
});

after(async () => {
  for (const s of openSockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function collector() {
  const events: [string, unknown][] = [];
  const done: unknown[] = [];
  return {
    events,
    done,
    onEvent: (t: string, o: unknown) => void events.push([t, o]),
    onDone: (e: unknown) => void done.push(e),
  };
}

describe('watchFnFromKubeConfig', () => {
  it('sends the query and the token, delivers events line by line, and reports a clean end', async () => {
    let seenUrl = '';
    let seenAuth = '';
    route = (req, res) => {
      seenUrl = req.url ?? '';
      seenAuth = String(req.headers.authorization);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5' } } })}\n`);
      // An event split across two chunks.
      const line = JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '6' } } });
      res.write(line.slice(0, 10));
      setTimeout(() => {
        res.write(`${line.slice(10)}\n`);
        res.end();
      }, 20);
    };
    const c = collector();
    const watch = watchFnFromKubeConfig(kc);
    await watch('/apis/g/v1/namespaces/ns/widgets', { resourceVersion: '4', allowWatchBookmarks: true, labelSelector: undefined }, c.onEvent, c.onDone);
    for (let i = 0; i < 100 && c.done.length === 0; i++) await delay(10);
    const u = new URL(seenUrl, 'http://x');
    assert.equal(u.pathname, '/apis/g/v1/namespaces/ns/widgets');
    assert.equal(u.searchParams.get('watch'), 'true');
    assert.equal(u.searchParams.get('resourceVersion'), '4');
    assert.equal(u.searchParams.get('allowWatchBookmarks'), 'true');
    assert.equal(u.searchParams.has('labelSelector'), false);
    assert.equal(seenAuth, 'Bearer secret-token');
    assert.deepEqual(
      c.events.map(([t]) => t),
      ['ADDED', 'BOOKMARK'],
    );
    assert.deepEqual(c.done, [null]);
  });

  it('turns an HTTP error into an error carrying statusCode and the Status message', async () => {
    route = (_req, res) => {
      res.writeHead(410, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' }));
    };
    const c = collector();
    await watchFnFromKubeConfig(kc)('/api/v1/pods', {}, c.onEvent, c.onDone);
    for (let i = 0; i < 100 && c.done.length === 0; i++) await delay(10);
    const err = c.done[0] as Error & { statusCode?: number };
    assert.equal(err.statusCode, 410);
    assert.match(err.message, /HTTP 410: too old resource version/);
  });

  it('abort() tears the request down even before any response, without calling onDone', async () => {
    let arrived = 0;
    route = () => {
      arrived++; // never answers
    };
    const c = collector();
    const h = await watchFnFromKubeConfig(kc)('/api/v1/pods', {}, c.onEvent, c.onDone);
    for (let i = 0; i < 100 && arrived === 0; i++) await delay(10);
    assert.equal(arrived, 1);
    assert.equal(openSockets.size, 1);
    h.abort();
    for (let i = 0; i < 100 && openSockets.size > 0; i++) await delay(10);
    assert.equal(openSockets.size, 0, 'socket closed');
    assert.deepEqual(c.done, []);
  });

  it('gives up after connectTimeoutMs without response headers', async () => {
    route = () => undefined;
    const c = collector();
    await watchFnFromKubeConfig(kc, { connectTimeoutMs: 100 })('/api/v1/pods', {}, c.onEvent, c.onDone);
    for (let i = 0; i < 100 && c.done.length === 0; i++) await delay(10);
    assert.match(String((c.done[0] as Error).message), /no response within 100 ms/);
    for (let i = 0; i < 100 && openSockets.size > 0; i++) await delay(10);
    assert.equal(openSockets.size, 0);
  });

  it('reports a connection cut mid-stream as an error', async () => {
    route = (req, res) => {
      res.writeHead(200);
      res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n`);
      setTimeout(() => req.socket.destroy(), 20);
    };
    const c = collector();
    await watchFnFromKubeConfig(kc)('/api/v1/pods', {}, c.onEvent, c.onDone);
    for (let i = 0; i < 100 && c.done.length === 0; i++) await delay(10);
    assert.equal(c.events.length, 1);
    assert.equal(c.done.length, 1);
    assert.ok(c.done[0] instanceof Error, `done with ${String(c.done[0])}`);
  });
});
