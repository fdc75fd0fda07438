// GET /v1/attacks: the agent's attack history, behind the token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AttackHistory } from '../../agent/defense/attack-history.js';
import { attacker, startTestApi, verdict, type TestApi } from './helpers.js';

describe('GET /v1/attacks', () => {
  let api: TestApi;
  const history = new AttackHistory(100, 5000);
  before(async () => {
    api = await startTestApi({ attacks: history });
  });
  after(() => api.close());

  it('needs the token', async () => {
    const res = await api.request('/v1/attacks', { auth: false });
    assert.equal(res.status, 401);
  });

  it('lists attack episodes newest first with vector, victims, attackers and bans', async () => {
    const t0 = Date.parse('2024-01-01T00:00:00Z');
    const v = verdict([attacker('198.51.100.7', 5000, 0.5)]);
    history.observe(v, t0, ['198.51.100.7']);
    history.observe(verdict(), t0 + 10_000); // quiet for 10 s: the first episode ends
    history.observe(verdict([attacker('203.0.113.9', 4000, 0.4)]), t0 + 20_000);
    const res = await api.request('/v1/attacks');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { attacks: { id: number; vectors: string[]; attackers: string[]; banned: string[]; endedAt?: string }[] };
    assert.deepEqual(body.attacks.map((a) => a.id), [2, 1]);
    assert.deepEqual(body.attacks[1]!.attackers, ['198.51.100.7']);
    assert.deepEqual(body.attacks[1]!.banned, ['198.51.100.7']);
    assert.deepEqual(body.attacks[1]!.vectors, ['syn_flood']);
    assert.equal(body.attacks[1]!.endedAt, '2024-01-01T00:00:00.000Z');
    assert.equal(body.attacks[0]!.endedAt, undefined);
  });

  it('answers an empty list when the agent keeps no history', async () => {
    const bare = await startTestApi();
    try {
      const res = await bare.request('/v1/attacks');
      assert.deepEqual(await res.json(), { attacks: [] });
    } finally {
      await bare.close();
    }
  });
});
