// Decides whether an address or CIDR may be banned, and in which normal form.
//
// Normal form: IPv4 hosts are /32; IPv6 is widened to `ipv6BanPrefix`
// (default /64, since one IPv6 host usually owns a whole /64); host bits are
// zeroed. A ban is refused when it overlaps anything protected, in either
// direction: 127.0.0.1 is inside loopback, and 10.0.0.0/8 contains the host.
//
// Default minimum prefix lengths (configurable): IPv4 /16 (65,536 addresses)
// and IPv6 /48 (one site). Anything broader is almost certainly a mistake and
// would cut off legitimate users in bulk.

import os from 'node:os';
import { z } from 'zod';
import {
  type Cidr,
  cidrContains,
  cidrOverlaps,
  displayCidr,
  type Family,
  formatAddress,
  formatCidr,
  MAX_INPUT_LENGTH,
  maskBytes,
  maxPrefix,
  parseCidr,
  unmapIpv4,
} from '../../lib/cidr.js';
import { hostAddresses, type InterfaceTable, readDefaultGateways, readResolvers } from './protected-addresses.js';
import { RangeIndex } from './range-index.js';

export type RefusalCode =
  | 'invalid'
  | 'prefix_too_broad'
  | 'unspecified'
  | 'loopback'
  | 'link_local'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'own_address'
  | 'gateway'
  | 'dns_resolver'
  | 'allowlisted';

export const addressPolicyConfigSchema = z
  .object({
    /** CIDRs never to block: cluster pod/service CIDRs, office ranges, monitoring. */
    allowlist: z.array(z.string()).default([]),
    minPrefixV4: z.number().int().min(0).max(32).default(16),
    minPrefixV6: z.number().int().min(0).max(128).default(48),
    /** A single IPv6 address is banned as its /ipv6BanPrefix network. */
    ipv6BanPrefix: z.number().int().min(1).max(128).default(64),
  })
  .refine((c) => c.ipv6BanPrefix >= c.minPrefixV6, { message: 'ipv6BanPrefix must not be broader than minPrefixV6' });

export type AddressPolicyConfig = z.input<typeof addressPolicyConfigSchema>;

export interface ProtectedSources {
  interfaces?: () => InterfaceTable;
  gateways?: () => Promise<string[]>;
  resolvers?: () => Promise<string[]>;
}

export interface ProtectedEntry {
  cidr: Cidr;
  code: Exclude<RefusalCode, 'invalid' | 'prefix_too_broad'>;
  label: string;
}

export interface BanTarget {
  /** Canonical CIDR, e.g. "203.0.113.7/32", "2001:db8:1::/64". */
  cidr: string;
  family: Family;
}

export type PolicyDecision =
  | { ok: true; target: BanTarget }
  | { ok: false; code: RefusalCode; reason: string };

const BUILT_IN_RANGES: readonly [string, ProtectedEntry['code'], string][] = [
  ['0.0.0.0/8', 'unspecified', 'unspecified address'],
  ['127.0.0.0/8', 'loopback', 'loopback'],
  ['169.254.0.0/16', 'link_local', 'link-local'],
  ['224.0.0.0/4', 'multicast', 'multicast'],
  ['255.255.255.255/32', 'broadcast', 'broadcast'],
  ['240.0.0.0/4', 'reserved', 'reserved'],
  ['::/128', 'unspecified', 'unspecified address'],
  ['::1/128', 'loopback', 'loopback'],
  ['fe80::/10', 'link_local', 'link-local'],
  ['ff00::/8', 'multicast', 'multicast'],
];

function entry(text: string, code: ProtectedEntry['code'], label: string): ProtectedEntry {
  const cidr = parseCidr(text);
  if (!cidr) throw new Error(`invalid protected address ${JSON.stringify(text)}`);
  return { cidr, code, label };
}

const BUILT_IN = BUILT_IN_RANGES.map(([text, code, label]) => entry(text, code, label));

/** The well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d is the IPv4 host a.b.c.d. */
const NAT64: Cidr = parseCidr('64:ff9b::/96')!;

function inNat64(cidr: Cidr): boolean {
  return cidrContains(NAT64, cidr);
}

/** "refusing to block X: why" with X safe to print on one line. */
function refusal(subject: string, code: RefusalCode, why: string): PolicyDecision {
  return { ok: false, code, reason: `refusing to block ${subject}: ${why}` };
}

function quoted(input: string): string {
  const text = JSON.stringify(input);
  return text.length > 60 ? `${text.slice(0, 57)}..."` : text;
}

export class AddressPolicy {
  private readonly config: z.output<typeof addressPolicyConfigSchema>;
  private readonly allowlist: ProtectedEntry[];
  private discovered: ProtectedEntry[] = [];
  /** Every protected CIDR, merged for the per-ban overlap test; rebuilt by refresh(). */
  private protectedIndex: RangeIndex;

  private constructor(config: AddressPolicyConfig, private readonly sources: Required<ProtectedSources>) {
    this.config = addressPolicyConfigSchema.parse(config);
    this.allowlist = this.config.allowlist.map((text) => {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`allowlist entry is not an IP or CIDR: ${quoted(text)}`);
      // ::ffff:10.0.0.0/104 means 10.0.0.0/8: bans of IPv4 senders are IPv4.
      return { cidr: unmapIpv4(cidr), code: 'allowlisted', label: 'allowlisted' };
    });
    this.protectedIndex = new RangeIndex(this.protectedList().map((p) => p.cidr));
  }

  /** Reads the host's addresses, gateways and resolvers (or the injected sources). */
  static async create(config: AddressPolicyConfig = {}, sources: ProtectedSources = {}): Promise<AddressPolicy> {
    const policy = new AddressPolicy(config, {
      interfaces: sources.interfaces ?? (() => os.networkInterfaces()),
      gateways: sources.gateways ?? (() => readDefaultGateways()),
      resolvers: sources.resolvers ?? (() => readResolvers()),
    });
    await policy.refresh();
    return policy;
  }

  /** Re-discover protected addresses (interfaces and routes change). */
  async refresh(): Promise<void> {
    const host = hostAddresses(this.sources.interfaces());
    const parsed = (list: string[], code: ProtectedEntry['code'], label: string) =>
      list.flatMap((a) => {
        const cidr = parseCidr(a);
        return cidr ? [{ cidr: unmapIpv4(cidr), code, label }] : [];
      });
    this.discovered = [
      ...parsed(host.addresses, 'own_address', 'own address'),
      ...parsed(host.broadcasts, 'broadcast', 'subnet broadcast'),
      ...parsed(await this.sources.gateways(), 'gateway', 'default gateway'),
      ...parsed(await this.sources.resolvers(), 'dns_resolver', 'DNS resolver'),
    ];
    this.protectedIndex = new RangeIndex(this.protectedList().map((p) => p.cidr));
  }

  /** Everything currently protected, for status/doctor output. */
  protectedEntries(): { cidr: string; code: string; label: string }[] {
    return this.protectedList().map((p) => ({ cidr: formatCidr(p.cidr), code: p.code, label: p.label }));
  }

  private protectedList(): ProtectedEntry[] {
    return [...BUILT_IN, ...this.discovered, ...this.allowlist];
  }

  /**
   * Parse + normalise only (no protection rules). Used for unblock, which
   * must accept whatever block accepted.
   */
  normalise(input: unknown): { ok: true; target: BanTarget; exact: Cidr; ban: Cidr } | { ok: false; code: 'invalid'; reason: string } {
    const text = typeof input === 'string' ? input : '';
    const parsed = text.length <= MAX_INPUT_LENGTH ? parseCidr(text) : undefined;
    if (!parsed) return { ok: false, code: 'invalid', reason: `refusing to block ${quoted(String(input))}: not an IP address or CIDR` };
    // The parsed CIDR is shared (parseCidr memoises); it is read, never changed.
    if (parsed.family === 4) return { ok: true, target: { cidr: parsed.text, family: 4 }, exact: parsed, ban: parsed };
    // ::ffff:a.b.c.d is an IPv4 sender seen through a dual-stack socket.
    const exact = unmapIpv4(parsed);
    // One IPv6 host usually owns its whole /64, so a single address is banned
    // as its /64; but an address of the NAT64 prefix is one IPv4 host behind
    // the translator, and its /64 would be every IPv4 address reached through
    // it: those are banned as given.
    const ban =
      exact.family === 6 && exact.prefix > this.config.ipv6BanPrefix && !inNat64(exact)
        ? { family: 6 as const, bytes: maskBytes(exact.bytes, this.config.ipv6BanPrefix), prefix: this.config.ipv6BanPrefix }
        : exact;
    return { ok: true, target: { cidr: formatCidr(ban), family: ban.family }, exact, ban };
  }

  check(input: unknown): PolicyDecision {
    const normal = this.normalise(input);
    if (!normal.ok) return normal;
    const { exact, ban, target } = normal;
    // Inside the NAT64 prefix a CIDR is an IPv4 range: the IPv4 minimum applies
    // (+96 bits), and a CIDR containing the whole prefix is refused as too broad.
    const minimum = ban.family === 4 ? this.config.minPrefixV4 : cidrOverlaps(NAT64, ban) ? NAT64.prefix + this.config.minPrefixV4 : this.config.minPrefixV6;
    // The ban contains the address as given, so a ban that overlaps nothing
    // protected is allowed: one binary search, whatever the allowlist's size.
    if (ban.prefix >= minimum && !this.protectedIndex.overlaps(ban)) return { ok: true, target };

    // Refused: say why, naming the first protected range it hits, in list order.
    const subject = formatCidr(exact) === target.cidr ? displayCidr(ban) : `${displayCidr(exact)} (as ${displayCidr(ban)})`;
    if (ban.prefix < minimum) {
      return refusal(subject, 'prefix_too_broad', `prefix /${ban.prefix} is broader than the minimum /${minimum} for IPv${ban.family}`);
    }
    const protectedList = this.protectedList();
    // The address as given first, so "::1" reads "loopback", not "contains loopback".
    for (const candidate of exact === ban ? [ban] : [exact, ban]) {
      const shown = candidate === exact ? displayCidr(exact) : subject;
      for (const p of protectedList) {
        if (!cidrOverlaps(candidate, p.cidr)) continue;
        const range = p.cidr.prefix === maxPrefix(p.cidr.family) ? formatAddress(p.cidr.family, p.cidr.bytes) : displayCidr(p.cidr);
        if (cidrContains(p.cidr, candidate)) {
          return refusal(shown, p.code, p.code === 'allowlisted' ? `allowlisted (${range})` : p.label);
        }
        return refusal(shown, p.code, `contains ${p.label} ${range}`);
      }
    }
    return { ok: true, target };
  }
}
