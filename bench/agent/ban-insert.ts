// Section 2: 10,000 bans through POST /v1/blocks/batch and the nft backend,
// against the raw floor (one `nft -f -` transaction of the same elements into
// a fresh interval+timeout set in a scratch namespace), alternating.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { Lab } from '../../test/lab/lab-network.js';
import { parseSetElements } from '../../agent/firewall/nft-backend.js';
import { agentCurl, dropFloodgateTable, metricWhere, setElements, startAgent, tmpDir } from './lab-tools.js';
import { log, sleep } from './util.js';

export const BAN_COUNT = 10_000;
const BAN_SECONDS = 3600;
export const SCRATCH_NS = 'fgbench-scratch';

/** 100.64.0.1, 100.64.0.2, ...: distinct, outside every never-block range. */
export function banAddresses(n = BAN_COUNT): string[] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    return `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  });
}

export interface InsertRound {
  round: number;
  rawMs: number;
  rawCount: number;
  agentMs: number;
  /** Time the API call itself took (POST sent → answer). */
  agentApiMs: number;
  /** Inside the agent (from /metrics): the batch request's handling and the nft backend's add. */
  serverMs: number;
  firewallAddMs: number;
  agentCount: number;
  agentRefused: number;
  lost: number;
}

async function scratch(args: string[], input?: string) {
  return execa('ip', ['netns', 'exec', SCRATCH_NS, ...args], { input });
}

export async function createScratchNs(): Promise<void> {
  await execa('ip', ['netns', 'del', SCRATCH_NS], { reject: false });
  await execa('ip', ['netns', 'add', SCRATCH_NS]);
}

export async function deleteScratchNs(): Promise<void> {
  await execa('ip', ['netns', 'del', SCRATCH_NS], { reject: false });
}

async function rawFloor(addrs: string[]): Promise<{ ms: number; count: number }> {
  await scratch(['nft', '-f', '-'], 'add table inet fgscratch\ndelete table inet fgscratch\nadd table inet fgscratch\nadd set inet fgscratch s { type ipv4_addr; flags interval, timeout; }\n');
  const script = `add element inet fgscratch s { ${addrs.map((a) => `${a} timeout ${BAN_SECONDS}s`).join(', ')} }\n`;
  const t0 = Date.now();
  await scratch(['nft', '-f', '-'], script);
  const ms = Date.now() - t0;
  const listed = await scratch(['nft', '-j', 'list', 'set', 'inet', 'fgscratch', 's']);
  const count = parseSetElements(String(listed.stdout)).length;
  await scratch(['nft', 'delete table inet fgscratch']);
  return { ms, count };
}

async function agentInsert(lab: Lab, addrs: string[], round: number): Promise<Omit<InsertRound, 'round' | 'rawMs' | 'rawCount'>> {
  await dropFloodgateTable(lab);
  const stateDir = tmpDir(`insert${round}`);
  // BENCH_AGENT_CPU_PROF=DIR: the agent writes a V8 CPU profile there when it stops.
  // BENCH_AGENT_NODE_ARGS: more node flags for the agent, space-separated (e.g. --trace-gc).
  const profDir = process.env.BENCH_AGENT_CPU_PROF;
  const nodeArgs = [
    ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
    ...(process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  const agent = await startAgent(lab, { ns: lab.victim.ns, dev: lab.victim.dev, backend: 'nft', autoDefense: false, stateDir, nodeArgs });
  try {
    const metrics = async () => (await agentCurl(lab, lab.victim.ns, agent, 'GET', '/metrics')).text;
    const fwAdd = (t: string) => metricWhere(t, 'floodgate_firewall_operation_seconds_sum', ['operation="add"']) * 1000;
    const server = (t: string) => metricWhere(t, 'floodgate_api_request_duration_seconds_sum', ['method="POST"', 'batch']) * 1000;
    const m0 = await metrics();
    const bodyFile = path.join(stateDir, 'batch.json');
    fs.writeFileSync(bodyFile, JSON.stringify({ blocks: addrs.map((ip) => ({ ip, durationSeconds: BAN_SECONDS, reason: 'bench: 10k insert' })) }));
    const t0 = Date.now();
    const r = await agentCurl(lab, lab.victim.ns, agent, 'POST', '/v1/blocks/batch', bodyFile);
    const apiMs = Date.now() - t0;
    if (r.status !== 200) throw new Error(`POST /v1/blocks/batch answered ${r.status}: ${r.text.slice(0, 300)}`);
    const results = (JSON.parse(r.text) as { results: { ok: boolean }[] }).results;
    const refused = results.filter((x) => !x.ok).length;
    // The answer comes after the nft transaction; confirm in the set itself, polling if it is not all there yet.
    let count = 0;
    let doneAt = Date.now();
    const deadline = Date.now() + 30_000;
    for (;;) {
      count = (await setElements(lab, lab.victim.ns, 'inet', 'floodgate', 'hosts4')).length;
      if (count >= addrs.length || Date.now() > deadline) break;
      await sleep(20);
      doneAt = Date.now();
    }
    const m1 = await metrics();
    return {
      agentMs: doneAt - t0,
      agentApiMs: apiMs,
      serverMs: Math.round(server(m1) - server(m0)),
      firewallAddMs: Math.round(fwAdd(m1) - fwAdd(m0)),
      agentCount: count,
      agentRefused: refused,
      lost: Math.max(0, addrs.length - count),
    };
  } finally {
    await agent.stop();
    await dropFloodgateTable(lab);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

export async function measureInsert(lab: Lab, repeats: number): Promise<InsertRound[]> {
  const addrs = banAddresses();
  const rounds: InsertRound[] = [];
  await createScratchNs();
  try {
    for (let round = 1; round <= repeats; round++) {
      // Alternate which goes first so drift hits both alike.
      let raw: { ms: number; count: number };
      let ag: Awaited<ReturnType<typeof agentInsert>>;
      if (round % 2) {
        raw = await rawFloor(addrs);
        ag = await agentInsert(lab, addrs, round);
      } else {
        ag = await agentInsert(lab, addrs, round);
        raw = await rawFloor(addrs);
      }
      rounds.push({ round, rawMs: raw.ms, rawCount: raw.count, ...ag });
      log(`insert ${round}/${repeats}: raw nft ${raw.ms} ms (${raw.count} in set); agent ${ag.agentMs} ms (API answered in ${ag.agentApiMs} ms, server ${ag.serverMs} ms, nft add ${ag.firewallAddMs} ms, ${ag.agentCount} in set, ${ag.agentRefused} refused, ${ag.lost} lost)`);
    }
  } finally {
    await deleteScratchNs();
  }
  return rounds;
}
