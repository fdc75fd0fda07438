// pf backend, verified by command plan: a recording fake pfctl first on PATH.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { checkAnchorReference, PF_ANCHOR_RULES, PfBackend } from '../../agent/firewall/pf-backend.js';
import { FirewallInputError } from '../../agent/firewall/types.js';
import { type FakePfctl, installFakePfctl } from './fake-pfctl.js';
import { INJECTION_CORPUS } from './helpers.js';

describe('pf backend (command plan)', () => {
  let fake: FakePfctl;
  beforeEach(async () => {
    fake = await installFakePfctl();
  });
  afterEach(async () => {
    await fake.cleanup();
  });

  it('runs exactly the planned pfctl commands, all scoped to anchor "floodgate"', async () => {
    const backend = new PfBackend({ exec: fake.exec });
    await backend.init();
    await backend.add([
      { cidr: '198.51.100.7', family: 4, timeoutSeconds: 600 },
      { cidr: '203.0.113.0/24', family: 4, timeoutSeconds: 600 },
      { cidr: '2001:db8:1::/64', family: 6, timeoutSeconds: 600 },
    ]);
    const listed = await backend.list();
    const counters = await backend.counters();
    await backend.remove(['198.51.100.7/32']);
    await backend.teardown();

    assert.deepEqual(listed.map((e) => e.cidr), ['198.51.100.7/32', '203.0.113.0/24', '2001:db8:1::/64']);
    assert.deepEqual(counters, { packets: 42, bytes: 2520 });
    const T = ['pfctl', '-a', 'floodgate', '-t', 'floodgate_blocked', '-T'];
    assert.deepEqual(
      (await fake.log()).map((call) => ['pfctl', ...call.argv]),
      [
        ['pfctl', '-a', 'floodgate', '-s', 'rules'],
        ['pfctl', '-a', 'floodgate', '-f', '-'],
        [...T, 'add', '198.51.100.7', '203.0.113.0/24', '2001:db8:1::/64'],
        ['pfctl', '-k', '198.51.100.7'],
        ['pfctl', '-k', '203.0.113.0/24'],
        ['pfctl', '-k', '2001:db8:1::/64'],
        [...T, 'show'],
        ['pfctl', '-a', 'floodgate', '-v', '-s', 'rules'],
        [...T, 'delete', '198.51.100.7'],
        ['pfctl', '-a', 'floodgate/signatures', '-F', 'rules'],
        ['pfctl', '-a', 'floodgate/signatures', '-F', 'Tables'],
        ['pfctl', '-a', 'floodgate', '-F', 'rules'],
        [...T, 'kill'],
      ],
    );
    const load = (await fake.log())[1];
    assert.equal(load?.stdin, PF_ANCHOR_RULES);
    assert.equal(PF_ANCHOR_RULES, 'table <floodgate_blocked> persist\nblock drop in quick from <floodgate_blocked> to any\nanchor "signatures"\n');
  });

  it('never loads a ruleset outside the anchor', async () => {
    const backend = new PfBackend({ exec: fake.exec });
    await backend.init();
    await backend.add([{ cidr: '198.51.100.7', family: 4, timeoutSeconds: 60 }]);
    await backend.list();
    await backend.teardown();
    for (const { argv } of await fake.log()) {
      if (!argv.includes('-f') && !argv.includes('-F')) continue;
      assert.equal(argv[0], '-a', argv.join(' '));
      assert.match(argv[1] ?? '', /^floodgate(\/signatures)?$/, argv.join(' '));
      assert.ok(!argv.includes('/etc/pf.conf'));
    }
  });

  it('a second init keeps the loaded anchor (and its table) instead of reloading it', async () => {
    const backend = new PfBackend({ exec: fake.exec });
    await backend.init();
    await backend.add([{ cidr: '198.51.100.7', family: 4, timeoutSeconds: 60 }]);
    await fake.clearLog();
    await backend.init();
    assert.deepEqual((await fake.log()).map((c) => c.argv), [['-a', 'floodgate', '-s', 'rules']]);
    assert.deepEqual((await backend.list()).map((e) => e.cidr), ['198.51.100.7/32']);
  });

  it('large batches are split so no argv gets near ARG_MAX', async () => {
    const backend = new PfBackend({ exec: fake.exec, killStates: false });
    await backend.init();
    await fake.clearLog();
    const entries = Array.from({ length: 1200 }, (_, i) => ({ cidr: `10.0.${i >> 8}.${i & 255}`, family: 4 as const, timeoutSeconds: 60 }));
    await backend.add(entries);
    const calls = await fake.log();
    assert.deepEqual(calls.map((c) => c.argv.length - 6), [500, 500, 200]);
    assert.equal((await backend.list()).length, 1200);
  });

  it('list() of a missing table is empty rather than an error', async () => {
    assert.deepEqual(await new PfBackend({ exec: fake.exec }).list(), []);
  });

  it('refuses injection strings before pfctl runs', async () => {
    const backend = new PfBackend({ exec: fake.exec });
    for (const bad of INJECTION_CORPUS) {
      await assert.rejects(backend.add([{ cidr: bad, family: 4, timeoutSeconds: 60 }]), FirewallInputError);
      await assert.rejects(backend.remove([bad]), FirewallInputError);
    }
    assert.deepEqual(await fake.log(), []);
  });
});

describe('checkAnchorReference', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fg-pfconf-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: [string, string, boolean][] = [
    ['referenced', 'scrub-anchor "com.apple/*"\nanchor "floodgate"\nload anchor "com.apple" from "/etc/pf.anchors/com.apple"\n', true],
    ['referenced without quotes', 'anchor floodgate all\n', true],
    ['only in a comment', '# anchor "floodgate"\nanchor "com.apple/*"\n', false],
    ['a different anchor', 'anchor "floodgate-old"\n', false],
  ];
  for (const [name, text, ok] of cases) {
    it(`${name} → ${ok ? 'ok' : 'missing'}`, async () => {
      const path = join(dir, `${name.replace(/\W+/g, '-')}.conf`);
      await writeFile(path, text);
      const check = await checkAnchorReference(path);
      assert.equal(check.ok, ok, check.message);
    });
  }

  it('an unreadable file is reported, not thrown', async () => {
    const check = await checkAnchorReference(join(dir, 'missing.conf'));
    assert.equal(check.ok, false);
    assert.match(check.message, /cannot read/);
  });
});
