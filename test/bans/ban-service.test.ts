// The API adapter: what an HTTP caller sees for bans and refusals.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { BanRefusedError } from '../../agent/bans/ban-service-port.js';
import { ManagerBanService } from '../../agent/bans/ban-service.js';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { fakeClock, makeManager, tempStateDir } from './setup.js';

const request = (cidr: string) => ({ cidr, durationSeconds: 600, reason: 'manual', source: 'api' as const });

describe('ban service adapter', () => {
  let state: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('returns the ban with its duration, lists it, and unblocks it', async () => {
    const clock = fakeClock();
    const { manager } = await makeManager(new DryRunBackend(), state.dir, { now: clock.now });
    await manager.start({ timers: false });
    const service = new ManagerBanService(manager, 'dry-run');
    const record = await service.block(request('203.0.113.7'));
    assert.equal(record.cidr, '203.0.113.7/32');
    assert.equal(record.durationSeconds, 600);
    assert.equal(record.policy, 'manual');
    assert.deepEqual(service.list().map((b) => b.cidr), ['203.0.113.7/32']);
    assert.equal(await service.unblock('203.0.113.7'), true);
    assert.equal(await service.unblock('203.0.113.7'), false);
    assert.equal(service.backendName(), 'dry-run');
  });

  it('maps refusals to the API codes with the one-line reason', async () => {
    const { manager } = await makeManager(new DryRunBackend(), state.dir, { limits: { maxActiveBans: 1, maxNewBansPerMinute: 100 } });
    await manager.start({ timers: false });
    const service = new ManagerBanService(manager, 'dry-run');
    const refused = async (cidr: string) => {
      try {
        await service.block(request(cidr));
      } catch (err) {
        assert.ok(err instanceof BanRefusedError);
        return [err.code, err.message];
      }
      return ['accepted'];
    };
    assert.deepEqual(await refused('127.0.0.1'), ['never_block', 'refusing to block 127.0.0.1: loopback']);
    assert.deepEqual(await refused('$(id)'), ['invalid', 'refusing to block "$(id)": not an IP address or CIDR']);
    assert.deepEqual(await refused('203.0.113.1'), ['accepted']);
    assert.deepEqual(await refused('203.0.113.2'), [
      'max_active_bans',
      'refusing to block 203.0.113.2/32: 1 bans are active (maxActiveBans)',
    ]);
  });
});
