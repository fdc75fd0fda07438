// BanManager rules (escalation, caps, idempotency, sweep, metrics, failure
// handling) over the dry-run backend and a controllable clock. The same
// manager against real nftables is in ban-manager-nft.test.ts.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import type { FirewallEntry } from '../../agent/firewall/types.js';
import { ManagerBanService } from '../../agent/bans/ban-service.js';
import { ban, fakeClock, makeManager, tempStateDir } from './setup.js';

/** Dry-run backend whose add() can be made to fail, like nft would. */
class FlakyBackend extends DryRunBackend {
  failAdds = false;
  override async add(entries: readonly FirewallEntry[]): Promise<void> {
    if (this.failAdds) throw new Error('nft: Could not process rule: No buffer space available');
    return super.add(entries);
  }
}

const cidrsOf = async (backend: DryRunBackend) => (await backend.list()).map((e) => e.cidr).sort();

describe('ban manager', () => {
  let state: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  it('blocks, reports what it did, and lists the ban', async () => {
    const backend = new DryRunBackend();
    const clock = fakeClock();
    const { manager } = await makeManager(backend, state.dir, { now: clock.now });
    await manager.start({ timers: false });
    const outcome = await manager.block(ban('203.0.113.7', 600));
    assert.ok(outcome.ok);
    assert.equal(outcome.action, 'added');
    assert.equal(outcome.ban.cidr, '203.0.113.7/32');
    assert.equal(outcome.ban.expiresAt, '2026-01-01T00:10:00.000Z');
    assert.deepEqual(manager.list().map((b) => b.cidr), ['203.0.113.7/32']);
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.7/32']);
    assert.deepEqual(backend.operations.at(-1), { op: 'add', entries: [{ cidr: '203.0.113.7/32', timeoutSeconds: 600 }] });
  });

  it('the API batch answer says per item what was done and until when, in request order', async () => {
    const backend = new DryRunBackend();
    const clock = fakeClock();
    const { manager } = await makeManager(backend, state.dir, { now: clock.now });
    await manager.start({ timers: false });
    const service = new ManagerBanService(manager, backend.name);
    const request = (cidr: string, durationSeconds: number) => ({ cidr, durationSeconds, reason: 'batch', source: 'api' as const });
    await service.blockMany([request('203.0.113.1', 600)]).then(async (r) => r.applied);
    const { results, applied } = await service.blockMany([request('203.0.113.1', 600), request('203.0.113.2', 600), request('203.0.113.1', 7200), request('127.0.0.1', 60)]);
    await applied;
    assert.deepEqual(results, [
      { ok: true, cidr: '203.0.113.1/32', action: 'unchanged', expiresAt: '2026-01-01T00:10:00.000Z', offenceCount: 1 },
      { ok: true, cidr: '203.0.113.2/32', action: 'added', expiresAt: '2026-01-01T00:10:00.000Z', offenceCount: 1 },
      { ok: true, cidr: '203.0.113.1/32', action: 'extended', expiresAt: '2026-01-01T02:00:00.000Z', offenceCount: 1 },
      { ok: false, code: 'never_block', error: 'refusing to block 127.0.0.1: loopback' },
    ]);
  });

  it('unblockAll removes every ban from the store and the firewall, and keeps offence history', async () => {
    const backend = new DryRunBackend();
    const clock = fakeClock();
    const { manager } = await makeManager(backend, state.dir, { now: clock.now });
    await manager.start({ timers: false });
    await manager.blockMany([ban('203.0.113.1', 600), ban('203.0.113.2', 600), ban('198.51.100.0/24', 600)]);
    assert.equal(await manager.unblockAll(), 3);
    assert.deepEqual(manager.list(), []);
    assert.deepEqual(await cidrsOf(backend), []);
    assert.equal(await manager.unblockAll(), 0, 'nothing left: a no-op');
    const again = await manager.block(ban('203.0.113.1', 600));
    assert.ok(again.ok);
    assert.equal(again.ban.offenceCount, 2, 'a source banned again after an unban-all still escalates');
  });

  it('blocking an active ban again keeps one ban; it only extends when that gains time', async () => {
    const backend = new DryRunBackend();
    const clock = fakeClock();
    const { manager } = await makeManager(backend, state.dir, { now: clock.now });
    await manager.start({ timers: false });
    await manager.block(ban('203.0.113.7', 600));
    const opsAfterFirst = backend.operations.length;
    clock.advance(10);
    const again = await manager.block(ban('203.0.113.7', 600));
    assert.ok(again.ok);
    assert.equal(again.action, 'unchanged');
    assert.equal(again.ban.offenceCount, 1, 're-flagging an active ban is not a new offence');
    assert.equal(backend.operations.length, opsAfterFirst, 'firewall untouched');

    const longer = await manager.block(ban('203.0.113.7', 3600));
    assert.ok(longer.ok);
    assert.equal(longer.action, 'extended');
    assert.equal(longer.ban.expiresAt, '2026-01-01T01:00:10.000Z');
    assert.equal(manager.list().length, 1);
  });

  it('escalates its own repeat offenders: duration × factor^(offences−1), capped, reset after findtime', async () => {
    const backend = new DryRunBackend();
    const clock = fakeClock();
    const { manager } = await makeManager(backend, state.dir, {
      now: clock.now,
      escalation: { factor: 2, maxDurationSeconds: 2000, findTimeSeconds: 86_400 },
    });
    await manager.start({ timers: false });
    const durations: number[] = [];
    for (let i = 0; i < 4; i++) {
      const outcome = await manager.block({ ...ban('203.0.113.7', 600), source: 'auto' });
      assert.ok(outcome.ok);
      durations.push((Date.parse(outcome.ban.expiresAt) - clock.now()) / 1000);
      assert.equal(outcome.ban.offenceCount, i + 1);
      clock.advance(durations[i] ?? 0);
      await manager.sweep();
    }
    assert.deepEqual(durations, [600, 1200, 2000, 2000]);

    clock.advance(86_400);
    const fresh = await manager.block({ ...ban('203.0.113.7', 600), source: 'auto' });
    assert.ok(fresh.ok);
    assert.equal(fresh.ban.offenceCount, 1, 'history older than findtime is forgotten');
  });

  it('keeps a duration asked through the API as asked, repeat offence or not (the controller escalates by its policy)', async () => {
    const backend = new DryRunBackend();
    const clock = fakeClock();
    const { manager } = await makeManager(backend, state.dir, {
      now: clock.now,
      escalation: { factor: 2, maxDurationSeconds: 2000, findTimeSeconds: 86_400 },
    });
    await manager.start({ timers: false });
    const durations: number[] = [];
    for (const asked of [600, 1200, 5000]) {
      const outcome = await manager.block(ban('203.0.113.8', asked));
      assert.ok(outcome.ok);
      durations.push((Date.parse(outcome.ban.expiresAt) - clock.now()) / 1000);
      clock.advance(asked);
      await manager.sweep();
    }
    // Not 600, 2400, 2000 (escalated again and capped at the agent's own 2000 s): exactly what was asked.
    assert.deepEqual(durations, [600, 1200, 5000]);
  });

  it('refuses beyond maxActiveBans with a clear reason and counts it', async () => {
    const backend = new DryRunBackend();
    const { manager, registry } = await makeManager(backend, state.dir, { limits: { maxActiveBans: 2 } });
    await manager.start({ timers: false });
    assert.ok((await manager.block(ban('203.0.113.1'))).ok);
    assert.ok((await manager.block(ban('203.0.113.2'))).ok);
    const third = await manager.block(ban('203.0.113.3'));
    assert.deepEqual(third, {
      ok: false,
      code: 'max_active_bans',
      reason: 'refusing to block 203.0.113.3/32: 2 bans are active (maxActiveBans)',
    });
    assert.ok((await manager.block(ban('203.0.113.1', 1200))).ok, 'extending an existing ban is not a new one');
    assert.match(await registry.metrics(), /floodgate_ban_refusals_total\{reason="max_active_bans"\} 1/);
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.1/32', '203.0.113.2/32']);
  });

  it('refuses beyond maxNewBansPerMinute until the minute has passed', async () => {
    const clock = fakeClock();
    const { manager, registry } = await makeManager(new DryRunBackend(), state.dir, {
      now: clock.now,
      limits: { maxNewBansPerMinute: 2 },
    });
    await manager.start({ timers: false });
    const outcomes = await manager.blockMany([ban('203.0.113.1'), ban('203.0.113.2'), ban('203.0.113.3')]);
    assert.deepEqual(outcomes.map((o) => o.ok), [true, true, false]);
    assert.equal(outcomes[2]?.ok === false && outcomes[2].code, 'rate_limited');
    clock.advance(61);
    assert.ok((await manager.block(ban('203.0.113.3'))).ok);
    assert.match(await registry.metrics(), /floodgate_ban_refusals_total\{reason="rate_limited"\} 1/);
  });

  it('one large batch enforces every never-block rule and both caps, item by item', async () => {
    const backend = new DryRunBackend();
    const { manager, store } = await makeManager(backend, state.dir, { limits: { maxActiveBans: 3000, maxNewBansPerMinute: 2500 } });
    await manager.start({ timers: false });
    const protectedAddresses = ['127.0.0.1', '10.1.2.3', '10.1.0.1', '10.1.0.2', '10.244.9.9', '10.244.0.0/24', '10.0.0.0/8', '::1', '224.0.0.1'];
    type Request = Parameters<typeof manager.blockMany>[0][number];
    const requests: Request[] = Array.from({ length: 3000 }, (_, i) => ban(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`));
    // Protected targets spread through the batch, and malformed internal requests.
    protectedAddresses.forEach((ip, k) => requests.splice(k * 300, 0, ip.includes('/') ? { ...ban('x'), ip: undefined, cidr: ip } : ban(ip)));
    const malformed = [
      { ...ban('203.0.113.1'), durationSeconds: Number.NaN },
      { ...ban('203.0.113.2'), durationSeconds: Number.POSITIVE_INFINITY },
      { ...ban('203.0.113.3'), durationSeconds: 0 },
      { ...ban('203.0.113.4'), source: 'intruder' },
      { ...ban('203.0.113.5'), cidr: '203.0.113.5/32' },
      { ...ban('203.0.113.6'), reason: 'r'.repeat(501) },
      { ...ban('203.0.113.7'), policy: 42 },
      null,
    ];
    malformed.forEach((m, k) => requests.splice(k * 400 + 7, 0, m as unknown as Request));
    const outcomes = await manager.blockMany(requests);
    assert.equal(outcomes.length, requests.length);
    const codeOf = (i: number) => {
      const o = outcomes[i];
      return o === undefined || o.ok ? 'ok' : o.code;
    };
    requests.forEach((r, i) => {
      const target = r === null ? undefined : (r.ip ?? r.cidr);
      if ((malformed as unknown[]).includes(r)) assert.equal(codeOf(i), 'invalid_request', `malformed request #${i}`);
      else if (target !== undefined && protectedAddresses.includes(target)) assert.notEqual(codeOf(i), 'ok', `${target} must be refused`);
    });
    // 3000 well-formed, unprotected bans: the rate cap (2500 a minute) admits exactly 2500.
    assert.equal(outcomes.filter((o) => o.ok).length, 2500);
    assert.equal(outcomes.filter((o) => !o.ok && o.code === 'rate_limited').length, 500);
    assert.equal(store.size, 2500);
    const held = new Set((await backend.list()).map((e) => e.cidr));
    assert.equal(held.size, 2500);
    for (const ip of protectedAddresses) assert.ok(![...held].some((c) => c.startsWith(`${ip}/`)), `${ip} reached the firewall`);
  });

  it('a batch stops at maxActiveBans', async () => {
    const { manager } = await makeManager(new DryRunBackend(), state.dir, { limits: { maxActiveBans: 100, maxNewBansPerMinute: 10_000 } });
    await manager.start({ timers: false });
    const outcomes = await manager.blockMany(Array.from({ length: 150 }, (_, i) => ban(`198.51.100.${i + 1}`)));
    assert.equal(outcomes.filter((o) => o.ok).length, 100);
    assert.ok(outcomes.slice(100).every((o) => !o.ok && o.code === 'max_active_bans'));
    assert.equal(manager.list().length, 100);
  });

  it('refuses protected addresses and malformed requests without touching the firewall', async () => {
    const backend = new DryRunBackend();
    const { manager, registry } = await makeManager(backend, state.dir);
    await manager.start({ timers: false });
    const opsBefore = backend.operations.length;
    const cases: [object, string][] = [
      [ban('127.0.0.1'), 'refusing to block 127.0.0.1: loopback'],
      [ban('10.1.2.3'), 'refusing to block 10.1.2.3: own address'],
      [ban('10.1.0.1'), 'refusing to block 10.1.0.1: default gateway'],
      [ban('10.244.7.7'), 'refusing to block 10.244.7.7: allowlisted (10.244.0.0/16)'],
      [{ ...ban('x'), ip: undefined, cidr: '0.0.0.0/0' }, 'refusing to block 0.0.0.0/0: prefix /0 is broader than the minimum /16 for IPv4'],
      [{ ...ban('203.0.113.7'), durationSeconds: -5 }, 'invalid ban request: durationSeconds: Too small: expected number to be >0'],
      [{ ...ban('203.0.113.7'), cidr: '203.0.113.0/24' }, 'invalid ban request: request: give exactly one of ip or cidr'],
    ];
    for (const [request, reason] of cases) {
      const outcome = await manager.block(request as Parameters<typeof manager.block>[0]);
      assert.equal(outcome.ok ? 'accepted' : outcome.reason, reason);
    }
    assert.equal(backend.operations.length, opsBefore);
    assert.deepEqual(manager.list(), []);
    const metrics = await registry.metrics();
    for (const code of ['loopback', 'own_address', 'gateway', 'allowlisted', 'prefix_too_broad', 'invalid_request']) {
      assert.match(metrics, new RegExp(`floodgate_ban_refusals_total\\{reason="${code}"\\} \\d`));
    }
  });

  it('a broader ban replaces the narrower ones in the firewall; lifting it restores them', async () => {
    const backend = new DryRunBackend();
    const { manager } = await makeManager(backend, state.dir);
    await manager.start({ timers: false });
    await manager.block(ban('203.0.113.5'));
    await manager.block(ban('203.0.113.6'));
    const wide = await manager.block({ ...ban('x'), ip: undefined, cidr: '203.0.113.0/24' });
    assert.ok(wide.ok);
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.0/24']);
    const inner = await manager.block(ban('203.0.113.9'));
    assert.ok(inner.ok);
    assert.equal(inner.coveredBy, '203.0.113.0/24');
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.0/24']);
    assert.equal(manager.list().length, 4);

    assert.deepEqual(await manager.unblock('203.0.113.0/24'), { ok: true, cidr: '203.0.113.0/24', removed: true });
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.5/32', '203.0.113.6/32', '203.0.113.9/32']);
  });

  it('unblock is idempotent and normalises like block', async () => {
    const backend = new DryRunBackend();
    const { manager } = await makeManager(backend, state.dir);
    await manager.start({ timers: false });
    await manager.block(ban('2001:db8:5::1'));
    assert.deepEqual(await manager.unblock('2001:db8:5::77'), { ok: true, cidr: '2001:db8:5::/64', removed: true });
    assert.deepEqual(await manager.unblock('2001:db8:5::77'), { ok: true, cidr: '2001:db8:5::/64', removed: false });
    assert.deepEqual(await cidrsOf(backend), []);
    const bad = await manager.unblock('1.2.3.4; flush ruleset');
    assert.equal(bad.ok, false);
  });

  it('the sweep removes expired bans from the store and from a firewall without timeouts', async () => {
    const backend = new DryRunBackend();
    const clock = fakeClock();
    const { manager, registry } = await makeManager(backend, state.dir, { now: clock.now });
    await manager.start({ timers: false });
    await manager.block(ban('203.0.113.1', 60));
    await manager.block(ban('203.0.113.2', 600));
    clock.advance(61);
    assert.equal(await manager.sweep(), 1);
    assert.deepEqual(manager.list().map((b) => b.cidr), ['203.0.113.2/32']);
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.2/32']);
    const saved = JSON.parse(await readFile(`${state.dir}/bans.json`, 'utf8')) as { bans: { cidr: string }[] };
    assert.deepEqual(saved.bans.map((b) => b.cidr), ['203.0.113.2/32']);
    assert.match(await registry.metrics(), /floodgate_active_bans\{backend="dry-run"\} 1/);
  });

  it('concurrent calls are serialised: no lost bans, no duplicates', async () => {
    const backend = new DryRunBackend();
    const { manager, store } = await makeManager(backend, state.dir);
    await manager.start({ timers: false });
    const ips = Array.from({ length: 50 }, (_, i) => `203.0.113.${i + 1}`);
    const outcomes = await Promise.all([...ips, ...ips].map((ip) => manager.block(ban(ip))));
    assert.equal(outcomes.filter((o) => o.ok && o.action === 'added').length, 50);
    assert.equal(outcomes.filter((o) => o.ok && o.action === 'unchanged').length, 50);
    assert.equal((await cidrsOf(backend)).length, 50);
    await store.load();
    assert.equal(store.size, 50, 'every ban reached the file');
  });

  it('a firewall failure is reported and counted; the ban is kept and reconcile applies it later', async () => {
    const backend = new FlakyBackend();
    const { manager, registry } = await makeManager(backend, state.dir);
    await manager.start({ timers: false });
    backend.failAdds = true;
    await assert.rejects(manager.block(ban('203.0.113.7')), /No buffer space available/);
    assert.match(await registry.metrics(), /floodgate_firewall_errors_total\{backend="dry-run",operation="add"\} 1/);
    assert.deepEqual(manager.list().map((b) => b.cidr), ['203.0.113.7/32'], 'the intent survives');
    backend.failAdds = false;
    assert.deepEqual(await manager.reconcile(), { added: ['203.0.113.7/32'], removed: [] });
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.7/32']);
  });

  it('the periodic reconcile repairs drift on its own, and stop() ends it', async () => {
    const backend = new DryRunBackend();
    const { manager } = await makeManager(backend, state.dir, { reconcileIntervalSeconds: 0.05 });
    await manager.start();
    await manager.block(ban('203.0.113.7'));
    await backend.remove(['203.0.113.7/32']); // "deleted by hand"
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.7/32']);
    await manager.stop();
    await backend.remove(['203.0.113.7/32']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await cidrsOf(backend), [], 'no repairs after stop()');
  });

  it('refuses to work before start() has loaded the store', async () => {
    const { manager } = await makeManager(new DryRunBackend(), state.dir);
    await assert.rejects(manager.block(ban('203.0.113.7')), /start\(\) has not completed/);
    await assert.rejects(manager.reconcile(), /start\(\) has not completed/);
  });

  it('exports the ban metrics', async () => {
    const { manager, registry } = await makeManager(new DryRunBackend(), state.dir);
    await manager.start({ timers: false });
    await manager.block(ban('203.0.113.7'));
    await manager.block({ ...ban('203.0.113.8'), source: 'auto' });
    const metrics = await registry.metrics();
    assert.match(metrics, /floodgate_bans_total\{backend="dry-run",source="api"\} 1/);
    assert.match(metrics, /floodgate_bans_total\{backend="dry-run",source="auto"\} 1/);
    assert.match(metrics, /floodgate_active_bans\{backend="dry-run"\} 2/);
    assert.match(metrics, /floodgate_firewall_operation_seconds_count\{backend="dry-run",operation="add"\} 2/);
  });

  it('stored bans that the policy now refuses are dropped at start', async () => {
    const first = await makeManager(new DryRunBackend(), state.dir);
    await first.manager.start({ timers: false });
    await first.manager.block(ban('203.0.113.7'));
    // Simulate the allowlist changing under a stored ban.
    const saved = JSON.parse(await readFile(`${state.dir}/bans.json`, 'utf8')) as { bans: { cidr: string }[] };
    saved.bans.push({ ...(saved.bans[0] as object), cidr: '10.244.1.1/32' } as { cidr: string });
    await writeFile(`${state.dir}/bans.json`, JSON.stringify(saved));
    const backend = new DryRunBackend();
    const second = await makeManager(backend, state.dir);
    await second.manager.start({ timers: false });
    assert.deepEqual(second.manager.list().map((b) => b.cidr), ['203.0.113.7/32']);
    assert.deepEqual(await cidrsOf(backend), ['203.0.113.7/32']);
  });
});
