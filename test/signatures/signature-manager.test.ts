// The agent's signature manager over a dry-run firewall (which builds each
// rule into the nft rules the real backend would load) and a temp state dir:
// what it refuses and why (nothing applied then), extension, expiry, a
// restart, the caps, synproxy readiness and its fallback, the never-block
// sources handed to the firewall.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { SignatureManager, hostAddresses, type SignatureOutcome } from '../../agent/signatures/signature-manager.js';
import { SignatureStore } from '../../agent/signatures/signature-store.js';
import { SynproxySettings, linuxWindowScale, type SysctlSource } from '../../agent/signatures/synproxy-settings.js';
import type { SignatureRequest } from '../../api/agent/v1/types.js';
import { fakeClock, tempStateDir, testPolicy } from '../bans/setup.js';

const VICTIM = '10.1.2.3'; // the test host's own address (test/bans/setup.ts)
const POD = '10.244.7.9'; // inside the protect list below
const SYN = { mask: ['syn' as const, 'ack' as const, 'rst' as const], value: ['syn' as const] };

function sysctls(values: Record<string, string>, mtu = 1500): SysctlSource & { written: Record<string, string> } {
  const written: Record<string, string> = {};
  return {
    written,
    read: async (p) => written[p] ?? values[p],
    write: async (p, v) => void (written[p] = v),
    mtu: async () => mtu,
  };
}

const READY = { 'net/netfilter/nf_conntrack_tcp_loose': '0', 'net/ipv4/tcp_syncookies': '1', 'net/ipv4/tcp_rmem': '4096 131072 6291456', 'net/core/rmem_max': '212992', 'net/ipv4/tcp_timestamps': '1', 'net/ipv4/tcp_sack': '1' };

interface Setup {
  manager: SignatureManager;
  backend: DryRunBackend;
  clock: ReturnType<typeof fakeClock>;
  dir: string;
  make(opts?: { sys?: SysctlSource; synproxy?: 'auto' | 'manage' | 'disabled'; maxActiveRules?: number }): Promise<SignatureManager>;
}

let t: Setup;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const state = await tempStateDir();
  cleanup = state.cleanup;
  const clock = fakeClock();
  const backend = new DryRunBackend();
  const make: Setup['make'] = async (opts = {}) => {
    const policy = await testPolicy();
    const m = new SignatureManager({
      firewall: backend.signatures,
      backendName: 'dry-run',
      store: new SignatureStore(state.dir),
      host: hostAddresses(policy, [`${VICTIM}/32`, '10.244.0.0/16']),
      synproxy: new SynproxySettings(opts.synproxy ?? 'auto', opts.sys ?? sysctls(READY), pino({ level: 'silent' })),
      limits: { maxActiveRules: opts.maxActiveRules ?? 64, maxDurationSeconds: 86400 },
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      now: clock.now,
    });
    await m.start({ timers: false });
    return m;
  };
  t = { manager: await make(), backend, clock, dir: state.dir, make };
});

afterEach(async () => {
  await t.manager.stop();
  await cleanup();
});

const amp = (dst = VICTIM, extra: Partial<SignatureRequest> = {}): SignatureRequest & { source: 'api' } => ({
  match: { protocol: 'udp', destination: dst, sourcePort: 161 },
  action: { type: 'drop' },
  durationSeconds: 300,
  reason: 'SNMP amplification',
  source: 'api',
  ...extra,
});
const syns = (action: SignatureRequest['action']): SignatureRequest & { source: 'api' } => ({
  match: { protocol: 'tcp', destination: VICTIM, destinationPort: 80, tcpFlags: SYN },
  action,
  durationSeconds: 300,
  reason: 'SYN flood',
  source: 'api',
});
const lastSync = () => t.backend.operations.filter((o) => o.op === 'signatures').at(-1) as Extract<(typeof t.backend.operations)[number], { op: 'signatures' }> | undefined;
const refused = (o: SignatureOutcome | undefined) => (o && !o.ok ? o : assert.fail(`not refused: ${JSON.stringify(o)}`));

describe('signature manager: refusals (a clear line, nothing applied)', () => {
  it('a victim outside the protected set, a source on the never-block list, a blanket SYN drop, every port', async () => {
    const syncs = t.backend.operations.length;
    const cases: [SignatureRequest & { source: 'api' }, string, RegExp][] = [
      [amp('192.0.2.50'), 'not_protected', /refusing signature udp sport 161 to 192\.0\.2\.50: 192\.0\.2\.50 is not an address this agent protects \(10\.1\.2\.3\/32, 10\.244\.0\.0\/16\)/],
      [amp(VICTIM, { match: { protocol: 'udp', destination: VICTIM, sourcePort: 161, source: '10.244.3.0/24' } }), 'never_block', /its source 10\.244\.3\.0\/24 overlaps allowlisted 10\.244\.0\.0\/16 \(never blocked\)/],
      [amp(VICTIM, { match: { protocol: 'udp', destination: VICTIM, sourcePort: 53, source: '10.1.0.2' } }), 'never_block', /overlaps DNS resolver/],
      [syns({ type: 'drop' }), 'unsafe', /never a blanket drop of SYNs/],
      [amp(VICTIM, { match: { protocol: 'udp', destination: VICTIM, destinationPorts: { from: 0, to: 65535 } } }), 'unsafe', /0-65535 is every port/],
    ];
    for (const [req, code, re] of cases) {
      const [o] = await t.manager.applySignatures([req]);
      const r = refused(o);
      assert.equal(r.code, code, r.error);
      assert.match(r.error, re);
      assert.doesNotMatch(r.error, /\n/);
    }
    assert.equal(t.backend.operations.length, syncs, 'no firewall change for a refused rule');
    assert.deepEqual(t.manager.list(), []);
  });

  it('the caps: rules at once on the agent, and per policy', async () => {
    const m = await t.make({ maxActiveRules: 2 });
    await m.setPolicy('web', { mode: 'auto', durationSeconds: 300, maxRules: 1, maxDurationSeconds: 600 });
    const ok = await m.applySignatures([amp(VICTIM, { policy: 'web' })]);
    assert.equal(ok[0]?.ok, true);
    assert.equal(refused((await m.applySignatures([amp(POD, { policy: 'web' })]))[0]).code, 'max_rules');
    assert.equal((await m.applySignatures([amp(POD)]))[0]?.ok, true);
    const third = refused((await m.applySignatures([amp('10.244.0.1')]))[0]);
    assert.match(third.error, /this agent holds 2 rules, its limit \(signatures.maxActiveRules 2\)/);
    // The policy's longest duration caps what it asks for.
    const long = await m.applySignatures([amp(VICTIM, { policy: 'web', durationSeconds: 86400 })]);
    assert.ok(long[0]?.ok && Date.parse(long[0].rule.expiresAt) <= t.clock.now() + 600_000);
    await m.stop();
  });
});

describe('signature manager: holding rules', () => {
  it('applies a rule built into nft rules, with the never-block list as a minimal cover', async () => {
    const [o] = await t.manager.applySignatures([amp()]);
    assert.ok(o?.ok);
    assert.equal(o.action, 'added');
    assert.equal(o.rule.match.text, 'udp sport 161 to 10.1.2.3');
    const sync = lastSync();
    assert.equal(sync?.rules.length, 1);
    assert.match(sync!.rules[0]!.rules[0]!, /sig_early: meta time < "[^"]+" ip daddr 10\.1\.2\.3 ip saddr != @sig_nb4 meta l4proto udp udp sport 161 counter name "sig_[0-9a-f]{16}" drop/);
    for (const c of ['10.244.0.0/16', '10.1.0.1/32', '10.1.0.2/32', '10.1.2.3/32', '127.0.0.0/8', '::1/128']) assert.ok(sync!.exclude.includes(c), `never-block ${c}`);
    // No packet comes from these legitimately (the kernel drops them as martians after the rules):
    // a random-source flood draws an eighth of its sources from them, and the rule must take those too.
    for (const c of ['0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4', '255.255.255.255/32', '::/128', 'ff00::/8']) assert.ok(!sync!.exclude.includes(c), `not exempt: ${c}`);
  });

  it('the same match again extends (the later expiry wins); another action for it updates; a batch is one firewall change', async () => {
    await t.manager.applySignatures([amp()]);
    t.clock.advance(100);
    const [again] = await t.manager.applySignatures([amp()]);
    assert.ok(again?.ok);
    assert.equal(again.action, 'extended');
    assert.equal(t.manager.list().length, 1);
    const [upd] = await t.manager.applySignatures([amp(VICTIM, { action: { type: 'limit', ratePerSecond: 500 } })]);
    assert.equal(upd?.ok && upd.action, 'updated');
    assert.equal(upd?.ok && upd.rule.applied, 'limit 500/s burst 100');
    const before = t.backend.operations.length;
    const outcomes = await t.manager.applySignatures([amp(POD), amp('10.244.0.8'), amp('192.0.2.1')]);
    assert.deepEqual(outcomes.map((x) => x.ok), [true, true, false]);
    assert.equal(t.backend.operations.length - before, 1);
  });

  it('expires on time: the rule leaves the firewall and the store', async () => {
    await t.manager.applySignatures([amp(VICTIM, { durationSeconds: 60 })]);
    t.clock.advance(59);
    assert.equal(await t.manager.sweep(), 0);
    t.clock.advance(2);
    assert.equal(await t.manager.sweep(), 1);
    assert.deepEqual(t.manager.list(), []);
    assert.equal(lastSync()?.rules.length, 0);
  });

  it('survives a restart until its expiry; a rule that expired while the agent was down is not re-applied', async () => {
    await t.manager.applySignatures([amp(VICTIM, { durationSeconds: 600 }), amp(POD, { durationSeconds: 60 })]);
    // A re-push that would extend by under half a second changes nothing: not in memory, not on disk.
    t.clock.advance(0.2);
    const [same] = await t.manager.applySignatures([amp(VICTIM, { durationSeconds: 600 })]);
    assert.equal(same?.ok && same.action, 'unchanged');
    const held = t.manager.list();
    await t.manager.stop();
    t.clock.advance(120);
    t.manager = await t.make();
    const after = t.manager.list();
    assert.deepEqual(after.map((r) => [r.id, r.expiresAt]), held.filter((r) => r.match.destination === VICTIM).map((r) => [r.id, r.expiresAt]));
    assert.deepEqual(lastSync()?.rules.map((r) => r.text), ['udp sport 161 to 10.1.2.3']);
  });

  it('remove() takes the rule and its helpers off; an unknown id is not an error', async () => {
    const [o] = await t.manager.applySignatures([syns({ type: 'synproxy', ratePerSecond: 200 })]);
    assert.ok(o?.ok);
    assert.equal(lastSync()?.rules[0]?.rules.length, 5, 'notrack, and synproxy + invalid drop on input and forward');
    assert.equal(await t.manager.remove(o.rule.id), true);
    assert.deepEqual(lastSync()?.rules, []);
    assert.equal(await t.manager.remove(o.rule.id), false);
  });
});

describe('synproxy: the host decides, the record says', () => {
  it('ready: the options are the host\'s own (MSS from the MTU, window scale from the receive buffers)', async () => {
    const [o] = await t.manager.applySignatures([syns({ type: 'synproxy', ratePerSecond: 200 })]);
    assert.ok(o?.ok);
    assert.equal(o.rule.applied, `synproxy mss 1460 wscale ${linuxWindowScale(6291456)} timestamp sack-perm`);
    assert.equal(linuxWindowScale(6291456), 7);
    assert.equal(linuxWindowScale(33554432), 10);
  });

  it('not ready (nf_conntrack_tcp_loose=1): the fallback limit, saying why; "manage" sets it, saying so', async () => {
    const loose = sysctls({ ...READY, 'net/netfilter/nf_conntrack_tcp_loose': '1' });
    const m = await t.make({ sys: loose });
    const [o] = await m.applySignatures([syns({ type: 'synproxy', ratePerSecond: 200 })]);
    assert.ok(o?.ok);
    assert.match(o.rule.applied, /^limit 200\/s burst 40 \(synproxy not ready: net\.netfilter\.nf_conntrack_tcp_loose is 1, synproxy needs 0/);
    assert.deepEqual(loose.written, {}, 'auto changes no host setting');
    await m.stop();

    const managed = sysctls({ ...READY, 'net/netfilter/nf_conntrack_tcp_loose': '1' });
    const m2 = await t.make({ sys: managed, synproxy: 'manage' });
    const [o2] = await m2.applySignatures([syns({ type: 'synproxy', ratePerSecond: 200 })]);
    assert.ok(o2?.ok);
    assert.match(o2.rule.applied, /^synproxy mss 1460/);
    assert.deepEqual(managed.written, { 'net/netfilter/nf_conntrack_tcp_loose': '0' });
    await m2.stop();
  });

  it('disabled with no fallback rate: refused as unsupported', async () => {
    const m = await t.make({ synproxy: 'disabled' });
    const r = refused((await m.applySignatures([syns({ type: 'synproxy' })]))[0]);
    assert.equal(r.code, 'unsupported');
    assert.match(r.error, /synproxy is not ready here \(synproxy is disabled in the agent config/);
    await m.stop();
  });
});
