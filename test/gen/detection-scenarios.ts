// The detection scenarios of issue 10, with ground truth: the attacks a user
// found undetected (short high-rate samples, multi-vector amplification,
// low-rate floods from thousands of sources, DNS fragment reflection beside a
// normal TCP session) and the benign profiles that must flag nothing over
// several simulated minutes (a busy web server, an elephant upload, a
// Prometheus scrape burst, a flash crowd). test/analysis runs them through
// `floodgate analyze`; test/lab replays the attacks into the real agent;
// bench:detection puts every one in one table.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AttackVector } from '../../detection/types.js';
import { benignClientPool, randomPublicIpv4s } from './address-pools.js';
import { arpNoiseStream } from './attack-traffic.js';
import { webClientStream } from './benign-traffic.js';
import {
  connectionStream,
  fragmentReflectionStream,
  interactiveSessionStream,
  reflectionStream,
  scrapeBurstStream,
  synAckReflectionStream,
  synFloodStream,
  uploadStream,
} from './detection-traffic.js';
import { LINKTYPE } from './link-layer.js';
import { Prng } from './prng.js';
import { GATEWAY, SCENARIO_START_US, VICTIM } from './scenarios.js';
import { mixTraffic, type TrafficStream } from './traffic-mixer.js';

export const ATTACK_SCENARIOS = [
  'snmp-sample-20ms',
  'synack-reflection-150ms',
  'bacnet-dvr-multivector-50ms',
  'spoofed-syn-7k',
  'ecn-syn-2500',
  'isakmp-reflection-4k',
  'dns-fragment-reflection',
] as const;
export const BENIGN_PROFILES = ['busy-web-server', 'elephant-upload', 'prometheus-scrape', 'flash-crowd'] as const;
export type DetectionScenarioName = (typeof ATTACK_SCENARIOS)[number] | (typeof BENIGN_PROFILES)[number];
export const DETECTION_SCENARIOS: readonly DetectionScenarioName[] = [...ATTACK_SCENARIOS, ...BENIGN_PROFILES];

export interface DetectionTruth {
  name: DetectionScenarioName;
  kind: 'attack' | 'benign';
  description: string;
  victim: string;
  underAttack: boolean;
  /** Sources a correct detector bans (empty: per-IP bans cannot help, or benign). */
  attackers: string[];
  /** The vectors, heaviest first, and the label each must carry (service and ports). */
  vectors: { vector: AttackVector; label: RegExp | string; share?: number }[];
  /** The attack's own rate, as generated. */
  attackPps: number;
  durationSeconds: number;
  inboundPackets: number;
  totalPackets: number;
  distinctAttackSources: number;
  /** The window `floodgate analyze` is run with in the tests (default: 7 s, the CLI's). */
  windowSeconds?: number;
}

export interface DetectionScenarioResult {
  capturePath: string;
  truth: DetectionTruth;
}

interface Plan {
  description: string;
  durationSeconds: number;
  snaplen?: number;
  streams: TrafficStream[];
  truth: Omit<DetectionTruth, 'name' | 'kind' | 'description' | 'victim' | 'durationSeconds' | 'inboundPackets' | 'totalPackets' | 'distinctAttackSources'>;
}

const n = (rate: number, seconds: number) => Math.round(rate * seconds);

function web(prng: Prng, seconds: number, clients: number, rate: number, startOffsetUs = 0): TrafficStream {
  return { ...webClientStream({ victim: VICTIM, clients: benignClientPool(clients), rate, count: n(rate, seconds), prng: prng.fork() }), startOffsetUs };
}

/** Short connections (6 inbound packets each) at `pps` inbound packets per second from `clients` clients. */
function conns(prng: Prng, seconds: number, clients: readonly string[], pps: number, startOffsetUs = 0, name = 'connections'): TrafficStream {
  const rate = pps / 6;
  return connectionStream({ name, victim: VICTIM, clients, rate, count: n(rate, seconds), serverPort: 443, prng: prng.fork(), startOffsetUs });
}

/** Spoofed sources: `count` fresh random addresses, each used `perSource` times, in random order. */
function spoofed(prng: Prng, count: number, perSource: number): (i: number) => string {
  const pool = randomPublicIpv4s(prng.fork(), count);
  return (i) => pool[Math.floor(i / perSource) % pool.length]!;
}

const PLANS: Record<DetectionScenarioName, (prng: Prng) => Plan> = {
  'snmp-sample-20ms': (prng) => {
    const seconds = 0.02;
    return {
      description: 'A 20 ms sample of an SNMP amplification at 186,000 pps from 1,500 reflectors (udp sport 161, 1,000-1,400 byte responses).',
      durationSeconds: seconds,
      snaplen: 128,
      streams: [reflectionStream({ name: 'snmp', victim: VICTIM, reflectors: randomPublicIpv4s(prng.fork(), 1500), sourcePort: 161, rate: 186_000, count: n(186_000, seconds), payload: [1000, 1400], prng: prng.fork() })],
      truth: { underAttack: true, attackers: [], vectors: [{ vector: 'udp_amplification', label: 'SNMP amplification (udp sport 161)' }], attackPps: 186_000 },
    };
  },
  'synack-reflection-150ms': (prng) => {
    const seconds = 0.15;
    return {
      description: 'A 150 ms sample of a SYN-ACK reflection at 54,000 pps: 3,000 web servers answer SYNs spoofed from the victim (tcp sport 80 and 443).',
      durationSeconds: seconds,
      streams: [synAckReflectionStream({ name: 'synack', victim: VICTIM, reflectors: randomPublicIpv4s(prng.fork(), 3000), sourcePorts: [443, 443, 443, 80], rate: 54_000, count: n(54_000, seconds), prng: prng.fork() })],
      truth: { underAttack: true, attackers: [], vectors: [{ vector: 'synack_reflection', label: /^TCP SYN-ACK reflection/ }], attackPps: 54_000 },
    };
  },
  'bacnet-dvr-multivector-50ms': (prng) => {
    const seconds = 0.05;
    const rate = 388_000;
    return {
      description: 'A 50 ms sample of a multi-vector UDP amplification at 388,000 pps: BACnet (udp sport 47808) 70%, DVR/IoT (udp sport 37810) 25%, random UDP 5%.',
      durationSeconds: seconds,
      snaplen: 128,
      streams: [
        reflectionStream({ name: 'bacnet', victim: VICTIM, reflectors: randomPublicIpv4s(prng.fork(), 4000), sourcePort: 47808, rate: rate * 0.7, count: n(rate * 0.7, seconds), payload: [600, 1400], prng: prng.fork() }),
        reflectionStream({ name: 'dvr', victim: VICTIM, reflectors: randomPublicIpv4s(prng.fork(), 2000), sourcePort: 37810, rate: rate * 0.25, count: n(rate * 0.25, seconds), payload: [400, 1000], prng: prng.fork() }),
        reflectionStream({ name: 'junk', victim: VICTIM, reflectors: randomPublicIpv4s(prng.fork(), 500), sourcePort: 33333, rate: rate * 0.05, count: n(rate * 0.05, seconds), payload: [20, 200], prng: prng.fork() }),
      ],
      truth: {
        underAttack: true,
        attackers: [],
        vectors: [
          { vector: 'udp_amplification', label: 'BACnet amplification (udp sport 47808)', share: 0.7 },
          { vector: 'udp_amplification', label: 'DVR/IoT amplification (udp sport 37810)', share: 0.25 },
        ],
        attackPps: rate,
      },
    };
  },
  'spoofed-syn-7k': (prng) => {
    const seconds = 10;
    return {
      description: 'A spoofed SYN flood to port 443 at 7,400 pps from 37,000 random sources (2 SYNs each), among 1,500 pps of web traffic from 300 clients; the victim answers nothing (its backlog is full).',
      durationSeconds: seconds,
      streams: [
        web(prng, seconds, 300, 1500),
        arpNoiseStream(VICTIM, GATEWAY, 2, n(2, seconds)),
        synFloodStream({ name: 'spoofed', victim: VICTIM, sourceOf: spoofed(prng, 37_000, 2), dstPort: 443, flags: { syn: true }, rate: 7400, count: n(7400, seconds), prng: prng.fork() }),
      ],
      truth: { underAttack: true, attackers: [], vectors: [{ vector: 'syn_flood', label: 'TCP SYN flood (tcp dport 443)' }], attackPps: 7400 },
    };
  },
  'ecn-syn-2500': (prng) => {
    const seconds = 10;
    return {
      description: 'A SYN flood with ECN/CWR flags (SYN+ECE+CWR) to port 80 at 2,500 pps from 2,500 sources, among web traffic.',
      durationSeconds: seconds,
      streams: [
        web(prng, seconds, 300, 1500),
        synFloodStream({ name: 'ecn-syn', victim: VICTIM, sourceOf: spoofed(prng, 2500, 1), dstPort: 80, flags: { syn: true, ece: true, cwr: true }, rate: 2500, count: n(2500, seconds), prng: prng.fork() }),
      ],
      truth: { underAttack: true, attackers: [], vectors: [{ vector: 'syn_flood', label: 'TCP SYN flood with ECN/CWR flags (tcp dport 80)' }], attackPps: 2500 },
    };
  },
  'isakmp-reflection-4k': (prng) => {
    const seconds = 10;
    return {
      description: 'ISAKMP reflection (udp sport 500) at 4,000 pps from 2,700 VPN gateways, among web traffic.',
      durationSeconds: seconds,
      streams: [
        web(prng, seconds, 300, 1500),
        reflectionStream({ name: 'isakmp', victim: VICTIM, reflectors: randomPublicIpv4s(prng.fork(), 2700), sourcePort: 500, rate: 4000, count: n(4000, seconds), payload: [300, 900], prng: prng.fork() }),
      ],
      truth: { underAttack: true, attackers: [], vectors: [{ vector: 'udp_amplification', label: 'ISAKMP amplification (udp sport 500)' }], attackPps: 4000 },
    };
  },
  'dns-fragment-reflection': (prng) => {
    const seconds = 20;
    return {
      description: 'Low-rate DNS fragment reflection: 22 large responses/s (44 fragments/s) from 40 open resolvers, beside one normal interactive TCP session at 54 pps and a trickle of web traffic.',
      durationSeconds: seconds,
      streams: [
        interactiveSessionStream({ name: 'session', victim: VICTIM, client: '192.0.2.80', serverPort: 22, rate: 54, count: n(54, seconds), prng: prng.fork() }),
        web(prng, seconds, 50, 100),
        fragmentReflectionStream({ name: 'dns-fragments', victim: VICTIM, resolvers: randomPublicIpv4s(prng.fork(), 40), rate: 22, count: n(22, seconds), prng: prng.fork() }),
      ],
      truth: { underAttack: true, attackers: [], vectors: [{ vector: 'fragment_flood', label: 'DNS fragment reflection (udp sport 53, IP fragments)' }], attackPps: 44 },
    };
  },
  'busy-web-server': (prng) => {
    const seconds = 180;
    return {
      description: 'Three minutes of a busy web server: 2,000 clients at 3,000 inbound pps (500 short connections/s), every connection answered.',
      durationSeconds: seconds,
      snaplen: 128,
      streams: [conns(prng, seconds, benignClientPool(2000), 3000), arpNoiseStream(VICTIM, GATEWAY, 2, n(2, seconds))],
      truth: { underAttack: false, attackers: [], vectors: [], attackPps: 0, windowSeconds: 1 },
    };
  },
  'elephant-upload': (prng) => {
    const seconds = 180;
    return {
      description: 'Three minutes of web traffic (500 clients, 500 pps) and, from minute 1 to 2, one backup upload at the 100 Mbit/s line rate (8,300 full segments/s on one connection, ACKed).',
      durationSeconds: seconds,
      snaplen: 96,
      streams: [
        web(prng, seconds, 500, 500),
        uploadStream({ name: 'upload', victim: VICTIM, client: '192.0.2.44', serverPort: 873, rate: 8300, count: n(8300, 60), prng: prng.fork(), startOffsetUs: 60e6 }),
      ],
      truth: { underAttack: false, attackers: [], vectors: [], attackPps: 0, windowSeconds: 1 },
    };
  },
  'prometheus-scrape': (prng) => {
    const seconds = 180;
    const bursts = Array.from({ length: 12 }, (_, k) =>
      scrapeBurstStream({ name: `scrape-${k}`, victim: VICTIM, scraper: '192.0.2.9', targets: 20, segments: 700, startOffsetUs: (5 + 15 * k) * 1e6, prng: prng.fork() }),
    );
    return {
      description: 'Three minutes of light web traffic (300 pps) and a Prometheus server scraping 20 endpoints of the victim at once every 15 s: 20,000 inbound pps from one address while a burst lasts, 1 MB per endpoint out.',
      durationSeconds: seconds,
      snaplen: 96,
      streams: [web(prng, seconds, 300, 300), ...bursts],
      truth: { underAttack: false, attackers: [], vectors: [], attackPps: 0, windowSeconds: 1 },
    };
  },
  'flash-crowd': (prng) => {
    const seconds = 180;
    // Two minutes of normal traffic, then a sale: new clients arrive in waves, up to 10x the rate and 10x the clients.
    const pool = benignClientPool(20_000);
    const waves = [2000, 4000, 6000, 8000, 10_000, 10_000].map((pps, k) => conns(prng, 10, pool.slice(2000, 5000 + 3000 * k), pps - 1000, (120 + 10 * k) * 1e6, `crowd-${k}`));
    return {
      description: 'A flash crowd: two minutes of 2,000 clients at 1,000 pps, then a sale brings 18,000 new clients in waves up to 10,000 pps for a minute; every connection completes its handshake within its round trip.',
      durationSeconds: seconds,
      snaplen: 128,
      streams: [conns(prng, seconds, pool.slice(0, 2000), 1000), ...waves],
      truth: { underAttack: false, attackers: [], vectors: [], attackPps: 0, windowSeconds: 1 },
    };
  },
};

function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Write one scenario's capture (pcap, Ethernet) into `dir`; returns its path and ground truth. */
export function writeDetectionScenario(name: DetectionScenarioName, dir: string, seed = 0x10da): DetectionScenarioResult {
  const prng = new Prng(seed ^ nameHash(name));
  const plan = PLANS[name](prng);
  const capturePath = join(dir, `${name}.pcap`);
  const tally = mixTraffic({
    path: capturePath,
    writer: { linktype: LINKTYPE.ETHERNET, format: 'pcap', snaplen: plan.snaplen ?? 262144 },
    victim: VICTIM,
    startUs: SCENARIO_START_US,
    durationUs: plan.durationSeconds * 1e6,
    streams: plan.streams,
    prng: prng.fork(),
  });
  const truth: DetectionTruth = {
    name,
    kind: (BENIGN_PROFILES as readonly string[]).includes(name) ? 'benign' : 'attack',
    description: plan.description,
    victim: VICTIM,
    durationSeconds: plan.durationSeconds,
    inboundPackets: tally.inboundPackets,
    totalPackets: tally.totalPackets,
    distinctAttackSources: tally.attackBySource.size,
    ...plan.truth,
  };
  writeFileSync(join(dir, `${name}.truth.json`), `${JSON.stringify(truth, (_k, v: unknown) => (v instanceof RegExp ? v.source : v), 2)}\n`);
  return { capturePath, truth };
}
