// Discovers addresses a ban must never cover: this host's own addresses (and
// the broadcast addresses of its subnets), the default gateway(s) and the
// configured DNS resolvers. Each source is injectable so tests and other
// platforms can supply their own answers.

import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { formatAddress, maskBytes, parseAddress, parseCidr } from '../../lib/cidr.js';
import { type CommandExecutor, createExecutor } from '../firewall/exec.js';

export type InterfaceTable = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

export interface HostAddresses {
  addresses: string[];
  /** Directed broadcast address of each IPv4 subnet we are on. */
  broadcasts: string[];
}

export function hostAddresses(interfaces: InterfaceTable = os.networkInterfaces()): HostAddresses {
  const addresses = new Set<string>();
  const broadcasts = new Set<string>();
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      const parsed = parseAddress(info.address.split('%')[0] ?? '');
      if (!parsed) continue;
      addresses.add(formatAddress(parsed.family, parsed.bytes));
      const subnet = info.cidr ? parseCidr(info.cidr) : undefined;
      if (parsed.family === 4 && subnet && subnet.prefix < 31) broadcasts.add(broadcastOf(subnet.bytes, subnet.prefix));
    }
  }
  return { addresses: [...addresses], broadcasts: [...broadcasts] };
}

/** Network address with every host bit set. */
function broadcastOf(network: Uint8Array, prefix: number): string {
  const netmask = maskBytes(new Uint8Array(4).fill(255), prefix);
  return formatAddress(4, network.map((b, i) => b | (~(netmask[i] ?? 0) & 0xff)));
}

/** "0101A8C0" (little-endian, as in /proc/net/route) → "192.168.1.1". */
function procIpv4(hex: string): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  const bytes = Uint8Array.from([6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  return formatAddress(4, bytes);
}

/** 32 hex digits (network order, as in /proc/net/ipv6_route) → address text. */
function procIpv6(hex: string): string | undefined {
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
  const bytes = Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
  return formatAddress(6, bytes);
}

/** Default-route next hops from the text of /proc/net/route and /proc/net/ipv6_route. */
export function parseLinuxDefaultGateways(route: string, ipv6Route: string): string[] {
  const out: string[] = [];
  for (const line of route.split('\n').slice(1)) {
    const [, destination, gateway, , , , , mask] = line.trim().split(/\s+/);
    if (destination !== '00000000' || mask !== '00000000' || !gateway || gateway === '00000000') continue;
    const address = procIpv4(gateway);
    if (address) out.push(address);
  }
  for (const line of ipv6Route.split('\n')) {
    const [destination, length, , , nextHop] = line.trim().split(/\s+/);
    if (destination !== '0'.repeat(32) || length !== '00' || !nextHop || nextHop === '0'.repeat(32)) continue;
    const address = procIpv6(nextHop);
    if (address) out.push(address);
  }
  return [...new Set(out)];
}

/** The "gateway:" line of macOS `route -n get default`. */
export function parseRouteGetGateway(text: string): string | undefined {
  const match = /^\s*gateway:\s*(\S+)\s*$/m.exec(text);
  const address = match?.[1]?.split('%')[0];
  return address && parseAddress(address) ? address : undefined;
}

export interface GatewayOptions {
  platform?: NodeJS.Platform;
  readText?: (path: string) => Promise<string>;
  exec?: CommandExecutor;
}

export async function readDefaultGateways(options: GatewayOptions = {}): Promise<string[]> {
  const platform = options.platform ?? process.platform;
  const readText = options.readText ?? ((path: string) => readFile(path, 'utf8'));
  if (platform === 'linux') {
    const route = await readText('/proc/net/route').catch(() => '');
    const ipv6Route = await readText('/proc/net/ipv6_route').catch(() => '');
    return parseLinuxDefaultGateways(route, ipv6Route);
  }
  if (platform === 'darwin') {
    const exec = options.exec ?? createExecutor();
    const out: string[] = [];
    for (const argv of [['route', '-n', 'get', 'default'], ['route', '-n', 'get', '-inet6', 'default']]) {
      const result = await exec(argv, { allowFailure: true }).catch(() => undefined);
      const gateway = result && result.exitCode === 0 ? parseRouteGetGateway(result.stdout) : undefined;
      if (gateway) out.push(gateway);
    }
    return out;
  }
  return [];
}

/** `nameserver` lines of resolv.conf (zone ids dropped). */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [keyword, value] = line.trim().split(/\s+/);
    const address = value?.split('%')[0];
    if (keyword === 'nameserver' && address && parseAddress(address)) out.push(address);
  }
  return out;
}

export async function readResolvers(path = '/etc/resolv.conf'): Promise<string[]> {
  return parseResolvConf(await readFile(path, 'utf8').catch(() => ''));
}
