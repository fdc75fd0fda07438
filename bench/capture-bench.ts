// npm run bench:capture — the native engine side by side with libpcap's own
// read floor (tcpdump -r) and the npm `pcap` package decoding in JS, on one
// generated 2M-packet capture, in alternating rounds so machine noise hits all
// three alike. Then the engine's peak RSS as the number of distinct sources grows.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { writeBenchCapture } from '../test/gen/bench-capture.js';
import { log, median } from './bench-util.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cacheDir = path.join(root, '.cache', 'bench');
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const PACKETS = 2_000_000;

function ensureCapture(name: string, distinctSources?: number): string {
  fs.mkdirSync(cacheDir, { recursive: true });
  const file = path.join(cacheDir, name);
  if (!fs.existsSync(file)) {
    log(`generating ${name} (${PACKETS.toLocaleString()} packets${distinctSources ? `, ${distinctSources.toLocaleString()} distinct sources` : ''})`);
    writeBenchCapture(`${file}.tmp`, { packets: PACKETS, distinctSources });
    fs.renameSync(`${file}.tmp`, file);
  }
  return file;
}

interface RunResult { packets: number; seconds: number; maxRssMB: number }

async function runTcpdump(file: string): Promise<RunResult> {
  const t0 = process.hrtime.bigint();
  const r = await execa('tcpdump', ['-r', file, '-w', '/dev/null'], { reject: true });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /(\d+) packets? captured|reading from file/.exec(String(r.stderr));
  void m;
  return { packets: PACKETS, seconds, maxRssMB: 0 };
}

async function runNode(script: string, file: string, ...args: string[]): Promise<RunResult> {
  const r = await execa(process.execPath, [path.join(root, 'dist', 'bench', script), file, ...args]);
  return JSON.parse(String(r.stdout).trim().split('\n').at(-1)!) as RunResult;
}

const mpps = (r: RunResult) => r.packets / r.seconds / 1e6;

async function main() {
  const file = ensureCapture('bench-2m.pcap');
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  const b1: number[] = [];
  for (let i = 1; i <= rounds; i++) {
    log(`round ${i}/${rounds}: tcpdump -r`);
    a.push(mpps(await runTcpdump(file)));
    log(`round ${i}/${rounds}: native engine`);
    const eng = await runNode('engine-run.js', file);
    if (eng.packets !== PACKETS) throw new Error(`engine processed ${eng.packets} of ${PACKETS} packets`);
    b.push(mpps(eng));
    log(`round ${i}/${rounds}: native engine, one thread`);
    const eng1 = await runNode('engine-run.js', file, 'single-thread');
    if (eng1.packets !== PACKETS) throw new Error(`engine (one thread) processed ${eng1.packets} of ${PACKETS} packets`);
    b1.push(mpps(eng1));
    log(`round ${i}/${rounds}: npm pcap in JS`);
    const js = await runNode('pcap-js-run.js', file);
    if (js.packets !== PACKETS) throw new Error(`npm pcap decoded ${js.packets} of ${PACKETS} packets`);
    c.push(mpps(js));
  }
  const ma = median(a);
  const mb = median(b);
  const mc = median(c);
  const mb1 = median(b1);
  const ok = (x: boolean) => (x ? 'meets target' : 'MISSES target');

  const rss: { distinct: string; mb: number }[] = [];
  for (const [label, n] of [['10,000', 10_000], ['100,000', 100_000], ['1,000,000', 1_000_000]] as const) {
    const f = ensureCapture(`distinct-${n}.pcap`, n);
    log(`peak RSS with ${label} distinct sources`);
    rss.push({ distinct: label, mb: (await runNode('engine-run.js', f)).maxRssMB });
  }
  const rss1m = rss.at(-1)!.mb;

  const lines = [
    `## bench:capture — ${PACKETS.toLocaleString()} packets (1/3 one attacker, 2/3 random sources), median of ${rounds} alternating rounds`,
    '',
    '| reader | Mpps | per packet |',
    '|---|---:|---:|',
    `| (a) tcpdump -r file -w /dev/null (libpcap floor) | ${ma.toFixed(2)} | ${(1000 / ma).toFixed(0)} ns |`,
    `| (b) floodgate native engine: read + parse on the capture thread, tables on a second thread | ${mb.toFixed(2)} | ${(1000 / mb).toFixed(0)} ns |`,
    `| (b1) the same engine on one thread (pipeline: false) | ${mb1.toFixed(2)} | ${(1000 / mb1).toFixed(0)} ns |`,
    `| (c) npm pcap: decode in JS + Map of sources | ${mc.toFixed(2)} | ${(1000 / mc).toFixed(0)} ns |`,
    '',
    `b/a = ${(mb / ma).toFixed(2)} (target ≥ 0.6: ${ok(mb / ma >= 0.6)})`,
    `b/c = ${(mb / mc).toFixed(1)} (target ≥ 15: ${ok(mb / mc >= 15)}); one thread: b1/a = ${(mb1 / ma).toFixed(2)}, b1/c = ${(mb1 / mc).toFixed(1)}`,
    '',
    '| distinct sources | engine peak RSS |',
    '|---:|---:|',
    ...rss.map((r) => `| ${r.distinct} | ${r.mb.toFixed(0)} MB |`),
    '',
    `peak RSS at 1,000,000 distinct sources: ${rss1m.toFixed(0)} MB (target < 150 MB: ${ok(rss1m < 150)})`,
    `all rounds (Mpps): a=${a.map((x) => x.toFixed(2)).join(', ')}  b=${b.map((x) => x.toFixed(2)).join(', ')}  b1=${b1.map((x) => x.toFixed(2)).join(', ')}  c=${c.map((x) => x.toFixed(3)).join(', ')}`,
  ];
  console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(`bench:capture: ${(err as Error).message}`);
  process.exit(1);
});
