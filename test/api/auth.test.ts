import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it, mock } from 'node:test';
import { bearerToken, tokenMatches } from '../../agent/api/auth.js';
import { jsonOf, startTestApi, TOKEN, type TestApi } from './helpers.js';

describe('API authentication', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('serves /healthz without a token', async () => {
    const res = await api.request('/healthz', { auth: false });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  for (const path of ['/readyz', '/metrics', '/v1/blocks', '/v1/traffic', '/no-such-route']) {
    it(`refuses ${path} without a token: 401, WWW-Authenticate, JSON error`, async () => {
      const res = await api.request(path, { auth: false });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.match(String((await jsonOf(res)).error), /missing bearer token/);
    });
  }

  it('refuses a wrong token, a token of another length and a non-Bearer scheme', async () => {
    for (const authorization of [`Bearer ${TOKEN.slice(0, -1)}x`, 'Bearer x', `Bearer ${TOKEN}${TOKEN}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
      const res = await api.request('/v1/blocks', { auth: false, headers: { authorization } });
      assert.equal(res.status, 401, authorization);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/);
      assert.ok(typeof (await jsonOf(res)).error === 'string');
    }
  });

  it('accepts the right token (scheme case-insensitive)', async () => {
    assert.equal((await api.request('/v1/blocks')).status, 200);
    const res = await api.request('/v1/blocks', { auth: false, headers: { authorization: `bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
  });

  it('an unauthenticated write never reaches the ban service', async () => {
    const res = await api.request('/v1/blocks', {
      method: 'POST',
      auth: false,
      json: { ip: '192.0.2.1', durationSeconds: 60, reason: 'x' },
    });
    assert.equal(res.status, 401);
    assert.equal(api.bans.calls.length, 0);
  });

  it('compares tokens with crypto.timingSafeEqual over equal-length digests', async () => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    try {
      await api.request('/v1/blocks', { auth: false, headers: { authorization: 'Bearer short' } });
      await api.request('/v1/blocks');
      assert.equal(spy.mock.callCount(), 2);
      for (const call of spy.mock.calls) {
        const [a, b] = call.arguments as unknown as [Buffer, Buffer];
        assert.equal(a.length, 32);
        assert.equal(b.length, 32);
      }
    } finally {
      spy.mock.restore();
    }
  });
});

describe('tokenMatches and bearerToken', () => {
  it('matches only the same token, whatever the lengths', () => {
    assert.equal(tokenMatches('abc', 'abc'), true);
    assert.equal(tokenMatches('abd', 'abc'), false);
    assert.equal(tokenMatches('', 'abc'), false);
    assert.equal(tokenMatches('a'.repeat(10_000), 'abc'), false);
  });

  it('extracts the token of a Bearer header only', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('BEARER abc'), 'abc');
    assert.equal(bearerToken('Basic abc'), undefined);
    assert.equal(bearerToken('Bearer a b'), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});

describe('API without a token (loopback-only mode)', () => {
  it('serves requests and warns once', async () => {
    const api = await startTestApi({ noToken: true });
    try {
      assert.equal((await api.request('/v1/blocks')).status, 200);
      assert.equal((await api.request('/readyz')).status, 200);
      const warnings = api.lines.filter((l) => String(l.msg).includes('no token configured'));
      assert.equal(warnings.length, 1);
    } finally {
      await api.close();
    }
  });

  it('refuses an empty token at construction', async () => {
    await assert.rejects(startTestApi({ token: '' }), /token is empty/);
  });
});
