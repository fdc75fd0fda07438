// Signature rules in nftables, in the agent's own table (inet floodgate) and
// nowhere else. Four chains, each where its rules can work:
//
//   sig_early  prerouting, priority -450: before the kernel reassembles
//              fragments; banned sources return first (the ban chain drops them);
//              fragments (-400) and before conntrack (-200). Stateless
//              drops and limits (amplification source ports, flag
//              anomalies, ICMP, SYN limits), fragments (only visible here
//              once conntrack's defragmentation is loaded), and the
//              notrack of SYNs a synproxy answers.
//   sig_ct     prerouting, priority -150 (after conntrack): drop-invalid,
//              packets of no connection (reflected SYN-ACKs, stray ACKs/RSTs).
//   sig_in     input / forward, priority -10: synproxy for local services
//   sig_fwd    and for pods behind this node, and the invalid-state drop
//              that goes with it.
//
// Every rule starts with its destination (one protected address), skips the
// never-block sources (sets sig_nb4/sig_nb6), counts in its own named
// counter sig_<id>, carries the comment "sig <id>", helper rules included,
// and matches only until its expiry (meta time), so it ends on time even if
// the agent that removes it is gone. sync() rebuilds the chains from the desired set in one `nft -f`
// transaction: chains flushed and refilled, counters of rules that stay kept
// (a named counter outlives a flush), counters of rules that went deleted.
//
// Every value in a script is one we formatted ourselves from a validated
// one: addresses from their bytes, ports and rates as integers, flags from a
// fixed list. Loaded on Linux 6.18 / nft 1.0.6 (test/firewall/nft-signatures.test.ts).

import { canonicalCidr, formatAddress, parseAddress, parseCidr, type Family } from '../../lib/cidr.js';
import { TCP_FLAG_NAMES, type SignatureMatch } from '../../api/signature-rule.js';
import type { TcpFlagName } from '../../detection/types.js';
import type { CommandExecutor } from './exec.js';
import { counterName, type FirewallSignature, type SignatureFirewall, utcSeconds } from './signature-types.js';
import type { DropCounters } from './types.js';
import { FirewallInputError } from './types.js';
import { NFT_BAN_SETS, NFT_BANNED_RETURN_RULES } from './nft-ban-sets.js';

const TABLE = 'inet floodgate';
export const SIG_CHAINS = {
  early: { name: 'sig_early', hook: 'prerouting', priority: -450 },
  ct: { name: 'sig_ct', hook: 'prerouting', priority: -150 },
  input: { name: 'sig_in', hook: 'input', priority: -10 },
  forward: { name: 'sig_fwd', hook: 'forward', priority: -10 },
} as const;
const NEVER_BLOCK = { 4: 'sig_nb4', 6: 'sig_nb6' } as const;
const ELEMENTS_PER_STATEMENT = 2000;

function int(n: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new FirewallInputError(`${what} must be an integer ${min}-${max}, got ${String(n).slice(0, 20)}`);
  return n;
}

function flagSet(flags: readonly TcpFlagName[]): string {
  for (const f of flags) if (!(TCP_FLAG_NAMES as readonly string[]).includes(f)) throw new FirewallInputError(`unknown TCP flag ${JSON.stringify(f).slice(0, 20)}`);
  return flags.join(' | ');
}

/** "tcp flags & (syn | ack | rst) == syn"; an empty value is 0x0 (a NULL scan). */
function flagsExpr(f: { mask: readonly TcpFlagName[]; value: readonly TcpFlagName[] }): string {
  if (f.mask.length === 0) throw new FirewallInputError('tcpFlags.mask is empty');
  const value = f.value.length === 0 ? '0x0' : f.value.length === 1 ? flagSet(f.value) : `(${flagSet(f.value)})`;
  return `tcp flags & (${flagSet(f.mask)}) == ${value}`;
}

function portExpr(single: number | undefined, range: { from: number; to: number } | undefined, what: string): string | undefined {
  if (single !== undefined) return String(int(single, 0, 65535, what));
  if (!range) return undefined;
  const from = int(range.from, 0, 65535, what);
  const to = int(range.to, 0, 65535, what);
  if (from > to) throw new FirewallInputError(`${what} range ${from}-${to} is reversed`);
  return from === to ? String(from) : `${from}-${to}`;
}

interface Parts {
  family: Family;
  /** "ip daddr 10.0.0.1 ip saddr != @sig_nb4" */
  scope: string;
  /** Protocol, ports, flags, fragments. */
  what: string[];
}

/** The destination, the never-block skip and the match, as nft expressions; every value re-formatted. */
export function matchParts(m: SignatureMatch): Parts {
  const dst = parseAddress(m.destination);
  if (!dst) throw new FirewallInputError(`signature destination is not one address: ${JSON.stringify(m.destination).slice(0, 70)}`);
  const family = dst.family;
  const ip = family === 4 ? 'ip' : 'ip6';
  const scope = [`${ip} daddr ${formatAddress(family, dst.bytes)}`, `${ip} saddr != @${NEVER_BLOCK[family]}`];
  if (m.source !== undefined) {
    const src = parseCidr(m.source);
    if (!src || src.family !== family) throw new FirewallInputError(`signature source ${JSON.stringify(m.source).slice(0, 70)} is not a ${family === 4 ? 'IPv4' : 'IPv6'} address or CIDR`);
    scope.push(`${ip} saddr ${canonicalCidr(m.source)}`);
  }
  const what: string[] = [];
  if (m.fragment !== undefined) {
    // IPv4: "more fragments" or an offset; non-first: an offset. IPv6: the fragment header.
    if (family === 4) what.push(m.fragment === 'any' ? 'ip frag-off & 0x3fff != 0' : 'ip frag-off & 0x1fff != 0');
    else what.push(m.fragment === 'any' ? 'exthdr frag exists' : 'exthdr frag frag-off != 0');
  }
  switch (m.protocol) {
    case 'tcp':
    case 'udp': {
      what.push(`meta l4proto ${m.protocol}`);
      const sport = portExpr(m.sourcePort, m.sourcePorts, 'source port');
      const dport = portExpr(m.destinationPort, m.destinationPorts, 'destination port');
      if (sport) what.push(`${m.protocol} sport ${sport}`);
      if (dport) what.push(`${m.protocol} dport ${dport}`);
      if (m.tcpFlags) {
        if (m.protocol !== 'tcp') throw new FirewallInputError('tcpFlags need protocol tcp');
        what.push(flagsExpr(m.tcpFlags));
      }
      break;
    }
    case 'icmp':
      // Errors carry path MTU discovery and unreachables: never limited or dropped.
      what.push(
        family === 4
          ? 'meta l4proto icmp icmp type != { destination-unreachable, time-exceeded, parameter-problem }'
          : 'meta l4proto ipv6-icmp icmpv6 type != { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert }',
      );
      break;
    case 'any':
      if (m.ipProtocol !== undefined) what.push(`meta l4proto ${int(m.ipProtocol, 0, 255, 'ipProtocol')}`);
      break;
    default:
      throw new FirewallInputError(`unknown protocol ${JSON.stringify(m.protocol).slice(0, 20)}`);
  }
  return { family, scope: scope.join(' '), what };
}

interface ChainRule {
  chain: (typeof SIG_CHAINS)[keyof typeof SIG_CHAINS]['name'];
  rule: string;
}

/** The nft rules (with their chains) of one signature rule, helpers included. */
export function nftRulesOf(r: FirewallSignature): ChainRule[] {
  const counter = `counter name "${counterName(r.id)}"`;
  const tag = `comment "sig ${r.id}"`;
  const parts = matchParts(r.match);
  // Until its expiry (UTC: nft runs with TZ=UTC), even if no agent removes it.
  const scope = `meta time < "${utcSeconds(r.expiresAt)}" ${parts.scope}`;
  const { what } = parts;
  const line = (...parts: string[]) => [scope, ...what, ...parts].join(' ');
  const a = r.action;
  switch (a.type) {
    case 'drop':
      return [{ chain: 'sig_early', rule: line(counter, 'drop', tag) }];
    case 'limit': {
      const rate = int(a.ratePerSecond, 1, 10_000_000, 'ratePerSecond');
      const burst = int(a.burst, 1, 10_000_000, 'burst');
      return [{ chain: 'sig_early', rule: line(`limit rate over ${rate}/second burst ${burst} packets`, counter, 'drop', tag) }];
    }
    case 'drop-invalid':
      return [{ chain: 'sig_ct', rule: line('ct state invalid,new', counter, 'drop', tag) }];
    case 'synproxy': {
      if (r.match.protocol !== 'tcp' || r.match.destinationPort === undefined) throw new FirewallInputError('synproxy needs tcp and one destination port');
      const mss = int(a.mss, 536, 65495, 'mss');
      const wscale = int(a.wscale, 0, 14, 'wscale');
      const options = [`mss ${mss}`, `wscale ${wscale}`, ...(a.timestamp ? ['timestamp'] : []), ...(a.sackPerm ? ['sack-perm'] : [])].join(' ');
      const base = [scope, `meta l4proto tcp tcp dport ${int(r.match.destinationPort, 0, 65535, 'destination port')}`].join(' ');
      const syn = 'tcp flags & (syn | ack | rst) == syn';
      const proxy = `${base} ct state invalid,untracked synproxy ${options} ${tag}`;
      const invalid = `${base} ct state invalid counter drop ${tag}`;
      return [
        // SYNs bypass conntrack, so the proxy (not the service) answers them with a cookie. The
        // rule's counter is here: it counts the flood's SYNs, each then proxied or, from a martian
        // source, dropped by the kernel's routing before the proxy (which counts clients' ACKs too).
        { chain: 'sig_early', rule: `${base} ${syn} ${counter} notrack ${tag}` },
        { chain: 'sig_in', rule: proxy },
        { chain: 'sig_in', rule: invalid },
        { chain: 'sig_fwd', rule: proxy },
        { chain: 'sig_fwd', rule: invalid },
      ];
    }
  }
}

/** The never-block elements of one family, as nft writes them (hosts bare). */
function excludeElements(exclude: readonly string[], family: Family): string[] {
  const out: string[] = [];
  for (const text of exclude) {
    const c = parseCidr(text);
    if (!c) throw new FirewallInputError(`never-block entry is not a CIDR: ${JSON.stringify(text).slice(0, 70)}`);
    if (c.family !== family) continue;
    const address = formatAddress(c.family, c.bytes);
    out.push(c.prefix === (family === 4 ? 32 : 128) ? address : `${address}/${c.prefix}`);
  }
  return out;
}

/**
 * The whole transaction that makes the table hold exactly `rules`.
 * `present`: counter names there now (sig_*), so those of gone rules are deleted.
 */
export function nftSignatureScript(rules: readonly FirewallSignature[], exclude: readonly string[], present: readonly string[] = []): string {
  return scriptOf(signatureLines(rules), exclude, present);
}

/**
 * Each rule's part of a transaction, by id in order: its counter, then its
 * nft rules. A rule given twice is refused (FirewallInputError).
 */
function signatureLines(rules: readonly FirewallSignature[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of rules) {
    if (out.has(r.id)) throw new FirewallInputError(`signature rule ${r.id} given twice`);
    out.set(r.id, [`add counter ${TABLE} ${counterName(r.id)}`, ...nftRulesOf(r).map((cr) => `add rule ${TABLE} ${cr.chain} ${cr.rule}`)].join('\n'));
  }
  return out;
}

function scriptOf(perRule: ReadonlyMap<string, string>, exclude: readonly string[], present: readonly string[]): string {
  const lines: string[] = [];
  for (const family of [4, 6] as const) {
    const set = `${TABLE} ${NEVER_BLOCK[family]}`;
    lines.push(`add set ${set} { type ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}; flags interval; auto-merge; }`, `flush set ${set}`);
    const elements = excludeElements(exclude, family);
    for (let i = 0; i < elements.length; i += ELEMENTS_PER_STATEMENT) lines.push(`add element ${set} { ${elements.slice(i, i + ELEMENTS_PER_STATEMENT).join(', ')} }`);
  }
  for (const c of Object.values(SIG_CHAINS)) {
    lines.push(`add chain ${TABLE} ${c.name} { type filter hook ${c.hook} priority ${c.priority}; policy accept; }`, `flush chain ${TABLE} ${c.name}`);
  }
  // sig_early runs before the ban chain (raw, -300): banned sources go on to it, so a ban
  // keeps counting its own drops and a rule's limit is not spent on them.
  lines.push(...NFT_BAN_SETS.trim().split('\n'));
  for (const rule of NFT_BANNED_RETURN_RULES) lines.push(`add rule ${TABLE} ${SIG_CHAINS.early.name} ${rule}`);
  lines.push(...perRule.values());
  const wanted = new Set([...perRule.keys()].map(counterName));
  for (const name of present) if (/^sig_[0-9a-f]{16}$/.test(name) && !wanted.has(name)) lines.push(`delete counter ${TABLE} ${name}`);
  return `${lines.join('\n')}\n`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Named counters sig_<id> from `nft -j list counters table inet floodgate`. */
export function parseSignatureCounters(json: string): Map<string, DropCounters> {
  const parsed: unknown = JSON.parse(json);
  if (!isRecord(parsed) || !Array.isArray(parsed['nftables'])) throw new Error('unexpected nft JSON output');
  const out = new Map<string, DropCounters>();
  for (const item of parsed['nftables']) {
    const c = isRecord(item) ? item['counter'] : undefined;
    if (!isRecord(c) || typeof c['name'] !== 'string') continue;
    const m = /^sig_([0-9a-f]{16})$/.exec(c['name']);
    if (m?.[1]) out.set(m[1], { packets: Number(c['packets'] ?? 0), bytes: Number(c['bytes'] ?? 0) });
  }
  return out;
}

/**
 * The ids a change only appends (nothing else moved: the same never-block
 * list, the held rules first and unchanged), or undefined.
 */
function appendedRules(held: { exclude: string; rules: ReadonlyMap<string, string> }, next: { exclude: string; rules: ReadonlyMap<string, string> }): string[] | undefined {
  if (held.exclude !== next.exclude || next.rules.size <= held.rules.size) return undefined;
  const ids = [...next.rules.keys()];
  let i = 0;
  for (const [id, lines] of held.rules) {
    if (ids[i++] !== id || next.rules.get(id) !== lines) return undefined;
  }
  return ids.slice(held.rules.size);
}

export class NftSignatures implements SignatureFirewall {
  constructor(private readonly exec: CommandExecutor) {}

  /** One transaction; TZ=UTC so the rules' expiry times mean UTC. */
  private async run(script: string): Promise<void> {
    await this.exec(['nft', '-f', '-'], { input: script, env: { TZ: 'UTC' } });
  }

  /**
   * What our last transaction left in the table: each rule's lines (by
   * id, in order) and the never-block list. Listing the counters before every
   * change, and rebuilding every chain for one new rule, cost time on the path
   * from a flood's first slot to its rule (docs/mitigation.md). So a change
   * that only appends rules appends them (the layout a rebuild would give),
   * anything else rebuilds with the counters it knows, and after a failed
   * transaction (someone changed the table) it lists them again.
   */
  private held: { exclude: string; rules: Map<string, string> } | undefined;

  private async counterNames(): Promise<string[]> {
    const r = await this.exec(['nft', '-j', 'list', 'counters', 'table', 'inet', 'floodgate'], { allowFailure: true });
    if (r.exitCode !== 0) return []; // no table yet
    return [...parseSignatureCounters(r.stdout).keys()].map(counterName);
  }

  async sync(rules: readonly FirewallSignature[], exclude: readonly string[]): Promise<void> {
    // Built (and refused: FirewallInputError) before anything runs, so a refusal changes nothing.
    const next = { exclude: exclude.join(','), rules: signatureLines(rules) };
    const held = this.held;
    this.held = undefined;
    const added = held ? appendedRules(held, next) : undefined;
    if (added?.length) {
      try {
        await this.run(`${added.map((id) => next.rules.get(id)).join('\n')}\n`);
        this.held = next;
        return;
      } catch {
        /* rebuilt below, with the counters listed */
      }
    }
    const rebuild = async (present: readonly string[]) => this.run(`add table ${TABLE}\n${scriptOf(next.rules, exclude, present)}`);
    if (held && !added) {
      try {
        await rebuild([...held.rules.keys()].map(counterName));
        this.held = next;
        return;
      } catch {
        /* listed below */
      }
    }
    await rebuild(await this.counterNames());
    this.held = next;
  }

  async counters(): Promise<Map<string, DropCounters>> {
    const { stdout } = await this.exec(['nft', '-j', 'list', 'counters', 'table', 'inet', 'floodgate']);
    return parseSignatureCounters(stdout);
  }

  async list(): Promise<string[]> {
    return [...(await this.counters()).keys()];
  }

  unsupported(): string | undefined {
    return undefined;
  }

  describe(): { objects: string[]; notes: string[] } {
    return {
      objects: [...Object.values(SIG_CHAINS).map((c) => `chain ${c.name} (${c.hook}, priority ${c.priority})`), 'sets sig_nb4, sig_nb6 (never-block sources)', 'counters sig_<id>'],
      notes: [
        'fragments are matched at priority -450, before the kernel reassembles them',
        'drop-invalid and synproxy need conntrack; synproxy needs net.netfilter.nf_conntrack_tcp_loose=0 and SYN cookies (docs/mitigation.md)',
      ],
    };
  }
}
