// Network namespaces joined by veth pairs, for tests that need real packets.
// Everything created here is deleted by destroy(), also after a failed test.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';

export interface NsPair {
  /** Namespace names. */
  a: string;
  b: string;
  /** Interface names inside each namespace. */
  ifA: string;
  ifB: string;
  ipA: string;
  ipB: string;
  destroy(): Promise<void>;
}

export const isRoot = () => process.getuid?.() === 0;

export async function run(cmd: string, args: string[]): Promise<string> {
  const r = await execa(cmd, args);
  return String(r.stdout);
}

export const inNs = (ns: string, cmd: string, args: string[]) => run('ip', ['netns', 'exec', ns, cmd, ...args]);

/**
 * Two namespaces A and B on one /24 over a veth pair. `prefix` names the
 * namespaces (`<prefix>-a-<tag>`) and devices (`<prefix>a<tag>`, at most 15 characters).
 */
export async function createNsPair(subnet = '10.201.0', prefix = 'fgt'): Promise<NsPair> {
  const tag = randomBytes(3).toString('hex');
  const a = `${prefix}-a-${tag}`;
  const b = `${prefix}-b-${tag}`;
  const ifA = `${prefix === 'fgt' ? 'fg' : prefix}a${tag}`;
  const ifB = `${prefix === 'fgt' ? 'fg' : prefix}b${tag}`;
  const destroy = async () => {
    await execa('ip', ['netns', 'del', a], { reject: false });
    await execa('ip', ['netns', 'del', b], { reject: false });
  };
  try {
    await run('ip', ['netns', 'add', a]);
    await run('ip', ['netns', 'add', b]);
    await run('ip', ['link', 'add', ifA, 'netns', a, 'type', 'veth', 'peer', 'name', ifB, 'netns', b]);
    await inNs(a, 'ip', ['addr', 'add', `${subnet}.1/24`, 'dev', ifA]);
    await inNs(b, 'ip', ['addr', 'add', `${subnet}.2/24`, 'dev', ifB]);
    for (const [ns, dev] of [[a, ifA], [b, ifB]] as const) {
      await inNs(ns, 'ip', ['link', 'set', dev, 'up']);
      await inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    // veth carrier comes up asynchronously; traffic sent before that is lost.
    for (let i = 0; i < 50; i++) {
      const state = await inNs(b, 'ip', ['-o', 'link', 'show', ifB]);
      if (!state.includes('NO-CARRIER')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return { a, b, ifA, ifB, ipA: `${subnet}.1`, ipB: `${subnet}.2`, destroy };
}
