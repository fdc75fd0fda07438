// A signature rule: what traffic to one protected address it matches, and
// what the firewall does with it. The one definition every side shares: the
// SignatureRule CRD (api/v1alpha1/signature-rule.ts embeds these schemas), the
// agent API (api/agent/v1), the agent's store and firewall backends, and the
// controller. docs/mitigation.md explains the actions.
//
// Two kinds of checks live here, both pure:
//   - the schemas: shapes and bounds (a port is 0-65535, a rate is positive);
//   - signatureProblems(): combinations that make no sense or would hurt the
//     service (ports on ICMP, a blanket drop of SYNs, every port of a
//     protocol dropped). The agent adds what needs the host (is the victim
//     protected here, does a source overlap the never-block list).
// The rule's id is a hash of its canonical match, so the same match asked for
// twice (by the controller and by the agent's own detection, or after a
// restart) is one rule, extended, never two.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalCidr, formatAddress, parseAddress } from '../lib/cidr.js';
import type { MitigationSignature, TcpFlagName } from '../detection/types.js';
import { IP_OR_CIDR_PATTERN, IP_PATTERN } from './v1alpha1/types.js';

export const TCP_FLAG_NAMES = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'] as const satisfies readonly TcpFlagName[];

const port = z.number().int().min(0).max(65535);

export const portRangeSchema = z
  .strictObject({
    from: port.describe('First port of the range (0-65535).'),
    to: port.describe('Last port of the range (0-65535), at least from.'),
  })
  .describe('An inclusive port range.');

export const tcpFlagsSchema = z
  .strictObject({
    mask: z.array(z.enum(TCP_FLAG_NAMES)).min(1).max(8).describe('Flags looked at (fin, syn, rst, psh, ack, urg, ece, cwr).'),
    value: z.array(z.enum(TCP_FLAG_NAMES)).max(8).describe('Which of them must be set; the others of the mask must be clear.'),
  })
  .describe('TCP flags: (flags & mask) == value, as nft writes "tcp flags & (syn|ack) == syn".');

/** What a rule matches. Every rule is scoped to one protected address. */
export const signatureMatchSchema = z
  .strictObject({
    protocol: z.enum(['tcp', 'udp', 'icmp', 'any']).describe('tcp, udp, icmp (ICMPv6 for an IPv6 destination), or any.'),
    destination: z
      .string()
      .regex(new RegExp(IP_PATTERN), { error: 'must be one IP address: a signature is for one protected address, never a range' })
      .max(64)
      .describe('The protected address the rule is for: one IPv4 or IPv6 address, never a range.'),
    source: z
      .string()
      .regex(new RegExp(IP_OR_CIDR_PATTERN), { error: 'must be an IP address or CIDR' })
      .max(64)
      .optional()
      .describe('Only traffic from this address or CIDR. Absent: any source (except the never-block list).'),
    sourcePort: port.optional().describe('UDP/TCP source port, e.g. 161 for an SNMP amplification.'),
    sourcePorts: portRangeSchema.optional().describe('UDP/TCP source port range, instead of sourcePort.'),
    destinationPort: port.optional().describe("UDP/TCP destination port: the victim's service, e.g. 443."),
    destinationPorts: portRangeSchema.optional().describe('UDP/TCP destination port range, instead of destinationPort.'),
    tcpFlags: tcpFlagsSchema.optional(),
    fragment: z
      .enum(['any', 'non-first'])
      .optional()
      .describe('IP fragments: any (every fragment) or non-first (those without a transport header).'),
    ipProtocol: z.number().int().min(0).max(255).optional().describe('Another IP protocol by number, with protocol any (e.g. 47 for GRE).'),
    text: z.string().max(300).optional().describe('The match in words, e.g. "udp sport 161 to 10.10.10.10" (written by floodgate; ignored on input).'),
  })
  .describe('The traffic the rule matches, always towards one protected address.');

export type SignatureMatch = z.output<typeof signatureMatchSchema>;

/** What a policy (or an agent) lets happen to the rules its verdicts call for: apply, only propose, or neither. */
// Not "off": YAML 1.1 readers (kubectl, helm) read an unquoted off as the boolean false.
export const SIGNATURE_MODES = ['auto', 'propose', 'disabled'] as const;
export type SignatureMode = (typeof SIGNATURE_MODES)[number];

export const SIGNATURE_ACTIONS = ['drop', 'limit', 'synproxy', 'drop-invalid'] as const;
export type SignatureActionType = (typeof SIGNATURE_ACTIONS)[number];

/** The longest rate a limit may allow: 10 M packets/s is beyond any NIC a single rule protects. */
export const MAX_RATE_PER_SECOND = 10_000_000;

export const signatureActionSchema = z
  .strictObject({
    type: z
      .enum(SIGNATURE_ACTIONS)
      .describe(
        'drop: drop every matching packet. limit: drop what exceeds ratePerSecond. synproxy: answer SYNs with SYN ' +
          "cookies in the kernel and pass only completed handshakes to the service (TCP, one destination port; falls back to limit at ratePerSecond where synproxy is not ready). drop-invalid: drop matching packets that belong to no connection (conntrack's invalid or new state): reflected SYN-ACKs, stray ACKs and RSTs.",
      ),
    ratePerSecond: z
      .number()
      .int()
      .min(1)
      .max(MAX_RATE_PER_SECOND)
      .optional()
      .describe(`Packets per second let through (limit; synproxy's fallback), 1-${MAX_RATE_PER_SECOND}.`),
    burst: z.number().int().min(1).max(MAX_RATE_PER_SECOND).optional().describe('Packets let through at once above the rate (limit). Default: a fifth of the rate, at least 5.'),
  })
  .describe('What the firewall does with matching packets.');

export type SignatureAction = z.output<typeof signatureActionSchema>;

/** A limit's burst when none is given: a fifth of a second at the rate, at least 5 packets. */
export function defaultBurst(ratePerSecond: number): number {
  return Math.max(5, Math.ceil(ratePerSecond / 5));
}

const FLAG_ORDER = new Map<TcpFlagName, number>(TCP_FLAG_NAMES.map((f, i) => [f, i]));
const sortFlags = (flags: readonly TcpFlagName[]) => [...new Set(flags)].sort((a, b) => FLAG_ORDER.get(a)! - FLAG_ORDER.get(b)!);

/** The same match in one normal form: canonical addresses, sorted flags, a one-port range as its port, the text rendered. */
export function normalizeMatch(m: SignatureMatch): SignatureMatch {
  const dst = parseAddress(m.destination);
  const out: SignatureMatch = { protocol: m.protocol, destination: dst ? formatAddress(dst.family, dst.bytes) : m.destination };
  if (m.source !== undefined) {
    const c = canonicalCidr(m.source);
    const host = c && (c.endsWith('/32') || c.endsWith('/128'));
    out.source = c ? (host ? c.slice(0, c.lastIndexOf('/')) : c) : m.source;
  }
  const sport = m.sourcePorts && m.sourcePorts.from === m.sourcePorts.to ? m.sourcePorts.from : m.sourcePort;
  if (sport !== undefined) out.sourcePort = sport;
  else if (m.sourcePorts) out.sourcePorts = { from: m.sourcePorts.from, to: m.sourcePorts.to };
  const dport = m.destinationPorts && m.destinationPorts.from === m.destinationPorts.to ? m.destinationPorts.from : m.destinationPort;
  if (dport !== undefined) out.destinationPort = dport;
  else if (m.destinationPorts) out.destinationPorts = { from: m.destinationPorts.from, to: m.destinationPorts.to };
  if (m.tcpFlags) out.tcpFlags = { mask: sortFlags(m.tcpFlags.mask), value: sortFlags(m.tcpFlags.value) };
  if (m.fragment !== undefined) out.fragment = m.fragment;
  if (m.ipProtocol !== undefined) out.ipProtocol = m.ipProtocol;
  out.text = matchText(out);
  return out;
}

function flagText(f: { mask: readonly TcpFlagName[]; value: readonly TcpFlagName[] }): string {
  const v = f.value.join(',') || 'none';
  return f.mask.length === f.value.length && f.mask.every((x) => f.value.includes(x)) ? v : `${v}/${f.mask.join(',')}`;
}

function portText(single: number | undefined, range: { from: number; to: number } | undefined): string | undefined {
  if (single !== undefined) return String(single);
  return range ? `${range.from}-${range.to}` : undefined;
}

/** The match in words, detection's style: "tcp flags syn/syn,ack,rst to 10.10.10.10 dport 443". */
export function matchText(m: SignatureMatch): string {
  const proto = m.protocol === 'any' ? (m.ipProtocol !== undefined ? `ip proto ${m.ipProtocol}` : 'ip') : m.protocol;
  let text = m.fragment === 'non-first' ? `${proto} non-first fragments` : m.fragment === 'any' ? `${proto} fragments` : proto;
  if (m.tcpFlags) text += ` flags ${flagText(m.tcpFlags)}`;
  const sport = portText(m.sourcePort, m.sourcePorts);
  if (sport) text += ` sport ${sport}`;
  if (m.source) text += ` from ${m.source}`;
  text += ` to ${m.destination}`;
  const dport = portText(m.destinationPort, m.destinationPorts);
  if (dport) text += ` dport ${dport}`;
  return text;
}

/** The action in words: "drop", "limit 800/s burst 160", "synproxy (limit 800/s where not ready)". */
export function actionText(a: SignatureAction): string {
  switch (a.type) {
    case 'limit':
      return `limit ${a.ratePerSecond ?? '?'}/s burst ${a.burst ?? defaultBurst(a.ratePerSecond ?? 1)}`;
    case 'synproxy':
      return a.ratePerSecond ? `synproxy (else limit ${a.ratePerSecond}/s)` : 'synproxy';
    default:
      return a.type;
  }
}

/** A rule's id: 16 hex digits of SHA-256 over its normal form, without the text. Names its counter (sig_<id>) everywhere. */
export function signatureId(m: SignatureMatch): string {
  const { text: _text, ...rest } = normalizeMatch(m);
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/** The ids have this shape: what routes and names may carry. */
export const SIGNATURE_ID_PATTERN = /^[0-9a-f]{16}$/;

const SYN_ONLY_VALUE = (f: SignatureMatch['tcpFlags']) => f !== undefined && f.value.length === 1 && f.value[0] === 'syn' && f.mask.includes('ack');

/** Does the match select connection attempts (SYN without ACK)? */
export function matchesSyns(m: SignatureMatch): boolean {
  return m.protocol === 'tcp' && SYN_ONLY_VALUE(m.tcpFlags);
}

function rangeOf(single: number | undefined, range: { from: number; to: number } | undefined) {
  return single !== undefined ? { from: single, to: single } : range;
}

/**
 * What is wrong with a rule, one line each (empty: nothing). Checks only
 * what the rule itself says; the agent adds the host's checks.
 */
export function signatureProblems(m: SignatureMatch, a: SignatureAction): string[] {
  const problems: string[] = [];
  const dst = parseAddress(m.destination);
  if (!dst) problems.push(`destination ${JSON.stringify(m.destination)} is not one IP address (a signature is for one protected address, never a range)`);
  if (m.source !== undefined && canonicalCidr(m.source) === undefined) problems.push(`source ${JSON.stringify(m.source)} is not an IP address or CIDR`);
  const ported = m.protocol === 'tcp' || m.protocol === 'udp';
  const sport = rangeOf(m.sourcePort, m.sourcePorts);
  const dport = rangeOf(m.destinationPort, m.destinationPorts);
  if (m.sourcePort !== undefined && m.sourcePorts) problems.push('give sourcePort or sourcePorts, not both');
  if (m.destinationPort !== undefined && m.destinationPorts) problems.push('give destinationPort or destinationPorts, not both');
  for (const [name, r] of [['sourcePorts', m.sourcePorts], ['destinationPorts', m.destinationPorts]] as const) {
    if (!r) continue;
    if (r.from > r.to) problems.push(`${name} ${r.from}-${r.to}: from is above to`);
    else if (r.from === 0 && r.to === 65535) problems.push(`${name} 0-65535 is every port: name the attacked or abused port(s), never the whole range`);
  }
  if (!ported && (sport || dport)) problems.push(`ports need protocol tcp or udp, not ${m.protocol}`);
  if (m.tcpFlags && m.protocol !== 'tcp') problems.push('tcpFlags need protocol tcp');
  if (m.tcpFlags && !m.tcpFlags.value.every((f) => m.tcpFlags!.mask.includes(f))) problems.push('tcpFlags.value must be a subset of tcpFlags.mask');
  if (m.fragment === 'non-first' && (sport || dport || m.tcpFlags)) problems.push('non-first fragments carry no ports or flags: use protocol any');
  if (m.ipProtocol !== undefined && m.protocol !== 'any') problems.push('ipProtocol needs protocol any');
  if (m.fragment !== undefined && m.protocol !== 'any' && m.fragment === 'any' && (sport || dport)) {
    problems.push('a fragment rule with ports would miss the fragments after the first: use protocol any');
  }

  // What the action may do with this match.
  const syns = matchesSyns(m);
  const narrowed = sport || dport || m.tcpFlags || m.source || m.fragment || m.ipProtocol !== undefined;
  switch (a.type) {
    case 'drop':
      if (syns) problems.push(`never a blanket drop of SYNs to ${m.destination}: new clients could not connect; use synproxy or limit`);
      else if (ported && !narrowed) problems.push(`would drop every ${m.protocol} packet to ${m.destination} (every port): name a port, flags, a source or fragments`);
      else if (m.protocol === 'any' && !narrowed) problems.push(`would drop everything sent to ${m.destination}: a signature must be narrower than the address`);
      break;
    case 'limit':
      if (a.ratePerSecond === undefined) problems.push('limit needs ratePerSecond');
      break;
    case 'synproxy':
      if (m.protocol !== 'tcp' || m.destinationPort === undefined) problems.push('synproxy needs protocol tcp and one destinationPort (the listening service)');
      if (m.tcpFlags && !syns) problems.push('synproxy handles SYNs: tcpFlags must select SYN without ACK, or be left out');
      if (m.sourcePort !== undefined || m.sourcePorts || m.fragment) problems.push('synproxy takes no source ports or fragments');
      break;
    case 'drop-invalid':
      if (m.protocol !== 'tcp' || !m.tcpFlags) problems.push('drop-invalid needs protocol tcp and tcpFlags (SYN-ACK, ACK or RST: packets of no connection)');
      else if (syns) problems.push('drop-invalid never applies to SYNs: every new connection starts as one');
      break;
  }
  if (a.type !== 'limit' && a.type !== 'synproxy' && (a.ratePerSecond !== undefined || a.burst !== undefined)) problems.push(`${a.type} takes no ratePerSecond or burst`);
  return problems;
}

/** A detection signature (detection/types.ts) as a rule's match. */
export function matchOfSignature(s: MitigationSignature): SignatureMatch {
  const m: SignatureMatch = { protocol: s.protocol, destination: s.destination };
  if (s.sourcePort !== undefined) m.sourcePort = s.sourcePort;
  if (s.destinationPort !== undefined) m.destinationPort = s.destinationPort;
  if (s.tcpFlags) m.tcpFlags = { mask: [...s.tcpFlags.mask], value: [...s.tcpFlags.value] };
  if (s.fragment !== undefined) m.fragment = s.fragment;
  if (s.ipProtocol !== undefined) m.ipProtocol = s.ipProtocol;
  return normalizeMatch(m);
}
