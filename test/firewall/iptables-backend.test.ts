// Real iptables/ip6tables + ipset, inside throw-away network namespaces.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IPSET_MAX_TIMEOUT_SECONDS, IptablesBackend } from '../../agent/firewall/iptables-backend.js';
import { FirewallInputError } from '../../agent/firewall/types.js';
import { INJECTION_CORPUS, recording } from './helpers.js';
import { canConnect, connect, createNetns, startTcpServer, type TestNetns } from './netns.js';

describe('iptables + ipset backend', () => {
  let ns: TestNetns;
  before(async () => {
    ns = await createNetns('ipt');
  });
  after(async () => {
    await ns.destroy();
  });

  it('init twice creates one chain, one drop rule and one jump per family', async () => {
    const backend = new IptablesBackend({ exec: ns.exec });
    await backend.init();
    await backend.add([{ cidr: '198.51.100.7', family: 4, timeoutSeconds: 600 }]);
    await backend.init();
    for (const [tool, set] of [['iptables', 'floodgate4'], ['ip6tables', 'floodgate6']] as const) {
      const rules = await ns.sh(tool, '-w', '-t', 'raw', '-S');
      assert.equal(rules.match(/^-A PREROUTING -j FLOODGATE$/gm)?.length, 1, `${tool} jump`);
      assert.equal(rules.match(new RegExp(`^-A FLOODGATE -m set --match-set ${set} src -j DROP$`, 'gm'))?.length, 1);
    }
    assert.deepEqual((await backend.list()).map((e) => e.cidr), ['198.51.100.7/32'], 'init keeps entries');
    await backend.teardown();
  });

  it('adds, refreshes and removes entries; timeouts are clamped to the ipset maximum', async () => {
    const backend = new IptablesBackend({ exec: ns.exec });
    await backend.init();
    await backend.add([
      { cidr: '198.51.100.7', family: 4, timeoutSeconds: 60 },
      { cidr: '203.0.113.0/24', family: 4, timeoutSeconds: 30 * 86400 },
      { cidr: '2001:db8:1::/64', family: 6, timeoutSeconds: 120 },
    ]);
    await backend.add([{ cidr: '198.51.100.7', family: 4, timeoutSeconds: 7200 }]);
    const saved = await ns.sh('ipset', 'list', 'floodgate4', '-output', 'save');
    assert.match(saved, /add floodgate4 203\.0\.113\.0\/24 timeout \d+/);
    const listed = new Map((await backend.list()).map((e) => [e.cidr, e.expiresInSeconds ?? 0]));
    assert.deepEqual([...listed.keys()].sort(), ['198.51.100.7/32', '2001:db8:1::/64', '203.0.113.0/24']);
    assert.ok((listed.get('198.51.100.7/32') ?? 0) > 7000, 're-add refreshed the timeout');
    assert.ok((listed.get('203.0.113.0/24') ?? 0) <= IPSET_MAX_TIMEOUT_SECONDS);
    assert.ok((listed.get('203.0.113.0/24') ?? 0) > IPSET_MAX_TIMEOUT_SECONDS - 10);

    await backend.remove(['198.51.100.7', '192.0.2.1/32', '2001:db8:1::/64']);
    assert.deepEqual((await backend.list()).map((e) => e.cidr), ['203.0.113.0/24']);
    await backend.teardown();
  });

  it('teardown removes only our chain, jumps and sets', async () => {
    // The user's own raw rule and ipset must survive.
    await ns.sh('ipset', 'create', 'usersset', 'hash:ip');
    await ns.sh('iptables', '-w', '-t', 'raw', '-A', 'PREROUTING', '-s', '192.0.2.99', '-j', 'DROP');
    const backend = new IptablesBackend({ exec: ns.exec });
    await backend.init();
    await backend.teardown();
    await backend.teardown(); // idempotent
    const rules = await ns.sh('iptables', '-w', '-t', 'raw', '-S');
    assert.doesNotMatch(rules, /FLOODGATE/);
    assert.match(rules, /-A PREROUTING -s 192\.0\.2\.99\/32 -j DROP/);
    assert.doesNotMatch(await ns.sh('ip6tables', '-w', '-t', 'raw', '-S'), /FLOODGATE/);
    assert.equal((await ns.sh('ipset', 'list', '-n')).trim(), 'usersset');
    await ns.sh('iptables', '-w', '-t', 'raw', '-D', 'PREROUTING', '-s', '192.0.2.99', '-j', 'DROP');
    await ns.sh('ipset', 'destroy', 'usersset');
  });

  it('10,000 entries land in one ipset process with none lost', async () => {
    const spy = recording(ns.exec);
    const backend = new IptablesBackend({ exec: spy.exec });
    await backend.init();
    const entries = Array.from({ length: 10_000 }, (_, i) => ({
      cidr: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      family: 4 as const,
      timeoutSeconds: 600,
    }));
    spy.calls.length = 0;
    const started = process.hrtime.bigint();
    await backend.add(entries);
    console.log(`# ipset: 10,000 entries added in ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(0)} ms`);
    assert.deepEqual(spy.calls.map((c) => c.argv), [['ipset', 'restore', '-exist']]);
    assert.equal(new Set((await backend.list()).map((e) => e.cidr)).size, 10_000);
    await backend.teardown();
  });

  it('refuses injection strings before any command runs', async () => {
    const spy = recording(ns.exec);
    const backend = new IptablesBackend({ exec: spy.exec });
    for (const bad of INJECTION_CORPUS) {
      await assert.rejects(backend.add([{ cidr: bad, family: 4, timeoutSeconds: 60 }]), FirewallInputError);
      await assert.rejects(backend.remove([bad]), FirewallInputError);
    }
    assert.equal(spy.calls.length, 0);
  });
});

describe('iptables + ipset backend drops real traffic', () => {
  let host: TestNetns;
  let attacker: TestNetns;
  before(async () => {
    host = await createNetns('ipthost');
    attacker = await createNetns('iptatk');
    await connect(host, attacker, { a4: '10.98.0.1', b4: '10.98.0.2', a6: 'fd00:98::1', b6: 'fd00:98::2' });
  });
  after(async () => {
    await host.destroy();
    await attacker.destroy();
  });

  it('a banned source cannot connect, the counter rises, and unbanning restores it', async () => {
    const server = await startTcpServer(host, 7777);
    try {
      const backend = new IptablesBackend({ exec: host.exec });
      await backend.init();
      assert.equal(await canConnect(attacker, '10.98.0.1', 7777), true, 'baseline');
      await backend.add([
        { cidr: '10.98.0.0/24', family: 4, timeoutSeconds: 600 },
        { cidr: 'fd00:98::/64', family: 6, timeoutSeconds: 600 },
      ]);
      assert.equal(await canConnect(attacker, '10.98.0.1', 7777), false, 'v4 CIDR dropped');
      assert.equal(await canConnect(attacker, 'fd00:98::1', 7777), false, 'v6 /64 dropped');
      const counters = await backend.counters();
      assert.ok(counters.packets >= 2, `dropped ${counters.packets}`);
      await backend.remove(['10.98.0.0/24', 'fd00:98::/64']);
      assert.equal(await canConnect(attacker, '10.98.0.1', 7777), true, 'v4 after unban');
      assert.equal(await canConnect(attacker, 'fd00:98::1', 7777), true, 'v6 after unban');
      await backend.teardown();
    } finally {
      server.stop();
    }
  });
});
