// Who may be flooded. `floodgate attack` is for testing your own systems, so
// a destination is accepted only when it is
//   1. loopback (127.0.0.0/8, ::1), or
//   2. on a subnet directly connected to the network namespace this command
//      runs in, when that namespace is a floodgate lab namespace (its name,
//      from `ip netns identify`, starts with "fg"), or
//   3. an address assigned inside a floodgate lab namespace (any named
//      namespace starting with "fg", read with `ip -n NS addr`; needs root)
//      that this namespace reaches directly (no gateway) through a device
//      the lab made (named "fg*", e.g. the lab's host link): an address that
//      would leave through the default route is refused, whoever owns it,
// or when the user passes --i-own-this-target. Hostnames are resolved first
// and every address they resolve to must pass; the flood then goes to the
// checked address, so a second lookup cannot send it elsewhere.
import dns from 'node:dns/promises';
import net from 'node:net';
import { execa } from 'execa';
import { CidrMatcher, isLoopbackAddress } from '../lib/cidr-match.js';

/** Every namespace the floodgate labs, tests and demo create starts with this. */
export const LAB_NETNS_PREFIX = 'fg';

export const OVERRIDE_FLAG = '--i-own-this-target';

/** What the guard needs to know about the machine; injectable for tests. */
export interface NetworkView {
  /** Name of the network namespace this process runs in, if it is a named one. */
  currentNetns(): Promise<string | undefined>;
  /** Subnets (address/prefix) on the non-loopback interfaces of the current namespace. */
  connectedSubnets(): Promise<string[]>;
  /** Addresses assigned inside every named namespace whose name starts with the lab prefix. */
  labNamespaceAddresses(): Promise<Map<string, string>>;
  /** The route from this namespace to an address (`ip route get`). */
  routeTo(address: string): Promise<{ dev?: string; gateway?: string } | undefined>;
  resolve(host: string): Promise<string[]>;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { local?: string; prefixlen?: number; scope?: string }[];
}

async function ipJson<T>(args: string[]): Promise<T | undefined> {
  const r = await execa('ip', ['-j', ...args], { reject: false });
  if (r.exitCode !== 0 || !r.stdout.trim()) return undefined;
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    return undefined;
  }
}

export const systemNetworkView: NetworkView = {
  async currentNetns() {
    const r = await execa('ip', ['netns', 'identify', String(process.pid)], { reject: false });
    const name = r.exitCode === 0 ? r.stdout.trim().split('\n')[0] : '';
    return name || undefined;
  },
  async connectedSubnets() {
    const links = (await ipJson<IpAddrJson[]>(['addr', 'show'])) ?? [];
    const subnets: string[] = [];
    for (const l of links) {
      if (l.ifname === 'lo') continue;
      for (const a of l.addr_info ?? []) {
        if (a.local && a.prefixlen !== undefined && a.scope !== 'host') subnets.push(`${a.local}/${a.prefixlen}`);
      }
    }
    return subnets;
  },
  async labNamespaceAddresses() {
    const spaces = (await ipJson<{ name: string }[]>(['netns', 'list'])) ?? [];
    const owners = new Map<string, string>();
    for (const { name } of spaces) {
      if (!name.startsWith(LAB_NETNS_PREFIX)) continue;
      // Fails without root (entering a namespace needs CAP_SYS_ADMIN): then this rule cannot apply.
      const links = (await ipJson<IpAddrJson[]>(['-n', name, 'addr', 'show'])) ?? [];
      for (const l of links) {
        for (const a of l.addr_info ?? []) if (a.local && l.ifname !== 'lo') owners.set(a.local, name);
      }
    }
    return owners;
  },
  async routeTo(address) {
    return (await ipJson<{ dev?: string; gateway?: string }[]>(['route', 'get', address]))?.[0];
  },
  async resolve(host) {
    if (net.isIP(host)) return [host];
    const found = await dns.lookup(host, { all: true, verbatim: true });
    return found.map((f) => f.address);
  },
};

export type GuardRule = 'loopback' | 'lab-subnet' | 'lab-namespace' | 'override';

export interface CheckedTarget {
  host: string;
  /** The address the flood goes to: the first one the host resolved to. */
  address: string;
  family: 4 | 6;
  rule: GuardRule;
  /** Human-readable reason the target was accepted. */
  why: string;
}

export class TargetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetRefused';
  }
}

/** Why one address is allowed, or undefined when it is not. */
async function allowedBy(address: string, view: NetworkView, cache: { ns?: string | null; subnets?: CidrMatcher; lab?: Map<string, string> }): Promise<{ rule: GuardRule; why: string } | undefined> {
  if (isLoopbackAddress(address)) return { rule: 'loopback', why: 'loopback' };
  if (cache.ns === undefined) cache.ns = (await view.currentNetns()) ?? null;
  if (cache.ns?.startsWith(LAB_NETNS_PREFIX)) {
    cache.subnets ??= new CidrMatcher(await view.connectedSubnets());
    if (cache.subnets.has(address)) return { rule: 'lab-subnet', why: `on a subnet of lab namespace ${cache.ns}` };
  }
  cache.lab ??= await view.labNamespaceAddresses();
  const owner = cache.lab.get(address);
  if (owner) {
    const route = await view.routeTo(address);
    if (route?.dev?.startsWith(LAB_NETNS_PREFIX) && !route.gateway) return { rule: 'lab-namespace', why: `an address of lab namespace ${owner}, reached through ${route.dev}` };
  }
  return undefined;
}

/**
 * Resolve `host` and accept it only under the rules above. Throws
 * TargetRefused with a one-line message saying why and how to override.
 */
export async function checkTarget(host: string, opts: { iOwnThisTarget?: boolean; family?: 4; view?: NetworkView } = {}): Promise<CheckedTarget> {
  const view = opts.view ?? systemNetworkView;
  const bare = host.replace(/^\[(.*)\]$/, '$1'); // URL hosts keep IPv6 brackets
  let addresses: string[];
  try {
    addresses = await view.resolve(bare);
  } catch (err) {
    throw new TargetRefused(`cannot resolve ${bare}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (opts.family === 4) addresses = addresses.filter((a) => net.isIPv4(a));
  if (addresses.length === 0) {
    throw new TargetRefused(opts.family === 4 ? `${bare} has no IPv4 address (hping3 floods are IPv4 only)` : `${bare} resolves to no address`);
  }
  const address = addresses[0]!;
  const family = net.isIPv6(address) ? 6 : 4;
  const named = bare === address ? address : `${bare} (${addresses.join(', ')})`;
  if (opts.iOwnThisTarget) return { host: bare, address, family, rule: 'override', why: `${OVERRIDE_FLAG} given` };
  const cache = {};
  let first: { rule: GuardRule; why: string } | undefined;
  for (const a of addresses) {
    const ok = await allowedBy(a, view, cache);
    if (!ok) {
      throw new TargetRefused(
        `refusing to flood ${named}: ${a} is not loopback and not in a floodgate lab namespace (a network namespace named ${LAB_NETNS_PREFIX}*); ` +
          `flood only systems you own, and pass ${OVERRIDE_FLAG} if this is one`,
      );
    }
    first ??= ok;
  }
  return { host: bare, address, family, ...first! };
}
