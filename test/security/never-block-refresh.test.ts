// Issue 13.9: never-block is re-checked after every refresh of the host's
// addresses, not only at start. A real default-route change inside a network
// namespace (failover to a gateway inside a banned /24) against the real ban
// manager and real nftables in that namespace: the ban that now covers the
// gateway is lifted from the store and from nft, with a log line and a metric.
// Run under the shared lock: flock /tmp/floodgate-heavy.lock.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AddressPolicy } from '../../agent/bans/address-policy.js';
import { BanManager } from '../../agent/bans/ban-manager.js';
import { BanStore } from '../../agent/bans/ban-store.js';
import { readDefaultGateways } from '../../agent/bans/protected-addresses.js';
import { NftBackend } from '../../agent/firewall/nft-backend.js';
import { tempStateDir, testInterfaces } from '../bans/setup.js';
import { createNetns, type TestNetns } from '../firewall/netns.js';

describe('never-block after a gateway change (real route change, real nft)', () => {
  let ns: TestNetns;
  let state: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    ns = await createNetns('hsecgw');
    state = await tempStateDir();
    // No dummy module here: a veth pair inside the namespace serves as its link.
    await ns.sh('ip', 'link', 'add', 'hs0', 'type', 'veth', 'peer', 'name', 'hs1');
    await ns.sh('ip', 'link', 'set', 'hs1', 'up');
    await ns.sh('ip', 'addr', 'add', '10.1.2.3/16', 'dev', 'hs0');
    await ns.sh('ip', 'link', 'set', 'hs0', 'up');
    await ns.sh('ip', 'route', 'add', 'default', 'via', '10.1.0.1', 'dev', 'hs0');
  });
  after(async () => {
    await ns.destroy();
    await state.cleanup();
  });

  it('lifts a CIDR ban that now covers the new default gateway, with a log line and a metric', async () => {
    const lines: { level: number; msg: string; cidr?: string; code?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
    const registry = new Registry();
    const backend = new NftBackend({ exec: ns.exec });
    // The gateway is read from the namespace's own /proc/net/route, as the agent reads the host's.
    const policy = await AddressPolicy.create(
      {},
      { interfaces: testInterfaces, gateways: () => readDefaultGateways({ platform: 'linux', readText: (file) => ns.sh('cat', file) }), resolvers: async () => [] },
    );
    const manager = new BanManager({ backend, store: new BanStore({ stateDir: state.dir }), policy, logger, registry });
    await manager.start({ timers: false });
    try {
      const banned = await manager.block({ cidr: '203.0.113.0/24', durationSeconds: 3600, reason: 'flood', policy: 'p', source: 'api' });
      assert.ok(banned.ok, JSON.stringify(banned));
      assert.match(await ns.sh('nft', 'list', 'set', 'inet', 'floodgate', 'blocked4'), /203\.0\.113\.0\/24/);

      // Failover: the default route now goes through 203.0.113.1, inside the banned /24.
      await ns.sh('ip', 'route', 'replace', 'default', 'via', '203.0.113.1', 'dev', 'hs0', 'onlink');
      await manager.reconcile();

      assert.deepEqual(manager.list(), [], 'the ban is gone from the store');
      assert.doesNotMatch(await ns.sh('nft', 'list', 'set', 'inet', 'floodgate', 'blocked4'), /203\.0\.113\.0/, 'and from nft');
      const lifted = lines.filter((l) => l.msg.startsWith('lifting ban'));
      assert.equal(lifted.length, 1);
      assert.equal(lifted[0]?.cidr, '203.0.113.0/24');
      assert.match(lifted[0]?.msg ?? '', /lifting ban 203\.0\.113\.0\/24: contains default gateway 203\.0\.113\.1/);
      assert.ok((lifted[0]?.level ?? 0) >= 40, 'a warning');
      assert.match(await registry.metrics(), /floodgate_bans_lifted_total\{reason="gateway"\} 1/);

      // And a new ban of that range is refused for the same reason.
      const again = await manager.block({ cidr: '203.0.113.0/24', durationSeconds: 3600, reason: 'flood', policy: 'p', source: 'api' });
      assert.equal(again.ok, false);
    } finally {
      await manager.stop();
      await backend.teardown();
    }
  });
});
