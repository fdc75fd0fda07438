// Baseline (c): the npm `pcap` package decoding every packet in JS and
// counting sources in a Map, the design first named. Prints one JSON line.
import { createRequire } from 'node:module';

interface PcapPacket { payload?: { payload?: { saddr?: { toString(): string } } } }
interface PcapModule {
  createOfflineSession(path: string, opts?: object): NodeJS.EventEmitter;
  decode: { packet(raw: unknown): PcapPacket };
}

const file = process.argv[2];
if (!file) {
  console.error('usage: pcap-js-run FILE');
  process.exit(2);
}
const pcap = createRequire(import.meta.url)('pcap') as PcapModule;
const t0 = process.hrtime.bigint();
const counts = new Map<string, number>();
let packets = 0;
const session = pcap.createOfflineSession(file);
session.on('packet', (raw: unknown) => {
  packets++;
  const src = pcap.decode.packet(raw).payload?.payload?.saddr?.toString();
  if (src) counts.set(src, (counts.get(src) ?? 0) + 1);
});
session.on('complete', () => {
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ packets, seconds, sources: counts.size, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
});
