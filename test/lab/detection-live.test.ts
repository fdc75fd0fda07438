// Issue 10, live: the real agent in a victim namespace, and every attack
// scenario of test/gen/detection-scenarios.ts replayed into it with tcpreplay
// at its own timing. Each must be detected and named (service and ports, each
// vector of a multi-vector attack) in the agent's attack history
// (GET /v1/attacks). The time from the replay's start to the record is
// printed, not asserted: the bench (npm run bench:detection) reports it.
//
// Needs root, Linux, tcpreplay. Namespaces fgdet-*, subnet 10.91.0.0/24; run
// under flock /tmp/floodgate-heavy.lock like every lab test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLab, type Lab } from './lab-network.js';
import { startLabAgent, type LabAgent } from './lab-agent.js';
import { replayIntoVictim, requireReplayTools, rewriteForLab } from './replay.js';
import { ATTACK_SCENARIOS, writeDetectionScenario } from '../gen/detection-scenarios.js';
import type { AttackRecord } from '../../agent/defense/attack-history.js';

const skip =
  process.platform !== 'linux' ? 'needs Linux (network namespaces)' : process.getuid?.() !== 0 ? 'needs root (network namespaces)' : undefined;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('live detection: every attack replayed into the real agent is detected and named', { skip, timeout: 600_000 }, () => {
  let lab: Lab | undefined;
  let agent: LabAgent | undefined;
  let dir = '';

  before(async () => {
    const missing = await requireReplayTools();
    if (missing) throw new Error(missing);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fgdet-live-'));
    lab = await createLab('fgdet', { subnet: '10.91.0' });
    agent = await startLabAgent(lab, {
      ns: lab.victim.ns,
      dev: lab.victim.dev,
      backend: 'dry-run', // naming is under test here, not banning
      stateDir: fs.mkdtempSync(path.join(dir, 'state-')),
      autoDefense: true,
      config: { logLevel: 'warn' },
    });
  });

  after(async () => {
    await agent?.stop().catch(() => undefined);
    await lab?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const name of ATTACK_SCENARIOS) {
    it(`${name}: named in GET /v1/attacks`, async () => {
      const { capturePath, truth } = writeDetectionScenario(name, dir);
      const rewritten = path.join(dir, `${name}.lab.pcap`);
      await rewriteForLab(lab!, capturePath, rewritten);
      // The previous episode must be over (5 s quiet) so this one opens its own record.
      await sleep(6000);
      const before = new Set(((await agent!.api<{ attacks: AttackRecord[] }>('GET', '/v1/attacks')).body.attacks ?? []).map((a) => a.id));
      const replay = await replayIntoVictim(lab!, rewritten, { maxSeconds: 3 });
      let rec: AttackRecord | undefined;
      for (let i = 0; i < 50 && !rec; i++) {
        const r = await agent!.api<{ attacks: AttackRecord[] }>('GET', '/v1/attacks');
        rec = r.body.attacks.find((a) => !before.has(a.id) && truth.vectors.every((v) => a.vectorDetails.some((d) => (typeof v.label === 'string' ? d.label === v.label : v.label.test(d.label)))));
        if (!rec) await sleep(200);
      }
      const last = (await agent!.api<{ attacks: AttackRecord[] }>('GET', '/v1/attacks')).body.attacks.filter((a) => !before.has(a.id));
      assert.ok(rec, `${name}: no record naming ${truth.vectors.map((v) => String(v.label)).join(' + ')}; got ${JSON.stringify(last.map((a) => a.vectorDetails.map((d) => d.label)))}`);
      assert.ok(rec.victims.includes(lab!.victim.ip));
      const ms = Date.parse(rec.startedAt) - replay.startedAt;
      console.error(`[detection-live] ${name}: ${rec.vectorDetails.map((d) => `${d.label} ${Math.round(d.peakShare * 100)}%`).join(' + ')}; recorded ${ms} ms after the replay started (${replay.sent} packets in ${replay.seconds} s)`);
    });
  }
});
