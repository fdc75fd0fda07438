// The benchmark capture: attacker share, exact distinct-source mode, speed.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BENCH_ATTACKER, BENCH_VICTIM, writeBenchCapture } from '../gen/bench-capture.js';
import { readCaptureFile } from '../gen/pcap-reader.js';
import { classifyFrame } from '../gen/reference-classifier.js';
import { skipWithoutTcpdump, tcpdump, tempDir } from './helpers.js';

const { dir, cleanup } = tempDir('bench');
after(cleanup);

function sources(path: string): { bySource: Map<string, number>; tcp: number; udp: number; spanUs: number } {
  const cap = readCaptureFile(path);
  const bySource = new Map<string, number>();
  let tcp = 0;
  let udp = 0;
  for (const r of cap.records) {
    const c = classifyFrame(r.linktype, r.data);
    assert.equal(c.kind, 'ip');
    if (c.kind !== 'ip') continue;
    assert.equal(c.dst, BENCH_VICTIM);
    if (c.l4 === 'tcp') tcp++;
    if (c.l4 === 'udp') udp++;
    bySource.set(c.src, (bySource.get(c.src) ?? 0) + 1);
  }
  return { bySource, tcp, udp, spanUs: cap.records.at(-1)!.timestampUs - cap.records[0]!.timestampUs };
}

describe('bench capture', () => {
  it('random mode: a third from the attacker, the rest from ~all-distinct random sources', () => {
    const s = writeBenchCapture(join(dir, 'random.pcap'), { packets: 60_000, progress: false });
    const seen = sources(s.path);
    assert.equal(seen.bySource.get(BENCH_ATTACKER), 20_000);
    assert.equal(s.attackerPackets, 20_000);
    assert.ok(seen.bySource.size > 40_000 - 5, `${seen.bySource.size} distinct`);
    assert.ok(!seen.bySource.has(BENCH_VICTIM));
    assert.ok(seen.tcp > 25_000 && seen.udp > 25_000, 'SYN/UDP mix');
    assert.equal(seen.spanUs, Math.floor((59_999 * 1e6) / 200_000)); // 200k pps
  });

  it('exact mode: exactly N distinct sources, attacker included', () => {
    const s = writeBenchCapture(join(dir, 'exact.pcap'), { packets: 30_000, distinctSources: 12_345, progress: false });
    const seen = sources(s.path);
    assert.equal(seen.bySource.size, 12_345);
    assert.equal(seen.bySource.get(BENCH_ATTACKER), 10_000);
    assert.ok(!seen.bySource.has(BENCH_VICTIM));
    assert.throws(() => writeBenchCapture(join(dir, 'x.pcap'), { packets: 30, distinctSources: 100, progress: false }), /cannot fit/);
  });

  it('tcpdump verifies the patched checksums', { skip: skipWithoutTcpdump }, () => {
    const s = writeBenchCapture(join(dir, 'cksum.pcap'), { packets: 3000, progress: false });
    const out = tcpdump(s.path, ['-vv']);
    assert.ok(!out.stdout.includes('bad') && !out.stdout.includes('incorrect'), out.stdout.slice(0, 2000));
    assert.equal((out.stdout.match(/\(correct\)|udp sum ok/g) ?? []).length, 3000);
  });

  it('writes 2,000,000 packets in a few seconds', () => {
    const s = writeBenchCapture(join(dir, 'big.pcap'), { packets: 2_000_000, progress: false });
    assert.equal(statSync(s.path).size, s.bytes);
    assert.equal(s.durationSeconds, 10);
    // Target is ~1-2 s on a quiet machine; generous bound for loaded CI.
    assert.ok(s.elapsedMs < 20_000, `took ${s.elapsedMs} ms`);
  });
});
