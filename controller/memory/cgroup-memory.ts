// The cgroup memory reader, for a controller or agent that shares the host
// with the pods it watches (a node DaemonSet, or a test). cgroup v2:
// memory.current / memory.max; v1: memory.usage_in_bytes / memory.limit_in_bytes.
// "No limit" (v2 "max", v1's huge page-counter maximum) yields no percentage,
// where the seed computed usage/huge and so never fired.
import fs from 'node:fs/promises';
import path from 'node:path';
import { MemorySourceUnavailable, percentOf, type MemoryReading } from './memory-reading.js';

/** v1 reports "unlimited" as PAGE_COUNTER_MAX × page size, just under 2^63; anything this large means no limit. */
const V1_UNLIMITED = 2 ** 62;

export interface CgroupMemory {
  version: 1 | 2;
  usageBytes: number;
  limitBytes: number | null;
}

async function readNumberFile(file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function parseBytes(text: string, file: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${file}: expected a byte count, got "${text.slice(0, 40)}"`);
  return Number(text);
}

/** Read a cgroup directory of either version. */
export async function readCgroupMemory(dir: string): Promise<CgroupMemory> {
  const current = await readNumberFile(path.join(dir, 'memory.current'));
  if (current !== undefined) {
    const max = (await readNumberFile(path.join(dir, 'memory.max'))) ?? 'max';
    return {
      version: 2,
      usageBytes: parseBytes(current, 'memory.current'),
      limitBytes: max === 'max' ? null : parseBytes(max, 'memory.max'),
    };
  }
  const usage = await readNumberFile(path.join(dir, 'memory.usage_in_bytes'));
  if (usage !== undefined) {
    const limitText = (await readNumberFile(path.join(dir, 'memory.limit_in_bytes'))) ?? '';
    const limit = limitText ? parseBytes(limitText, 'memory.limit_in_bytes') : null;
    return {
      version: 1,
      usageBytes: parseBytes(usage, 'memory.usage_in_bytes'),
      limitBytes: limit === null || limit >= V1_UNLIMITED ? null : limit,
    };
  }
  throw new MemorySourceUnavailable(`${dir} has neither memory.current (cgroup v2) nor memory.usage_in_bytes (cgroup v1)`);
}

/**
 * Where a pod's cgroup lives on a node, for the kubelet's cgroupfs and systemd
 * drivers, v1 and v2. Returns the first directory that exists.
 */
export async function findPodCgroup(podUid: string, qosClass: string, root = '/sys/fs/cgroup'): Promise<string | undefined> {
  const uidDash = podUid;
  const uidUnderscore = podUid.replace(/-/g, '_');
  const qos = qosClass.toLowerCase();
  const cgroupfsQos = qos === 'guaranteed' ? '' : qos;
  const systemdQos = qos === 'guaranteed' ? '' : `kubepods-${qos}.slice/`;
  const systemdPod = qos === 'guaranteed' ? `kubepods-pod${uidUnderscore}.slice` : `kubepods-${qos}-pod${uidUnderscore}.slice`;
  const candidates = [
    // cgroup v2 (unified)
    path.join(root, 'kubepods', cgroupfsQos, `pod${uidDash}`),
    path.join(root, 'kubepods.slice', systemdQos, systemdPod),
    // cgroup v1 memory hierarchy
    path.join(root, 'memory', 'kubepods', cgroupfsQos, `pod${uidDash}`),
    path.join(root, 'memory', 'kubepods.slice', systemdQos, systemdPod),
  ];
  for (const dir of candidates) {
    try {
      await fs.access(dir);
      return dir;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export async function cgroupReading(pod: string, dir: string, now = new Date()): Promise<MemoryReading> {
  const m = await readCgroupMemory(dir);
  return {
    pod,
    usageBytes: m.usageBytes,
    limitBytes: m.limitBytes,
    percent: percentOf(m.usageBytes, m.limitBytes),
    source: 'cgroup',
    at: now.toISOString(),
  };
}
