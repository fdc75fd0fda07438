// The controller bench's environment, all of it its own: a control plane in
// its own state dir (stopped and wiped at the end), the CRDs, a namespace, a
// real agent (dry-run backend) on a dummy interface so that its capture sees
// no traffic, and the controller as a separate process through the CLI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { ensureControlPlane, stopControlPlane, type ControlPlane } from '../../test/control-plane/control-plane.js';
import { createMemoryCgroup, inCgroup, type MemoryCgroup } from './memory-cgroup.js';
import { freePort, log, onTeardown, readPidFile, sleep } from './util.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'floodgate.js');
export const KUBECTL = process.env.BENCH_KUBECTL || '/usr/bin/kubectl';

export interface BenchControlPlane extends ControlPlane {
  apiserverPid?: number;
  etcdPid?: number;
}

export async function kubectl(kubeconfig: string, args: string[], input?: string) {
  const r = await execa(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { input, reject: false, timeout: 120_000 });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

async function kubectlOk(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const r = await kubectl(kubeconfig, args, input);
  if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.split('\n').filter((l) => !/version skew|WARNING/i.test(l)).join(' ').trim()}`);
  return r.stdout;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `<stateDir>.owner` holds the pid of the bench run using stateDir: a second
 * run refuses to start (instead of wiping the first one's API server and
 * agent link); a stale file from a crashed run is taken over.
 */
function claimStateDir(stateDir: string): void {
  const owner = `${stateDir}.owner`;
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(owner, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number(fs.readFileSync(owner, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(`another bench:controller run (pid ${pid}) is using ${stateDir}: wait for it, or give this one BENCH_CP_STATE_DIR and BENCH_NS of its own`);
      }
      fs.rmSync(owner, { force: true }); // stale: its run is gone
    }
  }
  onTeardown(`release ${owner}`, async () => {
    if (fs.existsSync(owner) && fs.readFileSync(owner, 'utf8').trim() === String(process.pid)) fs.rmSync(owner, { force: true });
  });
}

/** Our own kube-apiserver + etcd in stateDir, with the CRDs; stopped and wiped at teardown. */
export async function startControlPlane(stateDir: string): Promise<BenchControlPlane> {
  // Always our own API server, never a cluster someone exported.
  delete process.env.KUBECONFIG;
  claimStateDir(stateDir);
  if (fs.existsSync(stateDir)) {
    log(`state dir ${stateDir} exists (a previous run did not finish?): stopping and wiping it first`);
    await stopControlPlane({ stateDir, wipe: true });
  }
  onTeardown(`stop and wipe the control plane in ${stateDir}`, () => stopControlPlane({ stateDir, wipe: true }));
  const cp = await ensureControlPlane({ stateDir });
  if (cp.external) throw new Error('expected our own control plane, got an external cluster');
  await kubectlOk(cp.kubeconfig, ['apply', '-f', path.join(ROOT, 'crds')]);
  await kubectlOk(cp.kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/defensepolicies.floodgate.dev', 'crd/blockevents.floodgate.dev']);
  return { ...cp, apiserverPid: readPidFile(path.join(stateDir, 'apiserver.pid')), etcdPid: readPidFile(path.join(stateDir, 'etcd.pid')) };
}

export interface BenchAgent {
  url: string;
  token: string;
  pid: number;
  iface: string;
  profileDir?: string;
  block(ip: string, durationSeconds: number, reason: string): Promise<{ status: number; body: unknown }>;
  count(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A veth pair with both ends in the root namespace and nothing sending on
 * it: the agent's capture sits on one end and sees no traffic (no flood is
 * needed here, and on lo it would capture all the API server traffic).
 */
async function captureInterface(name: string): Promise<{ iface: string; remove?: () => Promise<void> }> {
  const peer = `${name.slice(0, 13)}p`;
  await execa('ip', ['link', 'del', name], { reject: false });
  const add = await execa('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', peer], { reject: false });
  if (add.exitCode !== 0) {
    log(`cannot create veth ${name} (${String(add.stderr).trim()}): the agent captures on lo instead`);
    return { iface: 'lo' };
  }
  await execa('ip', ['addr', 'add', '10.79.250.1/30', 'dev', name], { reject: false });
  await execa('ip', ['link', 'set', name, 'up']);
  await execa('ip', ['link', 'set', peer, 'up']);
  return { iface: name, remove: async () => void (await execa('ip', ['link', 'del', name], { reject: false })) };
}

/**
 * The real agent (bin/floodgate.js agent), dry-run backend, as e2e-env's
 * startAgent, with two differences: the ban caps are raised (the default
 * maxActiveBans is exactly 10,000, and the bench holds 10,000 + BENCH_RUNS),
 * and its state dir is on tmpfs when there is one (it rewrites and fsyncs
 * its whole ban store on every new ban; we measure the controller here).
 */
export async function startBenchAgent(ifaceName: string, opts: { cpuProfileDir?: string } = {}): Promise<BenchAgent> {
  const { iface, remove } = await captureInterface(ifaceName);
  if (remove) onTeardown(`delete link ${iface}`, remove);
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'fgcbench-agent-'));
  onTeardown(`remove ${dir}`, async () => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const token = `controller-bench-token-${port}-${Math.random().toString(36).slice(2, 10)}`;
  fs.writeFileSync(path.join(dir, 'token'), token, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'agent.yaml'), 'bans:\n  maxActiveBans: 100000\n  maxNewBansPerMinute: 1000000\nlogLevel: warn\n');
  const nodeArgs = opts.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir] : [];
  const child: ResultPromise = execa(
    process.execPath,
    [...nodeArgs, BIN, 'agent', '--config', path.join(dir, 'agent.yaml'), '-i', iface, '--backend', 'dry-run', '--listen', `127.0.0.1:${port}`, '--state-dir', path.join(dir, 'state'), '--token-file', path.join(dir, 'token')],
    { reject: false, all: true, buffer: false },
  );
  let logTail = '';
  child.all!.on('data', (d: Buffer) => (logTail = (logTail + String(d)).slice(-4000)));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await child;
    clearTimeout(t);
  };
  onTeardown(`stop the agent (pid ${child.pid})`, stop);
  const url = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  for (let i = 0; ; i++) {
    const r = await fetch(`${url}/readyz`, { headers }).catch(() => undefined);
    if (r?.status === 200) break;
    if (i >= 150 || child.exitCode !== null) throw new Error(`agent not ready:\n${logTail}`);
    await sleep(100);
  }
  return {
    url,
    token,
    pid: child.pid!,
    iface,
    profileDir: opts.cpuProfileDir,
    async block(ip, durationSeconds, reason) {
      const res = await fetch(`${url}/v1/blocks`, { method: 'POST', headers, body: JSON.stringify({ ip, durationSeconds, reason }) });
      return { status: res.status, body: await res.json().catch(() => undefined) };
    },
    async count() {
      const res = await fetch(`${url}/v1/blocks`, { headers });
      return ((await res.json()) as { blocks: unknown[] }).blocks.length;
    },
    stop,
  };
}

export interface BenchController {
  pid: number;
  probeUrl: string;
  logFile: string;
  profileDir?: string;
  /** The memory cgroup it runs in (undefined: none, see memoryNote). */
  cgroup?: MemoryCgroup;
  /** How its memory was limited, for the report. */
  memoryNote: string;
  /** SIGTERM and wait (the CPU profile, if any, is written on exit). */
  stop(): Promise<void>;
}

export const IMAGES_DOCKERFILE = path.join(ROOT, 'images', 'Dockerfile');

/**
 * The node flags the controller image runs with: the ones between "node" and
 * the script in the ENTRYPOINT of the Dockerfile's `controller` stage (its
 * build target). The bench runs the controller with exactly these, so it
 * measures what a pod runs, never a bench-only tweak.
 */
export function controllerImageNodeFlags(dockerfile = IMAGES_DOCKERFILE): string[] {
  const lines = fs.readFileSync(dockerfile, 'utf8').split('\n');
  const from = lines.findIndex((l) => /^FROM\s+\S+\s+AS\s+controller\s*$/i.test(l));
  if (from < 0) throw new Error(`${dockerfile}: no "FROM ... AS controller" stage`);
  const next = lines.findIndex((l, i) => i > from && /^FROM\s/i.test(l));
  const line = lines.slice(from + 1, next < 0 ? undefined : next).find((l) => /^ENTRYPOINT\s+\[/.test(l));
  if (!line) throw new Error(`${dockerfile}: no ENTRYPOINT ["node", ...] line in the controller stage`);
  const argv = JSON.parse(line.replace(/^ENTRYPOINT\s+/, '')) as unknown;
  if (!Array.isArray(argv) || argv[0] !== 'node' || !argv.every((a) => typeof a === 'string')) throw new Error(`${dockerfile}: ENTRYPOINT is not ["node", ...]`);
  const script = argv.findIndex((a: string) => a.endsWith('floodgate.js'));
  if (script < 0) throw new Error(`${dockerfile}: ENTRYPOINT runs no floodgate.js`);
  return (argv as string[]).slice(1, script);
}

/**
 * `node bin/floodgate.js controller ...` as its own process, optionally under
 * --cpu-prof, and in a memory cgroup limited to memoryLimitBytes (as its pod's
 * memory limit; 0: none).
 */
export async function startControllerProcess(opts: { kubeconfig: string; leaseNamespace: string; workDir: string; cpuProfile: boolean; nodeArgs?: string[]; memoryLimitBytes?: number; cgroupName?: string; extraArgs?: string[] }): Promise<BenchController> {
  const probePort = await freePort();
  const logFile = path.join(opts.workDir, 'controller.log');
  const profileDir = opts.cpuProfile ? path.join(opts.workDir, 'cpu-profile') : undefined;
  const nodeArgs = [...(opts.nodeArgs ?? []), ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  let cgroup: MemoryCgroup | undefined;
  let memoryNote = 'no memory limit (V8 sizes its heap from the host\'s RAM)';
  if (opts.memoryLimitBytes) {
    const mib = Math.round(opts.memoryLimitBytes / 1048576);
    const made = createMemoryCgroup(opts.cgroupName ?? `floodgate-bench-controller-${process.pid}`, opts.memoryLimitBytes);
    if (typeof made === 'string') {
      memoryNote = `NOT limited: ${made} — V8 sized its heap from the host's RAM, unlike in a pod with a ${mib} MiB limit`;
      log(`memory limit: ${memoryNote}`);
    } else {
      cgroup = made;
      const cg = made;
      onTeardown(`remove memory cgroup ${cg.dir}`, () => cg.remove());
      memoryNote = `memory cgroup limited to ${mib} MiB (${cg.dir}), as a pod's resources.limits.memory`;
    }
  }
  const argv = [...nodeArgs, BIN, 'controller', '--kubeconfig', opts.kubeconfig, '--lease-namespace', opts.leaseNamespace, '--probe-port', String(probePort), '--memory-sources', 'cgroup', '--agent-url-allowlist', 'http://127.0.0.1:*', ...(opts.extraArgs ?? [])];
  // cgexec execs node in place: the child's pid is the controller's.
  const [file, args] = cgroup ? inCgroup(cgroup, process.execPath, argv) : [process.execPath, argv];
  const child: ResultPromise = execa(file, args, { reject: false, stdout: { file: logFile }, stderr: { file: `${logFile}.stderr` }, stdin: 'ignore' });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    const t = setTimeout(() => {
      log('controller did not exit within 20 s of SIGTERM: SIGKILL (no CPU profile then)');
      child.kill('SIGKILL');
    }, 20_000);
    await child;
    clearTimeout(t);
  };
  onTeardown(`stop the controller (pid ${child.pid})`, stop);
  const probeUrl = `http://127.0.0.1:${probePort}`;
  for (let i = 0; ; i++) {
    const leader = await fetch(`${probeUrl}/leader`)
      .then((r) => r.json() as Promise<{ self?: boolean }>)
      .catch(() => undefined);
    const ready = await fetch(`${probeUrl}/readyz`).then((r) => r.status === 200, () => false);
    if (ready && leader?.self) break;
    if (i >= 300 || child.exitCode !== null) {
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-3000) : '';
      throw new Error(`controller not ready and leading after ${i / 10} s:\n${tail}`);
    }
    await sleep(100);
  }
  if (cgroup && !cgroup.holds(child.pid!)) {
    memoryNote = `NOT limited: the controller (pid ${child.pid}) is not inside ${cgroup.dir}`;
    log(`memory limit: ${memoryNote}`);
  }
  return { pid: child.pid!, probeUrl, logFile, profileDir, cgroup, memoryNote, stop };
}
