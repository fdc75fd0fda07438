// The traffic towards one protected address, split into components that each
// correspond to one attack vector: UDP from each amplification port, SYNs,
// SYN-ACKs, RSTs, stray ACKs, invalid flag mixes, fragments, ICMP, the rest
// of UDP and TCP, other protocols. Each component knows
//  - its packets in the window (for shares),
//  - the count its floor and baseline judge: only the part that looks
//    malicious on its own (SYNs that never completed a handshake, responses
//    the victim never asked for, ACKs the victim answered with RST, ...),
//  - its label with service and ports, its mitigation signature, and which
//    sources' traffic matches it (attacker selection).
// Pure: counters in, components out.

import type { AddressCounters, DestinationCounters, PortCount } from '../native/lib/types.js';
import { amplificationService } from './amplification-ports.js';
import { ACK_ONLY, buildSignature, RST_SET, SYN_ACK, SYN_ONLY } from './mitigation-signature.js';
import type { AttackVector, DetectionThresholds, MitigationSignature, TcpFlagName } from './types.js';

/** Signals with a learned baseline per protected address (pps unless said). */
export const BASELINE_SIGNALS = [
  'pps',
  'bps',
  'newSources',
  'synUnanswered',
  'synAckUnsolicited',
  'amplification',
  'fragments',
  'badFlags',
  'rst',
  'strayAck',
  'icmp',
  'udpOther',
] as const;
export type BaselineSignal = (typeof BASELINE_SIGNALS)[number];

/** A protocol, flag or port "dominates" when its share is strictly above this. */
export const DOMINANT_SHARE = 0.5;

export interface Component {
  key: string;
  vector: AttackVector;
  label: string;
  service?: string;
  /** Packets of this component in the window. */
  packets: number;
  /** The part its floor and baseline judge. */
  signalPackets: number;
  /** The baseline it is judged against (amplification ports share one), or none (ceiling only). */
  signal?: BaselineSignal;
  /** Its floor in packets/s, when it has one. */
  floorPps?: number;
  /** A further condition of the floor, e.g. fragments must also be a share of the victim's packets. */
  floorHolds?: boolean;
  /** A baseline anomaly only counts at this multiple of baselineMinPps (volume signals: flash crowds stay legal). */
  baselineMinFactor?: number;
  signature: MitigationSignature;
  /** Does this source's traffic match the vector? (attacker selection) */
  matches(s: AddressCounters): boolean;
  /** Extra evidence for its line, e.g. "0.3% of handshakes completed". */
  detail?: string;
}

function share(part: number, whole: number): number {
  return whole > 0 ? part / whole : 0;
}

function heaviest(ports: readonly PortCount[], exclude?: (p: number) => boolean): PortCount | undefined {
  let best: PortCount | undefined;
  for (const p of ports) if (!exclude?.(p.port) && (best === undefined || p.packets > best.packets)) best = p;
  return best;
}

/** The heaviest port when it carries more than DOMINANT_SHARE of `total`. */
export function dominantPort(ports: readonly PortCount[], total: number, exclude?: (p: number) => boolean): number | undefined {
  const top = heaviest(ports, exclude);
  return top !== undefined && share(top.packets, total) > DOMINANT_SHARE ? top.port : undefined;
}

function portCount(ports: readonly PortCount[], port: number): number {
  return ports.find((p) => p.port === port)?.packets ?? 0;
}

function withPorts(label: string, proto: 'tcp' | 'udp', sport?: number, dport?: number): string {
  const parts = [sport !== undefined ? `sport ${sport}` : '', dport !== undefined ? `dport ${dport}` : ''].filter(Boolean);
  return parts.length ? `${label} (${proto} ${parts.join(', ')})` : label;
}

function pct(x: number): string {
  const p = x * 100;
  return `${p < 1 && p > 0 ? p.toFixed(1) : Math.round(p)}%`;
}

const dominates = (part: number, s: AddressCounters) => part > DOMINANT_SHARE * s.packets;

/** Inbound packets a source sent from one UDP port (lower bound, from its entry). */
function fromUdpPort(s: AddressCounters, port: number): number {
  return s.udpSrcPort === port ? s.udpSrcPortPackets : 0;
}

/** The components of one victim's traffic, from its window counters `v`. */
export function victimComponents(v: DestinationCounters, t: DetectionThresholds): Component[] {
  const out: Component[] = [];
  const dst = v.addr;

  // UDP from amplification ports, minus what answers the victim's own queries to that port.
  let ampPackets = 0;
  for (const p of v.udpSrcPorts) {
    const service = amplificationService(p.port);
    if (service === undefined) continue;
    ampPackets += p.packets;
    const queries = portCount(v.outUdpDstPorts, p.port);
    const port = p.port;
    out.push({
      key: `amp:${port}`,
      vector: 'udp_amplification',
      label: `${service} amplification (udp sport ${port})`,
      service,
      packets: p.packets,
      signalPackets: Math.max(0, p.packets - queries),
      signal: 'amplification',
      floorPps: t.reflectionPps,
      signature: buildSignature({ protocol: 'udp', destination: dst, sourcePort: port }),
      matches: (s) => dominates(fromUdpPort(s, port), s),
      detail: queries > 0 ? `${Math.round(queries).toLocaleString('en-US')} queries sent to udp ${port}` : `no queries sent to udp ${port}`,
    });
  }

  // SYNs; the floor judges those that never completed a handshake.
  if (v.syn > 0) {
    const dport = dominantPort(v.synDstPorts, v.syn);
    const ecn = v.synEcn > DOMINANT_SHARE * v.syn;
    const completion = Math.min(1, share(v.handshakes, v.syn));
    const flags = ecn
      ? { mask: ['syn', 'ack', 'rst', 'ece', 'cwr'] as TcpFlagName[], value: ['syn', 'ece', 'cwr'] as TcpFlagName[] }
      : SYN_ONLY;
    out.push({
      key: 'syn',
      vector: 'syn_flood',
      label: withPorts(ecn ? 'TCP SYN flood with ECN/CWR flags' : 'TCP SYN flood', 'tcp', undefined, dport),
      packets: v.syn,
      signalPackets: Math.max(0, v.syn - v.handshakes),
      signal: 'synUnanswered',
      floorPps: t.synFloodPps,
      floorHolds: completion < 0.5,
      signature: buildSignature({ protocol: 'tcp', destination: dst, destinationPort: dport, tcpFlags: flags }),
      // From a real host each SYN brings a RST: its kernel's answer to the victim's SYN-ACK.
      // Those count with the SYNs, so such a flooder (half SYN, half RST) matches its vector.
      matches: (s) => dominates(s.syn + Math.min(s.rst, s.syn), s) && s.handshakes < 0.5 * s.syn,
      detail: `${pct(completion)} of handshakes completed`,
    });
  }

  // SYN-ACKs the victim never asked for (it sent no SYN): reflection.
  if (v.synAck > 0) {
    const sport = dominantPort(v.synAckSrcPorts, v.synAck);
    out.push({
      key: 'synack',
      vector: 'synack_reflection',
      label: withPorts('TCP SYN-ACK reflection', 'tcp', sport),
      packets: v.synAck,
      signalPackets: Math.max(0, v.synAck - v.outSyn),
      signal: 'synAckUnsolicited',
      floorPps: t.reflectionPps,
      signature: buildSignature({ protocol: 'tcp', destination: dst, sourcePort: sport, tcpFlags: SYN_ACK }),
      matches: (s) => dominates(s.synAck, s),
      detail: `${Math.round(v.outSyn).toLocaleString('en-US')} SYNs sent by the victim`,
    });
  }

  // RST and ACK have no port list of their own: take TCP's only when they are most of it.
  const tcpPortOf = (packets: number) => (packets > DOMINANT_SHARE * v.tcp ? dominantPort(v.tcpDstPorts, v.tcp) : undefined);
  if (v.rst > 0) {
    const dport = tcpPortOf(v.rst);
    out.push({
      key: 'rst',
      vector: 'rst_flood',
      label: withPorts('TCP RST flood', 'tcp', undefined, dport),
      packets: v.rst,
      signalPackets: v.rst,
      signal: 'rst',
      floorPps: t.rstFloodPps,
      signature: buildSignature({ protocol: 'tcp', destination: dst, destinationPort: dport, tcpFlags: RST_SET }),
      matches: (s) => dominates(s.rst, s),
    });
  }

  // ACKs: most are normal; the floor judges those the victim answered with a
  // RST (segments for no connection), beyond the RSTs that refused SYNs.
  if (v.ack > 0) {
    const dport = tcpPortOf(v.ack);
    const stray = Math.min(v.ack, Math.max(0, v.outRst - Math.max(0, v.syn - v.handshakes)));
    out.push({
      key: 'ack',
      vector: 'ack_flood',
      label: withPorts('TCP ACK flood', 'tcp', undefined, dport),
      packets: v.ack,
      signalPackets: stray,
      signal: 'strayAck',
      floorPps: t.rstFloodPps,
      signature: buildSignature({ protocol: 'tcp', destination: dst, destinationPort: dport, tcpFlags: ACK_ONLY }),
      matches: (s) => dominates(s.ack, s),
      detail: `${Math.round(stray).toLocaleString('en-US')} answered with RST`,
    });
  }

  if (v.badFlags > 0) {
    const finNoAck = Math.max(0, v.badFlags - v.tcpNull - v.synFin);
    const kind = v.tcpNull >= v.synFin && v.tcpNull >= finNoAck ? 'null' : v.synFin >= finNoAck ? 'synfin' : 'fin';
    const flags =
      kind === 'null'
        ? { mask: ['fin', 'syn', 'rst', 'psh', 'ack', 'urg'] as TcpFlagName[], value: [] as TcpFlagName[] }
        : kind === 'synfin'
          ? { mask: ['syn', 'fin'] as TcpFlagName[], value: ['syn', 'fin'] as TcpFlagName[] }
          : { mask: ['fin', 'ack'] as TcpFlagName[], value: ['fin'] as TcpFlagName[] };
    const name = kind === 'null' ? 'TCP NULL flood (no flags)' : kind === 'synfin' ? 'TCP SYN+FIN flood' : 'TCP FIN/XMAS flood (FIN without ACK)';
    out.push({
      key: 'badflags',
      vector: 'tcp_flag_anomaly',
      label: name,
      packets: v.badFlags,
      signalPackets: v.badFlags,
      signal: 'badFlags',
      floorPps: t.badFlagsPps,
      signature: buildSignature({ protocol: 'tcp', destination: dst, tcpFlags: flags }),
      matches: (s) => dominates(s.badFlags, s),
    });
  }

  if (v.fragments > 0) {
    // First fragments carry the UDP header: a reflection names its service there.
    const top = heaviest(v.udpSrcPorts);
    const service = top && share(top.packets, v.udp) > DOMINANT_SHARE ? amplificationService(top.port) : undefined;
    out.push({
      key: 'fragments',
      vector: 'fragment_flood',
      label: service ? `${service} fragment reflection (udp sport ${top!.port}, IP fragments)` : 'IP fragment flood',
      service,
      packets: v.fragments,
      signalPackets: v.fragments,
      signal: 'fragments',
      floorPps: t.fragmentPps,
      floorHolds: share(v.fragments, v.packets) >= t.fragmentShare,
      signature: buildSignature({ protocol: 'any', destination: dst, fragment: 'any' }),
      matches: (s) => dominates(s.fragments, s),
      detail: `${pct(share(v.fragments, v.packets))} of packets are fragments`,
    });
  }

  if (v.icmp > 0) {
    out.push({
      key: 'icmp',
      vector: 'icmp_flood',
      label: 'ICMP flood',
      packets: v.icmp,
      signalPackets: v.icmp,
      signal: 'icmp',
      floorPps: t.icmpFloodPps,
      signature: buildSignature({ protocol: 'icmp', destination: dst }),
      matches: (s) => dominates(s.icmp, s),
    });
  }

  // The rest of UDP: no floor (statsd and syslog receivers are one-way by design).
  const udpOther = Math.max(0, v.udp - ampPackets);
  if (udpOther > 0) {
    const isAmp = (p: number) => amplificationService(p) !== undefined;
    const sport = dominantPort(v.udpSrcPorts, udpOther, isAmp);
    const dport = udpOther > DOMINANT_SHARE * v.udp ? dominantPort(v.udpDstPorts, v.udp) : undefined;
    out.push({
      key: 'udp',
      vector: 'udp_flood',
      label: withPorts('UDP flood', 'udp', sport, dport),
      packets: udpOther,
      signalPackets: udpOther,
      signal: 'udpOther',
      baselineMinFactor: 10,
      signature: buildSignature({ protocol: 'udp', destination: dst, sourcePort: sport, destinationPort: dport }),
      matches: (s) => dominates(s.udp, s) && !(s.udpSrcPort > 0 && isAmp(s.udpSrcPort) && dominates(s.udpSrcPortPackets, s)),
    });
  }

  // TCP that is none of the above (FIN+ACK, PSH without ACK, ...): ceiling only.
  const tcpOther = Math.max(0, v.tcp - v.syn - v.synAck - v.rst - v.ack - v.badFlags);
  if (tcpOther > 0) {
    const dport = tcpPortOf(tcpOther);
    out.push({
      key: 'tcp',
      vector: 'tcp_flood',
      label: withPorts('TCP flood with mixed flags', 'tcp', undefined, dport),
      packets: tcpOther,
      signalPackets: tcpOther,
      signature: buildSignature({ protocol: 'tcp', destination: dst, destinationPort: dport }),
      matches: (s) => dominates(s.tcp, s),
    });
  }

  // Other IP protocols (GRE, ESP, ...); non-first fragments count as "other" too and are the fragment component's.
  const otherProto = Math.max(0, v.other - v.fragments);
  if (otherProto > 0) {
    out.push({
      key: 'other',
      vector: 'ip_protocol_flood',
      label: 'IP protocol flood (not TCP, UDP or ICMP)',
      packets: otherProto,
      signalPackets: otherProto,
      signature: buildSignature({ protocol: 'any', destination: dst }),
      matches: (s) => dominates(s.other - s.fragments, s),
    });
  }
  return out;
}

/** Per-second values of the baseline signals of one victim over `seconds`. */
export function signalRates(
  v: DestinationCounters,
  components: readonly Component[],
  seconds: number,
  newSources: number,
): Record<BaselineSignal, number> {
  const rates = Object.fromEntries(BASELINE_SIGNALS.map((s) => [s, 0])) as Record<BaselineSignal, number>;
  if (seconds <= 0) return rates;
  rates.pps = v.packets / seconds;
  rates.bps = (v.bytes * 8) / seconds;
  rates.newSources = newSources / seconds;
  for (const c of components) if (c.signal) rates[c.signal] += c.signalPackets / seconds;
  return rates;
}
