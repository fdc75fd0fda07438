// What a firewall backend does with signature rules (api/signature-rule.ts).
// The signature manager (agent/signatures) is the only caller: it validates
// every rule, resolves synproxy to concrete options (or its fallback limit),
// and always passes the whole desired set, so a backend replaces what it
// holds in one step and a rule that is gone takes every helper rule it
// needed (notrack, the invalid-state drop) with it.

import type { SignatureMatch } from '../../api/signature-rule.js';
import type { DropCounters } from './types.js';

/** An action as the firewall applies it. */
export type FirewallSignatureAction =
  | { type: 'drop' }
  | { type: 'limit'; ratePerSecond: number; burst: number }
  /** TCP options the proxy announces in its SYN-ACK: the backend's own (see synproxy-settings.ts). */
  | { type: 'synproxy'; mss: number; wscale: number; timestamp: boolean; sackPerm: boolean }
  | { type: 'drop-invalid' };

export interface FirewallSignature {
  /** 16 hex digits (signatureId): names the rule's counter, sig_<id>, and tags its helper rules. */
  id: string;
  /** Normalised and validated; its destination is one address. */
  match: SignatureMatch;
  action: FirewallSignatureAction;
  /**
   * When the rule ends (ms since the epoch). Backends that can put it in the
   * rule itself do (nft: meta time, iptables: -m time --datestop), so a rule
   * stops matching on time even when the agent that enforces expiry is gone.
   */
  expiresAt: number;
}

export interface SignatureFirewall {
  /**
   * Hold exactly `rules`, and nothing else of ours, in one step. `exclude`
   * (canonical CIDRs, none containing another) are sources no rule ever
   * matches: the never-block list. Counters of rules that stay keep counting.
   */
  sync(rules: readonly FirewallSignature[], exclude: readonly string[]): Promise<void>;
  /** Packets and bytes each rule's counter matched, by rule id. */
  counters(): Promise<Map<string, DropCounters>>;
  /** Ids of the rules the firewall holds now. */
  list(): Promise<string[]>;
  /** Why this backend cannot hold the rule (one line), or undefined when it can. */
  unsupported(rule: FirewallSignature): string | undefined;
  /** Which kernel state the rules need, e.g. "conntrack", for status and doctor. */
  describe(): { objects: string[]; notes: string[] };
}

/** The counter name of a rule: letters, digits and underscore only, so it needs no quoting anywhere. */
export function counterName(id: string): string {
  if (!/^[0-9a-f]{16}$/.test(id)) throw new Error(`not a signature rule id: ${JSON.stringify(id).slice(0, 40)}`);
  return `sig_${id}`;
}

/** The expiry to the second, rounded up, UTC: "2026-12-06 12:00:00". */
export function utcSeconds(ms: number): string {
  if (!Number.isFinite(ms)) throw new Error('expiry is not a time');
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}
