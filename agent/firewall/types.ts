// The contract every firewall backend (nft, iptables+ipset, pf, dry-run)
// implements. The ban manager is the only caller of the ban methods; it keeps
// the entries it passes non-overlapping (see agent/bans/cover.ts). The
// signature manager is the only caller of `signatures` (signature-types.ts).
import type { SignatureFirewall } from './signature-types.js';

export type BackendName = 'nft' | 'pf' | 'iptables' | 'dry-run';

export interface FirewallEntry {
  /** IP or CIDR; backends re-parse and re-format it, so nothing else reaches a command. */
  cidr: string;
  family: 4 | 6;
  timeoutSeconds: number;
}

export interface FirewallElement {
  /** Canonical CIDR ("10.0.0.5/32"); an nft range added by hand shows as "a-b". */
  cidr: string;
  /** Remaining lifetime where the firewall keeps one (nft, ipset); pf has none. */
  expiresInSeconds?: number;
}

export interface DropCounters {
  packets: number;
  bytes: number;
}

export interface BackendDescription {
  name: BackendName;
  /** Everything this backend owns, e.g. "table inet floodgate". */
  objects: string[];
  /** Where packets are dropped, e.g. "prerouting, priority raw (-300)". */
  attachment: string;
  /** Whether the firewall expires entries itself; if not, the ban sweep must. */
  expiresEntries: boolean;
  /** Longest timeout the firewall accepts; longer bans are re-added by reconcile. */
  maxTimeoutSeconds?: number;
  notes: string[];
}

export interface FirewallBackend {
  readonly name: BackendName;
  /** True when entries time out in the firewall itself (nft, ipset). */
  readonly expiresEntries: boolean;
  /** Create our own objects if missing; safe to call repeatedly; keeps existing entries. */
  init(): Promise<void>;
  /** Add or refresh entries, all in one batch; re-adding an entry resets its timeout. */
  add(entries: readonly FirewallEntry[]): Promise<void>;
  /** Remove entries; absent ones are ignored. */
  remove(cidrs: readonly string[]): Promise<void>;
  /** What the firewall really holds in our objects right now. */
  list(): Promise<FirewallElement[]>;
  /** Packets/bytes dropped by our rules since they were created. */
  counters(): Promise<DropCounters>;
  /** Remove everything we own and nothing else. */
  teardown(): Promise<void>;
  describe(): BackendDescription;
  /** Signature rules, in this backend's own objects. */
  readonly signatures: SignatureFirewall;
}

/** Input that never reached a command because it is not an IP/CIDR. */
export class FirewallInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FirewallInputError';
  }
}
