// The controller's end-to-end environment: our own API server with the CRDs,
// a real agent in the root namespace capturing on a veth whose peer lives in
// an "attacker" namespace (so hping3 floods reach it), and kubectl.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { ControllerOptions } from '../../controller/controller.js';
import { ensureControlPlane, stopControlPlane, type ControlPlane } from '../control-plane/control-plane.js';

/** FLOODGATE_CP_STATE_DIR gives a run its own API server (parallel runs must not share one). */
export const STATE_DIR = process.env.FLOODGATE_CP_STATE_DIR || '/tmp/floodgate-cp-controller';
export const KUBECTL = 'kubectl';
const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = path.join(root, 'bin', 'floodgate.js');

export async function kubectl(kubeconfig: string, args: string[], input?: string) {
  const r = await execa(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { input, reject: false, timeout: 60_000 });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

/** kubectl against `kubeconfig` that resolves with stdout and throws with stderr when it fails. */
export function kubectlOrThrow(kubeconfig: () => string): (args: string[], input?: string) => Promise<string> {
  return async (args, input) => {
    const r = await kubectl(kubeconfig(), args, input);
    if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
}

/** Our API server with the CRDs established; other suites pass their own state dir so they never share one. */
export async function startApiServerWithCrds(stateDir = STATE_DIR): Promise<ControlPlane> {
  const cp = await ensureControlPlane({ stateDir });
  const r = await kubectl(cp.kubeconfig, ['apply', '-f', path.join(root, 'crds')]);
  if (r.exitCode !== 0) throw new Error(`kubectl apply crds: ${r.stderr}`);
  await kubectl(cp.kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/defensepolicies.floodgate.dev', 'crd/blockevents.floodgate.dev', 'crd/signaturerules.floodgate.dev']);
  return cp;
}

export async function stopApiServer(stateDir = STATE_DIR): Promise<void> {
  if (process.env.FLOODGATE_CP_KEEP === '1') return;
  await stopControlPlane({ stateDir, wipe: true });
}

export interface AttackerLink {
  ns: string;
  hostDev: string;
  hostIp: string;
  attackerIp: string;
  flood(seconds: number, args?: string[]): Promise<void>;
  destroy(): Promise<void>;
}

export interface AttackerLinkOptions {
  ns?: string;
  hostDev?: string;
  /** First three octets of the /24, e.g. "10.78.0". */
  subnet?: string;
}

/** A veth between the root namespace (<subnet>.1) and an attacker namespace (<subnet>.66). */
export async function createAttackerLink(opts: AttackerLinkOptions = {}): Promise<AttackerLink> {
  // FLOODGATE_E2E_NETNS / _HOSTDEV / _SUBNET: names of a parallel run's own.
  const ns = opts.ns ?? (process.env.FLOODGATE_E2E_NETNS || 'fgctl-attacker');
  const hostDev = opts.hostDev ?? (process.env.FLOODGATE_E2E_HOSTDEV || 'fgctl0');
  const subnet = opts.subnet ?? (process.env.FLOODGATE_E2E_SUBNET || '10.78.0');
  const hostIp = `${subnet}.1`;
  const attackerIp = `${subnet}.66`;
  const destroy = async () => {
    await execa('ip', ['netns', 'del', ns], { reject: false });
    await execa('ip', ['link', 'del', hostDev], { reject: false });
  };
  await destroy();
  await execa('ip', ['netns', 'add', ns]);
  await execa('ip', ['link', 'add', hostDev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await execa('ip', ['addr', 'add', `${hostIp}/24`, 'dev', hostDev]);
  await execa('ip', ['link', 'set', hostDev, 'up']);
  await execa('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${attackerIp}/24`, 'dev', 'eth0']);
  await execa('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'eth0', 'up']);
  await execa('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  for (let i = 0; i < 100; i++) {
    if (!String((await execa('ip', ['-o', 'link', 'show', hostDev])).stdout).includes('NO-CARRIER')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    ns,
    hostDev,
    hostIp,
    attackerIp,
    async flood(seconds, args = ['-S', '-p', '80', '--flood']) {
      await execa('ip', ['netns', 'exec', ns, 'timeout', String(seconds), 'hping3', ...args, hostIp], { reject: false });
    },
    destroy,
  };
}

export interface RunningAgent {
  url: string;
  token: string;
  api<T>(method: string, p: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/** The real agent (bin/floodgate.js agent), dry-run backend, on the given interface; `extraArgs` e.g. ['--auto-defense']. */
export async function startAgent(iface: string, port: number, extraArgs: string[] = []): Promise<RunningAgent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fgctl-agent-'));
  const token = `ctl-agent-token-${port}-abcdef`;
  fs.writeFileSync(path.join(dir, 'token'), token);
  const child: ResultPromise = execa(process.execPath, [bin, 'agent', '-i', iface, '--backend', 'dry-run', '--listen', `127.0.0.1:${port}`, '--state-dir', dir, '--token-file', path.join(dir, 'token'), ...extraArgs], { reject: false, all: true });
  let log = '';
  child.all!.on('data', (d: Buffer) => (log += String(d)));
  const url = `http://127.0.0.1:${port}`;
  const api = async <T,>(method: string, p: string, body?: unknown): Promise<T> => {
    const res = await fetch(url + p, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await res.json()) as T;
  };
  for (let i = 0; i < 150; i++) {
    const r = await fetch(`${url}/readyz`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
    if (r?.status === 200) break;
    if (i === 149) throw new Error(`agent not ready:\n${log}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    url,
    token,
    api,
    async stop() {
      child.kill('SIGTERM');
      await child;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll until fn returns a truthy value, or fail with the last value after timeoutMs. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** This process's own cgroup v1 memory directory, where the tests' pods' memory is read (undefined without one). */
export function ownMemoryCgroup(): string | undefined {
  const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l));
  const dir = line ? path.join('/sys/fs/cgroup/memory', line.split(':')[2]!) : undefined;
  return dir && fs.existsSync(path.join(dir, 'memory.usage_in_bytes')) ? dir : undefined;
}

/**
 * startController options the end-to-end tests share: a short lease (failover
 * in seconds), a minute of BlockEvent retention, pod memory from cgroups under
 * this process's own, quiet logs unless FLOODGATE_TEST_LOG is set, a fresh
 * metrics registry, and agents allowed on loopback. `extra` adds or overrides.
 */
export function e2eControllerOptions(kubeconfig: string, leaseNamespace: string, extra: Partial<ControllerOptions> = {}): ControllerOptions {
  return {
    kubeconfig,
    leaseNamespace,
    leaseDurationMs: 4000,
    renewDeadlineMs: 3000,
    retryPeriodMs: 500,
    retentionMs: 60_000,
    memorySources: ['cgroup'],
    cgroupRoot: ownMemoryCgroup(),
    logger: pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' }),
    registry: new Registry(),
    // The tests' agents listen on loopback.
    agentUrlAllowlist: ['http://127.0.0.1:*'],
    ...extra,
  };
}
