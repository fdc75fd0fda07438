import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { BanRecord } from '../../api/agent/v1/types.js';
import { jsonOf, startTestApi, type TestApi } from './helpers.js';

describe('/v1/blocks', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());
  beforeEach(() => {
    api.bans.bans.clear();
    api.bans.calls = [];
    api.bans.refuse.clear();
    api.bans.failure = undefined;
  });

  const post = (json: unknown) => api.request('/v1/blocks', { method: 'POST', json });

  it('creates a ban (201), extends it idempotently (200), lists it', async () => {
    const body = { ip: '198.51.100.7', durationSeconds: 600, reason: 'manual: SYN flood', policy: 'web.prod-policy' };
    let res = await post(body);
    assert.equal(res.status, 201);
    const created = (await res.json()) as BanRecord;
    assert.equal(created.cidr, '198.51.100.7/32');
    assert.equal(created.policy, 'web.prod-policy');
    assert.deepEqual(api.bans.calls, [
      { method: 'block', arg: { cidr: '198.51.100.7', durationSeconds: 600, reason: 'manual: SYN flood', policy: 'web.prod-policy', source: 'api' } },
    ]);

    res = await post(body);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as BanRecord).offenceCount, 2);

    res = await api.request('/v1/blocks');
    assert.equal(res.status, 200);
    const { blocks } = (await res.json()) as { blocks: BanRecord[] };
    assert.deepEqual(blocks.map((b) => b.cidr), ['198.51.100.7/32']);
  });

  it('treats the IP and its /32 as the same ban', async () => {
    assert.equal((await post({ cidr: '198.51.100.7/32', durationSeconds: 60, reason: 'x' })).status, 201);
    assert.equal((await post({ ip: '198.51.100.7', durationSeconds: 60, reason: 'x' })).status, 200);
  });

  it('a ban that has expired counts as new again', async () => {
    assert.equal((await post({ ip: '198.51.100.7', durationSeconds: 60, reason: 'x' })).status, 201);
    const record = api.bans.bans.get('198.51.100.7/32');
    assert.ok(record);
    record.expiresAt = new Date(Date.now() - 1000).toISOString();
    assert.equal((await post({ ip: '198.51.100.7', durationSeconds: 60, reason: 'x' })).status, 201);
  });

  it('bans a CIDR and IPv6 and deletes them by URL-encoded path, idempotently', async () => {
    assert.equal((await post({ cidr: '10.0.0.0/24', durationSeconds: 60, reason: 'range' })).status, 201);
    assert.equal((await post({ ip: '2001:db8::1', durationSeconds: 60, reason: 'v6' })).status, 201);

    let res = await api.request('/v1/blocks/10.0.0.0%2F24', { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { removed: true });
    res = await api.request('/v1/blocks/10.0.0.0%2F24', { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { removed: false });

    res = await api.request(`/v1/blocks/${encodeURIComponent('2001:db8::1')}`, { method: 'DELETE' });
    assert.deepEqual(await res.json(), { removed: true });
    res = await api.request('/v1/blocks/2001:db8::1', { method: 'DELETE' });
    assert.deepEqual(await res.json(), { removed: false });

    assert.deepEqual(
      api.bans.calls.filter((c) => c.method === 'unblock').map((c) => c.arg),
      ['10.0.0.0/24', '10.0.0.0/24', '2001:db8::1', '2001:db8::1'],
    );
  });

  it('maps ban refusals: never_block 403, caps 429, invalid 400, with the one-line message', async () => {
    const cases = [
      ['192.0.2.1', 'never_block', 403],
      ['192.0.2.2', 'max_active_bans', 429],
      ['192.0.2.3', 'ban_rate', 429],
      ['192.0.2.4', 'invalid', 400],
    ] as const;
    for (const [ip, code, status] of cases) {
      api.bans.refuse.set(ip, code);
      const res = await post({ ip, durationSeconds: 60, reason: 'x' });
      assert.equal(res.status, status, code);
      assert.deepEqual(await res.json(), { error: `${ip} refused: ${code}` });
    }
  });

  it('hides a firewall failure behind a one-line 500', async () => {
    api.bans.failure = new Error('nft -f - failed: Error: Could not process rule\n  at /usr/lib/secret.ts:12');
    const res = await post({ ip: '192.0.2.9', durationSeconds: 60, reason: 'x' });
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: 'internal error (see the agent log)' });
  });

  it('DELETE of the whole list needs ?all=true; with it every ban goes and the count comes back', async () => {
    for (const path of ['/v1/blocks/', '/v1/blocks', '/v1/blocks?all=1', '/v1/blocks?all=true&x=1']) {
      const res = await api.request(path, { method: 'DELETE' });
      assert.equal(res.status, 400, path);
      assert.match(((await jsonOf(res)) as { error: string }).error, /^(all|request|x)\b.*|Unrecognized key/, path);
    }
    await post({ ip: '192.0.2.30', durationSeconds: 60, reason: 'x' });
    await post({ ip: '192.0.2.31', durationSeconds: 60, reason: 'x' });
    const before = api.bans.bans.size;
    assert.ok(before >= 2);
    const res = await api.request('/v1/blocks?all=true', { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.deepEqual(await jsonOf(res), { removed: before });
    assert.equal(api.bans.bans.size, 0);
  });
});

describe('/v1/blocks/batch', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('bans many addresses in one call, reporting refusals per item', async () => {
    api.bans.refuse.set('127.0.0.1', 'never_block');
    const blocks = [
      ...Array.from({ length: 300 }, (_, i) => ({ ip: `198.51.100.${i % 250}`, durationSeconds: 60, reason: 'bulk' })),
      { ip: '127.0.0.1', durationSeconds: 60, reason: 'bulk' },
    ];
    const res = await api.request('/v1/blocks/batch', { method: 'POST', json: { blocks } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: { ok: boolean; code?: string }[] };
    assert.equal(body.results.length, 301);
    assert.equal(body.results.filter((r) => r.ok).length, 300);
    assert.equal(body.results.at(-1)?.code, 'never_block');
    assert.equal(api.bans.list().length, 250);
  });

  it('rejects the whole batch when one item is invalid, and bans nothing', async () => {
    const before = api.bans.calls.length;
    const res = await api.request('/v1/blocks/batch', {
      method: 'POST',
      json: { blocks: [{ ip: '203.0.113.9', durationSeconds: 60, reason: 'ok' }, { ip: '1.2.3.4; rm -rf /', durationSeconds: 60, reason: 'x' }] },
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /blocks\.1\.ip/);
    assert.equal(api.bans.calls.length, before);
  });

  it('every item rule holds inside a batch, reported with the item and field', async () => {
    const ok = { ip: '203.0.113.9', durationSeconds: 60, reason: 'ok' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...ok, ip: '10.0.0.0/24' }, /^blocks\.3\.ip: must be a single IP address; use "cidr" for a range$/],
      [{ ...ok, ip: 'fe80::1%eth0' }, /^blocks\.3\.ip: must be an IP address or CIDR/],
      [{ durationSeconds: 60, reason: 'x', cidr: '10.0.0.0/024' }, /^blocks\.3\.cidr: must be an IP address or CIDR/],
      [{ ...ok, durationSeconds: 1.5 }, /^blocks\.3\.durationSeconds: must be a whole number of seconds$/],
      [{ ...ok, durationSeconds: 0 }, /^blocks\.3\.durationSeconds: must be at least 1 second$/],
      [{ ...ok, durationSeconds: 2592001 }, /^blocks\.3\.durationSeconds: must be at most 2592000 seconds/],
      [{ ...ok, reason: 'a\u202eb' }, /^blocks\.3\.reason: must be printable text on one line/],
      [{ ...ok, reason: '   ' }, /^blocks\.3\.reason: must not be blank$/],
      [{ ...ok, policy: 'Upper' }, /^blocks\.3\.policy: must be a lower-case DNS-1123 name/],
      [{ ...ok, cidr: '10.0.0.0/24' }, /^blocks\.3: give exactly one of "ip" or "cidr"$/],
      [{ ...ok, extra: true }, /^blocks\.3: Unrecognized key/],
    ];
    const before = api.bans.calls.length;
    for (const [item, message] of cases) {
      const res = await api.request('/v1/blocks/batch', { method: 'POST', json: { blocks: [ok, ok, ok, item, ok] } });
      assert.equal(res.status, 400, JSON.stringify(item));
      assert.match(((await res.json()) as { error: string }).error, message);
    }
    assert.equal(api.bans.calls.length, before, 'no invalid batch reaches the ban service');
  });

  it('answers only once the bans are applied, and a failed apply is an error, not a 200', async () => {
    let release!: () => void;
    api.bans.applyBatch = () => new Promise<void>((r) => (release = r));
    let answered = false;
    const pending = api.request('/v1/blocks/batch', { method: 'POST', json: { blocks: [{ ip: '203.0.113.20', durationSeconds: 60, reason: 'staged' }] } }).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(answered, false, 'no answer while the firewall is still applying');
    release();
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { results: { ok: boolean }[] }).results[0]?.ok, true);

    api.bans.applyBatch = () => Promise.reject(new Error('nft: Could not process rule'));
    const failed = await api.request('/v1/blocks/batch', { method: 'POST', json: { blocks: [{ ip: '203.0.113.21', durationSeconds: 60, reason: 'staged' }] } });
    api.bans.applyBatch = () => Promise.resolve();
    assert.equal(failed.status, 500);
    const body = (await failed.json()) as { error: string; results?: unknown };
    assert.equal(body.results, undefined, 'no per-item results claim success');
    assert.equal(typeof body.error, 'string');
  });

  it('refuses more than 10,000 bans in one batch', async () => {
    const blocks = Array.from({ length: 10_001 }, () => ({ ip: '203.0.113.1', durationSeconds: 60, reason: 'x' }));
    const res = await api.request('/v1/blocks/batch', { method: 'POST', json: { blocks } });
    assert.ok(res.status === 400 || res.status === 413, `status ${res.status}`);
  });
});
