// Small helpers of the controller bench: progress lines (stderr), statistics,
// env knobs, /proc readings of a process (RSS, peak RSS, CPU time) and a
// registry of what the bench started, so teardown ends exactly those.
export { envNumber, fmtS, log, max, median, met, min, percentile, seededRandom, sleep } from '../bench-util.js';
import { log } from '../bench-util.js';
import fs from 'node:fs';
import net from 'node:net';


export const fmtMB = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1048576).toFixed(1)} MB` : 'n/a');

/** A free TCP port on 127.0.0.1 (closed again at once; fine for a bench). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface ProcMemory {
  /** VmRSS, bytes. */
  rss: number;
  /** VmHWM (peak RSS over the process's life), bytes. */
  hwm: number;
}

export function procMemory(pid: number): ProcMemory | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const CLK_TCK = 100; // Linux USER_HZ on every mainstream arch

/** utime + stime of a process, milliseconds (undefined when it is gone). */
export function procCpuMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" closing comm: state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function loadAvg(): string {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

/** Things the bench started, each with its own stop; teardown runs them newest first. */
const cleanups: { label: string; fn: () => Promise<void> }[] = [];

export function onTeardown(label: string, fn: () => Promise<void>): () => void {
  const entry = { label, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

export async function runTeardown(): Promise<void> {
  while (cleanups.length) {
    const c = cleanups.pop()!;
    log(`teardown: ${c.label}`);
    await c.fn().catch((err: unknown) => log(`teardown: ${c.label} failed: ${(err as Error).message}`));
  }
}
