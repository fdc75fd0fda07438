// Section 2: 10,000 bans through POST /v1/blocks/batch and the nft backend,
// against the raw floor (one `nft -f -` transaction of the same elements into
// a fresh interval+timeout set in a scratch namespace), alternating. Timed
// both on fresh agents' first batches and on a running agent's batches.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { Lab } from '../../test/lab/lab-network.js';
import type { LabAgent } from '../../test/lab/lab-agent.js';
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
  /**
   * first: a freshly started agent's first batch (cold JIT: every line of the
   * ban path runs for the first time); steady: a running agent's batch, after
   * DELETE /v1/blocks?all=true emptied it again.
   */
  kind: 'first' | 'steady';
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

type AgentInsert = Omit<InsertRound, 'round' | 'kind' | 'rawMs' | 'rawCount'>;

async function startInsertAgent(lab: Lab, label: string): Promise<LabAgent> {
  await dropFloodgateTable(lab);
  // BENCH_AGENT_CPU_PROF=DIR: the agent writes a V8 CPU profile there when it stops.
  // BENCH_AGENT_NODE_ARGS: more node flags for the agent, space-separated (e.g. --trace-gc).
  const profDir = process.env.BENCH_AGENT_CPU_PROF;
  const nodeArgs = [
    ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
    ...(process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  return startAgent(lab, {
    ns: lab.victim.ns,
    dev: lab.victim.dev,
    backend: 'nft',
    autoDefense: false,
    stateDir: tmpDir(`insert-${label}`),
    nodeArgs,
    // The steady rounds re-ban 10,000 addresses every few seconds; the default
    // cap of 12,000 new bans a minute would refuse them. This measures the
    // insert path, not the cap (which test/bans covers).
    config: { bans: { maxNewBansPerMinute: 1_000_000 } },
  });
}

async function stopInsertAgent(lab: Lab, agent: LabAgent): Promise<void> {
  await agent.stop();
  await dropFloodgateTable(lab);
  fs.rmSync(agent.stateDir, { recursive: true, force: true });
}

/** One timed batch of all `addrs` into a running agent whose set is empty. */
async function agentInsert(lab: Lab, agent: LabAgent, addrs: string[]): Promise<AgentInsert> {
  const metrics = async () => (await agentCurl(lab, lab.victim.ns, agent, 'GET', '/metrics')).text;
  const fwAdd = (t: string) => metricWhere(t, 'floodgate_firewall_operation_seconds_sum', ['operation="add"']) * 1000;
  const server = (t: string) => metricWhere(t, 'floodgate_api_request_duration_seconds_sum', ['method="POST"', 'batch']) * 1000;
  const m0 = await metrics();
  const bodyFile = path.join(agent.stateDir, 'batch.json');
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
  fs.rmSync(bodyFile, { force: true });
  return {
    agentMs: doneAt - t0,
    agentApiMs: apiMs,
    serverMs: Math.round(server(m1) - server(m0)),
    firewallAddMs: Math.round(fwAdd(m1) - fwAdd(m0)),
    agentCount: count,
    agentRefused: refused,
    lost: Math.max(0, addrs.length - count),
  };
}

/** Empty a running agent (DELETE /v1/blocks?all=true) and wait until its set is empty too. */
async function unbanAll(lab: Lab, agent: LabAgent): Promise<void> {
  const r = await agentCurl(lab, lab.victim.ns, agent, 'DELETE', '/v1/blocks?all=true');
  if (r.status !== 200) throw new Error(`DELETE /v1/blocks?all=true answered ${r.status}: ${r.text.slice(0, 300)}`);
  const deadline = Date.now() + 30_000;
  while ((await setElements(lab, lab.victim.ns, 'inet', 'floodgate', 'hosts4')).length > 0) {
    if (Date.now() > deadline) throw new Error('the agent\'s set still holds elements 30 s after DELETE /v1/blocks?all=true');
    await sleep(50);
  }
}

/** The raw floor and one agent batch, in alternating order so drift hits both alike. */
async function sideBySide(round: number, insert: () => Promise<AgentInsert>, addrs: string[]) {
  let raw: { ms: number; count: number };
  let ag: AgentInsert;
  if (round % 2) {
    raw = await rawFloor(addrs);
    ag = await insert();
  } else {
    ag = await insert();
    raw = await rawFloor(addrs);
  }
  return { raw, ag };
}

/**
 * `firstRounds` fresh agents, each timed on its first batch; then `steadyRounds`
 * batches into the last of them, emptied with DELETE /v1/blocks?all=true
 * before each. Every batch is measured beside the raw floor.
 */
export async function measureInsert(lab: Lab, steadyRounds: number, firstRounds: number): Promise<InsertRound[]> {
  const addrs = banAddresses();
  const rounds: InsertRound[] = [];
  const record = (kind: InsertRound['kind'], raw: { ms: number; count: number }, ag: AgentInsert) => {
    const round = rounds.length + 1;
    rounds.push({ round, kind, rawMs: raw.ms, rawCount: raw.count, ...ag });
    log(`insert ${round} (${kind}): raw nft ${raw.ms} ms (${raw.count} in set); agent ${ag.agentMs} ms (API answered in ${ag.agentApiMs} ms, server ${ag.serverMs} ms, nft add ${ag.firewallAddMs} ms, ${ag.agentCount} in set, ${ag.agentRefused} refused, ${ag.lost} lost)`);
  };
  await createScratchNs();
  let agent: LabAgent | undefined;
  try {
    for (let i = 1; i <= firstRounds; i++) {
      if (agent) await stopInsertAgent(lab, agent);
      agent = await startInsertAgent(lab, `first${i}`);
      const running = agent;
      const { raw, ag } = await sideBySide(i, () => agentInsert(lab, running, addrs), addrs);
      record('first', raw, ag);
    }
    agent ??= await startInsertAgent(lab, 'steady');
    const running = agent;
    for (let i = 1; i <= steadyRounds; i++) {
      await unbanAll(lab, running);
      const { raw, ag } = await sideBySide(i, () => agentInsert(lab, running, addrs), addrs);
      record('steady', raw, ag);
    }
  } finally {
    if (agent) await stopInsertAgent(lab, agent);
    await deleteScratchNs();
  }
  return rounds;
}
