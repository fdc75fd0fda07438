import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { type BanRecord, BanStore } from '../../agent/bans/ban-store.js';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { ban, makeManager, tempStateDir } from './setup.js';

const record = (cidr: string): BanRecord => ({
  cidr,
  family: 4,
  reason: 'syn flood',
  policy: 'default',
  source: 'auto',
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2099-01-01T00:00:00.000Z',
  offenceCount: 1,
});

describe('ban store', () => {
  let state: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('the file is complete, valid JSON after every manager operation', async () => {
    const { manager } = await makeManager(new DryRunBackend(), state.dir);
    await manager.start({ timers: false });
    const file = join(state.dir, 'bans.json');
    const steps: [() => Promise<unknown>, string[]][] = [
      [() => manager.block(ban('203.0.113.1')), ['203.0.113.1/32']],
      [() => manager.blockMany([ban('203.0.113.2'), ban('2001:db8:9::1')]), ['2001:db8:9::/64', '203.0.113.1/32', '203.0.113.2/32']],
      [() => manager.unblock('203.0.113.1'), ['2001:db8:9::/64', '203.0.113.2/32']],
    ];
    for (const [step, expected] of steps) {
      await step();
      const saved = JSON.parse(await readFile(file, 'utf8')) as { version: number; bans: BanRecord[] };
      assert.equal(saved.version, 1);
      assert.deepEqual(saved.bans.map((b) => b.cidr).sort(), expected);
    }
    const first = (JSON.parse(await readFile(file, 'utf8')) as { bans: BanRecord[] }).bans[0];
    assert.deepEqual(Object.keys(first ?? {}).sort(), [
      'cidr', 'createdAt', 'expiresAt', 'family', 'offenceCount', 'policy', 'reason', 'source',
    ]);
    assert.deepEqual((await readdir(state.dir)).sort(), ['bans.json'], 'no temp files left behind');
  });

  it('a temp file left by a crash does not break loading and is cleaned up', async () => {
    const store = new BanStore({ stateDir: state.dir });
    await store.load();
    store.put(record('203.0.113.1/32'));
    await store.save();
    await writeFile(join(state.dir, 'bans.json.tmp-4242-deadbeef'), '{"version":1,"bans":[{"cidr":"203.0.1');

    const reloaded = new BanStore({ stateDir: state.dir });
    await reloaded.load();
    assert.deepEqual(reloaded.all().map((b) => b.cidr), ['203.0.113.1/32']);
    assert.deepEqual(await readdir(state.dir), ['bans.json']);
  });

  it('a corrupt file is moved aside and the store starts empty', async () => {
    await writeFile(join(state.dir, 'bans.json'), '{"version":1,"bans":[');
    const store = new BanStore({ stateDir: state.dir, logger: pino({ level: 'silent' }) });
    await store.load();
    assert.equal(store.size, 0);
    const names = await readdir(state.dir);
    assert.equal(names.length, 1);
    assert.match(names[0] ?? '', /^bans\.json\.corrupt-\d+$/);
  });

  it('concurrent saves never interleave: the last state wins, whole', async () => {
    const store = new BanStore({ stateDir: state.dir });
    await store.load();
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 20; i++) {
      store.put(record(`203.0.113.${i}/32`));
      saves.push(store.save());
    }
    await Promise.all(saves);
    const reloaded = new BanStore({ stateDir: state.dir });
    await reloaded.load();
    assert.equal(reloaded.size, 20);
  });

  it('offence history survives a restart, and pruning drops only what is older than findtime', async () => {
    const store = new BanStore({ stateDir: state.dir });
    await store.load();
    store.put(record('203.0.113.1/32'));
    store.setOffenceTimes('203.0.113.1/32', [1000, 5000]);
    store.setOffenceTimes('203.0.113.2/32', [2000]);
    store.pruneOffences(1500);
    await store.save();
    const reloaded = new BanStore({ stateDir: state.dir });
    await reloaded.load();
    assert.deepEqual(reloaded.offenceTimes('203.0.113.1/32'), [5000]);
    assert.deepEqual(reloaded.offenceTimes('203.0.113.2/32'), [2000]);
    assert.deepEqual(reloaded.offenceTimes('203.0.113.9/32'), []);
    reloaded.pruneOffences(2500);
    assert.deepEqual(reloaded.offenceTimes('203.0.113.2/32'), []);
    await reloaded.save();
    const file = JSON.parse(await readFile(join(state.dir, 'bans.json'), 'utf8')) as { offences: Record<string, number[]> };
    assert.deepEqual(Object.keys(file.offences).sort(), ['203.0.113.1/32']);
  });

  it('a missing state dir is created', async () => {
    const store = new BanStore({ stateDir: join(state.dir, 'nested', 'state') });
    await store.load();
    await store.save();
    assert.deepEqual(await readdir(join(state.dir, 'nested', 'state')), ['bans.json']);
  });
});
