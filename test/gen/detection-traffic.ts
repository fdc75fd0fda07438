// Streams for the detection scenarios of issue 10 (detection-scenarios.ts):
// reflection from fixed service ports, SYN floods with chosen flags, SYN-ACK
// reflection, fragmented DNS responses, and the benign shapes that must not
// look like attacks: an interactive TCP session, an elephant upload, a
// monitoring scrape burst. Each emits inbound packets at its own rate and the
// victim's answers as outbound packets, as a capture at the victim shows them.
import { fromServer, toServer } from './lan.js';
import { fragmentIpv4, tcpPacket, tcpSynOptions, udpPacket } from './packet-builder.js';
import type { Prng } from './prng.js';
import type { TcpFlags } from './transport.js';
import type { TrafficStream } from './traffic-mixer.js';

const ZEROS = Buffer.alloc(65536);

export interface ReflectionOptions {
  name: string;
  victim: string;
  reflectors: readonly string[];
  /** The abused service's port: the reflected traffic's source port. */
  sourcePort: number;
  rate: number;
  count: number;
  payload: readonly [number, number];
  prng: Prng;
  startOffsetUs?: number;
}

/** UDP responses nobody asked for, from `sourcePort` of random reflectors to random high ports of the victim. */
export function reflectionStream(o: ReflectionOptions): TrafficStream {
  return {
    name: o.name,
    rate: o.rate,
    count: o.count,
    startOffsetUs: o.startOffsetUs,
    emit(_i, tsUs, out) {
      const src = o.prng.pick(o.reflectors);
      const ip = udpPacket({ src, dst: o.victim, srcPort: o.sourcePort, dstPort: o.prng.range(1024, 65535), payload: ZEROS.subarray(0, o.prng.range(o.payload[0], o.payload[1])), ttl: 52 });
      out({ tsUs, frame: toServer(ip), role: 'attack', src, dst: o.victim, udpSrcPort: o.sourcePort });
    },
  };
}

export interface SynFloodOptions {
  name: string;
  victim: string;
  /** Source of packet i (spoofed: fresh random addresses). */
  sourceOf: (i: number) => string;
  dstPort: number;
  flags: TcpFlags;
  rate: number;
  count: number;
  prng: Prng;
  startOffsetUs?: number;
}

/** SYNs (with the given flags) that never complete: no handshake follows. */
export function synFloodStream(o: SynFloodOptions): TrafficStream {
  return {
    name: o.name,
    rate: o.rate,
    count: o.count,
    startOffsetUs: o.startOffsetUs,
    emit(i, tsUs, out) {
      const src = o.sourceOf(i);
      const ip = tcpPacket({ src, dst: o.victim, srcPort: o.prng.range(1024, 65535), dstPort: o.dstPort, flags: o.flags, seq: o.prng.nextUint32(), window: 1024, ttl: 51 });
      out({ tsUs, frame: toServer(ip), role: 'attack', src, dst: o.victim });
    },
  };
}

export interface SynAckReflectionOptions {
  name: string;
  victim: string;
  reflectors: readonly string[];
  /** The reflectors' service ports (80, 443): SYN-ACKs come from them. */
  sourcePorts: readonly number[];
  rate: number;
  count: number;
  prng: Prng;
}

/** SYN-ACKs answering SYNs the attacker spoofed from the victim: the victim never sent them. */
export function synAckReflectionStream(o: SynAckReflectionOptions): TrafficStream {
  return {
    name: o.name,
    rate: o.rate,
    count: o.count,
    emit(_i, tsUs, out) {
      const src = o.prng.pick(o.reflectors);
      const ip = tcpPacket({ src, dst: o.victim, srcPort: o.prng.pick(o.sourcePorts), dstPort: o.prng.range(1024, 65535), flags: { syn: true, ack: true }, seq: o.prng.nextUint32(), ack: o.prng.nextUint32(), options: tcpSynOptions(), ttl: 54 });
      out({ tsUs, frame: toServer(ip), role: 'attack', src, dst: o.victim });
    },
  };
}

export interface FragmentReflectionOptions {
  name: string;
  victim: string;
  resolvers: readonly string[];
  /** Responses per second; each arrives as two fragments. */
  rate: number;
  count: number;
  prng: Prng;
}

/** Large DNS responses (EDNS0, ~2,800 bytes) nobody asked for, fragmented by the network: first fragment with the UDP header, second without. */
export function fragmentReflectionStream(o: FragmentReflectionOptions): TrafficStream {
  let ipId = 1;
  return {
    name: o.name,
    rate: o.rate,
    count: o.count,
    emit(_i, tsUs, out) {
      const src = o.prng.pick(o.resolvers);
      const whole = udpPacket({ src, dst: o.victim, srcPort: 53, dstPort: o.prng.range(1024, 65535), payload: ZEROS.subarray(0, o.prng.range(2000, 2900)), ttl: 55, ipId: ipId++ & 0xffff });
      fragmentIpv4(whole, 1480).forEach((f, k) => out({ tsUs: tsUs + k * 3, frame: toServer(f), role: 'attack', src, dst: o.victim, ...(k === 0 ? { udpSrcPort: 53 } : {}) }));
    },
  };
}

export interface SessionOptions {
  name: string;
  victim: string;
  client: string;
  serverPort: number;
  /** Inbound packets per second. */
  rate: number;
  count: number;
  prng: Prng;
}

/** One long-lived interactive TCP session (ssh-like): small segments in, answered by small segments out. */
export function interactiveSessionStream(o: SessionOptions): TrafficStream {
  let cseq = o.prng.nextUint32();
  let sseq = o.prng.nextUint32();
  const cport = o.prng.range(40000, 60000);
  return {
    name: o.name,
    rate: o.rate,
    count: o.count,
    emit(i, tsUs, out) {
      const len = o.prng.range(36, 120);
      const ip = tcpPacket({ src: o.client, dst: o.victim, srcPort: cport, dstPort: o.serverPort, flags: { psh: true, ack: true }, seq: cseq, ack: sseq, payload: ZEROS.subarray(0, len) });
      out({ tsUs, frame: toServer(ip), role: 'benign', src: o.client, dst: o.victim });
      cseq = (cseq + len) >>> 0;
      if (i % 2 === 0) {
        const rlen = o.prng.range(40, 400);
        const r = tcpPacket({ src: o.victim, dst: o.client, srcPort: o.serverPort, dstPort: cport, flags: { psh: true, ack: true }, seq: sseq, ack: cseq, payload: ZEROS.subarray(0, rlen) });
        out({ tsUs: tsUs + 200, frame: fromServer(r), role: 'outbound', src: o.victim, dst: o.client });
        sseq = (sseq + rlen) >>> 0;
      }
    },
  };
}

export interface UploadOptions {
  name: string;
  victim: string;
  client: string;
  serverPort: number;
  /** Data segments per second (1,448 bytes of payload each). */
  rate: number;
  count: number;
  prng: Prng;
  startOffsetUs?: number;
}

/**
 * An elephant upload on one established connection: full-size data segments
 * in (PSH only on every 44th, the end of each 64 KB write), one ACK out per
 * two segments. The handshake happened before the capture.
 */
export function uploadStream(o: UploadOptions): TrafficStream {
  let cseq = o.prng.nextUint32();
  const sseq = o.prng.nextUint32();
  const cport = o.prng.range(40000, 60000);
  const payload = ZEROS.subarray(0, 1448);
  return {
    name: o.name,
    rate: o.rate,
    count: o.count,
    startOffsetUs: o.startOffsetUs,
    emit(i, tsUs, out) {
      const ip = tcpPacket({ src: o.client, dst: o.victim, srcPort: cport, dstPort: o.serverPort, flags: { ack: true, psh: i % 44 === 43 }, seq: cseq, ack: sseq, window: 2048, payload });
      out({ tsUs, frame: toServer(ip), role: 'benign', src: o.client, dst: o.victim });
      cseq = (cseq + payload.length) >>> 0;
      if (i % 2 === 1) {
        const ack = tcpPacket({ src: o.victim, dst: o.client, srcPort: o.serverPort, dstPort: cport, flags: { ack: true }, seq: sseq, ack: cseq, window: 65535 });
        out({ tsUs: tsUs + 20, frame: fromServer(ack), role: 'outbound', src: o.victim, dst: o.client });
      }
    },
  };
}

export interface ScrapeBurstOptions {
  name: string;
  victim: string;
  scraper: string;
  /** Endpoints scraped at once (one connection each). */
  targets: number;
  /** Response size per endpoint in segments (1,448 bytes each). */
  segments: number;
  /** When the burst starts, from the capture start. */
  startOffsetUs: number;
  prng: Prng;
}

/**
 * One Prometheus scrape burst: `targets` connections opened at once, each a
 * handshake, one GET, a response of `segments` full segments from the victim
 * (ACKed every second segment) and a close. Inbound packets come at 20k pps
 * while the burst lasts; the responses make most of the bytes outbound.
 */
export function scrapeBurstStream(o: ScrapeBurstOptions): TrafficStream {
  const acksPer = Math.ceil(o.segments / 2);
  const perConn = 3 + acksPer + 1; // SYN, ACK, GET, ACKs, FIN+ACK
  const ports = Array.from({ length: o.targets }, () => o.prng.range(32768, 60999));
  const cseq = Array.from({ length: o.targets }, () => o.prng.nextUint32());
  const sseq = Array.from({ length: o.targets }, () => o.prng.nextUint32());
  const body = ZEROS.subarray(0, 1448);
  return {
    name: o.name,
    rate: 20_000,
    count: o.targets * perConn,
    startOffsetUs: o.startOffsetUs,
    emit(i, tsUs, out) {
      const c = i % o.targets;
      const step = Math.floor(i / o.targets);
      const inbound = (flags: TcpFlags, payload?: Buffer): void => {
        const ip = tcpPacket({ src: o.scraper, dst: o.victim, srcPort: ports[c]!, dstPort: 9100, flags, seq: cseq[c], ack: flags.ack ? sseq[c] : 0, options: flags.syn ? tcpSynOptions() : undefined, payload });
        out({ tsUs, frame: toServer(ip), role: 'benign', src: o.scraper, dst: o.victim });
        cseq[c] = (cseq[c]! + (payload?.length ?? 0) + (flags.syn || flags.fin ? 1 : 0)) >>> 0;
      };
      const reply = (delayUs: number, flags: TcpFlags, payload?: Buffer): void => {
        const ip = tcpPacket({ src: o.victim, dst: o.scraper, srcPort: 9100, dstPort: ports[c]!, flags, seq: sseq[c], ack: cseq[c], options: flags.syn ? tcpSynOptions() : undefined, payload });
        out({ tsUs: tsUs + delayUs, frame: fromServer(ip), role: 'outbound', src: o.victim, dst: o.scraper });
        sseq[c] = (sseq[c]! + (payload?.length ?? 0) + (flags.syn || flags.fin ? 1 : 0)) >>> 0;
      };
      if (step === 0) {
        inbound({ syn: true });
        reply(50, { syn: true, ack: true });
      } else if (step === 1) {
        inbound({ ack: true });
      } else if (step === 2) {
        inbound({ psh: true, ack: true }, ZEROS.subarray(0, 180));
        reply(80, { ack: true }, body);
        reply(90, { ack: true, psh: o.segments === 1 }, body);
      } else if (step < perConn - 1) {
        inbound({ ack: true });
        const k = step - 3;
        if (2 * k + 2 < o.segments) reply(30, { ack: true }, body);
        if (2 * k + 3 < o.segments) reply(40, { ack: true, psh: 2 * k + 4 >= o.segments }, body);
      } else {
        inbound({ fin: true, ack: true });
        reply(40, { fin: true, ack: true });
      }
    },
  };
}

export interface ConnectionOptions {
  name: string;
  victim: string;
  clients: readonly string[];
  /** New connections per second (each brings 6 inbound packets: SYN, ACK, request, ACK, FIN, ACK). */
  rate: number;
  count: number;
  serverPort: number;
  prng: Prng;
  startOffsetUs?: number;
}

/**
 * Short HTTP connections as a server sees them, each complete within a few
 * round trips (2-40 ms): handshake, one request, a 1-3 segment response,
 * close. Unlike webClientStream (one step per client per tick), a
 * connection's packets stay together however many clients there are, as
 * they do for real clients.
 */
export function connectionStream(o: ConnectionOptions): TrafficStream {
  const body = ZEROS.subarray(0, 1448);
  const request = ZEROS.subarray(0, 220);
  return {
    name: o.name,
    rate: o.rate,
    count: o.count,
    startOffsetUs: o.startOffsetUs,
    emit(_i, t0, out) {
      const client = o.prng.pick(o.clients);
      const rtt = o.prng.range(2000, 40000);
      const cport = o.prng.range(32768, 60999);
      let cseq = o.prng.nextUint32();
      let sseq = o.prng.nextUint32();
      const inbound = (ts: number, flags: TcpFlags, payload?: Buffer): void => {
        const ip = tcpPacket({ src: client, dst: o.victim, srcPort: cport, dstPort: o.serverPort, flags, seq: cseq, ack: flags.ack ? sseq : 0, options: flags.syn ? tcpSynOptions() : undefined, payload });
        out({ tsUs: ts, frame: toServer(ip), role: 'benign', src: client, dst: o.victim });
        cseq = (cseq + (payload?.length ?? 0) + (flags.syn || flags.fin ? 1 : 0)) >>> 0;
      };
      const reply = (ts: number, flags: TcpFlags, payload?: Buffer): void => {
        const ip = tcpPacket({ src: o.victim, dst: client, srcPort: o.serverPort, dstPort: cport, flags, seq: sseq, ack: cseq, options: flags.syn ? tcpSynOptions() : undefined, payload });
        out({ tsUs: ts, frame: fromServer(ip), role: 'outbound', src: o.victim, dst: client });
        sseq = (sseq + (payload?.length ?? 0) + (flags.syn || flags.fin ? 1 : 0)) >>> 0;
      };
      // Emitted in time order per connection; the mixer interleaves connections.
      inbound(t0, { syn: true });
      reply(t0 + 40, { syn: true, ack: true });
      inbound(t0 + rtt, { ack: true });
      inbound(t0 + rtt + 60, { psh: true, ack: true }, request);
      const segments = o.prng.range(1, 3);
      for (let k = 0; k < segments; k++) reply(t0 + rtt + 400 + 20 * k, { ack: true, psh: k === segments - 1 }, body);
      inbound(t0 + 2 * rtt + 450, { ack: true });
      inbound(t0 + 2 * rtt + 600, { fin: true, ack: true });
      reply(t0 + 2 * rtt + 650, { fin: true, ack: true });
      inbound(t0 + 3 * rtt + 650, { ack: true });
    },
  };
}
