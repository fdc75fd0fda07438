// Validation every backend runs before building a command: each element is
// parsed into bytes and re-formatted, so a string like "1.2.3.4; flush ruleset"
// is refused here and never reaches nft, ipset or pfctl.

import { type Cidr, type Family, formatAddress, maxPrefix, type ParsedCidr, parseAddress, parseCidr } from '../../lib/cidr.js';
import { type FirewallEntry, FirewallInputError } from './types.js';

export interface ValidEntry {
  cidr: Cidr;
  /** Canonical text with prefix. */
  text: string;
  /** elementText(cidr): how the element is written in a set. */
  element: string;
  timeoutSeconds: number;
}

function describeInput(input: unknown): string {
  return JSON.stringify(String(input)).slice(0, 80);
}

export function validCidr(input: string): ParsedCidr {
  const parsed = typeof input === 'string' ? parseCidr(input) : undefined;
  if (!parsed) throw new FirewallInputError(`not an IP address or CIDR: ${describeInput(input)}`);
  if (parsed.hadHostBits) throw new FirewallInputError(`CIDR has host bits set: ${describeInput(input)}`);
  return parsed;
}

/**
 * Validates, clamps timeouts to [1, maxTimeoutSeconds] and merges duplicates
 * (the longest timeout wins) so one batch never names an element twice.
 */
export function validateEntries(entries: readonly FirewallEntry[], maxTimeoutSeconds: number): ValidEntry[] {
  const byText = new Map<string, ValidEntry>();
  for (const entry of entries) {
    const cidr = validCidr(entry.cidr);
    if (cidr.family !== entry.family) {
      throw new FirewallInputError(`family ${String(entry.family)} does not match ${describeInput(entry.cidr)}`);
    }
    if (!Number.isFinite(entry.timeoutSeconds)) {
      throw new FirewallInputError(`timeout is not a number for ${describeInput(entry.cidr)}`);
    }
    const timeoutSeconds = Math.min(maxTimeoutSeconds, Math.max(1, Math.ceil(entry.timeoutSeconds)));
    const text = cidr.text;
    const previous = byText.get(text);
    if (previous && previous.timeoutSeconds >= timeoutSeconds) continue;
    // The canonical text minus a host prefix is elementText(cidr), without formatting the address again.
    const element = cidr.prefix === maxPrefix(cidr.family) ? text.slice(0, text.lastIndexOf('/')) : text;
    byText.set(text, { cidr, text, element, timeoutSeconds });
  }
  return [...byText.values()];
}

/** Address text for element lists: hosts bare (pf and ipset print them so), networks with prefix. */
export function elementText(cidr: Cidr): string {
  const address = formatAddress(cidr.family, cidr.bytes);
  return cidr.prefix === maxPrefix(cidr.family) ? address : `${address}/${cidr.prefix}`;
}

/** A range "a-b" as nft prints elements added by hand; both ends validated. */
export function validRange(input: string): { family: Family; text: string } | undefined {
  const parts = input.split('-');
  if (parts.length !== 2) return undefined;
  const from = parseAddress(parts[0] ?? '');
  const to = parseAddress(parts[1] ?? '');
  if (!from || !to || from.family !== to.family) return undefined;
  return { family: from.family, text: `${formatAddress(from.family, from.bytes)}-${formatAddress(to.family, to.bytes)}` };
}
