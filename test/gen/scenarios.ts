// Attack and benign scenarios with known ground truth. Rates come from the
// timestamps: every stream spaces its packets evenly at its rate (jittered
// within each slot), so each whole second holds rate +-1 packets per stream.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AttackVector } from '../../detection/types.js';
import { benignClientPool, randomPublicIpv4s } from './address-pools.js';
import { arpNoiseStream, cycledSources, floodStream, randomSources } from './attack-traffic.js';
import { dnsLookupStream, pingStream, webClientStream } from './benign-traffic.js';
import { LINKTYPE } from './link-layer.js';
import type { CaptureFormat } from './pcap-writer.js';
import { Prng } from './prng.js';
import { mixTraffic, type TrafficStream, type TrafficTally } from './traffic-mixer.js';

export const SCENARIO_NAMES = [
  'single-source-flood',
  'five-attackers',
  'spoofed-syn-flood',
  'udp-amplification-snmp',
  'benign-only',
  'distributed-flood-50k',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const VICTIM = '10.10.10.10';
export const GATEWAY = '10.10.10.1';
export const SCENARIO_START_US = 1_700_000_000_000_000;
export const DEFAULT_SCENARIO_SEED = 0x5eed;

export interface ScenarioTruth {
  name: ScenarioName;
  description: string;
  victim: string;
  underAttack: boolean;
  /** Exactly the sources a correct detector flags (per-IP bans); empty when bans cannot help. */
  attackers: string[];
  vector?: AttackVector;
  dominantSourcePort?: number;
  /** Exact count of distinct sources sending to the victim (benign + attack); detectors estimate it. */
  distinctSourcesApprox?: number;
  /** Every record in the file, including outbound replies and ARP. */
  totalPackets: number;
  /** Packets whose IP destination is the victim. */
  inboundPackets: number;
  durationSeconds: number;
  /** Packets whose IP source is the victim (replies, backscatter). */
  outboundPackets: number;
  nonIpPackets: number;
  /** Inbound packets from attack streams / from benign streams. */
  attackPackets: number;
  benignInboundPackets: number;
  distinctAttackSources: number;
  /** The heaviest inbound source over the whole capture and its share of inbound packets. */
  topSource: { ip: string; packets: number; share: number };
  /** Inbound packets per named attacker. */
  attackerPackets: Record<string, number>;
  /** Rates the streams were built with. */
  nominal: { benignInboundPps: number; attackPps: number; perAttackerPps?: number };
  /** Inbound packets in the busiest and quietest whole second. */
  inboundPerSecond: { min: number; max: number };
  capture: { file: string; format: CaptureFormat; linktype: number; snaplen: number; startUs: number; seed: number };
}

export interface ScenarioOptions {
  seed?: number;
  format?: CaptureFormat;
}

export interface ScenarioResult {
  capturePath: string;
  truthPath: string;
  truth: ScenarioTruth;
}

interface ScenarioPlan {
  description: string;
  durationSeconds: number;
  snaplen?: number;
  streams: TrafficStream[];
  attackers: string[];
  underAttack: boolean;
  vector?: AttackVector;
  dominantSourcePort?: number;
  nominal: ScenarioTruth['nominal'];
}

const BENIGN_CLIENTS = 300;
const BENIGN_PPS = 1500;
const ARP_PPS = 2;

const count = (rate: number, seconds: number): number => Math.round(rate * seconds);

/** 300 web clients at 1500 inbound pps plus ARP: the background of every attack scenario. */
function background(prng: Prng, seconds: number, clients = benignClientPool(BENIGN_CLIENTS), rate = BENIGN_PPS): TrafficStream[] {
  return [
    webClientStream({ victim: VICTIM, clients, rate, count: count(rate, seconds), prng: prng.fork() }),
    arpNoiseStream(VICTIM, GATEWAY, ARP_PPS, count(ARP_PPS, seconds)),
  ];
}

const PLANS: Record<ScenarioName, (prng: Prng) => ScenarioPlan> = {
  'single-source-flood': (prng) => {
    const seconds = 10;
    const attacker = '203.0.113.7';
    return {
      description: 'One attacker, 203.0.113.7, SYN-floods port 80 at 8000 pps over 300 benign web clients at 1500 pps; the victim answers a quarter of the SYNs.',
      durationSeconds: seconds,
      streams: [
        ...background(prng, seconds),
        floodStream({ name: 'attacker', victim: VICTIM, rate: 8000, count: count(8000, seconds), prng: prng.fork(), sourceOf: () => attacker, synShare: 1, tcpDstPorts: [80], synAckShare: 0.25 }),
      ],
      attackers: [attacker],
      underAttack: true,
      vector: 'syn_flood',
      nominal: { benignInboundPps: BENIGN_PPS, attackPps: 8000, perAttackerPps: 8000 },
    };
  },
  'five-attackers': (prng) => {
    const seconds = 5;
    const attackers = [1, 2, 3, 4, 5].map((i) => `198.51.100.${i}`);
    return {
      description: 'Five attackers 198.51.100.1-5 at 8000 pps each (half SYN to 80/443, half UDP to random ports); each is ~19% of inbound, so a share rule alone flags none.',
      durationSeconds: seconds,
      streams: [
        ...background(prng, seconds),
        ...attackers.map((a) =>
          floodStream({ name: `attacker ${a}`, victim: VICTIM, rate: 8000, count: count(8000, seconds), prng: prng.fork(), sourceOf: () => a, synShare: 0.5, tcpDstPorts: [80, 443], synAckShare: 0.1 }),
        ),
      ],
      attackers,
      underAttack: true,
      nominal: { benignInboundPps: BENIGN_PPS, attackPps: 40000, perAttackerPps: 8000 },
    };
  },
  'spoofed-syn-flood': (prng) => {
    const seconds = 3;
    const sources = randomPublicIpv4s(prng.fork(), 100_000);
    const order = prng.shuffle(sources.flatMap((s) => (prng.chance(0.5) ? [s, s] : [s])));
    const rate = order.length / seconds;
    return {
      description: 'SYN flood to port 443 from 100,000 random spoofed sources (1-2 SYNs each, ~50,000 pps); the victim answers 30% with SYN+ACK backscatter. No source is worth a ban.',
      durationSeconds: seconds,
      streams: [
        ...background(prng, seconds),
        floodStream({ name: 'spoofed', victim: VICTIM, rate, count: order.length, prng: prng.fork(), sourceOf: cycledSources(order), synShare: 1, tcpDstPorts: [443], synAckShare: 0.3 }),
      ],
      attackers: [],
      underAttack: true,
      vector: 'syn_flood',
      nominal: { benignInboundPps: BENIGN_PPS, attackPps: rate },
    };
  },
  'udp-amplification-snmp': (prng) => {
    const seconds = 4;
    const reflectors = randomPublicIpv4s(prng.fork(), 3000);
    return {
      description: 'SNMP reflection: 3000 reflectors send UDP from port 161 to random high ports at 50,000 pps, 1000-1400-byte payloads (snaplen 128, true lengths kept); the victim answers 2% with ICMP port unreachable.',
      durationSeconds: seconds,
      snaplen: 128,
      streams: [
        ...background(prng, seconds),
        floodStream({ name: 'reflectors', victim: VICTIM, rate: 50_000, count: count(50_000, seconds), prng: prng.fork(), sourceOf: randomSources(reflectors, prng.fork()), synShare: 0, udpSrcPort: 161, udpPayload: [1000, 1400], unreachableShare: 0.02 }),
      ],
      attackers: [],
      underAttack: true,
      vector: 'udp_amplification',
      dominantSourcePort: 161,
      nominal: { benignInboundPps: BENIGN_PPS, attackPps: 50_000 },
    };
  },
  'benign-only': (prng) => {
    const seconds = 10;
    const clients = benignClientPool(2000);
    const resolvers = ['198.18.0.53', '198.18.1.53'];
    return {
      description: '2000 clients at 5000 inbound pps: web TCP (4700 pps), DNS responses to the server from port 53 (250 pps), pings (50 pps), all answered.',
      durationSeconds: seconds,
      streams: [
        ...background(prng, seconds, clients, 4700),
        dnsLookupStream({ victim: VICTIM, resolvers, rate: 250, count: count(250, seconds), prng: prng.fork() }),
        pingStream({ victim: VICTIM, clients, rate: 50, count: count(50, seconds), prng: prng.fork() }),
      ],
      attackers: [],
      underAttack: false,
      nominal: { benignInboundPps: 5000, attackPps: 0 },
    };
  },
  'distributed-flood-50k': (prng) => {
    const seconds = 5;
    const bots = randomPublicIpv4s(prng.fork(), 5000);
    return {
      description: '5000 fixed bots, each exactly 10 pps (cycled), UDP to port 80 at 50,000 pps total, over 300 benign web clients; the victim answers 2% with ICMP port unreachable.',
      durationSeconds: seconds,
      streams: [
        ...background(prng, seconds),
        floodStream({ name: 'bots', victim: VICTIM, rate: 50_000, count: count(50_000, seconds), prng: prng.fork(), sourceOf: cycledSources(prng.shuffle([...bots])), synShare: 0, udpDstPort: 80, unreachableShare: 0.02 }),
      ],
      attackers: [],
      underAttack: true,
      vector: 'udp_flood',
      nominal: { benignInboundPps: BENIGN_PPS, attackPps: 50_000 },
    };
  },
};

/** FNV-1a, so each scenario's random stream depends only on its name and the seed. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function writeScenario(name: ScenarioName, dir: string, options: ScenarioOptions = {}): ScenarioResult {
  const seed = options.seed ?? DEFAULT_SCENARIO_SEED;
  const format = options.format ?? 'pcap';
  const prng = new Prng(seed ^ nameHash(name));
  const plan = PLANS[name](prng);
  const file = `${name}.${format}`;
  const capturePath = join(dir, file);
  const snaplen = plan.snaplen ?? 262144;
  const tally = mixTraffic({
    path: capturePath,
    writer: { linktype: LINKTYPE.ETHERNET, format, snaplen },
    victim: VICTIM,
    startUs: SCENARIO_START_US,
    durationUs: plan.durationSeconds * 1e6,
    streams: plan.streams,
    prng: prng.fork(),
  });
  const truth = buildTruth(name, plan, tally, { file, format, linktype: LINKTYPE.ETHERNET, snaplen, startUs: SCENARIO_START_US, seed });
  const truthPath = join(dir, `${name}.truth.json`);
  writeFileSync(truthPath, `${JSON.stringify(truth, null, 2)}\n`);
  return { capturePath, truthPath, truth };
}

export function writeAllScenarios(dir: string, options: ScenarioOptions = {}): ScenarioResult[] {
  return SCENARIO_NAMES.map((name) => writeScenario(name, dir, options));
}

export const singleSourceFlood = (dir: string, o?: ScenarioOptions): ScenarioResult => writeScenario('single-source-flood', dir, o);
export const fiveAttackers = (dir: string, o?: ScenarioOptions): ScenarioResult => writeScenario('five-attackers', dir, o);
export const spoofedSynFlood = (dir: string, o?: ScenarioOptions): ScenarioResult => writeScenario('spoofed-syn-flood', dir, o);
export const udpAmplificationSnmp = (dir: string, o?: ScenarioOptions): ScenarioResult => writeScenario('udp-amplification-snmp', dir, o);
export const benignOnly = (dir: string, o?: ScenarioOptions): ScenarioResult => writeScenario('benign-only', dir, o);
export const distributedFlood50k = (dir: string, o?: ScenarioOptions): ScenarioResult => writeScenario('distributed-flood-50k', dir, o);

function buildTruth(name: ScenarioName, plan: ScenarioPlan, t: TrafficTally, capture: ScenarioTruth['capture']): ScenarioTruth {
  let top = { ip: '', packets: 0 };
  for (const [ip, packets] of t.inboundBySource) if (packets > top.packets) top = { ip, packets };
  const attackerPackets = Object.fromEntries(plan.attackers.map((a) => [a, t.attackBySource.get(a) ?? 0]));
  for (const [a, n] of Object.entries(attackerPackets)) if (n === 0) throw new Error(`${name}: attacker ${a} sent nothing`);
  const truth: ScenarioTruth = {
    name,
    description: plan.description,
    victim: VICTIM,
    underAttack: plan.underAttack,
    attackers: plan.attackers,
    ...(plan.vector !== undefined ? { vector: plan.vector } : {}),
    ...(plan.dominantSourcePort !== undefined ? { dominantSourcePort: plan.dominantSourcePort } : {}),
    distinctSourcesApprox: t.inboundBySource.size,
    totalPackets: t.totalPackets,
    inboundPackets: t.inboundPackets,
    durationSeconds: plan.durationSeconds,
    outboundPackets: t.outboundPackets,
    nonIpPackets: t.nonIpPackets,
    attackPackets: t.inboundByRole.attack,
    benignInboundPackets: t.inboundByRole.benign,
    distinctAttackSources: t.attackBySource.size,
    topSource: { ...top, share: round(top.packets / t.inboundPackets, 4) },
    attackerPackets,
    nominal: plan.nominal,
    inboundPerSecond: { min: Math.min(...t.inboundPerSecond), max: Math.max(...t.inboundPerSecond) },
    capture,
  };
  return truth;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
