// Replaying a generated capture into a lab's victim: the scenario's victim
// (10.10.10.10) is rewritten to the lab victim's address and every frame's
// destination MAC to the victim's (tcprewrite), then tcpreplay sends the file
// from the attacker namespace at the capture's own timing. The victim's own
// replies in the file keep it as their source, so the victim's capture sees
// them as outbound, as it would have.
import { execa } from 'execa';
import type { Lab } from './lab-network.js';
import { VICTIM as SCENARIO_VICTIM } from '../gen/scenarios.js';

export async function requireReplayTools(): Promise<string | undefined> {
  for (const tool of ['tcpreplay', 'tcprewrite']) {
    const r = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
    if (r.exitCode !== 0) return `${tool} is not installed (Debian: apt-get install tcpreplay)`;
  }
  return undefined;
}

export async function macOf(lab: Lab, ns: string, dev: string): Promise<string> {
  const r = await lab.exec(ns, 'ip', ['-j', 'link', 'show', dev]);
  const mac = (JSON.parse(r.stdout) as { address?: string }[])[0]?.address;
  if (!mac) throw new Error(`no MAC on ${dev} in ${ns}`);
  return mac;
}

/**
 * Rewrite a scenario capture for the lab: victim address and MAC, checksums
 * fixed, and frames cut by a short snaplen padded back to their length (the
 * lab's bridge, like any IP stack, drops packets shorter than their IP
 * header says).
 */
export async function rewriteForLab(lab: Lab, input: string, output: string): Promise<void> {
  const mac = await macOf(lab, lab.victim.ns, lab.victim.dev);
  await execa('tcprewrite', [`--pnat=${SCENARIO_VICTIM}/32:${lab.victim.ip}/32`, `--enet-dmac=${mac}`, '--fixcsum', '--fixlen=pad', `--infile=${input}`, `--outfile=${output}`]);
}

export interface Replay {
  /** Date.now() just before tcpreplay was spawned. */
  startedAt: number;
  /** Packets tcpreplay reports sent, and how long it took. */
  sent: number;
  seconds: number;
}

/** Send a rewritten capture from the attacker namespace at its own timing (or as fast as possible). */
export async function replayIntoVictim(lab: Lab, file: string, opts: { topspeed?: boolean; maxSeconds?: number } = {}): Promise<Replay> {
  const args = ['-i', lab.attacker.dev, ...(opts.topspeed ? ['--topspeed'] : []), ...(opts.maxSeconds ? [`--duration=${opts.maxSeconds}`] : []), file];
  const startedAt = Date.now();
  const r = await lab.exec(lab.attacker.ns, 'tcpreplay', args, { timeoutMs: 120_000 });
  const sent = Number(/Actual: (\d+) packets/.exec(r.stdout)?.[1] ?? NaN);
  const seconds = Number(/packets \(\d+ bytes\) sent in ([\d.]+) seconds/.exec(r.stdout)?.[1] ?? NaN);
  return { startedAt, sent, seconds };
}
