// What the firewall holds after any sequence of bans, unbans, expiries,
// failed pushes and reconciles: exactly the minimal cover of the active bans,
// each with a timeout that ends with its ban. A batch of new addresses is
// pushed as just its additions, anything else as a diff of the whole store;
// this drives both paths through random sequences against a firewall model
// that expires entries itself, as nft and ipset do.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseCidr, cidrContains } from '../../lib/cidr.js';
import { validateEntries, validCidr } from '../../agent/firewall/entries.js';
import type { BackendDescription, DropCounters, FirewallBackend, FirewallElement, FirewallEntry } from '../../agent/firewall/types.js';
import { fakeClock, makeManager, tempStateDir } from './setup.js';
import { DryRunSignatures } from '../../agent/firewall/dry-run-backend.js';

/** A firewall whose entries time out on the clock, and whose next add or remove can be made to fail. */
class ExpiringFirewall implements FirewallBackend {
  readonly name = 'nft' as const;
  readonly expiresEntries = true;
  failNext = false;
  readonly signatures = new DryRunSignatures(() => undefined);
  private readonly entries = new Map<string, number>();
  constructor(private readonly now: () => number) {}
  async init(): Promise<void> {}
  private maybeFail(): void {
    if (!this.failNext) return;
    this.failNext = false;
    throw new Error('nft: Could not process rule: No buffer space available');
  }
  /** Successful changes so far. */
  changes = 0;
  async add(entries: readonly FirewallEntry[]): Promise<void> {
    const valid = validateEntries(entries, Number.MAX_SAFE_INTEGER);
    this.maybeFail();
    for (const v of valid) this.entries.set(v.text, this.now() + v.timeoutSeconds * 1000);
    this.changes++;
  }
  async remove(cidrs: readonly string[]): Promise<void> {
    const valid = cidrs.map((c) => validCidr(c).text);
    this.maybeFail();
    for (const cidr of valid) this.entries.delete(cidr);
    this.changes++;
  }
  /** Live entries: CIDR → expiry. */
  live(): Map<string, number> {
    return new Map([...this.entries].filter(([, expiresAt]) => expiresAt > this.now()));
  }
  async list(): Promise<FirewallElement[]> {
    return [...this.live()].map(([cidr, expiresAt]) => ({ cidr, expiresInSeconds: Math.floor((expiresAt - this.now()) / 1000) }));
  }
  async counters(): Promise<DropCounters> {
    return { packets: 0, bytes: 0 };
  }
  async teardown(): Promise<void> {
    this.entries.clear();
  }
  describe(): BackendDescription {
    return { name: this.name, objects: [], attachment: 'model', expiresEntries: true, notes: [] };
  }
}

/** A small deterministic PRNG (mulberry32), so a failing sequence can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Addresses and networks that overlap each other, so covers come and go.
const ADDRESSES = Array.from({ length: 24 }, (_, i) => `198.51.100.${i}`);
const NETWORKS = ['198.51.100.0/28', '198.51.100.16/29', '198.51.100.0/27', '2001:db8:5::/64'];
const V6 = ['2001:db8:5::1', '2001:db8:6::1'];

describe('firewall push: the firewall holds the cover of the active bans', () => {
  let state: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    state = await tempStateDir();
  });
  afterEach(async () => {
    await state.cleanup();
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random sequence ${seed}: after every step the firewall equals the cover, timeouts ending with their bans`, async () => {
      const clock = fakeClock();
      const firewall = new ExpiringFirewall(clock.now);
      const { manager, store } = await makeManager(firewall, state.dir, {
        now: clock.now,
        limits: { maxActiveBans: 1000, maxNewBansPerMinute: 100_000 },
      });
      await manager.start({ timers: false });
      const random = prng(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
      const steps: string[] = [];
      let checks = 0;
      // A failed push leaves the firewall behind until the next successful change or reconcile.
      let behind = false;

      for (let step = 0; step < 120; step++) {
        const roll = random();
        let action: string;
        if (roll < 0.45) {
          // A batch of addresses, the common case (the additions-only push).
          const n = 1 + Math.floor(random() * 6);
          const batch = Array.from({ length: n }, () => ({ cidr: pick([...ADDRESSES, ...V6]), durationSeconds: pick([30, 60, 600]), reason: 'model', policy: 'p', source: 'api' as const }));
          action = `batch ${batch.map((b) => b.cidr).join(',')}`;
          firewall.failNext = random() < 0.1;
          const failed = await manager.blockMany(batch).then(
            () => false,
            () => true,
          );
          // An injected failure only fires if the batch changed something to push.
          firewall.failNext = false;
          if (failed) action += ' (push fails)';
        } else if (roll < 0.6) {
          const cidr = pick(NETWORKS);
          action = `block ${cidr}`;
          await manager.block({ cidr, durationSeconds: pick([45, 300]), reason: 'model', policy: 'p', source: 'api' });
        } else if (roll < 0.72) {
          const active = manager.list();
          const cidr = active.length > 0 ? pick(active).cidr : pick(ADDRESSES);
          action = `unblock ${cidr}`;
          await manager.unblock(cidr);
        } else if (roll < 0.9) {
          const seconds = pick([1, 5, 20, 40, 70]);
          action = `advance ${seconds} s`;
          clock.advance(seconds);
          if (random() < 0.5) {
            action += ', sweep';
            await manager.sweep();
          }
        } else if (roll < 0.95) {
          action = 'sweep';
          await manager.sweep();
        } else {
          action = 'reconcile';
          await manager.reconcile();
        }
        const changesBefore = firewall.changes;
        steps.push(action);
        if (action.endsWith('(push fails)')) behind = true;
        else if (action === 'reconcile' || firewall.changes > changesBefore) behind = false;
        const now = clock.now();
        // The cover is only owed once expired bans are swept (a network ban that
        // times out in the kernel uncovers its addresses; the sweep adds them).
        if (behind || store.all().some((b) => Date.parse(b.expiresAt) <= now)) continue;
        checks++;

        const active = manager.list().filter((b) => Date.parse(b.expiresAt) > now);
        const parsed = active.map((b) => ({ ban: b, cidr: parseCidr(b.cidr) }));
        const cover = new Map(
          parsed
            .filter(({ ban, cidr }) => cidr && !parsed.some((o) => o.ban.cidr !== ban.cidr && o.cidr && cidrContains(o.cidr, cidr)))
            .map(({ ban }) => [ban.cidr, Date.parse(ban.expiresAt)]),
        );
        // Bans that expired in the store but not yet swept are gone from the firewall too, by timeout.
        const live = firewall.live();
        const context = `seed ${seed}, after: ${steps.slice(-6).join(' | ')}; store ${JSON.stringify(store.all().map((b) => [b.cidr, b.expiresAt]))}`;
        const missing = [...cover.keys()].filter((c) => !live.has(c));
        const extra = [...live.keys()].filter((c) => !cover.has(c));
        assert.ok(missing.length === 0 && extra.length === 0, `firewall lacks ${missing.join(',') || 'nothing'}, has extra ${extra.join(',') || 'nothing'}; ${context}`);
        for (const [cidr, expiresAt] of cover) {
          const held = live.get(cidr) ?? 0;
          assert.ok(held >= expiresAt && held < expiresAt + 1000, `${cidr}: firewall timeout ends ${held - expiresAt} ms after its ban; ${context}`);
        }
      }
      assert.ok(steps.some((s) => s.startsWith('batch')) && steps.some((s) => s.startsWith('block')), 'both kinds of push ran');
      assert.ok(checks >= 30, `only ${checks} of ${steps.length} steps were checked`);
      await manager.stop();
    });
  }
});
