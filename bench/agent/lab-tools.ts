// Lab plumbing for the agent bench: waiting until the shared lab namespaces
// are free, floods from the attacker namespace, interface counters, raw curl
// calls to the agent (for bodies too large for an argv and for /metrics,
// which is text, not JSON), and nft helpers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Lab } from '../../test/lab/lab-network.js';
import { startLabAgent, type LabAgent, type LabAgentOptions } from '../../test/lab/lab-agent.js';
import { parseSetElements } from '../../agent/firewall/nft-backend.js';
import { log, register, sleep, track } from './util.js';

/** Namespaces of the shared lab (`<prefix>-...`) currently present. */
export async function labNamespaces(prefix: string): Promise<string[]> {
  const r = await execa('ip', ['netns', 'list'], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Another engineer's lab run uses the same names: wait (20 s steps) until none exist. */
export async function waitForFreeLab(prefix: string, maxWaitSeconds: number): Promise<void> {
  const deadline = Date.now() + maxWaitSeconds * 1000;
  for (;;) {
    const busy = await labNamespaces(prefix);
    if (busy.length === 0) return;
    if (Date.now() > deadline) throw new Error(`lab namespaces still in use after ${maxWaitSeconds} s: ${busy.join(', ')}`);
    log(`lab busy (${busy.join(', ')}): waiting 20 s`);
    await sleep(20_000);
  }
}

/** Inode of /run/netns/<ns>: changes if someone else deletes and recreates the lab under us. */
export function netnsIdentity(ns: string): number | undefined {
  try {
    return fs.statSync(path.join('/run/netns', ns)).ino;
  } catch {
    return undefined;
  }
}

export interface LinkCounters {
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
}

export async function linkCounters(lab: Lab, ns: string, dev: string): Promise<LinkCounters> {
  const r = await lab.exec(ns, 'ip', ['-s', '-j', 'link', 'show', dev]);
  const link = (JSON.parse(r.stdout) as { stats64: { rx: { packets: number; dropped: number }; tx: { packets: number } } }[])[0];
  if (!link) throw new Error(`no link ${dev} in ${ns}`);
  return { rxPackets: link.stats64.rx.packets, rxDropped: link.stats64.rx.dropped, txPackets: link.stats64.tx.packets };
}

export interface Flood {
  /** Date.now() taken right before hping3 was spawned. */
  startedAt: number;
  child: ResultPromise;
  /** Ends the flood (SIGINT to `timeout`, which passes it to hping3) and waits for it. */
  stop(): Promise<void>;
  /** hping3's "N packets transmitted" once it has exited. */
  transmitted(): Promise<number | undefined>;
}

/** hping3 in the attacker namespace, bounded by `timeout` (SIGINT, then SIGKILL 2 s later). */
export function startFlood(lab: Lab, hpingArgs: string[], maxSeconds: number): Flood {
  const startedAt = Date.now();
  const child = execa(
    'ip',
    ['netns', 'exec', lab.attacker.ns, 'timeout', '-k', '2', '-s', 'INT', String(maxSeconds), 'hping3', ...hpingArgs],
    { reject: false, all: true },
  );
  const stop = async () => {
    if (child.exitCode === null || child.exitCode === undefined) child.kill('SIGINT');
    await child;
  };
  track('hping3 flood', child, stop);
  return {
    startedAt,
    child,
    stop,
    async transmitted() {
      const r = await child;
      const m = /(\d+) packets transmitted/.exec(String(r.all ?? ''));
      return m ? Number(m[1]) : undefined;
    },
  };
}

/** startLabAgent, registered so an interrupted bench stops the agent before destroying the lab. */
export async function startAgent(lab: Lab, opts: LabAgentOptions): Promise<LabAgent> {
  const agent = await startLabAgent(lab, opts);
  const pid = agent.pid();
  if (pid === undefined) return agent;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    unregister();
    const killer = setTimeout(() => void agent.stop('SIGKILL'), 15_000);
    try {
      await agent.stop(signal);
    } finally {
      clearTimeout(killer);
    }
  };
  const unregister = register('floodgate agent', pid, () => stop());
  return { ...agent, stop };
}

/** The victim's eth0 must go quiet: no flood left running from a previous run. */
export async function ensureQuiet(lab: Lab): Promise<void> {
  for (let i = 0; i < 25; i++) {
    const a = await linkCounters(lab, lab.victim.ns, lab.victim.dev);
    await sleep(300);
    const b = await linkCounters(lab, lab.victim.ns, lab.victim.dev);
    if (b.rxPackets - a.rxPackets < 30) return;
  }
  throw new Error('the victim still receives traffic 10 s after the flood was stopped');
}

/** Victim-side drop of the flooded port in its own table, so the victim sends no RSTs (FastNetMon would see in = out). */
export async function addPortDrop(lab: Lab): Promise<void> {
  await lab.exec(lab.victim.ns, 'nft', [
    'add table inet fnm; add chain inet fnm input { type filter hook input priority 0; policy accept; }; flush chain inet fnm input; add rule inet fnm input tcp dport 80 drop',
  ]);
}

/** Elements of an nft set inside a namespace (empty when the set does not exist). */
export async function setElements(lab: Lab, ns: string, family: string, table: string, set: string): Promise<string[]> {
  const r = await lab.exec(ns, 'nft', ['-j', 'list', 'set', family, table, set], { reject: false });
  if (r.exitCode !== 0) return [];
  return parseSetElements(r.stdout).map((e) => e.cidr);
}

export async function dropFloodgateTable(lab: Lab): Promise<void> {
  await lab.exec(lab.victim.ns, 'nft', ['add table inet floodgate; delete table inet floodgate']);
}

/**
 * curl the agent from inside its namespace. Unlike LabAgent.api() this takes
 * the body from a file (10,000 bans are ~600 kB, over Linux's 128 kB limit for
 * one argv string) and returns the raw text (/metrics is not JSON).
 */
export async function agentCurl(
  lab: Lab,
  ns: string,
  agent: LabAgent,
  method: string,
  urlPath: string,
  bodyFile?: string,
): Promise<{ status: number; text: string }> {
  const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, '-H', `Authorization: Bearer ${agent.token}`];
  if (bodyFile) args.push('-H', 'Content-Type: application/json', '--data-binary', `@${bodyFile}`);
  args.push(`http://127.0.0.1:${agent.port}${urlPath}`);
  const r = await lab.exec(ns, 'curl', args, { reject: false });
  const idx = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(idx + 1)), text: r.stdout.slice(0, idx) };
}

/** Sum of every sample of a metric family in Prometheus text (all label sets). */
export function metricSum(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) total += Number(m[3]);
  }
  return total;
}

/** Sum of the samples of `name` whose label set contains every one of `parts`. */
export function metricWhere(text: string, name: string, parts: string[]): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name && parts.every((p) => (m[2] ?? '').includes(p))) total += Number(m[3]);
  }
  return total;
}

export function metricSample(text: string, name: string, labels: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{${labels}} `)) return Number(line.split(' ').at(-1));
  }
  return 0;
}

const tmpDirs: string[] = [];

/** A scratch directory under the OS temp dir, removed by removeTmpDirs() (kept with BENCH_KEEP_TMP=1). */
export function tmpDir(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fgbench-${tag}-`));
  tmpDirs.push(dir);
  return dir;
}

export function removeTmpDirs(): void {
  if (process.env.BENCH_KEEP_TMP === '1') return;
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export function vmRssMB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
