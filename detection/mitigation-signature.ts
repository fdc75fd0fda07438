// Build a MitigationSignature and its human text from the attack's fields, so
// every vector renders the same way: "<proto>[ flags F][ sport S] to <dst>[ dport D]",
// e.g. "udp sport 161 to 10.10.10.10", "tcp flags syn to 10.10.10.10 dport 443".

import type { MitigationSignature } from './types.js';

export interface SignatureFields {
  protocol: MitigationSignature['protocol'];
  destination: string;
  sourcePort?: number;
  destinationPort?: number;
  tcpFlags?: string;
  /**
   * Match IP fragments only. The contract has no field for this, so it shows in
   * the text ("ip fragments to X") and the vector is 'fragment_flood'.
   */
  fragments?: boolean;
}

export function buildSignature(f: SignatureFields): MitigationSignature {
  const proto = f.protocol === 'any' ? 'ip' : f.protocol;
  let text = f.fragments ? `${proto} fragments` : proto;
  if (f.tcpFlags !== undefined) text += ` flags ${f.tcpFlags}`;
  if (f.sourcePort !== undefined) text += ` sport ${f.sourcePort}`;
  text += ` to ${f.destination}`;
  if (f.destinationPort !== undefined) text += ` dport ${f.destinationPort}`;

  // Optional keys are only present when set, so the JSON stays minimal.
  const sig: MitigationSignature = { text, protocol: f.protocol, destination: f.destination };
  if (f.sourcePort !== undefined) sig.sourcePort = f.sourcePort;
  if (f.destinationPort !== undefined) sig.destinationPort = f.destinationPort;
  if (f.tcpFlags !== undefined) sig.tcpFlags = f.tcpFlags;
  return sig;
}
