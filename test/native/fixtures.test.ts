// Every committed link-type fixture through the real engine (libpcap reading
// the file, the C parser, the C tables) against the generator's exact counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Capture } from '../../native/lib/capture.js';
import type { SlotTotals } from '../../native/lib/types.js';

const dir = fileURLToPath(new URL('../../../test/fixtures/captures/', import.meta.url));

interface FixtureExpectation extends Partial<Record<keyof SlotTotals, number>> {
  linktype: number;
  packets: number;
  sources: Record<string, number>;
  destinations: Record<string, number>;
}

const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
  fixtures: Record<string, FixtureExpectation>;
};

const COUNTED = ['packets', 'ipv4', 'ipv6', 'nonIp', 'malformed', 'tcp', 'udp', 'icmp', 'other', 'syn', 'synAck', 'ack', 'rst', 'fragments'] as const;

async function readWhole(file: string) {
  const cap = Capture.openFile(file);
  const totals: Record<string, number> = {};
  const sources: Record<string, number> = {};
  const destinations: Record<string, number> = {};
  try {
    for await (const slot of cap.slots()) {
      for (const k of COUNTED) totals[k] = (totals[k] ?? 0) + slot.totals[k];
      for (const s of slot.sources) sources[s.addr] = (sources[s.addr] ?? 0) + s.packets;
      for (const d of slot.destinations) destinations[d.addr] = (destinations[d.addr] ?? 0) + d.packets;
    }
    return { totals, sources, destinations, linktype: cap.info.linktype, stats: cap.stats() };
  } finally {
    cap.close();
  }
}

for (const [name, want] of Object.entries(manifest.fixtures)) {
  test(`fixture ${name}: exact counts, sources and destinations`, async () => {
    const got = await readWhole(path.join(dir, name));
    for (const k of COUNTED) assert.equal(got.totals[k] ?? 0, want[k] ?? 0, `${name}: ${k}`);
    assert.deepEqual(got.sources, want.sources, `${name}: per-source packets`);
    assert.deepEqual(got.destinations, want.destinations, `${name}: per-destination packets`);
    assert.equal(got.stats.malformed, want.malformed ?? 0, `${name}: stats.malformed`);
  });
}

test('the fixture set covers every link type the issue names', () => {
  const linktypes = new Set(Object.values(manifest.fixtures).map((f) => f.linktype));
  for (const lt of [0, 1, 113, 276]) assert.ok(linktypes.has(lt), `no fixture with linktype ${lt}`);
  assert.ok([12, 101, 228, 229].some((lt) => linktypes.has(lt)), 'no raw-IP fixture');
  const names = Object.keys(manifest.fixtures);
  for (const n of ['vlan-qinq.pcap', 'ipv6-ext-headers.pcapng', 'fragments.pcap', 'truncated.pcap', 'zero-length.pcap']) {
    assert.ok(names.includes(n), `missing ${n}`);
  }
});
