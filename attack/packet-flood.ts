// SYN, UDP and ICMP floods through hping3 (an argv array, never a shell).
// hping3 prints nothing while flooding, so the progress line reads the
// transmit counter of the interface the route to the target uses; the
// summary takes hping3's own "N packets transmitted" when it is stopped.
import fs from 'node:fs/promises';
import { execa } from 'execa';
import type { PacketFloodOptions } from './options.js';

export interface PacketProgress {
  elapsedSeconds: number;
  /** Interface transmit packets in the last second (all traffic on that interface). */
  txPackets: number;
  dev: string | undefined;
}

export interface PacketFloodSummary {
  kind: PacketFloodOptions['kind'];
  target: string;
  address: string;
  port: number | null;
  mode: string;
  /** The --rate asked for; null with --flood. */
  requestedPps: number | null;
  randSource: boolean;
  durationSeconds: number;
  /** hping3's counts. */
  transmitted: number;
  received: number;
  packetsPerSecond: number;
  /** Interface counter over the run, for comparison (includes other traffic). */
  interfaceTxPackets: number | null;
  dev: string | null;
  command: string[];
}

export interface RunningPacketFlood {
  stop(): void;
  done: Promise<PacketFloodSummary>;
}

/** The hping3 argv for a flood (without the binary). */
export function hping3Args(opts: PacketFloodOptions, address: string): string[] {
  const args = ['-q'];
  if (opts.kind === 'syn') args.push('-S', '-p', String(opts.port));
  else if (opts.kind === 'udp') args.push('-2', '-p', String(opts.port));
  else args.push('-1');
  if (opts.flood) args.push('--flood');
  else args.push('-i', `u${Math.max(1, Math.round(1_000_000 / (opts.rate ?? 1000)))}`);
  if (opts.randSource) args.push('--rand-source');
  args.push(address);
  return args;
}

/** Sent and received counts from hping3's closing statistics. */
export function parseHping3Stats(output: string): { transmitted: number; received: number } | undefined {
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(output);
  return m ? { transmitted: Number(m[1]), received: Number(m[2]) } : undefined;
}

async function routeDevice(address: string): Promise<string | undefined> {
  const r = await execa('ip', ['-j', 'route', 'get', address], { reject: false });
  try {
    return (JSON.parse(r.stdout) as { dev?: string }[])[0]?.dev;
  } catch {
    return undefined;
  }
}

/** Transmit packets of a device in this process's network namespace (/proc/net/dev). */
export async function txPackets(dev: string): Promise<number | undefined> {
  const text = await fs.readFile('/proc/net/dev', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, rest] = line.split(':');
    if (name?.trim() !== dev || !rest) continue;
    const f = rest.trim().split(/\s+/).map(Number);
    return f[9]; // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets ...
  }
  return undefined;
}

export function startPacketFlood(opts: PacketFloodOptions, target: string, address: string, onProgress?: (p: PacketProgress) => void): RunningPacketFlood {
  const args = hping3Args(opts, address);
  const child = execa('hping3', args, { reject: false, stdin: 'ignore', all: true });
  const started = Date.now();
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGINT'); // hping3 prints its statistics on SIGINT
  };
  const timer = setTimeout(stop, opts.duration * 1000);

  const done = (async (): Promise<PacketFloodSummary> => {
    const dev = await routeDevice(address);
    const tx0 = dev ? await txPackets(dev) : undefined;
    let last = tx0;
    const ticker = setInterval(async () => {
      const now = dev ? await txPackets(dev) : undefined;
      onProgress?.({ elapsedSeconds: Math.round((Date.now() - started) / 1000), txPackets: now !== undefined && last !== undefined ? now - last : 0, dev });
      last = now;
    }, 1000);
    const r = await child;
    clearTimeout(timer);
    clearInterval(ticker);
    const tx1 = dev ? await txPackets(dev) : undefined;
    const output = String(r.all ?? '');
    if (r.exitCode === undefined) {
      throw new Error(/ENOENT/.test(String(r.message)) ? 'hping3 is not installed (apt-get install hping3)' : `hping3 did not start: ${String(r.shortMessage)}`);
    }
    const stats = parseHping3Stats(output);
    if (!stats) {
      const why = output.trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${r.exitCode}`;
      throw new Error(`hping3 failed: ${why}${/permitted|permission/i.test(why) ? ' (raw sockets need root or CAP_NET_RAW)' : ''}`);
    }
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    return {
      kind: opts.kind,
      target,
      address,
      port: opts.port ?? null,
      mode: opts.flood ? 'flood' : `${opts.rate} pps`,
      requestedPps: opts.flood ? null : (opts.rate ?? null),
      randSource: opts.randSource,
      durationSeconds: Number(seconds.toFixed(2)),
      transmitted: stats.transmitted,
      received: stats.received,
      packetsPerSecond: Math.round(stats.transmitted / seconds),
      interfaceTxPackets: tx0 !== undefined && tx1 !== undefined ? tx1 - tx0 : null,
      dev: dev ?? null,
      command: ['hping3', ...args],
    };
  })();
  // If hping3 cannot start, fail instead of waiting for the timer.
  done.catch(() => clearTimeout(timer));
  return { stop, done };
}
