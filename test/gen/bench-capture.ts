// A large capture for throughput and memory benchmarks: a third of the
// packets from one attacker, the rest from random (or exactly N distinct)
// sources, TCP SYN / UDP mix, Ethernet, ~200k pps. Frames are patched in
// place from two templates, so 2M packets take a few seconds.
//   npx tsx test/gen/bench-capture.ts --out FILE [--packets N] [--distinct N] [--seed N]
import { fileURLToPath } from 'node:url';
import { finishChecksum, onesComplementSumRange } from './checksum.js';
import { readFlag } from './cli-args.js';
import { uint32FromIpv4 } from './ip-address.js';
import { ethernetFrame, tcpPacket, udpPacket } from './packet-builder.js';
import { openCaptureWriter, type CaptureFormat } from './pcap-writer.js';
import { LINKTYPE } from './link-layer.js';
import { Prng, mix32 } from './prng.js';

export interface BenchCaptureOptions {
  packets?: number;
  /**
   * Exactly this many distinct source addresses in the file (attacker
   * included). Default: every non-attacker packet draws a random 32-bit
   * source (~1.33M distinct for 2M packets, a few hundred repeats).
   */
  distinctSources?: number;
  seed?: number;
  pps?: number;
  format?: CaptureFormat;
  /** Print progress to stderr every 10%. Default true. */
  progress?: boolean;
}

export interface BenchCaptureSummary {
  path: string;
  packets: number;
  attacker: string;
  attackerPackets: number;
  victim: string;
  /** Exact when distinctSources was given, otherwise undefined (random sources). */
  distinctSources?: number;
  /** Expected distinct sources for random mode (birthday-corrected). */
  expectedDistinctSources: number;
  durationSeconds: number;
  bytes: number;
  elapsedMs: number;
}

export const BENCH_ATTACKER = '203.0.113.7';
export const BENCH_VICTIM = '10.10.10.10';
const START_US = 1_700_000_000_000_000;

// Frame offsets (Ethernet 14 + IPv4 20).
const IP = 14;
const L4 = 34;

export function writeBenchCapture(path: string, options: BenchCaptureOptions = {}): BenchCaptureSummary {
  const started = performance.now();
  const packets = options.packets ?? 2_000_000;
  const pps = options.pps ?? 200_000;
  const prng = new Prng(options.seed ?? 0xbe7c);
  const attackerPackets = Math.ceil(packets / 3);
  const others = packets - attackerPackets;
  const distinct = options.distinctSources;
  if (distinct !== undefined && (distinct < 1 || distinct - 1 > others || (distinct > 1 && others === 0))) {
    throw new Error(`cannot fit ${distinct} distinct sources into ${packets} packets (${others} non-attacker)`);
  }
  const attacker = uint32FromIpv4(BENCH_ATTACKER);
  const victim = uint32FromIpv4(BENCH_VICTIM);
  const sourceOf = distinct === undefined ? randomSource(prng, attacker, victim) : distinctSource(distinct - 1, prng.nextUint32(), attacker, victim, prng);

  const syn = ethernetFrame({ payload: tcpPacket({ src: BENCH_ATTACKER, dst: BENCH_VICTIM, srcPort: 1024, dstPort: 80, flags: { syn: true }, window: 1024 }) });
  const udp = ethernetFrame({ payload: udpPacket({ src: BENCH_ATTACKER, dst: BENCH_VICTIM, srcPort: 1024, dstPort: 53, payload: Buffer.alloc(32) }) });
  const writer = openCaptureWriter(path, { linktype: LINKTYPE.ETHERNET, format: options.format ?? 'pcap', snaplen: 262144 });
  const progressStep = Math.max(1, Math.floor(packets / 10));
  let other = 0;
  try {
    for (let i = 0; i < packets; i++) {
      const src = i % 3 === 0 ? attacker : sourceOf(other++);
      const frame = prng.nextUint32() & 1 ? syn : udp;
      patch(frame, src, prng.nextUint32(), i);
      writer.writePacket(frame, START_US + Math.floor((i * 1e6) / pps));
      if (options.progress !== false && (i + 1) % progressStep === 0) {
        process.stderr.write(`bench-capture: ${Math.round(((i + 1) / packets) * 100)}% (${i + 1}/${packets})\n`);
      }
    }
  } finally {
    writer.close();
  }
  return {
    path,
    packets,
    attacker: BENCH_ATTACKER,
    attackerPackets,
    victim: BENCH_VICTIM,
    distinctSources: distinct,
    expectedDistinctSources: distinct ?? Math.round(1 + 2 ** 32 * (1 - Math.exp(-others / 2 ** 32))),
    durationSeconds: packets / pps,
    bytes: writer.bytesWritten,
    elapsedMs: Math.round(performance.now() - started),
  };
}

/** Random 32-bit sources, never the attacker or the victim. */
function randomSource(prng: Prng, attacker: number, victim: number): (k: number) => number {
  return () => {
    for (;;) {
      const v = prng.nextUint32();
      if (v !== attacker && v !== victim) return v;
    }
  };
}

/**
 * Exactly `n` distinct non-attacker sources: the first n packets visit index
 * 0..n-1 once, later ones revisit random indexes. mix32 is a bijection, so
 * distinct indexes give distinct addresses; the (at most two) indexes that
 * land on the attacker or victim are remapped to unused indexes >= n.
 */
function distinctSource(n: number, salt: number, attacker: number, victim: number, prng: Prng): (k: number) => number {
  const remapped = new Map<number, number>();
  let spare = n;
  const addressOf = (index: number): number => {
    const v = mix32(index ^ salt);
    if (v !== attacker && v !== victim) return v;
    let r = remapped.get(index);
    while (r === undefined) {
      const candidate = mix32(spare++ ^ salt);
      if (candidate !== attacker && candidate !== victim) r = candidate;
    }
    remapped.set(index, r);
    return r;
  };
  return (k) => addressOf(k < n ? k : prng.int(n));
}

/** Rewrite source address, source port, IP id and both checksums of a template frame. */
function patch(frame: Buffer, src: number, random: number, i: number): void {
  frame.writeUInt32BE(src >>> 0, IP + 12);
  frame.writeUInt16BE(i & 0xffff, IP + 4); // IP id
  frame.writeUInt16BE(1024 + (random % 64512), L4); // source port
  frame.writeUInt16BE(0, IP + 10);
  frame.writeUInt16BE(finishChecksum(onesComplementSumRange(frame, IP, L4)), IP + 10);
  const protocol = frame[IP + 9]!;
  const l4Length = frame.length - L4;
  const at = protocol === 6 ? L4 + 16 : L4 + 6;
  if (protocol === 6) frame.writeUInt32BE(random, L4 + 4); // sequence number
  frame.writeUInt16BE(0, at);
  // Pseudo-header: addresses straight from the frame, protocol, L4 length.
  let sum = onesComplementSumRange(frame, IP + 12, IP + 20, protocol + l4Length);
  sum = onesComplementSumRange(frame, L4, frame.length, sum);
  const c = finishChecksum(sum);
  frame.writeUInt16BE(protocol === 17 && c === 0 ? 0xffff : c, at);
}

function main(argv: string[]): void {
  const out = readFlag(argv, 'out');
  if (out === undefined) throw new Error('usage: bench-capture.ts --out FILE [--packets N] [--distinct N] [--seed N]');
  const num = (name: string): number | undefined => {
    const v = readFlag(argv, name);
    return v === undefined ? undefined : Number(v);
  };
  const s = writeBenchCapture(out, { packets: num('packets'), distinctSources: num('distinct'), seed: num('seed') });
  process.stderr.write(`${JSON.stringify(s)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
