// Issue 10's scenarios through `floodgate analyze` at its defaults, against
// their ground truth (test/gen/detection-scenarios.ts): the short high-rate
// samples judged at their real rate, multi-vector amplification named vector
// by vector, the low-rate floods from thousands of sources caught before any
// baseline exists, the fragment reflection without banning the TCP session
// beside it; and the benign profiles, judged second by second for three
// minutes as the agent does, flagging nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { FileAnalysis } from '../../agent/capture-analysis/file-analysis.js';
import { ATTACK_SCENARIOS, BENIGN_PROFILES, writeDetectionScenario, type DetectionScenarioName, type DetectionTruth } from '../gen/detection-scenarios.js';

const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
let dir = '';

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-detection-'));
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function analyze(name: DetectionScenarioName, extra: string[] = []): Promise<{ truth: DetectionTruth; out: FileAnalysis; file: string }> {
  const { capturePath, truth } = writeDetectionScenario(name, dir);
  const args = [bin, 'analyze', capturePath, '--json', ...(truth.windowSeconds ? ['--window', String(truth.windowSeconds)] : []), ...extra];
  const r = await execa(process.execPath, args);
  return { truth, out: JSON.parse(String(r.stdout)) as FileAnalysis, file: capturePath };
}

const matches = (label: string, want: RegExp | string) => (typeof want === 'string' ? label === want : want.test(label));

describe('attacks, at the defaults of floodgate analyze', () => {
  for (const name of ATTACK_SCENARIOS) {
    test(`${name}: detected, every vector named with its service and ports`, async () => {
      const { truth, out } = await analyze(name);
      assert.deepEqual(out.protect, [truth.victim], 'protected address inferred from the capture');
      const v = out.peak!;
      assert.ok(v, 'a verdict');
      assert.equal(v.underAttack, true, `${name}: not flagged`);
      const victim = v.victims.find((x) => x.ip === truth.victim);
      assert.ok(victim, `${truth.victim} reported as a victim`);
      assert.equal(victim.vectors.length, truth.vectors.length, victim.vectorDetail);
      truth.vectors.forEach((want, i) => {
        const got = victim.vectors[i]!;
        assert.equal(got.vector, want.vector);
        assert.ok(matches(got.label, want.label), `${got.label} vs ${String(want.label)}`);
        if (want.share !== undefined) assert.ok(Math.abs(got.share - want.share) < 0.02, `${got.label}: share ${got.share}`);
        assert.match(got.signature.text, new RegExp(`to ${truth.victim.replace(/\./g, '\\.')}`));
      });
      assert.equal(victim.multiVector, truth.vectors.length > 1);
      assert.deepEqual(v.attackers.map((a) => a.ip).sort(), [...truth.attackers].sort(), 'attackers');
      assert.ok(victim.explanation.length > 0);
    });
  }

  test('a 20 ms sample of a 186k pps flood is judged at 186k pps over the 20 ms it covers', async () => {
    const { truth, out } = await analyze('snmp-sample-20ms');
    const v = out.peak!;
    assert.ok(Math.abs(v.window.seconds - truth.durationSeconds) < 0.001, `span ${v.window.seconds}`);
    assert.equal(v.window.windowSeconds, 1, 'the 1 s slot it fell in');
    const pps = v.victims[0]!.pps;
    assert.ok(Math.abs(pps - truth.attackPps) / truth.attackPps < 0.02, `victim at ${pps} pps`);
  });

  test('the text report prints the span the traffic covers and the vectors', async () => {
    const { capturePath: file } = writeDetectionScenario('bacnet-dvr-multivector-50ms', dir);
    const r = await execa(process.execPath, [bin, 'analyze', file]);
    const text = String(r.stdout);
    assert.match(text, /traffic covers 50 ms: rates over that\): UNDER ATTACK/);
    assert.match(text, /inbound: 19,400 packets, 38[78],\d{3} pps/);
    assert.match(text, /multi-vector attack, 2 vectors:/);
    assert.match(text, /BACnet amplification \(udp sport 47808\): [\d,]+ pps \(floor 1,000 pps; no baseline yet\); no queries sent to udp 47808 — 70\.0% of packets \[floor\]/);
    assert.match(text, /DVR\/IoT amplification \(udp sport 37810\): .* — 25\.0% of packets/);
    assert.match(text, /signature: udp sport 37810 to 10\.10\.10\.10/);
    assert.match(text, /floors: SYN 1,000, reflection 1,000, fragments 20 pps/);
  });

  test('DNS fragment reflection: the TCP session beside it is the top source but never an attacker', async () => {
    const { out } = await analyze('dns-fragment-reflection');
    for (const w of out.windows) {
      assert.equal(w.underAttack, true);
      assert.ok(!w.attackers.includes('192.0.2.80'), `window ${w.start} banned the TCP session`);
    }
    assert.equal(out.peak!.topSource?.ip, '192.0.2.80');
  });
});

describe('benign profiles: three minutes, judged second by second, flag nothing', () => {
  for (const name of BENIGN_PROFILES) {
    test(`${name}: no window under attack, no attacker, baselines warm`, async () => {
      const { truth, out } = await analyze(name);
      assert.deepEqual(out.protect, [truth.victim]);
      const flagged = out.windows.filter((w) => w.underAttack || w.attackers.length > 0);
      assert.deepEqual(flagged.map((w) => `${w.start}: ${w.vectorLabels.join(', ')} ${w.attackers.join(',')}`), []);
      assert.equal(out.windows.length, truth.durationSeconds);
      assert.ok(out.windows.filter((w) => w.baseline === 'warm').length >= truth.durationSeconds - 61, 'judged with a warm baseline after the warm-up');
    });
  }

  test('the heavy flows of the benign profiles are named as established flows, not attackers', async () => {
    for (const [name, ip, why] of [['elephant-upload', '192.0.2.44', /sending bulk data/], ['prometheus-scrape', '192.0.2.9', /receiving bulk data/]] as const) {
      const { out } = await analyze(name);
      const exempt = out.peak!.exempt.find((e) => e.ip === ip);
      assert.ok(exempt, `${name}: ${ip} not listed as exempt in the peak window`);
      assert.match(exempt.reason, why);
      assert.ok(exempt.pps > 5000, `${name}: over the per-source threshold (${exempt.pps} pps)`);
    }
  });
});
