// GET /v1/blocks?since=: a real BanManager and store behind the real HTTP
// API, read through the controller's AgentApiClient: only what changed since
// a version, removals by CIDR, and the whole list (full) for a version the
// agent cannot answer exactly (another epoch, garbage, too old).

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AgentApiClient } from '../../api/agent/v1/client.js';
import { BanChangeFeed } from '../../agent/bans/ban-changes.js';
import { ManagerBanService } from '../../agent/bans/ban-service.js';
import { BanJournal } from '../../agent/bans/ban-store.js';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { startTestApi, TOKEN, type TestApi } from '../api/helpers.js';
import { makeManager, tempStateDir } from './setup.js';

const ban = (ip: string, durationSeconds = 600) => ({ cidr: ip, durationSeconds, reason: 'test', source: 'api' as const });
const cidrs = (bans: { cidr: string }[]) => bans.map((b) => b.cidr).sort();

describe('ban list changes (GET /v1/blocks?since=)', () => {
  let state: { dir: string; cleanup(): Promise<void> };
  let api: TestApi | undefined;
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
    await state.cleanup();
  });

  async function agent() {
    const { manager, store } = await makeManager(new DryRunBackend(), state.dir);
    await manager.start({ timers: false });
    const service = new ManagerBanService(manager, 'dry-run');
    api = await startTestApi({ bans: service, banChanges: new BanChangeFeed(store, 'dry-run') });
    return { manager, service, client: new AgentApiClient({ url: api.url, token: TOKEN }) };
  }

  it('answers only what changed since a version, and removals', async () => {
    const { service, client } = await agent();
    await service.block(ban('203.0.113.1'));
    await service.block(ban('203.0.113.2'));
    const first = await client.listBlocksSince(undefined);
    assert.equal(first.full, true);
    assert.deepEqual(cidrs(first.blocks), ['203.0.113.1/32', '203.0.113.2/32']);
    assert.match(first.version ?? '', /^[0-9a-f]+\.\d+$/);

    const none = await client.listBlocksSince(first.version);
    assert.deepEqual({ full: none.full, blocks: none.blocks, removed: none.removed, version: none.version }, { full: false, blocks: [], removed: [], version: first.version });

    await service.block(ban('203.0.113.3'));
    await service.blockMany([ban('203.0.113.4'), ban('203.0.113.5')]);
    await service.unblock('203.0.113.1');
    const delta = await client.listBlocksSince(first.version);
    assert.equal(delta.full, false);
    assert.deepEqual(cidrs(delta.blocks), ['203.0.113.3/32', '203.0.113.4/32', '203.0.113.5/32']);
    assert.equal(delta.blocks[0]?.backend, 'dry-run');
    assert.deepEqual(delta.removed, ['203.0.113.1/32']);

    // A ban removed and re-added in between is a change, not a removal.
    await service.unblock('203.0.113.2');
    await service.block(ban('203.0.113.2'));
    const again = await client.listBlocksSince(delta.version);
    assert.deepEqual(cidrs(again.blocks), ['203.0.113.2/32']);
    assert.deepEqual(again.removed, []);
  });

  it('answers the whole list for a version of another epoch, a garbage one, or one from the future', async () => {
    const { service, client } = await agent();
    await service.block(ban('198.51.100.7'));
    const { version } = await client.listBlocksSince(undefined);
    const [, n] = (version ?? '').split('.');
    for (const since of ['deadbeef.1', 'nonsense', `${version!.split('.')[0]}.${Number(n) + 5}`]) {
      const r = await client.listBlocksSince(since);
      assert.equal(r.full, true, since);
      assert.deepEqual(cidrs(r.blocks), ['198.51.100.7/32'], since);
    }
    const res = await fetch(`${api!.url}/v1/blocks?since=a&since=b`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 400, 'two versions are refused');
  });

  it('forgets the oldest removals beyond its bound, and then answers in full', () => {
    const j = new BanJournal(2);
    j.changed('a');
    const v = j.current;
    j.removed('a');
    assert.deepEqual(j.since(v), { changed: [], removed: ['a'] });
    j.changed('b');
    j.removed('b');
    j.changed('c');
    j.removed('c');
    j.changed('d');
    j.removed('d'); // 'a' is forgotten: v can no longer be answered exactly
    assert.equal(j.since(v), undefined);
    assert.deepEqual(j.since(j.current - 2), { changed: [], removed: ['d'] });
    j.restart();
    assert.equal(j.since(j.current - 1), undefined, 'a restart (load) starts every reader over');
  });
});
