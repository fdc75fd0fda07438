// The interface of the default route: where a host agent should listen
// unless told otherwise. Never a hard-coded name like en0 or eth0.
import fs from 'node:fs';
import { execa } from 'execa';
import type { CaptureInterface } from './binding.js';

/** Parse /proc/net/route: the interface whose destination is 0.0.0.0 with the lowest metric. */
export function defaultInterfaceFromProcRoute(text: string): string | undefined {
  let best: { iface: string; metric: number } | undefined;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000') continue;
    const metric = Number(f[6]);
    if (!best || metric < best.metric) best = { iface: f[0]!, metric };
  }
  return best?.iface;
}

/** Parse macOS `route -n get default` output ("interface: en0"). */
export function defaultInterfaceFromRouteGet(text: string): string | undefined {
  return /^\s*interface:\s*(\S+)/m.exec(text)?.[1];
}

export async function defaultInterface(
  fallback: () => Pick<CaptureInterface, 'name' | 'loopback' | 'up'>[] = () => [],
): Promise<string> {
  if (process.platform === 'linux') {
    try {
      const found = defaultInterfaceFromProcRoute(fs.readFileSync('/proc/net/route', 'utf8'));
      if (found) return found;
    } catch {
      /* no procfs: fall through */
    }
  } else if (process.platform === 'darwin') {
    const r = await execa('route', ['-n', 'get', 'default'], { reject: false });
    const found = r.exitCode === 0 ? defaultInterfaceFromRouteGet(String(r.stdout)) : undefined;
    if (found) return found;
  }
  const up = fallback().find((i) => i.up && !i.loopback);
  if (up) return up.name;
  throw new Error('no default route and no up non-loopback interface: pass --interface');
}
