// Issue 13.13 (and 13.11 on pf), by command plan: pf cannot run here, so a
// recording fake pfctl first on PATH plays pf's table, with the time each
// address entered it (test/firewall/fake-pfctl.ts). What is proven is which
// pfctl commands floodgate runs and what they would do to pf's table; pf's
// own behaviour (e.g. that `-T expire` is honoured by macOS's pfctl) is not.
//   - pf expires floodgate's bans by itself: at every agent start, and hourly
//     from launchd when the agent is gone for good;
//   - a batch of 1,000 bans kills the states of the sources that have any
//     (one state-table read), not 1,000 `pfctl -k` processes;
//   - a lost ban store on pf re-imports what pf holds, for reimportSeconds.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { execa } from 'execa';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { BanManager } from '../../agent/bans/ban-manager.js';
import { BanStore } from '../../agent/bans/ban-store.js';
import { PfBackend } from '../../agent/firewall/pf-backend.js';
import { REPO_ROOT } from '../../deploy/helm.js';
import { tempStateDir, testPolicy } from '../bans/setup.js';
import { type FakePfctl, installFakePfctl } from '../firewall/fake-pfctl.js';

const WEEK = 7 * 86400;

describe('pf: expiry without the agent, batched state kills, re-import (command plan)', () => {
  let fake: FakePfctl;
  let state: { dir: string; cleanup(): Promise<void> };
  const lines: { level: number; msg: string }[] = [];
  const manager = async (extra: { now?: () => number } = {}) =>
    new BanManager({
      backend: new PfBackend({ exec: fake.exec, maxBanSeconds: WEEK }),
      store: new BanStore({ stateDir: state.dir }),
      policy: await testPolicy(),
      logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) }),
      registry: new Registry(),
      limits: { maxNewBansPerMinute: 100_000 },
      escalation: { maxDurationSeconds: WEEK },
      ...extra,
    });
  const table = async () => (JSON.parse(fs.readFileSync(path.join(fake.dir, 'state.json'), 'utf8')) as { table: string[] | null }).table ?? [];
  beforeEach(async () => {
    fake = await installFakePfctl();
    state = await tempStateDir();
    lines.length = 0;
  });
  afterEach(async () => {
    await fake.cleanup();
    await state.cleanup();
  });

  it('launchd has pf drop bans older than the longest ban every hour, whether or not the agent runs', async () => {
    const plistPath = path.join(REPO_ROOT, 'deploy/host/macos/dev.floodgate.pf-expire.plist');
    const r = await execa('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', plistPath]);
    const plist = JSON.parse(String(r.stdout)) as { ProgramArguments: string[]; StartInterval: number; RunAtLoad: boolean };
    assert.equal(plist.StartInterval, 3600);
    assert.equal(plist.RunAtLoad, true);
    assert.equal(plist.ProgramArguments[0], '/sbin/pfctl');
    assert.deepEqual(plist.ProgramArguments.slice(1), ['-a', 'floodgate', '-t', 'floodgate_blocked', '-T', 'expire', String(WEEK)]);

    // The agent bans one source, a week later another, then dies for good.
    const m = await manager();
    await m.start({ timers: false });
    await m.block({ ip: '198.51.100.7', durationSeconds: 600, reason: 'flood', policy: 'p', source: 'api' });
    await fake.age(WEEK + 60);
    await m.block({ ip: '198.51.100.8', durationSeconds: 600, reason: 'flood', policy: 'p', source: 'api' });
    await m.stop();
    // launchd runs the plist's command (pfctl from PATH: the fake).
    await fake.exec(['pfctl', ...plist.ProgramArguments.slice(1)]);
    assert.deepEqual(await table(), ['198.51.100.8'], 'the week-old ban is gone, the fresh one stays');
  });

  it('at start pf drops what is older than the longest ban, even with the ban store lost', async () => {
    const first = await manager();
    await first.start({ timers: false });
    await first.block({ ip: '198.51.100.7', durationSeconds: 600, reason: 'flood', policy: 'p', source: 'api' });
    await first.stop();
    await fake.age(WEEK + 60);
    // A recent ban, as the agent pushed it before its store was lost.
    await fake.exec(['pfctl', '-a', 'floodgate', '-t', 'floodgate_blocked', '-T', 'add', '198.51.100.9']);
    fs.writeFileSync(path.join(state.dir, 'bans.json'), 'not json');

    await fake.clearLog();
    const again = await manager();
    await again.start({ timers: false });
    const argvs = (await fake.log()).map((c) => c.argv.join(' '));
    assert.ok(argvs.includes(`-a floodgate -t floodgate_blocked -T expire ${WEEK}`), argvs.join('\n'));
    assert.deepEqual(await table(), ['198.51.100.9']);
    // What pf still held came back into the store, for reimportSeconds (pf keeps no timeouts).
    assert.deepEqual(again.list().map((b) => b.cidr), ['198.51.100.9/32']);
    assert.ok(Math.abs(Date.parse(again.list()[0]!.expiresAt) - (Date.now() + 3600_000)) < 60_000);
    assert.ok(lines.some((l) => l.level >= 50 && /re-imported 1 ban\(s\) from what the pf firewall still holds/.test(l.msg)));
    await again.stop();
  });

  it('a batch of 1,000 bans reads the state table once and kills only the sources that hold states', async () => {
    const m = await manager();
    await m.start({ timers: false });
    await fake.setStates(
      'ALL tcp 10.1.2.3:443 <- 198.18.0.17:50000       ESTABLISHED:ESTABLISHED\n' +
        'ALL tcp 10.1.2.3:443 <- 198.18.2.200:50001       ESTABLISHED:ESTABLISHED\n' +
        'ALL udp 10.1.2.3:53 <- 198.18.3.1:4000       SINGLE:NO_TRAFFIC\n' +
        'ALL tcp 10.1.2.3:22 <- 192.0.2.50:60000       ESTABLISHED:ESTABLISHED\n',
    );
    await fake.clearLog();
    const ips = Array.from({ length: 1000 }, (_, i) => `198.18.${i >> 8}.${i & 255}`);
    const outcomes = await m.blockMany(ips.map((ip) => ({ ip, durationSeconds: 600, reason: 'flood', policy: 'p', source: 'api' as const })));
    assert.ok(outcomes.every((o) => o.ok));
    const calls = (await fake.log()).map((c) => c.argv);
    const kills = calls.filter((a) => a[0] === '-k').map((a) => a[1]).sort();
    assert.deepEqual(kills, ['198.18.0.17', '198.18.2.200', '198.18.3.1']);
    assert.equal(calls.filter((a) => a.join(' ') === '-s state').length, 1);
    assert.equal(calls.length, 2 + 1 + 3, 'two table adds of 500, one state read, three kills');
    assert.equal((await table()).length, 1000);
    await m.stop();
  });
});
