// Signature rules for the iptables backend: the nearest equivalents of the
// nft rules (nft-signatures.ts), in chains of our own, per family
// (iptables and ip6tables):
//
//   raw    FLOODGATE-SIG      (jumped to from PREROUTING): stateless drops,
//                             hashlimit limits, and the CT --notrack of SYNs
//                             a SYNPROXY answers;
//   mangle FLOODGATE-SIGCT    (from PREROUTING, after conntrack): drop-invalid,
//                             conntrack --ctstate INVALID,NEW;
//   filter FLOODGATE-SYNPROXY (from INPUT and FORWARD): SYNPROXY and the
//                             INVALID drop that goes with it.
//
// Never-block sources are ipsets floodgate-nb4/-nb6 ("! --match-set").
// Each sync rewrites our chains with one `iptables-restore --noflush
// --counters` per family, carrying every kept rule's counters over, so a
// rule's counter keeps counting across changes as nft's named ones do. The
// main rule of a signature carries the comment "sig <id>", its helpers
// "sig <id> helper".
//
// Not expressible: fragment rules. The raw table is at priority -300, after
// the kernel reassembled fragments (-400) once conntrack is loaded, so a
// fragment match would never see one: refused, with that reason.

import { formatAddress, parseAddress, parseCidr, canonicalCidr, type Family } from '../../lib/cidr.js';
import { TCP_FLAG_NAMES } from '../../api/signature-rule.js';
import type { TcpFlagName } from '../../detection/types.js';
import type { CommandExecutor } from './exec.js';
import { type FirewallSignature, type SignatureFirewall, utcSeconds } from './signature-types.js';
import { type DropCounters, FirewallInputError } from './types.js';

export const SIG_CHAIN = 'FLOODGATE-SIG';
export const SIGCT_CHAIN = 'FLOODGATE-SIGCT';
export const SYNPROXY_CHAIN = 'FLOODGATE-SYNPROXY';
export const NB_SETS = { 4: 'floodgate-nb4', 6: 'floodgate-nb6' } as const;
/** hashlimit's own ceiling (XT_HASHLIMIT_SCALE_v2): faster rates are refused by iptables. */
export const HASHLIMIT_MAX_RATE = 1_000_000;
const HASHLIMIT_MAX_BURST = 10_000;

const JUMPS: readonly { table: 'raw' | 'mangle' | 'filter'; from: string; chain: string }[] = [
  { table: 'raw', from: 'PREROUTING', chain: SIG_CHAIN },
  { table: 'mangle', from: 'PREROUTING', chain: SIGCT_CHAIN },
  { table: 'filter', from: 'INPUT', chain: SYNPROXY_CHAIN },
  { table: 'filter', from: 'FORWARD', chain: SYNPROXY_CHAIN },
];

function int(n: number, min: number, max: number, what: string): string {
  if (!Number.isInteger(n) || n < min || n > max) throw new FirewallInputError(`${what} must be an integer ${min}-${max}, got ${String(n).slice(0, 20)}`);
  return String(n);
}

const IPT_FLAG: Record<TcpFlagName, string> = { fin: 'FIN', syn: 'SYN', rst: 'RST', psh: 'PSH', ack: 'ACK', urg: 'URG', ece: 'ECE', cwr: 'CWR' };

function flagList(flags: readonly TcpFlagName[]): string {
  for (const f of flags) if (!(TCP_FLAG_NAMES as readonly string[]).includes(f)) throw new FirewallInputError(`unknown TCP flag ${JSON.stringify(f).slice(0, 20)}`);
  return flags.length ? flags.map((f) => IPT_FLAG[f]).join(',') : 'NONE';
}

function ports(single: number | undefined, range: { from: number; to: number } | undefined, what: string): string | undefined {
  if (single !== undefined) return int(single, 0, 65535, what);
  if (!range) return undefined;
  if (range.from > range.to) throw new FirewallInputError(`${what} range ${range.from}-${range.to} is reversed`);
  return `${int(range.from, 0, 65535, what)}:${int(range.to, 0, 65535, what)}`;
}

/** A line of iptables-restore input: an argument list whose words contain no spaces except the quoted comment. */
interface RuleLine {
  table: 'raw' | 'mangle' | 'filter';
  chain: string;
  args: string[];
  /** "sig <id>" or "sig <id> helper". */
  comment: string;
}

/** The iptables rules of one signature rule for its destination's family. */
export function iptablesRulesOf(r: FirewallSignature): { family: Family; lines: RuleLine[] } {
  const m = r.match;
  if (!/^[0-9a-f]{16}$/.test(r.id)) throw new FirewallInputError('bad signature rule id');
  const dst = parseAddress(m.destination);
  if (!dst) throw new FirewallInputError(`signature destination is not one address: ${JSON.stringify(m.destination).slice(0, 70)}`);
  const family = dst.family;
  if (m.fragment !== undefined) throw new FirewallInputError(iptablesFragmentRefusal);
  // -m time counts in UTC: the rule stops matching at its expiry even if the agent is gone.
  const until = utcSeconds(r.expiresAt).replace(' ', 'T');
  const scope = ['-d', formatAddress(family, dst.bytes), '-m', 'set', '!', '--match-set', NB_SETS[family], 'src', '-m', 'time', '--datestop', until];
  if (m.source !== undefined) {
    const src = parseCidr(m.source);
    if (!src || src.family !== family) throw new FirewallInputError('signature source is not an address of the destination family');
    scope.push('-s', canonicalCidr(m.source)!);
  }
  const what: string[] = [];
  if (m.protocol === 'tcp' || m.protocol === 'udp') {
    what.push('-p', m.protocol);
    const sport = ports(m.sourcePort, m.sourcePorts, 'source port');
    const dport = ports(m.destinationPort, m.destinationPorts, 'destination port');
    if (sport) what.push('--sport', sport);
    if (dport) what.push('--dport', dport);
    if (m.tcpFlags) what.push('--tcp-flags', flagList(m.tcpFlags.mask), flagList(m.tcpFlags.value));
  } else if (m.protocol === 'icmp') {
    // Errors (unreachable, PMTU, time exceeded) are never limited or dropped: only echo and the like are matched.
    if (family === 4) what.push('-p', 'icmp', '-m', 'icmp', '--icmp-type', 'echo-request');
    else what.push('-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', 'echo-request');
  } else if (m.ipProtocol !== undefined) {
    what.push('-p', int(m.ipProtocol, 0, 255, 'ipProtocol'));
  }
  const main = `sig ${r.id}`;
  const helper = `sig ${r.id} helper`;
  const a = r.action;
  switch (a.type) {
    case 'drop':
      return { family, lines: [{ table: 'raw', chain: SIG_CHAIN, args: [...scope, ...what, '-j', 'DROP'], comment: main }] };
    case 'limit': {
      const rate = int(a.ratePerSecond, 1, HASHLIMIT_MAX_RATE, 'ratePerSecond (hashlimit)');
      const burst = int(a.burst, 1, HASHLIMIT_MAX_BURST, 'burst (hashlimit)');
      // One bucket for the destination: the rule is the victim's, as nft's limit.
      const limit = ['-m', 'hashlimit', '--hashlimit-above', `${rate}/sec`, '--hashlimit-burst', burst, '--hashlimit-mode', 'dstip', '--hashlimit-name', `fg${r.id.slice(0, 13)}`];
      return { family, lines: [{ table: 'raw', chain: SIG_CHAIN, args: [...scope, ...what, ...limit, '-j', 'DROP'], comment: main }] };
    }
    case 'drop-invalid':
      return { family, lines: [{ table: 'mangle', chain: SIGCT_CHAIN, args: [...scope, ...what, '-m', 'conntrack', '--ctstate', 'INVALID,NEW', '-j', 'DROP'], comment: main }] };
    case 'synproxy': {
      if (m.protocol !== 'tcp' || m.destinationPort === undefined) throw new FirewallInputError('synproxy needs tcp and one destination port');
      const base = [...scope, '-p', 'tcp', '--dport', int(m.destinationPort, 0, 65535, 'destination port')];
      const options = ['--mss', int(a.mss, 536, 65495, 'mss'), '--wscale', int(a.wscale, 0, 14, 'wscale'), ...(a.timestamp ? ['--timestamp'] : []), ...(a.sackPerm ? ['--sack-perm'] : [])];
      return {
        family,
        lines: [
          { table: 'raw', chain: SIG_CHAIN, args: [...base, '--tcp-flags', 'SYN,ACK,RST', 'SYN', '-j', 'CT', '--notrack'], comment: helper },
          { table: 'filter', chain: SYNPROXY_CHAIN, args: [...base, '-m', 'conntrack', '--ctstate', 'INVALID,UNTRACKED', '-j', 'SYNPROXY', ...options], comment: main },
          { table: 'filter', chain: SYNPROXY_CHAIN, args: [...base, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'], comment: helper },
        ],
      };
    }
  }
}

export const iptablesFragmentRefusal =
  'the iptables backend cannot match fragments: its raw table sees packets after the kernel reassembled them (conntrack defragments at priority -400); use the nft backend';

/** `iptables-restore --noflush --counters` input rewriting our three chains; `kept`: counters by comment. */
export function iptablesRestoreInput(lines: readonly RuleLine[], kept: ReadonlyMap<string, DropCounters> = new Map()): string {
  const out: string[] = [];
  for (const table of ['raw', 'mangle', 'filter'] as const) {
    const chain = table === 'raw' ? SIG_CHAIN : table === 'mangle' ? SIGCT_CHAIN : SYNPROXY_CHAIN;
    out.push(`*${table}`, `:${chain} - [0:0]`, `-F ${chain}`);
    const seen = new Map<string, number>();
    for (const l of lines.filter((x) => x.table === table)) {
      // A comment names at most two rules of a chain (proxy + drop); the counters go to the first.
      const n = seen.get(l.comment) ?? 0;
      seen.set(l.comment, n + 1);
      const c = n === 0 ? kept.get(l.comment) : undefined;
      const counters = c ? `[${Math.max(0, Math.round(c.packets))}:${Math.max(0, Math.round(c.bytes))}] ` : '';
      out.push(`${counters}-A ${l.chain} ${l.args.join(' ')} -m comment --comment "${l.comment}"`);
    }
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** Counters of our rules by comment, from `iptables -t T -L CHAIN -n -v -x`. */
export function parseIptablesCounters(text: string): Map<string, DropCounters> {
  const out = new Map<string, DropCounters>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s.*\/\* (sig [0-9a-f]{16}(?: helper)?) \*\//.exec(line);
    if (!m?.[1] || !m[2] || !m[3]) continue;
    const prev = out.get(m[3]);
    if (prev) continue; // the first rule of a comment holds its counters
    out.set(m[3], { packets: Number(m[1]), bytes: Number(m[2]) });
  }
  return out;
}

export class IptablesSignatures implements SignatureFirewall {
  constructor(
    private readonly exec: CommandExecutor,
    private readonly families: readonly { tool: 'iptables' | 'ip6tables'; family: Family }[],
  ) {}

  unsupported(rule: FirewallSignature): string | undefined {
    if (rule.match.fragment !== undefined) return iptablesFragmentRefusal;
    if (rule.action.type === 'limit' && rule.action.ratePerSecond > HASHLIMIT_MAX_RATE) return `hashlimit allows at most ${HASHLIMIT_MAX_RATE}/s`;
    const family = parseAddress(rule.match.destination)?.family;
    if (family && !this.families.some((f) => f.family === family)) return 'IPv6 is disabled for this backend';
    return undefined;
  }

  private async counterMap(tool: string): Promise<Map<string, DropCounters>> {
    const all = new Map<string, DropCounters>();
    for (const [table, chain] of [['raw', SIG_CHAIN], ['mangle', SIGCT_CHAIN], ['filter', SYNPROXY_CHAIN]] as const) {
      const r = await this.exec([tool, '-w', '-t', table, '-L', chain, '-n', '-v', '-x'], { allowFailure: true });
      if (r.exitCode !== 0) continue; // not created yet
      for (const [k, v] of parseIptablesCounters(r.stdout)) if (!all.has(k)) all.set(k, v);
    }
    return all;
  }

  private async ensureSets(exclude: readonly string[]): Promise<void> {
    // Filled aside and swapped in, so a rule never sees a half-filled set.
    let input = '';
    for (const { family } of this.families) {
      const set = NB_SETS[family];
      const fam = family === 4 ? 'inet' : 'inet6';
      input += `create ${set} hash:net family ${fam}\ncreate ${set}-new hash:net family ${fam}\nflush ${set}-new\n`;
      for (const text of exclude) {
        const c = parseCidr(text);
        if (!c || c.family !== family) continue;
        input += `add ${set}-new ${formatAddress(c.family, c.bytes)}/${c.prefix}\n`;
      }
      input += `swap ${set}-new ${set}\ndestroy ${set}-new\n`;
    }
    await this.exec(['ipset', 'restore', '-exist'], { input });
  }

  private async ensureJumps(tool: string): Promise<void> {
    for (const j of JUMPS) {
      const probe = await this.exec([tool, '-w', '-t', j.table, '-C', j.from, '-j', j.chain], { allowFailure: true });
      if (probe.exitCode === 0) continue;
      await this.exec([tool, '-w', '-t', j.table, '-I', j.from, '1', '-j', j.chain]);
    }
  }

  async sync(rules: readonly FirewallSignature[], exclude: readonly string[]): Promise<void> {
    const built = rules.map((r) => {
      const why = this.unsupported(r);
      if (why) throw new FirewallInputError(`signature ${r.id}: ${why}`);
      return iptablesRulesOf(r);
    });
    await this.ensureSets(exclude);
    for (const { tool, family } of this.families) {
      const kept = await this.counterMap(tool);
      const lines = built.filter((b) => b.family === family).flatMap((b) => b.lines);
      await this.exec([`${tool}-restore`, '-w', '--noflush', '--counters'], { input: iptablesRestoreInput(lines, kept) });
      await this.ensureJumps(tool);
    }
  }

  async counters(): Promise<Map<string, DropCounters>> {
    const out = new Map<string, DropCounters>();
    for (const { tool } of this.families) {
      for (const [comment, c] of await this.counterMap(tool)) {
        const m = /^sig ([0-9a-f]{16})$/.exec(comment);
        if (!m?.[1]) continue;
        const prev = out.get(m[1]) ?? { packets: 0, bytes: 0 };
        out.set(m[1], { packets: prev.packets + c.packets, bytes: prev.bytes + c.bytes });
      }
    }
    return out;
  }

  async list(): Promise<string[]> {
    return [...(await this.counters()).keys()];
  }

  /** Remove our chains, jumps and sets (the backend's teardown). */
  async teardown(): Promise<void> {
    for (const { tool } of this.families) {
      for (const j of JUMPS) {
        for (let i = 0; i < 16; i++) {
          const probe = await this.exec([tool, '-w', '-t', j.table, '-C', j.from, '-j', j.chain], { allowFailure: true });
          if (probe.exitCode !== 0) break;
          await this.exec([tool, '-w', '-t', j.table, '-D', j.from, '-j', j.chain]);
        }
      }
      for (const [table, chain] of [['raw', SIG_CHAIN], ['mangle', SIGCT_CHAIN], ['filter', SYNPROXY_CHAIN]] as const) {
        await this.exec([tool, '-w', '-t', table, '-F', chain], { allowFailure: true });
        await this.exec([tool, '-w', '-t', table, '-X', chain], { allowFailure: true });
      }
    }
    for (const { family } of this.families) await this.exec(['ipset', 'destroy', NB_SETS[family]], { allowFailure: true });
  }

  describe(): { objects: string[]; notes: string[] } {
    return {
      objects: [`raw ${SIG_CHAIN}`, `mangle ${SIGCT_CHAIN}`, `filter ${SYNPROXY_CHAIN} (from INPUT, FORWARD)`, `ipsets ${NB_SETS[4]}, ${NB_SETS[6]}`],
      notes: ['limits are hashlimit (per destination), synproxy is SYNPROXY', 'fragment rules are refused (raw is after reassembly)'],
    };
  }
}
