// The lab: network namespaces victim, attacker and client, each joined by a
// veth pair to a bridge in a router namespace, all on one /24 (10.77.0.0/24
// unless `subnet` says otherwise). Names carry a prefix so a host's own
// namespaces are never touched, and destroy() removes everything, also after
// a failure. Two labs with different prefixes coexist; with `hostLink` they
// also need different subnets, since the host side lives in the root namespace.
import { execa } from 'execa';

export interface LabHost {
  ns: string;
  /** Interface inside the namespace. */
  dev: string;
  ip: string;
}

export interface Lab {
  prefix: string;
  router: string;
  victim: LabHost;
  attacker: LabHost;
  client: LabHost;
  /** The root namespace's address on the bridge, when created with `hostLink`. */
  hostLinkIp?: string;
  /** Run a command inside a namespace. */
  exec(ns: string, cmd: string, args: string[], opts?: { reject?: boolean; timeoutMs?: number }): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  destroy(): Promise<void>;
}

const DEFAULT_SUBNET = '10.77.0';

async function sh(cmd: string, args: string[]): Promise<void> {
  await execa(cmd, args);
}

export async function destroyLab(prefix = 'fglab'): Promise<void> {
  for (const role of ['victim', 'attacker', 'client', 'router']) {
    await execa('ip', ['netns', 'del', `${prefix}-${role}`], { reject: false });
  }
  await execa('ip', ['link', 'del', `${prefix}-host`], { reject: false });
}

export interface LabOptions {
  /**
   * Also join the root namespace to the bridge as 10.77.0.1 (device `<prefix>-host`),
   * so processes outside the lab (a controller) can reach the agent in the victim.
   */
  hostLink?: boolean;
  /** The first three octets of the lab's /24, e.g. '10.82.0' (default '10.77.0'). */
  subnet?: string;
}

/** The host link's address in a lab on the default subnet. */
export const HOST_LINK_IP = `${DEFAULT_SUBNET}.1`;

export async function createLab(prefix = 'fglab', opts: LabOptions = {}): Promise<Lab> {
  await destroyLab(prefix); // leftovers from a killed run
  const subnet = opts.subnet ?? DEFAULT_SUBNET;
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet)) throw new Error(`lab subnet must be three octets like 10.82.0, not ${subnet}`);
  const hostLinkIp = `${subnet}.1`;
  const router = `${prefix}-router`;
  const hosts: Record<'victim' | 'attacker' | 'client', LabHost> = {
    victim: { ns: `${prefix}-victim`, dev: 'eth0', ip: `${subnet}.10` },
    attacker: { ns: `${prefix}-attacker`, dev: 'eth0', ip: `${subnet}.66` },
    client: { ns: `${prefix}-client`, dev: 'eth0', ip: `${subnet}.20` },
  };
  try {
    await sh('ip', ['netns', 'add', router]);
    await sh('ip', ['netns', 'exec', router, 'ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await sh('ip', ['netns', 'exec', router, 'ip', 'link', 'set', 'br0', 'up']);
    await sh('ip', ['netns', 'exec', router, 'ip', 'link', 'set', 'lo', 'up']);
    for (const [role, h] of Object.entries(hosts)) {
      const peer = `br-${role}`;
      await sh('ip', ['netns', 'add', h.ns]);
      await sh('ip', ['link', 'add', h.dev, 'netns', h.ns, 'type', 'veth', 'peer', 'name', peer, 'netns', router]);
      await sh('ip', ['netns', 'exec', router, 'ip', 'link', 'set', peer, 'master', 'br0']);
      await sh('ip', ['netns', 'exec', router, 'ip', 'link', 'set', peer, 'up']);
      await sh('ip', ['netns', 'exec', h.ns, 'ip', 'addr', 'add', `${h.ip}/24`, 'dev', h.dev]);
      await sh('ip', ['netns', 'exec', h.ns, 'ip', 'link', 'set', h.dev, 'up']);
      await sh('ip', ['netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up']);
    }
    if (opts.hostLink) {
      // Deleting the router namespace later removes the peer and with it this device.
      const dev = `${prefix}-host`;
      await execa('ip', ['link', 'del', dev], { reject: false });
      await sh('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', 'br-host', 'netns', router]);
      await sh('ip', ['netns', 'exec', router, 'ip', 'link', 'set', 'br-host', 'master', 'br0']);
      await sh('ip', ['netns', 'exec', router, 'ip', 'link', 'set', 'br-host', 'up']);
      await sh('ip', ['addr', 'add', `${hostLinkIp}/24`, 'dev', dev]);
      await sh('ip', ['link', 'set', dev, 'up']);
    }
    // Wait for carrier on every veth: traffic sent before it is lost.
    for (const h of Object.values(hosts)) {
      for (let i = 0; i < 100; i++) {
        const r = await execa('ip', ['netns', 'exec', h.ns, 'ip', '-o', 'link', 'show', h.dev]);
        if (!String(r.stdout).includes('NO-CARRIER')) break;
        await new Promise((res) => setTimeout(res, 20));
      }
    }
  } catch (err) {
    await destroyLab(prefix);
    throw err;
  }
  return {
    prefix,
    router,
    ...hosts,
    hostLinkIp: opts.hostLink ? hostLinkIp : undefined,
    async exec(ns, cmd, args, opts = {}) {
      const r = await execa('ip', ['netns', 'exec', ns, cmd, ...args], {
        reject: opts.reject ?? true,
        timeout: opts.timeoutMs,
      });
      return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
    },
    destroy: () => destroyLab(prefix),
  };
}
