// A backend that touches nothing: it validates input exactly like the real
// ones and records what it would have done, keeping an in-memory table so
// list() answers like a firewall without per-entry timeouts (as pf).

import { formatCidr } from '../../lib/cidr.js';
import { validateEntries, validCidr } from './entries.js';
import type { BackendDescription, DropCounters, FirewallBackend, FirewallElement, FirewallEntry } from './types.js';
import { nftRulesOf } from './nft-signatures.js';
import type { FirewallSignature, SignatureFirewall } from './signature-types.js';

export type DryRunOperation =
  | { op: 'init' }
  | { op: 'add'; entries: { cidr: string; timeoutSeconds: number }[] }
  | { op: 'remove'; cidrs: string[] }
  | { op: 'teardown' }
  /** The signature rules it would hold, each with the nft rules that would express it. */
  | { op: 'signatures'; rules: { id: string; text: string; rules: string[] }[]; exclude: string[] };

/**
 * Signature rules recorded, not applied: each is built into the nft rules the
 * nft backend would load (so a rule no backend could express fails here too),
 * and its counter stays at zero.
 */
export class DryRunSignatures implements SignatureFirewall {
  private held = new Map<string, FirewallSignature>();

  constructor(private readonly record: (op: DryRunOperation) => void) {}

  async sync(rules: readonly FirewallSignature[], exclude: readonly string[]): Promise<void> {
    const built = rules.map((r) => ({ id: r.id, text: r.match.text ?? '', rules: nftRulesOf(r).map((c) => `${c.chain}: ${c.rule}`) }));
    this.held = new Map(rules.map((r) => [r.id, r]));
    this.record({ op: 'signatures', rules: built, exclude: [...exclude] });
  }

  async counters(): Promise<Map<string, DropCounters>> {
    return new Map([...this.held.keys()].map((id) => [id, { packets: 0, bytes: 0 }]));
  }

  async list(): Promise<string[]> {
    return [...this.held.keys()];
  }

  unsupported(): string | undefined {
    return undefined;
  }

  describe(): { objects: string[]; notes: string[] } {
    return { objects: [], notes: ['signature rules are recorded, not applied'] };
  }
}

export class DryRunBackend implements FirewallBackend {
  readonly name = 'dry-run' as const;
  readonly expiresEntries = false;
  /** Everything this backend was asked to do, in order. */
  readonly operations: DryRunOperation[] = [];
  private readonly table = new Set<string>();
  readonly signatures = new DryRunSignatures((op) => this.operations.push(op));

  async init(): Promise<void> {
    this.operations.push({ op: 'init' });
  }

  async add(entries: readonly FirewallEntry[]): Promise<void> {
    const valid = validateEntries(entries, Number.MAX_SAFE_INTEGER);
    if (valid.length === 0) return;
    for (const v of valid) this.table.add(v.text);
    this.operations.push({ op: 'add', entries: valid.map((v) => ({ cidr: v.text, timeoutSeconds: v.timeoutSeconds })) });
  }

  async remove(cidrs: readonly string[]): Promise<void> {
    const valid = cidrs.map((c) => formatCidr(validCidr(c)));
    if (valid.length === 0) return;
    for (const cidr of valid) this.table.delete(cidr);
    this.operations.push({ op: 'remove', cidrs: valid });
  }

  async list(): Promise<FirewallElement[]> {
    return [...this.table].map((cidr) => ({ cidr }));
  }

  async counters(): Promise<DropCounters> {
    return { packets: 0, bytes: 0 };
  }

  async teardown(): Promise<void> {
    this.table.clear();
    this.operations.push({ op: 'teardown' });
  }

  describe(): BackendDescription {
    return {
      name: this.name,
      objects: [],
      attachment: 'none: dry run, nothing is blocked',
      expiresEntries: false,
      notes: ['records intended changes in memory only'],
    };
  }
}
