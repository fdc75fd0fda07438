// Classify a victim's attack vector from its window counters and derive the
// signature rule that matches the attack traffic itself.
//
// Rules, checked in this order (shares are of the victim's packets unless said):
//   1. fragments  > 50%                       -> fragment_flood   "ip fragments to X"
//   2. tcp        > 50%, then of TCP packets:
//        syn     > 50%                        -> syn_flood        "tcp flags syn to X[ dport P]"
//        synAck  > 50%                        -> synack_reflection "tcp flags syn-ack[ sport S] to X"
//        rst     > 50%                        -> rst_flood        "tcp flags rst to X[ dport P]"
//        ack     > 50%                        -> ack_flood        "tcp flags ack to X[ dport P]"
//        else                                 -> generic          "tcp to X[ dport P]"
//   3. udp        > 50%, then:
//        top UDP source port is a known amplification port and carries
//        >= 60% of the UDP packets             -> udp_amplification "udp sport S to X"
//        else                                 -> udp_flood        "udp[ sport S] to X[ dport P]"
//   4. icmp       > 50%                       -> icmp_flood       "icmp to X"
//   5. otherwise                              -> generic          "ip to X"
// A port is added to a signature only when it carries more than 50% of the
// protocol's packets, so the rule still matches most of the flood.
// The flag counters are disjoint by construction in the engine (SYN without
// ACK, SYN+ACK, ACK-only, RST), so at most one flag can dominate.

import { amplificationService } from './amplification-ports.js';
import { buildSignature, type SignatureFields } from './mitigation-signature.js';
import type { DestinationCounters, PortCount } from '../native/lib/types.js';
import type { AttackVector, MitigationSignature } from './types.js';

/** A protocol, flag or port "dominates" when its share is strictly above this. */
export const DOMINANT_SHARE = 0.5;
/** Share of the victim's UDP packets the amplification port must hold (a clear majority). */
export const AMPLIFICATION_PORT_SHARE = 0.6;

export interface VectorClassification {
  vector: AttackVector;
  /** Human description, e.g. "SNMP amplification (udp sport 161)". */
  detail: string;
  signature: MitigationSignature;
}

type VictimCounters = Pick<
  DestinationCounters,
  | 'addr'
  | 'packets'
  | 'tcp'
  | 'udp'
  | 'icmp'
  | 'other'
  | 'syn'
  | 'synAck'
  | 'ack'
  | 'rst'
  | 'fragments'
  | 'udpSrcPorts'
  | 'tcpSrcPorts'
  | 'udpDstPorts'
  | 'tcpDstPorts'
>;

function share(part: number, whole: number): number {
  return whole > 0 ? part / whole : 0;
}

function percent(part: number, whole: number): string {
  return `${Math.round(share(part, whole) * 100)}%`;
}

function heaviestPort(ports: readonly PortCount[]): PortCount | undefined {
  let best: PortCount | undefined;
  for (const p of ports) if (best === undefined || p.packets > best.packets) best = p;
  return best;
}

/** The heaviest port when it carries more than DOMINANT_SHARE of `total`. */
function dominantPort(ports: readonly PortCount[], total: number): number | undefined {
  const top = heaviestPort(ports);
  return top !== undefined && share(top.packets, total) > DOMINANT_SHARE ? top.port : undefined;
}

function withPort(label: string, proto: string, dir: 'sport' | 'dport', port: number | undefined): string {
  return port === undefined ? label : `${label} (${proto} ${dir} ${port})`;
}

function classifyTcp(v: VictimCounters): VectorClassification {
  const dport = dominantPort(v.tcpDstPorts, v.tcp);
  const base: SignatureFields = { protocol: 'tcp', destination: v.addr, destinationPort: dport };
  if (share(v.syn, v.tcp) > DOMINANT_SHARE) {
    return {
      vector: 'syn_flood',
      detail: withPort('TCP SYN flood', 'tcp', 'dport', dport),
      signature: buildSignature({ ...base, tcpFlags: 'syn' }),
    };
  }
  if (share(v.synAck, v.tcp) > DOMINANT_SHARE) {
    // Reflected SYN-ACKs come from the reflectors' service port; the victim's
    // destination ports are random, so match on the source port instead.
    const sport = dominantPort(v.tcpSrcPorts, v.tcp);
    return {
      vector: 'synack_reflection',
      detail: withPort('TCP SYN-ACK reflection', 'tcp', 'sport', sport),
      signature: buildSignature({ protocol: 'tcp', destination: v.addr, sourcePort: sport, tcpFlags: 'syn-ack' }),
    };
  }
  if (share(v.rst, v.tcp) > DOMINANT_SHARE) {
    return {
      vector: 'rst_flood',
      detail: withPort('TCP RST flood', 'tcp', 'dport', dport),
      signature: buildSignature({ ...base, tcpFlags: 'rst' }),
    };
  }
  if (share(v.ack, v.tcp) > DOMINANT_SHARE) {
    return {
      vector: 'ack_flood',
      detail: withPort('TCP ACK flood', 'tcp', 'dport', dport),
      signature: buildSignature({ ...base, tcpFlags: 'ack' }),
    };
  }
  return {
    vector: 'generic',
    detail: withPort('TCP flood with mixed flags', 'tcp', 'dport', dport),
    signature: buildSignature(base),
  };
}

function classifyUdp(v: VictimCounters): VectorClassification {
  const top = heaviestPort(v.udpSrcPorts);
  const service = top !== undefined ? amplificationService(top.port) : undefined;
  if (top !== undefined && service !== undefined && share(top.packets, v.udp) >= AMPLIFICATION_PORT_SHARE) {
    return {
      vector: 'udp_amplification',
      detail: `${service} amplification (udp sport ${top.port})`,
      signature: buildSignature({ protocol: 'udp', destination: v.addr, sourcePort: top.port }),
    };
  }
  // Flood tools often fix one port; include whichever ports dominate.
  const sport = dominantPort(v.udpSrcPorts, v.udp);
  const dport = dominantPort(v.udpDstPorts, v.udp);
  let detail = 'UDP flood';
  const ports = [sport !== undefined ? `sport ${sport}` : '', dport !== undefined ? `dport ${dport}` : '']
    .filter(Boolean)
    .join(', ');
  if (ports) detail += ` (udp ${ports})`;
  return {
    vector: 'udp_flood',
    detail,
    signature: buildSignature({ protocol: 'udp', destination: v.addr, sourcePort: sport, destinationPort: dport }),
  };
}

/** Classify the vector of traffic towards one victim. */
export function classifyVector(v: VictimCounters): VectorClassification {
  if (share(v.fragments, v.packets) > DOMINANT_SHARE) {
    return {
      vector: 'fragment_flood',
      detail: `IP fragment flood (${percent(v.fragments, v.packets)} of packets are fragments)`,
      signature: buildSignature({ protocol: 'any', destination: v.addr, fragments: true }),
    };
  }
  if (share(v.tcp, v.packets) > DOMINANT_SHARE) return classifyTcp(v);
  if (share(v.udp, v.packets) > DOMINANT_SHARE) return classifyUdp(v);
  if (share(v.icmp, v.packets) > DOMINANT_SHARE) {
    return { vector: 'icmp_flood', detail: 'ICMP flood', signature: buildSignature({ protocol: 'icmp', destination: v.addr }) };
  }
  return {
    vector: 'generic',
    detail:
      `mixed-protocol flood (tcp ${percent(v.tcp, v.packets)}, udp ${percent(v.udp, v.packets)}, ` +
      `icmp ${percent(v.icmp, v.packets)}, other ${percent(v.other, v.packets)})`,
    signature: buildSignature({ protocol: 'any', destination: v.addr }),
  };
}
