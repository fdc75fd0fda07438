// Test helper: a BanManager over a temp state dir, with an address policy
// whose "host" is 10.1.2.3 (gateway 10.1.0.1, resolver 10.1.0.2) so tests do
// not depend on the machine they run on.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AddressPolicy } from '../../agent/bans/address-policy.js';
import { BanManager, type BanManagerOptions } from '../../agent/bans/ban-manager.js';
import { BanStore } from '../../agent/bans/ban-store.js';
import type { FirewallBackend } from '../../agent/firewall/types.js';

export const testInterfaces = () => ({
  eth0: [{ address: '10.1.2.3', netmask: '255.255.0.0', family: 'IPv4' as const, mac: '', internal: false, cidr: '10.1.2.3/16' }],
});

export function testPolicy(): Promise<AddressPolicy> {
  return AddressPolicy.create(
    { allowlist: ['10.244.0.0/16'] },
    { interfaces: testInterfaces, gateways: async () => ['10.1.0.1'], resolvers: async () => ['10.1.0.2'] },
  );
}

export async function tempStateDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fg-bans-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface TestManager {
  manager: BanManager;
  store: BanStore;
  registry: Registry;
}

export async function makeManager(
  backend: FirewallBackend,
  stateDir: string,
  extra: Partial<Omit<BanManagerOptions, 'backend' | 'store' | 'policy' | 'logger' | 'registry'>> = {},
): Promise<TestManager> {
  const store = new BanStore({ stateDir });
  const registry = new Registry();
  const manager = new BanManager({
    backend,
    store,
    policy: await testPolicy(),
    logger: pino({ level: 'silent' }),
    registry,
    ...extra,
  });
  return { manager, store, registry };
}

/** A controllable clock. */
export function fakeClock(start = Date.parse('2026-01-01T00:00:00Z')) {
  let t = start;
  return { now: () => t, advance: (seconds: number) => void (t += seconds * 1000) };
}

export const ban = (ip: string, durationSeconds = 600) => ({
  ip,
  durationSeconds,
  reason: 'syn flood',
  policy: 'default',
  source: 'api' as const,
});
