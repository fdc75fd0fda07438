// Issue 11's columns of bench:detection: live floods against a live web
// server in a lab victim, with the real agent on nftables, measured three
// ways side by side in one run:
//   - without floodgate's signature rules (the agent captures and detects,
//     its policy says signatures: disabled): benign requests served, kernel
//     CPU per flood packet;
//   - with them (signatures: auto): time from the flood's start to the rule
//     in the firewall (the agent's own log line, same clock), where the
//     flood starts with its first packet at the victim's interface (the
//     kernel's timestamp, read by tcpdump -c 1 on the attacker's MAC; the
//     time from spawning hping3 is printed beside it); the share of the
//     flood's packets the rule dropped, limited or proxied (its nft counter
//     against the packets the victim's interface received, over the whole
//     flood and from the rule on); benign requests served, kernel CPU per
//     flood packet; and more short floods for the median time to rule;
//   - FastNetMon 1.2.4 (Debian) where it can act: it detects the flood at its
//     shipped per-host threshold and bans the victim; its ban is carried out
//     as the upstream blackhole it stands for (a drop of everything to the
//     victim on the lab's bridge), which also takes the benign client out.
// Benign client: one HTTP request every 0.2 s from the client namespace.
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { SignatureList } from '../api/agent/v1/types.js';
import type { AttackRecord } from '../api/agent/v1/types.js';
import type { Lab } from '../test/lab/lab-network.js';
import { startLabAgent, type LabAgent } from '../test/lab/lab-agent.js';
import { macOf } from '../test/lab/replay.js';
import { ensureFastnetmon, readFnmAttackType, readFnmBan, startFastnetmon, writeFnmConfig } from './agent/fastnetmon.js';
import { envNumber, log, median, sleep } from './bench-util.js';

export interface FloodSpec {
  name: string;
  vector: string;
  /** hping3 arguments (without --flood and the victim). */
  args: string[];
}

export const SIGNATURE_FLOODS: readonly FloodSpec[] = [
  { name: 'live: spoofed SYN flood to the web server (hping3 -S -p 80 --rand-source)', vector: 'syn_flood', args: ['-S', '-p', '80', '--rand-source'] },
  { name: 'live: SNMP amplification, fixed source port 161 (hping3 -2 -s 161 -k --rand-source)', vector: 'udp_amplification', args: ['-2', '-s', '161', '-k', '-p', '9999', '-d', '400', '--rand-source'] },
  { name: 'live: fragment flood, 16-byte fragments (hping3 -2 -f --rand-source)', vector: 'fragment_flood', args: ['-2', '-f', '-d', '200', '-p', '9999', '--rand-source'] },
  { name: 'live: SYN-ACK reflection from port 443 (hping3 -S -A -s 443 -k --rand-source)', vector: 'synack_reflection', args: ['-S', '-A', '-s', '443', '-k', '-p', '40000', '--rand-source'] },
  { name: 'live: ICMP echo flood (hping3 -1 --rand-source)', vector: 'icmp_flood', args: ['-1', '--rand-source'] },
];

export interface FloodRow {
  spec: FloodSpec;
  detected: boolean;
  detectMs?: number;
  vectors: string[];
  bans: number;
  /** Time to rule (ms) of every run with floodgate, from the flood's first packet at the victim. */
  ruleMs: number[];
  /** The same runs, from hping3's spawn (includes its start-up). */
  ruleFromSpawnMs: number[];
  applied?: string;
  /** Share of the flood's packets at the victim that the rule dropped, limited or proxied. */
  share?: number;
  /** The same share over the packets that arrived once the rule was in place. */
  shareAfterRule?: number;
  floodPps?: number;
  served: { without?: Served; with?: Served; fnm?: Served };
  /** Kernel CPU (system + softirq, all CPUs) per packet received, µs. */
  cpuUs: { without?: number; with?: number };
  fnm?: { detected: boolean; ms?: number; type?: string; share?: number } | { skipped: string };
}

export interface Served {
  ok: number;
  total: number;
}

// 25 s: the flood of issue 11's report (hping3 --flood for 25 s).
const LONG_SECONDS = envNumber('BENCH_FLOOD_SECONDS', 25, 4);
const RULE_RUNS = envNumber('BENCH_RULE_RUNS', 5, 1);
const POLICY = 'bench';

/** Kernel CPU jiffies (system, irq, softirq) over all CPUs, from /proc/stat. */
function kernelJiffies(): number {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0);
}
const JIFFY_US = 1e6 / 100; // USER_HZ

async function rxPackets(lab: Lab): Promise<number> {
  const r = await lab.exec(lab.victim.ns, 'cat', [`/sys/class/net/${lab.victim.dev}/statistics/rx_packets`]);
  return Number(r.stdout.trim());
}

/** The benign client: a request every 0.2 s; stop() resolves with what it got. */
function benignClient(lab: Lab): { stop(): Promise<Served> } {
  const out: boolean[] = [];
  const proc: ResultPromise = execa('ip', ['netns', 'exec', lab.client.ns, 'sh', '-c', `while true; do curl -s -m 2 -o /dev/null -w '%{http_code}\\n' http://${lab.victim.ip}/; sleep 0.2; done`], { reject: false, buffer: false });
  proc.stdout?.on('data', (d: Buffer) => {
    for (const code of String(d).split('\n').filter(Boolean)) out.push(code === '200');
  });
  return {
    async stop() {
      proc.kill('SIGKILL');
      await proc.catch(() => undefined);
      return { ok: out.filter(Boolean).length, total: out.length };
    },
  };
}

/** The kernel's receive time (epoch ms) of the first packet from the attacker at the victim's interface. */
async function firstPacketWatch(lab: Lab): Promise<{ ready: Promise<void>; at: Promise<number | undefined>; stop(): void }> {
  const mac = await macOf(lab, lab.attacker.ns, lab.attacker.dev);
  const proc = execa('ip', ['netns', 'exec', lab.victim.ns, 'tcpdump', '-i', lab.victim.dev, '-c', '1', '-n', '-tt', '--time-stamp-precision=micro', 'ether', 'src', mac], { reject: false });
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  // tcpdump says "listening on" once its capture is open.
  proc.stderr?.on('data', (d: Buffer) => {
    if (String(d).includes('listening on')) ready();
  });
  const at = proc.then((r) => {
    ready();
    const t = /^(\d+\.\d+) /m.exec(String(r.stdout));
    return t ? Number(t[1]) * 1000 : undefined;
  });
  return { ready: Promise.race([readyP, sleep(3000)]), at, stop: () => proc.kill('SIGKILL') };
}

interface Flood {
  /** hping3 spawned (epoch ms). */
  spawnedAt: number;
  /** The first flood packet at the victim (epoch ms), once seen. */
  firstPacket: Promise<number | undefined>;
  done: Promise<unknown>;
}

async function startFlood(lab: Lab, args: string[], seconds: number): Promise<Flood> {
  const watch = await firstPacketWatch(lab);
  await watch.ready;
  const spawnedAt = Date.now();
  const done = lab.exec(lab.attacker.ns, 'timeout', ['-k', '2', String(seconds), 'hping3', ...args, '--flood', lab.victim.ip], { reject: false, timeoutMs: (seconds + 10) * 1000 }).finally(() => watch.stop());
  return { spawnedAt, firstPacket: watch.at, done };
}

async function setMode(agent: LabAgent, mode: 'auto' | 'disabled'): Promise<void> {
  const r = await agent.api('PUT', `/v1/signatures/policies/${POLICY}`, { mode, durationSeconds: 120, maxRules: 16, maxDurationSeconds: 600 });
  if (r.status !== 200) throw new Error(`PUT signature policy: ${r.status}`);
}

async function rules(agent: LabAgent): Promise<SignatureList['signatures']> {
  return (await agent.api<SignatureList>('GET', '/v1/signatures')).body.signatures;
}

async function clearRules(agent: LabAgent): Promise<void> {
  for (const r of await rules(agent)) await agent.api('DELETE', `/v1/signatures/${r.id}`);
}

/** When the agent logged "signature rule added" for `vector` at or after `since` (ms). */
function ruleAddedAt(agent: LabAgent, since: number): number | undefined {
  for (const line of agent.logs()) {
    if (!line.includes('signature rule added')) continue;
    try {
      const j = JSON.parse(line) as { time?: number };
      if ((j.time ?? 0) >= since) return j.time;
    } catch {
      /* not JSON */
    }
  }
  return undefined;
}

async function waitFor<T>(ms: number, probe: () => Promise<T | undefined> | T | undefined, every = 20): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await sleep(every);
  }
}

async function quiet(agent: LabAgent): Promise<void> {
  // Past the agent's 5 s episode gap (agent/defense/attack-history.ts): the next flood gets an attack record of its own.
  await sleep(5500);
  await clearRules(agent);
}

/** One flood with measurements; the rule (if any) is read before it is cleared. */
async function measured(lab: Lab, agent: LabAgent, spec: FloodSpec, seconds: number) {
  const client = benignClient(lab);
  await sleep(600);
  const rx0 = await rxPackets(lab);
  const cpu0 = kernelJiffies();
  const attacksBefore = new Set(((await agent.api<{ attacks: AttackRecord[] }>('GET', '/v1/attacks')).body.attacks ?? []).map((a) => a.id));
  const bans0 = (await agent.api<{ blocks: unknown[] }>('GET', '/v1/blocks')).body.blocks.length;
  const f = await startFlood(lab, spec.args, seconds);
  const ruleAt = await waitFor(seconds * 1000, () => ruleAddedAt(agent, f.spawnedAt));
  const rxAtRule = ruleAt !== undefined ? await rxPackets(lab) : undefined;
  await f.done;
  const first = await f.firstPacket;
  const ended = Date.now();
  const cpu1 = kernelJiffies();
  const rx = (await rxPackets(lab)) - rx0;
  const served = await client.stop();
  // GET /v1/signatures reports counters the agent samples every 2 s: wait one sample past the flood's end.
  await sleep(2200);
  const held = (await rules(agent)).filter((r) => r.vector === spec.vector);
  const attacks = ((await agent.api<{ attacks: AttackRecord[] }>('GET', '/v1/attacks')).body.attacks ?? []).filter((a) => !attacksBefore.has(a.id));
  const rec = attacks.find((a) => a.vectors.includes(spec.vector as never));
  const bans = (await agent.api<{ blocks: unknown[] }>('GET', '/v1/blocks')).body.blocks.length - bans0;
  const matched = held.reduce((n, r) => n + r.packets, 0);
  const afterRule = rxAtRule !== undefined ? rx - (rxAtRule - rx0) : 0;
  return {
    ruleMs: ruleAt !== undefined && first !== undefined ? ruleAt - first : undefined,
    ruleFromSpawnMs: ruleAt !== undefined ? ruleAt - f.spawnedAt : undefined,
    applied: held[0]?.applied,
    share: rx > 0 && held.length ? Math.min(1, matched / rx) : undefined,
    // The counter read at the rule's first log line is ~0: what it counted is from then on.
    shareAfterRule: afterRule > 0 && held.length ? Math.min(1, matched / afterRule) : undefined,
    pps: rx / ((ended - f.spawnedAt) / 1000),
    served,
    cpuUs: rx > 0 ? ((cpu1 - cpu0) * JIFFY_US) / rx : undefined,
    detected: !!rec,
    detectMs: rec ? Date.parse(rec.startedAt) - (first ?? f.spawnedAt) : undefined,
    vectors: rec?.vectorDetails.map((d) => d.label) ?? [],
    bans,
  };
}

/** FastNetMon on the same flood: its ban of the victim, carried out as a blackhole on the bridge. */
async function fastnetmon(lab: Lab, spec: FloodSpec, dir: string, run: number, why: string | undefined): Promise<FloodRow['fnm'] & { served?: Served }> {
  if (why) return { skipped: why };
  const setup = writeFnmConfig(fs.mkdtempSync(path.join(dir, 'fnm-')), lab.victim.ip, lab.victim.dev, { threshold_pps: 20000, threshold_mbps: 1000, ban_for_bandwidth: 'on' });
  const fnm = await startFastnetmon(lab, lab.victim.ns, setup, run);
  // What FastNetMon's ban of a host stands for upstream: the host blackholed, here on the lab's bridge.
  // (The chain is not called "fwd": that is an nft keyword, and the rule would not load.)
  const blackhole = async (on: boolean) => {
    const script = on
      ? `add table bridge fnm_blackhole\nadd chain bridge fnm_blackhole blackhole { type filter hook forward priority 0; }\nadd rule bridge fnm_blackhole blackhole ip daddr ${lab.victim.ip} counter drop\n`
      : 'add table bridge fnm_blackhole\ndelete table bridge fnm_blackhole\n';
    const r = await execa('ip', ['netns', 'exec', lab.router, 'nft', '-f', '-'], { input: script, reject: false });
    if (on && r.exitCode !== 0) throw new Error(`the blackhole standing for FastNetMon's ban did not load: ${r.stderr.split('\n')[0]}`);
  };
  try {
    const client = benignClient(lab);
    await sleep(600);
    const rx0 = await rxPackets(lab);
    const f = await startFlood(lab, spec.args, LONG_SECONDS);
    const ban = await waitFor(LONG_SECONDS * 1000, () => readFnmBan(setup.notifyLog));
    if (ban) await blackhole(true);
    await f.done;
    const first = await f.firstPacket;
    const rx = (await rxPackets(lab)) - rx0;
    const served = await client.stop();
    const dropped = ban ? Number(/packets (\d+)/.exec((await lab.exec(lab.router, 'nft', ['list', 'table', 'bridge', 'fnm_blackhole'], { reject: false })).stdout)?.[1] ?? 0) : 0;
    return { detected: !!ban, ms: ban ? ban.at - (first ?? f.spawnedAt) : undefined, type: ban ? readFnmAttackType(setup.notifyLog) : undefined, share: dropped + rx > 0 ? dropped / (dropped + rx) : undefined, served };
  } finally {
    await blackhole(false);
    await fnm.stop();
  }
}

/** Every flood of SIGNATURE_FLOODS, measured; the lab must have a web server on the victim's port 80. */
export async function signatureFloodRows(lab: Lab, dir: string): Promise<FloodRow[]> {
  const agent = await startLabAgent(lab, {
    ns: lab.victim.ns,
    dev: lab.victim.dev,
    backend: 'nft',
    stateDir: fs.mkdtempSync(path.join(dir, 'sig-state-')),
    autoDefense: true,
    config: { logLevel: 'info', signatures: { mode: 'propose', durationSeconds: 120, synproxy: 'manage' } },
  });
  const fnmCheck = await ensureFastnetmon();
  const fnmWhy = fnmCheck.ok ? undefined : fnmCheck.why;
  const rows: FloodRow[] = [];
  try {
    let run = 100;
    for (const spec of SIGNATURE_FLOODS) {
      const row: FloodRow = { spec, detected: false, vectors: [], bans: 0, ruleMs: [], ruleFromSpawnMs: [], served: {}, cpuUs: {} };
      log(`${spec.name}: without signature rules (${LONG_SECONDS} s)`);
      await setMode(agent, 'disabled');
      const without = await measured(lab, agent, spec, LONG_SECONDS);
      row.served.without = without.served;
      row.cpuUs.without = without.cpuUs;
      await quiet(agent);

      log(`${spec.name}: with signature rules (${LONG_SECONDS} s)`);
      await setMode(agent, 'auto');
      const withRule = await measured(lab, agent, spec, LONG_SECONDS);
      Object.assign(row, { detected: withRule.detected, detectMs: withRule.detectMs, vectors: withRule.vectors, bans: withRule.bans, applied: withRule.applied, share: withRule.share, shareAfterRule: withRule.shareAfterRule, floodPps: withRule.pps });
      row.served.with = withRule.served;
      row.cpuUs.with = withRule.cpuUs;
      if (withRule.ruleMs !== undefined) row.ruleMs.push(withRule.ruleMs);
      if (withRule.ruleFromSpawnMs !== undefined) row.ruleFromSpawnMs.push(withRule.ruleFromSpawnMs);
      await quiet(agent);
      for (let i = 1; i < RULE_RUNS; i++) {
        log(`${spec.name}: time to rule, run ${i + 1} of ${RULE_RUNS}`);
        const f = await startFlood(lab, spec.args, 2);
        const at = await waitFor(2000, () => ruleAddedAt(agent, f.spawnedAt));
        await f.done;
        const first = await f.firstPacket;
        if (at !== undefined && first !== undefined) row.ruleMs.push(at - first);
        if (at !== undefined) row.ruleFromSpawnMs.push(at - f.spawnedAt);
        await quiet(agent);
      }

      log(`${spec.name}: FastNetMon (${LONG_SECONDS} s)`);
      await setMode(agent, 'disabled');
      const fnm = await fastnetmon(lab, spec, dir, run++, fnmWhy);
      if ('served' in fnm && fnm.served) row.served.fnm = fnm.served;
      row.fnm = fnm;
      await quiet(agent);
      rows.push(row);
    }
  } finally {
    // Kept with the bench's directory (BENCH_KEEP_TMP=1): what the agent said, to explain a figure.
    fs.writeFileSync(path.join(dir, 'signature-agent.log'), agent.logs().join('\n'));
    await agent.stop().catch(() => undefined);
    // The agent's rules and the synproxy setting live in the victim namespace: the lab goes with them.
  }
  return rows;
}

const pct = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(x >= 0.9995 || x < 0.001 ? 1 : 1)}%`);
const servedText = (s: Served | undefined) => (s ? `${s.ok}/${s.total} (${pct(s.total ? s.ok / s.total : undefined)})` : '–');

/** The mitigation columns of one flood row: time to rule, share dropped, benign served, CPU of the rules. */
export function mitigationCells(r: FloodRow): { timeToRule: string; share: string; served: string; cpu: string } {
  const m = median(r.ruleMs);
  return {
    timeToRule: r.ruleMs.length
      ? `${Math.round(m)} ms median (${r.ruleMs.length} runs, max ${Math.round(Math.max(...r.ruleMs))} ms; from hping3's spawn ${Math.round(median(r.ruleFromSpawnMs))} ms)`
      : 'no rule',
    share: r.share === undefined ? '–' : `${pct(r.share)} of ${Math.round((r.floodPps ?? 0) / 1000)}k pps, ${pct(r.shareAfterRule)} once the rule was in place (${r.applied ?? ''})`,
    served: `with ${servedText(r.served.with)}; without ${servedText(r.served.without)}; FastNetMon ${servedText(r.served.fnm)}`,
    cpu: r.cpuUs.with !== undefined && r.cpuUs.without !== undefined ? `${r.cpuUs.with.toFixed(2)} vs ${r.cpuUs.without.toFixed(2)} µs/pkt` : '–',
  };
}

/** Targets of issue 11 over the rows. */
export function mitigationTargets(rows: readonly FloodRow[]): string[] {
  const all = rows.flatMap((r) => r.ruleMs);
  const m = median(all);
  const shares = rows.map((r) => r.share ?? 0);
  const served = rows.map((r) => (r.served.with?.total ? r.served.with.ok / r.served.with.total : 0));
  return [
    `rule applied at a median ≤ 150 ms after the flood starts: ${Number.isFinite(m) ? `${Math.round(m)} ms over ${all.length} runs (${m <= 150 ? 'MET' : 'MISSED'})` : 'not measured'}`,
    `≥ 99% of flood packets dropped or limited: ${rows.map((r) => `${r.spec.vector} ${pct(r.share)}`).join(', ')} (${shares.every((s) => s >= 0.99) ? 'MET' : 'MISSED'})`,
    `≥ 99% of benign requests served: ${rows.map((r) => `${r.spec.vector} ${pct(r.served.with?.total ? r.served.with.ok / r.served.with.total : undefined)}`).join(', ')} (${served.every((s) => s >= 0.99) ? 'MET' : 'MISSED'})`,
  ];
}
