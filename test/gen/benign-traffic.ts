// Benign streams towards the victim: web clients walking through TCP
// connections (with the server's replies), the server's own DNS lookups, and
// occasional pings. Replies are outbound, so they test inbound/outbound split.
import { fromServer, toServer } from './lan.js';
import { icmpEchoPacket, tcpPacket, tcpSynOptions, udpPacket } from './packet-builder.js';
import type { Prng } from './prng.js';
import type { TcpFlags } from './transport.js';
import type { TrafficStream } from './traffic-mixer.js';

/** Response bodies are filler bytes sliced from one buffer (no allocation per packet). */
const RESPONSE_BODY = Buffer.alloc(1500, 0x3c);
const DNS_FILLER = Buffer.alloc(512);
const HTTP_REQUEST = Buffer.from('GET /api/v1/items?page=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n');

export interface WebClientsOptions {
  name?: string;
  victim: string;
  clients: readonly string[];
  /** Inbound packets per second from all clients together. */
  rate: number;
  count: number;
  serverPort?: number;
  prng: Prng;
}

/**
 * Each tick one random client takes the next step of its connection:
 * SYN, ACK, request (PSH+ACK), ACK, FIN+ACK, ACK, then a new connection.
 * The server answers SYN (SYN+ACK), the request (response data) and FIN.
 */
export function webClientStream(o: WebClientsOptions): TrafficStream {
  const n = o.clients.length;
  const serverPort = o.serverPort ?? 80;
  const step = Uint8Array.from({ length: n }, () => o.prng.int(6));
  const port = Uint16Array.from({ length: n }, () => o.prng.range(32768, 60999));
  const rttUs = Uint32Array.from({ length: n }, () => o.prng.range(2_000, 40_000));
  const clientSeq = Uint32Array.from({ length: n }, () => o.prng.nextUint32());
  const serverSeq = Uint32Array.from({ length: n }, () => o.prng.nextUint32());
  return {
    name: o.name ?? 'web-clients',
    rate: o.rate,
    count: o.count,
    emit(_i, tsUs, out) {
      const c = o.prng.int(n);
      const client = o.clients[c]!;
      const sp = port[c]!;
      const inbound = (flags: TcpFlags, payload?: Buffer): void => {
        const ip = tcpPacket({ src: client, dst: o.victim, srcPort: sp, dstPort: serverPort, flags, seq: clientSeq[c], ack: flags.ack ? serverSeq[c] : 0, options: flags.syn ? tcpSynOptions() : undefined, payload });
        out({ tsUs, frame: toServer(ip), role: 'benign', src: client, dst: o.victim });
        clientSeq[c] = (clientSeq[c]! + (payload?.length ?? 0) + (flags.syn || flags.fin ? 1 : 0)) >>> 0;
      };
      const reply = (delayUs: number, flags: TcpFlags, payloadBytes = 0): void => {
        const ip = tcpPacket({ src: o.victim, dst: client, srcPort: serverPort, dstPort: sp, flags, seq: serverSeq[c], ack: clientSeq[c], options: flags.syn ? tcpSynOptions() : undefined, payload: payloadBytes ? RESPONSE_BODY.subarray(0, payloadBytes) : undefined });
        out({ tsUs: tsUs + delayUs, frame: fromServer(ip), role: 'outbound', src: o.victim, dst: client });
        serverSeq[c] = (serverSeq[c]! + payloadBytes + (flags.syn || flags.fin ? 1 : 0)) >>> 0;
      };
      switch (step[c]) {
        case 0:
          inbound({ syn: true });
          reply(rttUs[c]!, { syn: true, ack: true });
          break;
        case 1:
          inbound({ ack: true });
          break;
        case 2:
          inbound({ psh: true, ack: true }, HTTP_REQUEST.subarray(0, o.prng.range(60, HTTP_REQUEST.length)));
          reply(rttUs[c]! + 300, { psh: true, ack: true }, o.prng.range(600, 1400));
          break;
        case 3:
          inbound({ ack: true });
          break;
        case 4:
          inbound({ fin: true, ack: true });
          reply(rttUs[c]!, { fin: true, ack: true });
          break;
        default:
          inbound({ ack: true });
          port[c] = sp >= 60999 ? 32768 : sp + 1;
      }
      step[c] = (step[c]! + 1) % 6;
    },
  };
}

export interface DnsLookupOptions {
  victim: string;
  resolvers: readonly string[];
  /** Responses per second (each preceded by the server's query). */
  rate: number;
  count: number;
  prng: Prng;
}

/** The server resolving names: outbound query to port 53, inbound response from port 53 a few ms later. */
export function dnsLookupStream(o: DnsLookupOptions): TrafficStream {
  return {
    name: 'dns-lookups',
    rate: o.rate,
    count: o.count,
    emit(_i, tsUs, out) {
      const resolver = o.prng.pick(o.resolvers);
      const port = o.prng.range(32768, 60999);
      const query = udpPacket({ src: o.victim, dst: resolver, srcPort: port, dstPort: 53, payload: DNS_FILLER.subarray(0, o.prng.range(30, 60)) });
      out({ tsUs, frame: fromServer(query), role: 'outbound', src: o.victim, dst: resolver });
      const response = udpPacket({ src: resolver, dst: o.victim, srcPort: 53, dstPort: port, payload: DNS_FILLER.subarray(0, o.prng.range(80, 300)) });
      out({ tsUs: tsUs + o.prng.range(1_000, 8_000), frame: toServer(response), role: 'benign', src: resolver, dst: o.victim, udpSrcPort: 53 });
    },
  };
}

export interface PingOptions {
  victim: string;
  clients: readonly string[];
  rate: number;
  count: number;
  prng: Prng;
}

/** Monitoring pings: inbound echo request, outbound echo reply 100 us later. */
export function pingStream(o: PingOptions): TrafficStream {
  return {
    name: 'pings',
    rate: o.rate,
    count: o.count,
    emit(i, tsUs, out) {
      const client = o.prng.pick(o.clients);
      const req = icmpEchoPacket({ src: client, dst: o.victim, kind: 'request', id: 0x100, seq: i });
      out({ tsUs, frame: toServer(req), role: 'benign', src: client, dst: o.victim });
      const rep = icmpEchoPacket({ src: o.victim, dst: client, kind: 'reply', id: 0x100, seq: i });
      out({ tsUs: tsUs + 100, frame: fromServer(rep), role: 'outbound', src: o.victim, dst: client });
    },
  };
}
