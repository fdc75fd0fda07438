// iptables + ipset fallback for hosts without a usable nft. We own two ipsets
// (floodgate4, floodgate6) and a FLOODGATE chain in the raw table of iptables
// and ip6tables, jumped to from PREROUTING (raw: before conntrack, and it
// sees forwarded pod/container traffic too). Element changes go through one
// `ipset restore -exist` process per batch; hash:net allows overlapping
// prefixes, so no interval conflicts here.

import { elementText, validateEntries, validCidr } from './entries.js';
import { type CommandExecutor, createExecutor, FirewallCommandError } from './exec.js';
import { canonicalCidr } from '../../lib/cidr.js';
import { IptablesSignatures } from './iptables-signatures.js';
import { type BackendDescription, type DropCounters, type FirewallBackend, type FirewallElement, type FirewallEntry, FirewallInputError } from './types.js';

export const IPSET_V4 = 'floodgate4';
export const IPSET_V6 = 'floodgate6';
export const CHAIN = 'FLOODGATE';
/** ipset refuses timeouts above this (~24.8 days); reconcile re-adds longer bans when they lapse. */
export const IPSET_MAX_TIMEOUT_SECONDS = 2_147_483;
const MAX_ELEMENTS = 262_144;

export interface IptablesBackendOptions {
  exec?: CommandExecutor;
  /** Skip ip6tables/floodgate6 on hosts with IPv6 disabled. */
  ipv6?: boolean;
}

export class IptablesBackend implements FirewallBackend {
  readonly name = 'iptables' as const;
  readonly expiresEntries = true;
  private readonly exec: CommandExecutor;
  private readonly families: readonly { set: string; tool: string }[];
  readonly signatures: IptablesSignatures;

  constructor(options: IptablesBackendOptions = {}) {
    this.exec = options.exec ?? createExecutor();
    this.families = [
      { set: IPSET_V4, tool: 'iptables' },
      ...(options.ipv6 === false ? [] : [{ set: IPSET_V6, tool: 'ip6tables' }]),
    ];
    this.signatures = new IptablesSignatures(this.exec, [
      { tool: 'iptables', family: 4 },
      ...(options.ipv6 === false ? [] : [{ tool: 'ip6tables' as const, family: 6 as const }]),
    ]);
  }

  /** `iptables -w -t raw ...`; -w waits for the xtables lock instead of failing. */
  private table(tool: string, args: string[], allowFailure = false) {
    return this.exec([tool, '-w', '-t', 'raw', ...args], { allowFailure });
  }

  private async succeeds(tool: string, args: string[]): Promise<boolean> {
    return (await this.table(tool, args, true)).exitCode === 0;
  }

  async init(): Promise<void> {
    // "timeout 0": entries may carry a timeout, none by default. -exist: no error if present.
    const creates = this.families
      .map(({ set }) =>
        `create ${set} hash:net family ${set === IPSET_V4 ? 'inet' : 'inet6'} timeout 0 maxelem ${MAX_ELEMENTS}\n`)
      .join('');
    await this.exec(['ipset', 'restore', '-exist'], { input: creates });
    for (const { set, tool } of this.families) {
      // Check before every change so a second init adds nothing.
      if (!(await this.succeeds(tool, ['-n', '-L', CHAIN]))) await this.table(tool, ['-N', CHAIN]);
      const drop = ['-m', 'set', '--match-set', set, 'src', '-j', 'DROP'];
      if (!(await this.succeeds(tool, ['-C', CHAIN, ...drop]))) await this.table(tool, ['-A', CHAIN, ...drop]);
      if (!(await this.succeeds(tool, ['-C', 'PREROUTING', '-j', CHAIN]))) {
        await this.table(tool, ['-I', 'PREROUTING', '1', '-j', CHAIN]);
      }
    }
  }

  private setFor(family: 4 | 6): string {
    const set = family === 4 ? IPSET_V4 : IPSET_V6;
    if (!this.families.some((f) => f.set === set)) throw new FirewallInputError('IPv6 is disabled for this backend');
    return set;
  }

  async add(entries: readonly FirewallEntry[]): Promise<void> {
    const valid = validateEntries(entries, IPSET_MAX_TIMEOUT_SECONDS);
    // -exist turns a re-add into a timeout refresh.
    const lines = valid.map((v) => `add ${this.setFor(v.cidr.family)} ${elementText(v.cidr)} timeout ${v.timeoutSeconds}\n`);
    if (lines.length > 0) await this.exec(['ipset', 'restore', '-exist'], { input: lines.join('') });
  }

  async remove(cidrs: readonly string[]): Promise<void> {
    // -exist makes deleting an absent entry a no-op.
    const lines = cidrs.map((input) => {
      const cidr = validCidr(input);
      return `del ${this.setFor(cidr.family)} ${elementText(cidr)}\n`;
    });
    if (lines.length > 0) await this.exec(['ipset', 'restore', '-exist'], { input: lines.join('') });
  }

  async list(): Promise<FirewallElement[]> {
    const out: FirewallElement[] = [];
    for (const { set } of this.families) {
      const { stdout } = await this.exec(['ipset', 'list', set, '-output', 'save']);
      out.push(...parseIpsetSave(stdout, set));
    }
    return out;
  }

  async counters(): Promise<DropCounters> {
    const total = { packets: 0, bytes: 0 };
    for (const { tool } of this.families) {
      const { stdout } = await this.table(tool, ['-n', '-v', '-x', '-L', CHAIN]);
      for (const line of stdout.split('\n')) {
        const [packets, bytes, target] = line.trim().split(/\s+/);
        if (target !== 'DROP') continue;
        total.packets += Number(packets);
        total.bytes += Number(bytes);
      }
    }
    return total;
  }

  async teardown(): Promise<void> {
    await this.signatures.teardown();
    for (const { tool } of this.families) {
      // A jump inserted twice by hand is removed twice; the loop is bounded.
      for (let i = 0; i < 16 && (await this.succeeds(tool, ['-C', 'PREROUTING', '-j', CHAIN])); i++) {
        await this.table(tool, ['-D', 'PREROUTING', '-j', CHAIN]);
      }
      if (await this.succeeds(tool, ['-n', '-L', CHAIN])) {
        await this.table(tool, ['-F', CHAIN]);
        await this.table(tool, ['-X', CHAIN]);
      }
    }
    for (const { set } of this.families) {
      try {
        await this.exec(['ipset', 'destroy', set]);
      } catch (error) {
        if (!(error instanceof FirewallCommandError && /does not exist/.test(error.stderr))) throw error;
      }
    }
  }

  describe(): BackendDescription {
    return {
      name: this.name,
      objects: [
        ...this.families.map((f) => `ipset ${f.set}`),
        ...this.families.map((f) => `${f.tool} raw chain ${CHAIN} (+ jump from PREROUTING)`),
      ],
      attachment: 'raw PREROUTING: before conntrack, covers forwarded pod traffic',
      expiresEntries: true,
      maxTimeoutSeconds: IPSET_MAX_TIMEOUT_SECONDS,
      notes: [`ipset timeouts are capped at ${IPSET_MAX_TIMEOUT_SECONDS}s; longer bans are re-added by reconcile`],
    };
  }
}

/** Entries of one set from `ipset list SET -output save` ("add SET ELEM timeout N"). */
export function parseIpsetSave(text: string, set: string): FirewallElement[] {
  const out: FirewallElement[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== 'add' || words[1] !== set || words[2] === undefined) continue;
    const cidr = canonicalCidr(words[2]);
    if (cidr === undefined) continue;
    const timeoutAt = words.indexOf('timeout');
    const expires = timeoutAt === -1 ? undefined : Number(words[timeoutAt + 1]);
    out.push(expires === undefined || Number.isNaN(expires) ? { cidr } : { cidr, expiresInSeconds: expires });
  }
  return out;
}
