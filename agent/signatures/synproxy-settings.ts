// Whether a synproxy can work on this host (in the agent's network
// namespace), and the TCP options it must announce.
//
// A synproxy answers a SYN itself with a SYN cookie and opens the connection
// to the service only once the client's ACK proves the handshake; spoofed
// SYNs never get that far. It needs (docs/mitigation.md):
//   - conntrack with net.netfilter.nf_conntrack_tcp_loose = 0, so the
//     client's final ACK is INVALID to conntrack and reaches the synproxy
//     rule (with 1, conntrack picks the ACK up as a new connection);
//   - net.ipv4.tcp_syncookies >= 1 (the proxy's cookies);
//   - options matching the service's own, because the proxy cannot translate
//     window scaling between the client and the service: the MSS the service
//     would announce (the interface MTU minus 40 bytes for IPv4, 60 for
//     IPv6), the window scale Linux would choose (ilog2 of the largest
//     receive buffer, max(tcp_rmem[2], net.core.rmem_max), minus 15, in
//     0..14: tcp_select_initial_window), timestamps and SACK as the
//     tcp_timestamps and tcp_sack sysctls say. Read from this network
//     namespace's own settings; pods behind the node share its kernel
//     defaults unless they set their own.
//
// The agent changes no host setting by itself. With `synproxy: manage` (an
// explicit opt-in) it sets nf_conntrack_tcp_loose to 0 (and
// tcp_syncookies to 1 if it was 0) in its own network namespace, logs each
// change, and restores nothing on exit: a later change by the operator wins.
// With `auto` (the default) a host that is not ready gets the fallback limit
// instead, and the record says why.

import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import type { Logger } from 'pino';
import { parseAddress } from '../../lib/cidr.js';

export type SynproxyMode = 'auto' | 'manage' | 'disabled';

export interface SynproxyOptions {
  mss: number;
  wscale: number;
  timestamp: boolean;
  sackPerm: boolean;
}

export type SynproxyReadiness = { ready: true; options: SynproxyOptions } | { ready: false; reason: string };

/** Where the settings are read (tests point this at a directory of their own). */
export interface SysctlSource {
  read(path: string): Promise<string | undefined>;
  write(path: string, value: string): Promise<void>;
  /** MTU of the interface holding `address`, else of `fallbackInterface`. */
  mtu(address: string, fallbackInterface?: string): Promise<number | undefined>;
}

const LOOSE = 'net/netfilter/nf_conntrack_tcp_loose';
const COOKIES = 'net/ipv4/tcp_syncookies';

export function procSysctls(root = '/proc/sys', sysClassNet = '/sys/class/net'): SysctlSource {
  return {
    async read(path) {
      try {
        return (await readFile(`${root}/${path}`, 'utf8')).trim();
      } catch {
        return undefined;
      }
    },
    async write(path, value) {
      await writeFile(`${root}/${path}`, `${value}\n`);
    },
    async mtu(address, fallbackInterface) {
      const want = parseAddress(address);
      let dev = fallbackInterface;
      for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
        if (want && (addrs ?? []).some((a) => parseAddress(a.address)?.bytes.join('.') === want.bytes.join('.'))) dev = name;
      }
      if (!dev || !/^[A-Za-z0-9_.:@-]{1,15}$/.test(dev)) return undefined;
      try {
        const n = Number((await readFile(`${sysClassNet}/${dev}/mtu`, 'utf8')).trim());
        return Number.isInteger(n) && n > 0 ? n : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/** Linux's window scale for a receive buffer of `space` bytes (tcp_select_initial_window). */
export function linuxWindowScale(space: number): number {
  if (!(space > 0)) return 0;
  return Math.max(0, Math.min(14, Math.floor(Math.log2(space)) - 15));
}

export class SynproxySettings {
  private managed = false;

  constructor(
    private readonly mode: SynproxyMode,
    private readonly sys: SysctlSource,
    private readonly logger: Logger,
    /** The capture interface: its MTU counts for addresses that are not this host's own (pods). */
    private readonly captureInterface?: string,
  ) {}

  /** Can a synproxy for `destination` work now, and with which options? */
  async readiness(destination: string): Promise<SynproxyReadiness> {
    if (this.mode === 'disabled') return { ready: false, reason: 'synproxy is disabled in the agent config (signatures.synproxy)' };
    if (this.mode === 'manage') await this.manage();
    // Read side by side: this is on the way from a flood's first slot to its rule.
    const [loose, cookies] = await Promise.all([this.sys.read(LOOSE), this.sys.read(COOKIES)]);
    if (loose === undefined) return { ready: false, reason: 'conntrack is not loaded here (no net.netfilter.nf_conntrack_tcp_loose)' };
    if (loose !== '0') return { ready: false, reason: `net.netfilter.nf_conntrack_tcp_loose is ${loose}, synproxy needs 0 (or signatures.synproxy: manage)` };
    if (cookies === undefined || cookies === '0') return { ready: false, reason: 'net.ipv4.tcp_syncookies is 0, synproxy needs SYN cookies' };
    return { ready: true, options: await this.options(destination) };
  }

  /** The options the service at `destination` would announce itself. */
  async options(destination: string): Promise<SynproxyOptions> {
    const v6 = parseAddress(destination)?.family === 6;
    const [mtuRead, rmemText, rmemMaxText, timestamps, sack] = await Promise.all([
      this.sys.mtu(destination, this.captureInterface),
      this.sys.read('net/ipv4/tcp_rmem'),
      this.sys.read('net/core/rmem_max'),
      this.sys.read('net/ipv4/tcp_timestamps'),
      this.sys.read('net/ipv4/tcp_sack'),
    ]);
    const mtu = mtuRead ?? 1500;
    const rmem = Number(rmemText?.split(/\s+/)[2] ?? 6291456);
    const rmemMax = Number(rmemMaxText ?? 212992);
    return {
      mss: Math.max(536, Math.min(65495, mtu - (v6 ? 60 : 40))),
      wscale: linuxWindowScale(Math.max(Number.isFinite(rmem) ? rmem : 0, Number.isFinite(rmemMax) ? rmemMax : 0)),
      timestamp: timestamps !== '0',
      sackPerm: sack !== '0',
    };
  }

  /** signatures.synproxy: manage: set what synproxy needs in this network namespace, once, saying so. */
  private async manage(): Promise<void> {
    if (this.managed) return;
    // Without conntrack there is nothing to set yet; try again next time.
    if ((await this.sys.read(LOOSE)) === undefined) return;
    this.managed = true;
    for (const [path, want, ok] of [
      [LOOSE, '0', (v: string) => v === '0'],
      [COOKIES, '1', (v: string) => v !== '0'],
    ] as const) {
      const now = await this.sys.read(path);
      if (now === undefined || ok(now)) continue;
      try {
        await this.sys.write(path, want);
        this.logger.warn({ sysctl: path.replaceAll('/', '.'), was: now, now: want }, 'synproxy: changed a kernel setting of this network namespace (signatures.synproxy: manage)');
      } catch (err) {
        this.logger.error({ sysctl: path.replaceAll('/', '.'), err: (err as Error).message }, 'synproxy: cannot change a kernel setting');
      }
    }
  }
}
