// Which bans the firewall actually needs: a ban inside a broader active ban
// (10.0.0.5 inside 10.0.0.0/24) is already enforced by it. Pushing only this
// minimal cover keeps nft interval sets free of overlaps, which nft rejects.

import { type Cidr, formatCidr, maskBytes, maxPrefix, parseCidr } from '../../lib/cidr.js';
import { v4Interval } from './range-index.js';

/**
 * The CIDRs of the active bans, asked "which broader one contains this?" for
 * every ban of a batch. A lookup masks the address to each shorter prefix
 * length present and probes a hash set: at most 32 (IPv4) or 128 (IPv6)
 * probes whatever the number of bans. Single addresses cover nothing but
 * themselves, so they are not even stored: with only single-address bans
 * (the usual case) a lookup returns before it parses anything.
 */
export class CidrIndex {
  /** IPv4: prefix length → network addresses as unsigned 32-bit numbers. */
  private readonly v4 = new Map<number, Set<number>>();
  /** IPv6: canonical texts (IPv6 bans are few: the policy widens them to /64). */
  private readonly v6 = new Set<string>();
  /** Distinct prefix lengths present, per family, ascending. */
  private readonly prefixes: Record<4 | 6, number[]> = { 4: [], 6: [] };

  constructor(cidrs: Iterable<string>) {
    for (const text of cidrs) this.add(text);
  }

  add(text: string): void {
    const cidr = parseCidr(text);
    if (!cidr || cidr.prefix === maxPrefix(cidr.family)) return;
    const prefixes = this.prefixes[cidr.family];
    if (!prefixes.includes(cidr.prefix)) {
      prefixes.push(cidr.prefix);
      prefixes.sort((a, b) => a - b);
    }
    if (cidr.family === 6) {
      this.v6.add(cidr.text);
      return;
    }
    let networks = this.v4.get(cidr.prefix);
    if (!networks) this.v4.set(cidr.prefix, (networks = new Set()));
    networks.add(v4Interval(cidr)[0]);
  }

  /** The broadest other CIDR in the index that contains `text`, if any. */
  coveredBy(text: string): string | undefined {
    if (this.prefixes[4].length === 0 && this.prefixes[6].length === 0) return undefined;
    const cidr = parseCidr(text);
    if (!cidr) return undefined;
    const address = cidr.family === 4 ? v4Interval(cidr)[0] : 0;
    for (const prefix of this.prefixes[cidr.family]) {
      if (prefix >= cidr.prefix) break;
      if (cidr.family === 4) {
        // Arithmetic, not a bit mask: JS shifts are 32-bit signed and wrap at /0.
        const network = address - (address % 2 ** (32 - prefix));
        if (this.v4.get(prefix)?.has(network)) return formatCidr({ family: 4, bytes: maskBytes(cidr.bytes, prefix), prefix });
        continue;
      }
      const parent: Cidr = { family: 6, bytes: maskBytes(cidr.bytes, prefix), prefix };
      const key = formatCidr(parent);
      if (this.v6.has(key)) return key;
    }
    return undefined;
  }
}
