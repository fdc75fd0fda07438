// "Is this address inside one of these CIDRs?", the one matcher for the agent
// and the controller: allowlists, "already banned?", loopback. Built on
// net.BlockList, which also matches IPv4-mapped IPv6 forms both ways
// (::ffff:10.1.2.3 is inside 10.0.0.0/8, 10.1.2.3 inside ::ffff:10.0.0.0/104).
// IPv4 host entries also sit in a Set: "is this source banned?" runs for
// every source of every analysis, and most bans are single IPv4 hosts.

import net from 'node:net';

export class CidrMatcher {
  private readonly hosts = new Set<string>();
  private readonly list = new net.BlockList();
  private hasRanges = false;
  /** Entries that are neither an IP address nor "address/prefix" (ignored). */
  readonly rejected: string[] = [];

  constructor(cidrs: Iterable<string>) {
    for (const c of cidrs) if (!this.add(c)) this.rejected.push(c);
  }

  private add(text: string): boolean {
    const slash = text.indexOf('/');
    const address = slash === -1 ? text : text.slice(0, slash);
    const family = net.isIP(address);
    if (family === 0) return false;
    const max = family === 4 ? 32 : 128;
    const lengthText = slash === -1 ? String(max) : text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lengthText) || Number(lengthText) > max) return false;
    const prefix = Number(lengthText);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    // Node's check() wants the exact text form a Set lookup would need: only
    // canonical dotted quads (net.isIP accepts nothing else) go to the Set.
    if (family === 4 && prefix === 32) {
      this.hosts.add(address);
      this.list.addAddress(address, type);
      return true;
    }
    this.list.addSubnet(address, prefix, type);
    this.hasRanges = true;
    return true;
  }

  /**
   * True when the address is inside one of the CIDRs. "address/prefix" is
   * judged by its address part. Anything that is not an address is false.
   */
  has(input: string): boolean {
    const slash = input.indexOf('/');
    const address = slash === -1 ? input : input.slice(0, slash);
    if (!address.includes(':')) {
      if (this.hosts.has(address)) return true;
      if (!this.hasRanges) return false;
      return net.isIPv4(address) && this.list.check(address, 'ipv4');
    }
    // IPv6, or IPv4-mapped IPv6 (BlockList matches that against IPv4 entries).
    return net.isIPv6(address) && this.list.check(address, 'ipv6');
  }
}

const LOOPBACK = new CidrMatcher(['127.0.0.0/8', '::1']);

/** 127.0.0.0/8 or ::1, also in IPv4-mapped and bracketed ("[::1]") forms. */
export function isLoopbackAddress(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return !bare.includes('/') && LOOPBACK.has(bare);
}
