// Concurrent single bans coalesce into few store writes and firewall batches,
// and each caller still gets its own outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { ban, makeManager, tempStateDir } from './setup.js';

test('200 concurrent block() calls: every ban lands, in a handful of store writes', async () => {
  const tmp = await tempStateDir();
  try {
    const backend = new DryRunBackend();
    const { manager, store } = await makeManager(backend, tmp.dir, { limits: { maxActiveBans: 1000, maxNewBansPerMinute: 1000 } });
    await manager.start({ timers: false });
    let saves = 0;
    const save = store.save.bind(store);
    store.save = async () => {
      saves++;
      return save();
    };
    const ips = Array.from({ length: 200 }, (_, i) => `198.51.100.${i + 1}`.replace(/\.(\d+)$/, (_m, n: string) => `.${Number(n) % 250 + 1}`));
    const distinct = [...new Set(ips)];
    const outcomes = await Promise.all(ips.map((ip) => manager.block(ban(ip))));
    assert.ok(outcomes.every((o) => o.ok), 'every ban accepted');
    assert.equal(manager.list().length, distinct.length);
    assert.ok(saves <= 3, `expected the bans to coalesce, got ${saves} store writes`);
    // Refusals stay per caller inside a coalesced batch.
    const [ok, refused] = await Promise.all([manager.block(ban('203.0.113.50')), manager.block(ban('127.0.0.1'))]);
    assert.equal(ok.ok, true);
    assert.equal(refused.ok, false);
    await manager.stop();
  } finally {
    await tmp.cleanup();
  }
});
