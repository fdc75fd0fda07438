// Which bans the firewall actually needs: a ban inside a broader active ban
// (10.0.0.5 inside 10.0.0.0/24) is already enforced by it. Pushing only this
// minimal cover keeps nft interval sets free of overlaps, which nft rejects.

import { type Cidr, formatCidr, maskBytes, parseCidr } from '../firewall/cidr.js';

export class CidrIndex {
  private readonly keys = new Set<string>();
  /** Distinct prefix lengths present, per family, so lookups stay cheap. */
  private readonly prefixes = { 4: new Set<number>(), 6: new Set<number>() };

  constructor(cidrs: Iterable<string>) {
    for (const text of cidrs) this.add(text);
  }

  add(text: string): void {
    const cidr = parseCidr(text);
    if (!cidr) return;
    this.keys.add(formatCidr(cidr));
    this.prefixes[cidr.family].add(cidr.prefix);
  }

  /** The broadest other CIDR in the index that contains `text`, if any. */
  coveredBy(text: string): string | undefined {
    const cidr = parseCidr(text);
    if (!cidr) return undefined;
    const shorter = [...this.prefixes[cidr.family]].filter((p) => p < cidr.prefix).sort((a, b) => a - b);
    for (const prefix of shorter) {
      const parent: Cidr = { family: cidr.family, bytes: maskBytes(cidr.bytes, prefix), prefix };
      const key = formatCidr(parent);
      if (this.keys.has(key)) return key;
    }
    return undefined;
  }
}

/** The CIDRs of `cidrs` that no other CIDR of `cidrs` contains. */
export function minimalCover(cidrs: readonly string[]): string[] {
  const index = new CidrIndex(cidrs);
  return cidrs.filter((c) => index.coveredBy(c) === undefined);
}
