// Real nftables, inside throw-away network namespaces.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NftBackend } from '../../agent/firewall/nft-backend.js';
import { FirewallInputError } from '../../agent/firewall/types.js';
import { INJECTION_CORPUS, recording } from './helpers.js';
import { canConnect, connect, createNetns, startTcpServer, type TestNetns } from './netns.js';

const USER_TABLE = `table inet filter {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 22 counter accept
  }
}
`;

describe('nft backend', () => {
  let ns: TestNetns;
  before(async () => {
    ns = await createNetns('nft');
  });
  after(async () => {
    await ns.destroy();
  });

  it('init is idempotent: rules never duplicate and existing bans stay', async () => {
    const backend = new NftBackend({ exec: ns.exec });
    await backend.init();
    await backend.add([{ cidr: '198.51.100.7', family: 4, timeoutSeconds: 600 }]);
    await backend.init();
    const table = await ns.sh('nft', 'list', 'table', 'inet', 'floodgate');
    for (const set of ['hosts4', 'blocked4', 'hosts6', 'blocked6']) assert.equal(table.match(new RegExp(`saddr @${set} `, 'g'))?.length, 1, set);
    assert.deepEqual((await backend.list()).map((e) => e.cidr), ['198.51.100.7/32']);
    await backend.teardown();
  });

  it('adds addresses to the hash sets and networks to the interval sets, with timeouts the kernel reports back', async () => {
    const backend = new NftBackend({ exec: ns.exec });
    await backend.init();
    await backend.add([
      { cidr: '198.51.100.7', family: 4, timeoutSeconds: 600 },
      { cidr: '203.0.113.0/24', family: 4, timeoutSeconds: 3600 },
      { cidr: '2001:db8:1::/64', family: 6, timeoutSeconds: 120 },
      { cidr: '2001:db8:2::7', family: 6, timeoutSeconds: 300 },
    ]);
    const hosts4 = await ns.sh('nft', 'list', 'set', 'inet', 'floodgate', 'hosts4');
    assert.match(hosts4, /198\.51\.100\.7 timeout 10m expires/);
    assert.doesNotMatch(hosts4, /flags.*interval/);
    const nets4 = await ns.sh('nft', 'list', 'set', 'inet', 'floodgate', 'blocked4');
    assert.match(nets4, /203\.0\.113\.0\/24 timeout 1h expires/);
    assert.doesNotMatch(nets4, /198\.51\.100\.7/);
    assert.match(await ns.sh('nft', 'list', 'set', 'inet', 'floodgate', 'blocked6'), /2001:db8:1::\/64 timeout 2m expires/);
    assert.match(await ns.sh('nft', 'list', 'set', 'inet', 'floodgate', 'hosts6'), /2001:db8:2::7 timeout 5m expires/);

    const listed = new Map((await backend.list()).map((e) => [e.cidr, e.expiresInSeconds]));
    assert.deepEqual([...listed.keys()].sort(), ['198.51.100.7/32', '2001:db8:1::/64', '2001:db8:2::7/128', '203.0.113.0/24']);
    const remaining = listed.get('203.0.113.0/24') ?? 0;
    assert.ok(remaining > 3590 && remaining <= 3600, `expires in ${remaining}`);
    await backend.teardown();
  });

  for (const refreshMode of ['update', 'replace'] as const) {
    it(`re-adding an existing element resets its timeout (${refreshMode} mode)`, async () => {
      const backend = new NftBackend({ exec: ns.exec, refreshMode });
      await backend.init();
      await backend.add([
        { cidr: '198.51.100.7', family: 4, timeoutSeconds: 60 },
        { cidr: '203.0.113.0/24', family: 4, timeoutSeconds: 60 },
      ]);
      await backend.add([
        { cidr: '198.51.100.7', family: 4, timeoutSeconds: 7200 },
        { cidr: '203.0.113.0/24', family: 4, timeoutSeconds: 30 },
        { cidr: '192.0.2.9', family: 4, timeoutSeconds: 30 },
      ]);
      const listed = new Map((await backend.list()).map((e) => [e.cidr, e.expiresInSeconds ?? 0]));
      assert.equal(listed.size, 3);
      assert.ok((listed.get('198.51.100.7/32') ?? 0) > 7000, 'longer timeout applied');
      assert.ok((listed.get('203.0.113.0/24') ?? 99) <= 30, 'shorter timeout applied');
      await backend.teardown();
    });
  }

  it('the kernel probe picks a refresh mode that works here', async () => {
    const backend = new NftBackend({ exec: ns.exec });
    await backend.init();
    const note = backend.describe().notes.find((n) => n.startsWith('timeout refresh'));
    assert.match(note ?? '', /timeout refresh: (update|replace)$/);
    const table = await ns.sh('nft', 'list', 'table', 'inet', 'floodgate');
    assert.doesNotMatch(table, /refresh_probe/, 'probe sets are cleaned up');
    await backend.teardown();
  });

  it('remove is idempotent and only removes what it names', async () => {
    const backend = new NftBackend({ exec: ns.exec });
    await backend.init();
    await backend.add([
      { cidr: '198.51.100.7', family: 4, timeoutSeconds: 600 },
      { cidr: '2001:db8:1::/64', family: 6, timeoutSeconds: 600 },
    ]);
    await backend.remove(['198.51.100.7/32', '192.0.2.1']);
    await backend.remove(['198.51.100.7']);
    assert.deepEqual((await backend.list()).map((e) => e.cidr), ['2001:db8:1::/64']);
    await backend.teardown();
  });

  it('an overlapping network fails the whole transaction and leaves the sets unchanged', async () => {
    // Documented decision: the backend does not merge intervals; BanManager
    // only passes the minimal cover, so this only happens with hand-added elements.
    const backend = new NftBackend({ exec: ns.exec });
    await backend.init();
    await backend.add([{ cidr: '10.0.0.0/25', family: 4, timeoutSeconds: 600 }]);
    await assert.rejects(
      backend.add([
        { cidr: '10.9.0.1', family: 4, timeoutSeconds: 600 },
        { cidr: '10.0.0.0/24', family: 4, timeoutSeconds: 600 },
      ]),
      /interval overlaps/,
    );
    assert.deepEqual((await backend.list()).map((e) => e.cidr), ['10.0.0.0/25']);
    await backend.teardown();
  });

  for (const refreshMode of ['update', 'replace'] as const) {
    it(`an address left in the interval set by an earlier version is listed, refreshed and removed where it is (${refreshMode} mode)`, async () => {
      const backend = new NftBackend({ exec: ns.exec, refreshMode });
      await backend.init();
      await ns.sh('nft', 'add', 'element', 'inet', 'floodgate', 'blocked4', '{ 198.51.100.9 timeout 60s }');
      assert.deepEqual((await backend.list()).map((e) => e.cidr), ['198.51.100.9/32']);
      await backend.add([{ cidr: '198.51.100.9', family: 4, timeoutSeconds: 3600 }]);
      const listed = await backend.list();
      assert.ok(listed.every((e) => e.cidr === '198.51.100.9/32' && (e.expiresInSeconds ?? 0) > 60), JSON.stringify(listed));
      await backend.remove(['198.51.100.9']);
      assert.deepEqual(await backend.list(), []);
      await backend.teardown();
    });
  }

  it("never touches the user's own table: byte-for-byte identical after init/add/remove/teardown", async () => {
    await ns.exec(['nft', '-f', '-'], { input: USER_TABLE });
    const before = await ns.sh('nft', 'list', 'table', 'inet', 'filter');
    const backend = new NftBackend({ exec: ns.exec });
    await backend.init();
    await backend.add([{ cidr: '198.51.100.7', family: 4, timeoutSeconds: 600 }]);
    await backend.remove(['198.51.100.7']);
    await backend.teardown();
    assert.equal(await ns.sh('nft', 'list', 'table', 'inet', 'filter'), before);
    assert.doesNotMatch(await ns.sh('nft', 'list', 'tables'), /floodgate/);
    await backend.teardown(); // second teardown is a no-op, not an error
    await ns.sh('nft', 'delete', 'table', 'inet', 'filter');
  });

  it('10,000 elements land in one nft process with none lost', async () => {
    const spy = recording(ns.exec);
    const backend = new NftBackend({ exec: spy.exec });
    await backend.init();
    const entries = Array.from({ length: 10_000 }, (_, i) => ({
      cidr: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      family: 4 as const,
      timeoutSeconds: 600,
    }));
    spy.calls.length = 0;
    const started = process.hrtime.bigint();
    await backend.add(entries);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`# nft: 10,000 elements added in ${ms.toFixed(0)} ms`);
    assert.equal(spy.calls.length, 1, 'one process');
    // A script this long is handed over as a private file, not through the stdin pipe.
    const argv = spy.calls[0]?.argv ?? [];
    assert.deepEqual(argv.slice(0, 2), ['nft', '-f']);
    assert.match(argv[2] ?? '', /floodgate-nft-[^/]+\/batch\.nft$/);
    assert.equal(fs.existsSync(path.dirname(argv[2] ?? '')), false, 'the script and its directory are removed');
    const listed = await backend.list();
    assert.equal(listed.length, 10_000);
    assert.equal(new Set(listed.map((e) => e.cidr)).size, 10_000);
    await backend.teardown();
  });

  it('without a writable directory for the script file, a large batch still goes in through stdin', async () => {
    const spy = recording(ns.exec);
    const backend = new NftBackend({ exec: spy.exec, scriptDir: '/nonexistent/floodgate-test' });
    await backend.init();
    const entries = Array.from({ length: 4000 }, (_, i) => ({ cidr: `10.120.${i >> 8}.${i & 255}`, family: 4 as const, timeoutSeconds: 600 }));
    spy.calls.length = 0;
    await backend.add(entries);
    assert.deepEqual(spy.calls.map((c) => c.argv), [['nft', '-f', '-']]);
    assert.ok((spy.calls[0]?.input?.length ?? 0) > 64 * 1024, 'the script was over the file threshold');
    assert.equal((await backend.list()).length, 4000);
    await backend.teardown();
  });

  it('refuses injection strings before any command runs', async () => {
    const spy = recording(ns.exec);
    const backend = new NftBackend({ exec: spy.exec, refreshMode: 'update' });
    for (const bad of INJECTION_CORPUS) {
      await assert.rejects(backend.add([{ cidr: bad, family: 4, timeoutSeconds: 60 }]), FirewallInputError, JSON.stringify(bad));
      await assert.rejects(backend.remove([bad]), FirewallInputError, JSON.stringify(bad));
    }
    await assert.rejects(backend.add([{ cidr: '1.2.3.4', family: 6, timeoutSeconds: 60 }]), FirewallInputError);
    assert.equal(spy.calls.length, 0);
  });
});

describe('nft backend drops real traffic', () => {
  let host: TestNetns;
  let attacker: TestNetns;
  before(async () => {
    host = await createNetns('nfthost');
    attacker = await createNetns('nftatk');
    await connect(host, attacker, { a4: '10.99.0.1', b4: '10.99.0.2', a6: 'fd00:99::1', b6: 'fd00:99::2' });
  });
  after(async () => {
    await host.destroy();
    await attacker.destroy();
  });

  it('a banned source cannot connect, the drop counter rises, and unbanning restores it', async () => {
    const server = await startTcpServer(host, 7777);
    try {
      const backend = new NftBackend({ exec: host.exec });
      await backend.init();
      assert.equal(await canConnect(attacker, '10.99.0.1', 7777), true, 'baseline v4');
      assert.equal(await canConnect(attacker, 'fd00:99::1', 7777), true, 'baseline v6');

      await backend.add([
        { cidr: '10.99.0.2', family: 4, timeoutSeconds: 600 },
        { cidr: 'fd00:99::/64', family: 6, timeoutSeconds: 600 },
      ]);
      assert.equal(await canConnect(attacker, '10.99.0.1', 7777), false, 'v4 dropped');
      assert.equal(await canConnect(attacker, 'fd00:99::1', 7777), false, 'v6 /64 dropped');
      const counters = await backend.counters();
      assert.ok(counters.packets >= 2, `dropped ${counters.packets} packets`);
      assert.ok(counters.bytes > 0);

      await backend.init(); // re-init must keep the counter values
      assert.ok((await backend.counters()).packets >= counters.packets);

      await backend.remove(['10.99.0.2', 'fd00:99::/64']);
      assert.equal(await canConnect(attacker, '10.99.0.1', 7777), true, 'v4 after unban');
      assert.equal(await canConnect(attacker, 'fd00:99::1', 7777), true, 'v6 after unban');

      // The other two sets: an IPv4 network and a single IPv6 address.
      await backend.add([
        { cidr: '10.99.0.0/30', family: 4, timeoutSeconds: 600 },
        { cidr: 'fd00:99::2', family: 6, timeoutSeconds: 600 },
      ]);
      assert.equal(await canConnect(attacker, '10.99.0.1', 7777), false, 'v4 network dropped');
      assert.equal(await canConnect(attacker, 'fd00:99::1', 7777), false, 'v6 address dropped');
      await backend.remove(['10.99.0.0/30', 'fd00:99::2']);
      assert.equal(await canConnect(attacker, '10.99.0.1', 7777), true, 'v4 after the network unban');
      assert.equal(await canConnect(attacker, 'fd00:99::1', 7777), true, 'v6 after the address unban');
      await backend.teardown();
    } finally {
      server.stop();
    }
  });
});
