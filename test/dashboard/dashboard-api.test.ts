// The dashboard API's guards over real HTTP: the page open, reads with the
// token (bearer) or a session, writes only with the token or a session plus
// CSRF token from the same origin, failed sign-ins rate-limited, bodies
// shape-checked before anything reaches the API server. (The attacks on it
// are in test/security/dashboard.test.ts.) The API server's own validation is exercised end to end in
// test/dashboard/dashboard.e2e.test.ts.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { AgentResolver } from '../../controller/agents/agent-resolver.js';
import { DEFENSE_POLICY, resolved, type DefensePolicy } from '../../api/v1alpha1/index.js';
import { MemoryMonitor } from '../../controller/memory/memory-monitor.js';
import type { NamespacedName } from '../../kube/resource-client.js';
import { DashboardAuth, SESSION_COOKIE } from '../../controller/dashboard/dashboard-auth.js';
import { apiServerMessage, createDashboardApp } from '../../controller/dashboard/dashboard-app.js';
import { DashboardData } from '../../controller/dashboard/dashboard-data.js';
import { controlsMergePatch } from '../../controller/dashboard/dashboard-schemas.js';

const TOKEN = 'dashboard-token-0123456789';

const policy: DefensePolicy = resolved(DEFENSE_POLICY, {
  apiVersion: 'floodgate.dev/v1alpha1',
  kind: 'DefensePolicy',
  metadata: { namespace: 'prod', name: 'web', generation: 1 },
  spec: { detection: { windowSeconds: 5 } }, // no agents
});

interface Harness {
  url: string;
  patches: { ref: NamespacedName; body: object }[];
  deletes: NamespacedName[];
  close(): Promise<void>;
}

async function start(token: string | null = TOKEN): Promise<Harness> {
  const patches: Harness['patches'] = [];
  const deletes: Harness['deletes'] = [];
  const logger = pino({ level: 'silent' });
  const data = new DashboardData({
    listPolicies: () => [policy],
    listPods: async () => [],
    resolver: new AgentResolver(undefined as never),
    memory: new MemoryMonitor([]),
    logger,
  });
  const app = createDashboardApp({
    auth: new DashboardAuth({ token: token ?? undefined, maxFailedLogins: 3 }),
    data,
    listPolicies: () => [policy],
    listBlockEvents: () => [],
    listSignatureRules: () => [],
    deleteSignatureRule: async (ref) => {
      deletes.push(ref);
    },
    patchPolicy: async (ref, body) => {
      patches.push({ ref, body });
      return policy;
    },
    deleteBlockEvent: async (ref) => {
      deletes.push(ref);
    },
    logger,
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, patches, deletes, close: () => new Promise((r) => server.close(() => r())) };
}

async function signIn(h: Harness): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${h.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) });
  assert.equal(res.status, 200);
  const setCookie = res.headers.get('set-cookie') ?? '';
  assert.match(setCookie, new RegExp(`^${SESSION_COOKIE}=`));
  assert.match(setCookie, /HttpOnly/i);
  assert.match(setCookie, /SameSite=Strict/i);
  const body = (await res.json()) as { csrfToken: string };
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrfToken };
}

const patchBody = JSON.stringify({ attackerShareThreshold: 0.3 });

describe('dashboard API: authentication and CSRF', () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(() => h.close());
  beforeEach(() => {
    h.patches.length = 0;
    h.deletes.length = 0;
  });

  it('serves the page without a token, reads only with it, and never sends the token back', async () => {
    const page = await fetch(`${h.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.match(await page.text(), /<script type="module" src="\/app.js">/);
    const uplot = await fetch(`${h.url}/vendor/uplot/uPlot.esm.js`);
    assert.equal(uplot.status, 200);
    for (const path of ['/api/policies', '/api/blocks', '/api/traffic', '/api/top-talkers', '/api/attacks', '/api/memory']) {
      assert.equal((await fetch(`${h.url}${path}`)).status, 401, path);
    }
    const policies = await fetch(`${h.url}/api/policies`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(policies.status, 200);
    const text = await policies.text();
    assert.match(text, /"windowSeconds":5/);
    assert.ok(!text.includes(TOKEN));
    const { cookie } = await signIn(h);
    assert.equal((await fetch(`${h.url}/api/blocks`, { headers: { cookie } })).status, 200);
    const session = (await (await fetch(`${h.url}/api/session`)).json()) as Record<string, unknown>;
    assert.deepEqual(session, { writable: true, signedIn: false });
  });

  it('refuses writes without a token or session (401) and changes nothing', async () => {
    const patch = await fetch(`${h.url}/api/policies/prod/web`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: patchBody });
    assert.equal(patch.status, 401);
    const del = await fetch(`${h.url}/api/blocks/prod/be-1`, { method: 'DELETE' });
    assert.equal(del.status, 401);
    assert.deepEqual(h.patches, []);
    assert.deepEqual(h.deletes, []);
  });

  it('refuses a wrong bearer token and accepts the right one', async () => {
    const bad = await fetch(`${h.url}/api/blocks/prod/be-1`, { method: 'DELETE', headers: { authorization: 'Bearer nope-nope-nope-nope' } });
    assert.equal(bad.status, 401);
    const good = await fetch(`${h.url}/api/blocks/prod/be-1`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(good.status, 200);
    assert.deepEqual(h.deletes, [{ namespace: 'prod', name: 'be-1' }]);
  });

  it('a session write needs the CSRF token and the same origin', async () => {
    const { cookie, csrf } = await signIn(h);
    const headers = { 'content-type': 'application/json', cookie };
    const noCsrf = await fetch(`${h.url}/api/policies/prod/web`, { method: 'PATCH', headers, body: patchBody });
    assert.equal(noCsrf.status, 403);
    assert.match(((await noCsrf.json()) as { error: string }).error, /CSRF/);
    const wrongCsrf = await fetch(`${h.url}/api/policies/prod/web`, { method: 'PATCH', headers: { ...headers, 'x-csrf-token': 'x'.repeat(43) }, body: patchBody });
    assert.equal(wrongCsrf.status, 403);
    const crossSite = await fetch(`${h.url}/api/policies/prod/web`, { method: 'PATCH', headers: { ...headers, 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' }, body: patchBody });
    assert.equal(crossSite.status, 403);
    const otherOrigin = await fetch(`${h.url}/api/policies/prod/web`, { method: 'PATCH', headers: { ...headers, 'x-csrf-token': csrf, origin: 'http://evil.example' }, body: patchBody });
    assert.equal(otherOrigin.status, 403);
    assert.deepEqual(h.patches, []);
    const ok = await fetch(`${h.url}/api/policies/prod/web`, { method: 'PATCH', headers: { ...headers, 'x-csrf-token': csrf, 'sec-fetch-site': 'same-origin' }, body: patchBody });
    assert.equal(ok.status, 200);
    assert.deepEqual(h.patches, [{ ref: { namespace: 'prod', name: 'web' }, body: { spec: { detection: { attackerShareThreshold: 0.3 } } } }]);
  });

  it('a CSRF token of another session does not work, and sign-out ends the session', async () => {
    const a = await signIn(h);
    const b = await signIn(h);
    const mixed = await fetch(`${h.url}/api/blocks/prod/x`, { method: 'DELETE', headers: { cookie: a.cookie, 'x-csrf-token': b.csrf } });
    assert.equal(mixed.status, 403);
    const session = (await (await fetch(`${h.url}/api/session`, { headers: { cookie: a.cookie } })).json()) as { signedIn: boolean; csrfToken: string };
    assert.equal(session.signedIn, true);
    assert.equal(session.csrfToken, a.csrf);
    await fetch(`${h.url}/api/logout`, { method: 'POST', headers: { cookie: a.cookie } });
    const after = await fetch(`${h.url}/api/blocks/prod/x`, { method: 'DELETE', headers: { cookie: a.cookie, 'x-csrf-token': a.csrf } });
    assert.equal(after.status, 401);
    assert.deepEqual(h.deletes, []);
  });

  it('rate-limits failed sign-ins per client, and a wrong token never creates a session', async () => {
    const attempt = () => fetch(`${h.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'guess-guess-guess-guess' }) });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await attempt();
      statuses.push(r.status);
      assert.equal(r.headers.get('set-cookie'), null);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    // Even the right token waits out the limit.
    const right = await fetch(`${h.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) });
    assert.equal(right.status, 429);
  });
});

describe('dashboard API: validation at the boundary', () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(() => h.close());

  const patch = (body: string, name = 'web') =>
    fetch(`${h.url}/api/policies/prod/${name}`, { method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body });

  it('refuses bodies of the wrong shape with one line, before the API server sees them', async () => {
    const cases: [string, RegExp][] = [
      ['{"attackerShareThreshold":"0.3"}', /attackerShareThreshold must be a number/],
      ['{"minPackets":5}', /minPackets|unrecognized/i],
      ['{}', /at least one of/],
      ['{"windowSeconds":', /JSON|Unexpected|expected/i],
    ];
    for (const [body, re] of cases) {
      const res = await patch(body);
      assert.equal(res.status, 400, body);
      const { error } = (await res.json()) as { error: string };
      assert.match(error, re, body);
      assert.ok(!error.includes('\n'), `one line: ${error}`);
    }
    assert.equal((await patch('{"windowSeconds":3}', 'Not_A_Name')).status, 400);
    assert.deepEqual(h.patches, []);
  });

  it('builds a merge patch holding only the given controls at their places in the spec', () => {
    assert.deepEqual(controlsMergePatch({ memoryThresholdPercent: 80, windowSeconds: 9, banDurationSeconds: 300 }), {
      spec: { trigger: { memoryThresholdPercent: 80 }, detection: { windowSeconds: 9 }, mitigation: { banDurationSeconds: 300 } },
    });
  });

  it("passes the API server's message through", () => {
    const body = JSON.stringify({ kind: 'Status', message: 'DefensePolicy.floodgate.dev "web" is invalid: spec.detection.attackerShareThreshold: Invalid value: 50', code: 422 });
    assert.equal(apiServerMessage(Object.assign(new Error('HTTP-Code: 422'), { body })), 'DefensePolicy.floodgate.dev "web" is invalid: spec.detection.attackerShareThreshold: Invalid value: 50');
  });
});

describe('dashboard API without a token file', () => {
  it('answers every API call 401, saying how to configure a token; the page is still served', async () => {
    const h = await start(null);
    try {
      assert.equal((await fetch(`${h.url}/`)).status, 200);
      for (const [method, path] of [['GET', '/api/session'], ['GET', '/api/policies'], ['POST', '/api/login'], ['DELETE', '/api/blocks/prod/x']]) {
        const res = await fetch(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: method === 'POST' ? JSON.stringify({ token: TOKEN }) : undefined });
        assert.equal(res.status, 401, path);
        assert.match(((await res.json()) as { error: string }).error, /--dashboard-token-file/);
      }
      assert.deepEqual(h.deletes, []);
    } finally {
      await h.close();
    }
  });
});
