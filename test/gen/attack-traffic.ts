// Attack streams towards the victim (SYN and UDP floods, reflection) and the
// victim's involuntary answers (SYN+ACK backscatter, ICMP port unreachable),
// plus ARP background noise.
import { fromServer, ROUTER_MAC, SERVER_MAC, toServer } from './lan.js';
import { ETHERTYPE, arpPacket, ethernetFrame, ipv4Packet, tcpPacket, tcpSynOptions, udpPacket } from './packet-builder.js';
import type { Prng } from './prng.js';
import { IPPROTO, icmpUnreachable } from './transport.js';
import type { TrafficStream } from './traffic-mixer.js';

/** Flood payloads are zeros; slicing one shared buffer avoids an allocation per packet. */
const ZEROS = Buffer.alloc(65536);

export interface FloodOptions {
  name: string;
  victim: string;
  rate: number;
  count: number;
  prng: Prng;
  /** Source address of packet i. */
  sourceOf: (i: number) => string;
  /** Share of packets that are TCP SYNs; the rest are UDP. */
  synShare: number;
  /** SYN destination ports (one picked per packet). */
  tcpDstPorts?: readonly number[];
  /** Fixed UDP destination port; random high port (1024-65535) when absent. */
  udpDstPort?: number;
  /** Fixed UDP source port (amplification: 161, 53, 123...); random when absent. */
  udpSrcPort?: number;
  /** UDP payload size range in bytes. */
  udpPayload?: readonly [number, number];
  /** Share of SYNs the victim answers with SYN+ACK (backscatter, outbound). */
  synAckShare?: number;
  /** Share of UDP packets the victim answers with ICMP port unreachable (outbound). */
  unreachableShare?: number;
}

export function floodStream(o: FloodOptions): TrafficStream {
  const [minPayload, maxPayload] = o.udpPayload ?? [64, 512];
  return {
    name: o.name,
    rate: o.rate,
    count: o.count,
    emit(i, tsUs, out) {
      const src = o.sourceOf(i);
      const srcPort = o.prng.range(1024, 65535);
      if (o.prng.chance(o.synShare)) {
        const dstPort = o.tcpDstPorts ? o.prng.pick(o.tcpDstPorts) : 80;
        const seq = o.prng.nextUint32();
        const syn = tcpPacket({ src, dst: o.victim, srcPort, dstPort, flags: { syn: true }, seq, window: 1024, ttl: 52 });
        out({ tsUs, frame: toServer(syn), role: 'attack', src, dst: o.victim });
        if (o.synAckShare && o.prng.chance(o.synAckShare)) {
          const synAck = tcpPacket({ src: o.victim, dst: src, srcPort: dstPort, dstPort: srcPort, flags: { syn: true, ack: true }, seq: o.prng.nextUint32(), ack: seq + 1, options: tcpSynOptions() });
          out({ tsUs: tsUs + 50, frame: fromServer(synAck), role: 'outbound', src: o.victim, dst: src });
        }
        return;
      }
      const sport = o.udpSrcPort ?? srcPort;
      const dport = o.udpDstPort ?? o.prng.range(1024, 65535);
      const udp = udpPacket({ src, dst: o.victim, srcPort: sport, dstPort: dport, payload: ZEROS.subarray(0, o.prng.range(minPayload, maxPayload)), ttl: 50 });
      out({ tsUs, frame: toServer(udp), role: 'attack', src, dst: o.victim, udpSrcPort: sport });
      if (o.unreachableShare && o.prng.chance(o.unreachableShare)) {
        const icmp = ipv4Packet({ src: o.victim, dst: src, protocol: IPPROTO.ICMP, payload: icmpUnreachable(3, udp) });
        out({ tsUs: tsUs + 30, frame: fromServer(icmp), role: 'outbound', src: o.victim, dst: src });
      }
    },
  };
}

/** Sources in a fixed order, repeated: every source gets exactly count/len packets (even per-source rates). */
export function cycledSources(sources: readonly string[]): (i: number) => string {
  return (i) => sources[i % sources.length]!;
}

/** Each packet from a random member (natural per-source variation). */
export function randomSources(sources: readonly string[], prng: Prng): (i: number) => string {
  return () => prng.pick(sources);
}

/** LAN background: the router asks for the victim's MAC, the victim answers. Non-IP. */
export function arpNoiseStream(victim: string, gateway: string, rate: number, count: number): TrafficStream {
  const request = ethernetFrame({ dst: 'ff:ff:ff:ff:ff:ff', src: ROUTER_MAC, etherType: ETHERTYPE.ARP, payload: arpPacket({ operation: 'request', senderMac: ROUTER_MAC, senderIp: gateway, targetIp: victim }) });
  const reply = ethernetFrame({ dst: ROUTER_MAC, src: SERVER_MAC, etherType: ETHERTYPE.ARP, payload: arpPacket({ operation: 'reply', senderMac: SERVER_MAC, senderIp: victim, targetMac: ROUTER_MAC, targetIp: gateway }) });
  return {
    name: 'arp-noise',
    rate,
    count,
    emit(_i, tsUs, out) {
      out({ tsUs, frame: request, role: 'noise' });
      out({ tsUs: tsUs + 20, frame: reply, role: 'noise' });
    },
  };
}
