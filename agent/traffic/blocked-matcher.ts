// "Is this source already banned?" for every source of every analysis, so it
// must be cheap: IPv4 host bans in a Set, everything else (CIDRs, IPv6,
// whose text forms vary) in a net.BlockList.
import net from 'node:net';

export class BlockedMatcher {
  private readonly hosts = new Set<string>();
  private readonly ranges = new net.BlockList();
  private hasRanges = false;

  constructor(cidrs: Iterable<string>) {
    for (const c of cidrs) {
      const [addr, len] = c.split('/');
      if (!addr) continue;
      const fam = net.isIP(addr);
      if (fam === 0) continue;
      const bits = len === undefined ? (fam === 4 ? 32 : 128) : Number(len);
      if (fam === 4 && bits === 32) {
        this.hosts.add(addr);
      } else {
        this.ranges.addSubnet(addr, bits, fam === 4 ? 'ipv4' : 'ipv6');
        this.hasRanges = true;
      }
    }
  }

  has(ip: string): boolean {
    if (this.hosts.has(ip)) return true;
    if (!this.hasRanges) return false;
    return this.ranges.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
  }
}
