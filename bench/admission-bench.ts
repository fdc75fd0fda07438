// npm run bench:admission — what resolving each object once costs the
// controller (controller/resources/admission.ts: the informers' transform
// parses every spec with its kind's zod schema). Side by side, in one run and
// interleaved: decoding N watch events' JSON (what the informer pays anyway)
// and decoding plus resolving them. Figures only; nothing here asserts timings.
//
// Env: BENCH_OBJECTS (10000), BENCH_RUNS (7).
import { BLOCK_EVENT, DEFENSE_POLICY, resolveObject, type KindDefinition } from '../api/v1alpha1/index.js';
import { envNumber, log, median } from './bench-util.js';

const N = envNumber('BENCH_OBJECTS', 10000, 1);
const RUNS = envNumber('BENCH_RUNS', 7, 1);

function blockEvent(i: number): object {
  return {
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'BlockEvent',
    metadata: { name: `web-10-0-${(i >> 8) & 255}-${i & 255}`, namespace: 'prod', resourceVersion: String(1000 + i), generation: 1, labels: { 'floodgate.dev/policy': 'web' }, annotations: { 'floodgate.dev/offences': '1' }, finalizers: ['floodgate.dev/unblock'] },
    spec: { ip: `10.0.${(i >> 8) & 255}.${i & 255}`, policyRef: { name: 'web' }, durationSeconds: 600, reason: 'share: 5000 pps, 20.0% of inbound', evidence: { packets: 35000, share: 0.2, pps: 5000, bps: 2800000, vector: 'share', windowSeconds: 7 } },
    status: { phase: 'Active', blockedAt: '2025-01-01T00:00:00Z', expiresAt: '2025-01-01T00:10:00Z', backend: 'nft', observedGeneration: 1 },
  };
}

function defensePolicy(i: number): object {
  // As the API server returns it: every default already filled in.
  return {
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'DefensePolicy',
    metadata: { name: `web-${i}`, namespace: 'prod', resourceVersion: String(1000 + i), generation: 1 },
    spec: {
      targetSelector: { matchLabels: { app: 'web' } },
      trigger: { memoryThresholdPercent: 75, pollIntervalSeconds: 3, continuous: false },
      detection: { windowSeconds: 7, attackerShareThreshold: 0.2, minPackets: 1000, sourcePpsThreshold: 5000, sourceBpsThreshold: 1e8, victimPpsThreshold: 20000, victimBpsThreshold: 1e9, maxAttackers: 100 },
      mitigation: { mode: 'block', banDurationSeconds: 60, escalation: { factor: 2, maxBanDurationSeconds: 86400 }, allowlist: ['10.0.0.0/8'], maxActiveBlocks: 1000 },
      agentSelector: { matchLabels: { app: 'floodgate-agent' } },
    },
  };
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function measure(kind: KindDefinition, make: (i: number) => object): { decode: number; resolve: number } {
  const events = Array.from({ length: N }, (_, i) => JSON.stringify(make(i)));
  const decodeOnly = () => {
    for (const e of events) JSON.parse(e);
  };
  const decodeAndResolve = () => {
    for (const e of events) if (resolveObject(kind, JSON.parse(e) as object).problems.length) throw new Error(`${kind.kind}: fixture invalid`);
  };
  decodeOnly();
  decodeAndResolve();
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    a.push(time(decodeOnly));
    b.push(time(decodeAndResolve));
  }
  return { decode: median(a), resolve: median(b) };
}

const rows: string[] = [];
for (const [kind, make] of [
  [BLOCK_EVENT, blockEvent],
  [DEFENSE_POLICY, defensePolicy],
] as const) {
  log(`${kind.kind}: ${N} objects x ${RUNS} runs`);
  const m = measure(kind, make);
  rows.push(
    `| ${kind.kind} | ${N} | ${m.decode.toFixed(1)} ms | ${m.resolve.toFixed(1)} ms | ${(((m.resolve - m.decode) * 1000) / N).toFixed(1)} µs | ${(m.resolve / m.decode).toFixed(2)}x |`,
  );
}
console.log(`node ${process.version}, median of ${RUNS} interleaved runs\n`);
console.log('| kind | objects | JSON decode | decode + resolve | resolve per object | ratio |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(r);
