// BanManager over real nftables inside a throw-away network namespace:
// bans land with timeouts, survive a restart, leftovers and hand edits are
// repaired, and hostile input never reaches nft.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { NftBackend } from '../../agent/firewall/nft-backend.js';
import { INJECTION_CORPUS, recording } from '../firewall/helpers.js';
import { createNetns, type TestNetns } from '../firewall/netns.js';
import { ban, makeManager, tempStateDir } from './setup.js';

describe('ban manager on nftables', () => {
  let ns: TestNetns;
  let state: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    ns = await createNetns('bans');
  });
  after(async () => {
    await ns.destroy();
  });
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await new NftBackend({ exec: ns.exec }).teardown();
    await state.cleanup();
  });

  // Both sets of a family: addresses (hosts4/6) and networks (blocked4/6).
  const nftSet = async (family: 4 | 6) =>
    (await ns.sh('nft', 'list', 'set', 'inet', 'floodgate', `hosts${family}`)) + (await ns.sh('nft', 'list', 'set', 'inet', 'floodgate', `blocked${family}`));

  it('an address, a CIDR and an IPv6 address (as its /64) land in nft with timeouts', async () => {
    const { manager } = await makeManager(new NftBackend({ exec: ns.exec }), state.dir);
    await manager.start({ timers: false });
    const outcomes = await manager.blockMany([
      ban('198.51.100.7', 600),
      { ...ban('x', 3600), ip: undefined, cidr: '203.0.113.0/24' },
      ban('2001:db8:7::1234', 120),
    ]);
    assert.deepEqual(outcomes.map((o) => o.ok && o.ban.cidr), ['198.51.100.7/32', '203.0.113.0/24', '2001:db8:7::/64']);
    assert.match(await nftSet(4), /198\.51\.100\.7 timeout 10m expires/);
    assert.match(await nftSet(4), /203\.0\.113\.0\/24 timeout 1h expires/);
    assert.match(await nftSet(6), /2001:db8:7::\/64 timeout 2m expires/);
    await manager.stop();
  });

  it('a restart re-applies stored bans and removes leftovers from our set only', async () => {
    await ns.exec(['nft', '-f', '-'], {
      input: 'table inet filter {\n chain input {\n  type filter hook input priority filter; policy accept;\n  ip saddr 198.51.100.99 counter drop\n }\n}\n',
    });
    const userTable = await ns.sh('nft', 'list', 'table', 'inet', 'filter');
    const first = await makeManager(new NftBackend({ exec: ns.exec }), state.dir);
    await first.manager.start({ timers: false });
    await first.manager.block(ban('198.51.100.7', 600));
    await first.manager.block(ban('2001:db8:7::1', 600));
    await first.manager.stop();

    // A reboot empties the kernel's tables; a stale element appears by hand.
    await ns.sh('nft', 'delete', 'table', 'inet', 'floodgate');
    const second = await makeManager(new NftBackend({ exec: ns.exec }), state.dir);
    await new NftBackend({ exec: ns.exec }).init();
    await ns.sh('nft', 'add', 'element', 'inet', 'floodgate', 'blocked4', '{ 198.51.100.200 timeout 1h }');

    const report = await second.manager.start({ timers: false });
    assert.deepEqual(report.removed, ['198.51.100.200/32']);
    assert.deepEqual(report.added.sort(), ['198.51.100.7/32', '2001:db8:7::/64']);
    assert.match(await nftSet(4), /198\.51\.100\.7 timeout/);
    assert.doesNotMatch(await nftSet(4), /198\.51\.100\.200/);
    assert.match(await nftSet(6), /2001:db8:7::\/64 timeout/);
    assert.equal(await ns.sh('nft', 'list', 'table', 'inet', 'filter'), userTable, 'user table untouched');
    await second.manager.stop();
    await ns.sh('nft', 'delete', 'table', 'inet', 'filter');
  });

  it('reconcile re-adds an element deleted by hand and removes one added by hand', async () => {
    const { manager, registry } = await makeManager(new NftBackend({ exec: ns.exec }), state.dir);
    await manager.start({ timers: false });
    await manager.block(ban('198.51.100.7', 600));
    await manager.block(ban('198.51.100.8', 600));
    await ns.sh('nft', 'delete', 'element', 'inet', 'floodgate', 'hosts4', '{ 198.51.100.7 }');
    await ns.sh('nft', 'add', 'element', 'inet', 'floodgate', 'blocked4', '{ 198.51.100.66 timeout 1h }');

    const report = await manager.reconcile();
    assert.deepEqual(report, { added: ['198.51.100.7/32'], removed: ['198.51.100.66/32'] });
    const set = await nftSet(4);
    assert.match(set, /198\.51\.100\.7 timeout/);
    assert.match(set, /198\.51\.100\.8 timeout/);
    assert.doesNotMatch(set, /198\.51\.100\.66/);
    assert.match(await registry.metrics(), /floodgate_reconcile_repairs_total\{backend="nft",kind="added"\} 1/);
    assert.deepEqual(await manager.reconcile(), { added: [], removed: [] }, 'nothing left to repair');
    await manager.stop();
  });

  it('a CIDR over an address already banned does not hit the nft overlap error', async () => {
    const { manager } = await makeManager(new NftBackend({ exec: ns.exec }), state.dir);
    await manager.start({ timers: false });
    await manager.block(ban('203.0.113.5', 600));
    const wide = await manager.block({ ...ban('x', 600), ip: undefined, cidr: '203.0.113.0/24' });
    assert.ok(wide.ok);
    const set = await nftSet(4);
    assert.match(set, /203\.0\.113\.0\/24 timeout/);
    assert.doesNotMatch(set, /203\.0\.113\.5 /);
    await manager.unblock('203.0.113.0/24');
    assert.match(await nftSet(4), /203\.0\.113\.5 timeout/, 'the address ban comes back');
    await manager.stop();
  });

  it('hostile and protected input is refused before any command runs', async () => {
    const spy = recording(ns.exec);
    const { manager } = await makeManager(new NftBackend({ exec: spy.exec }), state.dir);
    await manager.start({ timers: false });
    spy.calls.length = 0;
    for (const bad of INJECTION_CORPUS) {
      const asIp = await manager.block(ban(bad));
      const asCidr = await manager.block({ ...ban('x'), ip: undefined, cidr: bad });
      assert.equal(asIp.ok, false, JSON.stringify(bad));
      assert.equal(asCidr.ok, false, JSON.stringify(bad));
      assert.equal((await manager.unblock(bad)).ok, false);
    }
    for (const ip of ['127.0.0.1', '::1', '10.1.2.3', '10.1.0.1', '10.1.0.2', '10.244.1.1']) {
      assert.equal((await manager.block(ban(ip))).ok, false, ip);
    }
    assert.equal((await manager.block({ ...ban('x'), ip: undefined, cidr: '0.0.0.0/0' })).ok, false);
    assert.deepEqual(spy.calls, [], 'no command was run');
    assert.doesNotMatch(await nftSet(4), /elements/);
    await manager.stop();
  });
});
