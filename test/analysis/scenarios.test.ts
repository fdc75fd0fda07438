// Ground truth: each generated scenario capture through the real engine and
// detection must give exactly the known answer (test/gen/scenarios.ts).
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { analyzeFile, type FileAnalysis } from '../../agent/capture-analysis/file-analysis.js';
import { SCENARIO_NAMES, writeScenario, type ScenarioTruth } from '../gen/scenarios.js';

const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
let dir = '';
const results = new Map<string, { truth: ScenarioTruth; file: string; analysis: FileAnalysis }>();

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-scenarios-'));
  for (const name of SCENARIO_NAMES) {
    const { capturePath, truth } = writeScenario(name, dir);
    // Windows as long as the capture, so the verdict covers the whole scenario.
    const analysis = await analyzeFile(capturePath, { windowSeconds: Math.max(7, truth.durationSeconds) });
    results.set(name, { truth, file: capturePath, analysis });
  }
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const get = (name: string) => {
  const r = results.get(name);
  assert.ok(r, `scenario ${name} was not generated`);
  assert.ok(r.analysis.peak, `${name}: no verdict`);
  return { ...r, v: r.analysis.peak! };
};

describe('scenario ground truth', () => {
  for (const name of SCENARIO_NAMES) {
    test(`${name}: verdict, attackers and vector match the truth`, () => {
      const { truth, v, analysis } = get(name);
      assert.deepEqual(analysis.protect, [truth.victim], 'protected address inferred from the capture');
      assert.equal(v.underAttack, truth.underAttack, 'underAttack');
      assert.deepEqual(v.attackers.map((a) => a.ip).sort(), [...truth.attackers].sort(), 'attackers');
      assert.equal(v.totals.inboundPackets, truth.inboundPackets, 'inbound packets (victim replies excluded)');
      // Per-victim rules fire at the default 20k pps; slower floods are caught per source instead.
      if (truth.vector && truth.inboundPerSecond.min >= 20_000) {
        const victim = v.victims.find((x) => x.ip === truth.victim);
        assert.ok(victim, 'victim reported');
        assert.equal(victim.vector, truth.vector);
        if (truth.dominantSourcePort !== undefined) assert.equal(victim.signature.sourcePort, truth.dominantSourcePort);
      }
      if (!truth.underAttack) assert.equal(v.victims.length, 0, 'no victim on benign traffic');
      if (truth.distinctSourcesApprox) {
        const err = Math.abs(v.totals.distinctSources - truth.distinctSourcesApprox) / truth.distinctSourcesApprox;
        assert.ok(err < 0.1, `distinct sources ${v.totals.distinctSources} vs ${truth.distinctSourcesApprox}`);
      }
    });
  }

  test('spoofed SYN flood: no per-IP bans, a signature rule instead', () => {
    const { v } = get('spoofed-syn-flood');
    assert.equal(v.attackers.length, 0);
    const victim = v.victims[0]!;
    assert.equal(victim.signatureRuleNeeded, true);
    assert.match(victim.signature.text, /tcp flags syn\/syn,ack,rst to 10\.10\.10\.10/);
    assert.ok(v.totals.sourceEvictions > 0, 'the 100k sources overflowed the bounded table');
  });

  test('SNMP amplification names port 161 and the signature', () => {
    const { v } = get('udp-amplification-snmp');
    assert.equal(v.victims[0]!.signature.text, 'udp sport 161 to 10.10.10.10');
    assert.match(v.victims[0]!.vectorDetail, /SNMP/);
  });

  test('single-source flood: the seed rule and the rate rule both name the attacker', () => {
    const { v, truth } = get('single-source-flood');
    const a = v.attackers[0]!;
    assert.deepEqual(a.rules.slice(0, 2), ['share', 'source_pps']);
    assert.equal(a.packets, truth.attackerPackets[a.ip]);
    assert.ok(Math.abs(a.share - truth.topSource.share) < 0.01);
  });

  test('the CLI prints the same verdict as JSON', async () => {
    const { file, truth } = get('single-source-flood');
    const r = await execa(process.execPath, [bin, 'analyze', file, '--window', String(truth.durationSeconds), '--json']);
    const out = JSON.parse(String(r.stdout)) as FileAnalysis;
    assert.equal(out.peak?.underAttack, true);
    assert.deepEqual(out.peak?.attackers.map((a) => a.ip), truth.attackers);
  });

  test('the seed threshold is honoured: --share 0.9 leaves only the rate rule', async () => {
    const { file } = get('single-source-flood');
    const r = await execa(process.execPath, [bin, 'analyze', file, '--window', '10', '--share', '0.9', '--json']);
    const out = JSON.parse(String(r.stdout)) as FileAnalysis;
    assert.deepEqual(out.peak?.attackers[0]?.rules.includes('share'), false);
  });
});
