// Signature rules for pf (macOS), in the sub-anchor floodgate/signatures,
// which the floodgate anchor's own ruleset references (pf-backend.ts), so
// nothing outside our anchor changes. Each sync loads the whole sub-anchor
// (`pfctl -a floodgate/signatures -f -`), an atomic replace. The nearest
// equivalents of the nft rules:
//
//   drop          block drop in quick ... label "sig_<id>"
//   drop-invalid  block drop in quick proto tcp ... flags SA/SAR: pf matches
//                 packets of known connections against its state table
//                 before any rule, so only packets of no connection get here
//   synproxy      pass in proto tcp ... flags S/SA synproxy state (not
//                 quick: a later rule of pf.conf for the same traffic wins;
//                 docs/mitigation.md)
//
// Refused, each with its reason: limits (macOS pf has no packet-rate limit
// per rule; max-pkt-rate is OpenBSD's), and fragments (pf's scrub reassembles
// them before rules see them). Verified by command plan only
// (test/firewall/pf-signatures.test.ts, a recording pfctl); there is no pf here.

import { formatAddress, parseAddress, parseCidr, type Family } from '../../lib/cidr.js';
import { TCP_FLAG_NAMES } from '../../api/signature-rule.js';
import type { TcpFlagName } from '../../detection/types.js';
import type { CommandExecutor } from './exec.js';
import { counterName, type FirewallSignature, type SignatureFirewall } from './signature-types.js';
import { type DropCounters, FirewallInputError } from './types.js';

export const PF_SIG_ANCHOR = 'floodgate/signatures';
export const PF_NB_TABLE = 'floodgate_nb';

const PF_FLAG: Record<TcpFlagName, string> = { fin: 'F', syn: 'S', rst: 'R', psh: 'P', ack: 'A', urg: 'U', ece: 'E', cwr: 'W' };

function int(n: number, min: number, max: number, what: string): string {
  if (!Number.isInteger(n) || n < min || n > max) throw new FirewallInputError(`${what} must be an integer ${min}-${max}`);
  return String(n);
}

function letters(flags: readonly TcpFlagName[]): string {
  for (const f of flags) if (!(TCP_FLAG_NAMES as readonly string[]).includes(f)) throw new FirewallInputError('unknown TCP flag');
  return flags.map((f) => PF_FLAG[f]).join('');
}

function portSpec(single: number | undefined, range: { from: number; to: number } | undefined, what: string): string | undefined {
  if (single !== undefined) return `port ${int(single, 0, 65535, what)}`;
  if (!range) return undefined;
  if (range.from > range.to) throw new FirewallInputError(`${what} range is reversed`);
  return `port ${int(range.from, 0, 65535, what)}:${int(range.to, 0, 65535, what)}`;
}

/** Why pf cannot hold this rule, or undefined. */
export function pfUnsupported(r: FirewallSignature): string | undefined {
  if (r.match.fragment !== undefined) return 'pf cannot match fragments: its scrub reassembles them before rules see them; use nft on Linux';
  if (r.action.type === 'limit') return 'pf cannot limit a rule to a packet rate (macOS pf has no max-pkt-rate): limit rules are not supported on pf';
  return undefined;
}

/** The pf rule of one signature rule (pf has no helpers: synproxy needs no notrack). */
export function pfRuleOf(r: FirewallSignature): string {
  const why = pfUnsupported(r);
  if (why) throw new FirewallInputError(why);
  const m = r.match;
  const dst = parseAddress(m.destination);
  if (!dst) throw new FirewallInputError('signature destination is not one address');
  const family: Family = dst.family;
  const af = family === 4 ? 'inet' : 'inet6';
  let proto = '';
  if (m.protocol === 'tcp' || m.protocol === 'udp') proto = `proto ${m.protocol}`;
  else if (m.protocol === 'icmp') proto = family === 4 ? 'proto icmp' : 'proto icmp6';
  else if (m.ipProtocol !== undefined) proto = `proto ${int(m.ipProtocol, 0, 255, 'ipProtocol')}`;
  // A source the manager checked never overlaps the never-block list; otherwise every source but those.
  let from = `from ! <${PF_NB_TABLE}>`;
  if (m.source !== undefined) {
    const src = parseCidr(m.source);
    if (!src || src.family !== family) throw new FirewallInputError('signature source is not an address of the destination family');
    from = `from ${formatAddress(src.family, src.bytes)}/${src.prefix}`;
  }
  const sport = portSpec(m.sourcePort, m.sourcePorts, 'source port');
  const dport = portSpec(m.destinationPort, m.destinationPorts, 'destination port');
  const where = [from, sport, 'to', formatAddress(family, dst.bytes), dport].filter(Boolean).join(' ');
  const flags = m.tcpFlags ? `flags ${letters(m.tcpFlags.value)}/${letters(m.tcpFlags.mask)}` : '';
  const icmp = m.protocol === 'icmp' ? (family === 4 ? 'icmp-type echoreq' : 'icmp6-type echoreq') : '';
  const label = `label "${counterName(r.id)}"`;
  const join = (...parts: string[]) => parts.filter(Boolean).join(' ');
  switch (r.action.type) {
    case 'drop':
    case 'drop-invalid':
      return join('block drop in quick', af, proto, where, flags, icmp, label);
    case 'synproxy':
      if (m.protocol !== 'tcp' || m.destinationPort === undefined) throw new FirewallInputError('synproxy needs tcp and one destination port');
      return join('pass in', af, 'proto tcp', where, 'flags S/SA synproxy state', label);
    default:
      throw new FirewallInputError(`pf cannot express ${r.action.type}`);
  }
}

/** The whole sub-anchor: the never-block table and one rule per signature. */
export function pfSignatureRules(rules: readonly FirewallSignature[], exclude: readonly string[]): string {
  const elements = exclude.map((text) => {
    const c = parseCidr(text);
    if (!c) throw new FirewallInputError('never-block entry is not a CIDR');
    return `${formatAddress(c.family, c.bytes)}/${c.prefix}`;
  });
  return [`table <${PF_NB_TABLE}> const { ${elements.join(' ')} }`, ...rules.map(pfRuleOf)].join('\n') + '\n';
}

/** Per-label counters from `pfctl -a floodgate/signatures -s labels` ("label evaluations packets bytes ..."). */
export function parsePfLabels(text: string): Map<string, DropCounters> {
  const out = new Map<string, DropCounters>();
  for (const line of text.split('\n')) {
    const m = /^sig_([0-9a-f]{16})\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line.trim());
    if (!m?.[1]) continue;
    const prev = out.get(m[1]) ?? { packets: 0, bytes: 0 };
    out.set(m[1], { packets: prev.packets + Number(m[3]), bytes: prev.bytes + Number(m[4]) });
  }
  return out;
}

export class PfSignatures implements SignatureFirewall {
  private held: string[] = [];

  constructor(private readonly exec: CommandExecutor) {}

  unsupported(rule: FirewallSignature): string | undefined {
    return pfUnsupported(rule);
  }

  async sync(rules: readonly FirewallSignature[], exclude: readonly string[]): Promise<void> {
    await this.exec(['pfctl', '-a', PF_SIG_ANCHOR, '-f', '-'], { input: pfSignatureRules(rules, exclude) });
    this.held = rules.map((r) => r.id);
  }

  async counters(): Promise<Map<string, DropCounters>> {
    const { stdout } = await this.exec(['pfctl', '-a', PF_SIG_ANCHOR, '-s', 'labels']);
    const counted = parsePfLabels(stdout);
    // A rule that matched nothing yet may not be listed.
    for (const id of this.held) if (!counted.has(id)) counted.set(id, { packets: 0, bytes: 0 });
    return counted;
  }

  async list(): Promise<string[]> {
    const { stdout } = await this.exec(['pfctl', '-a', PF_SIG_ANCHOR, '-s', 'rules']);
    return [...stdout.matchAll(/label "sig_([0-9a-f]{16})"/g)].map((m) => m[1]!);
  }

  async teardown(): Promise<void> {
    await this.exec(['pfctl', '-a', PF_SIG_ANCHOR, '-F', 'rules'], { allowFailure: true });
    await this.exec(['pfctl', '-a', PF_SIG_ANCHOR, '-F', 'Tables'], { allowFailure: true });
    this.held = [];
  }

  describe(): { objects: string[]; notes: string[] } {
    return {
      objects: [`anchor "${PF_SIG_ANCHOR}"`, `table <${PF_NB_TABLE}>`],
      notes: ['limits and fragment rules are refused on pf', 'synproxy is a non-quick pass: a later rule of pf.conf for the same traffic wins'],
    };
  }
}
