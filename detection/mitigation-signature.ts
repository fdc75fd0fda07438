// Build a MitigationSignature and its human text from the attack's fields, so
// every vector renders the same way: "<proto>[ flags F][ sport S] to <dst>[ dport D]",
// e.g. "udp sport 161 to 10.10.10.10", "tcp flags syn/syn,ack,rst to 10.10.10.10 dport 443".
// The structure is what a firewall rule is built from (issue 11), so it is
// validated by one schema: only fields that make sense together.

import net from 'node:net';
import { z } from 'zod';
import type { MitigationSignature, TcpFlagName } from './types.js';

const TCP_FLAGS = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'] as const satisfies readonly TcpFlagName[];
const port = z.number().int().min(0).max(65535);

/** The one schema of a signature: ports only with tcp/udp, flags only with tcp, a single protected address. */
export const mitigationSignatureSchema = z
  .strictObject({
    text: z.string().min(1).max(200),
    protocol: z.enum(['tcp', 'udp', 'icmp', 'any']),
    destination: z.string().refine((s) => net.isIP(s) !== 0, { message: 'destination must be one IP address' }),
    sourcePort: port.optional(),
    destinationPort: port.optional(),
    tcpFlags: z.strictObject({ mask: z.array(z.enum(TCP_FLAGS)).min(1).max(8), value: z.array(z.enum(TCP_FLAGS)).max(8) }).optional(),
    fragment: z.enum(['any', 'non-first']).optional(),
    ipProtocol: z.number().int().min(0).max(255).optional(),
  })
  .superRefine((s, ctx) => {
    const ported = s.protocol === 'tcp' || s.protocol === 'udp';
    if (!ported && (s.sourcePort !== undefined || s.destinationPort !== undefined)) {
      ctx.addIssue({ code: 'custom', message: `ports need protocol tcp or udp, not ${s.protocol}` });
    }
    if (s.tcpFlags && s.protocol !== 'tcp') ctx.addIssue({ code: 'custom', message: 'tcpFlags need protocol tcp' });
    if (s.tcpFlags && !s.tcpFlags.value.every((f) => s.tcpFlags!.mask.includes(f))) {
      ctx.addIssue({ code: 'custom', message: 'tcpFlags.value must be a subset of tcpFlags.mask' });
    }
    if (s.fragment === 'non-first' && ported) {
      ctx.addIssue({ code: 'custom', message: 'non-first fragments carry no ports: use protocol any' });
    }
    if (s.ipProtocol !== undefined && s.protocol !== 'any') ctx.addIssue({ code: 'custom', message: 'ipProtocol needs protocol any' });
  }) satisfies z.ZodType<MitigationSignature>;

export interface SignatureFields {
  protocol: MitigationSignature['protocol'];
  destination: string;
  sourcePort?: number;
  destinationPort?: number;
  tcpFlags?: { mask: TcpFlagName[]; value: TcpFlagName[] };
  fragment?: MitigationSignature['fragment'];
  ipProtocol?: number;
}

/** Flags as nft writes them: "syn" when mask and value agree, else "value/mask". */
function flagText(f: { mask: TcpFlagName[]; value: TcpFlagName[] }): string {
  const v = f.value.join(',') || 'none';
  return f.mask.length === f.value.length ? v : `${v}/${f.mask.join(',')}`;
}

/** A validated signature; throws on a combination no firewall rule could express (a bug, not input). */
export function buildSignature(f: SignatureFields): MitigationSignature {
  const proto = f.protocol === 'any' ? (f.ipProtocol !== undefined ? `ip proto ${f.ipProtocol}` : 'ip') : f.protocol;
  let text = f.fragment === 'non-first' ? `${proto} non-first fragments` : f.fragment === 'any' ? `${proto} fragments` : proto;
  if (f.tcpFlags !== undefined) text += ` flags ${flagText(f.tcpFlags)}`;
  if (f.sourcePort !== undefined) text += ` sport ${f.sourcePort}`;
  text += ` to ${f.destination}`;
  if (f.destinationPort !== undefined) text += ` dport ${f.destinationPort}`;

  // Optional keys are only present when set, so the JSON stays minimal.
  const sig: MitigationSignature = { text, protocol: f.protocol, destination: f.destination };
  if (f.sourcePort !== undefined) sig.sourcePort = f.sourcePort;
  if (f.destinationPort !== undefined) sig.destinationPort = f.destinationPort;
  if (f.tcpFlags !== undefined) sig.tcpFlags = { mask: [...f.tcpFlags.mask], value: [...f.tcpFlags.value] };
  if (f.fragment !== undefined) sig.fragment = f.fragment;
  if (f.ipProtocol !== undefined) sig.ipProtocol = f.ipProtocol;
  return mitigationSignatureSchema.parse(sig);
}

/** (flags & (syn|ack|rst)) == syn: connection attempts, ECN variants included. */
export const SYN_ONLY = { mask: ['syn', 'ack', 'rst'] as TcpFlagName[], value: ['syn'] as TcpFlagName[] };
export const SYN_ACK = { mask: ['syn', 'ack', 'rst'] as TcpFlagName[], value: ['syn', 'ack'] as TcpFlagName[] };
export const RST_SET = { mask: ['rst'] as TcpFlagName[], value: ['rst'] as TcpFlagName[] };
export const ACK_ONLY = { mask: ['syn', 'ack', 'rst', 'fin'] as TcpFlagName[], value: ['ack'] as TcpFlagName[] };
