// npm run bench:flood-capture — capture at flood rates: trafgen (Debian
// netsniff-ng) sends a spoofed-source UDP flood of 64-byte frames as fast as
// it can on one CPU over a veth pair into a capture namespace, where either
// the real floodgate agent or FastNetMon 1.2.4 listens. Alternating rounds,
// one capturer at a time (this machine has two cores: trafgen takes one),
// the same traffic for both. Reported per capturer: the rate reached, the
// packets lost between the interface and the capturer, and the capturer's CPU
// time per packet (all its threads, from /proc/<pid>/stat).
//
// Loss: floodgate's processed packets (its /metrics) against the capture
// interface's rx counter; FastNetMon has no packet totals, so its loss is
// taken from the incoming rate it reports each second against the
// interface's. Holds two namespaces for ~2 minutes: run it under
// flock /tmp/floodgate-heavy.lock on a shared machine.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { Lab } from '../test/lab/lab-network.js';
import { startLabAgent, type LabAgent } from '../test/lab/lab-agent.js';
import { ensureFastnetmon, startFastnetmon, writeFnmConfig } from './agent/fastnetmon.js';
import { envNumber, log, median, sleep } from './bench-util.js';

const PREFIX = 'fgdfc';
const GEN_NS = `${PREFIX}-gen`;
const CAP_NS = `${PREFIX}-cap`;
const GEN_DEV = 'fgdfcg';
const CAP_DEV = 'fgdfcc';
const CAP_IP = '10.95.0.10';
const SECONDS = envNumber('BENCH_FLOOD_SECONDS', 8, 2);
const ROUNDS = envNumber('BENCH_ROUNDS', 3, 1);

async function sh(args: string[]): Promise<string> {
  return String((await execa(args[0]!, args.slice(1))).stdout);
}

async function destroy(): Promise<void> {
  for (const ns of [GEN_NS, CAP_NS]) await execa('ip', ['netns', 'del', ns], { reject: false });
}

async function create(): Promise<string> {
  await destroy();
  await sh(['ip', 'netns', 'add', GEN_NS]);
  await sh(['ip', 'netns', 'add', CAP_NS]);
  await sh(['ip', 'link', 'add', GEN_DEV, 'netns', GEN_NS, 'type', 'veth', 'peer', 'name', CAP_DEV, 'netns', CAP_NS]);
  for (const [ns, dev] of [[GEN_NS, GEN_DEV], [CAP_NS, CAP_DEV]] as const) {
    await sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  await sh(['ip', '-n', CAP_NS, 'addr', 'add', `${CAP_IP}/24`, 'dev', CAP_DEV]);
  await sh(['ip', '-n', GEN_NS, 'addr', 'add', '10.95.0.66/24', 'dev', GEN_DEV]);
  await sleep(500);
  const link = JSON.parse(await sh(['ip', '-n', CAP_NS, '-j', 'link', 'show', CAP_DEV])) as { address: string }[];
  return link[0]!.address;
}

/** The two-namespace setup as the Lab the agent helpers expect (exec only). */
const lab = {
  victim: { ns: CAP_NS, dev: CAP_DEV, ip: CAP_IP },
  async exec(ns: string, cmd: string, args: string[], opts: { reject?: boolean; timeoutMs?: number } = {}) {
    const r = await execa('ip', ['netns', 'exec', ns, cmd, ...args], { reject: opts.reject ?? true, timeout: opts.timeoutMs });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
  },
} as unknown as Lab;

async function rxPackets(): Promise<number> {
  const j = JSON.parse(await sh(['ip', '-n', CAP_NS, '-s', '-j', 'link', 'show', CAP_DEV])) as { stats64: { rx: { packets: number } } }[];
  return j[0]!.stats64.rx.packets;
}

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks (USER_HZ 100)
}

/** trafgen for SECONDS on one CPU, as fast as it can or at `pps`; returns the packets it reports sent. */
async function flood(conf: string, pps?: number): Promise<number> {
  const rate = pps ? ['--rate', `${Math.round(pps)}pps`] : [];
  const r = await execa('ip', ['netns', 'exec', GEN_NS, 'timeout', '-s', 'INT', String(SECONDS), 'trafgen', '--dev', GEN_DEV, '--conf', conf, '--cpus', '1', ...rate], { reject: false, all: true });
  return Number(/(\d+) packets outgoing/.exec(String(r.all))?.[1] ?? NaN);
}

interface Measure {
  pps: number;
  rx: number;
  captured: number;
  lossPct: number;
  cpuNsPerPacket: number;
}

async function metrics(agent: LabAgent): Promise<string> {
  const r = await lab.exec(CAP_NS, 'curl', ['-s', '-H', `Authorization: Bearer ${agent.token}`, `http://127.0.0.1:${agent.port}/metrics`]);
  return r.stdout;
}

const metricSum = (text: string, name: string) =>
  text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);

async function measureFloodgate(conf: string, dir: string, pps?: number): Promise<Measure> {
  const agent = await startLabAgent(lab, { ns: CAP_NS, dev: CAP_DEV, backend: 'dry-run', stateDir: fs.mkdtempSync(path.join(dir, 'agent-')), autoDefense: true, config: { logLevel: 'warn' } });
  try {
    await sleep(1000);
    const pid = agent.pid()!;
    const m0 = await metrics(agent);
    const rx0 = await rxPackets();
    const c0 = cpuSeconds(pid);
    const t0 = Date.now();
    await flood(conf, pps);
    const seconds = (Date.now() - t0) / 1000;
    await sleep(1000); // the last slots reach the counters
    const rx = (await rxPackets()) - rx0;
    const cpu = cpuSeconds(pid) - c0;
    const m1 = await metrics(agent);
    const captured = metricSum(m1, 'floodgate_packets_total') - metricSum(m0, 'floodgate_packets_total');
    return { pps: rx / seconds, rx, captured, lossPct: rx > 0 ? (Math.max(0, rx - captured) / rx) * 100 : NaN, cpuNsPerPacket: (cpu / Math.max(1, captured)) * 1e9 };
  } finally {
    await agent.stop();
  }
}

async function measureFastnetmon(conf: string, dir: string, run: number, rate?: number): Promise<Measure> {
  const setup = writeFnmConfig(fs.mkdtempSync(path.join(dir, 'fnm-')), CAP_IP, CAP_DEV, { threshold_pps: 100_000_000, threshold_mbps: 100_000, ban_for_pps: 'off', ban_for_bandwidth: 'off' });
  const fnm = await startFastnetmon(lab, CAP_NS, setup, run);
  try {
    await sleep(1000);
    const rx0 = await rxPackets();
    const c0 = cpuSeconds(fnm.pid!);
    const t0 = Date.now();
    // Its own view of the incoming rate, once a second while the flood runs.
    const seen: number[] = [];
    let done = false;
    const sampler = (async () => {
      while (!done) {
        await sleep(1000);
        const text = fs.existsSync(path.join(setup.dir, 'fastnetmon.dat')) ? fs.readFileSync(path.join(setup.dir, 'fastnetmon.dat'), 'utf8') : '';
        const incoming = Number(/Incoming traffic\s+(\d+) pps/.exec(text)?.[1] ?? NaN);
        if (Number.isFinite(incoming) && incoming > 0) seen.push(incoming);
      }
    })();
    await flood(conf, rate);
    done = true;
    await sampler;
    const seconds = (Date.now() - t0) / 1000;
    const rx = (await rxPackets()) - rx0;
    const cpu = cpuSeconds(fnm.pid!) - c0;
    // Steady seconds only (the first and last are partial).
    const steady = seen.slice(1, -1);
    const reported = steady.length ? median(steady) : NaN;
    const pps = rx / seconds;
    const captured = Number.isFinite(reported) ? Math.min(rx, reported * seconds) : NaN;
    return { pps, rx, captured, lossPct: Number.isFinite(reported) ? Math.max(0, (1 - reported / pps) * 100) : NaN, cpuNsPerPacket: (cpu / Math.max(1, Number.isFinite(captured) ? captured : rx)) * 1e9 };
  } finally {
    await fnm.stop();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  for (const tool of ['trafgen', 'curl']) {
    if ((await execa('sh', ['-c', `command -v ${tool}`], { reject: false })).exitCode !== 0) throw new Error(`${tool} is not installed (Debian: apt-get install netsniff-ng curl)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fgbench-flood-'));
  const fg: Measure[] = [];
  const fnm: Measure[] = [];
  const fgFixed: Measure[] = [];
  const fnmFixed: Measure[] = [];
  let fixedPps = envNumber('BENCH_FLOOD_FIXED_PPS', 0, 0);
  const fnmState = await ensureFastnetmon();
  try {
    const mac = await create();
    // 64-byte frames (60 + FCS): UDP to the capture address from random (spoofed) sources and ports.
    const conf = path.join(dir, 'flood.cfg');
    fs.writeFileSync(conf, `{ eth(daddr=${mac}), ipv4(daddr=${CAP_IP}, saddr=drnd(), ttl=64), udp(sport=drnd(), dport=80), fill(0x00, 18) }\n`);
    const show = (m: Measure) => `${Math.round(m.pps)} pps, loss ${m.lossPct.toFixed(3)}%, ${m.cpuNsPerPacket.toFixed(0)} ns CPU/packet`;
    // Phase 1: as fast as trafgen goes beside each capturer (the capture's softirq work shares the sender's CPU on veth).
    for (let r = 1; r <= ROUNDS; r++) {
      log(`max rate, round ${r}/${ROUNDS}: floodgate agent`);
      fg.push(await measureFloodgate(conf, dir));
      log(`  ${show(fg.at(-1)!)}`);
      if (fnmState.ok) {
        log(`max rate, round ${r}/${ROUNDS}: FastNetMon ${fnmState.version}`);
        fnm.push(await measureFastnetmon(conf, dir, r));
        log(`  ${show(fnm.at(-1)!)}`);
      }
    }
    // Phase 2: one fixed rate both reach, so CPU per packet compares like for like.
    if (!fixedPps) fixedPps = 0.8 * Math.min(median(fg.map((m) => m.pps)), fnm.length ? median(fnm.map((m) => m.pps)) : Infinity);
    for (let r = 1; r <= ROUNDS; r++) {
      log(`${Math.round(fixedPps)} pps, round ${r}/${ROUNDS}: floodgate agent`);
      fgFixed.push(await measureFloodgate(conf, dir, fixedPps));
      log(`  ${show(fgFixed.at(-1)!)}`);
      if (fnmState.ok) {
        log(`${Math.round(fixedPps)} pps, round ${r}/${ROUNDS}: FastNetMon`);
        fnmFixed.push(await measureFastnetmon(conf, dir, 100 + r, fixedPps));
        log(`  ${show(fnmFixed.at(-1)!)}`);
      }
    }
  } finally {
    await destroy();
    if (process.env.BENCH_KEEP_TMP !== '1') fs.rmSync(dir, { recursive: true, force: true });
  }
  const med = (xs: Measure[], k: keyof Measure) => median(xs.map((x) => x[k]));
  const row = (name: string, xs: Measure[]) =>
    xs.length ? `| ${name} | ${Math.round(med(xs, 'pps')).toLocaleString('en-US')} | ${med(xs, 'lossPct').toFixed(3)}% | ${Math.round(med(xs, 'cpuNsPerPacket'))} ns | ${xs.map((x) => `${Math.round(x.pps / 1000)}k/${x.lossPct.toFixed(2)}%/${Math.round(x.cpuNsPerPacket)}ns`).join(', ')} |` : `| ${name} | not run${fnmState.ok ? '' : `: ${fnmState.why}`} | | | |`;
  const fgCpu = med(fgFixed, 'cpuNsPerPacket');
  const fnmCpu = fnmFixed.length ? med(fnmFixed, 'cpuNsPerPacket') : NaN;
  const fgPps = med(fg, 'pps');
  const lossFree = fg.every((m) => m.lossPct === 0) && fgFixed.every((m) => m.lossPct === 0);
  const lines = [
    `## bench:flood-capture — trafgen 64-byte UDP flood from random sources over veth, ${SECONDS} s per run, median of ${ROUNDS} alternating rounds`,
    '',
    '| capturer | rate reached (pps) | loss | CPU per packet | rounds (rate/loss/CPU) |',
    '|---|---:|---:|---:|---|',
    row('floodgate agent, trafgen as fast as it goes', fg),
    row('FastNetMon 1.2.4, trafgen as fast as it goes', fnm),
    row(`floodgate agent, trafgen at ${Math.round(fixedPps).toLocaleString('en-US')} pps`, fgFixed),
    row(`FastNetMon 1.2.4, trafgen at ${Math.round(fixedPps).toLocaleString('en-US')} pps`, fnmFixed),
    '',
    `generator ceiling beside the floodgate agent: ${Math.round(fgPps).toLocaleString('en-US')} pps (trafgen alone on this veth pair reaches ~500k; on veth the receiver's softirq work runs on the sender's CPU)`,
    `0 loss at ≥ 500,000 pps or at the generator's ceiling: ${lossFree ? 'MET' : 'MISSED'} (${fgPps >= 500_000 ? '≥ 500k pps' : 'at the generator ceiling'})`,
    `CPU per packet at the same rate, floodgate / FastNetMon: ${Number.isFinite(fnmCpu) ? (fgCpu / fnmCpu).toFixed(2) : 'n/a'} (target ≤ 1: ${Number.isFinite(fnmCpu) ? (fgCpu <= fnmCpu ? 'MET' : 'MISSED') : 'not measured'})`,
  ];
  console.log(lines.join('\n'));
}

main().catch(async (err) => {
  await destroy();
  console.error(`bench:flood-capture: ${(err as Error).message}`);
  process.exit(1);
});
