// Issue 13 item 14: the aggregation hash is keyed with a per-process secret,
// so nobody can choose source addresses that share one bucket of the
// source table. The test crafts such a set against the engine's former,
// public hash (murmur3's finaliser over the key) and sends it through the
// real engine: with a public hash all of them land in one 8-way bucket and
// evict each other (and would evict a heavy hitter there); with the keyed
// hash they spread over the table like any other addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Capture } from '../../native/lib/capture.js';
import { LINKTYPE, udpPacket } from '../gen/packet-builder.js';
import { toServer } from '../gen/lan.js';
import { writeCaptureFile } from '../gen/pcap-writer.js';

const M64 = (1n << 64n) - 1n;

function fmix64(k: bigint): bigint {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & M64;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & M64;
  k ^= k >> 33n;
  return k;
}

/** The engine's hash before the fix: fmix64(lo ^ hi * C) over the v4-mapped key, little-endian words. */
function publicHash(a: number, b: number, c: number, d: number): bigint {
  const lo = (0xffn << 16n) | (0xffn << 24n) | (BigInt(a) << 32n) | (BigInt(b) << 40n) | (BigInt(c) << 48n) | (BigInt(d) << 56n);
  return fmix64(lo); // hi is 0 for IPv4
}

test('crafted sources that share a bucket under a public hash spread out under the keyed one', async () => {
  const maxSources = 1024; // 128 buckets of 8 ways
  const buckets = 128n;
  const crafted: string[] = [];
  for (let n = 0; crafted.length < 64; n++) {
    const a = 45, b = (n >> 16) & 255, c = (n >> 8) & 255, d = n & 255;
    if (d === 0 || d === 255) continue;
    if ((publicHash(a, b, c, d) & (buckets - 1n)) === 0n) crafted.push(`${a}.${b}.${c}.${d}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-hash-'));
  try {
    const file = path.join(dir, 'crafted.pcap');
    const frames = [];
    let t = 1_700_000_000_000_000;
    for (let round = 0; round < 10; round++) {
      for (const src of crafted) {
        frames.push({ frame: toServer(udpPacket({ src, dst: '10.10.10.10', srcPort: 4444, dstPort: 53, payload: Buffer.alloc(16) })), timestampUs: t });
        t += 100;
      }
    }
    writeCaptureFile(file, { linktype: LINKTYPE.ETHERNET }, frames);
    const cap = Capture.openFile(file, { maxSources, slotMs: 60_000 });
    let evictions = 0;
    const seen = new Map<string, number>();
    try {
      for await (const slot of cap.slots()) {
        evictions += slot.totals.sourceEvictions;
        for (const s of slot.sources) seen.set(s.addr, (seen.get(s.addr) ?? 0) + s.packets);
      }
    } finally {
      cap.close();
    }
    assert.equal(evictions, 0, 'the crafted sources evicted each other: the bucket of an address is predictable');
    assert.equal(seen.size, crafted.length);
    for (const src of crafted) assert.equal(seen.get(src), 10, `${src} counted exactly`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
