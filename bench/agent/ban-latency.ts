// Section 1: flood start to ban, floodgate's auto-defense and FastNetMon side
// by side in alternating blocks on the same lab, each run after a random
// 0–1 s delay so the flood starts at any phase of either tool's cycle.
import type { Lab } from '../../test/lab/lab-network.js';
import type { LabAgent } from '../../test/lab/lab-agent.js';
import type { BanRecord } from '../../api/agent/v1/types.js';
import { readFnmBan, startFastnetmon, type FnmSetup } from './fastnetmon.js';
import { dropFloodgateTable, ensureQuiet, setElements, startAgent, startFlood, tmpDir } from './lab-tools.js';
import { log, sleep } from './util.js';

/** Longest a single flood may run before the run counts as "no ban". */
const FLOOD_MAX_SECONDS = 8;

export interface FloodgateRun {
  run: number;
  delayMs: number;
  /** BanRecord.createdAt − flood start. */
  banMs?: number;
  /** First 50 ms poll that saw 10.77.0.66 in `inet floodgate hosts4` − flood start (an upper bound). */
  inNftMs?: number;
  reason?: string;
  error?: string;
}

export interface FnmRun {
  run: number;
  delayMs: number;
  banMs?: number;
  ip?: string;
  direction?: string;
  pps?: number;
  error?: string;
}

export interface LatencyResult {
  floodgate: FloodgateRun[];
  fastnetmon: FnmRun[];
  fnmUnavailable?: string;
}

const stripHost = (c: string) => c.replace(/\/32$/, '');

async function floodgateRun(lab: Lab, agent: LabAgent, run: number, delayMs: number): Promise<FloodgateRun> {
  const attacker = lab.attacker.ip;
  await sleep(delayMs);
  const flood = startFlood(lab, ['-S', '-p', '80', '--flood', lab.victim.ip], FLOOD_MAX_SECONDS);
  const t0 = flood.startedAt;
  let inNftAt: number | undefined;
  try {
    while (Date.now() - t0 < FLOOD_MAX_SECONDS * 1000) {
      const els = await setElements(lab, lab.victim.ns, 'inet', 'floodgate', 'hosts4');
      if (els.some((c) => stripHost(c) === attacker)) {
        inNftAt = Date.now();
        break;
      }
      await sleep(50);
    }
  } finally {
    await flood.stop();
  }
  const res: FloodgateRun = { run, delayMs };
  const blocks = await agent.api<{ blocks: BanRecord[] }>('GET', '/v1/blocks');
  const ban = blocks.body?.blocks.find((b) => stripHost(b.cidr) === attacker);
  if (ban) {
    res.banMs = Date.parse(ban.createdAt) - t0;
    res.reason = ban.reason;
    if (res.banMs < 0) res.error = `ban created ${-res.banMs} ms before the flood started: a leftover from the previous run`;
  } else {
    res.error = `no ban for ${attacker} within ${FLOOD_MAX_SECONDS} s`;
  }
  if (inNftAt !== undefined) res.inNftMs = inNftAt - t0;
  // Reset: flood gone, 1 s detection window drained of it, then unban and check both API and set are clean.
  await ensureQuiet(lab);
  await sleep(1500);
  const del = await agent.api<{ removed: boolean }>('DELETE', `/v1/blocks/${attacker}`);
  if (del.status !== 200) throw new Error(`DELETE /v1/blocks/${attacker} answered ${del.status}`);
  await sleep(300);
  const after = await agent.api<{ blocks: BanRecord[] }>('GET', '/v1/blocks');
  const els = await setElements(lab, lab.victim.ns, 'inet', 'floodgate', 'hosts4');
  if (after.body?.blocks.some((b) => stripHost(b.cidr) === attacker) || els.some((c) => stripHost(c) === attacker)) {
    throw new Error(`${attacker} still banned after DELETE: the next run would not measure a fresh ban`);
  }
  return res;
}

async function fnmRun(lab: Lab, setup: FnmSetup, run: number, delayMs: number): Promise<FnmRun> {
  const fnm = await startFastnetmon(lab, lab.victim.ns, setup, run);
  const res: FnmRun = { run, delayMs };
  try {
    await sleep(delayMs);
    const flood = startFlood(lab, ['-S', '-p', '80', '--flood', lab.victim.ip], FLOOD_MAX_SECONDS);
    const t0 = flood.startedAt;
    try {
      while (Date.now() - t0 < FLOOD_MAX_SECONDS * 1000) {
        const ban = readFnmBan(setup.notifyLog);
        if (ban) {
          res.banMs = ban.at - t0;
          res.ip = ban.ip;
          res.direction = ban.direction;
          res.pps = ban.pps;
          break;
        }
        await sleep(20);
      }
    } finally {
      await flood.stop();
    }
    if (res.banMs === undefined) res.error = `no ban call within ${FLOOD_MAX_SECONDS} s`;
  } finally {
    await fnm.stop();
  }
  await ensureQuiet(lab);
  return res;
}

export async function measureBanLatency(
  lab: Lab,
  opts: { runs: number; block: number; rng: () => number; fnm: FnmSetup | undefined; fnmUnavailable?: string },
): Promise<LatencyResult> {
  const result: LatencyResult = { floodgate: [], fastnetmon: [], ...(opts.fnmUnavailable ? { fnmUnavailable: opts.fnmUnavailable } : {}) };
  let fgDone = 0;
  let fnmDone = 0;
  while (fgDone < opts.runs || (opts.fnm && fnmDone < opts.runs)) {
    // A block of floodgate runs with one agent, then a block of FastNetMon runs with the agent stopped.
    if (fgDone < opts.runs) {
      await dropFloodgateTable(lab);
      const agent = await startAgent(lab, {
        ns: lab.victim.ns,
        dev: lab.victim.dev,
        backend: 'nft',
        autoDefense: true,
        stateDir: tmpDir('latency'),
      });
      try {
        await sleep(2000); // the ring must cover the 1 s window before auto-defense judges
        const n = Math.min(opts.block, opts.runs - fgDone);
        for (let i = 0; i < n; i++) {
          const run = ++fgDone;
          const delayMs = Math.round(opts.rng() * 1000);
          const r = await floodgateRun(lab, agent, run, delayMs);
          result.floodgate.push(r);
          log(`latency floodgate ${run}/${opts.runs}: delay ${delayMs} ms, ban ${r.banMs ?? '-'} ms (createdAt), in nft set by ${r.inNftMs ?? '-'} ms${r.error ? `, ${r.error}` : ''}`);
        }
      } finally {
        await agent.stop();
        await dropFloodgateTable(lab);
      }
    }
    if (opts.fnm && fnmDone < opts.runs) {
      const n = Math.min(opts.block, opts.runs - fnmDone);
      for (let i = 0; i < n; i++) {
        const run = ++fnmDone;
        const delayMs = Math.round(opts.rng() * 1000);
        let r: FnmRun;
        try {
          r = await fnmRun(lab, opts.fnm, run, delayMs);
        } catch (err) {
          r = { run, delayMs, error: (err as Error).message };
        }
        result.fastnetmon.push(r);
        log(`latency fastnetmon ${run}/${opts.runs}: delay ${delayMs} ms, ban ${r.banMs ?? '-'} ms${r.ip ? ` (${r.ip} ${r.direction} ${r.pps} pps)` : ''}${r.error ? `, ${r.error}` : ''}`);
      }
    }
  }
  return result;
}
