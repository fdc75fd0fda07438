// Every class of bad input gets a 4xx JSON {error} on one line, never a stack
// trace or HTML, and never reaches the ban service or the analyzer.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { startTestApi, TOKEN, type TestApi } from './helpers.js';

const INJECTION_CORPUS = [
  '1.2.3.4; rm -rf /',
  '$(id)',
  '`id`',
  '1.2.3.4\nflush ruleset',
  '} ; flush ruleset',
  'drop',
  '10.0.0.1 counter drop',
  '::1;reboot',
  'A'.repeat(10 * 1024),
  '../../etc/passwd',
  // Beyond the brief's list: forms Node or a shell might still accept.
  'fe80::1%eth0',
  '1.2.3.4/33',
  '1.2.3.4/024',
  '1.2.3.4/',
  ' 1.2.3.4',
  '1.2.3.4\u0000',
  '0x7f.1',
  '',
];

async function expectError(res: Response, status: number, message?: RegExp): Promise<string> {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const text = await res.text();
  const body = JSON.parse(text) as { error?: unknown };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(typeof body.error, 'string');
  const error = body.error as string;
  assert.doesNotMatch(error, /[\n\r]/);
  assert.doesNotMatch(text, /\bat [\w.<>]+ \(|node_modules|\.ts:\d+/);
  assert.ok(error.length <= 300, `error of ${error.length} chars`);
  if (message) assert.match(error, message);
  return error;
}

describe('bad input', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());
  afterEach(() => {
    const banCalls = api.bans.calls.splice(0);
    const analyses = api.analyzer.calls.splice(0);
    assert.deepEqual(banCalls, [], 'the ban service must not be called');
    assert.deepEqual(analyses, [], 'the analyzer must not be called');
  });

  const post = (path: string, json: unknown) => api.request(path, { method: 'POST', json });
  const valid = { ip: '198.51.100.7', durationSeconds: 60, reason: 'flood' };

  it('injection corpus in "ip" → 400', async () => {
    for (const ip of INJECTION_CORPUS) await expectError(await post('/v1/blocks', { ...valid, ip }), 400, /^ip: /);
  });

  it('injection corpus in "cidr" → 400', async () => {
    for (const cidr of INJECTION_CORPUS) {
      const { ip: _ip, ...rest } = valid;
      await expectError(await post('/v1/blocks', { ...rest, cidr }), 400, /^cidr: /);
    }
  });

  it('injection corpus in the DELETE path → 400, and an empty segment is no unban-all', async () => {
    for (const value of INJECTION_CORPUS) {
      const res = await api.request(`/v1/blocks/${encodeURIComponent(value)}`, { method: 'DELETE' });
      // "" is DELETE /v1/blocks/, the whole list: refused without ?all=true.
      await expectError(res, 400, value === '' ? /^all: must be "true"/ : /^ip: /);
    }
  });

  it('a path that is not valid percent-encoding → 400', async () => {
    await expectError(await api.request('/v1/blocks/%E0%A4%A', { method: 'DELETE' }), 400);
  });

  it('exactly one of ip and cidr', async () => {
    await expectError(await post('/v1/blocks', { ...valid, cidr: '10.0.0.0/24' }), 400, /exactly one of "ip" or "cidr"/);
    const { ip: _ip, ...none } = valid;
    await expectError(await post('/v1/blocks', none), 400, /exactly one of "ip" or "cidr"/);
    await expectError(await post('/v1/blocks', { ...valid, ip: '10.0.0.0/24' }), 400, /use "cidr" for a range/);
  });

  it('durations: negative, zero, fractional, huge, strings', async () => {
    for (const durationSeconds of [-1, 0, 1.5, 2592001, 1e308, '60', null]) {
      await expectError(await post('/v1/blocks', { ...valid, durationSeconds }), 400, /^durationSeconds: /);
    }
  });

  it('reasons: empty, blank, too long, newlines, control and bidi characters, wrong type', async () => {
    for (const reason of ['', '   ', 'x'.repeat(201), 'a\nb', 'a\rb', 'a\u0007b', 'a\u202eb', 'a\u2028b', 42]) {
      await expectError(await post('/v1/blocks', { ...valid, reason }), 400, /^reason: /);
    }
  });

  it('policies that are not DNS-1123 names', async () => {
    for (const policy of ['', 'Upper', '-lead', 'trail-', 'a_b', 'a b', 'x'.repeat(254), 'a;drop', 7]) {
      await expectError(await post('/v1/blocks', { ...valid, policy }), 400, /^policy: /);
    }
  });

  it('unknown fields, wrong top-level types, prototype keys', async () => {
    await expectError(await post('/v1/blocks', { ...valid, extra: 1 }), 400, /Unrecognized key/);
    await expectError(await post('/v1/blocks', [valid]), 400);
    await expectError(await post('/v1/analyze', { windowSeconds: 5, foo: 1 }), 400, /Unrecognized key/);
    await expectError(await post('/v1/analyze', { windowSeconds: 5, thresholds: { bogus: 1 } }), 400, /Unrecognized key/);
    await expectError(await post('/v1/analyze', { windowSeconds: 5, mode: 'burst' }), 400, /^mode: /);
    await expectError(await post('/trigger-defense', { wait_time: 7, extra: true }), 400, /Unrecognized key/);
    await expectError(await post('/trigger-defense', { wait_time: '7' }), 400, /^wait_time: /);
    const proto = '{"ip":"198.51.100.7","durationSeconds":60,"reason":"x","__proto__":{"admin":true}}';
    await expectError(await api.request('/v1/blocks', { method: 'POST', body: proto, headers: { 'content-type': 'application/json' } }), 400);
  });

  it('an unknown key of 10 kB is not echoed back whole', async () => {
    const error = await expectError(await post('/v1/blocks', { ...valid, ['k'.repeat(10_000)]: 1 }), 400);
    assert.ok(error.length <= 300);
  });

  it('missing body → 400 (and without Content-Type: 415)', async () => {
    // Declared JSON but empty: an empty object, which misses the required fields.
    const json = { 'content-type': 'application/json' };
    await expectError(await api.request('/v1/blocks', { method: 'POST', headers: json }), 400, /durationSeconds/);
    await expectError(await api.request('/v1/analyze', { method: 'POST', headers: json }), 400);
    await expectError(await api.request('/v1/blocks', { method: 'POST' }), 415, /Content-Type must be application\/json/);
  });

  it('invalid JSON → 400 JSON, not HTML', async () => {
    for (const body of ['{', '{"ip": }', "{'ip': '1.2.3.4'}", '"1.2.3.4"', '1', 'null']) {
      for (const path of ['/v1/blocks', '/v1/analyze', '/trigger-defense']) {
        const res = await api.request(path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        assert.ok(res.status === 400, `${path} ${body}: ${res.status}`);
        await expectError(res, 400);
      }
    }
  });

  it('a body that is not JSON → 415', async () => {
    const res = await api.request('/trigger-defense', {
      method: 'POST',
      body: 'wait_time=7&thresholdAttacker=0.2',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await expectError(res, 415, /Content-Type must be application\/json/);
  });

  it('oversized body → 413 JSON', async () => {
    const big = { ...valid, reason: 'x'.repeat(17 * 1024) };
    await expectError(await post('/v1/blocks', big), 413, /exceeds 16384 bytes/);
    await expectError(await post('/trigger-defense', { pad: 'x'.repeat(20_000) }), 413);
  });

  it('oversized chunked body (no Content-Length) → 413 JSON', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        `${api.url}/v1/blocks`,
        { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.write('{"reason":"');
      req.write('x'.repeat(20_000));
      req.end('"}');
    });
    assert.equal(status, 413);
    assert.match((JSON.parse(body) as { error: string }).error, /exceeds/);
  });

  it('unknown routes and wrong methods → 404 JSON', async () => {
    await expectError(await api.request('/nope'), 404, /no such route/);
    await expectError(await api.request('/v1/blocks', { method: 'PUT', json: valid }), 404);
    await expectError(await api.request('/v1/analyze'), 404);
  });

  it('a custom per-app body limit applies', async () => {
    const small = await startTestApi({ limits: { maxConcurrentAnalyses: 1, maxBodyBytes: 100 } });
    try {
      await expectError(await small.request('/v1/blocks', { method: 'POST', json: { ...valid, reason: 'x'.repeat(200) } }), 413, /exceeds 100 bytes/);
      assert.equal(small.bans.calls.length, 0);
    } finally {
      await small.close();
    }
  });
});
