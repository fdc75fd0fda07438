// The agent's in-process parts over synthetic slots: the ring, the traffic
// series, the blocked matcher, auto-defense against a recording ban service,
// the analyzer's window mode, and the config loader.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { buildSlot, ipv4, type Flow } from '../detection/slot-fixtures.js';
import { SlotRing } from '../../agent/traffic/slot-ring.js';
import { trafficSeries } from '../../agent/traffic/traffic-series.js';
import { BlockedMatcher } from '../../agent/traffic/blocked-matcher.js';
import { RingTrafficAnalyzer } from '../../agent/traffic/traffic-analyzer.js';
import { AutoDefense } from '../../agent/defense/auto-defense.js';
import { AttackHistory } from '../../agent/defense/attack-history.js';
import { BaselineLearner } from '../../agent/traffic/baseline-learner.js';
import { fromSources } from '../detection/slot-fixtures.js';
import { BanRefusedError, type BanService, type BlockRequest } from '../../agent/bans/ban-service-port.js';
import { type BanRecord, type BlockResult } from '../../api/agent/v1/types.js';
import { ConfigError, loadAgentConfig, readToken } from '../../agent/config/agent-config.js';

const VICTIM = '10.77.0.10';
const quiet = pino({ level: 'silent' });

/** One 100 ms slot: benign clients plus optional attackers at the given packets per slot. */
function slotAt(start: number, attackers: Record<string, number> = {}, benignClients = 20): ReturnType<typeof buildSlot> {
  const flows: Flow[] = [];
  for (let i = 0; i < benignClients; i++) flows.push({ src: ipv4(i, 192), dst: VICTIM, kind: 'ack', packets: 5, dport: 80 });
  for (const [src, packets] of Object.entries(attackers)) flows.push({ src, dst: VICTIM, kind: 'syn', packets, dport: 80 });
  return buildSlot({ start, widthMs: 100, flows });
}

class FakeBans implements BanService {
  records = new Map<string, BanRecord>();
  refuse = new Set<string>();
  calls: BlockRequest[] = [];
  async block(req: BlockRequest): Promise<BanRecord> {
    this.calls.push(req);
    if (this.refuse.has(req.cidr)) throw new BanRefusedError(`refusing to block ${req.cidr}: allowlisted`, 'never_block');
    const cidr = `${req.cidr}/32`;
    const rec: BanRecord = {
      cidr, family: 4, reason: req.reason, policy: req.policy, source: req.source,
      createdAt: new Date().toISOString(), expiresAt: new Date(Date.now() + req.durationSeconds * 1000).toISOString(),
      offenceCount: 1, durationSeconds: req.durationSeconds,
    };
    this.records.set(cidr, rec);
    return rec;
  }
  async blockMany(reqs: readonly BlockRequest[]): Promise<{ results: BlockResult[]; applied: Promise<void> }> {
    const results = await Promise.all(
      reqs.map(async (r): Promise<BlockResult> => {
        const ban = await this.block(r);
        return { ok: true, cidr: ban.cidr, action: 'added', expiresAt: ban.expiresAt, offenceCount: ban.offenceCount };
      }),
    );
    return { results, applied: Promise.resolve() };
  }
  async unblockAll(): Promise<number> {
    const n = this.records.size;
    this.records.clear();
    return n;
  }
  async unblock(cidr: string): Promise<boolean> {
    return this.records.delete(cidr.includes('/') ? cidr : `${cidr}/32`);
  }
  list(): BanRecord[] {
    return [...this.records.values()];
  }
  backendName(): string {
    return 'fake';
  }
}

describe('SlotRing', () => {
  it('keeps fine slots, rolls older ones up per second with their heaviest sources, and drops beyond retention', () => {
    const ring = new SlotRing({ retainMs: 5000, fineMs: 1000, fineSources: 50, coarseMs: 1000, coarseSources: 3, coarseDestinations: 2 });
    for (let t = 0; t < 80; t++) ring.push(slotAt(1_000_000 + t * 100, { '203.0.113.7': 50 }, 10));
    const all = ring.window(100);
    const coarse = all.filter((s) => s.end - s.start === 1000);
    const fine = all.filter((s) => s.end - s.start === 100);
    assert.equal(fine.length, 10, '1 s of 100 ms slots stays fine');
    assert.ok(coarse.length >= 4 && coarse.length <= 5, `~4 s of 1 s roll-ups, got ${coarse.length}`);
    const c = coarse.at(-1)!;
    assert.equal(c.sources.length, 3, 'roll-ups keep coarseSources');
    assert.equal(c.sources[0]!.addr, '203.0.113.7');
    assert.equal(c.sources[0]!.packets, 500, 'ten slots of 50 packets summed');
    assert.equal(c.totals.inboundPackets, 10 * (50 + 10 * 5));
    assert.equal(fine.at(-1)!.sources.length, 11, 'recent slots keep their sources');
    assert.ok(ring.spanSeconds() <= 5.1);
    assert.equal(ring.window(0.5).length, 5);
  });

  it('memory stays bounded under a spoofed flood: thousands of sources per slot, few kept', () => {
    const ring = new SlotRing();
    for (let t = 0; t < 300; t++) {
      const flows: Flow[] = Array.from({ length: 2000 }, (_, i) => ({ src: ipv4(t * 2000 + i, 100), dst: VICTIM, kind: 'syn' as const, packets: 1 }));
      ring.push(buildSlot({ start: t * 100, widthMs: 100, flows }));
    }
    const kept = ring.window(100).reduce((n, s) => n + s.sources.length, 0);
    assert.ok(kept <= 150 * 300 + 15 * 64, `sources kept: ${kept}`);
  });
});

describe('trafficSeries', () => {
  it('groups slots into whole seconds with totals and top talkers', () => {
    const slots = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => slotAt(5_000_000 + i * 100, { '203.0.113.7': 100 }));
    const points = trafficSeries(slots);
    assert.equal(points.length, 2);
    assert.equal(points[0]!.t, new Date(5_000_000).toISOString());
    assert.equal(points[0]!.topSources[0]!.ip, '203.0.113.7');
    assert.equal(points[0]!.topSources[0]!.packets, 1000);
    assert.equal(points[1]!.inboundPackets, 2 * (100 + 20 * 5));
  });
});

describe('BlockedMatcher', () => {
  it('matches host bans, IPv4 and IPv6 CIDRs, and nothing else', () => {
    const m = new BlockedMatcher(['203.0.113.7/32', '198.51.100.0/24', '2001:db8:1::/64']);
    assert.ok(m.has('203.0.113.7'));
    assert.ok(m.has('198.51.100.200'));
    assert.ok(m.has('2001:db8:1::42'));
    assert.ok(!m.has('203.0.113.8'));
    assert.ok(!m.has('2001:db8:2::1'));
  });
});

describe('AutoDefense', () => {
  const setup = (attackers: Record<string, number>) => {
    const ring = new SlotRing();
    const bans = new FakeBans();
    const history = new AttackHistory();
    const defense = new AutoDefense(
      { ring, bans, history, logger: quiet, registry: new Registry() },
      { enabled: true, windowSeconds: 1, banDurationSeconds: 60, thresholds: {} },
    );
    return { ring, bans, history, defense, push: (t: number, a = attackers) => ring.push(slotAt(t, a)) };
  };

  it('waits for a full window, then bans a source above the rate threshold and not the benign clients', async () => {
    const { bans, defense, push, history } = setup({ '203.0.113.7': 1000 });
    push(0);
    assert.deepEqual(await defense.evaluate(), [], 'a partial window never bans');
    for (let i = 1; i < 10; i++) push(i * 100);
    assert.deepEqual(await defense.evaluate(), ['203.0.113.7']);
    assert.equal(bans.calls.length, 1);
    assert.equal(bans.calls[0]!.source, 'auto');
    assert.match(bans.calls[0]!.reason, /source_pps|share/);
    assert.equal(history.list().length, 1);
    // Already banned: capture still sees it, but it is not banned again.
    push(1000);
    assert.deepEqual(await defense.evaluate(), []);
    assert.equal(bans.calls.length, 1);
  });

  it('does nothing on benign traffic', async () => {
    const { bans, defense, push } = setup({});
    for (let i = 0; i < 12; i++) push(i * 100);
    assert.deepEqual(await defense.evaluate(), []);
    assert.equal(bans.calls.length, 0);
  });

  it('backs off from an address the ban service refuses', async () => {
    const { bans, defense, push } = setup({ '203.0.113.7': 1000 });
    bans.refuse.add('203.0.113.7');
    for (let i = 0; i < 11; i++) push(i * 100);
    assert.deepEqual(await defense.evaluate(), []);
    assert.deepEqual(await defense.evaluate(), []);
    assert.equal(bans.calls.length, 1, 'a refused address is not retried on every slot');
  });
});

describe('continuous detection and the learned baselines', () => {
  it('without auto-defense an attack is still detected, named and recorded, and nothing is banned', async () => {
    const ring = new SlotRing();
    const bans = new FakeBans();
    const history = new AttackHistory();
    const defense = new AutoDefense({ ring, bans, history, logger: quiet, registry: new Registry() }, { enabled: false, windowSeconds: 1, banDurationSeconds: 60, thresholds: {} });
    for (let i = 0; i < 10; i++) {
      ring.push(buildSlot({ start: i * 100, widthMs: 100, flows: [
        ...fromSources(500, { dst: VICTIM, kind: 'udp', packets: 4, sport: 47808 }, { firstOctet: 61 }),
        ...fromSources(200, { dst: VICTIM, kind: 'udp', packets: 4, sport: 37810 }, { firstOctet: 62 }),
      ] }));
    }
    assert.deepEqual(await defense.evaluate(), []);
    assert.equal(bans.calls.length, 0);
    const rec = history.list()[0]!;
    assert.equal(rec.multiVector, true);
    assert.deepEqual(rec.vectorDetails.map((x) => [x.label, Math.round(x.peakShare * 100), x.signature?.text]), [
      ['BACnet amplification (udp sport 47808)', 71, 'udp sport 47808 to 10.77.0.10'],
      ['DVR/IoT amplification (udp sport 37810)', 29, 'udp sport 37810 to 10.77.0.10'],
    ]);
  });

  it('the learner feeds the baselines second by second; a flood under the floors is then caught against them', async () => {
    const ring = new SlotRing();
    const learner = new BaselineLearner();
    const history = new AttackHistory();
    const defense = new AutoDefense({ ring, bans: new FakeBans(), history, logger: quiet, registry: new Registry(), baselines: learner.baselines }, { enabled: true, windowSeconds: 1, banDurationSeconds: 60, thresholds: {} });
    const push = (s: ReturnType<typeof buildSlot>) => {
      ring.push(s);
      learner.push(s);
    };
    let t = 0;
    for (; t < 90_000; t += 100) push(slotAt(t, {}, 20));
    assert.ok((learner.baselines.view(VICTIM)?.seconds ?? 0) >= 60, 'learned a minute and more');
    // 500 spoofed SYNs/s: half the cold-start floor.
    for (let k = 0; k < 10; k++, t += 100) {
      push(buildSlot({ start: t, widthMs: 100, flows: [...fromSources(50, { dst: VICTIM, kind: 'syn', packets: 1, dport: 80 }, { offset: k * 50, firstOctet: 101 }), ...Array.from({ length: 20 }, (_, i): Flow => ({ src: ipv4(i, 192), dst: VICTIM, kind: 'ack', packets: 5, dport: 80 }))] }));
    }
    await defense.evaluate();
    const rec = history.list()[0];
    assert.ok(rec, 'the flood was recorded');
    assert.deepEqual(rec.vectorDetails.map((x) => x.label), ['TCP SYN flood (tcp dport 80)']);
  });
});

describe('RingTrafficAnalyzer', () => {
  it('continuous mode answers from the ring; blocked senders are reported apart', async () => {
    const ring = new SlotRing();
    for (let i = 0; i < 20; i++) ring.push(slotAt(i * 100, { '203.0.113.7': 1000, '198.51.100.9': 1000 }));
    const analyzer = new RingTrafficAnalyzer({
      ring,
      activeBans: () => ['203.0.113.7/32'],
      drops: () => ({ dropped: 0, ifDropped: 0, slotsDropped: 0 }),
      firewallDrops: async () => ({ packets: 42, bytes: 4200 }),
      defaultMode: 'continuous',
      slotMs: 100,
      waitForSlotEnd: async () => undefined,
    });
    const r = await analyzer.analyze({ windowSeconds: 1 });
    assert.deepEqual(r.verdict.attackers.map((a) => a.ip), ['198.51.100.9']);
    assert.equal(r.blockedStillSending[0]!.ip, '203.0.113.7');
    assert.equal(r.blockedStillSending[0]!.packets, 10_000);
    assert.equal(r.firewallDrops.packets, 42);
  });

  it('window mode waits for the window to pass and analyzes only what came after the request', async () => {
    const ring = new SlotRing();
    let now = 10_000;
    for (let i = 0; i < 10; i++) ring.push(slotAt(9_000 + i * 100, { '203.0.113.7': 1000 }));
    const analyzer = new RingTrafficAnalyzer({
      ring,
      activeBans: () => [],
      drops: () => ({ dropped: 0, ifDropped: 0, slotsDropped: 0 }),
      firewallDrops: async () => ({ packets: 0, bytes: 0 }),
      defaultMode: 'window',
      slotMs: 100,
      now: () => now,
      waitForSlotEnd: async (until) => {
        // Simulate the capture: benign-only slots arrive until the window is over.
        for (let t = now; t < until; t += 100) ring.push(slotAt(t));
        now = until;
      },
    });
    const r = await analyzer.analyze({ windowSeconds: 2 });
    assert.equal(r.verdict.window.seconds, 2);
    assert.equal(r.verdict.attackers.length, 0, 'the flood before the request is not in the window');
  });
});

describe('agent config', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-config-'));
  const write = (name: string, text: string) => {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it('reads YAML, applies defaults, and lets flags override the file', () => {
    const f = write('ok.yaml', 'interface: eth1\nbackend: dry-run\nlisten: "0.0.0.0:9999"\nautoDefense:\n  enabled: true\n  banDurationSeconds: 120\n');
    const cfg = loadAgentConfig(f, { backend: 'nft' });
    assert.equal(cfg.interface, 'eth1');
    assert.equal(cfg.backend, 'nft');
    assert.deepEqual(cfg.listen, { host: '0.0.0.0', port: 9999 });
    assert.equal(cfg.autoDefense.banDurationSeconds, 120);
    assert.equal(cfg.autoDefense.windowSeconds, 1);
    assert.equal(cfg.capture.slotMs, 100);
  });

  it('rejects unknown keys, bad values and bad YAML with one line', () => {
    for (const [text, pattern] of [
      ['interfase: eth0\n', /interfase/],
      ['backend: ufw\n', /backend/],
      ['listen: "example.com:80"\n', /HOST:PORT/],
      ['autoDefense:\n  thresholds:\n    attackerShareThreshold: 50\n', /fraction/],
      ['allowlist: ["10.0.0.0/33"]\n', /CIDR/],
      ['a: [\n', /not valid YAML/],
    ] as const) {
      const f = write('bad.yaml', text);
      assert.throws(() => loadAgentConfig(f), (err: Error) => err instanceof ConfigError && pattern.test(err.message) && !err.message.includes('\n'), text);
    }
    assert.throws(() => loadAgentConfig(path.join(tmp, 'missing.yaml')), /cannot read config/);
  });

  it('reads the token from a file or FLOODGATE_TOKEN, refusing short ones', () => {
    const f = write('token', 'a-very-long-secret-token\n');
    assert.equal(readToken(f), 'a-very-long-secret-token');
    assert.equal(readToken(undefined, { FLOODGATE_TOKEN: 'env-secret-token-123456' }), 'env-secret-token-123456');
    assert.equal(readToken(undefined, {}), undefined);
    assert.throws(() => readToken(write('short', 'abc')), /shorter than 16/);
  });
});
