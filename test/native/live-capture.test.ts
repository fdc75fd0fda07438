// Live capture on a real veth pair: hping3 floods from one namespace, the
// floodgate CLI captures in the other and must see the flood.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { createNsPair, isRoot } from '../support/netns.js';
import type { Verdict } from '../../detection/types.js';

const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
const needsRoot = isRoot() ? false : 'needs root for network namespaces';

test('live capture on a veth pair sees an hping3 SYN flood and names the attacker', { skip: needsRoot, timeout: 60_000 }, async () => {
  const pair = await createNsPair('10.201.7');
  try {
    // Low thresholds: this test is about live capture working, and hping3's rate varies with machine load.
    const capture = execa('ip', [
      'netns', 'exec', pair.b, process.execPath, bin, 'capture',
      '-i', pair.ifB, '--seconds', '5', '--slot-ms', '250', '--ndjson', '--victim-pps', '1000', '--source-pps', '500',
    ]);
    // The first slot line proves the capture runs; a flood sent before it would be missed.
    await new Promise<void>((resolve, reject) => {
      capture.stdout!.once('data', () => resolve());
      capture.catch(reject);
    });
    await execa('ip', ['netns', 'exec', pair.a, 'timeout', '2', 'hping3', '-S', '-p', '80', '--flood', pair.ipB], {
      reject: false,
    });
    const out = await capture;
    const last = String(out.stdout).trim().split('\n').at(-1)!;
    const result = JSON.parse(last) as { type: string; verdict: Verdict; stats: { processed: number; dropped: number } };
    assert.equal(result.type, 'verdict');
    assert.ok(result.stats.processed > 2000, `only ${result.stats.processed} packets captured`);
    const v = result.verdict;
    assert.ok(result.stats.processed > 20_000, `only ${result.stats.processed} packets captured`);
    assert.equal(v.underAttack, true);
    const victim = v.victims.find((x) => x.ip === pair.ipB);
    assert.ok(victim, `victim ${pair.ipB} not reported: ${JSON.stringify(v.victims.map((x) => x.ip))}`);
    assert.equal(victim.vector, 'syn_flood');
    assert.ok(v.attackers.some((a) => a.ip === pair.ipA), 'the flooding address is not among the attackers');
    // Replies from the victim are outbound: the victim must never be reported as a source.
    assert.ok(!v.attackers.some((a) => a.ip === pair.ipB));
  } finally {
    await pair.destroy();
  }
});

test('capture --ndjson streams one line per slot and --write keeps a readable pcap', { skip: needsRoot, timeout: 60_000 }, async () => {
  const pair = await createNsPair('10.201.8');
  const file = `/tmp/fg-live-${process.pid}.pcap`;
  try {
    const capture = execa('ip', [
      'netns', 'exec', pair.b, process.execPath, bin, 'capture',
      '-i', pair.ifB, '--seconds', '3', '--slot-ms', '500', '--ndjson', '--write', file,
    ]);
    // The first slot line proves the capture is running; probes sent before it would be lost.
    await new Promise<void>((resolve, reject) => {
      capture.stdout!.once('data', () => resolve());
      capture.catch(reject);
    });
    await execa('ip', ['netns', 'exec', pair.a, 'hping3', '-2', '-p', '53', '-c', '50', '-i', 'u2000', pair.ipB], { reject: false });
    const out = await capture;
    const lines = String(out.stdout).trim().split('\n').map((l) => JSON.parse(l) as { type: string; totals?: { udp: number } });
    const slots = lines.filter((l) => l.type === 'slot');
    assert.ok(slots.length >= 3, `expected ≥3 slot lines in 2 s at 500 ms, got ${slots.length}`);
    assert.equal(lines.at(-1)!.type, 'verdict');
    const udp = slots.reduce((n, s) => n + s.totals!.udp, 0);
    assert.ok(udp >= 45, `expected the 50 UDP probes, saw ${udp}`);
    const read = await execa('tcpdump', ['-nn', '-r', file, 'udp and dst port 53']);
    assert.ok(String(read.stdout).trim().split('\n').length >= 45, 'the --write file lacks the UDP probes');
  } finally {
    await pair.destroy();
    await execa('rm', ['-f', file]);
  }
});
