// IP/CIDR parsing shared by the backends and the address policy.
// Node's net.isIP decides what is an address; this module only converts a
// validated address to bytes and back, so every string a backend writes into
// a firewall command is one we formatted ourselves from bytes, never input.

import net from 'node:net';

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** Network address, host bits zeroed. 4 or 16 bytes. */
  bytes: Uint8Array;
  prefix: number;
}

/** Longest string we will even look at; anything longer is not an address. */
export const MAX_INPUT_LENGTH = 64;

/** Bytes of an address Node accepts as IPv4 or IPv6 (zone ids refused). */
export function parseAddress(input: string): { family: Family; bytes: Uint8Array } | undefined {
  if (input.length > MAX_INPUT_LENGTH || input.includes('%')) return undefined;
  // Every IPv6 form has a colon and no IPv4 one does.
  if (!input.includes(':')) {
    const bytes = ipv4Bytes(input);
    return bytes ? { family: 4, bytes } : undefined;
  }
  return net.isIP(input) === 6 ? { family: 6, bytes: ipv6Bytes(input) } : undefined;
}

/**
 * Dotted-quad parser accepting exactly what net.isIP accepts as IPv4 (four
 * decimal octets 0-255, no leading zeros, nothing else): a 10,000-ban batch
 * parses 10,000 addresses, and net.isIP's regexes plus split/map cost several
 * times this loop. test/firewall/cidr.test.ts checks the two agree.
 */
export function ipv4Bytes(input: string): Uint8Array | undefined {
  const bytes = new Uint8Array(4);
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= input.length; i++) {
    const c = i < input.length ? input.charCodeAt(i) : 46; // end of input closes the last octet like a '.'
    if (c === 46) {
      if (digits === 0 || octet > 3) return undefined;
      bytes[octet++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return octet === 4 ? bytes : undefined;
}

// Only called on strings net.isIP already accepted as IPv6.
function ipv6Bytes(address: string): Uint8Array {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // Embedded IPv4 (e.g. ::ffff:1.2.3.4) becomes its two hex groups.
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const toGroups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const headGroups = toGroups(head);
  const restGroups = toGroups(rest ?? '');
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...new Array<number>(zeros).fill(0), ...restGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

/** RFC 5952 text form (lower-case, longest zero run compressed). */
export function formatAddress(family: Family, bytes: Uint8Array): string {
  // Hot in large batches: a template beats Array.from().join() several times over.
  if (family === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = (bytes[i] ?? 0) & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

export function maxPrefix(family: Family): number {
  return family === 4 ? 32 : 128;
}

/**
 * "ip" or "ip/prefix". Host bits are zeroed; `hadHostBits` tells the caller
 * whether that changed anything (1.2.3.4/24 → 1.2.3.0/24).
 */
export type ParsedCidr = Cidr & {
  hadHostBits: boolean;
  /** Canonical text, formatCidr() of this CIDR, computed once per distinct input. */
  text: string;
};

/**
 * A ban passes parseCidr several times (policy, cover index, firewall entry):
 * memoised, a 10,000-ban batch parses each string once. Results are shared,
 * so callers must not mutate them. Bounded: cleared past 65,536 strings.
 */
const parsedCache = new Map<string, ParsedCidr | null>();

export function parseCidr(input: string): ParsedCidr | undefined {
  const cached = parsedCache.get(input); // null: known not to parse
  if (cached !== undefined) return cached ?? undefined;
  const parsed = parseCidrUncached(input);
  if (parsedCache.size >= 65_536) parsedCache.clear();
  parsedCache.set(input, parsed ?? null);
  // Callers parse the canonical text next ("1.2.3.4" becomes "1.2.3.4/32" in
  // the ban store and the firewall): it parses to this same CIDR.
  if (parsed && !parsed.hadHostBits && parsed.text !== input) parsedCache.set(parsed.text, parsed);
  return parsed;
}

function parseCidrUncached(input: string): ParsedCidr | undefined {
  if (input.length > MAX_INPUT_LENGTH) return undefined;
  const slash = input.indexOf('/');
  const addressText = slash === -1 ? input : input.slice(0, slash);
  const address = parseAddress(addressText);
  if (!address) return undefined;
  let prefix = maxPrefix(address.family);
  if (slash !== -1) {
    const prefixText = input.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    if (prefix > maxPrefix(address.family)) return undefined;
  }
  // A host address has no host bits to zero: its bytes are the network's.
  const bytes = prefix === maxPrefix(address.family) ? address.bytes : maskBytes(address.bytes, prefix);
  const hadHostBits = bytes !== address.bytes && bytes.some((b, i) => b !== address.bytes[i]);
  // IPv4 text that parsed is already canonical (ipv4Bytes and the prefix
  // pattern refuse leading zeros), so without host bits it only needs its
  // prefix; anything else is formatted from the bytes.
  const text =
    address.family === 4 && !hadHostBits ? (slash === -1 ? `${input}/32` : input) : `${formatAddress(address.family, bytes)}/${prefix}`;
  // An object literal, not a spread: this runs 10,000 times for a 10,000-ban batch.
  return { family: address.family, bytes, prefix, hadHostBits, text };
}

/**
 * An IPv4-mapped IPv6 CIDR (::ffff:10.0.0.0/104) as the IPv4 CIDR it means
 * (10.0.0.0/8); anything else unchanged. Bans, firewall sets and the capture
 * engine see IPv4 senders as IPv4, so a mapped allowlist or protect entry
 * would otherwise match nothing. A mapped CIDR shorter than /96 also covers
 * non-mapped IPv6 addresses and stays IPv6.
 */
export function unmapIpv4(cidr: Cidr): Cidr {
  if (cidr.family !== 6 || cidr.prefix < 96) return cidr;
  for (let i = 0; i < 10; i++) if (cidr.bytes[i] !== 0) return cidr;
  if (cidr.bytes[10] !== 0xff || cidr.bytes[11] !== 0xff) return cidr;
  return { family: 4, bytes: cidr.bytes.slice(12), prefix: cidr.prefix - 96 };
}

/** An IPv4-mapped IP or CIDR as IPv4 text ("::ffff:10.0.0.0/104" → "10.0.0.0/8"); any other input unchanged. */
export function unmapIpv4Text(input: string): string {
  const parsed = parseCidr(input);
  if (!parsed) return input;
  const unmapped = unmapIpv4(parsed);
  return unmapped === parsed ? input : formatCidr(unmapped);
}

/** Canonical text: always with a prefix ("10.0.0.5/32", "2001:db8::/64"). */
export function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr.family, cidr.bytes)}/${cidr.prefix}`;
}

/** Canonical form of an IP or CIDR string, or undefined when it is neither. */
export function canonicalCidr(input: string): string | undefined {
  return parseCidr(input)?.text;
}

/** True when `outer` covers every address of `inner` (equal counts). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  const masked = maskBytes(inner.bytes, outer.prefix);
  return masked.every((b, i) => b === outer.bytes[i]);
}

/** Two CIDRs overlap exactly when one contains the other. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** Short text for humans: a host prefix prints as the bare address. */
export function displayCidr(cidr: Cidr): string {
  const address = formatAddress(cidr.family, cidr.bytes);
  return cidr.prefix === maxPrefix(cidr.family) ? address : `${address}/${cidr.prefix}`;
}
